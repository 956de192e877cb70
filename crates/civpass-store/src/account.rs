//! The account slice's port: the app's sessions.

use async_trait::async_trait;
use civpass_core::account::model::AppSession;
use civpass_core::account::store::AppSessionStore;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;

use crate::sql::params;
use crate::{SqlStore, rows};

#[async_trait]
impl AppSessionStore for SqlStore {
    async fn insert_app_session(&self, s: &AppSession) -> StoreResult<()> {
        self.execute(
            "INSERT INTO app_sessions (token_hash, account_id, device_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            params![&s.token_hash, &s.account_id, &s.device_id, s.created_at, s.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn find_app_session(&self, token_hash: &str) -> StoreResult<Option<AppSession>> {
        self.fetch_optional(
            "SELECT token_hash, account_id, device_id, created_at, expires_at FROM app_sessions \
             WHERE token_hash = $1",
            params![token_hash],
            rows::app_session,
        )
        .await
    }

    async fn delete_app_sessions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM app_sessions WHERE expires_at < $1", params![cutoff]).await
    }
}
