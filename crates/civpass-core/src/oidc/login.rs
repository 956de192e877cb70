//! The login flow: the authorization request, the browser's login page, and the app's decision.

pub use civpass_api::signing::{Verdict, decision_message};
use civpass_crypto::jws::DevicePublicKey;
use civpass_crypto::secret::{ct_eq, hash_secret, random_below, random_token};

use crate::consent::claims;
use crate::consent::model::Consent;
use crate::device::passkey::{AssertionOptions, Challenge, DeviceProof, ProofFailure};
use crate::identity::model::DeviceKind;
use crate::identity::model::Tier;
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::store::transact;
use crate::kernel::telemetry;
use crate::kernel::{AccountId, Internal};
use crate::kernel::{DeviceId, LoginRequestId};
use crate::oidc::OidcService;
use crate::oidc::login_context::{LoginContext, RequestOrigin};
use crate::oidc::model::AuthzErrorCode;
use crate::oidc::model::{Client, Decision, Ending, GrantType, LoginRequest, LoginStatus};
use crate::oidc::par::Source;
use crate::oidc::store::PendingKey;

/// How long an expired login request is kept, in seconds: a day for one that issued a code (a
/// replayed code still revokes its grant), an hour for one that never did (its browser may come
/// back to be told how it ended).
pub const LOGIN_REQUEST_RETENTION: i64 = 24 * 3600;
pub const UNFINISHED_LOGIN_REQUEST_RETENTION: i64 = 3600;

/// Longest `state` kept, in bytes: room for the largest real ones (ASP.NET Core's protected
/// properties), not for a payload.
const MAX_STATE_BYTES: usize = 2048;
/// Longest `nonce`, in bytes.
const MAX_NONCE_BYTES: usize = 512;

/// The parameters of an authorization request, as received.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub response_mode: Option<String>,
    pub ui_locales: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    /// The OIDC `claims` request parameter, as JSON text.
    pub claims: Option<String>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    /// RFC 9449 section 10: the thumbprint of the DPoP key the code is to be bound to.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// OIDC4IDA section 8: what the service wants the citizen's data for, shown in the app and
    /// kept with the consent (3 to 300 characters).
    #[serde(default)]
    pub purpose: Option<String>,
    /// RFC 9396: a form to fill (`oidc::forms`), as JSON text.
    #[serde(default)]
    pub authorization_details: Option<String>,
}

/// Why an authorization request failed, and where the error may go.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    NoRedirect {
        description: &'static str,
    },
    /// Tell the client through its (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        error: AuthzErrorCode,
        description: &'static str,
        state: Option<String>,
    },
    /// This browser, or this address, already holds as many pending login requests as it may:
    /// a page, no redirect (the service did nothing wrong).
    TooManyPending,
    Internal(Internal),
}

impl From<Internal> for AuthorizeError {
    fn from(e: Internal) -> AuthorizeError {
        AuthorizeError::Internal(e)
    }
}

/// An authorization request that passed every check.
pub(crate) struct ValidRequest {
    pub(crate) client: Client,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) acr_values: Vec<String>,
    pub(crate) id_token_claims: Vec<String>,
    pub(crate) claims_filter: Vec<String>,
    pub(crate) essential_claims: Vec<String>,
    pub(crate) verified_claims: Vec<String>,
    pub(crate) purpose: Option<String>,
    pub(crate) form: Option<super::forms::FormRequest>,
    pub(crate) expected_sub: Option<String>,
    pub(crate) dpop_jkt: Option<String>,
}

/// The first parameter longer than any real request needs, as the error to give; `state`,
/// `nonce`, `acr_values` and `claims` have their own, more precise, messages. Each value is
/// kept (a pushed request) or copied (a login request), so none may be a payload.
fn oversized_parameter(params: &AuthorizeParams) -> Option<&'static str> {
    let limits: [(&Option<String>, usize, &'static str); 12] = [
        (&params.client_id, 128, "client_id is too long"),
        (&params.redirect_uri, 2048, "redirect_uri is too long"),
        (&params.response_type, 64, "response_type is too long"),
        (&params.scope, 1024, "scope is longer than 1024 bytes"),
        (&params.code_challenge, 128, "code_challenge is too long"),
        (&params.code_challenge_method, 16, "code_challenge_method is too long"),
        (&params.prompt, 64, "prompt is too long"),
        (&params.response_mode, 32, "response_mode is too long"),
        (&params.ui_locales, 256, "ui_locales is too long"),
        (&params.max_age, 12, "max_age is too long"),
        (&params.id_token_hint, 8192, "id_token_hint is too long"),
        (&params.dpop_jkt, 64, "dpop_jkt is too long"),
    ];
    limits
        .iter()
        .find(|(value, max, _)| value.as_ref().is_some_and(|v| v.len() > *max))
        .map(|l| l.2)
}

