//! Platform secrets and the token-signing key ring.
//!
//! One 32-byte master secret (kept by the operator outside the database) derives the keys that
//! seal personal data, hash look-up values and compute pairwise subjects. Signing keys live in
//! the store, sealed, so that every node of a PostgreSQL deployment signs with the same keys.

use std::collections::HashMap;

use civpass_crypto::jws::{Algorithm, SigningKey};
use civpass_crypto::sealed::SealingKey;
use civpass_crypto::secret::HashKey;

use crate::clock::UnixTime;
use crate::model::StoredSigningKey;
use crate::store::{Store, StoreError};

#[derive(Clone)]
pub struct Secrets {
    pub sealing: SealingKey,
    pub lookup: HashKey,
    pub pairwise: HashKey,
}

impl Secrets {
    pub fn from_master(master: &[u8; 32]) -> Secrets {
        Secrets {
            sealing: SealingKey::new(HashKey::derive(master, "civpass/seal/v1").bytes()),
            lookup: HashKey::derive(master, "civpass/lookup/v1"),
            pairwise: HashKey::derive(master, "civpass/pairwise/v1"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored signing key cannot be opened: is this the right master key?")]
    Unreadable,
    #[error("key generation failed")]
    Generation,
}

/// The signing keys, parsed once at start-up.
#[derive(Debug)]
pub struct KeyRing {
    active: HashMap<Algorithm, String>,
    by_kid: HashMap<String, SigningKey>,
}

impl KeyRing {
    /// Loads the stored keys, generating an ES256 and an RS256 key on first start.
    pub async fn load_or_create(
        store: &dyn Store,
        secrets: &Secrets,
        now: UnixTime,
    ) -> Result<KeyRing, KeyRingError> {
        let mut stored = store.list_signing_keys().await?;
        for alg in [Algorithm::ES256, Algorithm::RS256] {
            if !stored.iter().any(|k| k.alg == alg.as_str()) {
                let (key, pkcs8) =
                    SigningKey::generate(alg).map_err(|_| KeyRingError::Generation)?;
                let sealed_pkcs8 = secrets
                    .sealing
                    .seal(&pkcs8, key.kid().as_bytes())
                    .map_err(|_| KeyRingError::Generation)?;
                let record = StoredSigningKey {
                    kid: key.kid().to_owned(),
                    alg: alg.as_str().to_owned(),
                    sealed_pkcs8,
                    created_at: now,
                };
                match store.insert_signing_key(&record).await {
                    // Another node generated one at the same moment; use whatever is stored.
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        stored = store.list_signing_keys().await?;
        stored.sort_by_key(|k| k.created_at);
        let mut ring = KeyRing { active: HashMap::new(), by_kid: HashMap::new() };
        for record in stored {
            let Some(alg) = Algorithm::parse(&record.alg) else { continue };
            let pkcs8 = secrets
                .sealing
                .open(&record.sealed_pkcs8, record.kid.as_bytes())
                .map_err(|_| KeyRingError::Unreadable)?;
            let key = SigningKey::from_pkcs8(alg, &pkcs8).map_err(|_| KeyRingError::Unreadable)?;
            ring.active.insert(alg, record.kid.clone());
            ring.by_kid.insert(record.kid, key);
        }
        Ok(ring)
    }

    /// The key that signs new tokens with this algorithm.
    pub fn signer(&self, alg: Algorithm) -> Option<&SigningKey> {
        self.active.get(&alg).and_then(|kid| self.by_kid.get(kid))
    }

    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid)
    }

    pub fn jwks(&self) -> serde_json::Value {
        let mut keys: Vec<&SigningKey> = self.by_kid.values().collect();
        keys.sort_by(|a, b| a.kid().cmp(b.kid()));
        serde_json::json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }
}
