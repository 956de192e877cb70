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
    /// When the consent ends by itself: when its earliest approval does (`CONSENT_TTL` after
    /// it was given); `None` for consents given before consents expired.
    pub expires_at: Option<UnixTime>,
    /// The approvals the consent is made of, oldest first, each with the claims whose terms
    /// it set last (empty for consents from before approvals were recorded).
    pub approvals: Vec<Approval>,
}

/// One approval of a standing consent: what the citizen was shown and agreed to then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Approval {
    /// The claims this approval was the last to cover.
    pub claims: Vec<String>,
    pub purpose: Option<String>,
    pub granted_at: UnixTime,
    pub expires_at: Option<UnixTime>,
}

impl Consent {
    /// The approvals, with a consent from before they were recorded as one approval.
    pub fn approvals_or_whole(&self) -> Vec<Approval> {
        if !self.approvals.is_empty() || self.claims.is_empty() {
            return self.approvals.clone();
        }
        vec![Approval {
            claims: self.claims.clone(),
            purpose: self.purpose.clone(),
            granted_at: self.granted_at,
            expires_at: self.expires_at,
        }]
    }

    /// `self` with `newer` added: a claim's terms are those of the last approval that covered
    /// it, so an approval changes the purpose and expiry only of the claims the citizen was
    /// shown then. Scopes and claims are the union; the consent expires with its earliest
    /// approval, and names a purpose only if every approval gave the same one.
    pub fn merged(mut self, newer: Consent) -> Consent {
        let mut approvals = self.approvals_or_whole();
        for approval in &mut approvals {
            approval.claims.retain(|c| !newer.claims.contains(c));
        }
        approvals.retain(|a| !a.claims.is_empty());
        approvals.extend(newer.approvals_or_whole());
        for scope in newer.scopes {
            if !self.scopes.contains(&scope) {
                self.scopes.push(scope);
            }
        }
        for claim in newer.claims {
            if !self.claims.contains(&claim) {
                self.claims.push(claim);
            }
        }
        self.granted_at = newer.granted_at;
        self.expires_at = approvals.iter().filter_map(|a| a.expires_at).min().or(newer.expires_at);
        let first = approvals.first().map(|a| a.purpose.clone());
        self.purpose = match first {
            Some(purpose) if approvals.iter().all(|a| a.purpose == purpose) => purpose,
            _ => None,
        };
        self.approvals = approvals;
        self
    }
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

    fn approval(claims: &[&str], purpose: &str, at: UnixTime) -> Consent {
        Consent {
            account_id: "a".into(),
            client_id: "c".into(),
            scopes: vec!["openid".into()],
            granted_at: at,
            linked_at: at,
            claims: claims.iter().map(|c| (*c).to_owned()).collect(),
            purpose: Some(purpose.to_owned()),
            expires_at: Some(at + CONSENT_TTL),
            approvals: Vec::new(),
        }
    }

    #[test]
    fn a_later_approval_sets_the_terms_only_of_what_it_covered() {
        let first = approval(&["sub", "hkid"], "A permit", 100);
        // A login that asks for nothing new cannot re-purpose or renew the HKID.
        let merged = first.clone().merged(approval(&["sub"], "Our newsletter", 200));
        assert_eq!(merged.claims, ["sub", "hkid"]);
        assert_eq!(merged.expires_at, Some(100 + CONSENT_TTL));
        assert_eq!(merged.purpose, None, "two purposes: the receipt lists each approval");
        assert_eq!(merged.linked_at, 100);
        let approvals = merged.approvals_or_whole();
        assert_eq!(approvals.len(), 2);
        assert_eq!(approvals[0].claims, ["hkid"]);
        assert_eq!(approvals[0].purpose.as_deref(), Some("A permit"));
        assert_eq!(approvals[1].claims, ["sub"]);
        // Shown everything again, the citizen renews everything.
        let renewed = merged.merged(approval(&["sub", "hkid"], "A permit", 300));
        assert_eq!(renewed.expires_at, Some(300 + CONSENT_TTL));
        assert_eq!(renewed.purpose.as_deref(), Some("A permit"));
        assert_eq!(renewed.approvals.len(), 1);
    }
}