/// Whether `value` has the shape of a base64url SHA-256 digest (a PKCE challenge, a JWK
/// thumbprint).
fn is_b64_sha256(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a `claims` request parameter (OIDC Core section 5.5) asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ClaimsRequest {
    /// Scopes that release the claims asked for, added to those the citizen is asked about.
    pub(crate) scopes: Vec<String>,
    pub(crate) id_token: Vec<String>,
    /// Every known claim named (either target), each once, in order.
    pub(crate) named: Vec<String>,
    /// The known claims asked for with `"essential": true` (section 5.5.1).
    pub(crate) essential: Vec<String>,
    /// Claims asked for as `verified_claims` (OIDC4IDA section 6), as `target:name`.
    pub(crate) verified: Vec<String>,
    /// The values of an essential `acr` request.
    pub(crate) acr: Vec<String>,
    /// A `sub` with a `value`: only that citizen may log in (OIDC Core section 5.5.1).
    pub(crate) sub: Option<String>,
}

/// Parses the `claims` parameter; `None` if it is not the JSON object the spec describes.
pub(crate) fn parse_claims_request(text: &str) -> Option<ClaimsRequest> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    let mut out = ClaimsRequest::default();
    for (target, members) in object {
        if target != "userinfo" && target != "id_token" {
            continue;
        }
        for (claim, request) in members.as_object()? {
            if claim == "verified_claims" {
                let (names, _) = super::assurance::parse_request(request)?;
                for name in names {
                    let scope = claims::scope_of_claim(&name)?;
                    if !out.scopes.iter().any(|s| s == scope) {
                        out.scopes.push(scope.to_owned());
                    }
                    let entry = format!("{target}:{name}");
                    if !out.verified.contains(&entry) {
                        out.verified.push(entry);
                    }
                }
                continue;
            }
            if !(request.is_null() || request.is_object()) {
                return None;
            }
            if claim == "sub" {
                if let Some(value) = request.get("value") {
                    out.sub = Some(value.as_str()?.to_owned());
                }
                continue;
            }
            if claim == "acr" {
                let essential = request.get("essential").and_then(|e| e.as_bool()) == Some(true);
                let values: Vec<String> = match (request.get("value"), request.get("values")) {
                    (Some(v), _) => vec![v.as_str()?.to_owned()],
                    (None, Some(list)) => list
                        .as_array()?
                        .iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<_>>()?,
                    (None, None) => Vec::new(),
                };
                if essential {
                    out.acr.extend(values);
                }
                continue;
            }
            let Some(scope) = claims::scope_of_claim(claim) else { continue };
            if !out.scopes.iter().any(|s| s == scope) {
                out.scopes.push(scope.to_owned());
            }
            if !out.named.contains(claim) {
                out.named.push(claim.clone());
            }
            if request.get("essential").and_then(|e| e.as_bool()) == Some(true)
                && !out.essential.contains(claim)
            {
                out.essential.push(claim.clone());
            }
            if target == "id_token" && claims::scope_of_claim(claim).is_some() {
                out.id_token.push(claim.clone());
            }
        }
    }
    Some(out)
}

#[derive(Debug)]
pub struct StartedLogin {
    pub request_id: String,
}

/// What the browser that started a login should see now.
#[derive(Debug)]
pub enum LoginPage {
    Waiting {
        client_name: String,
        scopes: Vec<String>,
        match_code: String,
        /// The service's `ui_locales`, for the page's language.
        ui_locales: Option<String>,
        /// Where "Cancel and go back" ends up (the page's `form-action` must allow it).
        redirect_uri: String,
    },
    /// Send the browser back to the service: a URL with `code` or `error`, `state` and `iss`.
    /// Every login that ends without a code (denied, cancelled, failed, expired) ends so, so
    /// that the service hears of it (RFC 6749 section 4.1.2.1).
    Redirect(String),
    /// The code was already issued to this browser: nothing more to send.
    Ended,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginPageError {
    #[error("no such login request")]
    NotFound,
    #[error("this login request belongs to another browser")]
    OtherBrowser,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// What the app shows before the citizen decides.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub request_id: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub challenge: String,
    pub expires_at: i64,
    /// When and where the request began, for the citizen to recognise it as theirs.
    pub started_at: i64,
    pub context: LoginContext,
    /// As the login request's (`LoginRequest::claims_filter`).
    pub claims_filter: Vec<String>,
    pub essential_claims: Vec<String>,
    /// What the service wants the data for.
    pub purpose: Option<String>,
    /// The form to fill, if the service asked for one.
    pub form: Option<super::forms::FormRequest>,
    /// The app runs in the browser that started the login (same-device login): the matching
    /// code is not needed, because nobody can have relayed the link into this browser.
    pub same_browser: bool,
}

pub struct DecisionRequest<'a> {
    pub device_id: &'a str,
    pub verdict: Verdict,
    pub match_code: &'a str,
    pub approved_scopes: &'a [String],
    /// A software key signs `decision_message`; a passkey answers the ceremony `ceremony_id`
    /// opened by `start_decision_assertion`.
    pub proof: DeviceProof<'a>,
    pub ceremony_id: Option<&'a str>,
    /// The browser-binding cookie sent with the decision, if any (same-device login).
    pub browser_id: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("no such login request")]
    NotFound,
    #[error("the login request has expired")]
    Expired,
    #[error("the login request has already been decided")]
    AlreadyDecided,
    #[error("unknown or revoked device")]
    UnknownDevice,
    #[error("the device signature is invalid")]
    BadSignature,
    #[error("the matching code is wrong; the login request has been cancelled")]
    WrongMatchCode,
    #[error("the approved data must include openid and only what the service asked for")]
    InvalidScopes,
    #[error("the passkey challenge has expired or was already used; ask for a new one")]
    CeremonyNotFound,
    #[error("this device signs with a software key; it needs no passkey challenge")]
    NotAPasskey,
    #[error(
        "the service needs a higher account level (plus); the login request has ended. Upgrade at a registration point, or in the app with a strong identity check (`civpass wallet upgrade`)"
    )]
    AccountLevelTooLow,
    #[error("the service expected another citizen; the login request has ended")]
    OtherCitizen,
    #[error("this account is suspended; the login request has ended")]
    AccountSuspended,
    #[error(
        "this account waits for the guardian's approval in their own app; the login request has ended"
    )]
    AwaitingGuardian,
    #[error(transparent)]
    Internal(#[from] Internal),
}

