//! What a citizen agreed a service may receive (consents), and what it did receive (releases).

use crate::kernel::clock::UnixTime;
use crate::kernel::ids::{AccountId, ClientId, GrantId};

/// A record of personal data leaving civpass: who received which claims, when and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: String,
    pub account_id: AccountId,
    pub client_id: ClientId,
    pub grant_id: GrantId,
    pub claims: Vec<String>,
    /// `id_token` or `userinfo`.
    pub channel: String,
    pub released_at: UnixTime,
}

/// The citizen's standing agreement that a service may receive these scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub account_id: AccountId,
    pub client_id: ClientId,
    pub scopes: Vec<String>,
    /// When these scopes were last agreed to.
    pub granted_at: UnixTime,
    /// When the citizen first used the service (the account link); kept across later consents.
    pub linked_at: UnixTime,
}
