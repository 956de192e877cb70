//! Pushed authorization requests (RFC 9126) and signed request objects (JAR, RFC 9101): the
//! client sends the authorization request's parameters over an authenticated back channel, or
//! signs them, so that nobody on the way through the browser can read or change them.

use std::net::IpAddr;

use civpass_crypto::external::{JwkSet, verify_with_jwks};
use civpass_crypto::secret::{b64url, b64url_decode, random_token};
use serde_json::Value;

use crate::kernel::Internal;
use crate::kernel::error::BoxError;
use crate::oidc::OidcService;
use crate::oidc::login::{AuthorizeError, AuthorizeParams};
use crate::oidc::model::AuthzErrorCode;
use crate::oidc::model::Client;
use crate::oidc::token::TokenError;

/// The prefix of the `request_uri` values we hand out (RFC 9126 section 2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a pushed request may wait for the browser: short, as RFC 9126 advises.
pub const PUSHED_REQUEST_TTL: i64 = 60;

/// A request object may live at most an hour (FAPI 2.0 Message Signing, section 5.3.1).
const MAX_REQUEST_OBJECT_LIFETIME: i64 = 3600;

/// The answer to a pushed authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Where an authorization request's parameters came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) pushed: bool,
    pub(crate) signed: bool,
    /// Being checked at the PAR endpoint: outcomes that RFC 9126 delivers later, by redirect
    /// from `/authorize` (`prompt=none`), are left for then.
    pub(crate) at_par: bool,
}

/// A PAR error, reported as an OAuth error at the PAR endpoint (never by redirect).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct PushError {
    pub error: AuthzErrorCode,
    pub description: &'static str,
    /// For `server_error` and a transient `temporarily_unavailable`: the internal failure, to
    /// be logged where the request is answered.
    pub cause: Option<Internal>,
}

impl PushError {
    fn new(error: AuthzErrorCode, description: &'static str) -> PushError {
        PushError { error, description, cause: None }
    }
}

impl From<AuthorizeError> for PushError {
    fn from(e: AuthorizeError) -> PushError {
        match e {
            AuthorizeError::NoRedirect { description } => {
                PushError::new(AuthzErrorCode::InvalidRequest, description)
            }
            AuthorizeError::Redirect { error, description, .. } => {
                PushError::new(error, description)
            }
            AuthorizeError::TooManyPending => PushError::new(
                AuthzErrorCode::TemporarilyUnavailable,
                "too many login requests are pending",
            ),
            AuthorizeError::Internal(cause) => {
                let (error, description) = if cause.is_transient() {
                    (AuthzErrorCode::TemporarilyUnavailable, "the service is unavailable")
                } else {
                    (AuthzErrorCode::ServerError, "internal error")
                };
                PushError { error, description, cause: Some(cause) }
            }
        }
    }
}

/// Largest request object accepted, in bytes: a signed set of authorization parameters.
const MAX_REQUEST_OBJECT_BYTES: usize = 16 * 1024;

/// A pushed request as kept: its parameters (a request object already opened) and whether
/// they came signed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    signed: bool,
    params: AuthorizeParams,
}

fn text(claims: &Value, name: &str) -> Option<String> {
    claims.get(name).and_then(|v| v.as_str()).map(str::to_owned)
}

