//! The citizen's own view of their account in the app: a short session opened with the device
//! key, the identity data held, the services linked and what each received, and unlinking.

pub mod lifecycle;
pub mod model;
pub mod registry_events;
pub mod stats;
pub mod store;
pub mod upgrade;

use std::sync::Arc;

use crate::account::store::{AppSessionStore, StatsStore};
use crate::consent::ConsentService;
use crate::device::DeviceService;
use crate::identity::IdentityService;
use crate::kernel::Ctx;
use crate::kernel::store::TransactionStore;
use crate::oidc::OidcService;
use crate::oidc::store::OidcWrites;

use civpass_crypto::jws::DevicePublicKey;
use civpass_crypto::secret::{hash_secret, random_token};

use crate::account::model::AppSession;
use crate::consent::model::{Consent, Release};
use crate::device::passkey::{AssertionOptions, Challenge, DeviceProof, ProofFailure};
use crate::identity::evidence::EvidenceLevel;
use crate::identity::model::Device;
use crate::identity::model::{Identity, Tier};
use crate::kernel::DeviceId;
use crate::kernel::Internal;
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::store::transact;
use crate::oidc::events::ConsentEnd;
use crate::oidc::logout::per_session;

pub use civpass_api::signing::session_message;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("unknown or revoked device")]
    UnknownDevice,
    #[error("the challenge has expired or was already used; ask for a new one")]
    CeremonyNotFound,
    #[error("the device could not prove itself")]
    BadProof,
    #[error("the app session is missing, unknown or expired")]
    Unauthenticated,
    #[error("this service is not linked to the account")]
    NotLinked,
    #[error("passkeys are not available on this server")]
    PasskeysUnavailable,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// A newly opened app session; the token is shown once and stored as a hash.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    pub token: String,
    pub expires_at: i64,
}

/// The identity data held for the citizen, as the app shows it.
#[derive(Clone)]
pub struct MyData {
    pub identity: Identity,
    pub tier: Tier,
    pub registered_at: i64,
    /// How the identity was checked, oldest first (the vendor's reference stays sealed).
    pub evidence: Vec<EvidenceSummary>,
}

/// One identity check an account rests on, as the citizen is shown it.
#[derive(Debug, Clone)]
pub struct EvidenceSummary {
    pub purpose: String,
    pub method: String,
    pub level: EvidenceLevel,
    pub verified_at: i64,
}

/// A service the citizen has used, and what it received.
#[derive(Debug, Clone)]
pub struct LinkedService {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub linked_at: i64,
    pub last_consent_at: i64,
    pub claims: Vec<String>,
    pub purpose: Option<String>,
    pub expires_at: Option<i64>,
    /// Newest first.
    pub releases: Vec<Release>,
}

/// The storage ports the account slice uses.
pub trait AccountStores:
    AppSessionStore + StatsStore + TransactionStore<OidcWrites> + Send + Sync
{
}

impl<T> AccountStores for T where
    T: AppSessionStore + StatsStore + TransactionStore<OidcWrites> + Send + Sync
{
}

/// An e-ME outcome as the app's use cases answer it: an internal failure as the session's
/// error (a 500 or 503), the citizen's own problems (refused values, a busy vault) inside.
fn internal_apart<T>(
    outcome: Result<T, crate::eme::EmeError>,
) -> Result<Result<T, crate::eme::EmeError>, SessionError> {
    match outcome {
        Err(crate::eme::EmeError::Internal(e)) => Err(e.into()),
        other => Ok(other),
    }
}

/// The citizen's own use cases in the app, over every slice beneath.
#[derive(Clone)]
pub struct AccountService {
    pub(crate) ctx: Ctx,
    pub(crate) identity: IdentityService,
    pub(crate) device: DeviceService,
    pub(crate) consent: ConsentService,
    pub(crate) eme: crate::eme::EmeService,
    pub(crate) oidc: OidcService,
    pub(crate) store: Arc<dyn AccountStores>,
    pub(crate) counter: crate::counter::CounterService,
    pub(crate) signing: crate::signing::SigningService,
}

