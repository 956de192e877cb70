//! The app's session: what the app may do for a while after one passkey check; and the
//! platform's figures as the stores count them.

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

/// The platform's totals now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub accounts: u64,
    pub plus: u64,
    pub suspended: u64,
    pub active_devices: u64,
}

/// Remote registrations and upgrades on one Hong Kong day (days since 1970-01-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteDay {
    pub day: i64,
    pub registrations: u64,
    pub upgrades: u64,
}

/// Confirmed counter acts on one Hong Kong day at one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDay {
    pub day: i64,
    pub point_id: String,
    /// The point's kind (`counter`, `post_office`, `kiosk`, `mobile_team`).
    pub point_kind: String,
    pub registrations: u64,
    pub upgrades: u64,
}
