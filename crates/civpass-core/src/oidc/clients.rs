//! Relying parties: registration with their metadata, and client authentication at the token
//! endpoints (`client_secret_basic`, `client_secret_post`, `private_key_jwt`, `none`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use civpass_crypto::external::{JwkSet, parse_jwks, verify_with_jwks};
use civpass_crypto::jws::Algorithm;
use civpass_crypto::secret::{ct_eq, hash_secret, random_token};

use crate::kernel::ClientId;
use crate::kernel::Internal;
use crate::kernel::clock::UnixTime;
use crate::kernel::error::{BoxError, Chain};
use crate::kernel::store::transact;
use crate::kernel::text::{is_deceptive, normalise_text, too_many_marks};
use crate::oidc::OidcService;
use crate::oidc::model::{AuthMethod, Client, GrantType};
use crate::oidc::token::TokenError;

/// `client_assertion_type` for JWT client authentication (RFC 7523 section 2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion may live: RFC 7523 asks for short-lived ones.
const MAX_ASSERTION_LIFETIME: i64 = 300;

/// A JWK Set fetched from a client's `jwks_uri` is used this long before it is fetched again.
const JWKS_CACHE_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a client needs a name")]
    MissingName,
    #[error("a client needs at least one redirect URI")]
    MissingRedirectUri,
    #[error(
        "redirect URI {0:?} must be https (plain http only on 127.0.0.1 or [::1]), without a fragment or credentials"
    )]
    InvalidRedirectUri(String),
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// A newly registered client; the secret is shown once and stored only as a hash.
#[derive(Debug)]
pub struct NewClient {
    pub client: Client,
    pub secret: Option<String>,
}

/// Fetches a client's documents (its JWK Set at `jwks_uri`, its sector identifier list): an
/// outbound HTTP port.
#[async_trait]
pub trait JwksSource: Send + Sync {
    async fn fetch(&self, uri: &str) -> Result<String, FetchError>;
}

/// Why a client's document could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer (the host does not resolve or connect in time, or answers 5xx): retrying
    /// later may succeed.
    #[error("the client's URL did not answer")]
    Unavailable(#[source] BoxError),
    /// The URL or its answer cannot be used (not on a public address, a 4xx, too large, not
    /// UTF-8): the client's registration is at fault.
    #[error("the client's URL cannot be used")]
    Refused(#[source] BoxError),
}

/// For deployments and tests that register keys inline only.
pub struct NoJwksSource;

#[async_trait]
impl JwksSource for NoJwksSource {
    async fn fetch(&self, _uri: &str) -> Result<String, FetchError> {
        Err(FetchError::Refused("fetching client documents is not configured".into()))
    }
}

/// Fetched JWK Sets by URI, with when they were fetched.
#[derive(Default)]
pub(crate) struct JwksCache(Mutex<HashMap<String, (UnixTime, String)>>);

/// What a new client is registered with (RFC 7591 metadata, the parts civpass uses).
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// The allowed authentication methods; the first is the client's registered one.
    pub auth_methods: Vec<AuthMethod>,
    pub grant_types: Vec<GrantType>,
    pub id_token_alg: Algorithm,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// Scopes for the client-credentials grant.
    pub scopes: Vec<String>,
    pub require_par: bool,
    pub require_signed_request: bool,
    /// `dpop_bound_access_tokens`: every token request must prove a DPoP key.
    pub require_dpop: bool,
    /// May introspect other clients' access tokens (operators only; never by registration).
    pub resource_server: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Where Security Event Tokens are pushed (RFC 8935).
    pub security_events_push_uri: Option<String>,
    /// A URL listing the redirect URIs of an organisation's services, which then share
    /// pairwise subjects (OIDC Core section 8.1).
    pub sector_identifier_uri: Option<String>,
    /// `application_type: native` (see `Client::native`).
    pub native: bool,
    /// See `Client::acr_values_voluntary`.
    pub acr_values_voluntary: bool,
}

