//! Signing requests: a service asks for documents (their names and SHA-256 digests) to be
//! signed; the citizen approves in the app with a device signature over exactly those digests
//! and the matching code (the signature activation data, docs/PKI.md); civpass checks it and
//! signs at once, one CAdES signature per document. The service polls for the result.
//!
//! The approval is the only way to a signature: it must come from an active device of a plus,
//! unsuspended account with a live certificate, name this request and its digests, carry the
//! code the service showed, and (if the service named one) be the expected signer's. It is
//! used once: the request is finished in the same step, so a replayed approval finds nothing
//! pending.

use base64::Engine;
use civpass_api::DocumentDigest;
use civpass_api::signing::{Verdict, documents_binding, signing_message};
use civpass_crypto::jws::DevicePublicKey;
use civpass_crypto::secret::{ct_eq, random_below, random_token};

use crate::identity::model::{DeviceKind, Tier};
use crate::kernel::text::display_text;
use crate::kernel::{AccountId, ClientId, DeviceId, Internal};
use crate::signing::store::SigningRequest;
use crate::signing::{SignError, SigningService};

/// How long a signing request waits for the citizen: five minutes.
pub const SIGNING_REQUEST_TTL: i64 = 300;
/// What a service is told when the citizen could not sign.
const CANNOT_SIGN: &str = "the citizen cannot sign with legal effect";
/// Documents one approval may cover.
pub const MAX_DOCUMENTS: usize = 20;

/// Why a signing request was refused or could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SigningRequestError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such signing request")]
    NotFound,
    #[error("the signing request was answered already, or expired")]
    NotPending,
    #[error("the device is not an active device")]
    UnknownDevice,
    #[error("the device's signature does not verify")]
    BadSignature,
    #[error("the matching code is not the one the service showed")]
    WrongMatchCode,
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<crate::kernel::store::StoreError> for SigningRequestError {
    fn from(e: crate::kernel::store::StoreError) -> SigningRequestError {
        SigningRequestError::Internal(e.into())
    }
}

/// A request made: its id, the link for the app, the matching code, when it expires.
#[derive(Clone, Debug)]
pub struct CreatedSigningRequest {
    pub id: String,
    pub link: String,
    pub match_code: String,
    pub expires_at: i64,
}

/// A pending request as the app shows it.
#[derive(Clone, Debug)]
pub struct SigningRequestForApp {
    pub id: String,
    pub client_id: ClientId,
    pub client_name: String,
    pub documents: Vec<DocumentDigest>,
    /// `civpass_api::signing::documents_binding` of the digests.
    pub documents_binding: String,
    pub expires_at: i64,
}

/// What the service sees of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningOutcome {
    Pending,
    Expired,
    Denied,
    Refused(String),
    /// One detached CAdES signature (DER) per document, in order.
    Signed(Vec<Vec<u8>>),
}

fn digests_of(documents: &[DocumentDigest]) -> Result<Vec<[u8; 32]>, SigningRequestError> {
    documents
        .iter()
        .map(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d.digest.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    SigningRequestError::Invalid(format!(
                        "the digest of {:?} is not a base64 SHA-256 digest (32 bytes)",
                        d.name
                    ))
                })
        })
        .collect()
}

impl SigningService {
    /// A client's request to sign `documents` (1 to 20, each a name of 1 to 200 characters and
    /// a base64 SHA-256 digest), by `expected_sub` only if given.
    ///
    /// Errors: `Invalid` (the documents); `Internal`.
    pub async fn create_signing_request(
        &self,
        client_id: &ClientId,
        client_name: &str,
        sector: &str,
        documents: Vec<DocumentDigest>,
        expected_sub: Option<String>,
    ) -> Result<CreatedSigningRequest, SigningRequestError> {
        if documents.is_empty() || documents.len() > MAX_DOCUMENTS {
            return Err(SigningRequestError::Invalid(format!(
                "a signing request holds 1 to {MAX_DOCUMENTS} documents"
            )));
        }
        let mut checked = Vec::with_capacity(documents.len());
        for document in documents {
            let name = display_text(&document.name, 200).ok_or_else(|| {
                SigningRequestError::Invalid(
                    "a document's name is 1 to 200 characters of plain text".into(),
                )
            })?;
            checked.push(DocumentDigest { name, digest: document.digest.trim().to_owned() });
        }
        digests_of(&checked)?;
        if let Some(sub) = &expected_sub
            && (sub.is_empty() || sub.len() > 255)
        {
            return Err(SigningRequestError::Invalid("expected_signer is a sub".into()));
        }
        let now = self.ctx.now();
        let id = format!("sr_{}", random_token(16));
        let request = SigningRequest {
            id: id.clone(),
            client_id: client_id.clone(),
            client_name: client_name.to_owned(),
            sector: sector.to_owned(),
            sealed_documents: self.seal_documents(&id, &checked)?,
            expected_sub,
            match_code: format!("{:02}", random_below(100)),
            status: "pending".into(),
            account_id: None,
            sealed_result: None,
            failure: None,
            created_at: now,
            expires_at: now + SIGNING_REQUEST_TTL,
            decided_at: None,
        };
        self.store.insert_signing_request(&request).await?;
        tracing::info!(client_id = %client_id, request_id = %request.id, "signing request made");
        Ok(CreatedSigningRequest {
            link: format!("{}/app/sign?request={}", self.ctx.settings.issuer, request.id),
            id: request.id,
            match_code: request.match_code,
            expires_at: request.expires_at,
        })
    }

