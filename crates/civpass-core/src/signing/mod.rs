//! Signing with legal effect for plus citizens (issue 14, in progress; docs/PKI.md): the
//! platform's certificate authorities and each plus citizen's signing certificate and key.
//!
//! The CAs' keys are sealed with the platform key; a citizen's certificate (it names them) and
//! key are sealed with their own data key. The root's key can be exported for cold storage
//! and removed: issuing needs only the issuing CA's. The X.509 and CMS work is
//! `civpass_pki`'s; this slice decides who gets what, when.

pub mod keystore;
pub mod requests;
pub mod store;

use std::sync::Arc;

use civpass_pki::ca::{self, Authority, SignerSubject};
use civpass_pki::cades::{SignedAttributes, detached_signature};

use crate::identity::IdentityService;
use crate::identity::model::{Account, Tier};
use crate::kernel::{AccountId, Ctx, Internal};
use crate::signing::store::{SigningStore, StoredAuthority, StoredCredential};

/// How long a citizen's signing certificate is valid: two years, then re-issued.
pub const CERTIFICATE_LIFETIME: i64 = 2 * 365 * 86_400;
const ROOT: &str = "root";
const ISSUING: &str = "issuing";

#[derive(Clone)]
pub struct SigningService {
    pub(crate) ctx: Ctx,
    pub(crate) identity: IdentityService,
    pub(crate) store: Arc<dyn SigningStore>,
    pub(crate) keys: Arc<dyn keystore::KeyStore>,
}

/// What `init_pki` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiInit {
    /// The CAs were made now (false: they existed).
    pub created: bool,
    /// Certificates issued to plus accounts that had none.
    pub issued: usize,
}

/// Why a PKI command refused.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("the platform has no PKI yet: run `civpass pki init`")]
    NotInitialised,
    #[error("the root CA's key is not on the platform any more (it went to cold storage)")]
    RootKeyGone,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Why a signature was not made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the platform has no PKI yet: run `civpass pki init`")]
    NotInitialised,
    #[error("the citizen has no live signing certificate (not plus, suspended, or revoked)")]
    NoCredential,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<crate::kernel::store::StoreError> for SignError {
    fn from(e: crate::kernel::store::StoreError) -> SignError {
        SignError::Internal(e.into())
    }
}

impl From<crate::kernel::store::StoreError> for PkiError {
    fn from(e: crate::kernel::store::StoreError) -> PkiError {
        PkiError::Internal(e.into())
    }
}

fn pki_error(e: civpass_pki::PkiError) -> Internal {
    Internal::caused("the PKI", e)
}

