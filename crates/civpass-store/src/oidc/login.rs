//! Login requests and pushed authorization requests.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::oidc::model::{Decision, LoginRequest};
use civpass_core::oidc::store::{LoginStore, PendingKey, Redemption};
use sqlx::{AnyConnection, Row};

use crate::sql::op;
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

pub(crate) const LOGIN_COLUMNS: &str = "id, client_id, client_name, redirect_uri, oauth_state, nonce, scopes, code_challenge, browser_hash, \
     match_code, challenge, created_at, expires_at, status, account_id, device_id, approved_scopes, auth_time, amr, \
     code_hash, code_expires_at, grant_id, ui_locales, acr_values, id_token_claims, expected_sub, failure, dpop_jkt, sealed_context, origin_hash";

pub(crate) async fn decide_login_request(
    conn: &mut AnyConnection,
    id: &str,
    decision: &Decision,
    now: UnixTime,
) -> StoreResult<bool> {
    let query = match decision {
        Decision::Approve { account_id, device_id, approved_scopes, amr } => sqlx::query(
            "UPDATE login_requests SET status = 'approved', account_id = $1, device_id = $2, approved_scopes = $3, \
             amr = $4, auth_time = $5 WHERE id = $6 AND status = 'pending' AND expires_at > $5",
        )
        .bind(account_id.as_str())
        .bind(device_id.as_str())
        .bind(approved_scopes.join(" "))
        .bind(amr.join(" "))
        .bind(now)
        .bind(id.to_owned()),
        Decision::End(ending) => sqlx::query(
            "UPDATE login_requests SET status = $1, failure = $2 WHERE id = $3 AND status = 'pending' AND expires_at > $4",
        )
        .bind(ending.status().as_str())
        .bind(ending.as_str())
        .bind(id.to_owned())
        .bind(now),
    };
    let updated = query.execute(conn).await.map_err(backend)?;
    Ok(updated.rows_affected() == 1)
}

pub(crate) async fn redeem_code(
    conn: &mut AnyConnection,
    code_hash: &str,
    grant_id: &str,
) -> StoreResult<Redemption> {
    let redeemed = sqlx::query(
        "UPDATE login_requests SET status = 'redeemed', grant_id = $1 WHERE code_hash = $2 AND status = 'completed'",
    )
    .bind(grant_id)
    .bind(code_hash)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    if redeemed.rows_affected() == 1 {
        return Ok(Redemption::Redeemed);
    }
    let previous = sqlx::query("SELECT status, grant_id FROM login_requests WHERE code_hash = $1")
        .bind(code_hash)
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    Ok(match previous {
        Some(row) if row.try_get::<String, _>("status").map_err(backend)? == "redeemed" => {
            let grant_id: Option<String> = row.try_get("grant_id").map_err(backend)?;
            Redemption::AlreadyRedeemed { grant_id: grant_id.map(Into::into) }
        }
        _ => Redemption::Unknown,
    })
}