impl ClientSpec {
    /// A confidential web client with a secret (Basic or form), for the code flow.
    pub fn web(name: &str, redirect_uris: &[String]) -> ClientSpec {
        ClientSpec {
            name: name.to_owned(),
            redirect_uris: redirect_uris.to_vec(),
            auth_methods: vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            id_token_alg: Algorithm::ES256,
            jwks: None,
            jwks_uri: None,
            scopes: Vec::new(),
            require_par: false,
            require_signed_request: false,
            require_dpop: false,
            resource_server: false,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            security_events_push_uri: None,
            sector_identifier_uri: None,
            native: false,
            acr_values_voluntary: false,
        }
    }
}

/// What registration adds to a client's metadata.
pub(crate) struct Registration {
    pub(crate) id: String,
    pub(crate) secret_hash: Option<String>,
    pub(crate) registration_token_hash: Option<String>,
    pub(crate) sector: Option<String>,
    pub(crate) created_at: UnixTime,
}

impl ClientSpec {
    pub(crate) fn into_client(self, registration: Registration) -> Client {
        Client {
            id: registration.id.into(),
            name: normalise_client_name(&self.name),
            secret_hash: registration.secret_hash,
            redirect_uris: self.redirect_uris,
            id_token_alg: self.id_token_alg,
            auth_methods: self.auth_methods,
            grant_types: self.grant_types,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            scopes: self.scopes,
            require_par: self.require_par,
            require_signed_request: self.require_signed_request,
            require_dpop: self.require_dpop,
            resource_server: self.resource_server,
            registration_token_hash: registration.registration_token_hash,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri,
            security_events_push_uri: self.security_events_push_uri,
            sector_identifier_uri: self.sector_identifier_uri,
            sector: registration.sector,
            native: self.native,
            acr_values_voluntary: self.acr_values_voluntary,
            disabled_at: None,
            created_at: registration.created_at,
        }
    }
}

/// How the client presented itself at a token endpoint.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub method: AuthMethod,
    /// The secret for the secret methods, the assertion JWT for `private_key_jwt`.
    pub secret: Option<String>,
}

/// What a request to a token endpoint (token, PAR, revocation, introspection) carries to
/// authenticate its client, as received: the Basic credentials (already form-decoded, RFC 6749
/// section 2.3.1) and the form's `client_id`, `client_secret`, `client_assertion_type` and
/// `client_assertion`.
#[derive(Debug, Clone, Default)]
pub struct ClientAuthRequest<'a> {
    pub basic: Option<(String, String)>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub client_assertion_type: Option<&'a str>,
    pub client_assertion: Option<&'a str>,
}

impl ClientAuthRequest<'_> {
    /// The method the client used and what it presented (RFC 6749 section 2.3: one method per
    /// request; RFC 7523 section 2.2: an assertion names its client as its issuer).
    ///
    /// Errors: `InvalidRequest` for two methods at once or half an assertion; `InvalidClient`
    /// when a `client_id` disagrees with the client the credentials name, or none is named.
    pub fn credentials(&self) -> Result<ClientCredentials, TokenError> {
        let assertion = match (self.client_assertion_type, self.client_assertion) {
            (Some(JWT_BEARER), Some(jwt)) => Some(jwt),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(TokenError::InvalidRequest("client_assertion_type must be jwt-bearer"));
            }
            _ => {
                return Err(TokenError::InvalidRequest(
                    "client_assertion and client_assertion_type go together",
                ));
            }
        };
        let given = [self.basic.is_some(), self.client_secret.is_some(), assertion.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(TokenError::InvalidRequest(
                "use one client authentication method, not two",
            ));
        }
        let named = |id: &str| self.client_id.is_none_or(|form_id| form_id == id);
        if let Some((id, secret)) = &self.basic {
            if !named(id) {
                return Err(TokenError::InvalidClient);
            }
            // Some libraries name a public client by Basic with an empty password: a secret
            // sent without a value is no secret (RFC 6749 section 3.1, as for form parameters).
            let secret = (!secret.is_empty()).then(|| secret.clone());
            let method =
                if secret.is_some() { AuthMethod::ClientSecretBasic } else { AuthMethod::None };
            return Ok(ClientCredentials { client_id: id.clone(), method, secret });
        }
        if let Some(secret) = self.client_secret {
            return Ok(ClientCredentials {
                client_id: self.client_id.ok_or(TokenError::InvalidClient)?.to_owned(),
                method: AuthMethod::ClientSecretPost,
                secret: Some(secret.to_owned()),
            });
        }
        if let Some(jwt) = assertion {
            // The client is named by the assertion's issuer; a client_id beside it must agree.
            let issuer = unverified_issuer(jwt).ok_or(TokenError::InvalidClient)?;
            if !named(&issuer) {
                return Err(TokenError::InvalidClient);
            }
            return Ok(ClientCredentials {
                client_id: issuer,
                method: AuthMethod::PrivateKeyJwt,
                secret: Some(jwt.to_owned()),
            });
        }
        Ok(ClientCredentials {
            client_id: self.client_id.ok_or(TokenError::InvalidClient)?.to_owned(),
            method: AuthMethod::None,
            secret: None,
        })
    }
}