impl AccountService {
    /// Deletes app sessions that expired, and ends standing consents that expired
    /// (`end_expired_consents`); returns how many of both.
    pub async fn purge_expired(&self) -> Result<u64, Internal> {
        let sessions = self.store.delete_app_sessions_expired_before(self.ctx.now()).await?;
        let consents = self.end_expired_consents().await?;
        Ok(sessions + u64::try_from(consents).unwrap_or(0))
    }
}

impl AccountService {
    async fn active_device(&self, device_id: &str) -> Result<Device, SessionError> {
        self.identity
            .active_device(&DeviceId::from(device_id))
            .await
            .map_err(Internal::from)?
            .ok_or(SessionError::UnknownDevice)
    }

    /// Step one of opening an app session: a challenge for the device.
    pub async fn start_app_session(
        &self,
        device_id: &str,
    ) -> Result<Challenge<AssertionOptions>, SessionError> {
        let device = self.active_device(device_id).await?;
        self.device
            .start_assertion(&device, CeremonyPurpose::Session { device: device.id.clone() })
            .await?
            .ok_or(SessionError::PasskeysUnavailable)
    }

    /// Step two: the device answers the challenge and receives a session token.
    #[tracing::instrument(skip_all, fields(device_id))]
    pub async fn open_app_session(
        &self,
        device_id: &str,
        ceremony_id: &str,
        proof: DeviceProof<'_>,
    ) -> Result<OpenedSession, SessionError> {
        let device = self.active_device(device_id).await?;
        let purpose = CeremonyPurpose::Session { device: device.id.clone() };
        let outcome = match proof {
            DeviceProof::Passkey(credential) => {
                self.device.verify_passkey(&device, ceremony_id, &purpose, credential).await?
            }
            DeviceProof::Signature(signature) => {
                match self.device.software_challenge(ceremony_id, &purpose).await? {
                    None => Err(ProofFailure::NoCeremony),
                    Some(challenge) => DevicePublicKey::parse(&device.public_key)
                        .and_then(|k| {
                            k.verify(
                                &session_message(
                                    &self.ctx.settings.issuer,
                                    ceremony_id,
                                    &challenge,
                                ),
                                signature,
                            )
                        })
                        .map_err(|_| ProofFailure::Invalid),
                }
            }
        };
        match outcome {
            Ok(()) => {}
            Err(ProofFailure::NoCeremony) => return Err(SessionError::CeremonyNotFound),
            Err(ProofFailure::Invalid) => return Err(SessionError::BadProof),
        }
        let now = self.ctx.now();
        let token = random_token(32);
        let session = AppSession {
            token_hash: hash_secret(&token),
            account_id: device.account_id.clone(),
            device_id: device.id.clone(),
            created_at: now,
            expires_at: now + self.ctx.settings.app_session_ttl,
        };
        self.store.insert_app_session(&session).await.map_err(Internal::from)?;
        tracing::info!(account_id = %device.account_id, device_id = %device.id, "app session opened");
        Ok(OpenedSession { token, expires_at: session.expires_at })
    }

    /// The live session for a token; its device must still be active.
    async fn app_session(&self, token: &str) -> Result<AppSession, SessionError> {
        let session = self
            .store
            .find_app_session(&hash_secret(token))
            .await
            .map_err(Internal::from)?
            .filter(|s| s.expires_at > self.ctx.now())
            .ok_or(SessionError::Unauthenticated)?;
        self.active_device(&session.device_id).await.map_err(|e| match e {
            SessionError::UnknownDevice => SessionError::Unauthenticated,
            other => other,
        })?;
        Ok(session)
    }

