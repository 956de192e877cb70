//! Platform secrets and the token-signing key ring.
//!
//! One 32-byte master secret (kept by the operator outside the database) derives the keys that
//! seal personal data, hash look-up values and compute pairwise subjects. Signing keys live in
//! the store, sealed, so that every node of a PostgreSQL deployment signs with the same keys.

pub mod model;
pub mod store;

use std::sync::{Arc, RwLock};

use civpass_crypto::jws::{Algorithm, SigningKey};
use civpass_crypto::sealed::SealingKey;

use crate::kernel::Secrets;
use crate::kernel::clock::UnixTime;
use crate::kernel::store::StoreError;
use crate::keys::model::StoredSigningKey;
use crate::keys::store::KeyStore;

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored signing key cannot be opened: is this the right master key?")]
    Unreadable,
    #[error("key generation failed")]
    Generation,
}

/// A key as the ring holds it: from when it signs, and until when it is published.
#[derive(Debug)]
struct Held {
    key: Arc<SigningKey>,
    activates_at: UnixTime,
    retires_at: Option<UnixTime>,
}

/// The signing keys. A rotated-in key is published (in the JWKS) before it signs anything and
/// takes over at its activation time; the key it replaces stays published until tokens it
/// signed have expired, then retires. Every node reloads the ring from the store now and then,
/// so a rotation made by `civpass keys rotate` reaches all of them before activation.
#[derive(Debug)]
pub struct KeyRing {
    held: RwLock<Vec<Held>>,
}

/// Every algorithm a client may ask its ID tokens to be signed with.
pub const ALGORITHMS: [Algorithm; 4] =
    [Algorithm::ES256, Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA];

async fn generate(
    store: &dyn KeyStore,
    secrets: &Secrets,
    alg: Algorithm,
    now: UnixTime,
    activates_at: UnixTime,
) -> Result<String, KeyRingError> {
    let (key, pkcs8) = SigningKey::generate(alg).map_err(|_| KeyRingError::Generation)?;
    let sealed_pkcs8 =
        secrets.sealing.seal(&pkcs8, key.kid().as_bytes()).map_err(|_| KeyRingError::Generation)?;
    let record = StoredSigningKey {
        kid: key.kid().to_owned(),
        alg: alg.as_str().to_owned(),
        sealed_pkcs8,
        created_at: now,
        activates_at,
        retires_at: None,
    };
    match store.insert_signing_key(&record).await {
        // Another node generated one at the same moment; use whatever is stored.
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(record.kid),
        Err(e) => Err(e.into()),
    }
}

impl KeyRing {
    /// Loads the stored keys, generating a key for each algorithm that has none (first start).
    pub async fn load_or_create(
        store: &dyn KeyStore,
        secrets: &Secrets,
        now: UnixTime,
    ) -> Result<KeyRing, KeyRingError> {
        // The stored keys must open with these secrets before any is added: a key sealed
        // under a wrong master key beside the right ones would leave the platform unstartable.
        let ring = KeyRing::load(store, secrets).await?;
        let stored = store.list_signing_keys().await?;
        for alg in ALGORITHMS {
            if !stored.iter().any(|k| k.alg == alg.as_str()) {
                generate(store, secrets, alg, now, now).await?;
            }
        }
        ring.reload(store, secrets).await?;
        Ok(ring)
    }

    /// Whether `key` opens every stored signing key (true when there are none): how the
    /// envelope knows a platform key it is about to store is the one they were sealed with.
    pub fn opens_with(stored: &[StoredSigningKey], key: &SealingKey) -> bool {
        stored.iter().all(|k| key.open(&k.sealed_pkcs8, k.kid.as_bytes()).is_ok())
    }

    /// Loads the stored keys and creates none: for commands that act on an existing platform.
    ///
    /// Errors: `Unreadable` if a key cannot be opened with these secrets (the wrong master key).
    pub async fn load(store: &dyn KeyStore, secrets: &Secrets) -> Result<KeyRing, KeyRingError> {
        let ring = KeyRing { held: RwLock::new(Vec::new()) };
        ring.reload(store, secrets).await?;
        Ok(ring)
    }

