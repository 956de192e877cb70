//! Remote registration at the basic tier: identity evidence first, then the population
//! registry.
//!
//! Order matters. An ID number, a name and a date of birth are not secrets, so until a vendor's
//! check (see `evidence`) has passed, every attempt gets an answer that says nothing of the
//! registry: the evidence's own verdict, or a limit. Only after a pass does the caller learn
//! whether the details match the registry and whether the identity already has an account.
//! Attempts are also limited per identity (keyed hash of the ID number), whatever address they
//! come from, so no one walks through dates of birth for a known number.
//!
//! Re-binding: an identity that already has an account can move to a new device only with a
//! signature from a currently active device of that account (a device-to-device transfer); the
//! old device is revoked in the same step, and the signature is checked before anything else.
//! Without the old device the citizen re-registers in person, where an officer checks the
//! identity card.

use civpass_crypto::jws::DevicePublicKey;
use civpass_crypto::secret::random_token;
use time::Date;
use time::macros::format_description;

use crate::identity::IdentityService;
use crate::identity::evidence::{
    EvidenceCheck, EvidenceError, EvidenceLevel, EvidenceOutcome, EvidenceRecord, EvidenceResult,
};
use crate::identity::hkid::HkId;
use crate::identity::model::{Account, Identity, Tier};
use crate::identity::model::{Device, DeviceKind};
use crate::identity::model::{OperatorAct, PendingRecovery};
use crate::kernel::Internal;
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::store::StoreError;
use crate::kernel::{AccountId, DeviceId, UnixTime};

/// How long the per-identity attempt window lasts, in seconds.
const ATTEMPT_WINDOW: i64 = 3600;

pub struct EnrolRequest<'a> {
    pub id_number: &'a str,
    pub name_en: &'a str,
    pub date_of_birth: &'a str,
    /// Base64url uncompressed P-256 point.
    pub public_key: &'a str,
    /// The new key's signature over `enrol_message`, proving possession.
    pub proof: &'a str,
    /// The identity check; needed for a new registration, not for a transfer.
    pub evidence: Option<EvidenceSubmission<'a>>,
    pub transfer: Option<Transfer<'a>>,
    /// A minor's guardian, by their identity card number (`identity::guardian`).
    pub guardian: Option<&'a str>,
    /// The phone was lost: move the identity's account to this key, revoking every other
    /// device, on a strong identity check (`recover`).
    pub replace_lost_device: bool,
}

/// What the citizen typed in, with the identity check that vouches for it.
pub struct IdentityClaim<'a> {
    pub id_number: &'a str,
    pub name_en: &'a str,
    /// `YYYY-MM-DD`.
    pub date_of_birth: &'a str,
    /// The vendor's session and the check's reference (`start_identity_check`).
    pub evidence: Option<EvidenceSubmission<'a>>,
    /// For a citizen aged 11 to 17: the guardian who approves, by their identity card number.
    pub guardian: Option<&'a str>,
    /// The phone was lost: move the account to the new device (`IdentityService::recover`).
    pub replace_lost_device: bool,
}

/// The identity check as the app hands it over.
#[derive(Debug, Clone, Copy)]
pub struct EvidenceSubmission<'a> {
    /// The vendor's session reference.
    pub session: &'a str,
    /// The reference civpass opened the check with.
    pub reference: &'a str,
}

/// An identity check opened for a registration: the reference the app gives the vendor's SDK.
#[derive(Debug, Clone)]
pub struct IdentityCheck {
    pub reference: String,
    pub expires_at: i64,
}

/// How long an identity check may take, from opening to the registration that uses it.
const IDENTITY_CHECK_TTL: i64 = 900;

/// What an open identity check remembers: for whom it was opened.
#[derive(serde::Serialize, serde::Deserialize)]
struct OpenCheck {
    hkid_hash: String,
}

