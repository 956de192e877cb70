//! `Secrets`: the keys every slice may use: an account's data key and the platform's key for
//! sealing personal data at rest, keyed look-up hashes, and pairwise subjects. All come from
//! the envelope (`kernel::envelope`): none is the master key, and only data keys change with it.

use std::sync::Arc;

use civpass_crypto::sealed::SealingKey;
use civpass_crypto::secret::HashKey;

use crate::kernel::AccountId;
use crate::kernel::envelope::{Envelope, Opened};

/// The platform's symmetric secrets.
#[derive(Clone)]
pub struct Secrets {
    /// Seals records that belong to no one account (ceremonies, pushed and login requests,
    /// signing keys, counter acts); also opens account values sealed before data keys.
    pub sealing: SealingKey,
    /// Keyed look-up hashes (from the identifier secret, which never rotates).
    pub lookup: HashKey,
    /// Pairwise subjects (from the identifier secret, which never rotates).
    pub pairwise: HashKey,
    pub envelope: Arc<Envelope>,
}

impl Secrets {
    pub fn new(opened: Opened) -> Secrets {
        let mut pairwise = [0u8; 32];
        pairwise.copy_from_slice(&opened.identifiers[..32]);
        let mut lookup = [0u8; 32];
        lookup.copy_from_slice(&opened.identifiers[32..]);
        Secrets {
            sealing: opened.envelope.platform_key(),
            lookup: HashKey::new(lookup),
            pairwise: HashKey::new(pairwise),
            envelope: Arc::new(opened.envelope),
        }
    }

    /// The pairwise subject of an account in a sector (OIDC Core section 8.1): stable for the
    /// pair, unlinkable across sectors.
    pub fn pairwise_subject(&self, sector: &str, account: &AccountId) -> String {
        self.pairwise.hash(&[sector.as_bytes(), account.as_bytes()])
    }
}
