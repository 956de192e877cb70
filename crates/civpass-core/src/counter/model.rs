//! The registration operator's world: staff and their roles, registration points and their
//! hours, the codes a citizen's app shows at a counter, and the acts officers perform there.
//! Card details appear here only sealed (`CounterAct::sealed_details`) or as a keyed hash.

use serde::{Deserialize, Serialize};

use crate::counter::hours::Hours;
use crate::kernel::clock::UnixTime;
use crate::kernel::ids::{AccountId, DeviceId};

/// What a member of staff may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Registers and upgrades citizens at the points they are assigned to.
    Officer,
    /// An officer who also oversees a point's officers.
    Supervisor,
    /// Manages staff and points; does not serve citizens.
    Admin,
    /// A self-service kiosk: a card reader and a face match in the officer's place, at the one
    /// point it is enrolled to, signing its requests with its own key.
    Kiosk,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Officer => "officer",
            StaffRole::Supervisor => "supervisor",
            StaffRole::Admin => "admin",
            StaffRole::Kiosk => "kiosk",
        }
    }

    pub fn parse(text: &str) -> Option<StaffRole> {
        Some(match text {
            "officer" => StaffRole::Officer,
            "supervisor" => StaffRole::Supervisor,
            "admin" => StaffRole::Admin,
            "kiosk" => StaffRole::Kiosk,
            _ => return None,
        })
    }

    /// Whether this role serves citizens at a counter.
    pub fn serves_citizens(self) -> bool {
        matches!(self, StaffRole::Officer | StaffRole::Supervisor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    /// `s_` and random characters.
    pub id: String,
    /// As the staff member is known at work (staff are not citizens of this platform).
    pub name: String,
    pub role: StaffRole,
    pub created_at: UnixTime,
    pub disabled_at: Option<UnixTime>,
    /// A kiosk's P-256 public key (base64url point); `None` for people.
    pub public_key: Option<String>,
}

/// How a member of staff signs in, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffCredentials {
    /// The console passkey's record (webauthn-rs JSON), once enrolled.
    pub passkey: Option<String>,
    /// An administrator's TOTP secret, sealed with the staff id.
    pub totp_sealed: Option<Vec<u8>>,
    /// The last TOTP time step accepted (RFC 6238: `floor(unix time / 30)`).
    pub totp_last_step: Option<i64>,
}

/// What an enrolment stores when it completes.
#[derive(Debug, Clone, Copy)]
pub struct StaffEnrolment<'a> {
    pub staff_id: &'a str,
    pub enrolment_hash: &'a str,
    pub passkey: &'a str,
    pub credential_id: &'a str,
    pub totp_sealed: Option<&'a [u8]>,
}

/// A passkey the app made at a counter, waiting for the officer's act and the citizen's
/// confirmation; the app proves it is the one that made it with a token (stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPasskey {
    pub credential_id: String,
    /// The passkey's record (webauthn-rs JSON), rewritten as its counter moves.
    pub record: String,
    pub token_hash: String,
    pub expires_at: UnixTime,
}

/// A console session, as stored: the hash of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub token_hash: String,
    pub staff_id: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// The kinds of place where citizens register in person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    Counter,
    PostOffice,
    Kiosk,
    MobileTeam,
}

impl PointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PointKind::Counter => "counter",
            PointKind::PostOffice => "post_office",
            PointKind::Kiosk => "kiosk",
            PointKind::MobileTeam => "mobile_team",
        }
    }

    pub fn parse(text: &str) -> Option<PointKind> {
        Some(match text {
            "counter" => PointKind::Counter,
            "post_office" => PointKind::PostOffice,
            "kiosk" => PointKind::Kiosk,
            "mobile_team" => PointKind::MobileTeam,
            _ => return None,
        })
    }
}

/// A registration point: where, what kind, and when it is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationPoint {
    /// `p_` and random characters.
    pub id: String,
    pub kind: PointKind,
    pub name_en: String,
    /// Traditional Chinese.
    pub name_zh_hant: String,
    /// Simplified Chinese.
    pub name_zh_hans: String,
    pub district: String,
    /// Opening hours (Hong Kong time), or a mobile team's schedule.
    pub hours: Hours,
    pub created_at: UnixTime,
}

/// A code the citizen's app shows at a counter, as stored: a keyed hash of the code, the
/// device key it is bound to and, for an enrolled device, that device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationCode {
    pub code_hash: String,
    pub public_key: String,
    pub device_id: Option<DeviceId>,
    pub expires_at: UnixTime,
}

