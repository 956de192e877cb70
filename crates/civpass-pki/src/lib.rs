//! civpass's public-key infrastructure for signatures with legal effect (issue 14): X.509
//! certificate authorities (a root and an issuing CA, both ECDSA P-256) that issue each
//! "plus" citizen a signing certificate, and CMS detached signatures to the CAdES baseline B-B
//! profile (ETSI EN 319 122-1) that `openssl cms -verify` accepts.
//!
//! This crate knows nothing of accounts, sealing or storage: it turns keys, names and digests
//! into DER, and DER back into what it says. The citizen's key itself sits behind a key store
//! (software keys sealed by the platform now, an HSM through PKCS#11 later): a signature is
//! made over `cades::SignedAttributes::to_be_signed` by whoever holds the key.
//!
//! Only ECDSA P-256 with SHA-256 is made and accepted: the one algorithm keeps verification
//! small, and PAdES validators and Adobe accept it.

pub mod ca;
pub mod cades;

/// What went wrong building or reading a certificate or a signature.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A DER structure could not be built or read.
    #[error("ASN.1: {0}")]
    Asn1(#[from] der::Error),
    /// A certificate could not be built.
    #[error("certificate: {0}")]
    Builder(String),
    /// Input that is not what it claims (a key, a certificate, a signature).
    #[error("{0}")]
    Invalid(String),
}

pub type PkiResult<T> = Result<T, PkiError>;

/// `Invalid` with `what`.
pub(crate) fn invalid(what: impl Into<String>) -> PkiError {
    PkiError::Invalid(what.into())
}
