//! In-person registration: the registration operator's staff and points, and the counter flow
//! that creates "plus" accounts. The citizen's app shows a registration code bound to its
//! device key; an officer, at a point they are assigned to and while it is open, checks the
//! identity card, types (or confirms) its details and registers a new citizen at the plus tier
//! on that phone, or upgrades the basic account on it; nothing takes effect until the citizen
//! confirms on the phone with the same key. Every act is recorded, whatever its outcome, with
//! the card details sealed (docs/REGISTRATION.md).

mod app_passkey;
pub mod console;
mod guardians;
pub mod hours;
pub mod model;
pub mod store;

use std::sync::Arc;

use civpass_api::signing::{
    confirm_message, kiosk_act_message, pending_message, registration_code_message,
};
use civpass_crypto::jws::DevicePublicKey;
use civpass_crypto::secret::random_token;
use serde::{Deserialize, Serialize};

use crate::counter::hours::Hours;
use crate::counter::model::{
    ActKind, ActOutcome, CardDetails, CounterAct, PointKind, RegistrationCode, RegistrationPoint,
    Staff, StaffRole,
};
use crate::counter::store::{
    CounterActStore, CounterWrites, PendingPasskeyStore, PointStore, RegistrationCodeStore,
    StaffSignInStore, StaffStore,
};
use crate::device::DeviceService;
use crate::device::passkey::Challenge;
use crate::identity::IdentityService;
use crate::identity::evidence::EvidenceLevel;
use crate::identity::hkid::{HkId, HkIdError};
use crate::identity::in_person::{IN_PERSON_CARD, KIOSK_CARD_FACE_MATCH, RegistryCheck};
use crate::identity::model::{Device, DeviceKind, Identity, OperatorAct, Tier};
use crate::identity::registration::{EvidenceSubmission, new_device};
use crate::identity::registry::RegistryError;
use crate::identity::store::AttemptStore;
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::store::{StoreError, TransactionStore, transact};
use crate::kernel::text::display_text;
use crate::kernel::{AccountId, Ctx, DeviceId, Internal, UnixTime};
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

/// How long a registration code may be shown before it is used, in seconds.
pub const CODE_TTL: i64 = 300;
/// How long the citizen has to confirm an officer's act on the phone, in seconds.
pub const CONFIRM_TTL: i64 = 600;
/// Acts one officer may perform in an hour (a counter serves a citizen every few minutes):
/// past it the console refuses, so that no one can query the registry at will through it.
pub const ACTS_PER_OFFICER_PER_HOUR: u32 = 60;
/// How far a signed `pending` request's time may be from the server's, in seconds.
const PENDING_SKEW: i64 = 300;
/// Characters of a registration code: no 0/O, 1/I/L, U or V to mistype or misread.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTWXYZ23456789";

/// The storage ports the counter slice uses.
pub trait CounterStores:
    StaffStore
    + StaffSignInStore
    + PendingPasskeyStore
    + PointStore
    + RegistrationCodeStore
    + CounterActStore
    + AttemptStore
    + TransactionStore<CounterWrites>
    + Send
    + Sync
{
}

impl<T> CounterStores for T where
    T: StaffStore
        + StaffSignInStore
        + PendingPasskeyStore
        + PointStore
        + RegistrationCodeStore
        + CounterActStore
        + AttemptStore
        + TransactionStore<CounterWrites>
        + Send
        + Sync
{
}

/// Why a counter use case was refused. Each says what to do; none changed anything.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("{0}")]
    Invalid(String),
    #[error("no member of staff has this id")]
    UnknownStaff,
    #[error("this member of staff is disabled")]
    StaffDisabled,
    #[error(
        "only officers and supervisors act at a counter, and kiosks only through the kiosk API; administrators serve no citizens"
    )]
    NotAnOfficer,
    #[error("no registration point has this id")]
    UnknownPoint,
    #[error("this officer or kiosk is not assigned to this registration point")]
    NotAssigned,
    #[error(
        "this registration point is closed now: it is {now} in Hong Kong (see its hours with `civpass points list --json`)"
    )]
    PointClosed {
        /// The day and time in Hong Kong, as `Tue 01:25`.
        now: String,
    },
    #[error("this officer has performed {limit} acts in the last hour; try again later")]
    TooManyActs { limit: u32 },
    #[error(transparent)]
    InvalidIdNumber(#[from] HkIdError),
    #[error("the date of birth must be YYYY-MM-DD")]
    InvalidDateOfBirth,
    #[error("the device's public key is not a P-256 key")]
    InvalidPublicKey,
    #[error("the device's signature does not verify")]
    InvalidProof,
    #[error("the device is unknown, revoked, or holds another key")]
    UnknownDevice,
    #[error("this key is an enrolled device's: ask for the code with its device id")]
    KeyEnrolled,
    #[error("the signed time is more than five minutes from the server's")]
    StaleRequest,
    #[error("nothing with this id waits for this device's confirmation")]
    NotPending,
    #[error("the time to confirm has passed; the officer must start again")]
    Expired,
    #[error("this identity has a civpass account already")]
    AccountExists,
    #[error("this account is plus already")]
    AlreadyPlus,
    #[error("the account was suspended or lowered since the officer's act; it must be done again")]
    Overtaken,
    #[error("the population registry is unavailable")]
    RegistryUnavailable(#[source] RegistryError),
    /// A kiosk's identity check was missing, unknown, failed or could not be verified.
    #[error(transparent)]
    Evidence(crate::identity::registration::EnrolError),
    #[error("the card and face check passed only at the basic level; a kiosk needs a strong one")]
    EvidenceTooWeak,
    #[error(
        "the population registry no longer names this guardian, or their account is no longer an adult, active plus one"
    )]
    GuardianNotEligible,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for CounterError {
    fn from(e: StoreError) -> CounterError {
        CounterError::Internal(Internal::from(e))
    }
}

