//! Grants, their refresh tokens (current and retired) and revoked access tokens.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::oidc::model::Grant;
use civpass_core::oidc::store::GrantStore;
use sqlx::AnyConnection;

use crate::sql::op;
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

pub(crate) const GRANT_COLUMNS: &str = "id, account_id, client_id, login_request_id, scopes, auth_time, acr, amr, refresh_hash, \
     refresh_expires_at, created_at, revoked_at, dpop_jkt, browser_hash";

pub(crate) async fn revoke_grant(
    conn: &mut AnyConnection,
    id: &str,
    now: UnixTime,
) -> StoreResult<bool> {
    let revoked =
        sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await
            .map_err(backend)?;
    Ok(revoked.rows_affected() == 1)
}

pub(crate) async fn insert_grant(conn: &mut AnyConnection, grant: &Grant) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO grants (id, account_id, client_id, login_request_id, scopes, auth_time, acr, amr, refresh_hash, \
         refresh_expires_at, created_at, revoked_at, dpop_jkt, browser_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&grant.id)
    .bind(&grant.account_id)
    .bind(&grant.client_id)
    .bind(&grant.login_request_id)
    .bind(grant.scopes.join(" "))
    .bind(grant.auth_time)
    .bind(&grant.acr)
    .bind(grant.amr.join(" "))
    .bind(&grant.refresh_hash)
    .bind(grant.refresh_expires_at)
    .bind(grant.created_at)
    .bind(grant.revoked_at)
    .bind(&grant.dpop_jkt)
    .bind(&grant.browser_hash)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn find_grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1"));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.reader).await.map_err(backend)?;
        row.as_ref().map(rows::grant).transpose()
    }

    async fn find_grant_by_refresh_hash(&self, refresh_hash: &str) -> StoreResult<Option<Grant>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE refresh_hash = $1"
        ));
        let row = sqlx::query(sql)
            .bind(refresh_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::grant).transpose()
    }

    async fn find_grant_by_retired_refresh_hash(
        &self,
        refresh_hash: &str,
    ) -> StoreResult<Option<Grant>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM grants g JOIN retired_refresh_tokens r ON r.grant_id = g.id WHERE r.refresh_hash = $1",
            GRANT_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ")
        ));
        let row = sqlx::query(sql)
            .bind(refresh_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::grant).transpose()
    }

    async fn delete_retired_refresh_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted =
                        sqlx::query("DELETE FROM retired_refresh_tokens WHERE retired_at < $1")
                            .bind(cutoff)
                            .execute(conn)
                            .await
                            .map_err(backend)?;
                    Ok(deleted.rows_affected())
                }),
            )
            .await
    }

    async fn revoke_grant(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let id = id.to_owned();
        self.writer.write(Statements::One, op!(|conn| revoke_grant(conn, &id, now).await)).await
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()> {
        let jti = jti.to_owned();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query(
                    "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
                )
                .bind(&jti)
                .bind(expires_at)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM revoked_access_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn delete_revoked_access_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted =
                        sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at < $1")
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
