//! The e-ME slice's storage port: each account's stored fields, sealed, one row per account.

use async_trait::async_trait;

use crate::kernel::ids::AccountId;
use crate::kernel::store::StoreResult;

/// An account's stored fields as kept: `StoredVault` as JSON, sealed with the account id, and
/// a version that every write raises by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedVault {
    pub sealed: Vec<u8>,
    pub version: i64,
}

#[async_trait]
pub trait EmeStore: Send + Sync {
    async fn find_vault(&self, account_id: &AccountId) -> StoreResult<Option<SealedVault>>;
    /// Writes `vault` if the stored version is still `vault.version - 1` (none stored for 1);
    /// false if another write came first.
    async fn save_vault(
        &self,
        account_id: &AccountId,
        vault: &SealedVault,
        updated_at: i64,
    ) -> StoreResult<bool>;
}

/// Documents the citizen uploads (address proofs), as sealed bytes. The default keeps them in
/// the database, so that every node on one PostgreSQL reads the same ones and a backup holds
/// them; an object store could stand behind this port instead.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put_blob(&self, id: &str, sealed: &[u8], created_at: i64) -> StoreResult<()>;
    async fn get_blob(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;
    /// False if there was none.
    async fn delete_blob(&self, id: &str) -> StoreResult<bool>;
}
