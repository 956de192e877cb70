//! Login requests and pushed authorization requests.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::{StoreError, StoreResult};
use civpass_core::oidc::model::{Decision, LoginRequest};
use civpass_core::oidc::store::{LoginStore, PendingKey, PurgedLoginRequests, Redemption};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::sql::{bind_all, col, execute_on, params};
use crate::{SqlStore, backend, rows};

/// The columns `rows::login_request` reads.
macro_rules! login_columns {
    () => {
        "id, client_id, client_name, redirect_uri, oauth_state, nonce, scopes, code_challenge, \
         browser_hash, match_code, challenge, created_at, expires_at, status, account_id, device_id, \
         approved_scopes, auth_time, amr, code_hash, code_expires_at, grant_id, ui_locales, \
         acr_values, id_token_claims, expected_sub, failure, dpop_jkt, sealed_context, origin_hash, \
         claims_filter, essential_claims, verified_claims, purpose, authorization_details"
    };
}

pub(crate) async fn decide_login_request(
    conn: &mut AnyConnection,
    id: &str,
    decision: &Decision,
    now: UnixTime,
) -> StoreResult<bool> {
    let updated = match decision {
        Decision::Approve { account_id, device_id, approved_scopes, amr } => {
            let params =
                params![account_id, device_id, approved_scopes.join(" "), amr.join(" "), now, id];
            execute_on(
                conn,
                "UPDATE login_requests SET status = 'approved', account_id = $1, device_id = $2, \
                 approved_scopes = $3, amr = $4, auth_time = $5 \
                 WHERE id = $6 AND status = 'pending' AND expires_at > $5",
                &params,
            )
            .await?
        }
        Decision::End(ending) => {
            let params = params![ending.status().as_str(), ending.as_str(), id, now];
            execute_on(
                conn,
                "UPDATE login_requests SET status = $1, failure = $2 \
                 WHERE id = $3 AND status = 'pending' AND expires_at > $4",
                &params,
            )
            .await?
        }
    };
    Ok(updated == 1)
}

pub(crate) async fn redeem_code(
    conn: &mut AnyConnection,
    code_hash: &str,
    grant_id: &str,
) -> StoreResult<Redemption> {
    let redeemed = execute_on(
        &mut *conn,
        "UPDATE login_requests SET status = 'redeemed', grant_id = $1 \
         WHERE code_hash = $2 AND status = 'completed'",
        &params![grant_id, code_hash],
    )
    .await?;
    if redeemed == 1 {
        return Ok(Redemption::Redeemed);
    }
    let params = params![code_hash];
    let previous = bind_all(
        sqlx::query("SELECT status, grant_id FROM login_requests WHERE code_hash = $1"),
        &params,
    )
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    Ok(match previous {
        Some(row) if col::<String>(&row, "status")? == "redeemed" => {
            let grant_id: Option<String> = col(&row, "grant_id")?;
            Redemption::AlreadyRedeemed { grant_id: grant_id.map(Into::into) }
        }
        _ => Redemption::Unknown,
    })
}

fn count(row: &AnyRow) -> StoreResult<u64> {
    col::<i64>(row, "n").map(|n| u64::try_from(n).unwrap_or(0))
}

