//! The account slice's storage ports: the app's sessions, and the platform's figures.

use async_trait::async_trait;

use crate::account::model::{AppSession, CounterDay, RemoteDay, Totals};
use crate::kernel::UnixTime;
use crate::kernel::store::StoreResult;

#[async_trait]
pub trait AppSessionStore {
    async fn insert_app_session(&self, session: &AppSession) -> StoreResult<()>;
    async fn find_app_session(&self, token_hash: &str) -> StoreResult<Option<AppSession>>;
    /// Deletes app sessions that expired before `cutoff`; returns how many.
    async fn delete_app_sessions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

/// The figures an operator reads (aggregates only: no row names a person). Days are Hong Kong
/// days, numbered from 1970-01-01.
#[async_trait]
pub trait StatsStore {
    /// Accounts (all, plus, suspended) and active devices now.
    async fn totals(&self) -> StoreResult<Totals>;
    /// Remote registrations and upgrades per day since `since`.
    async fn remote_days(&self, since: UnixTime) -> StoreResult<Vec<RemoteDay>>;
    /// Confirmed counter registrations and upgrades per day and point since `since`.
    async fn counter_days(&self, since: UnixTime) -> StoreResult<Vec<CounterDay>>;
}
