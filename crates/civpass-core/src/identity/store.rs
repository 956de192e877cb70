//! The identity slice's storage ports: accounts with the evidence they rest on, and the
//! attempt counters that limit how often one identity may be tried.

use async_trait::async_trait;

use crate::identity::evidence::EvidenceRecord;
use crate::identity::model::Device;
use crate::identity::model::{Account, AccountEvent, GuardianLink, PendingRecovery, Tier};
use crate::kernel::UnixTime;
use crate::kernel::ids::{AccountId, DeviceId};
use crate::kernel::store::StoreResult;

#[async_trait]
pub trait AccountStore {
    /// Inserts a new account with its first device and the evidence its identity rests on, in
    /// one transaction; `Conflict` if the HKID hash is taken.
    async fn insert_account(
        &self,
        account: &Account,
        device: &Device,
        evidence: &EvidenceRecord,
    ) -> StoreResult<()>;
    /// Moves an account to a new device after its phone was lost: revokes every active device
    /// of the account at `now`, adds `device` and the evidence it rests on, in one transaction;
    /// returns how many devices were revoked. `Conflict` if the device's key is taken.
    async fn recover_account(
        &self,
        device: &Device,
        evidence: &EvidenceRecord,
        now: UnixTime,
    ) -> StoreResult<u64>;
    /// A move that waits; `Conflict` if one waits for the account already.
    async fn insert_pending_recovery(&self, recovery: &PendingRecovery) -> StoreResult<()>;
    async fn pending_recovery(
        &self,
        account_id: &AccountId,
    ) -> StoreResult<Option<PendingRecovery>>;
    /// The move whose new device has this id.
    async fn pending_recovery_of_device(
        &self,
        device_id: &DeviceId,
    ) -> StoreResult<Option<PendingRecovery>>;
    /// Marks a waiting move stopped at `now`; false if it was not waiting.
    async fn stop_pending_recovery(&self, device_id: &DeviceId, now: UnixTime)
    -> StoreResult<bool>;
    /// Forgets a move (dropped), whatever its state; false if there was none.
    async fn delete_pending_recovery(&self, account_id: &AccountId) -> StoreResult<bool>;
    /// Forgets stopped moves stopped before `cutoff`; returns how many.
    async fn delete_stopped_recoveries_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    /// The waiting (not stopped) moves whose time has come at `now`.
    async fn due_recoveries(&self, now: UnixTime) -> StoreResult<Vec<PendingRecovery>>;
    /// Completes a waiting move in one transaction: it is taken (if it still waits), and, if
    /// the account is not suspended and no device was added to it since the move began, every
    /// device is revoked and the new one added with its evidence. `Some(revoked)` when it moved,
    /// `None` when the move no longer stood (stopped, or overtaken: then it is forgotten).
    async fn activate_recovery(
        &self,
        recovery: &PendingRecovery,
        device: &Device,
        evidence: &EvidenceRecord,
        now: UnixTime,
    ) -> StoreResult<Option<u64>>;
    /// A minor's guardian link, before the minor's account is inserted (`insert_account`).
    async fn insert_guardian_link(&self, link: &GuardianLink) -> StoreResult<()>;
    async fn find_guardian_link(&self, id: &str) -> StoreResult<Option<GuardianLink>>;
    /// Links that wait for this guardian's approval at `now`, oldest first.
    async fn guardian_links_awaiting(
        &self,
        guardian_account_id: &AccountId,
        now: UnixTime,
    ) -> StoreResult<Vec<GuardianLink>>;
    /// Every link in which the account is the minor or the guardian, oldest first.
    async fn guardian_links_of(&self, account_id: &AccountId) -> StoreResult<Vec<GuardianLink>>;
    /// The evidence records of an account, oldest first.
    async fn list_evidence(&self, account_id: &AccountId) -> StoreResult<Vec<EvidenceRecord>>;
    async fn find_account_by_hkid_hash(&self, hkid_hash: &str) -> StoreResult<Option<Account>>;
    async fn get_account(&self, id: &AccountId) -> StoreResult<Account>;
    /// The operator's acts on an account, oldest first.
    async fn list_account_events(&self, account_id: &AccountId) -> StoreResult<Vec<AccountEvent>>;
    /// An account's devices, active and revoked, oldest first.
    async fn list_devices(&self, account_id: &AccountId) -> StoreResult<Vec<Device>>;
    /// Where the registry's event feed was read up to (the last event id applied from it).
    async fn registry_cursor(&self) -> StoreResult<Option<String>>;
    async fn set_registry_cursor(&self, cursor: &str) -> StoreResult<()>;
}