#[async_trait]
impl LoginStore for SqlStore {
    async fn insert_login_request(&self, r: &LoginRequest) -> StoreResult<()> {
        self.execute(
            "INSERT INTO login_requests (id, client_id, client_name, redirect_uri, oauth_state, nonce, \
             scopes, code_challenge, browser_hash, match_code, challenge, created_at, expires_at, \
             status, ui_locales, acr_values, id_token_claims, expected_sub, dpop_jkt, sealed_context, \
             origin_hash, claims_filter, essential_claims, verified_claims, purpose, \
             authorization_details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)",
            params![
                &r.id,
                &r.client_id,
                &r.client_name,
                &r.redirect_uri,
                &r.oauth_state,
                &r.nonce,
                r.scopes.join(" "),
                &r.code_challenge,
                &r.browser_hash,
                &r.match_code,
                &r.challenge,
                r.created_at,
                r.expires_at,
                r.status.as_str(),
                &r.ui_locales,
                r.acr_values.join(" "),
                r.id_token_claims.join(" "),
                &r.expected_sub,
                &r.dpop_jkt,
                &r.sealed_context,
                &r.origin_hash,
                r.claims_filter.join(" "),
                r.essential_claims.join(" "),
                r.verified_claims.join(" "),
                &r.purpose,
                &r.authorization_details
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_login_request(
        &self,
        id: &civpass_core::kernel::LoginRequestId,
    ) -> StoreResult<Option<LoginRequest>> {
        self.fetch_optional(
            concat!("SELECT ", login_columns!(), " FROM login_requests WHERE id = $1"),
            params![id],
            rows::login_request,
        )
        .await
    }

    async fn find_login_request_by_code(
        &self,
        code_hash: &str,
    ) -> StoreResult<Option<LoginRequest>> {
        self.fetch_optional(
            concat!("SELECT ", login_columns!(), " FROM login_requests WHERE code_hash = $1"),
            params![code_hash],
            rows::login_request,
        )
        .await
    }

    async fn complete_login_request(
        &self,
        id: &civpass_core::kernel::LoginRequestId,
        code_hash: &str,
        code_expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let updated = self
            .execute(
                "UPDATE login_requests SET status = 'completed', code_hash = $1, code_expires_at = $2 \
                 WHERE id = $3 AND status = 'approved'",
                params![code_hash, code_expires_at, id],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn count_pending_login_requests(
        &self,
        key: PendingKey<'_>,
        now: UnixTime,
    ) -> StoreResult<u64> {
        let (sql, value) = match key {
            PendingKey::Browser(hash) => (
                "SELECT COUNT(*) AS n FROM login_requests \
                 WHERE browser_hash = $1 AND expires_at > $2 AND status = 'pending'",
                hash,
            ),
            PendingKey::Origin(hash) => (
                "SELECT COUNT(*) AS n FROM login_requests \
                 WHERE origin_hash = $1 AND expires_at > $2 AND status = 'pending'",
                hash,
            ),
        };
        self.fetch_optional(sql, params![value, now], count).await?.ok_or(StoreError::NotFound)
    }

    async fn insert_pushed_request(
        &self,
        id: &str,
        client_id: &civpass_core::kernel::ClientId,
        params: &str,
        expires_at: UnixTime,
        origin_hash: Option<&str>,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO pushed_requests (id, client_id, params, expires_at, origin_hash) \
             VALUES ($1, $2, $3, $4, $5)",
            params![id, client_id, params, expires_at, origin_hash],
        )
        .await?;
        Ok(())
    }

    async fn count_pending_pushed_requests(
        &self,
        origin_hash: &str,
        now: UnixTime,
    ) -> StoreResult<u64> {
        self.fetch_optional(
            "SELECT COUNT(*) AS n FROM pushed_requests WHERE origin_hash = $1 AND expires_at > $2",
            params![origin_hash, now],
            count,
        )
        .await?
        .ok_or(StoreError::NotFound)
    }

    async fn delete_pushed_requests_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM pushed_requests WHERE expires_at < $1", params![cutoff]).await
    }

    async fn take_pushed_request(
        &self,
        id: &str,
        client_id: &civpass_core::kernel::ClientId,
        now: UnixTime,
    ) -> StoreResult<Option<String>> {
        // DELETE … RETURNING: taking is one step, so a pushed request is used at most once.
        let taken = self
            .write_returning(
                "DELETE FROM pushed_requests WHERE id = $1 AND client_id = $2 \
                 RETURNING params, expires_at",
                params![id, client_id],
                |row| Ok((col::<String>(row, "params")?, col::<i64>(row, "expires_at")?)),
            )
            .await?;
        Ok(taken.into_iter().next().filter(|(_, expires_at)| *expires_at > now).map(|(p, _)| p))
    }

    async fn delete_login_requests_expired_before(
        &self,
        cutoff: UnixTime,
        unfinished_cutoff: UnixTime,
    ) -> StoreResult<PurgedLoginRequests> {
        // The undecided first, on their own, so that each is counted once, by the node whose
        // delete took it.
        let never_decided = self
            .execute(
                "DELETE FROM login_requests WHERE status = 'pending' \
                 AND (expires_at < $1 OR expires_at < $2)",
                params![cutoff, unfinished_cutoff],
            )
            .await?;
        let rest = self
            .execute(
                "DELETE FROM login_requests WHERE expires_at < $1 \
                 OR (expires_at < $2 AND status NOT IN ('completed', 'redeemed'))",
                params![cutoff, unfinished_cutoff],
            )
            .await?;
        Ok(PurgedLoginRequests { deleted: never_decided + rest, never_decided })
    }
}
