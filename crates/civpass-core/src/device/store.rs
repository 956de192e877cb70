//! The device slice's storage ports: devices (keys and passkeys) and WebAuthn ceremonies.

use async_trait::async_trait;

use crate::device::model::{Ceremony, Device};
use crate::kernel::UnixTime;
use crate::kernel::store::StoreResult;

#[async_trait]
pub trait DeviceStore {
    async fn find_device(&self, id: &str) -> StoreResult<Option<Device>>;
    /// Whether any device, active or revoked, holds this passkey credential id.
    async fn credential_registered(&self, credential_id: &str) -> StoreResult<bool>;
    /// Revokes `old_device_id` and adds `new_device` in one step; false if the old device was
    /// no longer active.
    async fn replace_device(
        &self,
        old_device_id: &str,
        new_device: &Device,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Replaces a device's key record if it is still `old_key` (a passkey's counter moved);
    /// false if it changed meanwhile or the device was revoked.
    async fn update_device_key(
        &self,
        device_id: &str,
        old_key: &str,
        new_key: &str,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait CeremonyStore {
    async fn insert_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()>;
    /// Removes and returns the ceremony if it has not expired at `now`: each is answered once.
    async fn take_ceremony(&self, id: &str, now: UnixTime) -> StoreResult<Option<Ceremony>>;
    /// Deletes ceremonies that expired before `cutoff`; returns how many.
    async fn delete_ceremonies_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}