fn decision_purpose(request: &LoginRequestId, device: &DeviceId) -> CeremonyPurpose {
    CeremonyPurpose::Decision { request: request.clone(), device: device.clone() }
}

fn same_browser(request: &LoginRequest, browser_id: Option<&str>) -> bool {
    browser_id.is_some_and(|b| ct_eq(&request.browser_hash, &hash_secret(b)))
}

impl OidcService {
    /// What the approving citizen cannot meet of the request, or `None`.
    async fn unmet_requirement(
        &self,
        request: &LoginRequest,
        account_id: &AccountId,
    ) -> Result<Option<Ending>, DeviceError> {
        if let Some(expected) = &request.expected_sub {
            let client = self
                .store
                .find_client(&request.client_id)
                .await
                .map_err(Internal::from)?
                .ok_or(DeviceError::NotFound)?;
            if !ct_eq(expected, &self.pairwise_subject(account_id, &client)) {
                return Ok(Some(Ending::OtherCitizen));
            }
        }
        if request.acr_values.is_empty() {
            return Ok(None);
        }
        let account = self.identity.account(account_id).await.map_err(Internal::from)?;
        // A plus account meets a request for basic too: it is the stronger level.
        let meets = |acr: &String| {
            acr == account.tier.as_str() || (acr == "basic" && account.tier == Tier::Plus)
        };
        Ok((!request.acr_values.iter().any(meets)).then_some(Ending::LevelTooLow))
    }

    /// The pairwise subject of an ID token we issued to `client_id`; expiry does not matter
    /// for a hint (OIDC Core section 3.1.2.1).
    fn subject_of_id_token(&self, token: &str, client_id: &str) -> Option<String> {
        let claims = self.verified_id_token(token)?;
        claims.aud.contains(client_id).then_some(claims.sub)
    }
}

/// Appends query parameters to a redirect URI that may already have a query.
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        Err(_) => base.to_owned(),
    }
}

