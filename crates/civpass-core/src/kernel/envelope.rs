//! Envelope encryption of personal data at rest (issue 13, part 7).
//!
//! - Each account's personal data (identity vault, e-ME vault, documents, evidence references,
//!   operator reasons, filling records) is sealed with that account's own random **data key**
//!   (AES-256-GCM, `Format::DataKey`).
//! - Data keys are stored **wrapped** (`wrapped_keys`) by a **key-encryption key** (KEK) derived
//!   from a version of the master key: `KEK_v = HMAC-SHA256(master_v, "civpass/kek/v1")`.
//! - Rotating the master key (`civpass keys rotate-master`) re-wraps the data keys only: no
//!   personal data is re-encrypted, and nothing a relying party sees changes.
//! - Two more wrapped keys belong to no account: the platform's key (records of no one
//!   account, and every value sealed before data keys existed, `Format::Platform`) and the
//!   **identifier secret**, from which pairwise subjects, look-up hashes and pseudonyms are
//!   derived. Both are created once from the first master key (the same values civpass
//!   derived before, so no `sub` and no look-up hash changes) and never change after; rotation
//!   only re-wraps them.
//!
//! A node holds the master key versions its `MasterKeySource` gives and reads them again when a
//! wrapped key names a version it does not hold, and before it wraps a new key, so that nodes
//! keep working while another process rotates.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use civpass_crypto::sealed::{Format, SealingKey};
use civpass_crypto::secret::HashKey;

use crate::kernel::store::StoreResult;
use crate::kernel::{AccountId, Internal, UnixTime};

/// The label the KEK is derived under; a new label would be a new scheme, not a rotation.
const KEK_LABEL: &str = "civpass/kek/v1";
/// The owner of the platform's own data key.
pub const PLATFORM_OWNER: &str = "platform/v1";
/// The owner of the identifier secret, version 1 (pairwise and look-up keys).
pub const IDENTIFIERS_OWNER: &str = "identifiers/v1";
/// Unwrapped data keys a node keeps; past it the cache starts again, which costs only unwraps
/// (a bounded LRU would be no safer, and no crate for it is in the tree).
const CACHE_LIMIT: usize = 100_000;

/// The versions of the master key a node holds, by version number (1, 2, …); the highest wraps.
#[derive(Clone)]
pub struct MasterKeys {
    keks: BTreeMap<u32, SealingKey>,
    /// The lowest version, whose master derives what civpass made before data keys.
    first: [u8; 32],
}

impl MasterKeys {
    /// Errors: no version, or version 0.
    pub fn new(versions: impl IntoIterator<Item = (u32, [u8; 32])>) -> Result<MasterKeys, String> {
        let versions: BTreeMap<u32, [u8; 32]> = versions.into_iter().collect();
        if versions.contains_key(&0) {
            return Err("master key versions start at 1".to_owned());
        }
        let Some((_, first)) = versions.iter().next().map(|(v, k)| (*v, *k)) else {
            return Err("no master key".to_owned());
        };
        let keks = versions
            .iter()
            .map(|(v, master)| {
                (
                    *v,
                    SealingKey::with_format(
                        HashKey::derive(master, KEK_LABEL).bytes(),
                        Format::Wrapped,
                    ),
                )
            })
            .collect();
        Ok(MasterKeys { keks, first })
    }

    /// The version new wrappings use: the highest held.
    pub fn current(&self) -> u32 {
        self.keks.keys().next_back().copied().unwrap_or(1)
    }

    /// The versions held, lowest first.
    pub fn versions(&self) -> Vec<u32> {
        self.keks.keys().copied().collect()
    }

    fn kek(&self, version: u32) -> Option<&SealingKey> {
        self.keks.get(&version)
    }
}

/// Where a node's master key versions come from (a file, the configuration); read again when a
/// wrapped key names a version the node does not hold.
pub trait MasterKeySource: Send + Sync {
    /// Errors: the source cannot be read or holds no valid key (a message for the operator).
    fn load(&self) -> Result<MasterKeys, String>;
}

/// A source that always gives the same versions (tests, and a key given in configuration).
pub struct FixedMasterKeys(pub MasterKeys);

impl MasterKeySource for FixedMasterKeys {
    fn load(&self) -> Result<MasterKeys, String> {
        Ok(self.0.clone())
    }
}