/// The `iss` of a JWT, read before its signature is checked, only to find whose keys check it
/// (here, and the server's CORS, which names the client before it authenticates).
pub fn unverified_issuer(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = civpass_crypto::secret::b64url_decode(payload)?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Longest URI a client may register, in bytes: room for any real callback, not for a payload.
const MAX_URI_BYTES: usize = 2048;

/// Most redirect URIs (and, apart, post-logout URIs) one client may register.
const MAX_URIS: usize = 20;

/// Longest client name, in characters: it is shown on the login page and in the app.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;

/// Largest inline JWK Set, in bytes: a handful of public keys.
const MAX_JWKS_BYTES: usize = 16 * 1024;

/// Whether `uri` parses, is not too long and carries no credentials (`user:password@`, which
/// RFC 3986 section 3.2.1 deprecates: they would travel to, and be logged by, whoever the URI
/// names).
fn parse_uri(uri: &str) -> Option<url::Url> {
    let parsed = url::Url::parse(uri).ok()?;
    let clean = uri.len() <= MAX_URI_BYTES
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.host().is_some_and(is_dns_or_ip);
    clean.then_some(parsed)
}

/// A host that is an IP address or a DNS name (letters, digits, hyphens and dots: RFC 1123
/// section 2.1, with IDNs in their ASCII form). The URL standard lets a special URL's host hold
/// `;`, `'`, `"` and more, which must never reach a header (a page's Content-Security-Policy
/// names the origin) or a log as they are.
fn is_dns_or_ip(host: url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => {
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => true,
    }
}

/// A redirect or post-logout URI a client may register: https, or plain http on a loopback IP
/// literal, where traffic never leaves the machine; absolute, without a fragment (RFC 6749
/// section 3.1.2) or credentials (RFC 9700 section 2.1 asks for exact, well-formed URIs).
/// A native app may also register a private-use scheme named after a domain it owns, in
/// reverse order (`com.example.app:/oauth2redirect`, RFC 8252 section 7.1).
fn valid_redirect_uri(uri: &str, native: bool) -> bool {
    if native && is_private_use_uri(uri) {
        return true;
    }
    parse_uri(uri).is_some_and(|u| {
        u.fragment().is_none()
            && (u.scheme() == "https"
                || (u.scheme() == "http" && crate::oidc::model::is_loopback_ip(&u)))
    })
}

/// A private-use URI scheme redirect (RFC 8252 section 7.1): a scheme with a dot (a reverse
/// domain name, so that apps do not collide), no authority, no fragment.
fn is_private_use_uri(uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else { return false };
    let scheme = u.scheme();
    uri.len() <= MAX_URI_BYTES
        && scheme.contains('.')
        && scheme.split('.').all(|part| !part.is_empty())
        && !matches!(scheme, "http" | "https" | "javascript" | "data" | "file")
        && u.host().is_none()
        && u.fragment().is_none()
        && !u.path().is_empty()
}

/// A URL civpass will call (`jwks_uri`, `sector_identifier_uri`, `backchannel_logout_uri`):
/// https, or plain http on the loopback host when the operator allows it (development, tests);
/// never with credentials. The outbound port also refuses non-public addresses unless allowed.
fn valid_callout_uri(uri: &str, allow_loopback: bool) -> bool {
    parse_uri(uri).is_some_and(|u| {
        u.scheme() == "https"
            || (allow_loopback
                && u.scheme() == "http"
                && (crate::oidc::model::is_loopback_ip(&u) || u.host_str() == Some("localhost")))
    })
}

/// A client name as kept: trimmed and in Unicode normalization form C, so that two names
/// that look alike are alike.
pub(crate) fn normalise_client_name(name: &str) -> String {
    normalise_text(name)
}

/// The checks on a name a client shows citizens (`client_name`): 1 to 100 characters after
/// trimming, none of them deceptive.
pub fn check_client_name(name: &str) -> Result<(), ClientError> {
    let name = normalise_client_name(name);
    if name.is_empty() {
        return Err(ClientError::MissingName);
    }
    if name.chars().count() > MAX_CLIENT_NAME_CHARS {
        return Err(ClientError::Invalid("client_name is longer than 100 characters"));
    }
    if name.chars().any(is_deceptive) {
        return Err(ClientError::Invalid(
            "client_name holds control, bidirectional-formatting or invisible characters",
        ));
    }
    if too_many_marks(&name) {
        return Err(ClientError::Invalid("client_name stacks too many combining marks"));
    }
    Ok(())
}

/// What the operator does to registered clients (`civpass client list|show|disable|enable|
/// delete|rotate-secret`). Changes reach other nodes within their client cache's few seconds.
impl OidcService {
    /// Every live client, oldest first, disabled ones included.
    pub async fn list_clients(&self) -> Result<Vec<Client>, Internal> {
        Ok(self.store.list_clients().await?)
    }

    /// A live client, disabled or not.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, Internal> {
        Ok(self.store.find_client(&ClientId::from(id)).await?)
    }

    /// Suspends a client (no logins, no tokens, its tokens inactive) or lifts the suspension;
    /// its grants are kept. False if there is no such client.
    #[tracing::instrument(skip(self))]
    pub async fn set_client_disabled(&self, id: &str, disabled: bool) -> Result<bool, Internal> {
        let at = disabled.then(|| self.ctx.now());
        let changed = self.store.set_client_disabled(&ClientId::from(id), at).await?;
        self.forget_client(id);
        if changed {
            tracing::info!(disabled, "client suspension changed by the operator");
        }
        Ok(changed)
    }

    /// Deletes a client and revokes its grants. False if there is no such client.
    #[tracing::instrument(skip(self))]
    pub async fn delete_client(&self, id: &str) -> Result<bool, Internal> {
        let deleted = self.remove_client(id).await?;
        if deleted {
            tracing::info!("client deleted by the operator");
        }
        Ok(deleted)
    }

    /// Deletes a client and, in the same transaction, revokes its grants, so that its tokens
    /// stop working with it; false if there was no live client.
    pub(crate) async fn remove_client(&self, id: &str) -> Result<bool, Internal> {
        let (client_id, now) = (ClientId::from(id), self.ctx.now());
        let deleted = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.delete_client(&client_id, now).await? {
                    return Ok(false);
                }
                tx.revoke_client_grants(&client_id, now).await?;
                Ok(true)
            })
        })
        .await?;
        self.forget_client(id);
        Ok(deleted)
    }

    /// Gives a confidential client a new secret, returned once; the old one stops working at
    /// once. `None` if there is no such client or it has no secret (public, private_key_jwt).
    #[tracing::instrument(skip(self))]
    pub async fn rotate_client_secret(&self, id: &str) -> Result<Option<String>, Internal> {
        let secret = random_token(32);
        let rotated =
            self.store.set_client_secret(&ClientId::from(id), &hash_secret(&secret)).await?;
        self.forget_client(id);
        if rotated {
            tracing::info!("client secret rotated by the operator");
        }
        Ok(rotated.then_some(secret))
    }
}

