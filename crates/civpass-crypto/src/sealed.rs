//! Envelope encryption of personal data at rest: AES-256-GCM with a random nonce, the record's
//! identity as associated data (so a ciphertext cannot be moved to another row), and a key id so
//! that keys can be rotated.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::CryptoError;

const NONCE_LEN: usize = 12;
const VERSION: u8 = 1;

#[derive(Clone)]
pub struct SealingKey {
    cipher: Aes256Gcm,
}

impl SealingKey {
    pub fn new(key: &[u8; 32]) -> SealingKey {
        SealingKey { cipher: Aes256Gcm::new(key.into()) }
    }

    /// `version || nonce || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: associated })
            .map_err(|_| CryptoError::Decrypt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: associated })
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_associated_data() {
        let key = SealingKey::new(&[1; 32]);
        let sealed = key.seal(b"CHAN Tai Man", b"account-1").unwrap();
        assert_eq!(key.open(&sealed, b"account-1").unwrap(), b"CHAN Tai Man");
        assert_eq!(key.open(&sealed, b"account-2"), Err(CryptoError::Decrypt));
        assert_eq!(
            SealingKey::new(&[2; 32]).open(&sealed, b"account-1"),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(key.open(&sealed[..5], b"account-1"), Err(CryptoError::Decrypt));
    }
}