#[async_trait]
impl LoginStore for SqlStore {
    async fn insert_login_request(&self, r: &LoginRequest) -> StoreResult<()> {
        let r = r.clone();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query(
                    "INSERT INTO login_requests (id, client_id, client_name, redirect_uri, oauth_state, nonce, scopes, \
                     code_challenge, browser_hash, match_code, challenge, created_at, expires_at, status, ui_locales, \
                     acr_values, id_token_claims, expected_sub, dpop_jkt, sealed_context, origin_hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
                )
                .bind(r.id.as_str())
                .bind(r.client_id.as_str())
                .bind(&r.client_name)
                .bind(&r.redirect_uri)
                .bind(&r.oauth_state)
                .bind(&r.nonce)
                .bind(r.scopes.join(" "))
                .bind(&r.code_challenge)
                .bind(&r.browser_hash)
                .bind(&r.match_code)
                .bind(&r.challenge)
                .bind(r.created_at)
                .bind(r.expires_at)
                .bind(r.status.as_str())
                .bind(&r.ui_locales)
                .bind(r.acr_values.join(" "))
                .bind(r.id_token_claims.join(" "))
                .bind(&r.expected_sub)
                .bind(&r.dpop_jkt)
                .bind(&r.sealed_context)
                .bind(&r.origin_hash)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn find_login_request(&self, id: &str) -> StoreResult<Option<LoginRequest>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM login_requests WHERE id = $1"
        ));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.reader).await.map_err(backend)?;
        row.as_ref().map(rows::login_request).transpose()
    }

    async fn find_login_request_by_code(
        &self,
        code_hash: &str,
    ) -> StoreResult<Option<LoginRequest>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM login_requests WHERE code_hash = $1"
        ));
        let row =
            sqlx::query(sql).bind(code_hash).fetch_optional(&self.reader).await.map_err(backend)?;
        row.as_ref().map(rows::login_request).transpose()
    }

    async fn complete_login_request(
        &self,
        id: &str,
        code_hash: &str,
        code_expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let (id, code_hash) = (id.to_owned(), code_hash.to_owned());
        self.writer
            .write(Statements::One, op!(|conn| {
                let updated = sqlx::query(
                    "UPDATE login_requests SET status = 'completed', code_hash = $1, code_expires_at = $2 \
                     WHERE id = $3 AND status = 'approved'",
                )
                .bind(&code_hash)
                .bind(code_expires_at)
                .bind(&id)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(updated.rows_affected() == 1)
            }))
            .await
    }

    async fn count_pending_login_requests(
        &self,
        key: PendingKey<'_>,
        now: UnixTime,
    ) -> StoreResult<u64> {
        let (column, value) = match key {
            PendingKey::Browser(hash) => ("browser_hash", hash),
            PendingKey::Origin(hash) => ("origin_hash", hash),
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM login_requests WHERE {column} = $1 AND expires_at > $2 AND status = 'pending'"
        ));
        let row = sqlx::query(sql)
            .bind(value)
            .bind(now)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        row.try_get::<i64, _>("n").map_err(backend).map(|n| u64::try_from(n).unwrap_or(0))
    }

    async fn insert_pushed_request(
        &self,
        id: &str,
        client_id: &str,
        params: &str,
        expires_at: UnixTime,
        origin_hash: Option<&str>,
    ) -> StoreResult<()> {
        let (id, client_id, params) = (id.to_owned(), client_id.to_owned(), params.to_owned());
        let origin_hash = origin_hash.map(str::to_owned);
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query(
                    "INSERT INTO pushed_requests (id, client_id, params, expires_at, origin_hash) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(&client_id)
                .bind(&params)
                .bind(expires_at)
                .bind(&origin_hash)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn count_pending_pushed_requests(
        &self,
        origin_hash: &str,
        now: UnixTime,
    ) -> StoreResult<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM pushed_requests WHERE origin_hash = $1 AND expires_at > $2",
        )
        .bind(origin_hash)
        .bind(now)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        row.try_get::<i64, _>("n").map_err(backend).map(|n| u64::try_from(n).unwrap_or(0))
    }

    async fn delete_pushed_requests_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted = sqlx::query("DELETE FROM pushed_requests WHERE expires_at < $1")
                        .bind(cutoff)
                        .execute(conn)
                        .await
                        .map_err(backend)?;
                    Ok(deleted.rows_affected())
                }),
            )
            .await
    }

    async fn take_pushed_request(
        &self,
        id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<String>> {
        let (id, client_id) = (id.to_owned(), client_id.to_owned());
        self.writer
            .write(Statements::One, op!(|conn| {
                let row = sqlx::query(
                    "DELETE FROM pushed_requests WHERE id = $1 AND client_id = $2 RETURNING params, expires_at",
                )
                .bind(&id)
                .bind(&client_id)
                .fetch_optional(conn)
                .await
                .map_err(backend)?;
                let Some(row) = row else { return Ok(None) };
                let expires_at: i64 = row.try_get("expires_at").map_err(backend)?;
                if expires_at <= now {
                    return Ok(None);
                }
                Ok(Some(row.try_get("params").map_err(backend)?))
            }))
            .await
    }

    async fn delete_login_requests_expired_before(
        &self,
        cutoff: UnixTime,
        unfinished_cutoff: UnixTime,
    ) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted = sqlx::query(
                        "DELETE FROM login_requests WHERE expires_at < $1 \
                         OR (expires_at < $2 AND status NOT IN ('completed', 'redeemed'))",
                    )
                    .bind(cutoff)
                    .bind(unfinished_cutoff)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                    Ok(deleted.rows_affected())
                }),
            )
            .await
    }
}
