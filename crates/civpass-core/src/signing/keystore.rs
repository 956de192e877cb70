//! Where citizens' signing keys live: the `KeyStore` port (docs/PKI.md).
//!
//! The software implementation keeps each P-256 key as PKCS#8 sealed with the citizen's own
//! data key (so a master key rotation re-wraps it with the rest, and a copy of the database
//! holds nothing usable). A PKCS#11 implementation would generate the key inside an HSM
//! (`C_GenerateKeyPair`, `CKA_EXTRACTABLE` false), keep only the object's handle in the key
//! reference, and sign with `C_Sign` (`CKM_ECDSA` over the SHA-256 digest, its raw `r || s`
//! turned into DER); nothing above this port would change.

use async_trait::async_trait;

use crate::kernel::{AccountId, Ctx, Internal};

/// A citizen's signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// A new ECDSA P-256 key for `account`, for the credential `label` (its serial number):
    /// the reference to store, and the public key as SubjectPublicKeyInfo DER.
    ///
    /// Errors: `Internal`.
    async fn generate(&self, account: &AccountId) -> Result<(Vec<u8>, Vec<u8>), Internal>;

    /// The key `key_ref` refers to, bound to `label`, signing `message` (ECDSA P-256 with
    /// SHA-256): the DER signature.
    ///
    /// Errors: `Internal` (the reference does not open for this account and label).
    async fn sign(
        &self,
        account: &AccountId,
        label: &str,
        key_ref: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, Internal>;

    /// The reference `generate` gave, bound to the credential's `label` once it is known.
    ///
    /// Errors: `Internal`.
    async fn bind(
        &self,
        account: &AccountId,
        label: &str,
        key_ref: Vec<u8>,
    ) -> Result<Vec<u8>, Internal>;
}

/// Software keys, sealed with the citizen's data key.
pub struct SoftwareKeyStore {
    pub(crate) ctx: Ctx,
}

fn associated(label: &str) -> Vec<u8> {
    format!("signing/{label}").into_bytes()
}

#[async_trait]
impl KeyStore for SoftwareKeyStore {
    async fn generate(&self, _account: &AccountId) -> Result<(Vec<u8>, Vec<u8>), Internal> {
        civpass_pki::ca::new_software_key().map_err(|e| Internal::caused("a signing key", e))
    }

    async fn bind(
        &self,
        account: &AccountId,
        label: &str,
        key_ref: Vec<u8>,
    ) -> Result<Vec<u8>, Internal> {
        self.ctx.data_key(account).await?.seal(&key_ref, &associated(label))
    }

    async fn sign(
        &self,
        account: &AccountId,
        label: &str,
        key_ref: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, Internal> {
        let pkcs8 = self.ctx.data_key(account).await?.open(key_ref, &associated(label))?;
        civpass_pki::ca::sign_with_software_key(&pkcs8, message)
            .map_err(|e| Internal::caused("signing with a citizen's key", e))
    }
}
