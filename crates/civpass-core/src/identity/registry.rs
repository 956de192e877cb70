//! The population registry port: where identity data is checked at enrolment.
//!
//! The sandbox registry of synthetic people implements it, and an HTTP adapter for an
//! authoritative registry (the Immigration Department in the paper) can replace it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::identity::hkid::HkId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }
}

/// One person as the registry knows them.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryRecord {
    pub hkid: HkId,
    /// English name as on the identity card, surname first: `CHAN Tai Man`.
    pub name_en: String,
    /// Chinese name in Traditional characters: `陳大文`.
    pub name_zh: String,
    pub date_of_birth: Date,
    pub gender: Gender,
}

/// Redacted: registry records are personal data.
impl std::fmt::Debug for RegistryRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryRecord(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the population registry is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait RegistrySource: Send + Sync {
    /// The person with this HKID, or `None` if the registry has no such person.
    async fn find_person(&self, hkid: &HkId) -> Result<Option<RegistryRecord>, RegistryError>;
}
