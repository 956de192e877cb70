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
    pub channel: ReleaseChannel,
    pub released_at: UnixTime,
}

/// How released claims left: in an ID token (at the token endpoint) or from UserInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseChannel {
    IdToken,
    UserInfo,
}

impl ReleaseChannel {
    /// The stored and shown form: `id_token` or `userinfo`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseChannel::IdToken => "id_token",
            ReleaseChannel::UserInfo => "userinfo",
        }
    }

    pub fn parse(text: &str) -> Option<ReleaseChannel> {
        [ReleaseChannel::IdToken, ReleaseChannel::UserInfo].into_iter().find(|c| c.as_str() == text)
    }
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
    /// The claims the consent releases (`claims::released` of the scopes).
    pub claims: Vec<String>,
    /// What the service said it wants the data for (the OIDC4IDA `purpose` request parameter).
    pub purpose: Option<String>,
    /// When the consent ends by itself (`CONSENT_TTL` after it was given); `None` for consents
    /// given before consents expired.
    pub expires_at: Option<UnixTime>,
}

/// The citizen's own record of an anonymous form filling (`oidc::forms`): no column names the
/// service, and the account appears only as a keyed hash (`account_lookup`); what was filled,
/// for whom, is sealed with the account id. The service holds no link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousFilling {
    pub id: String,
    pub account_lookup: String,
    /// `FillingRecord` as JSON, sealed with the account id as associated data.
    pub sealed: Vec<u8>,
    pub created_at: UnixTime,
}

/// What a sealed `AnonymousFilling` holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FillingRecord {
    pub client_name: String,
    pub form_name: String,
    pub form_number: Option<String>,
    pub claims: Vec<String>,
    pub filled_at: UnixTime,
}

/// How long a standing consent lasts: a year, after which the service's grants end and the
/// citizen is asked again.
pub const CONSENT_TTL: i64 = 365 * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_channel_reads_back_as_stored() {
        for channel in [ReleaseChannel::IdToken, ReleaseChannel::UserInfo] {
            assert_eq!(ReleaseChannel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(ReleaseChannel::parse("email"), None);
    }
}