    /// Reads the keys from the store again (others may have rotated them).
    pub async fn reload(
        &self,
        store: &dyn KeyStore,
        secrets: &Secrets,
    ) -> Result<(), KeyRingError> {
        let mut stored = store.list_signing_keys().await?;
        stored.sort_by_key(|k| (k.activates_at, k.created_at));
        let mut held = Vec::with_capacity(stored.len());
        for record in stored {
            let Some(alg) = Algorithm::parse(&record.alg) else { continue };
            let pkcs8 = secrets
                .sealing
                .open(&record.sealed_pkcs8, record.kid.as_bytes())
                .map_err(|_| KeyRingError::Unreadable)?;
            let key = SigningKey::from_pkcs8(alg, &pkcs8).map_err(|_| KeyRingError::Unreadable)?;
            held.push(Held {
                key: Arc::new(key),
                activates_at: record.activates_at,
                retires_at: record.retires_at,
            });
        }
        if let Ok(mut guard) = self.held.write() {
            *guard = held;
        }
        Ok(())
    }

    fn published(&self, now: UnixTime) -> Vec<(Arc<SigningKey>, UnixTime)> {
        self.held
            .read()
            .map(|held| {
                held.iter()
                    .filter(|h| h.retires_at.is_none_or(|r| r > now))
                    .map(|h| (h.key.clone(), h.activates_at))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The key that signs new tokens with this algorithm: the newest one already active.
    pub fn signer(&self, alg: Algorithm, now: UnixTime) -> Option<Arc<SigningKey>> {
        self.published(now)
            .into_iter()
            .filter(|(k, activates_at)| k.algorithm() == alg && *activates_at <= now)
            .max_by_key(|(_, activates_at)| *activates_at)
            .map(|(k, _)| k)
    }

    /// Seconds since the key that signs with `alg` became active; `None` if none is.
    pub fn signer_age(&self, alg: Algorithm, now: UnixTime) -> Option<i64> {
        self.published(now)
            .into_iter()
            .filter(|(k, activates_at)| k.algorithm() == alg && *activates_at <= now)
            .map(|(_, activates_at)| now - activates_at)
            .min()
    }

    /// A published key, to verify what we signed.
    pub fn by_kid(&self, kid: &str, now: UnixTime) -> Option<Arc<SigningKey>> {
        self.published(now).into_iter().find(|(k, _)| k.kid() == kid).map(|(k, _)| k)
    }

    /// The published keys: those signing now, those about to, and those whose tokens may
    /// still be in use.
    pub fn jwks(&self, now: UnixTime) -> serde_json::Value {
        let mut keys: Vec<Arc<SigningKey>> =
            self.published(now).into_iter().map(|(k, _)| k).collect();
        keys.sort_by(|a, b| a.kid().cmp(b.kid()));
        serde_json::json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }
}

/// Where a signing key is in its life (see `KeyRing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, signing from its activation time.
    Next,
    /// The newest active key of its algorithm: it signs new tokens.
    Signing,
    /// Replaced, still published until the tokens it signed have expired.
    Published,
    /// Out of the JWKS; kept as a record.
    Retired,
}

/// A signing key as the operator sees it: no key material.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    /// Unix seconds, as every time here.
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
    pub retires_at: Option<UnixTime>,
}

/// The stored keys with their state at `now`, by algorithm then activation.
pub fn describe(stored: &[StoredSigningKey], now: UnixTime) -> Vec<KeyInfo> {
    let live = |k: &StoredSigningKey| k.retires_at.is_none_or(|r| r > now);
    let signer = |alg: &str| {
        stored
            .iter()
            .filter(|k| k.alg == alg && live(k) && k.activates_at <= now)
            .max_by_key(|k| (k.activates_at, k.created_at))
            .map(|k| k.kid.as_str())
    };
    let mut out: Vec<KeyInfo> = stored
        .iter()
        .map(|k| KeyInfo {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            state: if !live(k) {
                KeyState::Retired
            } else if k.activates_at > now {
                KeyState::Next
            } else if signer(&k.alg) == Some(k.kid.as_str()) {
                KeyState::Signing
            } else {
                KeyState::Published
            },
            created_at: k.created_at,
            activates_at: k.activates_at,
            retires_at: k.retires_at,
        })
        .collect();
    out.sort_by(|a, b| (&a.alg, a.activates_at).cmp(&(&b.alg, b.activates_at)));
    out
}

/// What a rotation did, for the operator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotated {
    pub alg: &'static str,
    pub new_kid: String,
    pub activates_at: UnixTime,
    /// The keys it replaces, and when they leave the JWKS.
    pub retiring: Vec<(String, UnixTime)>,
}