    /// The active device whose app session this is: for the counter's use cases in the app,
    /// where the session's passkey assertion stands for the device's proof.
    ///
    /// Errors: `Unauthenticated`.
    pub async fn session_device(&self, token: &str) -> Result<Device, SessionError> {
        let session = self.app_session(token).await?;
        self.active_device(session.device_id.as_ref()).await.map_err(|e| match e {
            SessionError::UnknownDevice => SessionError::Unauthenticated,
            other => other,
        })
    }

    pub async fn my_data(&self, token: &str) -> Result<MyData, SessionError> {
        let session = self.app_session(token).await?;
        let account = self.identity.account(&session.account_id).await.map_err(Internal::from)?;
        let identity = self.identity.open_identity(&account).await?;
        let evidence = self
            .identity
            .evidence_records(&account.id)
            .await
            .map_err(Internal::from)?
            .into_iter()
            .map(|e| EvidenceSummary {
                purpose: e.purpose,
                method: e.method,
                level: e.level,
                verified_at: e.verified_at,
            })
            .collect();
        Ok(MyData { identity, tier: account.tier, registered_at: account.created_at, evidence })
    }

    /// The citizen's e-ME vault.
    ///
    /// Errors: `Unauthenticated`.
    pub async fn my_vault(&self, token: &str) -> Result<crate::eme::model::Vault, SessionError> {
        let session = self.app_session(token).await?;
        Ok(self.eme.vault(&session.account_id).await?)
    }

    /// Changes the citizen's e-ME vault (`EmeService::change`): all the changes, or none.
    ///
    /// Errors: `Ok(Err(_))` for refused values; `Err(Unauthenticated)` without a session.
    pub async fn change_vault(
        &self,
        token: &str,
        changes: &[crate::eme::Change],
    ) -> Result<Result<crate::eme::model::Vault, crate::eme::EmeError>, SessionError> {
        let session = self.app_session(token).await?;
        internal_apart(self.eme.change(&session.account_id, changes).await)
    }

    /// The values `names` would be released with from the session's account (`EmeService::
    /// claim_values`), for the app to show before the citizen approves.
    ///
    /// Errors: `Unauthenticated`.
    pub async fn release_preview(
        &self,
        token: &str,
        names: &[&str],
    ) -> Result<serde_json::Map<String, serde_json::Value>, SessionError> {
        let session = self.app_session(token).await?;
        let account = self.identity.account(&session.account_id).await.map_err(Internal::from)?;
        Ok(self.eme.claim_values(&account, names).await?)
    }

    /// Adds an address proof to the citizen's vault (`EmeService::add_address_proof`).
    ///
    /// Errors: `Ok(Err(_))` for a refused document; `Err(Unauthenticated)`.
    pub async fn add_address_proof(
        &self,
        token: &str,
        bytes: &[u8],
    ) -> Result<Result<crate::eme::model::Vault, crate::eme::EmeError>, SessionError> {
        let session = self.app_session(token).await?;
        internal_apart(self.eme.add_address_proof(&session.account_id, bytes).await)
    }