/// Authorisation from the account's current device to move the account to the new key.
pub struct Transfer<'a> {
    pub device_id: &'a str,
    /// The current device's signature over `transfer_message`.
    pub signature: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub account_id: String,
    pub device_id: String,
    pub tier: Tier,
    pub transferred: bool,
    /// A minor's account, waiting for their guardian's approval before it can log in.
    pub awaiting_guardian: bool,
    /// A lost phone's account moved remotely: when the move takes effect (Unix seconds), unless
    /// a device of the account stops it first; until then this device is not yet active.
    pub moves_at: Option<UnixTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error(transparent)]
    InvalidIdNumber(#[from] crate::identity::hkid::HkIdError),
    #[error("date of birth must be YYYY-MM-DD")]
    InvalidDateOfBirth,
    #[error("the device public key is not a P-256 point")]
    InvalidPublicKey,
    #[error("the proof of possession of the device key is invalid")]
    InvalidProof,
    /// A new registration without an identity check.
    #[error("remote registration needs an identity check (document, liveness and face match)")]
    EvidenceRequired,
    /// The identity check did not pass; nothing about the registry was looked at or told.
    #[error("the identity check did not pass: {}", .0.as_str())]
    EvidenceFailed(EvidenceOutcome),
    #[error("the identity check session is unknown or has expired; start the check again")]
    EvidenceUnknown,
    #[error("the identity check cannot be verified now; try again later")]
    EvidenceUnavailable(#[source] EvidenceError),
    /// Too many registrations named this identity lately; retry after this many seconds.
    #[error("too many registration attempts for this identity; try again later")]
    TooManyAttempts { retry_after: i64 },
    /// Deliberately one error for "no such person" and "details differ"; told only after the
    /// identity check passed.
    #[error("the details do not match the population registry")]
    IdentityMismatch,
    #[error(
        "this identity already has a civpass account: move it from the current device (the wallet's --transfer-from), or, if that phone is lost, with a strong identity check (the wallet's --replace-lost-device; in the app, \"I lost the phone\") or at a registration point"
    )]
    AccountExists,
    #[error("the transfer authorisation is invalid")]
    InvalidTransfer,
    /// The registry did not answer; the cause (safe to log: no personal data) says why.
    #[error("the population registry is unavailable")]
    RegistryUnavailable(#[source] crate::identity::registry::RegistryError),
    #[error("passkeys are not available: the issuer's host is not a domain name")]
    PasskeysUnavailable,
    #[error("the registration has expired or was already finished; start again")]
    CeremonyNotFound,
    #[error("the passkey could not be verified")]
    PasskeyRejected,
    #[error("civpass registers citizens aged 11 and over")]
    TooYoung,
    #[error(
        "citizens aged 11 to 17 register with a parent's or guardian's approval: name the guardian's identity card number"
    )]
    GuardianRequired,
    #[error("the guardian's identity card number is not valid")]
    InvalidGuardian,
    #[error(
        "the population registry does not name this person as the citizen's parent or guardian"
    )]
    GuardianNotNamed,
    #[error(
        "the guardian needs an adult civpass Plus account of their own, not suspended, to approve"
    )]
    GuardianNotEligible,
    /// Moving an account remotely, without the old phone, needs the strong level.
    #[error(
        "moving an account to a new phone without the old one needs a strong identity check (a chip read with a certified liveness test), or a registration point"
    )]
    RecoveryNeedsStrongEvidence,
    #[error("this identity has no civpass account to move; register instead")]
    NothingToRecover,
    #[error(
        "a move of this account to a new phone waits already; it can be stopped from the account's current phone, or the account moved at once at a registration point"
    )]
    RecoveryPending,
    #[error(
        "a remote move of this account was stopped from its phone lately; move it at a registration point"
    )]
    RecoveryStopped,
    #[error("this account is suspended")]
    AccountSuspended,
    #[error(transparent)]
    Internal(#[from] Internal),
}

pub use civpass_api::signing::{enrol_message, transfer_message};

/// How long a remote move of an account waits before it takes effect, in seconds: a day, in
/// which the account's current phone, if it was phished rather than lost, can stop it.
pub const RECOVERY_DELAY: i64 = 86_400;
/// After a device stopped a remote move, how long no other may start, in seconds (30 days):
/// the account moves at a registration point meanwhile.
pub const RECOVERY_BLOCK: i64 = 30 * 86_400;

