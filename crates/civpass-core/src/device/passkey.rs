//! Passkeys (WebAuthn) as the device key of the citizen's app, and the one-use ceremonies that
//! carry a challenge from the server to the device and back.
//!
//! WebAuthn is verified by `webauthn-rs` (challenge, origin, RP ID, user verification, signature
//! counter; attestation "none"). The relying party id is the issuer's host, so passkeys need an
//! issuer with a domain name (`localhost` for development); with an IP address they are off.
//!
//! A ceremony's state lives in the store, sealed, not in a cookie: any node can finish what
//! another started, and each challenge is answered at most once (`take_ceremony` deletes it).

use std::sync::Arc;

use civpass_crypto::secret::{b64url, random_token};
use serde::Serialize;
use webauthn_rs::prelude::{
    AuthenticatorAttachment, CreationChallengeResponse, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Webauthn, WebauthnBuilder,
};

use crate::device::DeviceService;
use crate::identity::evidence::{EvidenceLevel, EvidenceOutcome, EvidenceResult};
use crate::identity::model::Identity;
use crate::identity::model::{Device, DeviceKind};
use crate::identity::registration::{EnrolError, Enrolled, IdentityClaim};
use crate::identity::registry::Gender;
use crate::kernel::Internal;
use crate::kernel::ceremony::CeremonyPurpose;

/// A challenge for the device, and the id of the ceremony that will check the answer.
#[derive(Debug, Clone)]
pub struct Challenge<T> {
    pub ceremony_id: String,
    pub options: T,
}

/// How a device proves an action: a software key's signature over a civpass message, or a
/// WebAuthn assertion from a passkey.
#[derive(Debug, Clone, Copy)]
pub enum DeviceProof<'a> {
    Signature(&'a str),
    Passkey(&'a PublicKeyCredential),
}

/// What a device must do to answer an assertion ceremony.
#[derive(Debug, Clone)]
pub enum AssertionOptions {
    /// Pass these options to `navigator.credentials.get`.
    Passkey(RequestChallengeResponse),
    /// Sign the ceremony's message (see `session_message`) with the software key.
    Software { challenge: String },
}

/// Why a device could not prove itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProofFailure {
    /// The ceremony is unknown, used, expired or for something else.
    NoCeremony,
    /// The signature or assertion does not verify (or the counter went backwards).
    Invalid,
}

/// Builds the WebAuthn relying party for an issuer URL; `None` when its host is not a domain.
pub(crate) fn relying_party(issuer: &str) -> Option<Arc<Webauthn>> {
    let origin = Url::parse(issuer).ok()?;
    let rp_id = origin.domain()?.to_owned();
    let webauthn = WebauthnBuilder::new(&rp_id, &origin).ok()?.rp_name("civpass").build().ok()?;
    Some(Arc::new(webauthn))
}

/// The registration in progress: the details that matched the registry wait here, sealed,
/// until the passkey is made.
#[derive(Serialize, serde::Deserialize)]
struct PendingRegistration {
    account_id: String,
    hkid_hash: String,
    hkid: String,
    name_en: String,
    name_zh: String,
    date_of_birth: String,
    gender: Gender,
    evidence_method: String,
    evidence_level: String,
    evidence_reference: String,
    /// A minor's guardian's account, who must approve.
    #[serde(default)]
    guardian: Option<String>,
    /// The phone was lost: `account_id` is the existing account, moved to this passkey.
    #[serde(default)]
    recover: bool,
    /// A minor's account that still waits for its guardian, registered again on this passkey.
    #[serde(default)]
    again: bool,
    state: PasskeyRegistration,
}

/// The signature counter in a stored passkey record (webauthn-rs keeps it private).
fn stored_counter(record: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(record).ok()?.get("cred")?.get("counter")?.as_u64()
}

impl DeviceService {
    fn webauthn(&self) -> Option<&Webauthn> {
        self.webauthn.as_deref()
    }

