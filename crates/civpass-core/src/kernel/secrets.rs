//! `Secrets`: the keys derived from the master key that every slice may use: sealing personal
//! data at rest, keyed look-up hashes, and pairwise subjects.

use civpass_crypto::sealed::SealingKey;
use civpass_crypto::secret::HashKey;

/// The platform's symmetric secrets, each derived from the master key (HKDF-style, one label
/// per use) so that one leaked derived key reveals nothing of the others.
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