impl SigningService {
    /// Makes the root CA (20 years) and the issuing CA (10 years) if the platform has none,
    /// named for `organisation`, then issues a signing certificate to every plus account
    /// without a live one. Run again, it only issues what is missing.
    ///
    /// Errors: `Internal` (the store; a name that cannot be encoded).
    pub async fn init_pki(&self, organisation: &str) -> Result<PkiInit, Internal> {
        let now = self.ctx.now();
        let mut created = false;
        if self.store.find_authority(ROOT).await?.is_none() {
            let root =
                Authority::new_root(&format!("{organisation} Root CA"), organisation, now, 20)
                    .map_err(pki_error)?;
            let issuing = root
                .new_issuing(&format!("{organisation} Citizen Signing CA"), organisation, now, 10)
                .map_err(pki_error)?;
            let stored = |kind: &str, authority: &Authority| -> Result<StoredAuthority, Internal> {
                let key = authority.key_pkcs8().map_err(pki_error)?;
                Ok(StoredAuthority {
                    kind: kind.to_owned(),
                    certificate: ca::to_der(&authority.certificate).map_err(pki_error)?,
                    sealed_key: Some(self.seal_authority_key(kind, &key)?),
                    created_at: now,
                })
            };
            created = self
                .store
                .insert_authorities(&stored(ROOT, &root)?, &stored(ISSUING, &issuing)?)
                .await?;
        }
        let mut issued = 0;
        let mut after: Option<AccountId> = None;
        loop {
            let batch = self.store.plus_accounts(after.as_ref(), 200).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id.clone());
            for account in &batch {
                if self.live_credential(&account.id).await?.is_none()
                    && self.issue_for(account).await?.is_some()
                {
                    issued += 1;
                }
            }
        }
        Ok(PkiInit { created, issued })
    }

    /// The root CA's certificate as PEM: the trust anchor relying parties and verifiers need.
    ///
    /// Errors: `NotInitialised`.
    pub async fn root_certificate_pem(&self) -> Result<String, PkiError> {
        let root = self.store.find_authority(ROOT).await?.ok_or(PkiError::NotInitialised)?;
        let certificate = ca::from_der(&root.certificate).map_err(pki_error)?;
        Ok(ca::to_pem(&certificate).map_err(pki_error)?)
    }

    /// Verifies a detached CAdES signature (DER) over content whose SHA-256 digest is
    /// `content_digest`, against the platform's root: signer, signing time, chain, and whether
    /// the content matches (`civpass_pki::cades::Report`).
    ///
    /// Errors: `NotInitialised`; `Internal` for a signature that cannot be read at all (its
    /// message says why, for the caller to return as a bad request).
    pub async fn verify(
        &self,
        signature: &[u8],
        content_digest: &[u8],
    ) -> Result<Result<civpass_pki::cades::Report, String>, PkiError> {
        let root = self.store.find_authority(ROOT).await?.ok_or(PkiError::NotInitialised)?;
        let root = ca::from_der(&root.certificate).map_err(pki_error)?;
        Ok(civpass_pki::cades::verify_detached(signature, content_digest, &[root], self.ctx.now())
            .map_err(|e| e.to_string()))
    }

    /// The root CA's private key as PKCS#8 PEM, for cold storage.
    ///
    /// Errors: `NotInitialised`; `RootKeyGone` once removed.
    pub async fn root_key_pem(&self) -> Result<String, PkiError> {
        let root = self.store.find_authority(ROOT).await?.ok_or(PkiError::NotInitialised)?;
        let sealed = root.sealed_key.ok_or(PkiError::RootKeyGone)?;
        let der = self.open_authority_key(ROOT, &sealed)?;
        Ok(Authority::key_pem(&der).map_err(pki_error)?)
    }

    /// Removes the root CA's key from the platform (export it first); issuing goes on.
    ///
    /// Errors: `NotInitialised`; `RootKeyGone` if it was removed already.
    pub async fn remove_root_key(&self) -> Result<(), PkiError> {
        self.store.find_authority(ROOT).await?.ok_or(PkiError::NotInitialised)?;
        if !self.store.remove_authority_key(ROOT).await? {
            return Err(PkiError::RootKeyGone);
        }
        tracing::warn!("the root CA's key was removed from the platform");
        Ok(())
    }

    /// Issues `account` a signing certificate and key if the account is plus and the PKI
    /// exists; returns the serial number (hexadecimal), `None` if not issued.
    ///
    /// Errors: `Internal` (the store; the identity cannot be opened).
    pub async fn issue_for(&self, account: &Account) -> Result<Option<String>, Internal> {
        if account.tier != Tier::Plus || account.suspended_at.is_some() {
            return Ok(None);
        }
        let Some(issuing) = self.store.find_authority(ISSUING).await? else { return Ok(None) };
        let sealed = issuing
            .sealed_key
            .as_deref()
            .ok_or_else(|| Internal::new("the issuing CA has no key"))?;
        let authority =
            Authority::from_der(&self.open_authority_key(ISSUING, sealed)?, &issuing.certificate)
                .map_err(pki_error)?;
        let identity = self.identity.open_identity(account).await?;
        let subject = SignerSubject {
            common_name: identity.name_en.clone(),
            pseudonym: self.pseudonym(&account.id),
        };
        let (key_ref, public_key) = self.keys.generate(&account.id).await?;
        let now = self.ctx.now();
        let not_after = now + CERTIFICATE_LIFETIME;
        let certificate = authority
            .issue_signing_certificate(
                &subject,
                &public_key,
                now,
                not_after,
                ca::SANDBOX_SIGNING_POLICY,
            )
            .map_err(pki_error)?;
        let serial = hex(certificate.tbs_certificate.serial_number.as_bytes());
        let der = ca::to_der(&certificate).map_err(pki_error)?;
        let data_key = self.ctx.data_key(&account.id).await?;
        let associated = format!("signing/{serial}");
        self.store
            .insert_credential(&StoredCredential {
                serial: serial.clone(),
                account_id: account.id.clone(),
                sealed_certificate: data_key.seal(&der, associated.as_bytes())?,
                sealed_key: self.keys.bind(&account.id, &serial, key_ref).await?,
                not_after,
                created_at: now,
                revoked_at: None,
                revocation_reason: None,
            })
            .await?;
        tracing::info!(account_id = %account.id, serial, "signing certificate issued");
        Ok(Some(serial))
    }

    /// Completes the remote moves of accounts whose waiting time is over
    /// (`IdentityService::activate_due_recoveries`), then ends the certificates the old phone
    /// could activate and issues new ones; returns how many accounts moved. Run by the
    /// housekeeping.
    ///
    /// Errors: `Internal` (the moves themselves; a certificate failure is logged).
    pub async fn complete_due_moves(&self) -> Result<u64, Internal> {
        let moved = self.identity.activate_due_recoveries().await?;
        let now = self.ctx.now();
        for account_id in &moved {
            if let Err(e) =
                self.store.revoke_credentials_of(account_id, now, "device_replaced").await
            {
                tracing::error!(account_id = %account_id, error = %crate::kernel::error::Chain(&e), "a moved account's certificates were not revoked");
                continue;
            }
            self.issue_if_missing(account_id).await;
        }
        Ok(moved.len() as u64)
    }

    /// Issues a certificate to an account that is plus, not suspended and has no live one: after
    /// it became plus, was reinstated, or its certificates ended with a lost or replaced phone.
    /// The change that called it stands whatever happens here: a failure is logged, and
    /// `civpass pki init` issues what is missing.
    pub async fn issue_if_missing(&self, account_id: &AccountId) {
        let issued = match self.identity.account(account_id).await {
            Ok(account) => match self.live_credential(account_id).await {
                Ok(Some(_)) => Ok(None),
                Ok(None) => self.issue_for(&account).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        };
        if let Err(e) = issued {
            tracing::error!(
                account_id = %account_id,
                error = %crate::kernel::error::Chain(&e),
                "no signing certificate issued after an upgrade"
            );
        }
    }

    /// Signs each SHA-256 digest with the account's live credential: CAdES B-B detached
    /// signatures (DER), with the certificate and the issuing CA's in them.
    ///
    /// The caller must have checked the citizen's approval of exactly these digests (the
    /// signature activation data, docs/PKI.md); the signing request is that caller once the
    /// CSC API exists.
    ///
    /// Errors: `NotInitialised`; `NoCredential` for an account without a live certificate
    /// (basic, suspended, revoked); `Internal`.
    pub async fn sign_digests_for(
        &self,
        account_id: &AccountId,
        digests: &[[u8; 32]],
    ) -> Result<Vec<Vec<u8>>, SignError> {
        let issuing = self.store.find_authority(ISSUING).await?.ok_or(SignError::NotInitialised)?;
        let issuing = ca::from_der(&issuing.certificate).map_err(pki_error)?;
        let now = self.ctx.now();
        let (credential, der) =
            self.live_stored_credential(account_id).await?.ok_or(SignError::NoCredential)?;
        let certificate = ca::from_der(&der).map_err(pki_error)?;
        let mut out = Vec::with_capacity(digests.len());
        for digest in digests {
            let attributes =
                SignedAttributes::new(digest, &certificate, Some(now)).map_err(pki_error)?;
            let to_sign = attributes.to_be_signed().map_err(pki_error)?;
            let signature = self
                .keys
                .sign(account_id, &credential.serial, &credential.sealed_key, &to_sign)
                .await?;
            out.push(
                detached_signature(attributes, &signature, std::slice::from_ref(&issuing))
                    .map_err(pki_error)?,
            );
        }
        Ok(out)
    }

    /// The account's newest certificate that is neither revoked nor expired, opened (DER).
    ///
    /// Errors: `Internal`.
    pub async fn live_credential(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<Vec<u8>>, Internal> {
        Ok(self.live_stored_credential(account_id).await?.map(|(_, der)| der))
    }

    /// The account's newest live credential as stored, with its certificate opened (DER).
    async fn live_stored_credential(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<(StoredCredential, Vec<u8>)>, Internal> {
        let now = self.ctx.now();
        let Some(credential) = self
            .store
            .credentials_of(account_id)
            .await?
            .into_iter()
            .find(|c| c.revoked_at.is_none() && c.not_after > now)
        else {
            return Ok(None);
        };
        let associated = format!("signing/{}", credential.serial);
        let der = self
            .ctx
            .data_key(account_id)
            .await?
            .open(&credential.sealed_certificate, associated.as_bytes())?;
        Ok(Some((credential, der)))
    }

    /// A stable pseudonym for the certificate's `serialNumber`: a keyed hash of the account
    /// (from the identifier secret, which never rotates), never the ID number.
    fn pseudonym(&self, account_id: &AccountId) -> String {
        let hash = self.ctx.secrets.lookup.hash(&[b"signing-pseudonym", account_id.as_bytes()]);
        let printable: String = hash
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_ascii_uppercase();
        format!("CP-{printable}")
    }

    fn seal_authority_key(&self, kind: &str, key: &[u8]) -> Result<Vec<u8>, Internal> {
        self.ctx
            .secrets
            .sealing
            .seal(key, format!("pki/{kind}").as_bytes())
            .map_err(|e| Internal::caused("sealing a CA key", e))
    }

    fn open_authority_key(&self, kind: &str, sealed: &[u8]) -> Result<Vec<u8>, Internal> {
        self.ctx
            .secrets
            .sealing
            .open(sealed, format!("pki/{kind}").as_bytes())
            .map_err(|e| Internal::caused("opening a CA key", e))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
