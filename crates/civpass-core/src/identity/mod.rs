//! Identity: who a citizen is. The HKID type, the population registry port, the identity
//! evidence a registration rests on, the account with its sealed vault and its devices, and
//! registration itself (`registration.rs`: the identity check, then an account with its first
//! device; moving to a new phone).

pub mod evidence;
pub mod guardian;
pub mod hkid;
pub mod in_person;
pub mod model;
pub mod registration;
pub mod registry;
pub mod store;

use std::sync::Arc;

use crate::identity::evidence::{EvidenceRecord, EvidenceVerifier};
use crate::identity::model::{Account, Device};
use crate::identity::registry::RegistrySource;
use crate::identity::store::{AccountStore, AttemptStore, DeviceStore};
use crate::kernel::ceremony::Ceremonies;
use crate::kernel::store::StoreResult;
use crate::kernel::{AccountId, Ctx, DeviceId, Internal};

/// The storage ports the identity slice uses.
pub trait IdentityStores: AccountStore + AttemptStore + DeviceStore + Send + Sync {}

impl<T: AccountStore + AttemptStore + DeviceStore + Send + Sync> IdentityStores for T {}

/// The identity slice's use cases: registration and the vault. The only service that seals or
/// opens an account's identity data.
#[derive(Clone)]
pub struct IdentityService {
    pub(crate) ctx: Ctx,
    pub(crate) store: Arc<dyn IdentityStores>,
    pub(crate) registry: Arc<dyn RegistrySource>,
    pub(crate) evidence: Arc<dyn EvidenceVerifier>,
    pub(crate) ceremonies: Ceremonies,
}

impl IdentityService {
    /// Whether the evidence verifier is the sandbox's, which passes whatever a tester asks.
    pub fn evidence_is_sandbox(&self) -> bool {
        self.evidence.is_sandbox()
    }

    /// An account, for the slices above (`NotFound` if there is none).
    pub(crate) async fn account(&self, id: &AccountId) -> StoreResult<Account> {
        self.store.get_account(id).await
    }

    /// The account with this keyed hash of its ID number, if there is one.
    pub(crate) async fn account_by_hkid_hash(
        &self,
        hkid_hash: &str,
    ) -> StoreResult<Option<Account>> {
        self.store.find_account_by_hkid_hash(hkid_hash).await
    }

    /// Where the registry's event feed was read up to.
    pub(crate) async fn registry_cursor(&self) -> Result<Option<String>, Internal> {
        Ok(self.store.registry_cursor().await?)
    }

    pub(crate) async fn set_registry_cursor(&self, cursor: &str) -> Result<(), Internal> {
        Ok(self.store.set_registry_cursor(cursor).await?)
    }

    /// The registry's change events after `cursor`.
    pub(crate) async fn registry_events_after(
        &self,
        cursor: Option<&str>,
    ) -> Result<
        Vec<crate::identity::registry::RegistryEvent>,
        crate::identity::registry::RegistryError,
    > {
        self.registry.events_after(cursor).await
    }

    /// Counts one attempt of `what` for `subject` (an account id, an address) in a window of
    /// `window` seconds; returns the attempts in the window, this one included (a keyed hash
    /// names the counter, so no address is stored).
    pub(crate) async fn count_attempt_of(
        &self,
        what: &str,
        subject: &str,
        window: i64,
    ) -> Result<i64, Internal> {
        let key = self.ctx.secrets.lookup.hash(&[what.as_bytes(), subject.as_bytes()]);
        let now = self.ctx.now();
        Ok(self.store.count_attempt(&key, now, now - window).await?)
    }

    /// `identity` sealed as an account's vault.
    pub(crate) async fn seal_vault(
        &self,
        account_id: &AccountId,
        identity: &crate::identity::model::Identity,
    ) -> Result<Vec<u8>, Internal> {
        let plaintext =
            serde_json::to_vec(identity).map_err(|e| Internal::caused("writing an identity", e))?;
        self.ctx.data_key(account_id).await?.seal(&plaintext, account_id.as_bytes())
    }

    /// An account's devices, active and revoked, oldest first.
    pub(crate) async fn devices_of(&self, account_id: &AccountId) -> Result<Vec<Device>, Internal> {
        Ok(self.store.list_devices(account_id).await?)
    }

    /// The operator's acts on an account, oldest first.
    pub(crate) async fn account_events(
        &self,
        account_id: &AccountId,
    ) -> Result<Vec<crate::identity::model::AccountEvent>, Internal> {
        Ok(self.store.list_account_events(account_id).await?)
    }

    /// An operator's reason, opened.
    pub(crate) async fn open_reason(
        &self,
        event: &crate::identity::model::AccountEvent,
    ) -> Result<String, Internal> {
        self.open_text(&event.sealed_reason, &event.account_id, "a reason").await
    }

    /// The reference an evidence record keeps sealed (a vendor's session, or a counter act).
    pub(crate) async fn evidence_reference(
        &self,
        record: &EvidenceRecord,
    ) -> Result<String, Internal> {
        self.open_text(&record.sealed_reference, &record.account_id, "an evidence reference").await
    }

    /// Text sealed with an account's id as associated data.
    async fn open_text(
        &self,
        sealed: &[u8],
        account_id: &AccountId,
        what: &str,
    ) -> Result<String, Internal> {
        let plain = self
            .ctx
            .data_key(account_id)
            .await?
            .open(sealed, account_id.as_bytes())
            .map_err(|e| Internal::caused(format!("opening {what}"), e))?;
        String::from_utf8(plain).map_err(|e| Internal::caused(format!("reading {what}"), e))
    }

    /// Whether an active device holds this public key.
    pub(crate) async fn active_device_by_key(
        &self,
        public_key: &str,
    ) -> StoreResult<Option<Device>> {
        self.store.active_device_by_key(public_key).await
    }

    pub(crate) async fn credential_registered(&self, credential_id: &str) -> StoreResult<bool> {
        self.store.credential_registered(credential_id).await
    }

    pub(crate) async fn public_key_in_use(&self, public_key: &str) -> StoreResult<bool> {
        self.store.public_key_in_use(public_key).await
    }

    /// The evidence an account's identity rests on, oldest first.
    pub(crate) async fn evidence_records(
        &self,
        account_id: &AccountId,
    ) -> StoreResult<Vec<EvidenceRecord>> {
        self.store.list_evidence(account_id).await
    }

    /// A device, active or revoked, if it exists.
    /// The device, if it is active (not revoked).
    pub(crate) async fn active_device(&self, id: &DeviceId) -> StoreResult<Option<Device>> {
        Ok(self.device(id).await?.filter(|d| d.revoked_at.is_none()))
    }

    pub(crate) async fn device(&self, id: &DeviceId) -> StoreResult<Option<Device>> {
        self.store.find_device(id).await
    }

    /// Housekeeping: forgets attempt counters whose window is long over (the longest, a
    /// day's, of `count_attempt_of`) and stopped moves; returns how many rows changed. The
    /// remote moves whose waiting time is over are completed by the signing slice
    /// (`SigningService::complete_due_moves`), which ends the old phone's certificates too.
    pub async fn purge_expired(&self) -> Result<u64, Internal> {
        Ok(self.store.delete_attempts_before(self.ctx.now() - 2 * 86_400).await?
            + self.purge_stopped_recoveries().await?)
    }
}
