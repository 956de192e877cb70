//! Identity evidence verifiers: the sandbox's, which passes or fails as the tester asks, and an
//! HTTP adapter for a vendor's verification service.
//!
//! `HttpEvidenceVerifier` expects this contract, which a vendor offers directly or through a
//! small adapter beside its own API:
//!
//! - Request: `POST {base_url}/v1/verifications` with `Content-Type: application/json`,
//!   `Authorization: Bearer {token}` when a token is configured, and the body
//!   `{"session": "...", "reference": "...", "id_number": "A123456(3)", "name_en": "CHAN Tai Man",
//!   "date_of_birth": "1990-05-17"}`: the session reference the vendor's SDK gave the app; the
//!   reference civpass opened the check with, which the app passed to the SDK when it started
//!   the session; and the details the citizen typed, which the vendor compares with the
//!   document it read and whose registry photo it matches the face against.
//! - `200 OK`: `{"reference": "...", "outcome": "pass" | "document_mismatch" | "liveness_failed" |
//!   "timeout", "method": "...", "level": "basic" | "strong", "vendor_reference": "..."}`, where
//!   `reference` is the one the session was started with (civpass refuses a verdict for any
//!   other); unknown fields are ignored.
//! - `404 Not Found`: the vendor does not know the session.
//! - Anything else (another status, a malformed or oversized body, no answer within 10 seconds)
//!   is `EvidenceError::Unavailable`, with a message free of personal data.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use civpass_core::identity::evidence::{
    EvidenceCheck, EvidenceError, EvidenceLevel, EvidenceOutcome, EvidenceResult, EvidenceVerifier,
};
use civpass_core::kernel::error::Chain;
use civpass_crypto::secret::random_token;
use serde::Deserialize;
use url::Url;

/// The sandbox's verifier: the session names the outcome the tester wants (`pass`,
/// `document_mismatch`, `liveness_failed` or `timeout`); a pass is `strong`, unless the session
/// ends in `:basic` (`pass:basic`), as a vendor's check without a chip read would be.
#[derive(Debug, Default, Clone, Copy)]
pub struct SandboxEvidenceVerifier;

#[async_trait]
impl EvidenceVerifier for SandboxEvidenceVerifier {
    async fn verify(&self, check: &EvidenceCheck<'_>) -> Result<EvidenceResult, EvidenceError> {
        let (session, level) = match check.session.strip_suffix(":basic") {
            Some(session) => (session, EvidenceLevel::Basic),
            None => (check.session, EvidenceLevel::Strong),
        };
        let outcome = EvidenceOutcome::parse(session).ok_or(EvidenceError::UnknownSession)?;
        Ok(EvidenceResult {
            // The tester's check is always the one civpass opened.
            reference: check.reference.to_owned(),
            outcome,
            method: "sandbox_document_liveness_face_match".to_owned(),
            level,
            vendor_reference: format!("sandbox-{}", random_token(12)),
        })
    }

    fn is_sandbox(&self) -> bool {
        true
    }
}

/// A vendor's verification service over HTTP; the contract is in the module documentation.
pub struct HttpEvidenceVerifier {
    client: reqwest::Client,
    verifications_url: Url,
    bearer_token: Option<String>,
}

/// Shows neither the token nor anything else secret.
impl fmt::Debug for HttpEvidenceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpEvidenceVerifier")
            .field("verifications_url", &self.verifications_url.as_str())
            .field("has_bearer_token", &self.bearer_token.is_some())
            .finish()
    }
}

/// A verdict is a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// A vendor's verdict on a finished session comes from its database; ten seconds is generous.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct VerdictWire {
    reference: String,
    outcome: String,
    method: String,
    level: String,
    vendor_reference: String,
}

impl HttpEvidenceVerifier {
    /// `base_url` may have a path; a query or fragment is dropped.
    pub fn new(
        base_url: &str,
        bearer_token: Option<String>,
    ) -> Result<HttpEvidenceVerifier, crate::HttpRegistryError> {
        let mut url = Url::parse(base_url).map_err(|_| crate::HttpRegistryError::InvalidBaseUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(crate::HttpRegistryError::InvalidBaseUrl);
        }
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| crate::HttpRegistryError::InvalidBaseUrl)?
            .pop_if_empty()
            .extend(["v1", "verifications"]);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(crate::HttpRegistryError::HttpClient)?;
        Ok(HttpEvidenceVerifier { client, verifications_url: url, bearer_token })
    }
}

fn unavailable(message: &str) -> EvidenceError {
    EvidenceError::Unavailable(message.to_owned())
}

#[async_trait]
impl EvidenceVerifier for HttpEvidenceVerifier {
    async fn verify(&self, check: &EvidenceCheck<'_>) -> Result<EvidenceResult, EvidenceError> {
        let body = serde_json::json!({
            "session": check.session,
            "reference": check.reference,
            "id_number": check.hkid.to_string(),
            "name_en": check.name_en,
            "date_of_birth": check.date_of_birth,
        });
        let mut req = self.client.post(self.verifications_url.clone()).json(&body);
        if let Some(token) = &self.bearer_token {
            req = req.bearer_auth(token);
        }
        let mut res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                unavailable("the evidence verifier did not answer within 10 seconds")
            } else {
                EvidenceError::Unavailable(format!(
                    "could not reach the evidence verifier: {}",
                    Chain(&e.without_url())
                ))
            }
        })?;
        match res.status() {
            reqwest::StatusCode::OK => {}
            reqwest::StatusCode::NOT_FOUND => return Err(EvidenceError::UnknownSession),
            status => {
                return Err(EvidenceError::Unavailable(format!(
                    "the evidence verifier answered with HTTP status {}",
                    status.as_u16()
                )));
            }
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|_| unavailable("the evidence verifier's answer broke off"))?
        {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(unavailable("the evidence verifier's answer is too large"));
            }
            bytes.extend_from_slice(&chunk);
        }
        let wire: VerdictWire = serde_json::from_slice(&bytes)
            .map_err(|_| unavailable("the evidence verifier's answer is not the expected JSON"))?;
        let outcome = EvidenceOutcome::parse(&wire.outcome)
            .ok_or_else(|| unavailable("the evidence verifier gave an unknown outcome"))?;
        let level = EvidenceLevel::parse(&wire.level)
            .ok_or_else(|| unavailable("the evidence verifier gave an unknown level"))?;
        if wire.vendor_reference.is_empty() || wire.vendor_reference.len() > 256 {
            return Err(unavailable("the evidence verifier's reference is empty or too long"));
        }
        Ok(EvidenceResult {
            reference: wire.reference,
            outcome,
            method: wire.method.chars().take(100).collect(),
            level,
            vendor_reference: wire.vendor_reference,
        })
    }
}
