//! Relying parties and initial access tokens for dynamic registration. A client's metadata is
//! one JSON document (`metadata`, serde's form of `Client`); the columns hold what is queried
//! or kept apart (id, secret hash, registration token hash, sector, times).

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::{StoreError, StoreResult};
use civpass_core::oidc::model::Client;
use civpass_core::oidc::store::ClientStore;

use crate::sql::{col, params};
use crate::{SqlStore, rows};

/// The columns `rows::client` reads.
macro_rules! client_columns {
    () => {
        "id, secret_hash, registration_token_hash, sector, created_at, disabled_at, metadata"
    };
}

fn metadata(client: &Client) -> StoreResult<String> {
    serde_json::to_string(client).map_err(|e| {
        StoreError::Backend(Box::new(civpass_core::kernel::Internal::caused("client metadata", e)))
    })
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn insert_client(&self, c: &Client) -> StoreResult<()> {
        self.execute(
            "INSERT INTO clients (id, secret_hash, registration_token_hash, sector, created_at, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![&c.id, &c.secret_hash, &c.registration_token_hash, &c.sector, c.created_at, metadata(c)?],
        )
        .await?;
        Ok(())
    }

    async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        let updated = self
            .execute(
                "UPDATE clients SET secret_hash = $1, registration_token_hash = $2, sector = $3, \
                 metadata = $4 WHERE id = $5 AND deleted_at IS NULL",
                params![&c.secret_hash, &c.registration_token_hash, &c.sector, metadata(c)?, &c.id],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn insert_registration_token(
        &self,
        token_hash: &str,
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO registration_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
            params![token_hash, created_at, expires_at],
        )
        .await?;
        Ok(())
    }

    async fn find_registration_token(&self, token_hash: &str) -> StoreResult<Option<UnixTime>> {
        self.fetch_optional(
            "SELECT expires_at FROM registration_tokens WHERE token_hash = $1",
            params![token_hash],
            |row| col(row, "expires_at"),
        )
        .await
    }

    async fn find_client(
        &self,
        id: &civpass_core::kernel::ClientId,
    ) -> StoreResult<Option<Client>> {
        self.fetch_optional(
            concat!(
                "SELECT ",
                client_columns!(),
                " FROM clients WHERE id = $1 AND deleted_at IS NULL"
            ),
            params![id],
            rows::client,
        )
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.fetch_all(
            concat!(
                "SELECT ",
                client_columns!(),
                " FROM clients WHERE deleted_at IS NULL ORDER BY created_at, id"
            ),
            params![],
            rows::client,
        )
        .await
    }

    async fn set_client_disabled(
        &self,
        id: &civpass_core::kernel::ClientId,
        at: Option<UnixTime>,
    ) -> StoreResult<bool> {
        let updated = self
            .execute(
                "UPDATE clients SET disabled_at = $1 WHERE id = $2 AND deleted_at IS NULL",
                params![at, id],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn set_client_secret(
        &self,
        id: &civpass_core::kernel::ClientId,
        secret_hash: &str,
    ) -> StoreResult<bool> {
        // Only a client that authenticates with a secret has one to replace.
        let updated = self
            .execute(
                "UPDATE clients SET secret_hash = $1 WHERE id = $2 AND deleted_at IS NULL \
                 AND secret_hash IS NOT NULL",
                params![secret_hash, id],
            )
            .await?;
        Ok(updated == 1)
    }
}
