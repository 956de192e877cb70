//! The account slice's port: the app's sessions.

use async_trait::async_trait;
use civpass_core::account::model::AppSession;
use civpass_core::account::store::AppSessionStore;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use sqlx::AnyConnection;

use crate::sql::op;
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

#[async_trait]
impl AppSessionStore for SqlStore {
    async fn insert_app_session(&self, session: &AppSession) -> StoreResult<()> {
        let s = session.clone();
        self.writer
            .write(Statements::One, op!(|conn| {
                sqlx::query("INSERT INTO app_sessions (token_hash, account_id, device_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)")
                    .bind(&s.token_hash)
                    .bind(&s.account_id)
                    .bind(&s.device_id)
                    .bind(s.created_at)
                    .bind(s.expires_at)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn find_app_session(&self, token_hash: &str) -> StoreResult<Option<AppSession>> {
        let row = sqlx::query(
            "SELECT token_hash, account_id, device_id, created_at, expires_at FROM app_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::app_session).transpose()
    }

    async fn delete_app_sessions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted = sqlx::query("DELETE FROM app_sessions WHERE expires_at < $1")
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