/// A point to add, as the console or the CLI gives it.
#[derive(Debug, Clone)]
pub struct NewPoint {
    pub kind: PointKind,
    pub name_en: String,
    pub name_zh_hant: String,
    pub name_zh_hans: String,
    pub district: String,
    pub hours: Hours,
}

/// A registration code as the app shows it: `XXXX-XXXX`, for a QR code or typing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedCode {
    pub code: String,
    pub expires_at: UnixTime,
    /// Whether the code is for an enrolled device (an upgrade) rather than a new citizen.
    pub enrolled: bool,
}

/// What an officer asks for at a counter.
#[derive(Clone)]
pub struct CounterRequest<'a> {
    pub kind: ActKind,
    pub staff_id: &'a str,
    pub point_id: &'a str,
    /// The code the citizen's app shows, as typed or scanned (`XXXX-XXXX`, any case).
    pub code: &'a str,
    pub card: CardDetails,
}

/// What a kiosk sends: the act (its own id as `staff_id`), the identity check its card reader
/// and camera ran, and its signature.
pub struct KioskRequest<'a> {
    pub act: CounterRequest<'a>,
    pub evidence: EvidenceSubmission<'a>,
    /// Unix seconds, as signed.
    pub at: i64,
    pub signature: &'a str,
}

/// What the officer is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActReport {
    pub act_id: String,
    pub outcome: ActOutcome,
    /// Until when the citizen may confirm, when the act awaits them.
    pub expires_at: Option<UnixTime>,
}

/// An act waiting for the citizen's confirmation, as the app shows it (no `Debug`: it names
/// the citizen).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PendingAct {
    pub id: String,
    pub kind: PendingKind,
    /// The citizen's name as the card gives it (the citizen's own data, to the device the
    /// code was bound to).
    pub name_en: String,
    pub point_name_en: String,
    pub point_name_zh_hant: String,
    pub point_name_zh_hans: String,
    pub at: UnixTime,
    pub expires_at: UnixTime,
}

/// What waits for a citizen's confirmation: an officer's act, or a minor's registration that
/// waits for this citizen as their guardian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingKind {
    Act(ActKind),
    GuardianApproval,
    /// A remote move of this account to a new phone waits: confirming it stops it.
    Recovery,
}

impl PendingKind {
    /// `register`, `upgrade`, `replace_device` or `guardian_approval`.
    pub fn as_str(self) -> &'static str {
        match self {
            PendingKind::Act(kind) => kind.as_str(),
            PendingKind::GuardianApproval => "guardian_approval",
            PendingKind::Recovery => "recovery",
        }
    }
}

/// A passkey the app made at a counter for a new account (or a lost phone's replacement),
/// which becomes the device when the citizen confirms.
#[derive(Debug, Clone)]
pub(crate) struct NewPasskeyDevice {
    pub(crate) record: String,
    pub(crate) credential_id: String,
}

/// What a confirmation brought about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmed {
    pub account_id: String,
    pub device_id: String,
    pub tier: Tier,
}

/// What an act awaiting confirmation keeps sealed: the card as typed, and the registry's
/// identity it matched (what a new account's vault will hold).
#[derive(Serialize, Deserialize)]
struct SealedAct {
    card: CardDetails,
    identity: Identity,
}

/// The counter's use cases.
#[derive(Clone)]
pub struct CounterService {
    pub(crate) ctx: Ctx,
    pub(crate) identity: IdentityService,
    pub(crate) device: DeviceService,
    pub(crate) signing: crate::signing::SigningService,
    pub(crate) store: Arc<dyn CounterStores>,
}

/// Text an operator typed, which citizens and officers are shown: the kernel's check of
/// displayed text (`kernel::text::display_text`).
fn text(field: &str, value: &str, max: usize) -> Result<String, CounterError> {
    display_text(value, max).ok_or_else(|| {
        CounterError::Invalid(format!(
            "{field} must be 1 to {max} characters, without control, invisible or direction-changing characters"
        ))
    })
}

/// What a registration code binds to an enrolled device: a software device's public key, or a
/// passkey's credential id (its stored record changes with every assertion's counter).
/// `None` for a passkey without a credential id (none exist since migration 15; such a device
/// is not usable here rather than sharing an empty binding with others).
pub(crate) fn device_binding(device: &Device) -> Option<String> {
    match device.kind {
        DeviceKind::Software => Some(device.public_key.clone()),
        DeviceKind::Passkey => device
            .credential_id
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| format!("passkey:{c}")),
    }
}

/// The act's binding is this passkey device's: what the app's passkey may confirm.
fn bound_to_passkey(act: &CounterAct, device: &Device) -> bool {
    device.kind == DeviceKind::Passkey
        && device.revoked_at.is_none()
        && device_binding(device).is_some_and(|b| act.public_key.as_deref() == Some(b.as_str()))
}

/// Under 18 on the Hong Kong date at `now`: a minor registers only in the app, with a guardian
/// (`identity::guardian`).
fn is_minor(date_of_birth: &str, now: UnixTime) -> bool {
    crate::identity::guardian::age_of(date_of_birth, now)
        .is_some_and(|age| age < crate::identity::guardian::ADULT_AGE)
}