/// What an officer set out to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActKind {
    /// A new citizen, registered at the plus tier on the phone that showed the code.
    Register,
    /// An existing basic account, the one on the phone that showed the code, raised to plus.
    Upgrade,
    /// The phone was lost: the account of the card's holder moves to the new phone that showed
    /// the code, and every other device of it is revoked in the same step.
    ReplaceDevice,
}

impl ActKind {
    pub const ALL: [ActKind; 3] = [ActKind::Register, ActKind::Upgrade, ActKind::ReplaceDevice];

    pub fn as_str(self) -> &'static str {
        match self {
            ActKind::Register => "register",
            ActKind::Upgrade => "upgrade",
            ActKind::ReplaceDevice => "replace_device",
        }
    }

    pub fn parse(text: &str) -> Option<ActKind> {
        match text {
            "register" => Some(ActKind::Register),
            "upgrade" => Some(ActKind::Upgrade),
            "replace_device" => Some(ActKind::ReplaceDevice),
            _ => None,
        }
    }
}

/// How an act ended. Unlike the public registration endpoints, officers are told each outcome
/// apart (they hold the card); the acts are rate-limited per officer and all recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActOutcome {
    /// Checked; waits for the citizen to confirm on the phone.
    AwaitingCitizen,
    /// The citizen confirmed: it took effect.
    Confirmed,
    /// The citizen did not confirm in time: nothing changed.
    Expired,
    /// The code was unknown, already used, expired, or of another kind of phone.
    CodeInvalid,
    /// The registry has no person with this ID number.
    NoSuchPerson,
    /// The registry's details for this ID number differ from the card's.
    DetailsDiffer,
    /// Register: this identity already has an account.
    AlreadyRegistered,
    /// Upgrade: the phone holds no account, or another person's.
    NotThisCitizensPhone,
    /// Upgrade: the account is plus already.
    AlreadyPlus,
    /// Register or replace: the phone already holds an account (upgrade it instead).
    PhoneHasAccount,
    /// Replace: this identity has no account (register it instead).
    NoAccount,
    /// Register: the card's holder is under 18. A minor registers in the app naming a
    /// guardian, who approves; under 11, not at all.
    Minor,
}

impl ActOutcome {
    pub const ALL: [ActOutcome; 12] = [
        ActOutcome::AwaitingCitizen,
        ActOutcome::Confirmed,
        ActOutcome::Expired,
        ActOutcome::CodeInvalid,
        ActOutcome::NoSuchPerson,
        ActOutcome::DetailsDiffer,
        ActOutcome::AlreadyRegistered,
        ActOutcome::NotThisCitizensPhone,
        ActOutcome::AlreadyPlus,
        ActOutcome::PhoneHasAccount,
        ActOutcome::NoAccount,
        ActOutcome::Minor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActOutcome::AwaitingCitizen => "awaiting_citizen",
            ActOutcome::Confirmed => "confirmed",
            ActOutcome::Expired => "expired",
            ActOutcome::CodeInvalid => "code_invalid",
            ActOutcome::NoSuchPerson => "no_such_person",
            ActOutcome::DetailsDiffer => "details_differ",
            ActOutcome::AlreadyRegistered => "already_registered",
            ActOutcome::NotThisCitizensPhone => "not_this_citizens_phone",
            ActOutcome::AlreadyPlus => "already_plus",
            ActOutcome::PhoneHasAccount => "phone_has_account",
            ActOutcome::NoAccount => "no_account",
            ActOutcome::Minor => "minor",
        }
    }

    pub fn parse(text: &str) -> Option<ActOutcome> {
        ActOutcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// One act at a counter, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterAct {
    /// `ca_` and random characters.
    pub id: String,
    pub kind: ActKind,
    pub staff_id: String,
    pub point_id: String,
    pub at: UnixTime,
    pub outcome: ActOutcome,
    /// Upgrade: the account raised; register: the account created, once confirmed.
    pub account_id: Option<AccountId>,
    /// The device key that must confirm (from the code).
    pub public_key: Option<String>,
    pub device_id: Option<DeviceId>,
    /// Keyed hash of the card's ID number, when it was valid.
    pub hkid_hash: Option<String>,
    /// `CardDetails` as JSON, sealed with the act id as associated data.
    pub sealed_details: Option<Vec<u8>>,
    /// Until when the citizen may confirm.
    pub expires_at: Option<UnixTime>,
    pub decided_at: Option<UnixTime>,
}

/// The card's details as the officer typed them (plaintext only in memory; no `Debug`, so
/// that they cannot reach a log).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardDetails {
    pub id_number: String,
    pub name_en: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
}
