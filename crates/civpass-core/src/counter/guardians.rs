//! A guardian's approval of a minor's registration, through the same pending list and
//! confirmation as an officer's act: the guardian's app lists the minor (their name) and
//! approves with a device key of the guardian's account (a software key's signature over
//! `confirm_message(issuer, id, "guardian_approval")`, or the app's passkey). The registry is
//! asked again at approval, so only a guardian it still names, with an adult active plus account,
//! can approve (`identity::guardian`).

use civpass_api::signing::confirm_message;
use civpass_crypto::jws::DevicePublicKey;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use crate::counter::{Confirmed, CounterError, CounterService, PendingAct, PendingKind};
use crate::device::passkey::Challenge;
use crate::identity::model::PendingRecovery;
use crate::identity::model::{Device, DeviceKind, GuardianLink, Tier};
use crate::identity::registration::EnrolError;
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::store::transact;
use crate::kernel::{AccountId, DeviceId, Internal};

/// Guardian links' ids start so; an officer's acts' with `ca_`.
pub(crate) const LINK_PREFIX: &str = "gl_";
/// A waiting remote move is listed as `rc_` and the account's id (which its devices know).
pub(crate) const RECOVERY_PREFIX: &str = "rc_";

impl CounterService {
    /// The active software device of `account` whose key made `signature` over `message`:
    /// confirmations that any device of an account may give (not bound to one key).
    ///
    /// Errors: `InvalidProof` if none did.
    async fn signer_of(
        &self,
        account: &AccountId,
        message: &[u8],
        signature: &str,
    ) -> Result<Device, CounterError> {
        self.identity
            .devices_of(account)
            .await?
            .into_iter()
            .find(|d| {
                d.revoked_at.is_none()
                    && d.kind == DeviceKind::Software
                    && DevicePublicKey::parse(&d.public_key)
                        .is_ok_and(|k| k.verify(message, signature).is_ok())
            })
            .ok_or(CounterError::InvalidProof)
    }

    /// Minors' registrations that wait for this account as their guardian.
    pub(crate) async fn guardian_pending(
        &self,
        guardian: &AccountId,
    ) -> Result<Vec<PendingAct>, CounterError> {
        let mut out = Vec::new();
        for link in self.identity.guardian_links_awaiting(guardian).await? {
            let minor =
                self.identity.account(&link.minor_account_id).await.map_err(Internal::from)?;
            let identity = self.identity.open_identity(&minor).await?;
            out.push(PendingAct {
                id: link.id,
                kind: PendingKind::GuardianApproval,
                name_en: identity.name_en,
                point_name_en: String::new(),
                point_name_zh_hant: String::new(),
                point_name_zh_hans: String::new(),
                at: link.requested_at,
                expires_at: link.expires_at,
            });
        }
        Ok(out)
    }

    /// The link if it waits for approval by `guardian`'s account.
    async fn awaiting_link(
        &self,
        id: &str,
        guardian: &AccountId,
    ) -> Result<GuardianLink, CounterError> {
        let link = self
            .identity
            .guardian_link(id)
            .await?
            .filter(|l| l.approved_at.is_none() && &l.guardian_account_id == guardian)
            .ok_or(CounterError::NotPending)?;
        if link.expires_at <= self.ctx.now() {
            return Err(CounterError::Expired);
        }
        Ok(link)
    }

    /// The guardian approves with a software key's signature: any active software device of
    /// the guardian's account may sign.
    pub(crate) async fn approve_by_signature(
        &self,
        id: &str,
        signature: &str,
    ) -> Result<Confirmed, CounterError> {
        let link = self
            .identity
            .guardian_link(id)
            .await?
            .filter(|l| l.approved_at.is_none())
            .ok_or(CounterError::NotPending)?;
        let message = confirm_message(&self.ctx.settings.issuer, id, "guardian_approval");
        let signer = self.signer_of(&link.guardian_account_id, &message, signature).await?;
        let link = self.awaiting_link(id, &signer.account_id).await?;
        self.approve(link, &signer).await
    }

    /// Step one of a guardian's approval with the app's passkey.
    pub(crate) async fn start_guardian_passkey(
        &self,
        id: &str,
        device: &Device,
    ) -> Result<Option<Challenge<RequestChallengeResponse>>, CounterError> {
        let link = self.awaiting_link(id, &device.account_id).await?;
        if device.kind != DeviceKind::Passkey || device.revoked_at.is_some() {
            return Err(CounterError::NotPending);
        }
        let purpose = CeremonyPurpose::CounterConfirm { act: link.id, device: device.id.clone() };
        Ok(self.device.start_stored_passkey_assertion(&device.public_key, &purpose).await?)
    }

    /// Step two: the assertion, then the approval.
    pub(crate) async fn finish_guardian_passkey(
        &self,
        id: &str,
        device: &Device,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
    ) -> Result<Confirmed, CounterError> {
        let link = self.awaiting_link(id, &device.account_id).await?;
        let purpose =
            CeremonyPurpose::CounterConfirm { act: link.id.clone(), device: device.id.clone() };
        if self.device.verify_passkey(device, ceremony_id, &purpose, credential).await?.is_err() {
            return Err(CounterError::InvalidProof);
        }
        self.approve(link, device).await
    }

