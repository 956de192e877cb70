//! The replay caches: client assertion ids and DPoP proof ids. The primary key makes a second
//! use of the same id a conflict, atomically: `ON CONFLICT DO NOTHING` changes no row.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::oidc::store::ReplayStore;

use crate::SqlStore;
use crate::sql::params;

#[async_trait]
impl ReplayStore for SqlStore {
    async fn use_client_assertion(
        &self,
        client_id: &civpass_core::kernel::ClientId,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let inserted = self
            .execute(
                "INSERT INTO used_client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (client_id, jti) DO NOTHING",
                params![client_id, jti, expires_at],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn delete_client_assertions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM used_client_assertions WHERE expires_at < $1", params![cutoff])
            .await
    }

    async fn use_dpop_proof(&self, id: &str, expires_at: UnixTime) -> StoreResult<bool> {
        let inserted = self
            .execute(
                "INSERT INTO used_dpop_proofs (id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO NOTHING",
                params![id, expires_at],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn delete_dpop_proofs_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM used_dpop_proofs WHERE expires_at < $1", params![cutoff]).await
    }
}