pub(crate) fn new_device(
    account_id: &str,
    kind: DeviceKind,
    public_key: String,
    credential_id: Option<String>,
    now: i64,
) -> Device {
    Device {
        id: format!("d_{}", random_token(16)).into(),
        account_id: account_id.to_owned().into(),
        public_key,
        kind,
        credential_id,
        created_at: now,
        revoked_at: None,
    }
}

/// Names compare without regard to case, commas or spacing, as the card prints them.
pub(crate) fn normalise_name(name: &str) -> String {
    name.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Identity details that matched the population registry, and the evidence that let them be
/// checked.
pub(crate) struct VerifiedIdentity {
    pub(crate) hkid_hash: String,
    pub(crate) identity: Identity,
    pub(crate) evidence: EvidenceResult,
    /// A minor's guardian, who must approve before the account can log in.
    pub(crate) guardian: Option<AccountId>,
}

/// A date of birth as typed or stored: `YYYY-MM-DD`, spaces around it ignored.
pub(crate) fn parse_date_of_birth(text: &str) -> Result<Date, EnrolError> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|_| EnrolError::InvalidDateOfBirth)
}

impl IdentityService {
    /// Counts a registration attempt naming `hkid`; `TooManyAttempts` past the hourly limit.
    async fn count_identity_attempt(&self, hkid: &HkId) -> Result<(), EnrolError> {
        let limit = i64::from(self.ctx.settings.identity_attempts_per_hour);
        if limit == 0 {
            return Ok(());
        }
        let key =
            self.ctx.secrets.lookup.hash(&[b"registration-attempt", hkid.as_str().as_bytes()]);
        let now = self.ctx.now();
        let count = self
            .store
            .count_attempt(&key, now, now - ATTEMPT_WINDOW)
            .await
            .map_err(Internal::from)?;
        if count > limit {
            tracing::warn!("registration attempts for one identity over the hourly limit");
            return Err(EnrolError::TooManyAttempts { retry_after: ATTEMPT_WINDOW });
        }
        Ok(())
    }

    /// Opens an identity check for a registration naming `id_number`: its reference is
    /// single-use, good for 15 minutes and for that ID number only (the answer is the same
    /// whatever the registry holds).
    pub async fn start_identity_check(&self, id_number: &str) -> Result<IdentityCheck, EnrolError> {
        let hkid = HkId::parse(id_number)?;
        let state = OpenCheck { hkid_hash: self.hkid_hash(&hkid) };
        let reference = self
            .ceremonies
            .open_for(&CeremonyPurpose::IdentityCheck, &state, IDENTITY_CHECK_TTL)
            .await?;
        Ok(IdentityCheck { reference, expires_at: self.ctx.now() + IDENTITY_CHECK_TTL })
    }

    /// Checks a claimed identity: the per-identity limit, then the vendor's evidence, and only
    /// after it passed, the population registry. Each failure before the registry is looked at
    /// is the same whatever the registry holds.
    pub(crate) async fn verify_identity(
        &self,
        claim: &IdentityClaim<'_>,
    ) -> Result<VerifiedIdentity, EnrolError> {
        let hkid = HkId::parse(claim.id_number)?;
        let dob = parse_date_of_birth(claim.date_of_birth)?;
        let submitted = claim
            .evidence
            .filter(|e| !e.session.trim().is_empty() && !e.reference.is_empty())
            .ok_or(EnrolError::EvidenceRequired)?;
        let evidence =
            self.check_evidence(&hkid, claim.name_en, claim.date_of_birth, &submitted).await?;
        let hkid_hash = self.hkid_hash(&hkid);
        // Any passed check is enough for the basic tier (EvidenceLevel::Basic and up).
        debug_assert!(evidence.level >= EvidenceLevel::Basic);
        let person =
            self.registry.find_person(&hkid).await.map_err(EnrolError::RegistryUnavailable)?;
        let person = person
            .filter(|p| {
                normalise_name(&p.name_en) == normalise_name(claim.name_en)
                    && p.date_of_birth == dob
            })
            .ok_or(EnrolError::IdentityMismatch)?;
        let guardian = self.guardian_for(dob, &person.guardians, claim.guardian).await?;
        Ok(VerifiedIdentity {
            hkid_hash,
            identity: Identity {
                hkid: hkid.to_string(),
                name_en: person.name_en,
                name_zh: person.name_zh,
                date_of_birth: claim.date_of_birth.trim().to_owned(),
                gender: person.gender,
            },
            evidence,
            guardian,
        })
    }