    /// One of the citizen's address proofs: its type and bytes; `None` if there is no such one.
    ///
    /// Errors: `Unauthenticated`.
    pub async fn address_proof(
        &self,
        token: &str,
        id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, SessionError> {
        let session = self.app_session(token).await?;
        Ok(self.eme.address_proof(&session.account_id, id).await?)
    }

    /// Deletes one of the citizen's address proofs.
    ///
    /// Errors: `Ok(Err(_))` if there is no such one; `Err(Unauthenticated)`.
    pub async fn delete_address_proof(
        &self,
        token: &str,
        id: &str,
    ) -> Result<Result<crate::eme::model::Vault, crate::eme::EmeError>, SessionError> {
        let session = self.app_session(token).await?;
        internal_apart(self.eme.delete_address_proof(&session.account_id, id).await)
    }

    /// Sends a one-time link to the vault's e-mail address (`EmeService::
    /// start_email_verification`); returns when it expires.
    ///
    /// Errors: `Ok(Err(_))` for why it was not sent; `Err(Unauthenticated)`.
    pub async fn verify_email(
        &self,
        token: &str,
    ) -> Result<Result<i64, crate::eme::verification::VerifyError>, SessionError> {
        let session = self.app_session(token).await?;
        Ok(self.eme.start_email_verification(&session.account_id).await)
    }

    /// Confirms an e-mail verification link's token with the account's own app session
    /// (`EmeService::confirm_email`); the vault after it.
    ///
    /// Errors: `Ok(Err(_))` for an unknown, used or expired link; `Err(Unauthenticated)`.
    pub async fn confirm_email(
        &self,
        token: &str,
        link_token: &str,
    ) -> Result<Result<crate::eme::model::Vault, crate::eme::verification::VerifyError>, SessionError>
    {
        let session = self.app_session(token).await?;
        if let Err(e) = self.eme.confirm_email(&session.account_id, link_token).await {
            return Ok(Err(e));
        }
        Ok(Ok(self.eme.vault(&session.account_id).await?))
    }

    /// Sends a code by SMS to the vault's mobile number (`EmeService::
    /// start_phone_verification`).
    ///
    /// Errors: `Ok(Err(_))` for why it was not sent; `Err(Unauthenticated)`.
    pub async fn verify_phone(
        &self,
        token: &str,
    ) -> Result<
        Result<crate::eme::verification::PhoneVerification, crate::eme::verification::VerifyError>,
        SessionError,
    > {
        let session = self.app_session(token).await?;
        Ok(self.eme.start_phone_verification(&session.account_id).await)
    }

    /// The code the citizen typed for verification `id` (`EmeService::confirm_phone`); the
    /// vault after it.
    ///
    /// Errors: `Ok(Err(_))` for a wrong, used or expired code; `Err(Unauthenticated)`.
    pub async fn confirm_phone(
        &self,
        token: &str,
        id: &str,
        code: &str,
    ) -> Result<Result<crate::eme::model::Vault, crate::eme::verification::VerifyError>, SessionError>
    {
        let session = self.app_session(token).await?;
        if let Err(e) = self.eme.confirm_phone(&session.account_id, id, code).await {
            return Ok(Err(e));
        }
        Ok(Ok(self.eme.vault(&session.account_id).await?))
    }

    pub async fn linked_services(&self, token: &str) -> Result<Vec<LinkedService>, SessionError> {
        let session = self.app_session(token).await?;
        let consents = self.consent.consents(&session.account_id).await?;
        let mut releases = self.consent.releases(&session.account_id).await?;
        releases.reverse();
        let mut services = Vec::with_capacity(consents.len());
        for consent in consents {
            let client_name = self
                .oidc
                .client_record(&consent.client_id)
                .await?
                .map(|c| c.name)
                .unwrap_or_else(|| consent.client_id.clone().into());
            services.push(LinkedService {
                releases: releases
                    .iter()
                    .filter(|r| r.client_id == consent.client_id)
                    .cloned()
                    .collect(),
                client_id: consent.client_id.into(),
                client_name,
                scopes: consent.scopes,
                linked_at: consent.linked_at,
                last_consent_at: consent.granted_at,
                claims: consent.claims,
                purpose: consent.purpose,
                expires_at: consent.expires_at,
            });
        }
        services.sort_by_key(|s| std::cmp::Reverse(s.last_consent_at));
        Ok(services)
    }

    /// The account's standing consent to `client_id`, if there is one.
    async fn consent_with(
        &self,
        account_id: &crate::kernel::AccountId,
        client_id: &str,
    ) -> Result<Option<Consent>, Internal> {
        let consents = self.consent.consents(account_id).await?;
        Ok(consents.into_iter().find(|c| c.client_id.as_str() == client_id))
    }

    /// Unlinks a service: its consent goes and its tokens stop working at once.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn unlink_service(&self, token: &str, client_id: &str) -> Result<(), SessionError> {
        let session = self.app_session(token).await?;
        let ended = match self.consent_with(&session.account_id, client_id).await? {
            Some(consent) => self.end_consent(&consent, ConsentEnd::Withdrawn).await?,
            None => false,
        };
        if !ended {
            return Err(SessionError::NotLinked);
        }
        tracing::info!(account_id = %session.account_id, client_id, "service unlinked");
        Ok(())
    }