/// One wrapped key as stored: `wrapped` is `Format::Wrapped || nonce || AES-256-GCM(key)`, its
/// owner as associated data so that a wrapped key cannot be moved to another row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub owner: String,
    pub kek_version: u32,
    pub wrapped: Vec<u8>,
    pub created_at: UnixTime,
}

/// The storage of wrapped keys.
#[async_trait]
pub trait WrappedKeyStore: Send + Sync {
    async fn find_wrapped_key(&self, owner: &str) -> StoreResult<Option<WrappedKey>>;
    /// Stores `key` unless its owner has one; returns the one stored (this, or the earlier).
    async fn insert_wrapped_key(&self, key: &WrappedKey) -> StoreResult<WrappedKey>;
    /// Up to `limit` keys wrapped under another version than `version`, by owner.
    async fn wrapped_keys_not_under(
        &self,
        version: u32,
        limit: u32,
    ) -> StoreResult<Vec<WrappedKey>>;
    /// Replaces the wrapping of `key.owner` if it is still under `from_version`; false if
    /// another process re-wrapped it first.
    async fn rewrap_key(&self, key: &WrappedKey, from_version: u32) -> StoreResult<bool>;
    /// How many keys each version wraps.
    async fn count_wrapped_keys(&self) -> StoreResult<Vec<(u32, i64)>>;
    /// One key wrapped under `version`, if any.
    async fn any_wrapped_key_under(&self, version: u32) -> StoreResult<Option<WrappedKey>>;
    /// The check value stored for a master key version, if any.
    async fn find_master_check(&self, version: u32) -> StoreResult<Option<Vec<u8>>>;
    /// Stores `sealed_check` for `version` unless it has one; returns the one stored.
    async fn insert_master_check(&self, version: u32, sealed_check: &[u8]) -> StoreResult<Vec<u8>>;
}

/// What a master key version's check value seals, under that version's KEK.
const CHECK_TEXT: &[u8] = b"civpass master key check";

/// An account's data key, with the platform's key for values sealed before data keys existed.
#[derive(Clone)]
pub struct DataKey {
    own: SealingKey,
    platform: SealingKey,
}

impl DataKey {
    /// `plaintext` sealed with the account's key, `associated` bound to it.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, Internal> {
        self.own.seal(plaintext, associated).map_err(|e| Internal::caused("sealing", e))
    }

    /// A sealed value opened: with the account's key, or the platform's for an older value.
    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, Internal> {
        let key = match Format::of(sealed) {
            Some(Format::Platform) => &self.platform,
            _ => &self.own,
        };
        key.open(sealed, associated).map_err(|e| Internal::caused("opening a sealed value", e))
    }
}

/// What a re-wrap did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// The version every key is wrapped under now.
    pub version: u32,
    /// Keys this run re-wrapped.
    pub rewrapped: u64,
}

/// The data keys of a platform: created, unwrapped (and kept), re-wrapped.
pub struct Envelope {
    source: Arc<dyn MasterKeySource>,
    held: RwLock<Arc<MasterKeys>>,
    store: Arc<dyn WrappedKeyStore>,
    platform: SealingKey,
    cache: Mutex<HashMap<String, SealingKey>>,
}

/// The keys `Secrets` holds, opened by `Envelope::open`.
pub struct Opened {
    pub envelope: Envelope,
    pub identifiers: [u8; 64],
}