    /// Step one of registering in the app: check the details against the registry, then ask the
    /// phone for a passkey (platform authenticator, user verification required).
    #[tracing::instrument(skip_all)]
    pub async fn start_passkey_registration(
        &self,
        claim: &IdentityClaim<'_>,
    ) -> Result<Challenge<CreationChallengeResponse>, EnrolError> {
        let webauthn = self.webauthn().ok_or(EnrolError::PasskeysUnavailable)?;
        let verified = self.identity.verify_identity(claim).await?;
        let existing = self
            .identity
            .account_by_hkid_hash(&verified.hkid_hash)
            .await
            .map_err(Internal::from)?;
        // The account id doubles as the WebAuthn user handle, so it is fixed now: a new one, or,
        // for a lost phone, the account's own.
        let waiting = existing.as_ref().is_some_and(|a| a.awaiting_guardian_since.is_some());
        let account_id = match (&existing, claim.replace_lost_device) {
            (Some(account), false) if waiting => uuid::Uuid::parse_str(account.id.as_str())
                .map_err(|e| Internal::caused("an account id as a user handle", e))?,
            (Some(_), false) => return Err(EnrolError::AccountExists),
            (None, true) => return Err(EnrolError::NothingToRecover),
            (None, false) => self.ctx.new_id(),
            (Some(account), true) => {
                self.identity.may_recover(account, &verified)?;
                uuid::Uuid::parse_str(account.id.as_str())
                    .map_err(|e| Internal::caused("an account id as a user handle", e))?
            }
        };
        let identity = &verified.identity;
        let (mut options, state) = webauthn
            .start_passkey_registration(account_id, &identity.name_en, &identity.name_en, None)
            .map_err(|e| Internal::caused("passkey registration options", e))?;
        // A hint to the browser: the key should live on this phone, not on a security key.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.authenticator_attachment = Some(AuthenticatorAttachment::Platform);
        }
        let pending = PendingRegistration {
            account_id: account_id.to_string(),
            hkid_hash: verified.hkid_hash,
            hkid: identity.hkid.clone(),
            name_en: identity.name_en.clone(),
            name_zh: identity.name_zh.clone(),
            date_of_birth: identity.date_of_birth.clone(),
            gender: identity.gender,
            evidence_method: verified.evidence.method.clone(),
            evidence_level: verified.evidence.level.as_str().to_owned(),
            evidence_reference: verified.evidence.vendor_reference.clone(),
            guardian: verified.guardian.as_ref().map(ToString::to_string),
            recover: claim.replace_lost_device,
            again: waiting && !claim.replace_lost_device,
            state,
        };
        let ceremony_id = self.ceremonies.open(&CeremonyPurpose::RegisterPasskey, &pending).await?;
        Ok(Challenge { ceremony_id, options })
    }

    /// Step two: verify the new passkey and create the account with it as the device key.
    #[tracing::instrument(skip_all)]
    pub async fn finish_passkey_registration(
        &self,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<Enrolled, EnrolError> {
        let webauthn = self.webauthn().ok_or(EnrolError::PasskeysUnavailable)?;
        let pending: PendingRegistration = self
            .ceremonies
            .take(ceremony_id, &CeremonyPurpose::RegisterPasskey)
            .await?
            .ok_or(EnrolError::CeremonyNotFound)?;
        let passkey =
            webauthn.finish_passkey_registration(credential, &pending.state).map_err(|e| {
                tracing::info!(cause = %e, "passkey registration rejected");
                EnrolError::PasskeyRejected
            })?;
        // WebAuthn Level 3 section 7.1 step 26: a credential id already registered (to anyone)
        // fails the ceremony. The unique index backs this up against a race.
        let credential_id = b64url(passkey.cred_id().as_ref());
        if self.store.credential_registered(&credential_id).await.map_err(Internal::from)? {
            tracing::info!("passkey registration rejected: credential id already registered");
            return Err(EnrolError::PasskeyRejected);
        }
        let key = serde_json::to_string(&passkey)
            .map_err(|e| Internal::caused("writing a passkey", e))?;
        let verified = crate::identity::registration::VerifiedIdentity {
            hkid_hash: pending.hkid_hash,
            identity: Identity {
                hkid: pending.hkid,
                name_en: pending.name_en,
                name_zh: pending.name_zh,
                date_of_birth: pending.date_of_birth,
                gender: pending.gender,
            },
            evidence: EvidenceResult {
                reference: String::new(),
                outcome: EvidenceOutcome::Pass,
                method: pending.evidence_method,
                level: EvidenceLevel::parse(&pending.evidence_level).ok_or_else(|| {
                    Internal::new("pending registration with an unknown evidence level")
                })?,
                vendor_reference: pending.evidence_reference,
            },
            guardian: pending.guardian.map(crate::kernel::AccountId::from),
        };
        if pending.again {
            let account = self
                .identity
                .account(&crate::kernel::AccountId::from(pending.account_id))
                .await
                .map_err(Internal::from)?;
            return self
                .identity
                .register_again_while_waiting(
                    &account,
                    &verified,
                    DeviceKind::Passkey,
                    key,
                    Some(credential_id),
                )
                .await;
        }
        if pending.recover {
            let account = self
                .identity
                .account(&crate::kernel::AccountId::from(pending.account_id))
                .await
                .map_err(Internal::from)?;
            return self
                .identity
                .recover(&account, &verified, DeviceKind::Passkey, key, Some(credential_id))
                .await;
        }
        self.identity
            .create_account(
                pending.account_id,
                verified,
                DeviceKind::Passkey,
                key,
                Some(credential_id),
            )
            .await
    }

    /// Opens an assertion ceremony for `purpose` with this device: WebAuthn options for a
    /// passkey, a random challenge to sign for a software key.
    pub(crate) async fn start_assertion(
        &self,
        device: &Device,
        purpose: CeremonyPurpose,
    ) -> Result<Option<Challenge<AssertionOptions>>, Internal> {
        match device.kind {
            DeviceKind::Passkey => {
                let Some(webauthn) = self.webauthn() else { return Ok(None) };
                let passkey: Passkey = serde_json::from_str(&device.public_key)
                    .map_err(|e| Internal::caused(format!("stored passkey of {}", device.id), e))?;
                let (options, state) = webauthn
                    .start_passkey_authentication(&[passkey])
                    .map_err(|e| Internal::caused("passkey authentication options", e))?;
                let ceremony_id = self.ceremonies.open(&purpose, &state).await?;
                Ok(Some(Challenge { ceremony_id, options: AssertionOptions::Passkey(options) }))
            }
            DeviceKind::Software => {
                let challenge = random_token(32);
                let ceremony_id = self.ceremonies.open(&purpose, &challenge).await?;
                Ok(Some(Challenge {
                    ceremony_id,
                    options: AssertionOptions::Software { challenge },
                }))
            }
        }
    }

    /// Checks a passkey assertion against the ceremony opened for `purpose`, and stores the
    /// credential's new signature counter.
    pub(crate) async fn verify_passkey(
        &self,
        device: &Device,
        ceremony_id: &str,
        purpose: &CeremonyPurpose,
        credential: &PublicKeyCredential,
    ) -> Result<Result<(), ProofFailure>, Internal> {
        if device.kind != DeviceKind::Passkey {
            return Ok(Err(ProofFailure::Invalid));
        }
        let checked = self
            .verify_stored_passkey(&device.public_key, ceremony_id, purpose, credential)
            .await?;
        match checked {
            Err(failure) => {
                tracing::info!(device_id = %device.id, "passkey assertion rejected");
                Ok(Err(failure))
            }
            Ok(None) => Ok(Ok(())),
            // Conditional on the record we verified against: of two assertions racing with the
            // same counter, only one counts.
            Ok(Some(updated)) => {
                if self.store.update_device_key(&device.id, &device.public_key, &updated).await? {
                    Ok(Ok(()))
                } else {
                    Ok(Err(ProofFailure::Invalid))
                }
            }
        }
    }

    /// Opens an assertion ceremony for `purpose` with a passkey stored outside the devices (a
    /// member of staff's); `None` when passkeys are off.
    pub(crate) async fn start_stored_passkey_assertion(
        &self,
        record: &str,
        purpose: &CeremonyPurpose,
    ) -> Result<Option<Challenge<RequestChallengeResponse>>, Internal> {
        let Some(webauthn) = self.webauthn() else { return Ok(None) };
        let passkey: Passkey =
            serde_json::from_str(record).map_err(|e| Internal::caused("a stored passkey", e))?;
        let (options, state) = webauthn
            .start_passkey_authentication(&[passkey])
            .map_err(|e| Internal::caused("passkey authentication options", e))?;
        let ceremony_id = self.ceremonies.open(purpose, &state).await?;
        Ok(Some(Challenge { ceremony_id, options }))
    }

    /// Checks an assertion by the passkey stored as `record` against the ceremony opened for
    /// `purpose` (WebAuthn L3 section 7.2, by webauthn-rs, user verification required). Returns
    /// the record with its new signature counter when it changed, for the caller to store
    /// conditionally on `record`.
    pub(crate) async fn verify_stored_passkey(
        &self,
        record: &str,
        ceremony_id: &str,
        purpose: &CeremonyPurpose,
        credential: &PublicKeyCredential,
    ) -> Result<Result<Option<String>, ProofFailure>, Internal> {
        let Some(webauthn) = self.webauthn() else { return Ok(Err(ProofFailure::Invalid)) };
        let Some(state) =
            self.ceremonies.take::<PasskeyAuthentication>(ceremony_id, purpose).await?
        else {
            return Ok(Err(ProofFailure::NoCeremony));
        };
        let mut passkey: Passkey =
            serde_json::from_str(record).map_err(|e| Internal::caused("a stored passkey", e))?;
        let result = match webauthn.finish_passkey_authentication(credential, &state) {
            Ok(result) => result,
            Err(e) => {
                tracing::info!(cause = %e, "passkey assertion rejected");
                return Ok(Err(ProofFailure::Invalid));
            }
        };
        // The ceremony checked the counter against the record as it was when the ceremony began;
        // a second assertion that raced it may carry a counter the current record already
        // holds. WebAuthn L3 section 7.2 step 21: if either counter is non-zero, the new one
        // must be greater. (`update_credential` cannot tell: a flipped backup flag also counts
        // as a change there.)
        let stored = stored_counter(record)
            .ok_or_else(|| Internal::new("a stored passkey has no counter"))?;
        if (result.counter() != 0 || stored != 0) && u64::from(result.counter()) <= stored {
            tracing::info!("passkey counter did not advance");
            return Ok(Err(ProofFailure::Invalid));
        }
        match passkey.update_credential(&result) {
            // An assertion by another credential than this record's.
            None => Ok(Err(ProofFailure::Invalid)),
            Some(false) => Ok(Ok(None)),
            Some(true) => Ok(Ok(Some(
                serde_json::to_string(&passkey)
                    .map_err(|e| Internal::caused("writing a passkey", e))?,
            ))),
        }
    }

    /// Opens a passkey registration for someone who is not a citizen (a member of staff):
    /// `user` is the WebAuthn user handle, `context` waits sealed with the ceremony until the
    /// answer. `None` when passkeys are off.
    pub(crate) async fn start_other_passkey_registration<T: Serialize>(
        &self,
        user: uuid::Uuid,
        name: &str,
        purpose: &CeremonyPurpose,
        context: T,
    ) -> Result<Option<Challenge<CreationChallengeResponse>>, Internal> {
        let Some(webauthn) = self.webauthn() else { return Ok(None) };
        let (options, state) = webauthn
            .start_passkey_registration(user, name, name, None)
            .map_err(|e| Internal::caused("passkey registration options", e))?;
        let ceremony_id =
            self.ceremonies.open(purpose, &OtherRegistration { context, state }).await?;
        Ok(Some(Challenge { ceremony_id, options }))
    }

    /// Verifies the passkey made for `start_other_passkey_registration`: the context given
    /// there, the passkey's record and its credential id (base64url).
    pub(crate) async fn finish_other_passkey_registration<T: serde::de::DeserializeOwned>(
        &self,
        ceremony_id: &str,
        purpose: &CeremonyPurpose,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<Result<(T, String, String), ProofFailure>, Internal> {
        let Some(webauthn) = self.webauthn() else { return Ok(Err(ProofFailure::Invalid)) };
        let Some(pending) =
            self.ceremonies.take::<OtherRegistration<T>>(ceremony_id, purpose).await?
        else {
            return Ok(Err(ProofFailure::NoCeremony));
        };
        let passkey = match webauthn.finish_passkey_registration(credential, &pending.state) {
            Ok(passkey) => passkey,
            Err(e) => {
                tracing::info!(cause = %e, "passkey registration rejected");
                return Ok(Err(ProofFailure::Invalid));
            }
        };
        let credential_id = b64url(passkey.cred_id().as_ref());
        let record = serde_json::to_string(&passkey)
            .map_err(|e| Internal::caused("writing a passkey", e))?;
        Ok(Ok((pending.context, record, credential_id)))
    }
}

/// A passkey registration for someone who is not a citizen, in progress.
#[derive(Serialize, serde::Deserialize)]
struct OtherRegistration<T> {
    context: T,
    state: PasskeyRegistration,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A passkey as webauthn-rs 0.5.5 stored it (generated with that version's own
    /// serialisation): devices registered before the move to 0.6 keep working after it.
    const STORED_BY_0_5: &str = r#"{"cred":{"cred_id":"AQID-vv8_f7_","cred":{"type_":"ES256","key":{"EC_EC2":{"curve":"SECP256R1","x":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc","y":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk"}}},"counter":17,"transports":["internal"],"user_verified":true,"backup_eligible":true,"backup_state":true,"registration_policy":"required","extensions":{"cred_protect":"NotRequested","hmac_create_secret":"NotRequested","appid":"NotRequested","cred_props":"NotRequested"},"attestation":{"data":"None","metadata":"None"},"attestation_format":"none"}}"#;

    #[test]
    fn a_passkey_stored_by_webauthn_rs_0_5_still_reads() {
        let passkey: Passkey = serde_json::from_str(STORED_BY_0_5).expect("the 0.5 form reads");
        let id: &[u8] = passkey.cred_id().as_ref();
        assert_eq!(id, [1, 2, 3, 250, 251, 252, 253, 254, 255]);
        // And it is written back in the same form, so a device's record does not change shape
        // when its counter is updated.
        let again: serde_json::Value = serde_json::to_value(&passkey).unwrap();
        let before: serde_json::Value = serde_json::from_str(STORED_BY_0_5).unwrap();
        assert_eq!(again["cred"]["cred_id"], before["cred"]["cred_id"]);
        assert_eq!(again["cred"]["cred"], before["cred"]["cred"]);
    }
}