    /// The pending request as the app shows it (no matching code: the citizen reads it on the
    /// service's page).
    ///
    /// Errors: `NotFound`; `NotPending`.
    pub async fn signing_request_view(
        &self,
        id: &str,
    ) -> Result<SigningRequestForApp, SigningRequestError> {
        let request = self.pending(id).await?;
        let documents = self.open_documents(&request)?;
        Ok(SigningRequestForApp {
            documents_binding: documents_binding(&digests_of(&documents)?),
            documents,
            id: request.id,
            client_id: request.client_id,
            client_name: request.client_name,
            expires_at: request.expires_at,
        })
    }

    /// Forgets requests a day after they expired (a service collects its signatures within
    /// that); returns how many. Run by the housekeeping.
    pub async fn purge_signing_requests(&self) -> Result<u64, Internal> {
        Ok(self.store.delete_signing_requests_before(self.ctx.now() - 86_400).await?)
    }

    fn seal_documents(
        &self,
        id: &str,
        documents: &[DocumentDigest],
    ) -> Result<Vec<u8>, SigningRequestError> {
        let json = serde_json::to_vec(documents)
            .map_err(|e| Internal::caused("writing a signing request", e))?;
        Ok(self
            .ctx
            .secrets
            .sealing
            .seal(&json, id.as_bytes())
            .map_err(|e| Internal::caused("sealing a signing request", e))?)
    }

    fn open_documents(
        &self,
        request: &SigningRequest,
    ) -> Result<Vec<DocumentDigest>, SigningRequestError> {
        let json = self
            .ctx
            .secrets
            .sealing
            .open(&request.sealed_documents, request.id.as_bytes())
            .map_err(|e| Internal::caused("opening a signing request", e))?;
        Ok(serde_json::from_slice(&json)
            .map_err(|e| Internal::caused("reading a signing request", e))?)
    }

    async fn pending(&self, id: &str) -> Result<SigningRequest, SigningRequestError> {
        let request =
            self.store.find_signing_request(id).await?.ok_or(SigningRequestError::NotFound)?;
        if request.status != "pending" || self.ctx.now() >= request.expires_at {
            return Err(SigningRequestError::NotPending);
        }
        Ok(request)
    }