/// Rotates the keys of `algs`: a new key, published now and signing from `now + activate_after`;
/// the keys signing until then retire `retire_after` seconds later (the longest token lifetime).
pub async fn rotate(
    store: &dyn KeyStore,
    secrets: &Secrets,
    algs: &[Algorithm],
    now: UnixTime,
    activate_after: i64,
    retire_after: i64,
) -> Result<Vec<Rotated>, KeyRingError> {
    let stored = store.list_signing_keys().await?;
    let activates_at = now + activate_after;
    let mut out = Vec::new();
    for &alg in algs {
        let retires_at = activates_at + retire_after;
        let mut retiring = Vec::new();
        for old in stored.iter().filter(|k| k.alg == alg.as_str() && k.retires_at.is_none()) {
            store.retire_signing_key(&old.kid, retires_at).await?;
            retiring.push((old.kid.clone(), retires_at));
        }
        let new_kid = generate(store, secrets, alg, now, activates_at).await?;
        out.push(Rotated { alg: alg.as_str(), new_kid, activates_at, retiring });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, activates_at: UnixTime, retires_at: Option<UnixTime>) -> StoredSigningKey {
        StoredSigningKey {
            kid: kid.to_owned(),
            alg: "ES256".to_owned(),
            sealed_pkcs8: Vec::new(),
            created_at: activates_at - 600,
            activates_at,
            retires_at,
        }
    }

    #[test]
    fn a_rotation_shows_each_key_in_its_state() {
        // k1 retired, k2 replaced but still published, k3 signs, k4 signs from 2000.
        let stored = [
            key("k1", 100, Some(500)),
            key("k2", 400, Some(1600)),
            key("k3", 800, None),
            key("k4", 2000, None),
        ];
        let states: Vec<(String, KeyState)> =
            describe(&stored, 1000).into_iter().map(|k| (k.kid, k.state)).collect();
        assert_eq!(
            states,
            [
                ("k1".to_owned(), KeyState::Retired),
                ("k2".to_owned(), KeyState::Published),
                ("k3".to_owned(), KeyState::Signing),
                ("k4".to_owned(), KeyState::Next),
            ]
        );
    }
}

/// The key slice's use cases: the published JWKS, listing, rotating and reloading keys.
#[derive(Clone)]
pub struct KeyService {
    pub(crate) ctx: crate::kernel::Ctx,
    pub(crate) ring: Arc<KeyRing>,
    pub(crate) store: Arc<dyn KeyStore>,
}

impl KeyService {
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The published signing keys (`/jwks`).
    pub fn jwks(&self) -> serde_json::Value {
        self.ring.jwks(self.ctx.now())
    }

    /// Picks up keys rotated elsewhere (another node, or `civpass keys rotate`).
    pub async fn reload_keys(&self) -> Result<(), KeyRingError> {
        self.ring.reload(self.store.as_ref(), &self.ctx.secrets).await
    }

    /// Every stored signing key and its state now (`keys list`).
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, crate::kernel::Internal> {
        let stored = self.store.list_signing_keys().await?;
        Ok(describe(&stored, self.ctx.now()))
    }

    /// Rotates the signing keys of `algs` (see `rotate`) and reloads them here.
    pub async fn rotate_keys(
        &self,
        algs: &[Algorithm],
        activate_after: i64,
    ) -> Result<Vec<Rotated>, KeyRingError> {
        let rotated = rotate(
            self.store.as_ref(),
            &self.ctx.secrets,
            algs,
            self.ctx.now(),
            activate_after,
            self.longest_token_lifetime(),
        )
        .await?;
        self.reload_keys().await?;
        Ok(rotated)
    }

    /// The longest lifetime of anything we sign: how long a replaced key stays published.
    pub fn longest_token_lifetime(&self) -> i64 {
        self.ctx.settings.access_token_ttl.max(self.ctx.settings.id_token_ttl)
    }
}
