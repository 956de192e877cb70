//! The account and the identity it holds. Personal data appears here only sealed
//! (`Account::vault`) or as keyed hashes (`Account::hkid_hash`).

use serde::{Deserialize, Serialize};

use crate::identity::registry::Gender;
use crate::kernel::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Basic,
    Plus,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "basic",
            Tier::Plus => "plus",
        }
    }

    pub fn parse(text: &str) -> Option<Tier> {
        match text {
            "basic" => Some(Tier::Basic),
            "plus" => Some(Tier::Plus),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    /// Keyed hash of the canonical HKID, for look-up without decrypting.
    pub hkid_hash: String,
    pub tier: Tier,
    /// `Identity` as JSON, sealed with the account id as associated data.
    pub vault: Vec<u8>,
    pub created_at: UnixTime,
}

/// The verified identity data held for a citizen (plaintext only in memory).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub hkid: String,
    pub name_en: String,
    pub name_zh: String,
    pub date_of_birth: String,
    pub gender: Gender,
}
