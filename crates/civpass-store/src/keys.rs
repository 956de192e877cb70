//! The key slice's port: signing keys.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::keys::model::StoredSigningKey;
use civpass_core::keys::store::KeyStore;
use sqlx::AnyConnection;

use crate::sql::op;
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

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
