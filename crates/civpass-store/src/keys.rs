//! The key slice's port: signing keys.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::envelope::{WrappedKey, WrappedKeyStore};
use civpass_core::kernel::store::{StoreError, StoreResult};
use civpass_core::keys::model::StoredSigningKey;
use civpass_core::keys::store::KeyStore;

use crate::sql::{col, params};
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

fn wrapped_key(row: &sqlx::any::AnyRow) -> StoreResult<WrappedKey> {
    let version: i64 = col(row, "kek_version")?;
    Ok(WrappedKey {
        owner: col(row, "owner")?,
        kek_version: u32::try_from(version)
            .map_err(|_| StoreError::backend("a key-encryption key version out of range"))?,
        wrapped: col(row, "wrapped")?,
        created_at: col(row, "created_at")?,
    })
}

#[async_trait]
impl WrappedKeyStore for SqlStore {
    async fn find_wrapped_key(&self, owner: &str) -> StoreResult<Option<WrappedKey>> {
        self.fetch_optional(
            "SELECT owner, kek_version, wrapped, created_at FROM wrapped_keys WHERE owner = $1",
            params![owner],
            wrapped_key,
        )
        .await
    }

    async fn insert_wrapped_key(&self, key: &WrappedKey) -> StoreResult<WrappedKey> {
        let wrapped = key.wrapped.clone();
        self.execute(
            "INSERT INTO wrapped_keys (owner, kek_version, wrapped, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (owner) DO NOTHING",
            params![&key.owner, i64::from(key.kek_version), &wrapped, key.created_at],
        )
        .await?;
        // The writer has committed, so a reader sees this row or the one that came first.
        self.find_wrapped_key(&key.owner)
            .await?
            .ok_or_else(|| StoreError::backend("a wrapped key vanished as it was stored"))
    }

    async fn wrapped_keys_not_under(
        &self,
        version: u32,
        limit: u32,
    ) -> StoreResult<Vec<WrappedKey>> {
        self.fetch_all(
            "SELECT owner, kek_version, wrapped, created_at FROM wrapped_keys \
             WHERE kek_version <> $1 ORDER BY owner LIMIT $2",
            params![i64::from(version), i64::from(limit)],
            wrapped_key,
        )
        .await
    }

    async fn rewrap_key(&self, key: &WrappedKey, from_version: u32) -> StoreResult<bool> {
        let wrapped = key.wrapped.clone();
        let changed = self
            .execute(
                "UPDATE wrapped_keys SET kek_version = $1, wrapped = $2 \
                 WHERE owner = $3 AND kek_version = $4",
                params![i64::from(key.kek_version), &wrapped, &key.owner, i64::from(from_version)],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn any_wrapped_key_under(&self, version: u32) -> StoreResult<Option<WrappedKey>> {
        self.fetch_optional(
            "SELECT owner, kek_version, wrapped, created_at FROM wrapped_keys \
             WHERE kek_version = $1 ORDER BY owner LIMIT 1",
            params![i64::from(version)],
            wrapped_key,
        )
        .await
    }

    async fn find_master_check(&self, version: u32) -> StoreResult<Option<Vec<u8>>> {
        self.fetch_optional(
            "SELECT sealed_check FROM master_key_checks WHERE version = $1",
            params![i64::from(version)],
            |row| col(row, "sealed_check"),
        )
        .await
    }

    async fn insert_master_check(&self, version: u32, sealed_check: &[u8]) -> StoreResult<Vec<u8>> {
        let sealed = sealed_check.to_vec();
        self.execute(
            "INSERT INTO master_key_checks (version, sealed_check) VALUES ($1, $2) \
             ON CONFLICT (version) DO NOTHING",
            params![i64::from(version), &sealed],
        )
        .await?;
        self.find_master_check(version)
            .await?
            .ok_or_else(|| StoreError::backend("a master key check vanished as it was stored"))
    }

    async fn count_wrapped_keys(&self) -> StoreResult<Vec<(u32, i64)>> {
        self.fetch_all(
            "SELECT kek_version, COUNT(*) AS n FROM wrapped_keys GROUP BY kek_version",
            params![],
            |row| {
                let version: i64 = col(row, "kek_version")?;
                Ok((u32::try_from(version).unwrap_or(u32::MAX), col(row, "n")?))
            },
        )
        .await
    }
}
