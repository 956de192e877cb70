//! Grants, their refresh tokens (current and retired) and revoked access tokens.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::oidc::model::Grant;
use civpass_core::oidc::store::GrantStore;
use sqlx::AnyConnection;

use crate::sql::{execute_on, op, params};
use crate::writer::Statements;
use crate::{SqlStore, rows};

pub(crate) const GRANT_COLUMNS: &str = "id, account_id, client_id, login_request_id, scopes, auth_time, acr, amr, refresh_hash, \
     refresh_expires_at, created_at, revoked_at, dpop_jkt, browser_hash, claims_filter, verified_claims, authorization_details";

pub(crate) async fn revoke_grant(
    conn: &mut AnyConnection,
    id: &str,
    now: UnixTime,
) -> StoreResult<bool> {
    let revoked = execute_on(
        conn,
        "UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        &params![now, id],
    )
    .await?;
    Ok(revoked == 1)
}

pub(crate) async fn insert_grant(conn: &mut AnyConnection, g: &Grant) -> StoreResult<()> {
    let params = params![
        &g.id,
        &g.account_id,
        &g.client_id,
        &g.login_request_id,
        g.scopes.join(" "),
        g.auth_time,
        &g.acr,
        g.amr.join(" "),
        &g.refresh_hash,
        g.refresh_expires_at,
        g.created_at,
        g.revoked_at,
        &g.dpop_jkt,
        &g.browser_hash,
        g.claims_filter.join(" "),
        g.verified_claims.join(" "),
        &g.authorization_details
    ];
    execute_on(
        conn,
        "INSERT INTO grants (id, account_id, client_id, login_request_id, scopes, auth_time, acr, \
         amr, refresh_hash, refresh_expires_at, created_at, revoked_at, dpop_jkt, browser_hash, \
         claims_filter, verified_claims, authorization_details) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        &params,
    )
    .await?;
    Ok(())
}

/// A grant found by `condition` on the `grants` table (aliased `g`), joined with `join`.
fn select_grant(join: &str, condition: &str) -> sqlx::AssertSqlSafe<String> {
    let columns = GRANT_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>();
    sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM grants g {join} WHERE {condition}",
        columns.join(", ")
    ))
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn find_grant(&self, id: &civpass_core::kernel::GrantId) -> StoreResult<Option<Grant>> {
        self.fetch_optional(select_grant("", "g.id = $1"), params![id], rows::grant).await
    }

    async fn find_grant_by_refresh_hash(&self, refresh_hash: &str) -> StoreResult<Option<Grant>> {
        let sql = select_grant("", "g.refresh_hash = $1");
        self.fetch_optional(sql, params![refresh_hash], rows::grant).await
    }

    async fn find_grant_by_retired_refresh_hash(
        &self,
        refresh_hash: &str,
    ) -> StoreResult<Option<Grant>> {
        let sql = select_grant(
            "JOIN retired_refresh_tokens r ON r.grant_id = g.id",
            "r.refresh_hash = $1",
        );
        self.fetch_optional(sql, params![refresh_hash], rows::grant).await
    }

    async fn delete_retired_refresh_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM retired_refresh_tokens WHERE retired_at < $1", params![cutoff])
            .await
    }

    async fn revoke_grant(
        &self,
        id: &civpass_core::kernel::GrantId,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let id = id.to_owned();
        self.writer.write(Statements::One, op!(|conn| revoke_grant(conn, &id, now).await)).await
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()> {
        self.execute(
            "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti) DO NOTHING",
            params![jti, expires_at],
        )
        .await?;
        Ok(())
    }

    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let found = self
            .fetch_optional(
                "SELECT 1 AS one FROM revoked_access_tokens WHERE jti = $1",
                params![jti],
                |_| Ok(()),
            )
            .await?;
        Ok(found.is_some())
    }

    async fn delete_revoked_access_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM revoked_access_tokens WHERE expires_at < $1", params![cutoff])
            .await
    }
}
