//! The app's session: what the app may do for a while after one passkey check.

use crate::kernel::clock::UnixTime;
use crate::kernel::ids::{AccountId, DeviceId};

/// A short session of the citizen's app, opened with the device key, for reading and managing
/// the account (linked services, identity data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSession {
    pub token_hash: String,
    pub account_id: AccountId,
    pub device_id: DeviceId,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}
