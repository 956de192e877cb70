//! The consent slice's ports: consents and the record of releases.

use async_trait::async_trait;
use civpass_core::consent::model::{Consent, Release};
use civpass_core::consent::store::{ConsentStore, ConsentWrites};
use civpass_core::kernel::store::StoreResult;
use sqlx::AnyConnection;

use crate::sql::op;
use crate::tx::SqlTransaction;
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

pub(crate) async fn insert_release(conn: &mut AnyConnection, release: &Release) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO releases (id, account_id, client_id, grant_id, claims, channel, released_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&release.id)
    .bind(&release.account_id)
    .bind(&release.client_id)
    .bind(&release.grant_id)
    .bind(release.claims.join(" "))
    .bind(&release.channel)
    .bind(release.released_at)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(crate) async fn upsert_consent(conn: &mut AnyConnection, c: &Consent) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO consents (account_id, client_id, scopes, granted_at, linked_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
    )
    .bind(&c.account_id)
    .bind(&c.client_id)
    .bind(c.scopes.join(" "))
    .bind(c.granted_at)
    .bind(c.linked_at)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn insert_release(&self, release: &Release) -> StoreResult<()> {
        let release = release.clone();
        self.writer.write(Statements::One, op!(|conn| insert_release(conn, &release).await)).await
    }

    async fn list_releases(&self, account_id: &str) -> StoreResult<Vec<Release>> {
        let rows = sqlx::query(
            "SELECT id, account_id, client_id, grant_id, claims, channel, released_at FROM releases \
             WHERE account_id = $1 ORDER BY released_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::release).collect()
    }

    async fn list_consents(&self, account_id: &str) -> StoreResult<Vec<Consent>> {
        let rows = sqlx::query(
            "SELECT account_id, client_id, scopes, granted_at, linked_at FROM consents WHERE account_id = $1 ORDER BY granted_at, client_id",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::consent).collect()
    }
}

#[async_trait]
impl ConsentWrites for SqlTransaction<'_> {
    async fn delete_consent(&mut self, account_id: &str, client_id: &str) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM consents WHERE account_id = $1 AND client_id = $2")
            .bind(account_id)
            .bind(client_id)
            .execute(&mut *self.conn)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn upsert_consent(&mut self, consent: &Consent) -> StoreResult<()> {
        upsert_consent(self.conn, consent).await
    }

    async fn insert_release(&mut self, release: &Release) -> StoreResult<()> {
        insert_release(self.conn, release).await
    }
}