    async fn approve(&self, link: GuardianLink, by: &Device) -> Result<Confirmed, CounterError> {
        match self.identity.guardian_still_eligible(&link).await {
            Ok(true) => {}
            Ok(false) => return Err(CounterError::GuardianNotEligible),
            Err(EnrolError::RegistryUnavailable(e)) => {
                return Err(CounterError::RegistryUnavailable(e));
            }
            Err(EnrolError::Internal(e)) => return Err(e.into()),
            Err(_) => return Err(CounterError::GuardianNotEligible),
        }
        let now = self.ctx.now();
        let approving = link.clone();
        let approved = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.approve_guardian_link(&approving, now).await })
        })
        .await?;
        if !approved {
            return Err(CounterError::NotPending);
        }
        tracing::info!(link_id = %link.id, minor_account_id = %link.minor_account_id, guardian_account_id = %link.guardian_account_id, "guardian approved a minor's registration");
        // The confirming device's own account, as for every confirmation (the guardian is
        // plus, or the approval would have been refused).
        Ok(Confirmed {
            account_id: link.guardian_account_id.to_string(),
            device_id: by.id.to_string(),
            tier: Tier::Plus,
        })
    }
}

// -- A waiting remote move, which the account's devices see and may stop ---------------------

impl CounterService {
    /// The remote move waiting for this account, as its devices list it: `rc_` and the new
    /// device's id, so a signature stops that move and no later one.
    pub(crate) async fn recovery_pending(
        &self,
        account: &AccountId,
    ) -> Result<Vec<PendingAct>, CounterError> {
        let Some(waiting) = self.identity.pending_recovery(account).await? else {
            return Ok(Vec::new());
        };
        Ok(vec![PendingAct {
            id: format!("{RECOVERY_PREFIX}{}", waiting.device.id),
            kind: PendingKind::Recovery,
            name_en: String::new(),
            point_name_en: String::new(),
            point_name_zh_hant: String::new(),
            point_name_zh_hans: String::new(),
            at: waiting.created_at,
            expires_at: waiting.activates_at,
        }])
    }

    /// The waiting move an `rc_` id names.
    async fn waiting_move(&self, id: &str) -> Result<PendingRecovery, CounterError> {
        let device = id
            .strip_prefix(RECOVERY_PREFIX)
            .filter(|d| !d.is_empty())
            .map(DeviceId::from)
            .ok_or(CounterError::NotPending)?;
        self.identity.pending_recovery_of_device(&device).await?.ok_or(CounterError::NotPending)
    }

    /// An active software device of the account stops the waiting move with its signature
    /// over `confirm_message(issuer, id, "recovery")`.
    pub(crate) async fn stop_recovery_by_signature(
        &self,
        id: &str,
        signature: &str,
    ) -> Result<Confirmed, CounterError> {
        let waiting = self.waiting_move(id).await?;
        let account = waiting.device.account_id.clone();
        let message = confirm_message(&self.ctx.settings.issuer, id, "recovery");
        let signer = self.signer_of(&account, &message, signature).await?;
        self.stop(&waiting, &signer).await
    }

    fn may_stop(waiting: &PendingRecovery, device: &Device) -> bool {
        device.account_id == waiting.device.account_id
            && device.kind == DeviceKind::Passkey
            && device.revoked_at.is_none()
    }

    pub(crate) async fn start_stop_recovery_passkey(
        &self,
        id: &str,
        device: &Device,
    ) -> Result<Option<Challenge<RequestChallengeResponse>>, CounterError> {
        let waiting = self.waiting_move(id).await?;
        if !Self::may_stop(&waiting, device) {
            return Err(CounterError::NotPending);
        }
        let purpose =
            CeremonyPurpose::CounterConfirm { act: id.to_owned(), device: device.id.clone() };
        Ok(self.device.start_stored_passkey_assertion(&device.public_key, &purpose).await?)
    }

    pub(crate) async fn finish_stop_recovery_passkey(
        &self,
        id: &str,
        device: &Device,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
    ) -> Result<Confirmed, CounterError> {
        let waiting = self.waiting_move(id).await?;
        if !Self::may_stop(&waiting, device) {
            return Err(CounterError::NotPending);
        }
        let purpose =
            CeremonyPurpose::CounterConfirm { act: id.to_owned(), device: device.id.clone() };
        if self.device.verify_passkey(device, ceremony_id, &purpose, credential).await?.is_err() {
            return Err(CounterError::InvalidProof);
        }
        self.stop(&waiting, device).await
    }

    async fn stop(
        &self,
        waiting: &PendingRecovery,
        by: &Device,
    ) -> Result<Confirmed, CounterError> {
        if !self.identity.stop_recovery(&waiting.device.id).await? {
            return Err(CounterError::NotPending);
        }
        let account = &waiting.device.account_id;
        let tier = self.identity.account(account).await.map_err(Internal::from)?.tier;
        Ok(Confirmed { account_id: account.to_string(), device_id: by.id.to_string(), tier })
    }
}