    /// Checks a vendor's identity evidence for `hkid`: counted against the identity's hourly
    /// limit, the check civpass opened for it (used up now, whatever follows), the vendor's
    /// verdict for that check, and a pass. Used by remote registration and remote upgrade.
    ///
    /// Errors: `TooManyAttempts`, `EvidenceUnknown`, `EvidenceUnavailable`, `EvidenceFailed`.
    pub(crate) async fn check_evidence(
        &self,
        hkid: &HkId,
        name_en: &str,
        date_of_birth: &str,
        submitted: &EvidenceSubmission<'_>,
    ) -> Result<EvidenceResult, EnrolError> {
        self.count_identity_attempt(hkid).await?;
        // The check must be one civpass opened, for this ID number, and not used before: it is
        // used up now, whatever follows.
        let hkid_hash = self.hkid_hash(hkid);
        let opened: Option<OpenCheck> =
            self.ceremonies.take(submitted.reference, &CeremonyPurpose::IdentityCheck).await?;
        if !opened.is_some_and(|o| civpass_crypto::secret::ct_eq(&o.hkid_hash, &hkid_hash)) {
            return Err(EnrolError::EvidenceUnknown);
        }
        let check = EvidenceCheck {
            session: submitted.session.trim(),
            reference: submitted.reference,
            hkid,
            name_en,
            date_of_birth: date_of_birth.trim(),
        };
        let evidence = self.evidence.verify(&check).await.map_err(|e| match e {
            EvidenceError::UnknownSession => EnrolError::EvidenceUnknown,
            unavailable @ EvidenceError::Unavailable(_) => {
                EnrolError::EvidenceUnavailable(unavailable)
            }
        })?;
        if evidence.reference != submitted.reference {
            // The vendor's session was run for another check (another registration, or one
            // opened elsewhere): it vouches for nothing here.
            tracing::warn!("identity check session recorded for another reference");
            return Err(EnrolError::EvidenceUnknown);
        }
        if evidence.outcome != EvidenceOutcome::Pass {
            tracing::info!(outcome = evidence.outcome.as_str(), "identity check did not pass");
            return Err(EnrolError::EvidenceFailed(evidence.outcome));
        }
        Ok(evidence)
    }

    /// The stored form of the evidence an account was registered on.
    pub(crate) async fn evidence_record(
        &self,
        account_id: &str,
        evidence: &EvidenceResult,
        purpose: &str,
    ) -> Result<EvidenceRecord, Internal> {
        let sealed_reference = self
            .ctx
            .data_key(&account_id.to_owned().into())
            .await?
            .seal(evidence.vendor_reference.as_bytes(), account_id.as_bytes())?;
        Ok(EvidenceRecord {
            id: self.ctx.new_id().to_string(),
            account_id: account_id.to_owned().into(),
            purpose: purpose.to_owned(),
            method: evidence.method.clone(),
            level: evidence.level,
            sealed_reference,
            verified_at: self.ctx.now(),
        })
    }

