//! Remote registration at the basic tier, checked against the population registry.
//!
//! Re-binding: an identity that already has an account can move to a new device only with a
//! signature from a currently active device of that account (a device-to-device transfer); the
//! old device is revoked in the same step. Without the old device the citizen re-registers in
//! person, where an officer checks the identity card. A registry match alone is not enough,
//! because name, date of birth and HKID number are not secrets.

use civpass_crypto::jws::DevicePublicKey;
use civpass_crypto::secret::random_token;
use time::Date;
use time::macros::format_description;

use crate::hkid::HkId;
use crate::model::{Account, Device, DeviceKind, Identity, Tier};
use crate::services::{Internal, Services};
use crate::store::StoreError;

pub struct EnrolRequest<'a> {
    pub id_number: &'a str,
    pub name_en: &'a str,
    pub date_of_birth: &'a str,
    /// Base64url uncompressed P-256 point.
    pub public_key: &'a str,
    /// The new key's signature over `enrol_message`, proving possession.
    pub proof: &'a str,
    pub transfer: Option<Transfer<'a>>,
}

/// Authorisation from the account's current device to move the account to the new key.
pub struct Transfer<'a> {
    pub device_id: &'a str,
    /// The current device's signature over `transfer_message`.
    pub signature: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub account_id: String,
    pub device_id: String,
    pub tier: Tier,
    pub transferred: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error(transparent)]
    InvalidIdNumber(#[from] crate::hkid::HkIdError),
    #[error("date of birth must be YYYY-MM-DD")]
    InvalidDateOfBirth,
    #[error("the device public key is not a P-256 point")]
    InvalidPublicKey,
    #[error("the proof of possession of the device key is invalid")]
    InvalidProof,
    /// Deliberately one error for "no such person" and "details differ", so that enrolment
    /// cannot be used to find out whether a number exists.
    #[error("the details do not match the population registry")]
    IdentityMismatch,
    #[error(
        "this identity already has a civpass account; approve the move from the current device, or re-register in person"
    )]
    AccountExists,
    #[error("the transfer authorisation is invalid")]
    InvalidTransfer,
    #[error("the population registry is unavailable")]
    RegistryUnavailable,
    #[error("passkeys are not available: the issuer's host is not a domain name")]
    PasskeysUnavailable,
    #[error("the registration has expired or was already finished; start again")]
    CeremonyNotFound,
    #[error("the passkey could not be verified")]
    PasskeyRejected,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The bytes a new device signs at enrolment.
pub fn enrol_message(hkid: &HkId, public_key: &str) -> Vec<u8> {
    format!("civpass-enrol/v1\n{}\n{public_key}", hkid.as_str()).into_bytes()
}

/// The bytes the current device signs to hand the account to a new key.
pub fn transfer_message(current_device_id: &str, new_public_key: &str) -> Vec<u8> {
    format!("civpass-transfer/v1\n{current_device_id}\n{new_public_key}").into_bytes()
}

fn new_device(
    account_id: &str,
    kind: DeviceKind,
    public_key: String,
    credential_id: Option<String>,
    now: i64,
) -> Device {
    Device {
        id: format!("d_{}", random_token(16)),
        account_id: account_id.to_owned(),
        public_key,
        kind,
        credential_id,
        created_at: now,
        revoked_at: None,
    }
}

