//! The signing keys as stored: sealed PKCS#8 and their activation and retirement times.

use crate::kernel::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub alg: String,
    /// PKCS#8, sealed with the kid as associated data.
    pub sealed_pkcs8: Vec<u8>,
    pub created_at: UnixTime,
    /// From when it signs (it is published from creation).
    pub activates_at: UnixTime,
    /// When it leaves the JWKS, once a newer key has taken over.
    pub retires_at: Option<UnixTime>,
}
