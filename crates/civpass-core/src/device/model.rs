//! A citizen's devices (software keys and passkeys) and the WebAuthn ceremonies in progress.

use crate::kernel::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A key in software, like the command-line wallet's.
    Software,
    /// A WebAuthn passkey on the citizen's phone, used with user verification (biometrics or
    /// the screen lock).
    Passkey,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Software => "software",
            DeviceKind::Passkey => "passkey",
        }
    }

    pub fn parse(text: &str) -> Option<DeviceKind> {
        match text {
            "software" => Some(DeviceKind::Software),
            "passkey" => Some(DeviceKind::Passkey),
            _ => None,
        }
    }

    /// RFC 8176 authentication method references for a login approved with this device.
    pub fn amr(self) -> Vec<String> {
        match self {
            DeviceKind::Software => vec!["swk".to_owned()],
            // Possession of the passkey plus the user verification WebAuthn requires of it.
            DeviceKind::Passkey => vec!["pop".to_owned(), "mfa".to_owned()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub account_id: String,
    /// Software: base64url of the uncompressed P-256 point. Passkey: the WebAuthn credential as
    /// JSON (credential id, COSE public key, signature counter), rewritten as the counter moves.
    pub public_key: String,
    pub kind: DeviceKind,
    /// A passkey's WebAuthn credential id (base64url), unique across devices; None for software.
    pub credential_id: Option<String>,
    pub created_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

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
