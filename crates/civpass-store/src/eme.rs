//! The e-ME slice's port: each account's stored fields, sealed, written conditionally on the
//! version read.

use async_trait::async_trait;
use civpass_core::eme::store::{EmeStore, SealedVault};
use civpass_core::kernel::AccountId;
use civpass_core::kernel::store::StoreResult;

use crate::SqlStore;
use crate::sql::{col, params};

#[async_trait]
impl EmeStore for SqlStore {
    async fn find_vault(&self, account_id: &AccountId) -> StoreResult<Option<SealedVault>> {
        self.fetch_optional(
            "SELECT sealed, version FROM eme_vaults WHERE account_id = $1",
            params![account_id],
            |row| Ok(SealedVault { sealed: col(row, "sealed")?, version: col(row, "version")? }),
        )
        .await
    }

    async fn save_vault(
        &self,
        account_id: &AccountId,
        vault: &SealedVault,
        updated_at: i64,
    ) -> StoreResult<bool> {
        // The first write inserts (a second first write meets the primary key); later ones
        // update only the version they read.
        let written = if vault.version == 1 {
            self.execute(
                "INSERT INTO eme_vaults (account_id, sealed, version, updated_at) \
                 VALUES ($1, $2, 1, $3) ON CONFLICT (account_id) DO NOTHING",
                params![account_id, &vault.sealed, updated_at],
            )
            .await?
        } else {
            self.execute(
                "UPDATE eme_vaults SET sealed = $1, version = $2, updated_at = $3 \
                 WHERE account_id = $4 AND version = $5",
                params![&vault.sealed, vault.version, updated_at, account_id, vault.version - 1],
            )
            .await?
        };
        Ok(written == 1)
    }
}

#[async_trait]
impl civpass_core::eme::store::BlobStore for SqlStore {
    async fn put_blob(&self, id: &str, sealed: &[u8], created_at: i64) -> StoreResult<()> {
        let sealed = sealed.to_vec();
        self.execute(
            "INSERT INTO blobs (id, content, created_at) VALUES ($1, $2, $3)",
            params![id, &sealed, created_at],
        )
        .await?;
        Ok(())
    }

    async fn get_blob(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.fetch_optional("SELECT content FROM blobs WHERE id = $1", params![id], |row| {
            col(row, "content")
        })
        .await
    }

    async fn delete_blob(&self, id: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM blobs WHERE id = $1", params![id]).await? == 1)
    }
}
