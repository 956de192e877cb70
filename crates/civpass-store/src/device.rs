//! Devices (the identity slice's `DeviceStore`) and WebAuthn ceremonies (the kernel's
//! `CeremonyStore`).

use async_trait::async_trait;
use civpass_core::identity::model::Device;
use civpass_core::identity::store::DeviceStore;
use civpass_core::kernel::ceremony::{Ceremony, CeremonyStore};
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use sqlx::AnyConnection;

use crate::sql::{execute_on, op, params};
use crate::writer::Statements;
use crate::{SqlStore, rows};

pub(crate) async fn insert_device(conn: &mut AnyConnection, d: &Device) -> StoreResult<()> {
    let params = params![
        &d.id,
        &d.account_id,
        &d.public_key,
        d.kind.as_str(),
        &d.credential_id,
        d.created_at,
        d.revoked_at
    ];
    execute_on(
        conn,
        "INSERT INTO devices (id, account_id, public_key, kind, credential_id, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &params,
    )
    .await?;
    Ok(())
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn find_device(
        &self,
        id: &civpass_core::kernel::DeviceId,
    ) -> StoreResult<Option<Device>> {
        self.fetch_optional(
            "SELECT id, account_id, public_key, kind, credential_id, created_at, revoked_at \
             FROM devices WHERE id = $1",
            params![id],
            rows::device,
        )
        .await
    }

    async fn active_device_by_key(&self, public_key: &str) -> StoreResult<Option<Device>> {
        self.fetch_optional(
            "SELECT id, account_id, public_key, kind, credential_id, created_at, revoked_at \
             FROM devices WHERE public_key = $1 AND revoked_at IS NULL",
            params![public_key],
            rows::device,
        )
        .await
    }

    async fn public_key_in_use(&self, public_key: &str) -> StoreResult<bool> {
        let found = self
            .fetch_optional(
                "SELECT 1 AS one FROM devices WHERE public_key = $1 AND revoked_at IS NULL",
                params![public_key],
                |_| Ok(()),
            )
            .await?;
        Ok(found.is_some())
    }

    async fn credential_registered(&self, credential_id: &str) -> StoreResult<bool> {
        let found = self
            .fetch_optional(
                "SELECT 1 AS one FROM devices WHERE credential_id = $1",
                params![credential_id],
                |_| Ok(()),
            )
            .await?;
        Ok(found.is_some())
    }

    async fn update_device_key(
        &self,
        device_id: &civpass_core::kernel::DeviceId,
        old_key: &str,
        new_key: &str,
    ) -> StoreResult<bool> {
        let updated = self
            .execute(
                "UPDATE devices SET public_key = $1 WHERE id = $2 AND public_key = $3 \
                 AND revoked_at IS NULL",
                params![new_key, device_id, old_key],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn replace_device(
        &self,
        old_device_id: &civpass_core::kernel::DeviceId,
        new_device: &Device,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (old_device_id, new_device) = (old_device_id.to_owned(), new_device.clone());
        self.writer
            .write(
                Statements::Several,
                op!(|conn| {
                    let revoked = execute_on(
                        &mut *conn,
                        "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                        &params![now, &old_device_id],
                    )
                    .await?;
                    if revoked != 1 {
                        return Ok(false);
                    }
                    insert_device(conn, &new_device).await?;
                    Ok(true)
                }),
            )
            .await
    }
}

#[async_trait]
impl CeremonyStore for SqlStore {
    async fn insert_ceremony(&self, c: &Ceremony) -> StoreResult<()> {
        self.execute(
            "INSERT INTO ceremonies (id, purpose, sealed_state, expires_at) VALUES ($1, $2, $3, $4)",
            params![&c.id, &c.purpose, &c.sealed_state, c.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: &str,
        purpose: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Ceremony>> {
        // DELETE ... RETURNING (SQLite 3.35+, PostgreSQL): taking is one atomic step, so two
        // answers to one challenge cannot both see it.
        let taken = self
            .write_returning(
                "DELETE FROM ceremonies WHERE id = $1 AND purpose = $2 \
                 RETURNING id, purpose, sealed_state, expires_at",
                params![id, purpose],
                rows::ceremony,
            )
            .await?;
        Ok(taken.into_iter().next().filter(|c| c.expires_at > now))
    }

    async fn delete_ceremonies_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM ceremonies WHERE expires_at < $1", params![cutoff]).await
    }
}
