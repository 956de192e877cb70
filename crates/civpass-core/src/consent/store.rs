//! The consent slice's storage ports: standing consents and the record of releases.

use async_trait::async_trait;

use crate::consent::model::{Consent, Release};
use crate::kernel::ids::{AccountId, ClientId};
use crate::kernel::store::StoreResult;

#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn insert_release(&self, release: &Release) -> StoreResult<()>;
    async fn list_releases(&self, account_id: &AccountId) -> StoreResult<Vec<Release>>;
    async fn list_consents(&self, account_id: &AccountId) -> StoreResult<Vec<Consent>>;
    /// The anonymous fillings of the account whose keyed hash is `account_lookup`, oldest first.
    async fn list_anonymous_fillings(
        &self,
        account_lookup: &str,
    ) -> StoreResult<Vec<crate::consent::model::AnonymousFilling>>;
    /// Up to `limit` consents whose `expires_at` is at or before `now`, oldest first.
    async fn list_expired_consents(
        &self,
        now: crate::kernel::UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<Consent>>;
}

/// The consent writes a use case makes inside a transaction (`kernel::store::transact`).
#[async_trait]
pub trait ConsentWrites: Send {
    /// Deletes the consent of an account for a client; false if there was none.
    async fn delete_consent(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
    ) -> StoreResult<bool>;
    /// Deletes the consent if it has expired at `now` (it may have been renewed since it was
    /// found expired); false if it was not.
    async fn delete_expired_consent(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
        now: crate::kernel::UnixTime,
    ) -> StoreResult<bool>;
    /// The account's consent to the client, held in place until the transaction ends (so that
    /// a change made from it is not lost to another made at the same time).
    async fn consent_for_update(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
    ) -> StoreResult<Option<Consent>>;
    /// Whether the account's consent to the client has stood since `at` or before (its link is
    /// no younger), holding it in place until the transaction ends: a withdrawal committed
    /// first makes this false; one that comes after waits, and then ends what this
    /// transaction wrote too.
    async fn consent_stands_since(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
        at: crate::kernel::UnixTime,
    ) -> StoreResult<bool>;
    /// Records (or renews) what a citizen agreed a service may receive.
    async fn upsert_consent(&mut self, consent: &Consent) -> StoreResult<()>;
    async fn insert_release(&mut self, release: &Release) -> StoreResult<()>;
    async fn insert_anonymous_filling(
        &mut self,
        filling: &crate::consent::model::AnonymousFilling,
    ) -> StoreResult<()>;
}