/// The account writes a slice's transaction offers (the counter's confirmation, an operator's
/// act with the logouts it causes).
#[async_trait]
pub trait AccountWrites: Send {
    /// Sets an account's tier if it is `from`; false if it was not.
    async fn change_tier(&mut self, id: &AccountId, from: Tier, to: Tier) -> StoreResult<bool>;
    /// Marks a guardian's link approved at `now` if it still waits and has not expired, and
    /// ends the minor account's wait; false if the link did not wait.
    async fn approve_guardian_link(
        &mut self,
        link: &GuardianLink,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Suspends (`Some(at)`) an active account or reinstates (`None`) a suspended one; false if
    /// it was not in the state to change from.
    async fn set_suspended(&mut self, id: &AccountId, at: Option<UnixTime>) -> StoreResult<bool>;
    async fn insert_account_event(&mut self, event: &AccountEvent) -> StoreResult<()>;
    /// Marks a registry event applied; false if it was already (then nothing else is done).
    async fn record_registry_event(&mut self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Replaces an account's sealed vault (new names from the registry).
    async fn replace_vault(&mut self, id: &AccountId, vault: &[u8]) -> StoreResult<()>;
    /// Records evidence an account rests on (an upgrade's).
    async fn insert_evidence(&mut self, evidence: &EvidenceRecord) -> StoreResult<()>;
    /// Revokes every active device of the account; returns how many.
    async fn revoke_all_devices(
        &mut self,
        account_id: &AccountId,
        now: UnixTime,
    ) -> StoreResult<u64>;
    /// Adds a device to an account.
    async fn insert_device(&mut self, device: &Device) -> StoreResult<()>;
    /// Revokes an active device of the account; false if it was not one.
    async fn revoke_device(
        &mut self,
        account_id: &AccountId,
        device_id: &DeviceId,
        now: UnixTime,
    ) -> StoreResult<bool>;
}

/// Counters of attempts per key in fixed windows: how many times something (a registration
/// naming one identity) was tried lately, whatever address it came from.
#[async_trait]
pub trait AttemptStore {
    /// Counts one attempt under `key` and returns the attempts in the current window, this one
    /// included. A window that began at or before `window_start_cutoff` is over: the count starts
    /// again at one, in a window beginning at `now`.
    async fn count_attempt(
        &self,
        key: &str,
        now: UnixTime,
        window_start_cutoff: UnixTime,
    ) -> StoreResult<i64>;
    /// Forgets counters whose window began before `cutoff`; returns how many.
    async fn delete_attempts_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    async fn find_device(&self, id: &DeviceId) -> StoreResult<Option<Device>>;
    /// Whether an active device holds this public key.
    async fn public_key_in_use(&self, public_key: &str) -> StoreResult<bool>;
    /// The active device that holds this public key, if any.
    async fn active_device_by_key(&self, public_key: &str) -> StoreResult<Option<Device>>;
    /// Whether any device, active or revoked, holds this passkey credential id.
    async fn credential_registered(&self, credential_id: &str) -> StoreResult<bool>;
    /// Revokes `old_device_id` and adds `new_device` in one step; false if the old device was
    /// no longer active.
    async fn replace_device(
        &self,
        old_device_id: &DeviceId,
        new_device: &Device,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Replaces a device's key record if it is still `old_key` (a passkey's counter moved);
    /// false if it changed meanwhile or the device was revoked.
    async fn update_device_key(
        &self,
        device_id: &DeviceId,
        old_key: &str,
        new_key: &str,
    ) -> StoreResult<bool>;
}
