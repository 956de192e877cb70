//! How the registration operator's staff sign in to the counter console: a passkey (WebAuthn,
//! user verification required) made through a one-time enrolment link; administrators also
//! give a TOTP code (RFC 6238) at each sign-in; then a console session, stored as a hash of
//! its token, that ends after a working day or when the member of staff is disabled
//! (docs/REGISTRATION.md).

use civpass_crypto::secret::{b64url_decode, ct_eq, hash_secret, random_token};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, TOTP};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

use crate::counter::model::{RegistrationPoint, Staff, StaffEnrolment, StaffRole, StaffSession};
use crate::counter::{CounterError, CounterService};
use crate::device::passkey::{Challenge, ProofFailure};
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::store::StoreError;
use crate::kernel::{Internal, UnixTime};

/// How long an enrolment link may be used, in seconds (three days: it travels by the
/// operator's own channels to a new colleague).
pub const ENROLMENT_TTL: i64 = 3 * 86_400;
/// How long a console session lasts, in seconds: a working day.
pub const STAFF_SESSION_TTL: i64 = 10 * 3600;
/// RFC 6238 section 4.1: the time step X, in seconds (the value authenticator apps assume).
const TOTP_STEP: i64 = 30;
/// Digits in a TOTP code (RFC 4226 section 5.3; what authenticator apps show).
const TOTP_DIGITS: usize = 6;

/// The link a new member of staff opens to make their passkey (the console's page at
/// `/counter/enrol`): the token travels in the fragment, which browsers never send to a server
/// or put in a `Referer`.
pub fn enrolment_url(issuer: &str, token: &str) -> String {
    format!("{issuer}/counter/enrol#{token}")
}

/// Why signing in to the console failed. None changed anything, except that a sign-in's
/// challenge is used up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the enrolment link is unknown, used or expired; ask an administrator for a new one")]
    EnrolmentLinkInvalid,
    /// Unknown, disabled, not enrolled, or a kiosk: told apart to nobody.
    #[error("sign-in failed: check the staff id, or ask an administrator")]
    SignInFailed,
    #[error("the challenge has expired or was already used; start again")]
    CeremonyNotFound,
    #[error("the passkey could not prove itself")]
    PasskeyRejected,
    #[error("this passkey is registered already")]
    PasskeyTaken,
    #[error("an administrator also gives the six-digit code from their authenticator app")]
    TotpRequired,
    #[error("the authenticator code is wrong, expired or used already")]
    TotpInvalid,
    #[error("passkeys are not available on this server: its issuer needs a domain name")]
    PasskeysUnavailable,
    #[error("the console session is missing, unknown or expired; sign in again")]
    Unauthenticated,
    #[error("only an administrator may do this")]
    Forbidden,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> ConsoleError {
        ConsoleError::Internal(e.into())
    }
}

/// A one-time enrolment link's secret part, shown once (the store keeps its hash).
#[derive(Debug, Clone)]
pub struct EnrolmentLink {
    pub token: String,
    pub expires_at: UnixTime,
}

/// The start of an enrolment: who it is for, and the passkey's creation options.
#[derive(Debug, Clone)]
pub struct EnrolmentStart {
    pub staff: Staff,
    pub challenge: Challenge<CreationChallengeResponse>,
}

/// An administrator's TOTP secret, shown once at enrolment: its base32 form and the
/// `otpauth://` URI authenticator apps scan.
#[derive(Debug, Clone)]
pub struct TotpProvisioning {
    pub secret: String,
    pub uri: String,
}

/// A finished enrolment.
#[derive(Debug, Clone)]
pub struct StaffEnrolled {
    pub staff: Staff,
    /// For an administrator.
    pub totp: Option<TotpProvisioning>,
}

/// The start of a sign-in: the passkey's request options. Whether a TOTP code is needed is not
/// said: it would tell an administrator's staff id from an officer's before anyone signed in.
#[derive(Debug, Clone)]
pub struct SignInStart {
    pub challenge: Challenge<RequestChallengeResponse>,
}

/// A new console session; the token is shown once.
#[derive(Debug, Clone)]
pub struct StaffSignedIn {
    pub token: String,
    pub expires_at: UnixTime,
    pub staff: Staff,
}