/// Names compare without regard to case, commas or spacing, as the card prints them.
fn normalise_name(name: &str) -> String {
    name.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Identity details that matched the population registry.
pub(crate) struct VerifiedIdentity {
    pub(crate) hkid_hash: String,
    pub(crate) identity: Identity,
}

impl Services {
    /// Checks the details the citizen typed against the population registry.
    pub(crate) async fn verify_identity(
        &self,
        id_number: &str,
        name_en: &str,
        date_of_birth: &str,
    ) -> Result<VerifiedIdentity, EnrolError> {
        let hkid = HkId::parse(id_number)?;
        let dob = Date::parse(date_of_birth.trim(), format_description!("[year]-[month]-[day]"))
            .map_err(|_| EnrolError::InvalidDateOfBirth)?;
        let person =
            self.registry.find_person(&hkid).await.map_err(|_| EnrolError::RegistryUnavailable)?;
        let person = person
            .filter(|p| {
                normalise_name(&p.name_en) == normalise_name(name_en) && p.date_of_birth == dob
            })
            .ok_or(EnrolError::IdentityMismatch)?;
        Ok(VerifiedIdentity {
            hkid_hash: self.secrets.lookup.hash(&[hkid.as_str().as_bytes()]),
            identity: Identity {
                hkid: hkid.to_string(),
                name_en: person.name_en,
                name_zh: person.name_zh,
                date_of_birth: date_of_birth.trim().to_owned(),
                gender: person.gender,
            },
        })
    }

    /// Creates a basic-tier account with its first device; `AccountExists` if the identity
    /// already has one.
    pub(crate) async fn create_account(
        &self,
        account_id: String,
        verified: VerifiedIdentity,
        kind: DeviceKind,
        public_key: String,
        credential_id: Option<String>,
    ) -> Result<Enrolled, EnrolError> {
        let now = self.clock.now();
        let plaintext =
            serde_json::to_vec(&verified.identity).map_err(|e| Internal(e.to_string()))?;
        let vault = self
            .secrets
            .sealing
            .seal(&plaintext, account_id.as_bytes())
            .map_err(|e| Internal(e.to_string()))?;
        let account = Account {
            id: account_id,
            hkid_hash: verified.hkid_hash,
            tier: Tier::Basic,
            vault,
            created_at: now,
        };
        let device = new_device(&account.id, kind, public_key, credential_id, now);
        match self.store.insert_account(&account, &device).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                // Either unique key may have been taken by a registration racing this one.
                let taken = match &device.credential_id {
                    Some(id) => {
                        self.store.credential_registered(id).await.map_err(Internal::from)?
                    }
                    None => false,
                };
                return Err(if taken {
                    EnrolError::PasskeyRejected
                } else {
                    EnrolError::AccountExists
                });
            }
            Err(e) => return Err(Internal::from(e).into()),
        }
        tracing::info!(account_id = %account.id, device_id = %device.id, kind = kind.as_str(), "account registered");
        Ok(Enrolled {
            account_id: account.id,
            device_id: device.id,
            tier: account.tier,
            transferred: false,
        })
    }

    #[tracing::instrument(skip_all)]
    pub async fn enrol(&self, req: EnrolRequest<'_>) -> Result<Enrolled, EnrolError> {
        let hkid = HkId::parse(req.id_number)?;
        let public_key =
            DevicePublicKey::parse(req.public_key).map_err(|_| EnrolError::InvalidPublicKey)?;
        public_key
            .verify(&enrol_message(&hkid, req.public_key), req.proof)
            .map_err(|_| EnrolError::InvalidProof)?;
        let verified = self.verify_identity(req.id_number, req.name_en, req.date_of_birth).await?;

        if let Some(account) = self
            .store
            .find_account_by_hkid_hash(&verified.hkid_hash)
            .await
            .map_err(Internal::from)?
        {
            let transfer = req.transfer.ok_or(EnrolError::AccountExists)?;
            let current = self
                .store
                .find_device(transfer.device_id)
                .await
                .map_err(Internal::from)?
                .filter(|d| {
                    d.account_id == account.id
                        && d.revoked_at.is_none()
                        && d.kind == DeviceKind::Software
                })
                .ok_or(EnrolError::InvalidTransfer)?;
            DevicePublicKey::parse(&current.public_key)
                .and_then(|k| {
                    k.verify(&transfer_message(&current.id, req.public_key), transfer.signature)
                })
                .map_err(|_| EnrolError::InvalidTransfer)?;
            let now = self.clock.now();
            let device =
                new_device(&account.id, DeviceKind::Software, public_key.to_b64(), None, now);
            if !self
                .store
                .replace_device(&current.id, &device, now)
                .await
                .map_err(Internal::from)?
            {
                return Err(EnrolError::InvalidTransfer);
            }
            tracing::info!(account_id = %account.id, device_id = %device.id, "account moved to a new device");
            return Ok(Enrolled {
                account_id: account.id,
                device_id: device.id,
                tier: account.tier,
                transferred: true,
            });
        }
        let account_id = uuid::Uuid::now_v7().to_string();
        self.create_account(account_id, verified, DeviceKind::Software, public_key.to_b64(), None)
            .await
    }

    /// Opens an account's sealed identity data.
    pub(crate) fn open_identity(&self, account: &Account) -> Result<Identity, Internal> {
        let plaintext =
            self.secrets.sealing.open(&account.vault, account.id.as_bytes()).map_err(|_| {
                Internal(format!("vault of account {} cannot be opened", account.id))
            })?;
        serde_json::from_slice(&plaintext).map_err(|e| Internal(e.to_string()))
    }
}
