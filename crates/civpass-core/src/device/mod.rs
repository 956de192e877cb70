//! Devices: a citizen's phone as the authenticator. Passkeys (WebAuthn, user verification
//! required): registering one with a registration, and asserting with one to approve a login
//! or open the app's session.

pub mod passkey;

use std::sync::Arc;

use crate::identity::IdentityService;
use crate::identity::store::DeviceStore;
use crate::kernel::ceremony::{Ceremonies, CeremonyPurpose};
use crate::kernel::{Ctx, Internal};

/// The passkey use cases; registration itself belongs to the identity slice.
#[derive(Clone)]
pub struct DeviceService {
    pub(crate) ctx: Ctx,
    pub(crate) identity: IdentityService,
    pub(crate) ceremonies: Ceremonies,
    pub(crate) store: Arc<dyn DeviceStore>,
    /// The WebAuthn relying party; `None` when the issuer has no domain name.
    pub(crate) webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

impl DeviceService {
    /// The challenge a software key was given for `purpose` (by `start_assertion`), taken: it
    /// is answered once. `None` if there is none, it expired, or it was for another purpose.
    pub(crate) async fn software_challenge(
        &self,
        ceremony_id: &str,
        purpose: &CeremonyPurpose,
    ) -> Result<Option<String>, Internal> {
        self.ceremonies.take::<String>(ceremony_id, purpose).await
    }

    /// Deletes ceremonies (of every purpose) that expired; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, Internal> {
        self.ceremonies.purge_expired().await
    }

    /// Whether the app can register and use passkeys on this server.
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }
}
