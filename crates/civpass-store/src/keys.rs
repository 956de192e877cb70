//! The key slice's port: signing keys.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::keys::model::StoredSigningKey;
use civpass_core::keys::store::KeyStore;

use crate::sql::params;
use crate::{SqlStore, rows};

#[async_trait]
impl KeyStore for SqlStore {
    async fn retire_signing_key(&self, kid: &str, retires_at: UnixTime) -> StoreResult<()> {
        self.execute(
            "UPDATE signing_keys SET retires_at = $1 WHERE kid = $2 AND retires_at IS NULL",
            params![retires_at, kid],
        )
        .await?;
        Ok(())
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.fetch_all(
            "SELECT kid, alg, sealed_pkcs8, created_at, activates_at, retires_at FROM signing_keys \
             ORDER BY created_at, kid",
            params![],
            rows::signing_key,
        )
        .await
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        self.execute(
            "INSERT INTO signing_keys (kid, alg, sealed_pkcs8, created_at, activates_at, retires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                &key.kid,
                &key.alg,
                &key.sealed_pkcs8,
                key.created_at,
                key.activates_at,
                key.retires_at
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl civpass_core::kernel::store::HealthStore for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        // A read of a real table through the readers, as a request's reads go: a lost server,
        // an exhausted pool or an unreadable file all fail it.
        self.fetch_optional("SELECT COUNT(*) AS n FROM signing_keys", params![], |_| Ok(()))
            .await?;
        Ok(())
    }

    fn pool_use(&self) -> civpass_core::kernel::store::PoolUse {
        let idle = u32::try_from(self.reader.num_idle()).unwrap_or(u32::MAX);
        civpass_core::kernel::store::PoolUse {
            open: self.reader.size(),
            idle,
            max: self.reader.options().get_max_connections(),
        }
    }
}
