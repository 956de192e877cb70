//! The store traits of `civpass-core`, implemented once for both dialects. Reads go to the
//! reader pool; every write is one operation handed to the writer (see `writer.rs`), which runs
//! it in a transaction and answers once it is durable.

use std::any::Any;

use async_trait::async_trait;
use civpass_core::identity::evidence::EvidenceRecord;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::{
    AccountStore, AttemptStore, CeremonyStore, ClientStore, GrantStore, KeyStore, LoginStore,
    OutboxStore, PendingKey, Redemption, StoreError, StoreResult, Transaction, TransactionStore,
    Work,
};
use civpass_core::model::{
    Account, AppSession, Ceremony, Client, Consent, Decision, Device, Grant, LoginRequest,
    LogoutNotice, Release, StoredSigningKey,
};
use sqlx::{AnyConnection, Row};

use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

const LOGIN_COLUMNS: &str = "id, client_id, client_name, redirect_uri, oauth_state, nonce, scopes, code_challenge, browser_hash, \
     match_code, challenge, created_at, expires_at, status, account_id, device_id, approved_scopes, auth_time, amr, \
     code_hash, code_expires_at, grant_id, ui_locales, acr_values, id_token_claims, expected_sub, failure, dpop_jkt, sealed_context, origin_hash";

const GRANT_COLUMNS: &str = "id, account_id, client_id, login_request_id, scopes, auth_time, acr, amr, refresh_hash, \
     refresh_expires_at, created_at, revoked_at, dpop_jkt, browser_hash";

/// Wraps an async block over the writer's connection as a boxed operation.
macro_rules! op {
    (|$conn:ident| $body:expr) => {
        Box::new(move |$conn: &mut AnyConnection| Box::pin(async move { $body }))
    };
}

async fn insert_release(conn: &mut AnyConnection, release: &Release) -> StoreResult<()> {
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

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// The columns `rows::client` reads (a macro, so that `concat!` keeps queries static text).
macro_rules! client_columns {
    () => {
        "id, name, secret_hash, redirect_uris, id_token_alg, created_at, auth_methods, grant_types, jwks, jwks_uri, \
         scopes, requirements, registration_token_hash, post_logout_redirect_uris, backchannel_logout_uri, \
         sector_identifier_uri, sector, disabled_at"
    };
}

/// Binds a client's metadata as parameters $1 to $15, in the order both the insert and the
/// update name them.
fn bind_client<'q>(query: AnyQuery<'q>, client: &Client) -> StoreResult<AnyQuery<'q>> {
    let uris = serde_json::to_string(&client.redirect_uris)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let logout_uris = serde_json::to_string(&client.post_logout_redirect_uris)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let requirements = [
        (client.require_par, "par"),
        (client.require_signed_request, "signed_request"),
        (client.require_dpop, "dpop"),
        (client.resource_server, "resource_server"),
        (client.native, "native"),
        (client.acr_values_voluntary, "acr_voluntary"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(" ");
    Ok(query
        .bind(client.name.clone())
        .bind(client.secret_hash.clone())
        .bind(uris)
        .bind(client.id_token_alg.as_str())
        .bind(client.auth_methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(" "))
        .bind(client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" "))
        .bind(client.jwks.clone())
        .bind(client.jwks_uri.clone())
        .bind(client.scopes.join(" "))
        .bind(requirements)
        .bind(client.registration_token_hash.clone())
        .bind(logout_uris)
        .bind(client.backchannel_logout_uri.clone())
        .bind(client.sector_identifier_uri.clone())
        .bind(client.sector.clone()))
}

