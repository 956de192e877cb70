//! A new citizen (or one whose phone was lost) at a counter with the app: the app makes a
//! passkey first, which a registration code is bound to (by its credential id); the app follows
//! what the officer did with a token only it holds, and confirms with an assertion by that
//! passkey, which becomes the account's device when the act takes effect. (A software key signs
//! the same steps instead: `issue_code`, `pending`, `confirm`.)

use civpass_crypto::secret::{hash_secret, random_token};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

use crate::counter::model::{CounterAct, PendingPasskey};
use crate::counter::{
    CODE_TTL, CONFIRM_TTL, Confirmed, CounterError, CounterService, IssuedCode, NewPasskeyDevice,
    PendingAct,
};
use crate::device::passkey::{Challenge, ProofFailure};
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::store::StoreError;
use crate::kernel::{DeviceId, Internal};

/// A code bound to a passkey the app just made, and the token the app follows it with.
#[derive(Debug, Clone)]
pub struct NewPasskeyCode {
    pub code: IssuedCode,
    /// Shown once; the app keeps it in memory while it waits.
    pub token: String,
}

fn binding(credential_id: &str) -> String {
    format!("passkey:{credential_id}")
}

impl CounterService {
    /// Step one: the options for the passkey the app makes for a counter registration.
    ///
    /// Errors: `PasskeysUnavailable` (as `Internal` never: `None` is returned instead).
    pub async fn start_counter_passkey(
        &self,
    ) -> Result<Option<Challenge<CreationChallengeResponse>>, CounterError> {
        Ok(self
            .device
            .start_other_passkey_registration(
                self.ctx.new_id(),
                "civpass",
                &CeremonyPurpose::CounterPasskey,
                (),
            )
            .await?)
    }

    /// Step two: the passkey is kept, waiting, and a registration code bound to it is issued
    /// with the token the app follows it with.
    ///
    /// Errors: `InvalidProof` (the passkey does not verify, or the ceremony is unknown, used or
    /// expired), `KeyEnrolled` (a credential registered already).
    pub async fn finish_counter_passkey(
        &self,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<NewPasskeyCode, CounterError> {
        let (_, record, credential_id) = match self
            .device
            .finish_other_passkey_registration::<()>(
                ceremony_id,
                &CeremonyPurpose::CounterPasskey,
                credential,
            )
            .await?
        {
            Ok(done) => done,
            Err(ProofFailure::NoCeremony | ProofFailure::Invalid) => {
                return Err(CounterError::InvalidProof);
            }
        };
        if self.identity.credential_registered(&credential_id).await.map_err(Internal::from)? {
            return Err(CounterError::KeyEnrolled);
        }
        let token = random_token(32);
        let pending = PendingPasskey {
            credential_id: credential_id.clone(),
            record,
            token_hash: hash_secret(&token),
            // Long enough for the code and the confirmation after it.
            expires_at: self.ctx.now() + CODE_TTL + CONFIRM_TTL,
        };
        match self.store.insert_pending_passkey(&pending).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(CounterError::KeyEnrolled),
            Err(e) => return Err(e.into()),
        }
        let code = self.new_code(binding(&credential_id), None).await?;
        Ok(NewPasskeyCode { code, token })
    }

    async fn pending_passkey(&self, token: &str) -> Result<PendingPasskey, CounterError> {
        self.store
            .pending_passkey(&hash_secret(token), self.ctx.now())
            .await?
            .ok_or(CounterError::UnknownDevice)
    }

    /// What waits for the passkey the app made, followed with its token.
    ///
    /// Errors: `UnknownDevice` (the token is unknown or expired).
    pub async fn pending_for_new_passkey(
        &self,
        token: &str,
    ) -> Result<Vec<PendingAct>, CounterError> {
        let passkey = self.pending_passkey(token).await?;
        self.awaiting_for(&binding(&passkey.credential_id), self.ctx.now()).await
    }

    async fn act_for(
        &self,
        passkey: &PendingPasskey,
        act_id: &str,
    ) -> Result<CounterAct, CounterError> {
        let act = self.awaiting(act_id).await?;
        if act.public_key.as_deref() != Some(binding(&passkey.credential_id).as_str()) {
            return Err(CounterError::NotPending);
        }
        Ok(act)
    }

    /// Step one of confirming with the new passkey: options bound to the act and the passkey.
    ///
    /// Errors: `UnknownDevice`, `NotPending`.
    pub async fn start_new_passkey_confirm(
        &self,
        token: &str,
        act_id: &str,
    ) -> Result<Option<Challenge<RequestChallengeResponse>>, CounterError> {
        let passkey = self.pending_passkey(token).await?;
        let act = self.act_for(&passkey, act_id).await?;
        let purpose =
            CeremonyPurpose::CounterNewPasskey { act: act.id, credential: passkey.credential_id };
        Ok(self.device.start_stored_passkey_assertion(&passkey.record, &purpose).await?)
    }

    /// Step two: the assertion, then the act takes effect with the passkey as the new device.
    ///
    /// Errors: as `confirm`; `UnknownDevice` for an unknown or expired token.
    pub async fn finish_new_passkey_confirm(
        &self,
        token: &str,
        act_id: &str,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
    ) -> Result<Confirmed, CounterError> {
        let passkey = self.pending_passkey(token).await?;
        let act = self.act_for(&passkey, act_id).await?;
        let purpose = CeremonyPurpose::CounterNewPasskey {
            act: act.id.clone(),
            credential: passkey.credential_id.clone(),
        };
        let record = match self
            .device
            .verify_stored_passkey(&passkey.record, ceremony_id, &purpose, credential)
            .await?
        {
            Err(_) => return Err(CounterError::InvalidProof),
            Ok(None) => passkey.record.clone(),
            Ok(Some(updated)) => {
                if !self
                    .store
                    .update_pending_passkey(&passkey.credential_id, &passkey.record, &updated)
                    .await?
                {
                    return Err(CounterError::InvalidProof);
                }
                updated
            }
        };
        let device = NewPasskeyDevice { record, credential_id: passkey.credential_id.clone() };
        let done = self.take_effect_on(act, Some(device)).await?;
        self.store.delete_pending_passkey(&passkey.credential_id).await?;
        tracing::info!(device_id = %DeviceId::from(done.device_id.as_str()), "a passkey made at a counter became the account's device");
        Ok(done)
    }
}