impl OidcService {
    /// RFC 9126 section 2: validates the parameters as `/authorize` would, and keeps them for a
    /// minute under a one-time `request_uri`. The client is already authenticated.
    /// `proof_jkt` is the key of a DPoP proof sent with the push (already checked): the code
    /// will be bound to it (RFC 9449 section 10.1).
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    ///
    /// A public client's pushes are anyone's to make, so they are capped per client address
    /// (`client_key`, as for pending logins); a confidential client answers for its own.
    pub async fn push_authorization(
        &self,
        client: &Client,
        params: &AuthorizeParams,
        proof_jkt: Option<&str>,
        client_key: Option<IpAddr>,
    ) -> Result<Pushed, PushError> {
        let bad = |description| PushError::new(AuthzErrorCode::InvalidRequest, description);
        if params.request.as_deref().is_some_and(|r| r.len() > MAX_REQUEST_OBJECT_BYTES) {
            return Err(PushError::new(
                AuthzErrorCode::InvalidRequestObject,
                "the request object is larger than 16 KiB",
            ));
        }
        if params.request_uri.is_some() {
            return Err(bad("request_uri cannot be pushed"));
        }
        if params.client_id.as_deref().is_some_and(|id| id != client.id) {
            return Err(bad("client_id is not the authenticated client"));
        }
        let (params, signed) = match &params.request {
            Some(object) => (
                self.open_request_object(client, object)
                    .await
                    .map_err(|cause| PushError::from(AuthorizeError::Internal(cause)))?
                    .map_err(|description| {
                        PushError::new(AuthzErrorCode::InvalidRequestObject, description)
                    })?,
                true,
            ),
            None => (params.clone(), false),
        };
        let mut params = params;
        if let Some(jkt) = proof_jkt {
            match &params.dpop_jkt {
                // Both ways of binding at once must name the same key.
                Some(given) if given != jkt => {
                    return Err(PushError::new(
                        AuthzErrorCode::InvalidDpopProof,
                        "dpop_jkt is not the thumbprint of the DPoP proof's key",
                    ));
                }
                _ => params.dpop_jkt = Some(jkt.to_owned()),
            }
        }
        self.validate_authorization(
            client,
            &params,
            Source { pushed: true, signed, at_par: true },
        )?;
        let public = client.auth_methods.contains(&crate::oidc::model::AuthMethod::None);
        let origin_hash = client_key
            .filter(|_| public)
            .map(|key| self.ctx.secrets.lookup.hash(&[b"push-origin", key.to_string().as_bytes()]));
        let cap = self.ctx.settings.max_pending_logins_per_address;
        if let Some(hash) = origin_hash.as_deref()
            && cap > 0
        {
            let pending = self
                .store
                .count_pending_pushed_requests(hash, self.ctx.now())
                .await
                .map_err(|e| PushError::from(AuthorizeError::Internal(Internal::from(e))))?;
            if pending >= u64::from(cap) {
                return Err(PushError::new(
                    AuthzErrorCode::TemporarilyUnavailable,
                    "too many pushed requests are pending from this address",
                ));
            }
        }
        let id = random_token(32);
        let stored = Stored { signed, params };
        // Sealed with the id: the parameters can hold personal data (`login_hint`, a `claims`
        // request naming a subject) for as long as the row lives.
        let internal = |what: &'static str, e: BoxError| {
            PushError::from(AuthorizeError::Internal(Internal::caused(what, e)))
        };
        let json = serde_json::to_vec(&stored)
            .map_err(|e| internal("writing a pushed request", e.into()))?;
        let sealed = self
            .ctx
            .secrets
            .sealing
            .seal(&json, id.as_bytes())
            .map_err(|e| internal("sealing a pushed request", e.into()))?;
        self.store
            .insert_pushed_request(
                &id,
                &client.id,
                &b64url(&sealed),
                self.ctx.now() + PUSHED_REQUEST_TTL,
                origin_hash.as_deref(),
            )
            .await
            .map_err(|e| PushError::from(AuthorizeError::Internal(Internal::from(e))))?;
        Ok(Pushed {
            request_uri: format!("{REQUEST_URI_PREFIX}{id}"),
            expires_in: PUSHED_REQUEST_TTL,
        })
    }

    /// The parameters `/authorize` acts on: a pushed request's, a request object's, or the
    /// query's own.
    pub(crate) async fn effective_params(
        &self,
        client: &Client,
        params: &AuthorizeParams,
    ) -> Result<(AuthorizeParams, Source), AuthorizeError> {
        let no_redirect = |description| AuthorizeError::NoRedirect { description };
        if let Some(uri) = &params.request_uri {
            if params.request.is_some() {
                return Err(no_redirect("request and request_uri cannot be used together"));
            }
            let id = uri.strip_prefix(REQUEST_URI_PREFIX).ok_or(no_redirect(
                "request_uri must be one returned by the pushed authorization request endpoint",
            ))?;
            // Only the client that pushed it can use it up: others cannot burn it.
            let json = self
                .store
                .take_pushed_request(id, &client.id, self.ctx.now())
                .await
                .map_err(Internal::from)?
                .ok_or(no_redirect(
                    "request_uri is unknown, expired, already used or another client's",
                ))?;
            let json = b64url_decode(&json)
                .and_then(|sealed| self.ctx.secrets.sealing.open(&sealed, id.as_bytes()).ok())
                .ok_or_else(|| Internal::new(format!("pushed request {id} cannot be opened")))?;
            let stored: Stored = serde_json::from_slice(&json)
                .map_err(|e| Internal::caused("reading a pushed request", e))?;
            return Ok((
                stored.params,
                Source { pushed: true, signed: stored.signed, at_par: false },
            ));
        }
        if let Some(object) = &params.request {
            return match self.open_request_object(client, object).await? {
                Ok(inner) => Ok((inner, Source { pushed: false, signed: true, at_par: false })),
                Err(description) => {
                    // The error may go back only to a redirect URI the client registered.
                    match params.redirect_uri.as_deref() {
                        Some(uri) if client.accepts_redirect_uri(uri) => {
                            Err(AuthorizeError::Redirect {
                                redirect_uri: uri.to_owned(),
                                error: AuthzErrorCode::InvalidRequestObject,
                                description,
                                state: params.state.clone(),
                            })
                        }
                        _ => Err(no_redirect(description)),
                    }
                }
            };
        }
        Ok((params.clone(), Source { pushed: false, signed: false, at_par: false }))
    }

    /// RFC 9101 section 6: a request object signed by one of the client's keys, issued by the
    /// client for us and unexpired; its claims are the authorization request's parameters.
    ///
    /// Errors: the outer one if the client's keys could not be had (its `jwks_uri` does not
    /// answer, or the store fails); the inner one names what is wrong with the object.
    async fn open_request_object(
        &self,
        client: &Client,
        object: &str,
    ) -> Result<Result<AuthorizeParams, &'static str>, Internal> {
        let jwks = match self.client_jwks(client, false).await {
            Ok(Some(jwks)) => jwks,
            Ok(None) => return Ok(Err("the client has no keys to verify a request object with")),
            Err(TokenError::Internal(cause)) => return Err(cause),
            Err(_) => return Ok(Err("the client's keys could not be read")),
        };
        Ok(self.verify_request_object(client, object, &jwks))
    }

    fn verify_request_object(
        &self,
        client: &Client,
        object: &str,
        jwks: &JwkSet,
    ) -> Result<AuthorizeParams, &'static str> {
        let verified = verify_with_jwks(object, jwks)
            .map_err(|_| "the request object's signature is invalid")?;
        let claims = &verified.claims;
        let now = self.ctx.now();
        if text(claims, "iss").as_deref() != Some(client.id.as_str()) {
            return Err("the request object's iss must be the client_id");
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.ctx.settings.issuer,
            Some(Value::Array(list)) => {
                list.iter().any(|a| a.as_str() == Some(&self.ctx.settings.issuer))
            }
            _ => false,
        };
        if !audience_ok {
            return Err("the request object's aud must be the issuer");
        }
        let exp =
            claims.get("exp").and_then(|v| v.as_i64()).ok_or("the request object has no exp")?;
        let nbf = claims.get("nbf").and_then(|v| v.as_i64()).unwrap_or(now);
        if exp <= now || nbf > now + 60 || exp - nbf > MAX_REQUEST_OBJECT_LIFETIME {
            return Err("the request object has expired or lives too long");
        }
        if text(claims, "client_id").is_some_and(|id| id != client.id) {
            return Err("the request object's client_id is another client's");
        }
        if claims.get("request").is_some() || claims.get("request_uri").is_some() {
            return Err("a request object cannot hold another request");
        }
        Ok(AuthorizeParams {
            client_id: Some(client.id.clone().into()),
            redirect_uri: text(claims, "redirect_uri"),
            response_type: text(claims, "response_type"),
            scope: text(claims, "scope"),
            state: text(claims, "state"),
            nonce: text(claims, "nonce"),
            code_challenge: text(claims, "code_challenge"),
            code_challenge_method: text(claims, "code_challenge_method"),
            prompt: text(claims, "prompt"),
            request: None,
            request_uri: None,
            response_mode: text(claims, "response_mode"),
            ui_locales: text(claims, "ui_locales"),
            // max_age is a number in a request object, a string in a query.
            max_age: claims
                .get("max_age")
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())),
            acr_values: text(claims, "acr_values"),
            // The claims request is an object in a request object, JSON text in a query.
            claims: claims
                .get("claims")
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())),
            login_hint: text(claims, "login_hint"),
            id_token_hint: text(claims, "id_token_hint"),
            dpop_jkt: text(claims, "dpop_jkt"),
            purpose: text(claims, "purpose"),
            // An array in a request object, JSON text in a query.
            authorization_details: claims
                .get("authorization_details")
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())),
        })
    }
}
