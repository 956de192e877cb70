//! The consent slice's ports: consents and the record of releases.

use async_trait::async_trait;
use civpass_core::consent::model::{Consent, Release};
use civpass_core::consent::store::{ConsentStore, ConsentWrites};
use civpass_core::kernel::store::StoreResult;
use civpass_core::kernel::{AccountId, ClientId};
use sqlx::AnyConnection;

use crate::sql::{col, execute_on, op, params};
use crate::tx::SqlTransaction;
use crate::writer::Statements;
use crate::{SqlStore, rows};

pub(crate) async fn insert_release(conn: &mut AnyConnection, r: &Release) -> StoreResult<()> {
    let params = params![
        &r.id,
        &r.account_id,
        &r.client_id,
        &r.grant_id,
        r.claims.join(" "),
        r.channel.as_str(),
        r.released_at
    ];
    execute_on(
        conn,
        "INSERT INTO releases (id, account_id, client_id, grant_id, claims, channel, released_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &params,
    )
    .await?;
    Ok(())
}

pub(crate) async fn upsert_consent(conn: &mut AnyConnection, c: &Consent) -> StoreResult<()> {
    let params = params![
        &c.account_id,
        &c.client_id,
        c.scopes.join(" "),
        c.granted_at,
        c.linked_at,
        c.claims.join(" "),
        &c.purpose,
        c.expires_at,
        serde_json::to_string(&c.approvals).unwrap_or_else(|_| "[]".to_owned())
    ];
    execute_on(
        conn,
        "INSERT INTO consents (account_id, client_id, scopes, granted_at, linked_at, claims, \
         purpose, expires_at, approvals) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, \
         granted_at = excluded.granted_at, claims = excluded.claims, purpose = excluded.purpose, \
         expires_at = excluded.expires_at, approvals = excluded.approvals, \
         linked_at = CASE WHEN excluded.linked_at < consents.linked_at \
         THEN excluded.linked_at ELSE consents.linked_at END",
        &params,
    )
    .await?;
    Ok(())
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn insert_release(&self, release: &Release) -> StoreResult<()> {
        let release = release.clone();
        self.writer.write(Statements::One, op!(|conn| insert_release(conn, &release).await)).await
    }

    async fn list_releases(
        &self,
        account_id: &civpass_core::kernel::AccountId,
    ) -> StoreResult<Vec<Release>> {
        self.fetch_all(
            "SELECT id, account_id, client_id, grant_id, claims, channel, released_at FROM releases \
             WHERE account_id = $1 ORDER BY released_at, id",
            params![account_id],
            rows::release,
        )
        .await
    }

    async fn list_consents(
        &self,
        account_id: &civpass_core::kernel::AccountId,
    ) -> StoreResult<Vec<Consent>> {
        self.fetch_all(
            "SELECT account_id, client_id, scopes, granted_at, linked_at, claims, purpose, \
             expires_at, approvals FROM consents WHERE account_id = $1 ORDER BY granted_at, client_id",
            params![account_id],
            rows::consent,
        )
        .await
    }

    async fn list_anonymous_fillings(
        &self,
        account_lookup: &str,
    ) -> StoreResult<Vec<civpass_core::consent::model::AnonymousFilling>> {
        self.fetch_all(
            "SELECT id, account_lookup, sealed, created_at FROM anonymous_fillings \
             WHERE account_lookup = $1 ORDER BY created_at, id",
            params![account_lookup],
            |row| {
                Ok(civpass_core::consent::model::AnonymousFilling {
                    id: col(row, "id")?,
                    account_lookup: col(row, "account_lookup")?,
                    sealed: col(row, "sealed")?,
                    created_at: col(row, "created_at")?,
                })
            },
        )
        .await
    }

    async fn list_expired_consents(
        &self,
        now: civpass_core::kernel::UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<Consent>> {
        self.fetch_all(
            "SELECT account_id, client_id, scopes, granted_at, linked_at, claims, purpose, \
             expires_at, approvals FROM consents WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2",
            params![now, i64::from(limit)],
            rows::consent,
        )
        .await
    }
}

#[async_trait]
impl ConsentWrites for SqlTransaction<'_> {
    async fn delete_consent(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
    ) -> StoreResult<bool> {
        let deleted = execute_on(
            self.conn,
            "DELETE FROM consents WHERE account_id = $1 AND client_id = $2",
            &params![account_id, client_id],
        )
        .await?;
        Ok(deleted == 1)
    }

    async fn delete_expired_consent(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
        now: civpass_core::kernel::UnixTime,
    ) -> StoreResult<bool> {
        let deleted = execute_on(
            self.conn,
            "DELETE FROM consents WHERE account_id = $1 AND client_id = $2 AND expires_at <= $3",
            &params![account_id, client_id, now],
        )
        .await?;
        Ok(deleted == 1)
    }

    async fn consent_for_update(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
    ) -> StoreResult<Option<Consent>> {
        // The no-op update locks the row on PostgreSQL (as `FOR UPDATE` would, which SQLite
        // lacks; its write transactions are serial anyway).
        let params = params![account_id, client_id];
        execute_on(
            &mut *self.conn,
            "UPDATE consents SET linked_at = linked_at WHERE account_id = $1 AND client_id = $2",
            &params,
        )
        .await?;
        let row = crate::sql::bind_all(
            sqlx::query(
                "SELECT account_id, client_id, scopes, granted_at, linked_at, claims, purpose, \
                 expires_at, approvals FROM consents WHERE account_id = $1 AND client_id = $2",
            ),
            &params,
        )
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(crate::backend)?;
        row.as_ref().map(rows::consent).transpose()
    }

    async fn consent_stands_since(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
        at: civpass_core::kernel::UnixTime,
    ) -> StoreResult<bool> {
        // A no-op update rather than `SELECT … FOR UPDATE`: it locks the row on PostgreSQL
        // (a concurrent withdrawal's DELETE waits for this transaction) and is valid SQLite,
        // whose write transactions are serial anyway.
        let touched = execute_on(
            self.conn,
            "UPDATE consents SET linked_at = linked_at \
             WHERE account_id = $1 AND client_id = $2 AND linked_at <= $3",
            &params![account_id, client_id, at],
        )
        .await?;
        Ok(touched == 1)
    }

    async fn upsert_consent(&mut self, consent: &Consent) -> StoreResult<()> {
        upsert_consent(self.conn, consent).await
    }

    async fn insert_anonymous_filling(
        &mut self,
        f: &civpass_core::consent::model::AnonymousFilling,
    ) -> StoreResult<()> {
        execute_on(
            self.conn,
            "INSERT INTO anonymous_fillings (id, account_lookup, sealed, created_at) \
             VALUES ($1, $2, $3, $4)",
            &params![&f.id, &f.account_lookup, &f.sealed, f.created_at],
        )
        .await?;
        Ok(())
    }

    async fn insert_release(&mut self, release: &Release) -> StoreResult<()> {
        insert_release(self.conn, release).await
    }
}