/// A code as typed or scanned, normalised: capitals, no separators.
fn normalise_code(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

impl CounterService {
    fn code_hash(&self, code: &str) -> String {
        self.ctx.secrets.lookup.hash(&[b"registration-code", normalise_code(code).as_bytes()])
    }

    // -- Staff and points (the operator's administration) ------------------------------------

    /// Adds a member of staff.
    ///
    /// Errors: `Invalid` for an empty or over-long name.
    pub async fn add_staff(&self, name: &str, role: StaffRole) -> Result<Staff, CounterError> {
        if role == StaffRole::Kiosk {
            return Err(CounterError::Invalid(
                "a kiosk is added to its point with its own key (add_kiosk)".into(),
            ));
        }
        let staff = Staff {
            id: format!("s_{}", random_token(9)),
            name: text("the name", name, 100)?,
            role,
            created_at: self.ctx.now(),
            disabled_at: None,
            public_key: None,
        };
        self.store.insert_staff(&staff).await?;
        tracing::info!(staff_id = %staff.id, role = role.as_str(), "staff added");
        Ok(staff)
    }

    /// Every member of staff with the points they are assigned to.
    pub async fn list_staff(&self) -> Result<Vec<(Staff, Vec<String>)>, CounterError> {
        let mut out = Vec::new();
        for staff in self.store.list_staff().await? {
            let points = self.store.assignments(&staff.id).await?;
            out.push((staff, points));
        }
        Ok(out)
    }

    /// Lets a member of staff act at a point; false if they already could.
    ///
    /// Errors: `UnknownStaff`, `UnknownPoint`.
    pub async fn assign(&self, staff_id: &str, point_id: &str) -> Result<bool, CounterError> {
        let staff = self.store.find_staff(staff_id).await?.ok_or(CounterError::UnknownStaff)?;
        self.store.find_point(point_id).await?.ok_or(CounterError::UnknownPoint)?;
        if staff.role == StaffRole::Kiosk {
            return Err(CounterError::Invalid(
                "a kiosk stays at the point it was enrolled to; enrol another kiosk there".into(),
            ));
        }
        if staff.disabled_at.is_some() {
            return Err(CounterError::StaffDisabled);
        }
        let assigned = self.store.assign_staff(staff_id, point_id, self.ctx.now()).await?;
        tracing::info!(staff_id, point_id, "staff assigned to a point");
        Ok(assigned)
    }

    /// Disables a member of staff at once; false if they were disabled already.
    ///
    /// Errors: `UnknownStaff`.
    pub async fn disable_staff(&self, staff_id: &str) -> Result<bool, CounterError> {
        self.store.find_staff(staff_id).await?.ok_or(CounterError::UnknownStaff)?;
        let disabled = self.store.disable_staff(staff_id, self.ctx.now()).await?;
        tracing::info!(staff_id, "staff disabled");
        Ok(disabled)
    }

    /// Adds a registration point.
    ///
    /// Errors: `Invalid` for an empty or over-long name or district, or a mobile team given
    /// weekly hours (or another point a schedule).
    pub async fn add_point(&self, new: NewPoint) -> Result<RegistrationPoint, CounterError> {
        let mobile = new.kind == PointKind::MobileTeam;
        if mobile != matches!(new.hours, Hours::Schedule { .. }) {
            return Err(CounterError::Invalid(
                "a mobile team has a schedule of visits; every other point weekly hours".into(),
            ));
        }
        let point = RegistrationPoint {
            id: format!("p_{}", random_token(9)),
            kind: new.kind,
            name_en: text("the English name", &new.name_en, 100)?,
            name_zh_hant: text("the Traditional Chinese name", &new.name_zh_hant, 100)?,
            name_zh_hans: text("the Simplified Chinese name", &new.name_zh_hans, 100)?,
            district: text("the district", &new.district, 100)?,
            hours: new.hours,
            created_at: self.ctx.now(),
        };
        self.store.insert_point(&point).await?;
        tracing::info!(point_id = %point.id, kind = point.kind.as_str(), "registration point added");
        Ok(point)
    }

    /// Changes a point's opening hours (or a mobile team's schedule), from now on.
    ///
    /// Errors: `UnknownPoint`, `Invalid` (a mobile team given weekly hours, or another point a
    /// schedule).
    pub async fn set_point_hours(
        &self,
        point_id: &str,
        hours: Hours,
    ) -> Result<RegistrationPoint, CounterError> {
        let mut point = self.store.find_point(point_id).await?.ok_or(CounterError::UnknownPoint)?;
        if (point.kind == PointKind::MobileTeam) != matches!(hours, Hours::Schedule { .. }) {
            return Err(CounterError::Invalid(
                "a mobile team has a schedule of visits; every other point weekly hours".into(),
            ));
        }
        if !self.store.set_point_hours(point_id, &hours).await? {
            return Err(CounterError::UnknownPoint);
        }
        tracing::info!(point_id, "registration point's hours changed");
        point.hours = hours;
        Ok(point)
    }

    /// One registration point.
    ///
    /// Errors: `UnknownPoint`.
    pub async fn point(&self, point_id: &str) -> Result<RegistrationPoint, CounterError> {
        self.store.find_point(point_id).await?.ok_or(CounterError::UnknownPoint)
    }

    pub async fn list_points(&self) -> Result<Vec<RegistrationPoint>, CounterError> {
        Ok(self.store.list_points().await?)
    }

    // -- The citizen's side ------------------------------------------------------------------

    /// A registration code for the device key `public_key`, proven by `signature` over
    /// `registration_code_message`; with `device_id`, the key must be that enrolled device's
    /// (an upgrade), else it is a new citizen's.
    ///
    /// Errors: `InvalidPublicKey`, `InvalidProof`, `UnknownDevice`.
    pub async fn issue_code(
        &self,
        public_key: &str,
        device_id: Option<&str>,
        signature: &str,
    ) -> Result<IssuedCode, CounterError> {
        let key = DevicePublicKey::parse(public_key).map_err(|_| CounterError::InvalidPublicKey)?;
        let message = registration_code_message(&self.ctx.settings.issuer, public_key, device_id);
        key.verify(&message, signature).map_err(|_| CounterError::InvalidProof)?;
        if let Some(id) = device_id {
            let device = self.identity.device(&DeviceId::from(id)).await.map_err(Internal::from)?;
            let usable = device.is_some_and(|d| {
                d.revoked_at.is_none()
                    && d.kind == DeviceKind::Software
                    && d.public_key == public_key
            });
            if !usable {
                return Err(CounterError::UnknownDevice);
            }
        } else if self.identity.public_key_in_use(public_key).await.map_err(Internal::from)? {
            return Err(CounterError::KeyEnrolled);
        }
        self.new_code(public_key.to_owned(), device_id.map(DeviceId::from)).await
    }

    /// A registration code for an enrolled device whose app session asks: the app's passkey
    /// device, which proved itself when the session was opened. Only an upgrade can use it (a
    /// phone with an account neither registers nor replaces).
    ///
    /// Errors: `UnknownDevice` (revoked, or a software key, which asks with `issue_code`).
    pub async fn issue_code_for_device(&self, device: &Device) -> Result<IssuedCode, CounterError> {
        // A software key asks with its signature (`issue_code`); this is the passkey's way.
        let binding = device_binding(device)
            .filter(|_| device.revoked_at.is_none() && device.kind == DeviceKind::Passkey)
            .ok_or(CounterError::UnknownDevice)?;
        self.new_code(binding, Some(device.id.clone())).await
    }

    async fn new_code(
        &self,
        binding: String,
        device_id: Option<DeviceId>,
    ) -> Result<IssuedCode, CounterError> {
        let code: String = (0..8)
            .map(|_| {
                let i = civpass_crypto::secret::random_below(CODE_ALPHABET.len() as u32) as usize;
                char::from(CODE_ALPHABET[i])
            })
            .collect();
        let expires_at = self.ctx.now() + CODE_TTL;
        let enrolled = device_id.is_some();
        self.store
            .insert_registration_code(&RegistrationCode {
                code_hash: self.code_hash(&code),
                public_key: binding,
                device_id,
                expires_at,
            })
            .await?;
        Ok(IssuedCode { code: format!("{}-{}", &code[..4], &code[4..]), expires_at, enrolled })
    }

    /// What waits for this device key's confirmation, proven by `signature` over
    /// `pending_message` at `at` (Unix seconds, within five minutes of now).
    ///
    /// Errors: `InvalidPublicKey`, `InvalidProof`, `StaleRequest`.
    pub async fn pending(
        &self,
        public_key: &str,
        at: i64,
        signature: &str,
    ) -> Result<Vec<PendingAct>, CounterError> {
        let key = DevicePublicKey::parse(public_key).map_err(|_| CounterError::InvalidPublicKey)?;
        key.verify(&pending_message(&self.ctx.settings.issuer, public_key, at), signature)
            .map_err(|_| CounterError::InvalidProof)?;
        let now = self.ctx.now();
        if (now - at).abs() > PENDING_SKEW {
            return Err(CounterError::StaleRequest);
        }
        let mut out = self.awaiting_for(public_key, now).await?;
        // The key may also be a guardian's device, whom minors wait for.
        if let Some(device) =
            self.identity.active_device_by_key(public_key).await.map_err(Internal::from)?
        {
            out.extend(self.guardian_pending(&device.account_id).await?);
            out.extend(self.recovery_pending(&device.account_id).await?);
        }
        Ok(out)
    }

    /// What waits for the confirmation of an enrolled device whose app session asks.
    pub async fn pending_for_device(
        &self,
        device: &Device,
    ) -> Result<Vec<PendingAct>, CounterError> {
        let mut out = match device_binding(device) {
            Some(binding) => self.awaiting_for(&binding, self.ctx.now()).await?,
            None => Vec::new(),
        };
        if device.revoked_at.is_none() {
            out.extend(self.guardian_pending(&device.account_id).await?);
            out.extend(self.recovery_pending(&device.account_id).await?);
        }
        Ok(out)
    }

    async fn awaiting_for(
        &self,
        binding: &str,
        now: UnixTime,
    ) -> Result<Vec<PendingAct>, CounterError> {
        let mut out = Vec::new();
        for act in self.store.acts_awaiting(binding, now).await? {
            let sealed = self.open_act(&act)?;
            let point = self.store.find_point(&act.point_id).await?;
            let (en, hant, hans) =
                point.map(|p| (p.name_en, p.name_zh_hant, p.name_zh_hans)).unwrap_or_default();
            out.push(PendingAct {
                id: act.id,
                kind: PendingKind::Act(act.kind),
                name_en: sealed.identity.name_en,
                point_name_en: en,
                point_name_zh_hant: hant,
                point_name_zh_hans: hans,
                at: act.at,
                expires_at: act.expires_at.unwrap_or(act.at),
            });
        }
        Ok(out)
    }

    /// The citizen confirms an act with the key the code was bound to (`signature` over
    /// `confirm_message`): a new account at plus on this device, or this account raised to
    /// plus, with the in-person evidence recorded, in one transaction.
    ///
    /// Errors: `NotPending` (unknown, decided, or another device's), `Expired`,
    /// `InvalidProof`, `UnknownDevice` (an upgrade whose device was revoked meanwhile),
    /// `AccountExists`, `AlreadyPlus`.
    pub async fn confirm(&self, act_id: &str, signature: &str) -> Result<Confirmed, CounterError> {
        if act_id.starts_with(guardians::LINK_PREFIX) {
            return self.approve_by_signature(act_id, signature).await;
        }
        if act_id.starts_with(guardians::RECOVERY_PREFIX) {
            return self.stop_recovery_by_signature(act_id, signature).await;
        }
        let act = self.awaiting(act_id).await?;
        let key = act
            .public_key
            .as_deref()
            .and_then(|k| DevicePublicKey::parse(k).ok())
            .ok_or(CounterError::NotPending)?;
        key.verify(
            &confirm_message(&self.ctx.settings.issuer, &act.id, act.kind.as_str()),
            signature,
        )
        .map_err(|_| CounterError::InvalidProof)?;
        self.take_effect(act).await
    }

    /// An act that awaits a citizen's confirmation (whether or not its time has passed).
    async fn awaiting(&self, act_id: &str) -> Result<CounterAct, CounterError> {
        let act = self.store.find_counter_act(act_id).await?.ok_or(CounterError::NotPending)?;
        if act.outcome != ActOutcome::AwaitingCitizen
            || act.public_key.is_none()
            || act.account_id.is_none()
        {
            return Err(CounterError::NotPending);
        }
        Ok(act)
    }

    /// Step one of confirming an act with the passkey device whose app session asks (the
    /// code was shown by that device): WebAuthn options bound to the act and the device.
    ///
    /// Errors: `NotPending` (unknown, decided, or another device's), `Internal`; `None` when
    /// passkeys are off.
    pub async fn start_passkey_confirm(
        &self,
        act_id: &str,
        device: &Device,
    ) -> Result<Option<Challenge<RequestChallengeResponse>>, CounterError> {
        if act_id.starts_with(guardians::LINK_PREFIX) {
            return self.start_guardian_passkey(act_id, device).await;
        }
        if act_id.starts_with(guardians::RECOVERY_PREFIX) {
            return self.start_stop_recovery_passkey(act_id, device).await;
        }
        let act = self.awaiting(act_id).await?;
        if !bound_to_passkey(&act, device) {
            return Err(CounterError::NotPending);
        }
        let purpose = CeremonyPurpose::CounterConfirm { act: act.id, device: device.id.clone() };
        Ok(self.device.start_stored_passkey_assertion(&device.public_key, &purpose).await?)
    }

    /// Step two: the passkey's assertion over the challenge of step one, then as `confirm`.
    ///
    /// Errors: as `confirm`; `InvalidProof` for an assertion that does not verify or a
    /// challenge unknown, used or expired.
    pub async fn finish_passkey_confirm(
        &self,
        act_id: &str,
        device: &Device,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
    ) -> Result<Confirmed, CounterError> {
        if act_id.starts_with(guardians::LINK_PREFIX) {
            return self.finish_guardian_passkey(act_id, device, ceremony_id, credential).await;
        }
        if act_id.starts_with(guardians::RECOVERY_PREFIX) {
            return self
                .finish_stop_recovery_passkey(act_id, device, ceremony_id, credential)
                .await;
        }
        let act = self.awaiting(act_id).await?;
        if !bound_to_passkey(&act, device) {
            return Err(CounterError::NotPending);
        }
        let purpose =
            CeremonyPurpose::CounterConfirm { act: act.id.clone(), device: device.id.clone() };
        if self.device.verify_passkey(device, ceremony_id, &purpose, credential).await?.is_err() {
            return Err(CounterError::InvalidProof);
        }
        self.take_effect(act).await
    }

    /// What a confirmed act brings about, once the device has proven itself: a software key's
    /// device (the act's key).
    async fn take_effect(&self, act: CounterAct) -> Result<Confirmed, CounterError> {
        self.take_effect_on(act, None).await
    }

    /// As `take_effect`; `new_passkey` is the passkey the app made for this registration or
    /// move (`app_passkey`): the new device is that passkey rather than a software key.
    pub(crate) async fn take_effect_on(
        &self,
        act: CounterAct,
        new_passkey: Option<NewPasskeyDevice>,
    ) -> Result<Confirmed, CounterError> {
        let now = self.ctx.now();
        let (Some(public_key), Some(account_id)) = (&act.public_key, &act.account_id) else {
            return Err(CounterError::NotPending);
        };
        if act.expires_at.is_none_or(|t| t <= now) {
            return Err(CounterError::Expired);
        }
        let sealed = self.open_act(&act)?;
        // What was checked at the counter may have changed since: the key may hold an account
        // now (another act confirmed first), the account may have been suspended or lowered.
        let in_use = match &new_passkey {
            Some(p) => self.identity.credential_registered(&p.credential_id).await,
            None => self.identity.public_key_in_use(public_key).await,
        };
        if act.kind != ActKind::Upgrade && in_use.map_err(Internal::from)? {
            return Err(CounterError::KeyEnrolled);
        }
        let device_for = |account: &AccountId| match &new_passkey {
            Some(p) => new_device(
                account,
                DeviceKind::Passkey,
                p.record.clone(),
                Some(p.credential_id.clone()),
                now,
            ),
            None => new_device(account, DeviceKind::Software, public_key.clone(), None, now),
        };
        if act.kind != ActKind::Register {
            let account = self.identity.account(account_id).await.map_err(Internal::from)?;
            let overtaken = self.identity.account_events(account_id).await?.iter().any(|e| {
                e.at >= act.at && matches!(e.kind, OperatorAct::Suspended | OperatorAct::Downgraded)
            });
            if account.suspended_at.is_some() || overtaken {
                return Err(CounterError::Overtaken);
            }
        }
        // An officer checked the card, or a kiosk's reader and face match did.
        let by_kiosk =
            self.store.find_staff(&act.staff_id).await?.is_some_and(|s| s.role == StaffRole::Kiosk);
        let method = if by_kiosk { KIOSK_CARD_FACE_MATCH } else { IN_PERSON_CARD };
        let (id, account) = (act.id.clone(), account_id.clone());
        match act.kind {
            ActKind::Register => {
                let new_account = self
                    .identity
                    .new_account(account.clone(), &sealed.identity, Tier::Plus)
                    .await?;
                let device = device_for(&account);
                let evidence =
                    self.identity.in_person_evidence(&account, "registration", method, &id).await?;
                let device_id = device.id.clone();
                let decided = transact(self.store.as_ref(), move |tx| {
                    Box::pin(async move {
                        if !tx
                            .decide_counter_act(&id, ActOutcome::Confirmed, Some(&account), now)
                            .await?
                        {
                            return Ok(false);
                        }
                        tx.insert_account(&new_account, &device, &evidence).await?;
                        Ok(true)
                    })
                })
                .await;
                match decided {
                    Ok(true) => {}
                    Ok(false) => return Err(CounterError::NotPending),
                    Err(StoreError::Conflict(_)) => return Err(CounterError::AccountExists),
                    Err(e) => return Err(e.into()),
                }
                tracing::info!(act_id = %act.id, account_id = %account_id, device_id = %device_id, "registered in person at the plus tier");
                self.signing.issue_if_missing(account_id).await;
                Ok(Confirmed {
                    account_id: account_id.to_string(),
                    device_id: device_id.to_string(),
                    tier: Tier::Plus,
                })
            }
            ActKind::ReplaceDevice => {
                let device = device_for(&account);
                let device_id = device.id.clone();
                let evidence = self
                    .identity
                    .in_person_evidence(&account, "replace_device", method, &id)
                    .await?;
                let moved = transact(self.store.as_ref(), move |tx| {
                    Box::pin(async move {
                        if !tx
                            .decide_counter_act(&id, ActOutcome::Confirmed, Some(&account), now)
                            .await?
                        {
                            return Ok(None);
                        }
                        let revoked = tx.revoke_all_devices(&account, now).await?;
                        tx.insert_device(&device).await?;
                        tx.insert_evidence(&evidence).await?;
                        // The old phone is gone: its certificates end, a new one follows.
                        tx.revoke_signing_credentials(&account, now, "device_replaced").await?;
                        Ok(Some(revoked))
                    })
                })
                .await?
                .ok_or(CounterError::NotPending)?;
                let tier = self.identity.account(account_id).await.map_err(Internal::from)?.tier;
                tracing::info!(act_id = %act.id, account_id = %account_id, device_id = %device_id, revoked = moved, "account moved to a new phone at a counter");
                self.signing.issue_if_missing(account_id).await;
                Ok(Confirmed {
                    account_id: account_id.to_string(),
                    device_id: device_id.to_string(),
                    tier,
                })
            }
            ActKind::Upgrade => {
                let device_id = act.device_id.clone().ok_or(CounterError::NotPending)?;
                let device = self.identity.device(&device_id).await.map_err(Internal::from)?;
                if !device.is_some_and(|d| {
                    d.revoked_at.is_none() && device_binding(&d).as_ref() == Some(public_key)
                }) {
                    return Err(CounterError::UnknownDevice);
                }
                let evidence =
                    self.identity.in_person_evidence(&account, "upgrade", method, &id).await?;
                let upgraded = transact(self.store.as_ref(), move |tx| {
                    Box::pin(async move {
                        if !tx
                            .decide_counter_act(&id, ActOutcome::Confirmed, Some(&account), now)
                            .await?
                        {
                            return Ok(Some(CounterError::NotPending));
                        }
                        if !tx.change_tier(&account, Tier::Basic, Tier::Plus).await? {
                            // Rolled back with the decision: the act still awaits.
                            return Err(StoreError::Conflict("tier".into()));
                        }
                        tx.insert_evidence(&evidence).await?;
                        Ok(None)
                    })
                })
                .await;
                match upgraded {
                    Ok(None) => {}
                    Ok(Some(refused)) => return Err(refused),
                    Err(StoreError::Conflict(_)) => return Err(CounterError::AlreadyPlus),
                    Err(e) => return Err(e.into()),
                }
                tracing::info!(act_id = %act.id, account_id = %account_id, "upgraded in person to the plus tier");
                self.signing.issue_if_missing(account_id).await;
                Ok(Confirmed {
                    account_id: account_id.to_string(),
                    device_id: device_id.to_string(),
                    tier: Tier::Plus,
                })
            }
        }
    }

    fn open_act(&self, act: &CounterAct) -> Result<SealedAct, Internal> {
        let sealed = act
            .sealed_details
            .as_deref()
            .ok_or_else(|| Internal::new(format!("counter act {} holds no details", act.id)))?;
        let plaintext =
            self.ctx.secrets.sealing.open(sealed, act.id.as_bytes()).map_err(|e| {
                Internal::caused(format!("counter act {} cannot be opened", act.id), e)
            })?;
        serde_json::from_slice(&plaintext).map_err(|e| Internal::caused("reading a counter act", e))
    }

    // -- The officer's side ------------------------------------------------------------------

    /// An officer registers or upgrades the citizen whose phone shows `req.code`, after
    /// checking their card: the act is recorded whatever its outcome, and, when everything
    /// checks, waits `CONFIRM_TTL` for the citizen's confirmation.
    ///
    /// Errors (nothing recorded): `UnknownStaff`, `StaffDisabled`, `NotAnOfficer`,
    /// `UnknownPoint`, `NotAssigned`, `PointClosed`, `TooManyActs`, `InvalidIdNumber`,
    /// `InvalidDateOfBirth`, `Invalid` (the name), `RegistryUnavailable`.
    pub async fn act(&self, req: CounterRequest<'_>) -> Result<ActReport, CounterError> {
        let now = self.ctx.now();
        let refused = |why: &CounterError| {
            tracing::warn!(staff_id = req.staff_id, point_id = req.point_id, refused = %why, "counter act refused");
        };
        let result = self.authorise(&req, now, StaffRole::Officer).await;
        if let Err(why) = &result {
            refused(why);
        }
        result?;
        self.perform(req, now).await
    }

    /// The act itself, once whoever performs it (an officer, or a kiosk with its evidence) may.
    async fn perform(
        &self,
        req: CounterRequest<'_>,
        now: UnixTime,
    ) -> Result<ActReport, CounterError> {
        let hkid = HkId::parse(&req.card.id_number)?;
        let name_en = text("the English name", &req.card.name_en, 200)?;
        let dob = req.card.date_of_birth.trim();
        crate::identity::registration::parse_date_of_birth(dob)
            .map_err(|_| CounterError::InvalidDateOfBirth)?;
        let hkid_hash = self.identity.hkid_hash(&hkid);
        let check = self
            .identity
            .check_card(&hkid, &name_en, dob)
            .await
            .map_err(CounterError::RegistryUnavailable)?;
        let code = self.store.take_registration_code(&self.code_hash(req.code), now).await?;
        let mut act = CounterAct {
            id: format!("ca_{}", random_token(12)),
            kind: req.kind,
            staff_id: req.staff_id.to_owned(),
            point_id: req.point_id.to_owned(),
            at: now,
            outcome: ActOutcome::CodeInvalid,
            account_id: None,
            public_key: code.as_ref().map(|c| c.public_key.clone()),
            device_id: code.as_ref().and_then(|c| c.device_id.clone()),
            hkid_hash: Some(hkid_hash.clone()),
            sealed_details: None,
            expires_at: None,
            decided_at: None,
        };
        act.outcome = match (&code, check) {
            (None, _) => ActOutcome::CodeInvalid,
            (_, RegistryCheck::NoSuchPerson) => ActOutcome::NoSuchPerson,
            (_, RegistryCheck::DetailsDiffer) => ActOutcome::DetailsDiffer,
            (Some(_), RegistryCheck::Match(identity))
                if req.kind == ActKind::Register && is_minor(&identity.date_of_birth, now) =>
            {
                ActOutcome::Minor
            }
            (Some(code), RegistryCheck::Match(identity)) => {
                let outcome = self.judge(&mut act, code, &hkid_hash).await?;
                if outcome == ActOutcome::AwaitingCitizen {
                    let card = CardDetails {
                        id_number: hkid.to_string(),
                        name_en,
                        date_of_birth: dob.to_owned(),
                    };
                    let plaintext = serde_json::to_vec(&SealedAct { card, identity: *identity })
                        .map_err(|e| Internal::caused("writing a counter act", e))?;
                    act.sealed_details = Some(
                        self.ctx
                            .secrets
                            .sealing
                            .seal(&plaintext, act.id.as_bytes())
                            .map_err(|e| Internal::caused("sealing a counter act", e))?,
                    );
                    act.expires_at = Some(now + CONFIRM_TTL);
                }
                outcome
            }
        };
        self.store.insert_counter_act(&act).await?;
        tracing::info!(act_id = %act.id, staff_id = %act.staff_id, point_id = %act.point_id, kind = act.kind.as_str(), outcome = act.outcome.as_str(), "counter act");
        Ok(ActReport { act_id: act.id, outcome: act.outcome, expires_at: act.expires_at })
    }

    /// The officer may act here, now, and has not acted too often lately.
    /// The officer (`as_role` Officer: an officer or supervisor) or kiosk (`as_role` Kiosk) may
    /// act here, now, and has not acted too often lately.
    async fn authorise(
        &self,
        req: &CounterRequest<'_>,
        now: UnixTime,
        as_role: StaffRole,
    ) -> Result<(), CounterError> {
        let staff = self.store.find_staff(req.staff_id).await?.ok_or(CounterError::UnknownStaff)?;
        if staff.disabled_at.is_some() {
            return Err(CounterError::StaffDisabled);
        }
        let allowed = match as_role {
            StaffRole::Kiosk => staff.role == StaffRole::Kiosk,
            _ => staff.role.serves_citizens(),
        };
        if !allowed {
            return Err(CounterError::NotAnOfficer);
        }
        let point = self.store.find_point(req.point_id).await?.ok_or(CounterError::UnknownPoint)?;
        let assignments = self.store.assignments(&staff.id).await?;
        // A kiosk stands at one point: the one it was enrolled to.
        let here = match as_role {
            StaffRole::Kiosk => assignments.first() == Some(&point.id),
            _ => assignments.contains(&point.id),
        };
        if !here {
            return Err(CounterError::NotAssigned);
        }
        if !point.hours.is_open(now) {
            return Err(CounterError::PointClosed { now: hours::hong_kong_time(now) });
        }
        let key = self.ctx.secrets.lookup.hash(&[b"counter-acts", staff.id.as_bytes()]);
        let acts = self.store.count_attempt(&key, now, now - 3600).await?;
        if acts > i64::from(ACTS_PER_OFFICER_PER_HOUR) {
            return Err(CounterError::TooManyActs { limit: ACTS_PER_OFFICER_PER_HOUR });
        }
        Ok(())
    }

    /// For a valid code and a card the registry knows: may this act go ahead on this phone?
    async fn judge(
        &self,
        act: &mut CounterAct,
        code: &RegistrationCode,
        hkid_hash: &str,
    ) -> Result<ActOutcome, CounterError> {
        let existing =
            self.identity.account_by_hkid_hash(hkid_hash).await.map_err(Internal::from)?;
        Ok(match act.kind {
            ActKind::Register if code.device_id.is_some() => ActOutcome::PhoneHasAccount,
            ActKind::Register if existing.is_some() => ActOutcome::AlreadyRegistered,
            ActKind::Register => {
                act.account_id = Some(AccountId::from(self.ctx.new_id().to_string()));
                ActOutcome::AwaitingCitizen
            }
            ActKind::ReplaceDevice if code.device_id.is_some() => ActOutcome::PhoneHasAccount,
            ActKind::ReplaceDevice => match existing {
                Some(account) => {
                    act.account_id = Some(account.id);
                    ActOutcome::AwaitingCitizen
                }
                None => ActOutcome::NoAccount,
            },
            ActKind::Upgrade => {
                let Some(device_id) = &code.device_id else {
                    return Ok(ActOutcome::NotThisCitizensPhone);
                };
                let device = self.identity.device(device_id).await.map_err(Internal::from)?;
                let on_phone = device.filter(|d| d.revoked_at.is_none()).map(|d| d.account_id);
                match existing {
                    Some(account) if on_phone.as_ref() == Some(&account.id) => {
                        if account.tier == Tier::Plus {
                            ActOutcome::AlreadyPlus
                        } else {
                            act.account_id = Some(account.id);
                            ActOutcome::AwaitingCitizen
                        }
                    }
                    _ => ActOutcome::NotThisCitizensPhone,
                }
            }
        })
    }

    /// The point where an act was performed (for an account's history).
    pub(crate) async fn point_of_act(
        &self,
        act_id: &str,
    ) -> Result<Option<RegistrationPoint>, Internal> {
        let Some(act) = self.store.find_counter_act(act_id).await? else { return Ok(None) };
        Ok(self.store.find_point(&act.point_id).await?)
    }

    /// Enrols a kiosk to `point_id` with a new P-256 key: returns the kiosk and its private key
    /// (PKCS#8), which only the kiosk keeps; civpass keeps the public key.
    ///
    /// Errors: `UnknownPoint`, `Invalid` (the name).
    pub async fn add_kiosk(
        &self,
        point_id: &str,
        name: &str,
    ) -> Result<(Staff, Vec<u8>), CounterError> {
        self.store.find_point(point_id).await?.ok_or(CounterError::UnknownPoint)?;
        let (key, pkcs8) = civpass_crypto::jws::DeviceKeyPair::generate()
            .map_err(|e| Internal::caused("making a kiosk key", e))?;
        let kiosk = Staff {
            id: format!("k_{}", random_token(9)),
            name: text("the name", name, 100)?,
            role: StaffRole::Kiosk,
            created_at: self.ctx.now(),
            disabled_at: None,
            public_key: Some(key.public_key_b64()),
        };
        self.store.insert_staff(&kiosk).await?;
        self.store.assign_staff(&kiosk.id, point_id, self.ctx.now()).await?;
        tracing::info!(kiosk_id = %kiosk.id, point_id, "kiosk enrolled");
        Ok((kiosk, pkcs8))
    }

    /// A kiosk's act: its signature (`kiosk_act_message`, within five minutes), its own point
    /// only, open, and, in the officer's place, the card and face checked by the identity
    /// evidence verifier at the strong level; then as an officer's act.
    ///
    /// Errors: as `act`, and `InvalidProof`, `StaleRequest`, `NotAssigned` (another point's
    /// name), the evidence's (`Evidence`), `EvidenceTooWeak`.
    pub async fn kiosk_act(&self, req: KioskRequest<'_>) -> Result<ActReport, CounterError> {
        let now = self.ctx.now();
        let kiosk =
            self.store.find_staff(req.act.staff_id).await?.ok_or(CounterError::UnknownStaff)?;
        let key = kiosk
            .public_key
            .as_deref()
            .and_then(|k| DevicePublicKey::parse(k).ok())
            .ok_or(CounterError::NotAnOfficer)?;
        let message = kiosk_act_message(
            &self.ctx.settings.issuer,
            &kiosk.id,
            req.act.point_id,
            req.act.kind.as_str(),
            req.act.code,
            &civpass_api::signing::id_number_for_signing(&req.act.card.id_number),
            req.at,
        );
        key.verify(&message, req.signature).map_err(|_| CounterError::InvalidProof)?;
        if (now - req.at).abs() > PENDING_SKEW {
            return Err(CounterError::StaleRequest);
        }
        let result = self.authorise(&req.act, now, StaffRole::Kiosk).await;
        if let Err(why) = &result {
            tracing::warn!(kiosk_id = %kiosk.id, point_id = req.act.point_id, refused = %why, "kiosk act refused");
        }
        result?;
        let hkid = HkId::parse(&req.act.card.id_number)?;
        let evidence = self
            .identity
            .check_evidence(
                &hkid,
                &req.act.card.name_en,
                &req.act.card.date_of_birth,
                &req.evidence,
            )
            .await
            .map_err(CounterError::Evidence)?;
        if evidence.level < EvidenceLevel::Strong {
            return Err(CounterError::EvidenceTooWeak);
        }
        self.perform(req.act, now).await
    }

    /// Deletes registration codes and console sessions that expired; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, Internal> {
        Ok(self.store.delete_registration_codes_before(self.ctx.now()).await?
            + self.store.delete_pending_passkeys_before(self.ctx.now()).await?
            + self.purge_staff_sessions().await?)
    }
}