impl OidcService {
    /// Every check of an authorization request's parameters (RFC 6749 section 4.1.1, OIDC Core
    /// section 3.1.2.1, PKCE, and the PAR and signed-request policies).
    pub(crate) fn validate_authorization(
        &self,
        client: &Client,
        params: &AuthorizeParams,
        source: Source,
    ) -> Result<ValidRequest, AuthorizeError> {
        let no_redirect = |description| AuthorizeError::NoRedirect { description };
        if params.client_id.as_deref().is_some_and(|id| id != client.id) {
            return Err(no_redirect("client_id does not match"));
        }
        let redirect_uri =
            params.redirect_uri.as_deref().ok_or(no_redirect("redirect_uri is missing"))?;
        // Exact string comparison (OAuth 2.0 Security BCP, RFC 9700 section 4.1.3), but for a
        // native app's loopback port (RFC 8252 section 7.3).
        if !client.accepts_redirect_uri(redirect_uri) {
            return Err(no_redirect("redirect_uri is not registered for this client"));
        }
        let redirect = |error, description| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            error,
            description,
            state: params.state.clone(),
        };
        if !client.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(redirect(
                AuthzErrorCode::UnauthorizedClient,
                "this client is not registered for the authorization code flow",
            ));
        }
        if !source.pushed && (client.require_par || self.ctx.settings.require_par) {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "this client must push its authorization requests (PAR) first",
            ));
        }
        if !source.signed && client.require_signed_request {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "this client must send its authorization requests as signed request objects",
            ));
        }
        if params.response_mode.as_deref().is_some_and(|m| m != "query") {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
        match params.response_type.as_deref() {
            Some("code") => {}
            None => {
                return Err(redirect(AuthzErrorCode::InvalidRequest, "response_type is missing"));
            }
            Some(_) => {
                return Err(redirect(
                    AuthzErrorCode::UnsupportedResponseType,
                    "only the authorization code flow (response_type=code) is supported",
                ));
            }
        }
        // Scope values civpass does not know are ignored (OIDC Core section 3.1.2.1): a
        // library's `offline_access` or a service's own scope must not end the login.
        let mut requested: Vec<String> = claims::parse_list(params.scope.as_deref().unwrap_or(""))
            .into_iter()
            .filter(|s| claims::is_supported(s))
            .collect();
        if !requested.iter().any(|s| s == "openid") {
            return Err(redirect(AuthzErrorCode::InvalidScope, "the openid scope is required"));
        }
        let mut claims = match params.claims.as_deref() {
            None => ClaimsRequest::default(),
            Some(text) => parse_claims_request(text).ok_or(redirect(
                AuthzErrorCode::InvalidRequest,
                "claims must be a JSON object of userinfo and id_token claim requests",
            ))?,
        };
        // A form's fields are asked for as claims by name, for the ID token (and UserInfo).
        let form = match params.authorization_details.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(text) => super::forms::parse(text)
                .map_err(|e| redirect(AuthzErrorCode::InvalidAuthorizationDetails, e))?,
        };
        for field in form.iter().flat_map(|f| f.fields.iter()) {
            if let Some(scope) = claims::scope_of_claim(&field.name)
                && !claims.scopes.iter().any(|s| s == scope)
            {
                claims.scopes.push(scope.to_owned());
            }
            for list in [&mut claims.named, &mut claims.id_token] {
                if !list.contains(&field.name) {
                    list.push(field.name.clone());
                }
            }
            if field.essential && !claims.essential.contains(&field.name) {
                claims.essential.push(field.name.clone());
            }
        }
        // A claim named in the claims request whose scope was not asked for releases alone,
        // not with the rest of its scope (`claims::released`).
        let unasked_scope = |c: &String| {
            claims::scope_of_claim(c).is_some_and(|s| !requested.iter().any(|r| r == s))
        };
        let verified_names: Vec<String> = claims
            .verified
            .iter()
            .filter_map(|v| v.split_once(':'))
            .map(|(_, n)| n.to_owned())
            .collect();
        let mut claims_filter: Vec<String> =
            claims.named.iter().filter(|c| unasked_scope(c)).cloned().collect();
        // A claim asked for only as verified is released only inside `verified_claims`.
        let mut verified_claims = claims.verified.clone();
        for name in verified_names.iter().filter(|c| unasked_scope(c)) {
            if !claims_filter.contains(name) {
                claims_filter.push(name.clone());
            }
            let only = format!("only:{name}");
            if !claims.named.contains(name) && !verified_claims.contains(&only) {
                verified_claims.push(only);
            }
        }
        for scope in &claims.scopes {
            if !requested.contains(scope) {
                requested.push(scope.clone());
            }
        }
        // `acr_values` are voluntary (OIDC Core section 3.1.2.1): values civpass does not know
        // are ignored. A known level the citizen cannot meet ends the login, unless the client
        // chose the voluntary reading (`acr_values_voluntary`). An essential `acr` in the
        // claims request (section 5.5.1.1) must always be met, and must name a known level.
        let mut acr_values: Vec<String> =
            claims::parse_list(params.acr_values.as_deref().unwrap_or(""))
                .into_iter()
                .filter(|a| Tier::parse(a).is_some())
                .collect();
        if client.acr_values_voluntary {
            acr_values.clear();
        }
        if !claims.acr.is_empty() {
            if claims.acr.iter().any(|a| Tier::parse(a).is_none()) {
                return Err(redirect(
                    AuthzErrorCode::InvalidRequest,
                    "an essential acr must be basic or plus, the levels civpass has",
                ));
            }
            acr_values = claims.acr.clone();
        }
        if params.max_age.as_deref().is_some_and(|m| m.parse::<u32>().is_err()) {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "max_age must be a number of seconds",
            ));
        }
        if params.login_hint.as_deref().is_some_and(|h| h.len() > 256) {
            return Err(redirect(AuthzErrorCode::InvalidRequest, "login_hint is too long"));
        }
        let hinted = match params.id_token_hint.as_deref() {
            None => None,
            Some(hint) => Some(self.subject_of_id_token(hint, &client.id).ok_or(redirect(
                AuthzErrorCode::InvalidRequest,
                "id_token_hint is not an ID token this provider issued to this client",
            ))?),
        };
        let expected_sub = match (hinted, claims.sub.clone()) {
            (Some(a), Some(b)) if a != b => {
                return Err(redirect(
                    AuthzErrorCode::InvalidRequest,
                    "id_token_hint and the claims sub differ",
                ));
            }
            (a, b) => a.or(b),
        };
        // An anonymous filling names nobody: a service that named the citizen it expects
        // (id_token_hint, a claims sub) or a level (acr_values, an essential acr) would learn
        // from the outcome who filled it, or their level.
        if form.as_ref().is_some_and(|f| f.anonymous)
            && (expected_sub.is_some() || !acr_values.is_empty() || params.login_hint.is_some())
        {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "an anonymous form filling cannot name a citizen (id_token_hint, login_hint, sub) or a level (acr)",
            ));
        }
        let challenge = params.code_challenge.as_deref().ok_or(redirect(
            AuthzErrorCode::InvalidRequest,
            "PKCE is required: code_challenge is missing",
        ))?;
        if params.code_challenge_method.as_deref() != Some("S256") {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
        if !is_b64_sha256(challenge) {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "code_challenge must be a base64url SHA-256 value",
            ));
        }
        // OIDC4IDA section 8: a purpose outside 3 to 300 characters fails the request.
        let purpose = match params.purpose.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                crate::kernel::text::display_text(text, 300)
                    .filter(|p| p.chars().count() >= 3)
                    .ok_or(redirect(
                        AuthzErrorCode::InvalidRequest,
                        "purpose must be 3 to 300 characters of plain text",
                    ))?,
            ),
        };
        let prompt = claims::parse_list(params.prompt.as_deref().unwrap_or(""));
        if prompt
            .iter()
            .any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
            || (prompt.iter().any(|p| p == "none") && prompt.len() > 1)
        {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "prompt has an unknown value or none with others",
            ));
        }
        // login, consent and select_account need nothing more: every login is a fresh approval
        // in the citizen's app, which always shows what is released.
        if prompt.iter().any(|p| p == "none") && !source.at_par {
            // Every login is approved in the app, so none can finish without interaction.
            return Err(redirect(
                AuthzErrorCode::LoginRequired,
                "the citizen must approve the login in the civpass app",
            ));
        }
        if params.dpop_jkt.as_deref().is_some_and(|j| !is_b64_sha256(j)) {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
            ));
        }
        if let Some(name) = oversized_parameter(params) {
            return Err(redirect(AuthzErrorCode::InvalidRequest, name));
        }
        if params.state.as_deref().is_some_and(|s| s.len() > MAX_STATE_BYTES) {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "state is longer than 2048 bytes",
            ));
        }
        if params.nonce.as_deref().is_some_and(|s| s.len() > MAX_NONCE_BYTES) {
            return Err(redirect(AuthzErrorCode::InvalidRequest, "nonce is longer than 512 bytes"));
        }
        if params.acr_values.as_deref().is_some_and(|s| s.len() > 256)
            || params.claims.as_deref().is_some_and(|s| s.len() > 4096)
        {
            return Err(redirect(
                AuthzErrorCode::InvalidRequest,
                "acr_values or claims is too long",
            ));
        }
        Ok(ValidRequest {
            client: client.clone(),
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: challenge.to_owned(),
            scopes: requested,
            acr_values,
            id_token_claims: claims.id_token,
            claims_filter,
            essential_claims: claims.essential,
            verified_claims,
            purpose: purpose.or_else(|| form.as_ref().and_then(|f| f.purpose.clone())),
            form,
            expected_sub,
            dpop_jkt: params.dpop_jkt.clone(),
        })
    }

    /// Validates an authorization request (given in the query, as a request object, or pushed
    /// before) and opens a login request bound to `browser_id`.
    #[tracing::instrument(skip_all, fields(client_id = params.client_id.as_deref().unwrap_or("")))]
    pub async fn start_login(
        &self,
        params: &AuthorizeParams,
        browser_id: &str,
        origin: &RequestOrigin<'_>,
    ) -> Result<StartedLogin, AuthorizeError> {
        let no_redirect = |description| AuthorizeError::NoRedirect { description };
        let client_id = params
            .client_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(no_redirect("client_id is missing"))?;
        let client: Client = self
            .find_client(client_id)
            .await?
            .ok_or(no_redirect("client_id is not a registered client"))?;
        let (params, source) = self.effective_params(&client, params).await?;
        let valid = self.validate_authorization(&client, &params, source)?;
        let (client, redirect_uri, challenge, requested) =
            (valid.client, valid.redirect_uri, valid.code_challenge, valid.scopes);
        let (acr_values, id_token_claims, expected_sub, dpop_jkt) =
            (valid.acr_values, valid.id_token_claims, valid.expected_sub, valid.dpop_jkt);
        let (claims_filter, essential_claims) = (valid.claims_filter, valid.essential_claims);
        let (verified_claims, purpose) = (valid.verified_claims, valid.purpose);
        let authorization_details = valid.form.as_ref().and_then(|f| serde_json::to_string(f).ok());
        let params = &params;

        let now = self.ctx.now();
        let browser_hash = hash_secret(browser_id);
        let origin_hash = origin.client_key.filter(|_| !origin.known_browser).map(|key| {
            self.ctx.secrets.lookup.hash(&[b"login-origin", key.to_string().as_bytes()])
        });
        self.check_pending_caps(&browser_hash, origin_hash.as_deref(), now).await?;
        let id = random_token(16);
        let context = LoginContext::derive(origin, self.ip_locator.as_ref());
        let sealed_context = serde_json::to_vec(&context)
            .ok()
            .and_then(|json| self.ctx.secrets.sealing.seal(&json, id.as_bytes()).ok());
        let request = LoginRequest {
            id: id.into(),
            client_id: client.id,
            client_name: client.name,
            redirect_uri,
            oauth_state: params.state.clone(),
            nonce: params.nonce.clone(),
            scopes: requested,
            code_challenge: challenge,
            browser_hash,
            match_code: format!("{:02}", random_below(100)),
            challenge: random_token(32),
            created_at: now,
            expires_at: now + self.ctx.settings.login_request_ttl,
            status: LoginStatus::Pending,
            account_id: None,
            device_id: None,
            approved_scopes: Vec::new(),
            auth_time: None,
            amr: Vec::new(),
            code_hash: None,
            code_expires_at: None,
            grant_id: None,
            // Only a language preference: an oversized one is dropped, not an error.
            ui_locales: params.ui_locales.clone().filter(|l| l.len() <= 100),
            acr_values,
            id_token_claims,
            claims_filter,
            essential_claims,
            verified_claims,
            purpose,
            authorization_details,
            expected_sub,
            failure: None,
            dpop_jkt,
            sealed_context,
            origin_hash,
        };
        self.store.insert_login_request(&request).await.map_err(Internal::from)?;
        telemetry::login("started");
        Ok(StartedLogin { request_id: request.id.into() })
    }

    /// One browser may hold a few pending login requests, one address some more: each keeps
    /// text the caller chose until it expires, so strangers must not open them without end. A
    /// browser civpass has seen before (its signed cookie) is counted by itself; a new one
    /// (`origin_hash` given) holds nothing yet and is counted by its address, so that one query
    /// answers either way.
    async fn check_pending_caps(
        &self,
        browser_hash: &str,
        origin_hash: Option<&str>,
        now: i64,
    ) -> Result<(), AuthorizeError> {
        let (key, cap) = match origin_hash {
            Some(origin) => {
                (PendingKey::Origin(origin), self.ctx.settings.max_pending_logins_per_address)
            }
            None => (
                PendingKey::Browser(browser_hash),
                self.ctx.settings.max_pending_logins_per_browser,
            ),
        };
        if cap == 0 {
            return Ok(());
        }
        let pending =
            self.store.count_pending_login_requests(key, now).await.map_err(Internal::from)?;
        if pending >= u64::from(cap) {
            tracing::warn!(pending, "too many pending login requests");
            return Err(AuthorizeError::TooManyPending);
        }
        Ok(())
    }

    /// A new browser-binding cookie value: a random id and a keyed hash of it, so that a
    /// cookie civpass did not issue is not taken for one it did.
    pub fn new_browser_id(&self) -> String {
        let id = random_token(32);
        let mac = self.ctx.secrets.lookup.hash(&[b"browser-id", id.as_bytes()]);
        format!("{id}.{mac}")
    }

    /// Whether `value` is a browser id civpass issued (constant time).
    pub fn is_browser_id(&self, value: &str) -> bool {
        value.split_once('.').is_some_and(|(id, mac)| {
            id.len() == 43
                && ct_eq(mac, &self.ctx.secrets.lookup.hash(&[b"browser-id", id.as_bytes()]))
        })
    }

    async fn bound_request(
        &self,
        request_id: &str,
        browser_id: &str,
    ) -> Result<LoginRequest, LoginPageError> {
        let request = self
            .store
            .find_login_request(&LoginRequestId::from(request_id))
            .await
            .map_err(Internal::from)?
            .ok_or(LoginPageError::NotFound)?;
        if !ct_eq(&request.browser_hash, &hash_secret(browser_id)) {
            return Err(LoginPageError::OtherBrowser);
        }
        Ok(request)
    }

    /// The status word the waiting page polls for.
    pub async fn login_status(
        &self,
        request_id: &str,
        browser_id: &str,
    ) -> Result<&'static str, LoginPageError> {
        let request = self.bound_request(request_id, browser_id).await?;
        if request.status == LoginStatus::Pending && self.ctx.now() >= request.expires_at {
            return Ok("expired");
        }
        Ok(request.status.as_str())
    }

    /// What the browser that started the login sees; after approval this issues the code.
    #[tracing::instrument(skip_all)]
    pub async fn login_page(
        &self,
        request_id: &str,
        browser_id: &str,
    ) -> Result<LoginPage, LoginPageError> {
        let request = self.bound_request(request_id, browser_id).await?;
        let now = self.ctx.now();
        match request.status {
            LoginStatus::Pending if now >= request.expires_at => {
                Ok(self.respond_ended(&request, Ending::Expired))
            }
            LoginStatus::Pending => Ok(LoginPage::Waiting {
                client_name: request.client_name,
                scopes: request.scopes,
                match_code: request.match_code,
                ui_locales: request.ui_locales,
                redirect_uri: request.redirect_uri,
            }),
            // An approval the browser never came back for ends too: a code is issued only
            // within the request's lifetime and one code lifetime after it, not to a tab
            // reopened hours later.
            LoginStatus::Approved if now >= request.expires_at + self.ctx.settings.code_ttl => {
                Ok(self.respond_ended(&request, Ending::Expired))
            }
            LoginStatus::Approved => {
                let code = random_token(32);
                let completed = self
                    .store
                    .complete_login_request(
                        &request.id,
                        &hash_secret(&code),
                        now + self.ctx.settings.code_ttl,
                    )
                    .await
                    .map_err(Internal::from)?;
                if !completed {
                    // Another request from the same browser finished it first.
                    return Ok(LoginPage::Ended);
                }
                Ok(self.respond(&request, vec![("code", &code)]))
            }
            LoginStatus::Denied | LoginStatus::Failed => {
                // Rows from before endings were recorded: the status alone tells.
                let fallback = if request.status == LoginStatus::Failed {
                    Ending::WrongMatchCode
                } else {
                    Ending::Denied
                };
                Ok(self.respond_ended(&request, request.failure.unwrap_or(fallback)))
            }
            LoginStatus::Completed | LoginStatus::Redeemed => Ok(LoginPage::Ended),
        }
    }

    /// The citizen gives up in the browser that started the login: the request ends (the app
    /// can no longer approve it) and the browser goes back to the service with
    /// `error=access_denied`. A request already decided answers as `login_page` does.
    ///
    /// Errors: `NotFound`; `OtherBrowser` when `browser_id` is not the one the login is bound to.
    #[tracing::instrument(skip_all)]
    pub async fn cancel_login(
        &self,
        request_id: &str,
        browser_id: &str,
    ) -> Result<LoginPage, LoginPageError> {
        let request = self.bound_request(request_id, browser_id).await?;
        if request.status == LoginStatus::Pending
            && self.end_login_request(&request.id, Ending::Cancelled).await?
        {
            tracing::info!("login request cancelled in the browser");
        }
        self.login_page(request_id, browser_id).await
    }

    /// Ends a pending login request without a code; false if it was no longer pending.
    async fn end_login_request(&self, id: &str, ending: Ending) -> Result<bool, Internal> {
        let (id, now) = (LoginRequestId::from(id), self.ctx.now());
        let ended = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.decide_login_request(&id, &Decision::End(ending), now).await })
        })
        .await?;
        if ended {
            telemetry::login(ending.as_str());
        }
        Ok(ended)
    }

    /// The error response for a login that ended without a code.
    fn respond_ended<'a>(&'a self, request: &'a LoginRequest, ending: Ending) -> LoginPage {
        let pairs = vec![
            ("error", ending.oauth_error().as_str()),
            ("error_description", ending.description()),
        ];
        self.respond(request, pairs)
    }

    /// The authorization response (with RFC 9207 `iss`) for the request's redirect URI.
    fn respond<'a>(
        &'a self,
        request: &'a LoginRequest,
        mut pairs: Vec<(&'a str, &'a str)>,
    ) -> LoginPage {
        if let Some(state) = request.oauth_state.as_deref() {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &self.ctx.settings.issuer));
        LoginPage::Redirect(with_query(&request.redirect_uri, &pairs))
    }

    /// Deletes login requests a day after they expired: by then their codes are long dead, and
    /// what matters of them (grants, consents, release records) lives elsewhere. Pushed requests,
    /// the replay caches and revoked access tokens go once expired; a retired refresh token is
    /// kept for reuse detection only while its grant could still be alive. Returns how many.
    pub async fn purge_expired(&self) -> Result<u64, Internal> {
        let now = self.ctx.now();
        let requests = self
            .store
            .delete_login_requests_expired_before(
                now - LOGIN_REQUEST_RETENTION,
                now - UNFINISHED_LOGIN_REQUEST_RETENTION,
            )
            .await?;
        // Counted here, once, by the node whose delete took them: a login page shown after
        // expiry may be reloaded, and many expire with no page open.
        telemetry::logins_expired(requests.never_decided);
        let requests = requests.deleted;
        let pushed = self.store.delete_pushed_requests_expired_before(now).await?;
        let proofs = self.store.delete_dpop_proofs_expired_before(now).await?;
        let retired = self
            .store
            .delete_retired_refresh_tokens_before(now - self.ctx.settings.refresh_token_max_age)
            .await?;
        let assertions = self.store.delete_client_assertions_expired_before(now).await?;
        let revoked = self.store.delete_revoked_access_tokens_before(now).await?;
        Ok(requests + pushed + proofs + retired + assertions + revoked)
    }

    /// The request as the app sees it before deciding; `browser_id` is the binding cookie the
    /// app's request carried, if any.
    pub async fn device_view(
        &self,
        request_id: &str,
        browser_id: Option<&str>,
    ) -> Result<DeviceView, DeviceError> {
        let request = self.pending_request(request_id).await?;
        let context = request
            .sealed_context
            .as_ref()
            .and_then(|sealed| self.ctx.secrets.sealing.open(sealed, request.id.as_bytes()).ok())
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default();
        let same_browser = same_browser(&request, browser_id);
        let form = super::forms::FormRequest::stored(request.authorization_details.as_deref());
        // An anonymous filling releases the form's fields and nothing else: the app shows
        // only those (and the one-time identifier), not the rest of what the request named.
        let (scopes, claims_filter) = match &form {
            Some(form) if form.anonymous => {
                let fields = form.field_names();
                let scopes = request
                    .scopes
                    .into_iter()
                    .filter(|s| {
                        s == "openid"
                            || fields.iter().any(|f| claims::scope_of_claim(f) == Some(s.as_str()))
                    })
                    .collect();
                (scopes, fields)
            }
            _ => (request.scopes, request.claims_filter),
        };
        Ok(DeviceView {
            same_browser,
            started_at: request.created_at,
            context,
            request_id: request.id.into(),
            client_id: request.client_id.into(),
            client_name: request.client_name,
            scopes,
            challenge: request.challenge,
            expires_at: request.expires_at,
            claims_filter,
            essential_claims: request.essential_claims,
            purpose: request.purpose,
            form,
        })
    }

    async fn pending_request(&self, request_id: &str) -> Result<LoginRequest, DeviceError> {
        let request = self
            .store
            .find_login_request(&LoginRequestId::from(request_id))
            .await
            .map_err(Internal::from)?
            .ok_or(DeviceError::NotFound)?;
        if request.status != LoginStatus::Pending {
            return Err(DeviceError::AlreadyDecided);
        }
        if self.ctx.now() >= request.expires_at {
            return Err(DeviceError::Expired);
        }
        Ok(request)
    }

    /// Opens a passkey ceremony for deciding this request with this device.
    pub async fn start_decision_assertion(
        &self,
        request_id: &str,
        device_id: &str,
    ) -> Result<Challenge<AssertionOptions>, DeviceError> {
        let request = self.pending_request(request_id).await?;
        let device = self
            .identity
            .active_device(&DeviceId::from(device_id))
            .await
            .map_err(Internal::from)?
            .ok_or(DeviceError::UnknownDevice)?;
        if device.kind != DeviceKind::Passkey {
            return Err(DeviceError::NotAPasskey);
        }
        self.device
            .start_assertion(&device, decision_purpose(&request.id, &device.id))
            .await?
            .ok_or(DeviceError::NotAPasskey)
    }

    /// Applies the app's signed decision.
    #[tracing::instrument(skip_all, fields(device_id = req.device_id))]
    pub async fn decide(
        &self,
        request_id: &str,
        req: DecisionRequest<'_>,
    ) -> Result<(), DeviceError> {
        let request = self.pending_request(request_id).await?;
        let device = self
            .identity
            .active_device(&DeviceId::from(req.device_id))
            .await
            .map_err(Internal::from)?
            .ok_or(DeviceError::UnknownDevice)?;
        // The proof comes first, so that nobody but the device can end a request.
        match req.proof {
            DeviceProof::Signature(signature) => {
                let message = decision_message(
                    &self.ctx.settings.issuer,
                    &request.id,
                    &request.challenge,
                    req.verdict,
                    req.match_code,
                    req.approved_scopes,
                );
                if device.kind != DeviceKind::Software {
                    return Err(DeviceError::BadSignature);
                }
                DevicePublicKey::parse(&device.public_key)
                    .and_then(|key| key.verify(&message, signature))
                    .map_err(|_| DeviceError::BadSignature)?;
            }
            DeviceProof::Passkey(credential) => {
                let ceremony_id = req.ceremony_id.ok_or(DeviceError::CeremonyNotFound)?;
                let purpose = decision_purpose(&request.id, &device.id);
                match self.device.verify_passkey(&device, ceremony_id, &purpose, credential).await?
                {
                    Ok(()) => {}
                    Err(ProofFailure::NoCeremony) => return Err(DeviceError::CeremonyNotFound),
                    Err(ProofFailure::Invalid) => return Err(DeviceError::BadSignature),
                }
            }
        }
        let now = self.ctx.now();
        let decision = match req.verdict {
            Verdict::Deny => Decision::End(Ending::Denied),
            Verdict::Approve => {
                // A suspended account logs in nowhere: the request ends, and the service is
                // told the citizen did not log in.
                let account =
                    self.identity.account(&device.account_id).await.map_err(Internal::from)?;
                if account.suspended_at.is_some() {
                    self.end_login_request(&request.id, Ending::AccountSuspended).await?;
                    return Err(DeviceError::AccountSuspended);
                }
                // A minor's account logs in once their guardian has approved it; the service
                // is told the citizen did not log in, as for a suspended one.
                if self.identity.awaits_guardian(&account).await? {
                    self.end_login_request(&request.id, Ending::AccountSuspended).await?;
                    return Err(DeviceError::AwaitingGuardian);
                }
                // One wrong guess ends the request: with two digits, retries would make
                // guessing a hijacked QR code's number practical. In the browser that started
                // the login, the code is not asked for.
                if !same_browser(&request, req.browser_id)
                    && !ct_eq(req.match_code, &request.match_code)
                {
                    self.end_login_request(&request.id, Ending::WrongMatchCode).await?;
                    return Err(DeviceError::WrongMatchCode);
                }
                let approved = claims::parse_list(&req.approved_scopes.join(" "));
                if !approved.iter().any(|s| s == "openid")
                    || approved.iter().any(|s| !request.scopes.contains(s))
                {
                    return Err(DeviceError::InvalidScopes);
                }
                match self.unmet_requirement(&request, &device.account_id).await? {
                    Some(ending) => Decision::End(ending),
                    None => Decision::Approve {
                        account_id: device.account_id.clone(),
                        device_id: device.id.clone(),
                        approved_scopes: approved,
                        amr: device.kind.amr(),
                    },
                }
            }
        };
        // An anonymous filling leaves no consent, and no link, with the service.
        let anonymous = super::forms::FormRequest::stored(request.authorization_details.as_deref())
            .is_some_and(|f| f.anonymous);
        let consent = match &decision {
            Decision::Approve { .. } if anonymous => None,
            Decision::Approve { approved_scopes, .. } => Some(Consent {
                account_id: device.account_id.clone(),
                client_id: request.client_id.clone(),
                scopes: approved_scopes.clone(),
                granted_at: now,
                linked_at: now,
                claims: claims::released(approved_scopes, &request.claims_filter)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                purpose: request.purpose.clone(),
                expires_at: Some(now + crate::consent::model::CONSENT_TTL),
                approvals: Vec::new(),
            }),
            _ => None,
        };
        // The decision and, on approval, the consent it gives, together. A new approval adds
        // to the standing consent rather than narrowing it: the service's earlier grants still
        // release what they were given, so the consent (and its receipt and events) says so
        // too. It sets the terms only of what the citizen was shown now: a login asking for
        // nothing cannot renew or re-purpose an earlier approval. The standing consent is read
        // in the transaction, so that two approvals at once both count.
        let (id, applied) = (request.id.clone(), decision.clone());
        let decided = transact(self.store.as_ref(), move |tx| {
            let consent = consent.clone();
            Box::pin(async move {
                if !tx.decide_login_request(&id, &applied, now).await? {
                    return Ok(false);
                }
                if let Some(mut consent) = consent {
                    consent.approvals = consent.approvals_or_whole();
                    let merged =
                        match tx.consent_for_update(&consent.account_id, &consent.client_id).await?
                        {
                            Some(before) => before.merged(consent),
                            None => consent,
                        };
                    tx.upsert_consent(&merged).await?;
                }
                Ok(true)
            })
        })
        .await
        .map_err(Internal::from)?;
        if !decided {
            return Err(DeviceError::AlreadyDecided);
        }
        telemetry::login(match &decision {
            Decision::Approve { .. } => "approved",
            Decision::End(ending) => ending.as_str(),
        });
        if let Decision::End(ending @ (Ending::OtherCitizen | Ending::LevelTooLow)) = decision {
            tracing::info!(ending = ending.as_str(), "login request ended: requirements not met");
            return Err(if ending == Ending::OtherCitizen {
                DeviceError::OtherCitizen
            } else {
                DeviceError::AccountLevelTooLow
            });
        }
        tracing::info!(decision = req.verdict.as_str(), "login request decided");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn claims_requests_map_claims_to_scopes_and_essential_acr_to_a_requirement() {
        let parsed = parse_claims_request(
            r#"{"userinfo":{"given_name":null,"hkid":{"essential":true}},"id_token":{"gender":null,"acr":{"essential":true,"value":"plus"},"unknown":null}}"#,
        )
        .unwrap();
        assert_eq!(parsed.scopes, ["gender", "profile", "hkid"], "id_token first, names in order");
        assert_eq!(parsed.id_token, ["gender"]);
        assert_eq!(parsed.acr, ["plus"]);
        let voluntary =
            parse_claims_request(r#"{"id_token":{"acr":{"values":["plus"]}}}"#).unwrap();
        assert!(voluntary.acr.is_empty(), "a voluntary acr is only a wish");
        assert_eq!(parse_claims_request(r#"{"userinfo":[]}"#), None);
        assert_eq!(parse_claims_request(r#"{"userinfo":{"name":true}}"#), None);
    }

    proptest! {
        #[test]
        fn claims_request_parsing_never_panics(text in "\\PC{0,200}") {
            let _ = parse_claims_request(&text);
        }

        #[test]
        fn structured_claims_requests_never_panic(name in "[a-z_#-]{0,12}", value in "(null|true|1|\"x\"|\\{\\}|\\[\\]|\\{\"values\":\\[1\\]\\})") {
            let _ = parse_claims_request(&format!(r#"{{"id_token":{{"{name}":{value}}},"userinfo":{{"acr":{value}}}}}"#));
        }
    }
}
