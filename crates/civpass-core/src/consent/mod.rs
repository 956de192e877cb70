//! Consent: what a citizen agreed each service may receive, and the catalogue of the claims and
//! scopes there are to agree to.

pub mod claims;
pub mod model;
pub mod store;

use std::sync::Arc;

use crate::consent::model::{Consent, Release};
use crate::consent::store::ConsentStore;
use crate::kernel::{AccountId, Internal};

/// The consent slice's use cases: what a citizen agreed to and what left. Giving and
/// withdrawing consent happen inside the provider's transactions (`ConsentWrites`).
#[derive(Clone)]
pub struct ConsentService {
    pub(crate) store: Arc<dyn ConsentStore + Send + Sync>,
}

impl ConsentService {
    /// The citizen's standing consents, oldest first.
    pub async fn consents(&self, account: &AccountId) -> Result<Vec<Consent>, Internal> {
        Ok(self.store.list_consents(account).await?)
    }

    /// Up to `limit` standing consents that expired at `now`, oldest first.
    pub async fn expired(
        &self,
        now: crate::kernel::UnixTime,
        limit: u32,
    ) -> Result<Vec<Consent>, Internal> {
        Ok(self.store.list_expired_consents(now, limit).await?)
    }

    /// The anonymous fillings stored under `account_lookup`.
    pub async fn anonymous_fillings(
        &self,
        account_lookup: &str,
    ) -> Result<Vec<crate::consent::model::AnonymousFilling>, Internal> {
        Ok(self.store.list_anonymous_fillings(account_lookup).await?)
    }

    /// Every release to any service, oldest first.
    pub async fn releases(&self, account: &AccountId) -> Result<Vec<Release>, Internal> {
        Ok(self.store.list_releases(account).await?)
    }
}
