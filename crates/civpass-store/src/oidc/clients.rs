//! Relying parties and initial access tokens for dynamic registration.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::{StoreError, StoreResult};
use civpass_core::oidc::model::Client;
use civpass_core::oidc::store::ClientStore;
use sqlx::Row;

use crate::sql::{AnyQuery, op};
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

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
pub(crate) fn bind_client<'q>(query: AnyQuery<'q>, client: &Client) -> StoreResult<AnyQuery<'q>> {
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
