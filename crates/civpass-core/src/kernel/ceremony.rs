//! Ceremonies: challenges in progress (a WebAuthn challenge, a registration's nonce), whose
//! state waits sealed in the store until it is answered once, for the purpose it was opened
//! for, before it expires.

use std::sync::Arc;

use async_trait::async_trait;
use civpass_crypto::secret::random_token;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::kernel::store::StoreResult;
use crate::kernel::{Ctx, DeviceId, Internal, LoginRequestId, UnixTime};

/// A WebAuthn or device-signature ceremony in progress: the server's half, kept between the
/// challenge and the answer, used once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub id: String,
    /// What the answer may be used for, e.g. `register` or `session:{device_id}`.
    pub purpose: String,
    /// The ceremony state as JSON, sealed with the id as associated data (a registration holds
    /// the identity details being registered).
    pub sealed_state: Vec<u8>,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait CeremonyStore: Send + Sync {
    async fn insert_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()>;
    /// Removes and returns the ceremony `id` opened for `purpose` if it has not expired at
    /// `now`: each is answered once. One opened for another purpose is left alone, so that an
    /// answer meant for something else (another account's, say) cannot use it up.
    async fn take_ceremony(
        &self,
        id: &str,
        purpose: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Ceremony>>;
    /// Deletes ceremonies that expired before `cutoff`; returns how many.
    async fn delete_ceremonies_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

/// What a ceremony's answer may be used for: it is taken only for the purpose it was opened
/// for, so a challenge answered for one login cannot approve another, or open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CeremonyPurpose {
    /// A registration's identity check: the nonce the evidence vendor binds.
    IdentityCheck,
    /// Registering a passkey with a registration.
    RegisterPasskey,
    /// Approving or denying one login request with one device.
    Decision { request: LoginRequestId, device: DeviceId },
    /// Opening the app's session with one device.
    Session { device: DeviceId },
    /// A member of staff making their console passkey, through their one-time enrolment link.
    StaffEnrolment { staff: String },
    /// A member of staff signing in to the counter console.
    StaffSignIn { staff: String },
    /// A citizen confirming an officer's act with the passkey device the code was bound to.
    CounterConfirm { act: String, device: DeviceId },
    /// The app making a passkey for a registration (or a lost phone's move) at a counter.
    CounterPasskey,
    /// A citizen confirming an officer's act with the passkey the app made for it.
    CounterNewPasskey { act: String, credential: String },
    /// An e-mail address's one-time link (its id is the link's token).
    EmailVerification,
    /// A mobile number's one-time code, answered by the account's app.
    PhoneVerification { account: crate::kernel::AccountId },
}

impl std::fmt::Display for CeremonyPurpose {
    /// The stored form (`identity-check`, `register`, `login:{request}:{device}`,
    /// `session:{device}`, `staff-enrolment:{staff}`, `staff-sign-in:{staff}`,
    /// `counter-confirm:{act}:{device}`), unchanged from when purposes were strings.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CeremonyPurpose::IdentityCheck => f.write_str("identity-check"),
            CeremonyPurpose::RegisterPasskey => f.write_str("register"),
            CeremonyPurpose::Decision { request, device } => write!(f, "login:{request}:{device}"),
            CeremonyPurpose::Session { device } => write!(f, "session:{device}"),
            CeremonyPurpose::StaffEnrolment { staff } => write!(f, "staff-enrolment:{staff}"),
            CeremonyPurpose::StaffSignIn { staff } => write!(f, "staff-sign-in:{staff}"),
            CeremonyPurpose::CounterConfirm { act, device } => {
                write!(f, "counter-confirm:{act}:{device}")
            }
            CeremonyPurpose::CounterPasskey => f.write_str("counter-passkey"),
            CeremonyPurpose::CounterNewPasskey { act, credential } => {
                write!(f, "counter-new-passkey:{act}:{credential}")
            }
            CeremonyPurpose::EmailVerification => f.write_str("email-verification"),
            CeremonyPurpose::PhoneVerification { account } => {
                write!(f, "phone-verification:{account}")
            }
        }
    }
}

/// Opens and takes ceremonies; each slice that challenges a device holds one.
#[derive(Clone)]
pub struct Ceremonies {
    ctx: Ctx,
    store: Arc<dyn CeremonyStore>,
}

impl Ceremonies {
    pub fn new(ctx: Ctx, store: Arc<dyn CeremonyStore>) -> Ceremonies {
        Ceremonies { ctx, store }
    }

    /// A ceremony that may be answered for the configured `ceremony_ttl`; returns its id.
    pub async fn open<T: Serialize>(
        &self,
        purpose: &CeremonyPurpose,
        state: &T,
    ) -> Result<String, Internal> {
        self.open_for(purpose, state, self.ctx.settings.ceremony_ttl).await
    }

    /// A ceremony that may be answered for `ttl` seconds.
    pub async fn open_for<T: Serialize>(
        &self,
        purpose: &CeremonyPurpose,
        state: &T,
        ttl: i64,
    ) -> Result<String, Internal> {
        let id = random_token(16);
        let json =
            serde_json::to_vec(state).map_err(|e| Internal::caused("writing a ceremony", e))?;
        let sealed_state = self
            .ctx
            .secrets
            .sealing
            .seal(&json, id.as_bytes())
            .map_err(|e| Internal::caused("sealing a ceremony", e))?;
        let ceremony = Ceremony {
            id: id.clone(),
            purpose: purpose.to_string(),
            sealed_state,
            expires_at: self.ctx.now() + ttl,
        };
        self.store.insert_ceremony(&ceremony).await?;
        Ok(id)
    }

    /// The ceremony's state if it exists, has not expired and is for `purpose`; it is used up
    /// then, or if it expired, but not by a take for another purpose.
    pub async fn take<T: DeserializeOwned>(
        &self,
        id: &str,
        purpose: &CeremonyPurpose,
    ) -> Result<Option<T>, Internal> {
        let wanted = purpose.to_string();
        let Some(ceremony) = self.store.take_ceremony(id, &wanted, self.ctx.now()).await? else {
            return Ok(None);
        };
        if ceremony.purpose != purpose.to_string() {
            return Ok(None);
        }
        let json = self
            .ctx
            .secrets
            .sealing
            .open(&ceremony.sealed_state, id.as_bytes())
            .map_err(|_| Internal::new(format!("ceremony {id} cannot be opened")))?;
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| Internal::caused("reading a ceremony", e))
    }

    /// Deletes ceremonies that expired; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, Internal> {
        Ok(self.store.delete_ceremonies_expired_before(self.ctx.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purpose_is_stored_in_the_form_it_had_as_a_string() {
        let decision = CeremonyPurpose::Decision { request: "r1".into(), device: "d_1".into() };
        let session = CeremonyPurpose::Session { device: "d_1".into() };
        let stored = [
            CeremonyPurpose::IdentityCheck.to_string(),
            CeremonyPurpose::RegisterPasskey.to_string(),
            decision.to_string(),
            session.to_string(),
        ];
        assert_eq!(stored, ["identity-check", "register", "login:r1:d_1", "session:d_1"]);
    }
}
