//! The key slice's storage port: signing keys, sealed.

use async_trait::async_trait;

use crate::kernel::UnixTime;
use crate::kernel::store::StoreResult;
use crate::keys::model::StoredSigningKey;

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;
    /// Sets when a key leaves the JWKS, if it has no such time yet.
    async fn retire_signing_key(&self, kid: &str, retires_at: UnixTime) -> StoreResult<()>;
}
