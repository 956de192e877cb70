//! The replay caches: client assertion ids and DPoP proof ids.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::oidc::store::ReplayStore;
use sqlx::AnyConnection;

use crate::sql::op;
use crate::writer::Statements;
use crate::{SqlStore, backend};

#[async_trait]
impl ReplayStore for SqlStore {
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

    async fn delete_dpop_proofs_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted = sqlx::query("DELETE FROM used_dpop_proofs WHERE expires_at < $1")
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