    /// A consent receipt for the citizen's standing consent to `client_id`
    /// (`OidcService::consent_receipt`): a JWT signed by civpass.
    ///
    /// Errors: `Unauthenticated`; `NotLinked` without a standing consent.
    pub async fn consent_receipt(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<String, SessionError> {
        let session = self.app_session(token).await?;
        let consent = self
            .consent_with(&session.account_id, client_id)
            .await?
            .ok_or(SessionError::NotLinked)?;
        let client = self.oidc.client_record(client_id).await?.ok_or(SessionError::NotLinked)?;
        Ok(self.oidc.consent_receipt(&client, &consent)?)
    }

    /// The citizen's own records of anonymous form fillings, oldest first.
    ///
    /// Errors: `Unauthenticated`.
    pub async fn anonymous_fillings(
        &self,
        token: &str,
    ) -> Result<Vec<crate::consent::model::FillingRecord>, SessionError> {
        let session = self.app_session(token).await?;
        let lookup = crate::oidc::token::anonymous_lookup(&self.ctx, &session.account_id);
        let mut out = Vec::new();
        let key = self.ctx.data_key(&session.account_id).await?;
        for filling in self.consent.anonymous_fillings(&lookup).await? {
            let plaintext = key
                .open(&filling.sealed, session.account_id.as_bytes())
                .map_err(|e| Internal::caused("opening a filling record", e))?;
            out.push(
                serde_json::from_slice(&plaintext)
                    .map_err(|e| Internal::caused("reading a filling record", e))?,
            );
        }
        Ok(out)
    }

    /// Ends standing consents that expired, as a withdrawal does; returns how many. Run by the
    /// housekeeping.
    pub async fn end_expired_consents(&self) -> Result<usize, Internal> {
        let expired = self.consent.expired(self.ctx.now(), 100).await?;
        let mut ended = 0;
        for consent in &expired {
            if self.end_consent(consent, ConsentEnd::Expired).await? {
                ended += 1;
            }
        }
        if ended > 0 {
            tracing::info!(ended, "expired consents ended");
        }
        Ok(ended)
    }

    /// Ends `consent` (withdrawn now, or expired if it still is): the consent goes, the
    /// service's grants are revoked, and the service is told, by back-channel logout and by
    /// the security events it asked for, stored in the same transaction. False if there was
    /// nothing to end.
    async fn end_consent(&self, consent: &Consent, why: ConsentEnd) -> Result<bool, Internal> {
        let now = self.ctx.now();
        let account_id = consent.account_id.clone();
        let client = self.oidc.client_record(consent.client_id.as_str()).await?;
        let template = client.as_ref().and_then(|c| self.oidc.logout_notice(c, &account_id, None));
        let events = client
            .as_ref()
            .and_then(|c| self.oidc.consent_ended_events(c, &account_id, consent, why));
        let client = consent.client_id.clone();
        let notices = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let deleted = match why {
                    ConsentEnd::Withdrawn => tx.delete_consent(&account_id, &client).await?,
                    ConsentEnd::Expired => {
                        tx.delete_expired_consent(&account_id, &client, now).await?
                    }
                };
                if !deleted {
                    return Ok(None);
                }
                let ended = tx.revoke_live_grants(&account_id, &client, now).await?;
                let mut notices = template.map(|t| per_session(&t, &ended)).unwrap_or_default();
                notices.extend(events.map(|e| e.messages(&ended)).unwrap_or_default());
                for notice in &notices {
                    tx.insert_message(notice).await?;
                }
                Ok(Some(notices))
            })
        })
        .await?;
        match notices {
            Some(notices) => {
                self.oidc.logout_queued(&notices);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
