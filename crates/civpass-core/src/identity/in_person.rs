//! What the identity slice offers in-person registration (the counter slice): the registry
//! check an officer runs on a card, with its outcomes told apart (the officer holds the card),
//! and the account, vault and evidence records an in-person act creates.

use crate::identity::IdentityService;
use crate::identity::evidence::{EvidenceLevel, EvidenceRecord};
use crate::identity::hkid::HkId;
use crate::identity::model::{Account, Identity, Tier};
use crate::identity::registration::normalise_name;
use crate::identity::registry::RegistryError;
use crate::kernel::{AccountId, Internal};

/// The evidence method of an identity card checked by an officer at a registration point.
pub const IN_PERSON_CARD: &str = "in_person_card";
/// The evidence method of a kiosk: its card reader, and a face match by the identity evidence
/// verifier at the strong level.
pub const KIOSK_CARD_FACE_MATCH: &str = "kiosk_card_reader_face_match";

/// What the population registry says of a card's details (no `Debug`: it holds personal data).
#[derive(Clone, PartialEq, Eq)]
pub enum RegistryCheck {
    /// The registry's person, whose details the card's match.
    Match(Box<Identity>),
    NoSuchPerson,
    DetailsDiffer,
}

impl IdentityService {
    /// The keyed hash accounts are found by.
    pub(crate) fn hkid_hash(&self, hkid: &HkId) -> String {
        self.ctx.secrets.lookup.hash(&[hkid.as_str().as_bytes()])
    }

    /// Checks a card's details against the population registry: a name compared as the card
    /// prints it (case, commas and spacing aside), a date of birth `YYYY-MM-DD`.
    ///
    /// Errors: the registry did not answer.
    pub(crate) async fn check_card(
        &self,
        hkid: &HkId,
        name_en: &str,
        date_of_birth: &str,
    ) -> Result<RegistryCheck, RegistryError> {
        let Some(person) = self.registry.find_person(hkid).await? else {
            return Ok(RegistryCheck::NoSuchPerson);
        };
        let dob = crate::identity::registration::parse_date_of_birth(date_of_birth);
        if normalise_name(&person.name_en) != normalise_name(name_en)
            || dob.ok() != Some(person.date_of_birth)
        {
            return Ok(RegistryCheck::DetailsDiffer);
        }
        Ok(RegistryCheck::Match(Box::new(Identity {
            hkid: hkid.to_string(),
            name_en: person.name_en,
            name_zh: person.name_zh,
            date_of_birth: date_of_birth.trim().to_owned(),
            gender: person.gender,
        })))
    }

    /// A new account holding `identity` sealed in its vault.
    pub(crate) async fn new_account(
        &self,
        id: AccountId,
        identity: &Identity,
        tier: Tier,
    ) -> Result<Account, Internal> {
        let vault = self.seal_vault(&id, identity).await?;
        Ok(Account {
            hkid_hash: self.hkid_hash(
                &HkId::parse(&identity.hkid).map_err(|e| Internal::caused("a stored HKID", e))?,
            ),
            id,
            tier,
            vault,
            created_at: self.ctx.now(),
            suspended_at: None,
            awaiting_guardian_since: None,
        })
    }

    /// The record of a card checked in person for `purpose` (`registration`, `upgrade`), at
    /// the strong level; `reference` (the counter act) is sealed with the account id.
    pub(crate) async fn in_person_evidence(
        &self,
        account_id: &AccountId,
        purpose: &str,
        method: &str,
        reference: &str,
    ) -> Result<EvidenceRecord, Internal> {
        let sealed_reference = self
            .ctx
            .data_key(account_id)
            .await?
            .seal(reference.as_bytes(), account_id.as_bytes())?;
        Ok(EvidenceRecord {
            id: self.ctx.new_id().to_string(),
            account_id: account_id.clone(),
            purpose: purpose.to_owned(),
            method: method.to_owned(),
            level: EvidenceLevel::Strong,
            sealed_reference,
            verified_at: self.ctx.now(),
        })
    }
}