impl Envelope {
    /// Opens a platform's envelope: the platform key and the identifier secret, created from
    /// the lowest master key version held if the store has none yet (as civpass derived them
    /// before data keys, so that existing sealed values, subjects and look-ups stay valid).
    ///
    /// `fits` says whether a platform key derived that way opens what the platform sealed
    /// before (its signing keys): a wrong master key given to a platform from before data keys
    /// must not store a wrong platform key, which would lock the right one out.
    ///
    /// Errors: the source gives no key; a stored key is wrapped under a version it lacks; the
    /// derived platform key does not `fit`.
    pub async fn open(
        source: Arc<dyn MasterKeySource>,
        store: Arc<dyn WrappedKeyStore>,
        now: UnixTime,
        fits: &(dyn Fn(&SealingKey) -> bool + Sync),
    ) -> Result<Opened, Internal> {
        let masters = source.load().map_err(Internal::new)?;
        let first = masters.first;
        // Before anything is stored under these keys: a platform from before data keys must
        // open with the platform key they derive.
        let platform_bytes = HashKey::derive(&first, "civpass/seal/v1");
        if store.find_wrapped_key(PLATFORM_OWNER).await?.is_none()
            && !fits(&SealingKey::new(platform_bytes.bytes()))
        {
            return Err(Internal::new(
                "the master key given does not open this platform's sealed data",
            ));
        }
        // Every version held must be the one the platform knows by that number, and every
        // version a key is wrapped under must be held: a node that would fail on some
        // citizens' data does not start.
        for version in masters.versions() {
            check_version(store.as_ref(), &masters, version).await?;
        }
        let in_use = store.count_wrapped_keys().await?;
        let missing: Vec<String> = in_use
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| masters.kek(*v).is_none())
            .map(|v| v.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(Internal::new(format!(
                "data keys are wrapped under master key version {}, which this node does not hold",
                missing.join(", ")
            )));
        }
        let mut envelope = Envelope {
            source,
            held: RwLock::new(Arc::new(masters)),
            store,
            platform: SealingKey::new(&[0; 32]),
            cache: Mutex::new(HashMap::new()),
        };
        let platform: [u8; 32] = envelope
            .get_or_insert(PLATFORM_OWNER, platform_bytes.bytes(), now)
            .await?
            .try_into()
            .map_err(|_| Internal::new("the platform key is not 32 bytes"))?;
        let mut identifiers = [0u8; 64];
        identifiers[..32].copy_from_slice(HashKey::derive(&first, "civpass/pairwise/v1").bytes());
        identifiers[32..].copy_from_slice(HashKey::derive(&first, "civpass/lookup/v1").bytes());
        let identifiers: [u8; 64] = envelope
            .get_or_insert(IDENTIFIERS_OWNER, &identifiers, now)
            .await?
            .try_into()
            .map_err(|_| Internal::new("the identifier secret is not 64 bytes"))?;
        envelope.platform = SealingKey::new(&platform);
        Ok(Opened { envelope, identifiers })
    }

    /// The platform's key (records of no one account, and values sealed before data keys).
    pub fn platform_key(&self) -> SealingKey {
        self.platform.clone()
    }

    /// The data key of an account, created (random) on first use.
    ///
    /// Errors: the store fails; the key is wrapped under a master version this node cannot
    /// obtain (`Internal`, naming the version, never the key).
    pub async fn account_key(
        &self,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<DataKey, Internal> {
        let owner = format!("account/{account}");
        if let Some(own) = self.cached(&owner) {
            return Ok(DataKey { own, platform: self.platform.clone() });
        }
        let fresh = civpass_crypto::secret::random_bytes::<32>();
        let bytes: [u8; 32] = self
            .get_or_insert(&owner, &fresh, now)
            .await?
            .try_into()
            .map_err(|_| Internal::new("a data key is not 32 bytes"))?;
        let own = SealingKey::with_format(&bytes, Format::DataKey);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(owner, own.clone());
        Ok(DataKey { own, platform: self.platform.clone() })
    }

    /// Re-wraps every key not under the newest master version this node holds (after reading
    /// its source again); safe to run while nodes serve, and again after an interruption.
    pub async fn rewrap_all(&self) -> Result<Rewrapped, Internal> {
        let masters = self.reload()?;
        let version = masters.current();
        check_version(self.store.as_ref(), &masters, version).await?;
        let mut rewrapped = 0;
        loop {
            let batch = self.store.wrapped_keys_not_under(version, 500).await?;
            if batch.is_empty() {
                return Ok(Rewrapped { version, rewrapped });
            }
            for old in batch {
                let plain = self.unwrap_key(&old)?;
                let new = WrappedKey {
                    wrapped: wrap(&masters, version, &old.owner, &plain)?,
                    kek_version: version,
                    ..old.clone()
                };
                if self.store.rewrap_key(&new, old.kek_version).await? {
                    rewrapped += 1;
                }
            }
        }
    }

    /// How many keys each master version wraps, lowest version first.
    pub async fn versions_in_use(&self) -> Result<Vec<(u32, i64)>, Internal> {
        let mut counts = self.store.count_wrapped_keys().await?;
        counts.sort();
        Ok(counts)
    }

    /// The master versions this node holds now (after reading its source again).
    pub fn held_versions(&self) -> Result<Vec<u32>, Internal> {
        Ok(self.reload()?.versions())
    }

    fn cached(&self, owner: &str) -> Option<SealingKey> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(owner).cloned()
    }

    /// The stored key of `owner`, unwrapped; `fresh` wrapped and stored first if it has none.
    async fn get_or_insert(
        &self,
        owner: &str,
        fresh: &[u8],
        now: UnixTime,
    ) -> Result<Vec<u8>, Internal> {
        let stored = match self.store.find_wrapped_key(owner).await? {
            Some(stored) => stored,
            None => {
                // Read the source again first, so that a node never wraps under a version
                // that an operator has since retired.
                let masters = self.reload()?;
                let version = masters.current();
                check_version(self.store.as_ref(), &masters, version).await?;
                let key = WrappedKey {
                    owner: owner.to_owned(),
                    kek_version: version,
                    wrapped: wrap(&masters, version, owner, fresh)?,
                    created_at: now,
                };
                self.store.insert_wrapped_key(&key).await?
            }
        };
        self.unwrap_key(&stored)
    }

    fn unwrap_key(&self, stored: &WrappedKey) -> Result<Vec<u8>, Internal> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner()).clone();
        let masters = match held.kek(stored.kek_version) {
            Some(_) => held,
            None => self.reload()?,
        };
        let kek = masters.kek(stored.kek_version).ok_or_else(|| {
            Internal::new(format!(
                "a data key is wrapped under master key version {}, which this node does not hold",
                stored.kek_version
            ))
        })?;
        kek.open(&stored.wrapped, stored.owner.as_bytes()).map_err(|_| {
            Internal::new(format!(
                "master key version {} does not open the {} key wrapped under it: is it the right \
                 key for this platform?",
                stored.kek_version,
                stored.owner.split('/').next().unwrap_or("data")
            ))
        })
    }

    fn reload(&self) -> Result<Arc<MasterKeys>, Internal> {
        let masters = Arc::new(self.source.load().map_err(Internal::new)?);
        *self.held.write().unwrap_or_else(|e| e.into_inner()) = masters.clone();
        Ok(masters)
    }
}

