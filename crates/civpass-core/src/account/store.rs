//! The account slice's storage port: the app's sessions.

use async_trait::async_trait;

use crate::account::model::AppSession;
use crate::kernel::UnixTime;
use crate::kernel::store::StoreResult;

#[async_trait]
pub trait AppSessionStore {
    async fn insert_app_session(&self, session: &AppSession) -> StoreResult<()>;
    async fn find_app_session(&self, token_hash: &str) -> StoreResult<Option<AppSession>>;
    /// Deletes app sessions that expired before `cutoff`; returns how many.
    async fn delete_app_sessions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}