async fn insert_device(conn: &mut AnyConnection, device: &Device) -> StoreResult<()> {
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

async fn insert_logout_notice(conn: &mut AnyConnection, n: &LogoutNotice) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO logout_notices (id, client_id, subject, session_id, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&n.id)
    .bind(&n.client_id)
    .bind(&n.subject)
    .bind(&n.session_id)
    .bind(n.attempts)
    .bind(n.next_attempt_at)
    .bind(n.created_at)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        let client = client.clone();
        self.writer
            .write(Statements::One, op!(|conn| {
                let query = sqlx::query(
                    "INSERT INTO clients (name, secret_hash, redirect_uris, id_token_alg, auth_methods, grant_types, jwks, \
                     jwks_uri, scopes, requirements, registration_token_hash, post_logout_redirect_uris, backchannel_logout_uri, \
                     sector_identifier_uri, sector, id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                );
                bind_client(query, &client)?
                    .bind(&client.id)
                    .bind(client.created_at)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn update_client(&self, client: &Client) -> StoreResult<bool> {
        let client = client.clone();
        self.writer
            .write(Statements::One, op!(|conn| {
                let query = sqlx::query(
                    "UPDATE clients SET name = $1, secret_hash = $2, redirect_uris = $3, id_token_alg = $4, auth_methods = $5, \
                     grant_types = $6, jwks = $7, jwks_uri = $8, scopes = $9, requirements = $10, registration_token_hash = $11, \
                     post_logout_redirect_uris = $12, backchannel_logout_uri = $13, sector_identifier_uri = $14, sector = $15 \
                     WHERE id = $16 AND deleted_at IS NULL",
                );
                let updated = bind_client(query, &client)?
                    .bind(&client.id)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(updated.rows_affected() == 1)
            }))
            .await
    }

    async fn delete_client(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let id = id.to_owned();
        self.writer
            .write(Statements::Several, op!(|conn| {
                let deleted = sqlx::query("UPDATE clients SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                if deleted.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query("UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(&id)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(true)
            }))
            .await
    }

    async fn insert_registration_token(
        &self,
        token_hash: &str,
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        let hash = token_hash.to_owned();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query("INSERT INTO registration_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
                    .bind(&hash)
                    .bind(created_at)
                    .bind(expires_at)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn find_registration_token(&self, token_hash: &str) -> StoreResult<Option<UnixTime>> {
        let row = sqlx::query("SELECT expires_at FROM registration_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|r| r.try_get("expires_at").map_err(backend)).transpose()
    }

    async fn use_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let (client_id, jti) = (client_id.to_owned(), jti.to_owned());
        self.writer
            .write(Statements::One, op!(|conn| {
                // The primary key makes a second use of the same jti a conflict, atomically.
                let inserted = sqlx::query(
                    "INSERT INTO used_client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (client_id, jti) DO NOTHING",
                )
                .bind(&client_id)
                .bind(&jti)
                .bind(expires_at)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(inserted.rows_affected() == 1)
            }))
            .await
    }

    async fn delete_client_assertions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted =
                        sqlx::query("DELETE FROM used_client_assertions WHERE expires_at < $1")
                            .bind(cutoff)
                            .execute(conn)
                            .await
                            .map_err(backend)?;
                    Ok(deleted.rows_affected())
                }),
            )
            .await
    }

    async fn find_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::client).transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE deleted_at IS NULL ORDER BY created_at, id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::client).collect()
    }

    async fn set_client_disabled(&self, id: &str, at: Option<UnixTime>) -> StoreResult<bool> {
        let id = id.to_owned();
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let updated = sqlx::query(
                        "UPDATE clients SET disabled_at = $1 WHERE id = $2 AND deleted_at IS NULL",
                    )
                    .bind(at)
                    .bind(&id)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                    Ok(updated.rows_affected() == 1)
                }),
            )
            .await
    }

    async fn set_client_secret(&self, id: &str, secret_hash: &str) -> StoreResult<bool> {
        let (id, hash) = (id.to_owned(), secret_hash.to_owned());
        self.writer
            .write(Statements::One, op!(|conn| {
                // Only a client that authenticates with a secret has one to replace.
                let updated = sqlx::query(
                    "UPDATE clients SET secret_hash = $1 WHERE id = $2 AND deleted_at IS NULL AND secret_hash IS NOT NULL",
                )
                .bind(&hash)
                .bind(&id)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(updated.rows_affected() == 1)
            }))
            .await
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_account(
        &self,
        account: &Account,
        device: &Device,
        evidence: &EvidenceRecord,
    ) -> StoreResult<()> {
        let (account, device, evidence) = (account.clone(), device.clone(), evidence.clone());
        self.writer
            .write(Statements::Several, op!(|conn| {
                sqlx::query("INSERT INTO accounts (id, hkid_hash, tier, vault, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&account.id)
                    .bind(&account.hkid_hash)
                    .bind(account.tier.as_str())
                    .bind(&account.vault)
                    .bind(account.created_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                insert_device(&mut *conn, &device).await?;
                sqlx::query(
                    "INSERT INTO identity_evidence (id, account_id, purpose, method, level, sealed_reference, verified_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&evidence.id)
                .bind(&evidence.account_id)
                .bind(&evidence.purpose)
                .bind(&evidence.method)
                .bind(evidence.level.as_str())
                .bind(&evidence.sealed_reference)
                .bind(evidence.verified_at)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn list_evidence(&self, account_id: &str) -> StoreResult<Vec<EvidenceRecord>> {
        let rows = sqlx::query(
            "SELECT id, account_id, purpose, method, level, sealed_reference, verified_at FROM identity_evidence \
             WHERE account_id = $1 ORDER BY verified_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::evidence).collect()
    }

    async fn find_account_by_hkid_hash(&self, hkid_hash: &str) -> StoreResult<Option<Account>> {
        let row = sqlx::query(
            "SELECT id, hkid_hash, tier, vault, created_at FROM accounts WHERE hkid_hash = $1",
        )
        .bind(hkid_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn get_account(&self, id: &str) -> StoreResult<Account> {
        let row = sqlx::query(
            "SELECT id, hkid_hash, tier, vault, created_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        rows::account(&row)
    }

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
                .bind(&r.id)
                .bind(&r.client_id)
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

async fn revoke_grant(conn: &mut AnyConnection, id: &str, now: UnixTime) -> StoreResult<bool> {
    let revoked =
        sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await
            .map_err(backend)?;
    Ok(revoked.rows_affected() == 1)
}

async fn decide_login_request(
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
        .bind(account_id.clone())
        .bind(device_id.clone())
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

async fn upsert_consent(conn: &mut AnyConnection, c: &Consent) -> StoreResult<()> {
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

async fn redeem_code(
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
            Redemption::AlreadyRedeemed { grant_id: row.try_get("grant_id").map_err(backend)? }
        }
        _ => Redemption::Unknown,
    })
}

async fn insert_grant(conn: &mut AnyConnection, grant: &Grant) -> StoreResult<()> {
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

/// A transaction's writes (`civpass_core::kernel::store::Transaction`) on the connection of one
/// transaction: the writer's savepoint on SQLite, a pooled transaction on PostgreSQL.
struct SqlTransaction<'c> {
    conn: &'c mut AnyConnection,
}

#[async_trait]
impl Transaction for SqlTransaction<'_> {
    async fn delete_consent(&mut self, account_id: &str, client_id: &str) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM consents WHERE account_id = $1 AND client_id = $2")
            .bind(account_id)
            .bind(client_id)
            .execute(&mut *self.conn)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn revoke_live_grants(
        &mut self,
        account_id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        let revoked = sqlx::query(
            "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND client_id = $3 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(now)
        .bind(account_id)
        .bind(client_id)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(backend)?;
        revoked.iter().map(|row| row.try_get("id").map_err(backend)).collect()
    }

    async fn revoke_grant(&mut self, id: &str, now: UnixTime) -> StoreResult<bool> {
        revoke_grant(self.conn, id, now).await
    }

    async fn insert_logout_notice(&mut self, notice: &LogoutNotice) -> StoreResult<()> {
        insert_logout_notice(self.conn, notice).await
    }

    async fn decide_login_request(
        &mut self,
        id: &str,
        decision: &Decision,
        now: UnixTime,
    ) -> StoreResult<bool> {
        decide_login_request(self.conn, id, decision, now).await
    }

    async fn upsert_consent(&mut self, consent: &Consent) -> StoreResult<()> {
        upsert_consent(self.conn, consent).await
    }

    async fn redeem_code(&mut self, code_hash: &str, grant_id: &str) -> StoreResult<Redemption> {
        redeem_code(self.conn, code_hash, grant_id).await
    }

    async fn insert_grant(&mut self, grant: &Grant) -> StoreResult<()> {
        insert_grant(self.conn, grant).await
    }

    async fn replace_refresh_token(
        &mut self,
        grant_id: &str,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let updated = sqlx::query(
            "UPDATE grants SET refresh_hash = $1, refresh_expires_at = $2 \
             WHERE id = $3 AND refresh_hash = $4 AND revoked_at IS NULL",
        )
        .bind(new_hash)
        .bind(new_expires_at)
        .bind(grant_id)
        .bind(old_hash)
        .execute(&mut *self.conn)
        .await
        .map_err(backend)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn retire_refresh_token(
        &mut self,
        refresh_hash: &str,
        grant_id: &str,
        now: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO retired_refresh_tokens (refresh_hash, grant_id, retired_at) VALUES ($1, $2, $3)",
        )
        .bind(refresh_hash)
        .bind(grant_id)
        .bind(now)
        .execute(&mut *self.conn)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn insert_release(&mut self, release: &Release) -> StoreResult<()> {
        insert_release(self.conn, release).await
    }
}

#[async_trait]
impl TransactionStore for SqlStore {
    async fn transact_erased(
        &self,
        work: Work<Box<dyn Any + Send>>,
    ) -> StoreResult<Box<dyn Any + Send>> {
        self.writer
            .write(
                Statements::Several,
                Box::new(move |conn: &mut AnyConnection| {
                    Box::pin(async move { work(&mut SqlTransaction { conn }).await })
                }),
            )
            .await
    }
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn insert_logout_notice(&self, notice: &LogoutNotice) -> StoreResult<()> {
        let n = notice.clone();
        self.writer.write(Statements::One, op!(|conn| insert_logout_notice(conn, &n).await)).await
    }

    async fn claim_logout_notices(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<LogoutNotice>> {
        self.writer
            .write(Statements::One, op!(|conn| {
                // One UPDATE ... RETURNING: the outer condition is checked again on the row
                // itself, so of two nodes claiming at once only one gets each notice.
                let rows = sqlx::query(
                    "UPDATE logout_notices SET next_attempt_at = $1 \
                     WHERE next_attempt_at <= $2 AND id IN \
                     (SELECT id FROM logout_notices WHERE next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3) \
                     RETURNING id, client_id, subject, session_id, attempts, next_attempt_at, created_at",
                )
                .bind(lease_until)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await
                .map_err(backend)?;
                rows.iter().map(rows::logout_notice).collect()
            }))
            .await
    }

    async fn reschedule_logout_notice(
        &self,
        id: &str,
        leased_until: UnixTime,
        attempts: i64,
        next_attempt_at: UnixTime,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    sqlx::query(
                        "UPDATE logout_notices SET attempts = $1, next_attempt_at = $2 \
                     WHERE id = $3 AND next_attempt_at = $4",
                    )
                    .bind(attempts)
                    .bind(next_attempt_at)
                    .bind(&id)
                    .bind(leased_until)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                    Ok(())
                }),
            )
            .await
    }

    async fn delete_logout_notice(&self, id: &str, leased_until: UnixTime) -> StoreResult<()> {
        let id = id.to_owned();
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    sqlx::query(
                        "DELETE FROM logout_notices WHERE id = $1 AND next_attempt_at = $2",
                    )
                    .bind(&id)
                    .bind(leased_until)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                    Ok(())
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

    async fn insert_app_session(&self, session: &AppSession) -> StoreResult<()> {
        let s = session.clone();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query("INSERT INTO app_sessions (token_hash, account_id, device_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)")
                    .bind(&s.token_hash)
                    .bind(&s.account_id)
                    .bind(&s.device_id)
                    .bind(s.created_at)
                    .bind(s.expires_at)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn find_app_session(&self, token_hash: &str) -> StoreResult<Option<AppSession>> {
        let row = sqlx::query(
            "SELECT token_hash, account_id, device_id, created_at, expires_at FROM app_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::app_session).transpose()
    }

    async fn use_dpop_proof(&self, id: &str, expires_at: UnixTime) -> StoreResult<bool> {
        let id = id.to_owned();
        self.writer
            .write(Statements::One, op!(|conn| {
                let inserted = sqlx::query(
                    "INSERT INTO used_dpop_proofs (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .bind(expires_at)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(inserted.rows_affected() == 1)
            }))
            .await
    }

    async fn delete_ceremonies_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::Several,
                op!(|conn| {
                    let ceremonies = sqlx::query("DELETE FROM ceremonies WHERE expires_at < $1")
                        .bind(cutoff)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    let sessions = sqlx::query("DELETE FROM app_sessions WHERE expires_at < $1")
                        .bind(cutoff)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    let proofs = sqlx::query("DELETE FROM used_dpop_proofs WHERE expires_at < $1")
                        .bind(cutoff)
                        .execute(conn)
                        .await
                        .map_err(backend)?;
                    Ok(ceremonies.rows_affected()
                        + sessions.rows_affected()
                        + proofs.rows_affected())
                }),
            )
            .await
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn retire_signing_key(&self, kid: &str, retires_at: UnixTime) -> StoreResult<()> {
        let kid = kid.to_owned();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query("UPDATE signing_keys SET retires_at = $1 WHERE kid = $2 AND retires_at IS NULL")
                    .bind(retires_at)
                    .bind(&kid)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, alg, sealed_pkcs8, created_at, activates_at, retires_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::signing_key).collect()
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        let key = key.clone();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query("INSERT INTO signing_keys (kid, alg, sealed_pkcs8, created_at, activates_at, retires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&key.kid)
                    .bind(&key.alg)
                    .bind(&key.sealed_pkcs8)
                    .bind(key.created_at)
                    .bind(key.activates_at)
                    .bind(key.retires_at)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }))
            .await
    }
}

#[async_trait]
impl AttemptStore for SqlStore {
    async fn count_attempt(
        &self,
        key: &str,
        now: UnixTime,
        window_start_cutoff: UnixTime,
    ) -> StoreResult<i64> {
        let key = key.to_owned();
        self.writer
            .write(Statements::One, op!(|conn| {
                // Both CASEs see the row as it was: a window that is over starts again at one.
                let row = sqlx::query(
                    "INSERT INTO attempt_counters (key, window_start, count) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO UPDATE SET \
                     count = CASE WHEN attempt_counters.window_start <= $3 THEN 1 ELSE attempt_counters.count + 1 END, \
                     window_start = CASE WHEN attempt_counters.window_start <= $3 THEN $2 ELSE attempt_counters.window_start END \
                     RETURNING count",
                )
                .bind(&key)
                .bind(now)
                .bind(window_start_cutoff)
                .fetch_one(conn)
                .await
                .map_err(backend)?;
                row.try_get::<i64, _>("count").map_err(backend)
            }))
            .await
    }

    async fn delete_attempts_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted =
                        sqlx::query("DELETE FROM attempt_counters WHERE window_start < $1")
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