    /// Creates a basic-tier account with its first device and the evidence it was registered
    /// on; `AccountExists` if the identity already has one.
    pub(crate) async fn create_account(
        &self,
        account_id: String,
        verified: VerifiedIdentity,
        kind: DeviceKind,
        public_key: String,
        credential_id: Option<String>,
    ) -> Result<Enrolled, EnrolError> {
        let now = self.ctx.now();
        let vault = self.seal_vault(&account_id.as_str().into(), &verified.identity).await?;
        let evidence =
            self.evidence_record(&account_id, &verified.evidence, "registration").await?;
        let account_id = AccountId::from(account_id);
        // The link first: the account's insert below is what makes it count, and a link whose
        // account never came is never shown.
        if let Some(guardian) = &verified.guardian {
            self.open_guardian_link(&account_id, guardian).await?;
        }
        let account = Account {
            id: account_id,
            hkid_hash: verified.hkid_hash,
            tier: Tier::Basic,
            vault,
            created_at: now,
            suspended_at: None,
            awaiting_guardian_since: verified.guardian.as_ref().map(|_| now),
        };
        let device = new_device(&account.id, kind, public_key, credential_id, now);
        match self.store.insert_account(&account, &device, &evidence).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                // Either unique key may have been taken by a registration racing this one.
                let taken = match &device.credential_id {
                    Some(id) => {
                        self.store.credential_registered(id).await.map_err(Internal::from)?
                    }
                    None => false,
                };
                return Err(if taken {
                    EnrolError::PasskeyRejected
                } else {
                    EnrolError::AccountExists
                });
            }
            Err(e) => return Err(Internal::from(e).into()),
        }
        tracing::info!(account_id = %account.id, device_id = %device.id, kind = kind.as_str(), evidence_level = evidence.level.as_str(), awaiting_guardian = account.awaiting_guardian_since.is_some(), "account registered");
        Ok(Enrolled {
            account_id: account.id.into(),
            device_id: device.id.into(),
            tier: account.tier,
            transferred: false,
            awaiting_guardian: account.awaiting_guardian_since.is_some(),
            moves_at: None,
        })
    }

    /// Registers a software device: a new account (identity evidence, then the registry), or,
    /// with a transfer signed by the account's current device, the same account moved to it.
    #[tracing::instrument(skip_all)]
    pub async fn enrol(&self, req: EnrolRequest<'_>) -> Result<Enrolled, EnrolError> {
        let hkid = HkId::parse(req.id_number)?;
        parse_date_of_birth(req.date_of_birth)?;
        let public_key =
            DevicePublicKey::parse(req.public_key).map_err(|_| EnrolError::InvalidPublicKey)?;
        public_key
            .verify(
                &enrol_message(&self.ctx.settings.issuer, hkid.as_str(), req.public_key),
                req.proof,
            )
            .map_err(|_| EnrolError::InvalidProof)?;
        if let Some(transfer) = req.transfer {
            return self.transfer(&hkid, req.public_key, &public_key, transfer).await;
        }
        let claim = IdentityClaim {
            id_number: req.id_number,
            name_en: req.name_en,
            date_of_birth: req.date_of_birth,
            evidence: req.evidence,
            guardian: req.guardian,
            replace_lost_device: req.replace_lost_device,
        };
        let verified = self.verify_identity(&claim).await?;
        let existing = self
            .store
            .find_account_by_hkid_hash(&verified.hkid_hash)
            .await
            .map_err(Internal::from)?;
        if req.replace_lost_device {
            let account = existing.ok_or(EnrolError::NothingToRecover)?;
            return self
                .recover(&account, &verified, DeviceKind::Software, public_key.to_b64(), None)
                .await;
        }
        if let Some(account) = existing {
            if account.awaiting_guardian_since.is_some() {
                return self
                    .register_again_while_waiting(
                        &account,
                        &verified,
                        DeviceKind::Software,
                        public_key.to_b64(),
                        None,
                    )
                    .await;
            }
            return Err(EnrolError::AccountExists);
        }
        let account_id = self.ctx.new_id().to_string();
        self.create_account(account_id, verified, DeviceKind::Software, public_key.to_b64(), None)
            .await
    }

    /// Moves an account to a new software key, authorised by the account's current device.
    /// The signature is checked first: without it, nothing tells whether the identity has an
    /// account at all.
    async fn transfer(
        &self,
        hkid: &HkId,
        new_key_text: &str,
        new_key: &DevicePublicKey,
        transfer: Transfer<'_>,
    ) -> Result<Enrolled, EnrolError> {
        let current = self
            .store
            .find_device(&DeviceId::from(transfer.device_id))
            .await
            .map_err(Internal::from)?
            .filter(|d| d.revoked_at.is_none() && d.kind == DeviceKind::Software)
            .ok_or(EnrolError::InvalidTransfer)?;
        DevicePublicKey::parse(&current.public_key)
            .and_then(|k| {
                k.verify(
                    &transfer_message(&self.ctx.settings.issuer, &current.id, new_key_text),
                    transfer.signature,
                )
            })
            .map_err(|_| EnrolError::InvalidTransfer)?;
        let account = self.store.get_account(&current.account_id).await.map_err(Internal::from)?;
        // The device signed for its own account: the card details must be that account's.
        if !civpass_crypto::secret::ct_eq(&self.hkid_hash(hkid), &account.hkid_hash) {
            return Err(EnrolError::InvalidTransfer);
        }
        let now = self.ctx.now();
        let device = new_device(&account.id, DeviceKind::Software, new_key.to_b64(), None, now);
        if !self.store.replace_device(&current.id, &device, now).await.map_err(Internal::from)? {
            return Err(EnrolError::InvalidTransfer);
        }
        tracing::info!(account_id = %account.id, device_id = %device.id, "account moved to a new device");
        Ok(Enrolled {
            account_id: account.id.into(),
            device_id: device.id.into(),
            tier: account.tier,
            transferred: true,
            awaiting_guardian: account.awaiting_guardian_since.is_some(),
            moves_at: None,
        })
    }

    /// Whether `account` may be moved to a new device on `verified`'s evidence: a strong check,
    /// and an account that is not suspended. Checked before a passkey is made, and again by
    /// `recover`.
    pub(crate) fn may_recover(
        &self,
        account: &Account,
        verified: &VerifiedIdentity,
    ) -> Result<(), EnrolError> {
        if verified.evidence.level < EvidenceLevel::Strong {
            return Err(EnrolError::RecoveryNeedsStrongEvidence);
        }
        if account.suspended_at.is_some() {
            return Err(EnrolError::AccountSuspended);
        }
        Ok(())
    }

    /// The phone was lost and the citizen has no registration point at hand: on a strong
    /// identity check (as remote upgrade asks), the account will move to the new device, every
    /// other device revoked in the same step and the evidence recorded (purpose
    /// `replace_device`), after `RECOVERY_DELAY`: until then the account's devices see the move
    /// waiting and any of them can stop it (a phone that was phished, not lost), and the new
    /// device is not active (`activate_due_recoveries` completes the move).
    ///
    /// Errors: `RecoveryNeedsStrongEvidence`, `AccountSuspended`, `RecoveryPending`,
    /// `PasskeyRejected` (a key or credential registered already).
    pub(crate) async fn recover(
        &self,
        account: &Account,
        verified: &VerifiedIdentity,
        kind: DeviceKind,
        public_key: String,
        credential_id: Option<String>,
    ) -> Result<Enrolled, EnrolError> {
        self.may_recover(account, verified)?;
        let now = self.ctx.now();
        let device = new_device(&account.id, kind, public_key, credential_id, now);
        let evidence =
            self.evidence_record(account.id.as_str(), &verified.evidence, "replace_device").await?;
        let in_use = match &device.credential_id {
            Some(id) => self.store.credential_registered(id).await,
            None => self.store.public_key_in_use(&device.public_key).await,
        };
        if in_use.map_err(Internal::from)? {
            return Err(EnrolError::PasskeyRejected);
        }
        if let Some(earlier) =
            self.store.pending_recovery(&account.id).await.map_err(Internal::from)?
        {
            return Err(if earlier.stopped_at.is_some() {
                EnrolError::RecoveryStopped
            } else {
                EnrolError::RecoveryPending
            });
        }
        let moves_at = now + RECOVERY_DELAY;
        let waiting = PendingRecovery {
            device: device.clone(),
            evidence,
            created_at: now,
            activates_at: moves_at,
            stopped_at: None,
        };
        match self.store.insert_pending_recovery(&waiting).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(EnrolError::RecoveryPending),
            Err(e) => return Err(Internal::from(e).into()),
        }
        tracing::info!(account_id = %account.id, device_id = %device.id, moves_at, "a remote move of an account to a new device waits");
        Ok(Enrolled {
            account_id: account.id.to_string(),
            device_id: device.id.to_string(),
            tier: account.tier,
            transferred: false,
            awaiting_guardian: account.awaiting_guardian_since.is_some(),
            moves_at: Some(moves_at),
        })
    }

    /// Completes the remote moves whose waiting time is over: each account's devices revoked
    /// and the new one added with its evidence, in one transaction that also checks the move
    /// still waits, the account is not suspended and no device came to it since
    /// (`AccountStore::activate_recovery`). A move overtaken by an operator's suspension or
    /// downgrade since it began is dropped too. Returns how many moved; a failure on one move
    /// is logged and the others go on.
    pub async fn activate_due_recoveries(&self) -> Result<Vec<AccountId>, Internal> {
        let now = self.ctx.now();
        let mut moved = Vec::new();
        for waiting in self.store.due_recoveries(now).await? {
            match self.activate(&waiting, now).await {
                Ok(true) => moved.push(waiting.device.account_id.clone()),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(account_id = %waiting.device.account_id, cause = %crate::kernel::error::Chain(&e), "a waiting move could not be completed");
                }
            }
        }
        Ok(moved)
    }

    async fn activate(&self, waiting: &PendingRecovery, now: UnixTime) -> Result<bool, Internal> {
        let account_id = &waiting.device.account_id;
        let overtaken = self.store.list_account_events(account_id).await?.iter().any(|e| {
            e.at >= waiting.created_at
                && matches!(e.kind, OperatorAct::Suspended | OperatorAct::Downgraded)
        });
        if overtaken {
            self.store.delete_pending_recovery(account_id).await?;
            tracing::warn!(account_id = %account_id, "a waiting move was dropped: the account was suspended or lowered since");
            return Ok(false);
        }
        let mut device = waiting.device.clone();
        device.created_at = now;
        match self.store.activate_recovery(waiting, &device, &waiting.evidence, now).await {
            Ok(Some(revoked)) => {
                tracing::info!(account_id = %account_id, device_id = %device.id, revoked, "account moved to a new device after its waiting time");
                Ok(true)
            }
            Ok(None) => {
                tracing::warn!(account_id = %account_id, "a waiting move was dropped: stopped, the account suspended, or moved by other means since");
                Ok(false)
            }
            Err(StoreError::Conflict(_)) => {
                self.store.delete_pending_recovery(account_id).await?;
                tracing::warn!(account_id = %account_id, "a waiting move's device was taken meanwhile; dropped");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The remote move waiting (not stopped) for an account, if any.
    pub(crate) async fn pending_recovery(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<PendingRecovery>, Internal> {
        Ok(self.store.pending_recovery(account_id).await?.filter(|r| r.stopped_at.is_none()))
    }

    /// The waiting move whose new device has this id.
    pub(crate) async fn pending_recovery_of_device(
        &self,
        device_id: &DeviceId,
    ) -> Result<Option<PendingRecovery>, Internal> {
        Ok(self
            .store
            .pending_recovery_of_device(device_id)
            .await?
            .filter(|r| r.stopped_at.is_none()))
    }

    /// Stops a waiting move (a device of the account asked); false if it was not waiting. The
    /// stopped move is kept for `RECOVERY_BLOCK` seconds, in which no other remote move of the
    /// account may start: whoever passed an identity check in the citizen's name should not
    /// simply try again the next day.
    pub(crate) async fn stop_recovery(&self, device_id: &DeviceId) -> Result<bool, Internal> {
        let stopped = self.store.stop_pending_recovery(device_id, self.ctx.now()).await?;
        if stopped {
            tracing::warn!(new_device_id = %device_id, "a waiting move of an account to a new device was stopped by one of its current devices");
        }
        Ok(stopped)
    }

    /// Forgets moves stopped longer ago than `RECOVERY_BLOCK`.
    pub(crate) async fn purge_stopped_recoveries(&self) -> Result<u64, Internal> {
        Ok(self.store.delete_stopped_recoveries_before(self.ctx.now() - RECOVERY_BLOCK).await?)
    }

    /// Opens an account's sealed identity data.
    pub(crate) async fn open_identity(&self, account: &Account) -> Result<Identity, Internal> {
        let plaintext = self
            .ctx
            .data_key(&account.id)
            .await?
            .open(&account.vault, account.id.as_bytes())
            .map_err(|_| {
                Internal::new(format!("vault of account {} cannot be opened", account.id))
            })?;
        serde_json::from_slice(&plaintext).map_err(|e| Internal::caused("reading a vault", e))
    }
}