/// Checks `version`'s key against the platform's check value for it, storing one if the
/// platform has none yet.
///
/// Errors: the check value does not open with the key held (another key under that number).
async fn check_version(
    store: &dyn WrappedKeyStore,
    masters: &MasterKeys,
    version: u32,
) -> Result<(), Internal> {
    let kek = masters
        .kek(version)
        .ok_or_else(|| Internal::new(format!("no master key version {version}")))?;
    let owner = format!("master/v{version}");
    let stored = match store.find_master_check(version).await? {
        Some(stored) => stored,
        None => {
            // A version keys are already wrapped under (from before check values) must open
            // one of them before its check value is stored: a wrong key must not become the
            // platform's by being the first to be checked.
            if let Some(wrapped) = store.any_wrapped_key_under(version).await?
                && kek.open(&wrapped.wrapped, wrapped.owner.as_bytes()).is_err()
            {
                return Err(mismatch(version));
            }
            let sealed = kek
                .seal(CHECK_TEXT, owner.as_bytes())
                .map_err(|e| Internal::caused("sealing a master key check", e))?;
            store.insert_master_check(version, &sealed).await?
        }
    };
    match kek.open(&stored, owner.as_bytes()) {
        Ok(text) if text == CHECK_TEXT => Ok(()),
        _ => Err(mismatch(version)),
    }
}

fn mismatch(version: u32) -> Internal {
    Internal::new(format!(
        "master key version {version} given here is not the platform's version {version}: every \
         node must hold the same key under each version number"
    ))
}

fn wrap(masters: &MasterKeys, version: u32, owner: &str, key: &[u8]) -> Result<Vec<u8>, Internal> {
    let kek = masters
        .kek(version)
        .ok_or_else(|| Internal::new(format!("no master key version {version}")))?;
    kek.seal(key, owner.as_bytes()).map_err(|e| Internal::caused("wrapping a data key", e))
}
