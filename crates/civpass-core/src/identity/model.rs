//! The account and the identity it holds. Personal data appears here only sealed
//! (`Account::vault`) or as keyed hashes (`Account::hkid_hash`).

use serde::{Deserialize, Serialize};

use crate::identity::registry::Gender;
use crate::kernel::clock::UnixTime;
use crate::kernel::ids::{AccountId, DeviceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Basic,
    Plus,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "basic",
            Tier::Plus => "plus",
        }
    }

    pub fn parse(text: &str) -> Option<Tier> {
        match text {
            "basic" => Some(Tier::Basic),
            "plus" => Some(Tier::Plus),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// Keyed hash of the canonical HKID, for look-up without decrypting.
    pub hkid_hash: String,
    pub tier: Tier,
    /// `Identity` as JSON, sealed with the account id as associated data.
    pub vault: Vec<u8>,
    pub created_at: UnixTime,
    /// Set while an operator has suspended the account: it cannot log in.
    pub suspended_at: Option<UnixTime>,
    /// Set while a minor's account waits for their guardian's approval: it cannot log in.
    pub awaiting_guardian_since: Option<UnixTime>,
}

/// A lost phone's account moving remotely, waiting (`IdentityService::recover`): the new
/// device and the evidence that allowed the move take effect at `activates_at`, unless a
/// device of the account stops it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecovery {
    pub device: Device,
    pub evidence: crate::identity::evidence::EvidenceRecord,
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
    /// Set when a device of the account stopped it.
    pub stopped_at: Option<UnixTime>,
}

/// A minor's registration and the guardian who approves it (`identity::guardian`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardianLink {
    /// `gl_` and random characters.
    pub id: String,
    pub minor_account_id: AccountId,
    pub guardian_account_id: AccountId,
    pub requested_at: UnixTime,
    /// The guardian approves before this, or the minor registers again.
    pub expires_at: UnixTime,
    pub approved_at: Option<UnixTime>,
}

/// What an operator did to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAct {
    Suspended,
    Reinstated,
    /// Plus lowered to basic.
    Downgraded,
    /// The population registry reported new names; the vault holds them.
    NameChanged,
    /// The population registry reported a new card for the same number.
    CardReplaced,
}

impl OperatorAct {
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAct::Suspended => "suspended",
            OperatorAct::Reinstated => "reinstated",
            OperatorAct::Downgraded => "downgraded",
            OperatorAct::NameChanged => "name_changed",
            OperatorAct::CardReplaced => "card_replaced",
        }
    }

    pub fn parse(text: &str) -> Option<OperatorAct> {
        Some(match text {
            "suspended" => OperatorAct::Suspended,
            "reinstated" => OperatorAct::Reinstated,
            "downgraded" => OperatorAct::Downgraded,
            "name_changed" => OperatorAct::NameChanged,
            "card_replaced" => OperatorAct::CardReplaced,
            _ => return None,
        })
    }
}

/// An operator's act on an account, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    pub id: String,
    pub account_id: AccountId,
    pub at: UnixTime,
    pub kind: OperatorAct,
    /// The operator's reason, sealed with the account id.
    pub sealed_reason: Vec<u8>,
}

/// The verified identity data held for a citizen (plaintext only in memory).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub hkid: String,
    pub name_en: String,
    pub name_zh: String,
    pub date_of_birth: String,
    pub gender: Gender,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A key in software, like the command-line wallet's.
    Software,
    /// A WebAuthn passkey on the citizen's phone, used with user verification (biometrics or
    /// the screen lock).
    Passkey,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Software => "software",
            DeviceKind::Passkey => "passkey",
        }
    }

    pub fn parse(text: &str) -> Option<DeviceKind> {
        match text {
            "software" => Some(DeviceKind::Software),
            "passkey" => Some(DeviceKind::Passkey),
            _ => None,
        }
    }

    /// RFC 8176 authentication method references for a login approved with this device.
    pub fn amr(self) -> Vec<String> {
        match self {
            DeviceKind::Software => vec!["swk".to_owned()],
            // Possession of the passkey plus the user verification WebAuthn requires of it.
            DeviceKind::Passkey => vec!["pop".to_owned(), "mfa".to_owned()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub account_id: AccountId,
    /// Software: base64url of the uncompressed P-256 point. Passkey: the WebAuthn credential as
    /// JSON (credential id, COSE public key, signature counter), rewritten as the counter moves.
    pub public_key: String,
    pub kind: DeviceKind,
    /// A passkey's WebAuthn credential id (base64url), unique across devices; None for software.
    pub credential_id: Option<String>,
    pub created_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}
