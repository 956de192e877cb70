//! The device slice's ports: devices and WebAuthn ceremonies.

use async_trait::async_trait;
use civpass_core::identity::model::Device;
use civpass_core::identity::store::DeviceStore;
use civpass_core::kernel::ceremony::Ceremony;
use civpass_core::kernel::ceremony::CeremonyStore;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use sqlx::AnyConnection;

use crate::sql::op;
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

pub(crate) async fn insert_device(conn: &mut AnyConnection, device: &Device) -> StoreResult<()> {
    sqlx::query("INSERT INTO devices (id, account_id, public_key, kind, credential_id, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&device.id)
        .bind(&device.account_id)
        .bind(&device.public_key)
        .bind(device.kind.as_str())
        .bind(&device.credential_id)
        .bind(device.created_at)
        .bind(device.revoked_at)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn find_device(&self, id: &str) -> StoreResult<Option<Device>> {
        let row = sqlx::query("SELECT id, account_id, public_key, kind, credential_id, created_at, revoked_at FROM devices WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::device).transpose()
    }

    async fn credential_registered(&self, credential_id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM devices WHERE credential_id = $1")
            .bind(credential_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn update_device_key(
        &self,
        device_id: &str,
        old_key: &str,
        new_key: &str,
    ) -> StoreResult<bool> {
        let (id, old, new) = (device_id.to_owned(), old_key.to_owned(), new_key.to_owned());
        self.writer
            .write(Statements::One, op!(|conn| {
                let updated = sqlx::query(
                    "UPDATE devices SET public_key = $1 WHERE id = $2 AND public_key = $3 AND revoked_at IS NULL",
                )
                .bind(&new)
                .bind(&id)
                .bind(&old)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(updated.rows_affected() == 1)
            }))
            .await
    }

    async fn replace_device(
        &self,
        old_device_id: &str,
        new_device: &Device,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (old_device_id, new_device) = (old_device_id.to_owned(), new_device.clone());
        self.writer
            .write(
                Statements::Several,
                op!(|conn| {
                    let revoked = sqlx::query(
                        "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(&old_device_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    if revoked.rows_affected() != 1 {
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
    async fn insert_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()> {
        let c = ceremony.clone();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query("INSERT INTO ceremonies (id, purpose, sealed_state, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(&c.id)
                    .bind(&c.purpose)
                    .bind(&c.sealed_state)
                    .bind(c.expires_at)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn take_ceremony(&self, id: &str, now: UnixTime) -> StoreResult<Option<Ceremony>> {
        let id = id.to_owned();
        self.writer
            .write(Statements::One, op!(|conn| {
                // DELETE ... RETURNING (SQLite 3.35+, PostgreSQL): taking is one atomic step, so
                // two answers to one challenge cannot both see it.
                let row = sqlx::query(
                    "DELETE FROM ceremonies WHERE id = $1 RETURNING id, purpose, sealed_state, expires_at",
                )
                .bind(&id)
                .fetch_optional(conn)
                .await
                .map_err(backend)?;
                let ceremony = row.as_ref().map(rows::ceremony).transpose()?;
                Ok(ceremony.filter(|c| c.expires_at > now))
            }))
            .await
    }

    async fn delete_ceremonies_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted = sqlx::query("DELETE FROM ceremonies WHERE expires_at < $1")
                        .bind(cutoff)
                        .execute(conn)
                        .await
                        .map_err(backend)?;
                    Ok(deleted.rows_affected())
                }),
            )
            .await
    }
}