impl OidcService {
    /// Whether a page at `origin` (`scheme://host[:port]`, as the `Origin` header has it) may
    /// read the answers of the token, pushed-request, revocation and UserInfo endpoints for
    /// `client_id`: a public client running in the browser, at the origin of one of its
    /// redirect URIs. Confidential clients call from servers and need no CORS; a browser
    /// must not hold their secrets.
    pub async fn web_origin_allowed(&self, client_id: &str, origin: &str) -> bool {
        let Ok(Some(client)) = self.find_client(client_id).await else { return false };
        client.auth_methods == [AuthMethod::None]
            && client.redirect_uris.iter().any(|uri| {
                url::Url::parse(uri).is_ok_and(|u| {
                    matches!(u.scheme(), "https" | "http")
                        && u.origin().ascii_serialization() == origin
                })
            })
    }

    /// Registers a client after checking its metadata hangs together; the secret, if it has
    /// one, is returned once and stored as a hash.
    pub async fn register_client(&self, spec: ClientSpec) -> Result<NewClient, ClientError> {
        self.insert_client(spec, None).await
    }

    /// Checks that a client's metadata hangs together.
    pub(crate) fn check_spec(&self, spec: &ClientSpec) -> Result<(), ClientError> {
        let allow_loopback = self.ctx.settings.allow_loopback_uris;
        if self.ctx.settings.fapi2 && spec.auth_methods != [AuthMethod::PrivateKeyJwt] {
            return Err(ClientError::Invalid(
                "under the FAPI 2.0 profile a client authenticates with private_key_jwt only",
            ));
        }
        check_client_name(&spec.name)?;
        if spec.redirect_uris.len() > MAX_URIS || spec.post_logout_redirect_uris.len() > MAX_URIS {
            return Err(ClientError::Invalid("a client registers at most 20 URIs of each kind"));
        }
        if spec.jwks.as_ref().is_some_and(|j| j.len() > MAX_JWKS_BYTES) {
            return Err(ClientError::Invalid("jwks is larger than 16 KiB"));
        }
        if spec.scopes.len() > 50 || spec.scopes.iter().any(|s| s.len() > 100) {
            return Err(ClientError::Invalid("at most 50 scopes of at most 100 characters"));
        }
        if spec.grant_types.is_empty() || spec.auth_methods.is_empty() {
            return Err(ClientError::Invalid("a client needs a grant type and an auth method"));
        }
        let code_flow = spec.grant_types.contains(&GrantType::AuthorizationCode);
        if code_flow && spec.redirect_uris.is_empty() {
            return Err(ClientError::MissingRedirectUri);
        }
        if spec.grant_types.contains(&GrantType::RefreshToken) && !code_flow {
            return Err(ClientError::Invalid("refresh_token needs authorization_code"));
        }
        if let Some(uri) = spec.redirect_uris.iter().find(|u| !valid_redirect_uri(u, spec.native)) {
            return Err(ClientError::InvalidRedirectUri(uri.clone()));
        }
        if spec.post_logout_redirect_uris.iter().any(|u| !valid_redirect_uri(u, spec.native)) {
            return Err(ClientError::Invalid(
                "a post_logout_redirect_uri must be https (plain http only on 127.0.0.1 or [::1]), without a fragment or credentials",
            ));
        }
        // The same rule as for jwks_uri: civpass calls it, so https (or loopback for tests).
        if spec
            .backchannel_logout_uri
            .as_deref()
            .is_some_and(|u| !valid_callout_uri(u, allow_loopback))
        {
            return Err(ClientError::Invalid("backchannel_logout_uri must be an https URL"));
        }
        if spec
            .security_events_push_uri
            .as_deref()
            .is_some_and(|u| !valid_callout_uri(u, allow_loopback))
        {
            return Err(ClientError::Invalid("security_events_push_uri must be an https URL"));
        }
        let public = spec.auth_methods.contains(&AuthMethod::None);
        if public && spec.auth_methods.len() > 1 {
            return Err(ClientError::Invalid("a public client (none) has no other auth method"));
        }
        if public && spec.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(ClientError::Invalid("client_credentials needs a confidential client"));
        }
        let signs = spec.auth_methods.contains(&AuthMethod::PrivateKeyJwt);
        match (&spec.jwks, &spec.jwks_uri) {
            (Some(_), Some(_)) => {
                return Err(ClientError::Invalid("give jwks or jwks_uri, not both"));
            }
            (Some(jwks), None) => {
                parse_jwks(jwks).map_err(|_| {
                    ClientError::Invalid("jwks is not a JWK Set with a public signing key")
                })?;
            }
            (None, Some(uri)) if !valid_callout_uri(uri, allow_loopback) => {
                return Err(ClientError::Invalid("jwks_uri must be an https URL"));
            }
            (None, None) if signs || spec.require_signed_request => {
                return Err(ClientError::Invalid(
                    "private_key_jwt and signed request objects need jwks or jwks_uri",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) async fn insert_client(
        &self,
        spec: ClientSpec,
        registration_token_hash: Option<String>,
    ) -> Result<NewClient, ClientError> {
        self.check_spec(&spec)?;
        let sector = self.sector_of(&spec).await?;
        let secret = spec.auth_methods.iter().any(|m| m.uses_secret()).then(|| random_token(32));
        let client = spec.into_client(Registration {
            id: format!("c_{}", random_token(12)),
            secret_hash: secret.as_deref().map(hash_secret),
            registration_token_hash,
            sector,
            created_at: self.ctx.now(),
        });
        self.store.insert_client(&client).await.map_err(Internal::from)?;
        tracing::info!(client_id = %client.id, "client registered");
        Ok(NewClient { client, secret })
    }

    /// The sector of a client with a `sector_identifier_uri`: its host, once the document there
    /// lists every redirect URI of the client (OIDC Core section 8.1).
    pub(crate) async fn sector_of(&self, spec: &ClientSpec) -> Result<Option<String>, ClientError> {
        let Some(uri) = &spec.sector_identifier_uri else { return Ok(None) };
        // One answer for every failure, so that registration cannot probe what is behind a URL.
        const UNUSABLE: ClientError = ClientError::Invalid(
            "sector_identifier_uri must be an https URL serving a JSON array that lists every redirect_uri",
        );
        if !valid_callout_uri(uri, self.ctx.settings.allow_loopback_uris) {
            return Err(UNUSABLE);
        }
        let host = url::Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or(UNUSABLE)?;
        let document = self.jwks_source.fetch(uri).await.map_err(|e| {
            tracing::info!(cause = %Chain(&e), "a sector_identifier_uri could not be fetched");
            UNUSABLE
        })?;
        let listed: Vec<String> = serde_json::from_str(&document).map_err(|_| UNUSABLE)?;
        if spec.redirect_uris.iter().any(|r| !listed.contains(r)) {
            return Err(UNUSABLE);
        }
        Ok(Some(host))
    }

    /// Authenticates the client of a token-endpoint request from what it carried (see
    /// `ClientAuthRequest::credentials`).
    ///
    /// Errors: as `credentials`, and `InvalidClient` when they do not authenticate.
    pub async fn authenticate(
        &self,
        request: &ClientAuthRequest<'_>,
    ) -> Result<Client, TokenError> {
        self.authenticate_client(&request.credentials()?).await
    }

    /// Authenticates the client at a token endpoint by the method it used, which must be one
    /// the client registered.
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Client, TokenError> {
        let client =
            self.find_client(&credentials.client_id).await?.ok_or(TokenError::InvalidClient)?;
        if !client.auth_methods.contains(&credentials.method) {
            return Err(TokenError::InvalidClient);
        }
        // FAPI 2.0: confidential clients authenticated by private_key_jwt only.
        if self.ctx.settings.fapi2 && credentials.method != AuthMethod::PrivateKeyJwt {
            return Err(TokenError::InvalidClient);
        }
        let ok = match credentials.method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                match (&client.secret_hash, &credentials.secret) {
                    (Some(stored), Some(given)) => ct_eq(stored, &hash_secret(given)),
                    _ => false,
                }
            }
            AuthMethod::None => credentials.secret.is_none(),
            AuthMethod::PrivateKeyJwt => match &credentials.secret {
                Some(assertion) => self.check_assertion(&client, assertion).await?,
                None => false,
            },
        };
        if ok { Ok(client) } else { Err(TokenError::InvalidClient) }
    }

    /// RFC 7523 section 3 and OIDC Core section 9: signed by one of the client's keys, issued by
    /// and about the client, for us, short-lived, and never seen before.
    async fn check_assertion(&self, client: &Client, assertion: &str) -> Result<bool, TokenError> {
        let Some(jwks) = self.client_jwks(client, false).await? else { return Ok(false) };
        let mut outcome = verify_with_jwks(assertion, &jwks);
        if outcome.is_err()
            && client.jwks_uri.is_some()
            && let Some(fresh) = self.client_jwks(client, true).await?
        {
            outcome = verify_with_jwks(assertion, &fresh);
        }
        let verified = match outcome {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(client_id = %client.id, cause = %e, "client assertion refused");
                return Ok(false);
            }
        };
        // A request object or DPoP proof the client signed is not an assertion, even if its
        // claims would pass (request objects travel through the browser).
        let other_kind = ["oauth-authz-req+jwt", "dpop+jwt"];
        if verified
            .typ
            .as_deref()
            .is_some_and(|t| other_kind.iter().any(|k| t.eq_ignore_ascii_case(k)))
        {
            tracing::info!(client_id = %client.id, "a JWT of another kind was offered as a client assertion");
            return Ok(false);
        }
        let claims = &verified.claims;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        let now = self.ctx.now();
        let issuer = &self.ctx.settings.issuer;
        // The issuer as the sole audience: accepting endpoint URLs or lists of audiences lets
        // another server that advertises our endpoints collect assertions valid here (the 2025
        // private_key_jwt audience-injection advisory; FAPI 2.0 and the RFC 7523 update).
        let audience_ok = match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => aud == issuer,
            Some(serde_json::Value::Array(list)) => {
                list.len() == 1 && list[0].as_str() == Some(issuer.as_str())
            }
            _ => false,
        };
        let exp = claims.get("exp").and_then(|v| v.as_i64());
        let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256);
        let checks = [
            ("iss", text("iss") == Some(client.id.as_str())),
            ("sub", text("sub") == Some(client.id.as_str())),
            ("aud", audience_ok),
            ("exp", exp.is_some_and(|e| e > now && e <= now + MAX_ASSERTION_LIFETIME + 60)),
            ("iat", claims.get("iat").is_none_or(|v| v.as_i64().is_some_and(|i| i <= now + 60))),
            ("nbf", claims.get("nbf").is_none_or(|v| v.as_i64().is_some_and(|n| n <= now + 60))),
            ("jti", jti.is_some()),
        ];
        if let Some((claim, _)) = checks.iter().find(|(_, ok)| !ok) {
            tracing::info!(client_id = %client.id, claim, "client assertion refused");
            return Ok(false);
        }
        let (Some(jti), Some(exp)) = (jti, exp) else { return Ok(false) };
        if !self.store.use_client_assertion(&client.id, jti, exp).await.map_err(Internal::from)? {
            tracing::warn!(client_id = %client.id, "client assertion replayed");
            return Ok(false);
        }
        Ok(true)
    }

    /// The client's JWK Set: registered inline, or fetched from its `jwks_uri` (cached).
    pub(crate) async fn client_jwks(
        &self,
        client: &Client,
        force: bool,
    ) -> Result<Option<JwkSet>, TokenError> {
        if let Some(text) = &client.jwks {
            return Ok(parse_jwks(text).ok());
        }
        let Some(uri) = &client.jwks_uri else { return Ok(None) };
        let now = self.ctx.now();
        let cached = self
            .jwks_cache
            .0
            .lock()
            .ok()
            .and_then(|c| c.get(uri).filter(|(at, _)| now - at < JWKS_CACHE_SECONDS).cloned())
            // A forced refresh (an unknown key: the client may have rotated) at most every 30 s.
            .filter(|(at, _)| !force || now - at < 30);
        let text = match cached {
            Some((_, text)) => text,
            None => match self.jwks_source.fetch(uri).await {
                Ok(text) => {
                    if let Ok(mut cache) = self.jwks_cache.0.lock() {
                        cache.insert(uri.clone(), (now, text.clone()));
                    }
                    text
                }
                Err(unavailable @ FetchError::Unavailable(_)) => {
                    return Err(TokenError::Internal(Internal::unavailable(
                        "fetching the client's jwks_uri",
                        unavailable,
                    )));
                }
                Err(refused) => {
                    // The client is answered invalid_client, which says nothing of why.
                    tracing::warn!(client_id = %client.id, cause = %Chain(&refused), "the client's jwks_uri cannot be used");
                    return Ok(None);
                }
            },
        };
        Ok(parse_jwks(&text).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_authentication_method_per_request_names_one_client() {
        let basic = |id: &str, secret: &str| Some((id.to_owned(), secret.to_owned()));
        let jwt = format!("x.{}.y", civpass_crypto::secret::b64url(br#"{"iss":"c_jwt"}"#));
        let method = |r: ClientAuthRequest<'_>| r.credentials().map(|c| (c.client_id, c.method));
        let ok = |id: &str, m| Ok((id.to_owned(), m));
        type Named = Result<(String, AuthMethod), TokenError>;
        let cases: Vec<(ClientAuthRequest<'_>, Named)> = vec![
            (
                ClientAuthRequest { basic: basic("c_1", "s"), ..Default::default() },
                ok("c_1", AuthMethod::ClientSecretBasic),
            ),
            (
                ClientAuthRequest { basic: basic("c_1", ""), ..Default::default() },
                ok("c_1", AuthMethod::None),
            ),
            (
                ClientAuthRequest {
                    client_id: Some("c_1"),
                    client_secret: Some("s"),
                    ..Default::default()
                },
                ok("c_1", AuthMethod::ClientSecretPost),
            ),
            (
                ClientAuthRequest { client_id: Some("c_1"), ..Default::default() },
                ok("c_1", AuthMethod::None),
            ),
            (
                ClientAuthRequest {
                    client_assertion_type: Some(JWT_BEARER),
                    client_assertion: Some(&jwt),
                    ..Default::default()
                },
                ok("c_jwt", AuthMethod::PrivateKeyJwt),
            ),
            (
                ClientAuthRequest {
                    basic: basic("c_1", "s"),
                    client_id: Some("c_2"),
                    ..Default::default()
                },
                Err(TokenError::InvalidClient),
            ),
            (
                ClientAuthRequest {
                    client_id: Some("c_other"),
                    client_assertion_type: Some(JWT_BEARER),
                    client_assertion: Some(&jwt),
                    ..Default::default()
                },
                Err(TokenError::InvalidClient),
            ),
            (ClientAuthRequest::default(), Err(TokenError::InvalidClient)),
        ];
        for (request, expected) in cases {
            let shown = format!("{request:?}");
            assert_eq!(method(request), expected, "{shown}");
        }
        let two = ClientAuthRequest {
            basic: basic("c_1", "s"),
            client_secret: Some("s"),
            ..Default::default()
        };
        assert!(matches!(two.credentials(), Err(TokenError::InvalidRequest(_))));
        let half = ClientAuthRequest { client_assertion: Some(&jwt), ..Default::default() };
        assert!(matches!(half.credentials(), Err(TokenError::InvalidRequest(_))));
    }

    #[test]
    fn names_that_hide_reorder_or_overdraw_text_are_refused() {
        for bad in [
            "Tax \u{202E}evreser",
            "HSBC\u{E0020}\u{E0041}",
            "\u{3164}",
            "Bank\u{00AD}",
            "Bank\u{180E}",
            "Bank\u{FE0F}",
            "Bank\u{034F}",
            "Bank\u{200B}",
            "Bank\u{2028}x",
            "Bank\u{E000}",
            "Z\u{0336}\u{0336}\u{0336}\u{0336}",
            "",
            "   ",
        ] {
            assert!(check_client_name(bad).is_err(), "{bad:?}");
        }
        for good in ["Transport Department", "運輸署", "Café Lumière", "Tiếng Việt", "e\u{0301}"]
        {
            assert!(check_client_name(good).is_ok(), "{good:?}");
        }
        assert_eq!(normalise_client_name(" Cafe\u{0301} "), "Caf\u{00E9}");
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_name_has_no_invisible_or_control_characters(name in "\\PC{0,120}") {
            if check_client_name(&name).is_ok() {
                let kept = normalise_client_name(&name);
                proptest::prop_assert!(!kept.is_empty() && kept.chars().count() <= MAX_CLIENT_NAME_CHARS);
                proptest::prop_assert!(!kept.chars().any(is_deceptive));
            }
        }
    }
}