    /// The app's answer, signed by the device (a software key; ES256 over `signing_message`).
    /// On approval, checks everything the signature activation needs and signs at once.
    ///
    /// Errors: `NotFound`, `NotPending`, `UnknownDevice`, `BadSignature`, `WrongMatchCode`,
    /// `Refused` (not plus, suspended, no certificate, not the expected signer).
    #[tracing::instrument(skip_all, fields(request_id = id))]
    pub async fn decide_signing_request(
        &self,
        id: &str,
        device_id: &str,
        verdict: Verdict,
        match_code: &str,
        signature: &str,
    ) -> Result<(), SigningRequestError> {
        let request = self.pending(id).await?;
        let device = self
            .identity
            .active_device(&DeviceId::from(device_id))
            .await
            .map_err(Internal::from)?
            .ok_or(SigningRequestError::UnknownDevice)?;
        let digests = digests_of(&self.open_documents(&request)?)?;
        let message = signing_message(
            &self.ctx.settings.issuer,
            &request.id,
            &documents_binding(&digests),
            verdict,
            match_code,
        );
        // The proof first, so that nobody but the device can end a request.
        if device.kind != DeviceKind::Software {
            return Err(SigningRequestError::Refused(
                "approve signing requests with the command-line wallet for now: the app's passkey approval is not built yet",
            ));
        }
        DevicePublicKey::parse(&device.public_key)
            .and_then(|key| key.verify(&message, signature))
            .map_err(|_| SigningRequestError::BadSignature)?;
        let now = self.ctx.now();
        let finish =
            |status: &str, failure: Option<String>, sealed: Option<Vec<u8>>| SigningRequest {
                status: status.to_owned(),
                account_id: Some(device.account_id.clone()),
                failure,
                sealed_result: sealed,
                decided_at: Some(now),
                ..request.clone()
            };
        // Only the expected signer, when the service named one, may answer at all: nobody
        // else who sees the link can end the request or have it reported as refused.
        if let Some(expected) = &request.expected_sub {
            let sub = self.ctx.secrets.pairwise_subject(&request.sector, &device.account_id);
            if !ct_eq(expected, &sub) {
                return Err(SigningRequestError::Refused("this request is for another citizen"));
            }
        }
        if verdict == Verdict::Deny {
            return self.finish(&finish("denied", None, None)).await;
        }
        if !ct_eq(match_code, &request.match_code) {
            // A wrong code ends the request: the citizen may be looking at a phishing page.
            self.finish(&finish("refused", Some("wrong matching code".into()), None)).await?;
            return Err(SigningRequestError::WrongMatchCode);
        }
        let refuse = |why: &'static str| async move {
            self.finish(&finish("refused", Some(why.into()), None)).await?;
            Err::<(), _>(SigningRequestError::Refused(why))
        };
        let account = self.identity.account(&device.account_id).await.map_err(Internal::from)?;
        // The service is told only that the citizen could not sign, not why (a suspension or
        // a tier is the citizen's business); the app is told why.
        if account.suspended_at.is_some() {
            self.finish(&finish("refused", Some(CANNOT_SIGN.into()), None)).await?;
            return Err(SigningRequestError::Refused("the citizen's account is suspended"));
        }
        if account.tier != Tier::Plus {
            self.finish(&finish("refused", Some(CANNOT_SIGN.into()), None)).await?;
            return Err(SigningRequestError::Refused("only plus citizens sign with legal effect"));
        }
        let signatures = match self.sign_digests_for(&account.id, &digests).await {
            Ok(signatures) => signatures,
            Err(SignError::NoCredential | SignError::NotInitialised) => {
                return refuse("the citizen has no live signing certificate").await;
            }
            Err(SignError::Internal(e)) => return Err(e.into()),
        };
        let encoded: Vec<String> = signatures
            .iter()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
            .collect();
        let json =
            serde_json::to_vec(&encoded).map_err(|e| Internal::caused("writing signatures", e))?;
        let sealed = self.ctx.data_key(&account.id).await?.seal(&json, request.id.as_bytes())?;
        self.finish(&finish("signed", None, Some(sealed))).await?;
        tracing::info!(account_id = %account.id, client_id = %request.client_id, documents = digests.len(), "documents signed");
        Ok(())
    }

    async fn finish(&self, outcome: &SigningRequest) -> Result<(), SigningRequestError> {
        if !self.store.finish_signing_request(outcome).await? {
            return Err(SigningRequestError::NotPending);
        }
        Ok(())
    }

    /// Where the client's request stands; another client's request is `NotFound`.
    ///
    /// Errors: `NotFound`; `Internal`.
    pub async fn signing_outcome(
        &self,
        client_id: &ClientId,
        id: &str,
    ) -> Result<SigningOutcome, SigningRequestError> {
        let request = self
            .store
            .find_signing_request(id)
            .await?
            .filter(|r| &r.client_id == client_id)
            .ok_or(SigningRequestError::NotFound)?;
        Ok(match request.status.as_str() {
            "pending" if self.ctx.now() >= request.expires_at => SigningOutcome::Expired,
            "pending" => SigningOutcome::Pending,
            "denied" => SigningOutcome::Denied,
            "signed" => {
                let account: AccountId = request
                    .account_id
                    .clone()
                    .ok_or_else(|| Internal::new("a signed request without its signer"))?;
                let sealed = request
                    .sealed_result
                    .as_deref()
                    .ok_or_else(|| Internal::new("a signed request without signatures"))?;
                let json =
                    self.ctx.data_key(&account).await?.open(sealed, request.id.as_bytes())?;
                let encoded: Vec<String> = serde_json::from_slice(&json)
                    .map_err(|e| Internal::caused("reading signatures", e))?;
                let decoded = encoded
                    .iter()
                    .map(|s| base64::engine::general_purpose::STANDARD.decode(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Internal::caused("reading signatures", e))?;
                SigningOutcome::Signed(decoded)
            }
            _ => SigningOutcome::Refused(request.failure.unwrap_or_default()),
        })
    }
}
