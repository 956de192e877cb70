//! Envelope encryption of personal data at rest: AES-256-GCM with a random nonce, the record's
//! identity as associated data (so a ciphertext cannot be moved to another row), and a key id so
//! that keys can be rotated.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::CryptoError;

const NONCE_LEN: usize = 12;

/// The first byte of a sealed value: which kind of key sealed it, so that a reader holding
/// both an account's data key and the platform's key knows which one opens it without trying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Format {
    /// Sealed with a platform-wide key (every value before per-account data keys, and the
    /// records that belong to no one account).
    Platform = 1,
    /// Sealed with one account's data key.
    DataKey = 2,
    /// A data key wrapped by a key-encryption key.
    Wrapped = 3,
}

impl Format {
    /// The format of a sealed value, from its first byte.
    pub fn of(sealed: &[u8]) -> Option<Format> {
        match sealed.first()? {
            1 => Some(Format::Platform),
            2 => Some(Format::DataKey),
            3 => Some(Format::Wrapped),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct SealingKey {
    cipher: Aes256Gcm,
    format: Format,
}

impl SealingKey {
    /// A platform-wide key (format 1).
    pub fn new(key: &[u8; 32]) -> SealingKey {
        SealingKey::with_format(key, Format::Platform)
    }

    /// A key whose sealed values start with `format`'s byte, and which opens only those.
    pub fn with_format(key: &[u8; 32], format: Format) -> SealingKey {
        SealingKey { cipher: Aes256Gcm::new(key.into()), format }
    }

    /// `format || nonce || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: associated })
            .map_err(|_| CryptoError::Decrypt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(self.format as u8);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != self.format as u8 {
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

    #[test]
    fn a_key_opens_only_its_own_format() {
        let platform = SealingKey::new(&[1; 32]);
        let data = SealingKey::with_format(&[1; 32], Format::DataKey);
        let sealed = data.seal(b"CHAN Tai Man", b"account-1").unwrap();
        assert_eq!(Format::of(&sealed), Some(Format::DataKey));
        assert_eq!(platform.open(&sealed, b"account-1"), Err(CryptoError::Decrypt));
        assert_eq!(data.open(&sealed, b"account-1").unwrap(), b"CHAN Tai Man");
        assert_eq!(Format::of(&[]), None);
        assert_eq!(Format::of(&[9]), None);
    }
}