/// Who holds a console session, and the points they may act at.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub staff: Staff,
    /// The points assigned, each with whether it is open now.
    pub points: Vec<(RegistrationPoint, bool)>,
    pub expires_at: UnixTime,
}

/// What waits, sealed, between an enrolment's two steps.
#[derive(Serialize, Deserialize)]
struct EnrolmentContext {
    staff_id: String,
    enrolment_hash: String,
}

fn totp(secret: Vec<u8>, staff_id: &str) -> Result<TOTP, Internal> {
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        1,
        TOTP_STEP as u64,
        secret,
        Some("civpass".to_owned()),
        staff_id.to_owned(),
    )
    .map_err(|e| Internal::caused("a TOTP secret", e))
}

impl CounterService {
    fn enrolment_hash(&self, token: &str) -> String {
        self.ctx.secrets.lookup.hash(&[b"staff-enrolment", token.as_bytes()])
    }

    /// A new one-time link for a member of staff to make their console passkey. It replaces any
    /// earlier link and revokes the passkey, TOTP secret and sessions they had: it serves to
    /// re-enrol after a lost or stolen passkey.
    ///
    /// Errors: `UnknownStaff`, `StaffDisabled`, `Invalid` (a kiosk signs with its own key).
    pub async fn enrolment_link(&self, staff_id: &str) -> Result<EnrolmentLink, CounterError> {
        let staff = self.store.find_staff(staff_id).await?.ok_or(CounterError::UnknownStaff)?;
        if staff.role == StaffRole::Kiosk {
            return Err(CounterError::Invalid("a kiosk signs with its own key".into()));
        }
        if staff.disabled_at.is_some() {
            return Err(CounterError::StaffDisabled);
        }
        let token = random_token(24);
        let expires_at = self.ctx.now() + ENROLMENT_TTL;
        if !self
            .store
            .set_staff_enrolment(staff_id, &self.enrolment_hash(&token), expires_at)
            .await?
        {
            return Err(CounterError::UnknownStaff);
        }
        // Whoever held the old passkey is out at once, not when the link is used.
        self.store.delete_staff_sessions_of(staff_id).await?;
        tracing::info!(staff_id, "staff enrolment link issued");
        Ok(EnrolmentLink { token, expires_at })
    }

    /// Step one of enrolling: the link's owner and the options for a new passkey.
    ///
    /// Errors: `EnrolmentLinkInvalid`, `PasskeysUnavailable`.
    pub async fn start_staff_enrolment(&self, token: &str) -> Result<EnrolmentStart, ConsoleError> {
        let enrolment_hash = self.enrolment_hash(token);
        let staff = self
            .store
            .staff_by_enrolment(&enrolment_hash, self.ctx.now())
            .await?
            .filter(|s| s.disabled_at.is_none())
            .ok_or(ConsoleError::EnrolmentLinkInvalid)?;
        let purpose = CeremonyPurpose::StaffEnrolment { staff: staff.id.clone() };
        let context = EnrolmentContext { staff_id: staff.id.clone(), enrolment_hash };
        let challenge = self
            .device
            .start_other_passkey_registration(self.ctx.new_id(), &staff.name, &purpose, context)
            .await?
            .ok_or(ConsoleError::PasskeysUnavailable)?;
        Ok(EnrolmentStart { staff, challenge })
    }

