//! Identity evidence: what proves, at remote registration, that the person registering holds
//! the identity card they typed in, and is the person it shows.
//!
//! An ID number, a name and a date of birth are not secrets, so remote registration needs more:
//! a vendor's SDK in the app photographs the card (document check), films the citizen
//! (liveness) and compares the face with the registry's photo of that card's holder (face
//! match). civpass never sees the images. It opens each check itself, with a one-time
//! reference the app passes to the vendor's SDK; the app then hands civpass the vendor's
//! session, and the `EvidenceVerifier` port asks the vendor what that session found, for that
//! reference. A session is therefore good for one registration, once, within 15 minutes. Only a `pass` lets the
//! registry's answer (does this person exist, do the details match) reach the caller, so the
//! registration endpoints are no oracle for the registry.

use async_trait::async_trait;

use crate::identity::hkid::HkId;
use crate::kernel::clock::UnixTime;
use crate::kernel::ids::AccountId;

/// What a vendor's check found (the four outcomes a sandbox tester may pick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceOutcome {
    /// The document is genuine and the citizen's, the citizen is live and matches its photo.
    Pass,
    /// The document is not genuine, or not the card whose details were given.
    DocumentMismatch,
    /// No live person, or not the person the card shows.
    LivenessFailed,
    /// The check was not finished in time; the citizen may start it again.
    Timeout,
}

impl EvidenceOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceOutcome::Pass => "pass",
            EvidenceOutcome::DocumentMismatch => "document_mismatch",
            EvidenceOutcome::LivenessFailed => "liveness_failed",
            EvidenceOutcome::Timeout => "timeout",
        }
    }

    pub fn parse(text: &str) -> Option<EvidenceOutcome> {
        Some(match text {
            "pass" => EvidenceOutcome::Pass,
            "document_mismatch" => EvidenceOutcome::DocumentMismatch,
            "liveness_failed" => EvidenceOutcome::LivenessFailed,
            "timeout" => EvidenceOutcome::Timeout,
            _ => return None,
        })
    }

    pub const ALL: [EvidenceOutcome; 4] = [
        EvidenceOutcome::Pass,
        EvidenceOutcome::DocumentMismatch,
        EvidenceOutcome::LivenessFailed,
        EvidenceOutcome::Timeout,
    ];
}

/// How strong a passed check is: `basic` is enough to register remotely at the basic tier;
/// `strong` (a chip read or an equivalent document check with a certified liveness test) is
/// what a remote upgrade to plus will ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EvidenceLevel {
    Basic,
    Strong,
}

impl EvidenceLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceLevel::Basic => "basic",
            EvidenceLevel::Strong => "strong",
        }
    }

    pub fn parse(text: &str) -> Option<EvidenceLevel> {
        match text {
            "basic" => Some(EvidenceLevel::Basic),
            "strong" => Some(EvidenceLevel::Strong),
            _ => None,
        }
    }
}

/// A vendor's verdict on one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceResult {
    /// The check's reference, as the vendor recorded it with the session.
    pub reference: String,
    pub outcome: EvidenceOutcome,
    /// What was checked, in the vendor's words, e.g. `document_liveness_face_match`.
    pub method: String,
    pub level: EvidenceLevel,
    /// The vendor's id for the session, for audits and disputes (the images stay with the
    /// vendor, under its retention rules).
    pub vendor_reference: String,
}

/// What the vendor is asked to vouch for: that `session` checked the holder of this card, for
/// the identity check civpass opened as `reference`.
pub struct EvidenceCheck<'a> {
    /// The session reference the vendor's SDK gave the app.
    pub session: &'a str,
    /// The reference civpass gave the app for this check (`IdentityService::start_identity_check`),
    /// which the app handed the vendor's SDK: the verdict must name it, so that a session is
    /// good for the one registration that asked for it, once, within 15 minutes.
    pub reference: &'a str,
    pub hkid: &'a HkId,
    pub name_en: &'a str,
    /// `YYYY-MM-DD`.
    pub date_of_birth: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The vendor does not know the session (it never existed, or expired there).
    #[error("the identity check session is unknown")]
    UnknownSession,
    /// The vendor could not be asked; the message is safe to log (no personal data).
    #[error("the identity evidence verifier is unavailable: {0}")]
    Unavailable(String),
}

/// The identity-evidence port: a vendor's verdict on a check the app ran.
#[async_trait]
pub trait EvidenceVerifier: Send + Sync {
    async fn verify(&self, check: &EvidenceCheck<'_>) -> Result<EvidenceResult, EvidenceError>;

    /// A stand-in that passes or fails as the tester asks: allowed only with the synthetic
    /// registry, never in front of real people.
    fn is_sandbox(&self) -> bool {
        false
    }
}

/// For deployments without remote registration: every check is unavailable.
pub struct NoEvidenceVerifier;

#[async_trait]
impl EvidenceVerifier for NoEvidenceVerifier {
    async fn verify(&self, _check: &EvidenceCheck<'_>) -> Result<EvidenceResult, EvidenceError> {
        Err(EvidenceError::Unavailable("no identity evidence verifier is configured".into()))
    }
}

/// The evidence an account's identity rests on, as stored: which check, how strong, when, and
/// the vendor's reference (sealed, with the account id as associated data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    pub id: String,
    pub account_id: AccountId,
    /// What the evidence was for: `registration`.
    pub purpose: String,
    pub method: String,
    pub level: EvidenceLevel,
    pub sealed_reference: Vec<u8>,
    pub verified_at: UnixTime,
}
