//! Cryptography for civpass, knowing nothing of civpass itself: JWS signing and verification,
//! P-256 device signatures, PKCE, secret comparison, keyed hashes and envelope encryption.
//!
//! Every private-key operation goes through aws-lc-rs, the one native crypto library in the tree.

pub mod external;
pub mod jws;
pub mod sealed;
pub mod secret;

pub use aws_lc_rs;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("key material is invalid")]
    InvalidKey,
    #[error("signature is invalid")]
    BadSignature,
    #[error("token is malformed")]
    Malformed,
    #[error("decryption failed")]
    Decrypt,
    #[error("the system random number generator failed")]
    Rng,
    #[error("the signature algorithm is not accepted")]
    UnsupportedAlgorithm,
}