    /// Step two: the passkey is stored and the link used up; an administrator is given a new
    /// TOTP secret to add to an authenticator app.
    ///
    /// Errors: `CeremonyNotFound`, `PasskeyRejected`, `PasskeyTaken`, `EnrolmentLinkInvalid`
    /// (used meanwhile, expired, or the member of staff disabled).
    pub async fn finish_staff_enrolment(
        &self,
        staff_id: &str,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<StaffEnrolled, ConsoleError> {
        let purpose = CeremonyPurpose::StaffEnrolment { staff: staff_id.to_owned() };
        let (context, record, credential_id) = match self
            .device
            .finish_other_passkey_registration::<EnrolmentContext>(
                ceremony_id,
                &purpose,
                credential,
            )
            .await?
        {
            Ok(done) => done,
            Err(ProofFailure::NoCeremony) => return Err(ConsoleError::CeremonyNotFound),
            Err(ProofFailure::Invalid) => return Err(ConsoleError::PasskeyRejected),
        };
        let staff = self
            .store
            .find_staff(&context.staff_id)
            .await?
            .filter(|s| s.disabled_at.is_none())
            .ok_or(ConsoleError::EnrolmentLinkInvalid)?;
        let (totp_secret, totp_sealed) = if staff.role == StaffRole::Admin {
            let secret = b64url_decode(&random_token(20))
                .ok_or_else(|| Internal::new("a random TOTP secret"))?;
            let sealed = self
                .ctx
                .secrets
                .sealing
                .seal(&secret, staff.id.as_bytes())
                .map_err(|e| Internal::caused("sealing a TOTP secret", e))?;
            (Some(secret), Some(sealed))
        } else {
            (None, None)
        };
        let enrolment = StaffEnrolment {
            staff_id: &staff.id,
            enrolment_hash: &context.enrolment_hash,
            passkey: &record,
            credential_id: &credential_id,
            totp_sealed: totp_sealed.as_deref(),
        };
        match self.store.enrol_staff_passkey(&enrolment, self.ctx.now()).await {
            Ok(true) => {}
            Ok(false) => return Err(ConsoleError::EnrolmentLinkInvalid),
            Err(StoreError::Conflict(_)) => return Err(ConsoleError::PasskeyTaken),
            Err(e) => return Err(e.into()),
        }
        let totp = match totp_secret {
            Some(secret) => {
                let totp = totp(secret, &staff.id)?;
                Some(TotpProvisioning { secret: totp.get_secret_base32(), uri: totp.get_url() })
            }
            None => None,
        };
        tracing::info!(staff_id = %staff.id, role = staff.role.as_str(), "staff passkey enrolled");
        Ok(StaffEnrolled { staff, totp })
    }

    /// Step one of signing in: the passkey's request options.
    ///
    /// Errors: `SignInFailed` (unknown, disabled, not enrolled, a kiosk),
    /// `PasskeysUnavailable`.
    pub async fn start_staff_sign_in(&self, staff_id: &str) -> Result<SignInStart, ConsoleError> {
        let staff = self.signing_in(staff_id).await?;
        let record = self
            .store
            .staff_credentials(&staff.id)
            .await?
            .and_then(|c| c.passkey)
            .ok_or(ConsoleError::SignInFailed)?;
        let purpose = CeremonyPurpose::StaffSignIn { staff: staff.id.clone() };
        let challenge = self
            .device
            .start_stored_passkey_assertion(&record, &purpose)
            .await?
            .ok_or(ConsoleError::PasskeysUnavailable)?;
        Ok(SignInStart { challenge })
    }

    async fn signing_in(&self, staff_id: &str) -> Result<Staff, ConsoleError> {
        self.store
            .find_staff(staff_id)
            .await?
            .filter(|s| s.disabled_at.is_none() && s.role != StaffRole::Kiosk)
            .ok_or(ConsoleError::SignInFailed)
    }

    /// Step two: the passkey's assertion and, for an administrator, a TOTP code (the current
    /// step or one either side, each step accepted once); a console session.
    ///
    /// Errors: `SignInFailed`, `CeremonyNotFound`, `PasskeyRejected`, `TotpRequired`,
    /// `TotpInvalid`.
    pub async fn finish_staff_sign_in(
        &self,
        staff_id: &str,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
        totp_code: Option<&str>,
    ) -> Result<StaffSignedIn, ConsoleError> {
        let staff = self.signing_in(staff_id).await?;
        let credentials =
            self.store.staff_credentials(&staff.id).await?.ok_or(ConsoleError::SignInFailed)?;
        let record = credentials.passkey.as_deref().ok_or(ConsoleError::SignInFailed)?;
        let purpose = CeremonyPurpose::StaffSignIn { staff: staff.id.clone() };
        match self.device.verify_stored_passkey(record, ceremony_id, &purpose, credential).await? {
            Err(ProofFailure::NoCeremony) => return Err(ConsoleError::CeremonyNotFound),
            Err(ProofFailure::Invalid) => {
                tracing::warn!(staff_id = %staff.id, "staff sign-in: passkey rejected");
                return Err(ConsoleError::PasskeyRejected);
            }
            Ok(None) => {}
            Ok(Some(updated)) => {
                if !self.store.update_staff_passkey(&staff.id, record, &updated).await? {
                    return Err(ConsoleError::PasskeyRejected);
                }
            }
        }
        if staff.role == StaffRole::Admin {
            let code = totp_code.map(str::trim).filter(|c| !c.is_empty());
            let code = code.ok_or(ConsoleError::TotpRequired)?;
            let sealed = credentials.totp_sealed.as_deref().ok_or(ConsoleError::SignInFailed)?;
            let secret = self
                .ctx
                .secrets
                .sealing
                .open(sealed, staff.id.as_bytes())
                .map_err(|e| Internal::caused("opening a TOTP secret", e))?;
            let totp = totp(secret, &staff.id)?;
            let now_step = self.ctx.now() / TOTP_STEP;
            // RFC 6238 section 5.2: one step either side, for clocks that drift and codes typed
            // slowly; every candidate is compared, in constant time.
            let mut matched = None;
            for step in [now_step - 1, now_step, now_step + 1] {
                let expected = totp.generate(u64::try_from(step * TOTP_STEP).unwrap_or(0));
                if ct_eq(&expected, code) && matched.is_none() {
                    matched = Some(step);
                }
            }
            let Some(step) = matched else {
                tracing::warn!(staff_id = %staff.id, "staff sign-in: wrong TOTP code");
                return Err(ConsoleError::TotpInvalid);
            };
            if !self.store.use_totp_step(&staff.id, step).await? {
                tracing::warn!(staff_id = %staff.id, "staff sign-in: TOTP code used again");
                return Err(ConsoleError::TotpInvalid);
            }
        }
        let now = self.ctx.now();
        let token = random_token(32);
        let expires_at = now + STAFF_SESSION_TTL;
        self.store
            .insert_staff_session(&StaffSession {
                token_hash: hash_secret(&token),
                staff_id: staff.id.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        tracing::info!(staff_id = %staff.id, role = staff.role.as_str(), "staff signed in to the console");
        Ok(StaffSignedIn { token, expires_at, staff })
    }

    /// The console session for a token: unexpired, its member of staff still enabled.
    ///
    /// Errors: `Unauthenticated`.
    pub async fn staff_session(&self, token: &str) -> Result<ConsoleSession, ConsoleError> {
        let session = self
            .store
            .find_staff_session(&hash_secret(token))
            .await?
            .filter(|s| s.expires_at > self.ctx.now())
            .ok_or(ConsoleError::Unauthenticated)?;
        let staff = self
            .store
            .find_staff(&session.staff_id)
            .await?
            .filter(|s| s.disabled_at.is_none())
            .ok_or(ConsoleError::Unauthenticated)?;
        let mut points = Vec::new();
        for id in self.store.assignments(&staff.id).await? {
            if let Some(point) = self.store.find_point(&id).await? {
                let open = point.hours.is_open(self.ctx.now());
                points.push((point, open));
            }
        }
        Ok(ConsoleSession { staff, points, expires_at: session.expires_at })
    }

    /// The session of an administrator.
    ///
    /// Errors: `Unauthenticated`, `Forbidden`.
    pub async fn admin_session(&self, token: &str) -> Result<ConsoleSession, ConsoleError> {
        let session = self.staff_session(token).await?;
        if session.staff.role != StaffRole::Admin {
            return Err(ConsoleError::Forbidden);
        }
        Ok(session)
    }

    /// Ends a console session (signing out); nothing happens for an unknown token.
    pub async fn end_staff_session(&self, token: &str) -> Result<(), Internal> {
        Ok(self.store.delete_staff_session(&hash_secret(token)).await?)
    }

    /// Deletes console sessions that expired; returns how many.
    pub(crate) async fn purge_staff_sessions(&self) -> Result<u64, Internal> {
        Ok(self.store.delete_staff_sessions_before(self.ctx.now()).await?)
    }
}
