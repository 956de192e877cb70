//! The OpenID provider's records: relying parties, login requests and their decisions, grants,
//! and back-channel logout notices.

use civpass_crypto::jws::Algorithm;
use serde::{Deserialize, Serialize};

use crate::kernel::clock::UnixTime;
use crate::kernel::ids::{AccountId, ClientId, DeviceId, GrantId, LoginRequestId};

/// A relying party. Its registration metadata is stored as one JSON document (the fields
/// serde writes; nothing queries them), the rest in columns of their own (`#[serde(skip)]`): a
/// new metadata field needs `#[serde(default)]` here and nothing in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    #[serde(skip)]
    pub id: ClientId,
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client or one that signs assertions.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `id_token_signed_response_alg` (OIDC Registration): ES256 by default, RS256 for clients
    /// that can only verify RSA.
    pub id_token_alg: Algorithm,
    /// How the client may authenticate at the token endpoints; the first is the one its
    /// registration metadata names.
    #[serde(default)]
    pub auth_methods: Vec<AuthMethod>,
    #[serde(default)]
    pub grant_types: Vec<GrantType>,
    /// The client's public keys as a JWK Set (JSON), for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Where to fetch the client's JWK Set instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Scopes the client may ask for with the client-credentials grant.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `require_pushed_authorization_requests` (RFC 9126 section 6).
    #[serde(default)]
    pub require_par: bool,
    /// `require_signed_request_object` (RFC 9101 section 10.5).
    #[serde(default)]
    pub require_signed_request: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 section 5.2): every token request needs a proof.
    #[serde(default)]
    pub require_dpop: bool,
    /// A protected resource the operator trusts to introspect other clients' access tokens
    /// (RFC 7662 section 4); other clients introspect only their own.
    #[serde(default)]
    pub resource_server: bool,
    /// SHA-256 of the registration access token (RFC 7592), for clients registered dynamically.
    #[serde(skip)]
    pub registration_token_hash: Option<String>,
    /// Where `/logout` may send the browser afterwards (RP-Initiated Logout, exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where the client hears that a citizen's session with it ended (Back-Channel Logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Where the client receives Security Event Tokens by push (RFC 8935): a consent that
    /// ended, and the sessions that ended with it (`oidc::events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_events_push_uri: Option<String>,
    /// `sector_identifier_uri` (OIDC Core section 8.1), checked at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// The host of the sector identifier URI: the sector for pairwise subjects.
    #[serde(skip)]
    pub sector: Option<String>,
    /// `application_type: native` (OIDC Registration section 2): an app on a device, which may
    /// register private-use URI schemes and loopback redirect URIs of any port (RFC 8252).
    #[serde(default)]
    pub native: bool,
    /// Requested `acr_values` are what OIDC makes them, voluntary: a citizen who cannot meet
    /// them logs in at the level they have. Off by default: civpass refuses the login
    /// (`unmet_authentication_requirements`), the policy a government service expects.
    #[serde(default)]
    pub acr_values_voluntary: bool,
    /// When the operator suspended the client: no logins, no tokens, no token answers about
    /// it, until enabled again. Its grants stay, so that enabling it restores its service.
    #[serde(skip)]
    pub disabled_at: Option<UnixTime>,
    #[serde(skip)]
    pub created_at: UnixTime,
}

impl Client {
    /// Whether `uri` is one this client registered (RFC 6749 section 3.1.2.3, by simple string
    /// comparison, RFC 9700 section 4.1.3), or, for a native client, a registered loopback IP
    /// redirect with another port (RFC 8252 section 7.3: the app's port is chosen at run time).
    pub fn accepts_redirect_uri(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        if !self.native {
            return false;
        }
        let Ok(asked) = url::Url::parse(uri) else { return false };
        if asked.scheme() != "http" || !is_loopback_ip(&asked) {
            return false;
        }
        self.redirect_uris.iter().filter_map(|r| url::Url::parse(r).ok()).any(|registered| {
            registered.scheme() == "http"
                && is_loopback_ip(&registered)
                && registered.host() == asked.host()
                && registered.path() == asked.path()
                && registered.query() == asked.query()
                && asked.fragment().is_none()
                && asked.username().is_empty()
                && asked.password().is_none()
        })
    }
}

/// A loopback IP literal host (127.0.0.0/8, ::1); `localhost`, a name, is not one (RFC 8252
/// section 8.3).
pub fn is_loopback_ip(uri: &url::Url) -> bool {
    match uri.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Client authentication methods (RFC 7591 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523, OIDC Core section 9).
    PrivateKeyJwt,
    /// A public client: PKCE only.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<AuthMethod> {
        Some(match text {
            "client_secret_basic" => AuthMethod::ClientSecretBasic,
            "client_secret_post" => AuthMethod::ClientSecretPost,
            "private_key_jwt" => AuthMethod::PrivateKeyJwt,
            "none" => AuthMethod::None,
            _ => return None,
        })
    }

    pub fn uses_secret(self) -> bool {
        matches!(self, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)
    }
}

/// Grant types a client may use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    /// Machine-to-machine: the client acts for itself (RFC 6749 section 4.4).
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(text: &str) -> Option<GrantType> {
        Some(match text {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            "client_credentials" => GrantType::ClientCredentials,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStatus {
    /// Waiting for the citizen's app.
    Pending,
    /// The app approved; the browser has not come back yet.
    Approved,
    Denied,
    /// Ended without approval, e.g. after a wrong matching code.
    Failed,
    /// The browser came back and received a code.
    Completed,
    /// The code was exchanged for tokens.
    Redeemed,
}

impl LoginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginStatus::Pending => "pending",
            LoginStatus::Approved => "approved",
            LoginStatus::Denied => "denied",
            LoginStatus::Failed => "failed",
            LoginStatus::Completed => "completed",
            LoginStatus::Redeemed => "redeemed",
        }
    }

    pub fn parse(text: &str) -> Option<LoginStatus> {
        Some(match text {
            "pending" => LoginStatus::Pending,
            "approved" => LoginStatus::Approved,
            "denied" => LoginStatus::Denied,
            "failed" => LoginStatus::Failed,
            "completed" => LoginStatus::Completed,
            "redeemed" => LoginStatus::Redeemed,
            _ => return None,
        })
    }
}

/// One authorization request, from `/authorize` to the code's redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    pub id: LoginRequestId,
    pub client_id: ClientId,
    /// The service's name when the request was made, as the citizen is shown it.
    pub client_name: String,
    pub redirect_uri: String,
    pub oauth_state: Option<String>,
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub code_challenge: String,
    /// Hash of the browser-binding cookie of the browser that started it.
    pub browser_hash: String,
    pub match_code: String,
    /// What the device signs, so that an approval cannot be replayed onto another request.
    pub challenge: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub status: LoginStatus,
    pub account_id: Option<AccountId>,
    pub device_id: Option<DeviceId>,
    pub approved_scopes: Vec<String>,
    pub auth_time: Option<UnixTime>,
    pub amr: Vec<String>,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<UnixTime>,
    pub grant_id: Option<GrantId>,
    /// The relying party's `ui_locales`, for the language of the login page.
    pub ui_locales: Option<String>,
    /// `acr_values` the citizen must meet one of (from `acr_values` or an essential `acr` in
    /// the claims request); empty means any.
    pub acr_values: Vec<String>,
    /// Claims the claims request asks for in the ID token.
    pub id_token_claims: Vec<String>,
    /// Claims a `claims` request named without their scope being asked for: of such a scope,
    /// only these are released (`consent::claims::released`).
    pub claims_filter: Vec<String>,
    /// Claims the `claims` request marked essential, for the app to mark (OIDC Core section
    /// 5.5.1); the citizen may still refuse them.
    pub essential_claims: Vec<String>,
    /// Claims asked for as OIDC4IDA `verified_claims`: `userinfo:NAME` and `id_token:NAME`,
    /// and `only:NAME` for one released only inside `verified_claims` (`oidc::assurance`).
    pub verified_claims: Vec<String>,
    /// The service's `purpose` (OIDC4IDA section 8), for the app and the consent.
    pub purpose: Option<String>,
    /// A form to fill (`oidc::forms::FormRequest` as JSON), from `authorization_details`.
    pub authorization_details: Option<String>,
    /// The pairwise subject an `id_token_hint` named: only that citizen may approve.
    pub expected_sub: Option<String>,
    /// Why the request ended without approval, once it did.
    pub failure: Option<Ending>,
    /// The DPoP key the code is bound to (RFC 9449 section 10): only a token request proving
    /// this key may redeem it.
    pub dpop_jkt: Option<String>,
    /// Where the request came from (`login_context::LoginContext` as JSON), sealed with the
    /// request id as associated data: an approximate place is personal data.
    pub sealed_context: Option<Vec<u8>>,
    /// Keyed hash of the client address's key (IPv4 address, IPv6 /64), to cap the pending
    /// requests one address holds.
    pub origin_hash: Option<String>,
}

/// A back-channel logout owed to a service (Back-Channel Logout 1.0 section 2.4), as the
/// outbox carries it: the logout token is signed afresh at each attempt (it lives two minutes),
/// so only what it names is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutNotice {
    pub client_id: ClientId,
    /// The subject the service knows the citizen by.
    pub subject: String,
    /// The session (grant) that ended, sent as `sid`; None for the citizen as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

impl crate::kernel::outbox::OutboxKind for LogoutNotice {
    const KIND: &'static str = "backchannel_logout";
}

/// The error codes the authorization and PAR endpoints answer with (RFC 6749 section
/// 4.1.2.1, OIDC Core 1.0 section 3.1.2.6, RFC 9101 section 6.3, RFC 9126 section 2.3, RFC
/// 9449 section 12.2, RFC 9470 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    InvalidRequestObject,
    InvalidDpopProof,
    UnmetAuthenticationRequirements,
    /// RFC 9396 section 5.
    InvalidAuthorizationDetails,
}

impl AuthzErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthzErrorCode::InvalidRequest => "invalid_request",
            AuthzErrorCode::UnauthorizedClient => "unauthorized_client",
            AuthzErrorCode::AccessDenied => "access_denied",
            AuthzErrorCode::UnsupportedResponseType => "unsupported_response_type",
            AuthzErrorCode::InvalidScope => "invalid_scope",
            AuthzErrorCode::ServerError => "server_error",
            AuthzErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            AuthzErrorCode::LoginRequired => "login_required",
            AuthzErrorCode::InvalidRequestObject => "invalid_request_object",
            AuthzErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            AuthzErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            AuthzErrorCode::InvalidAuthorizationDetails => "invalid_authorization_details",
        }
    }
}

impl std::fmt::Display for AuthzErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the app decided, applied atomically to a pending request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve {
        account_id: AccountId,
        device_id: DeviceId,
        approved_scopes: Vec<String>,
        amr: Vec<String>,
    },
    /// The request ends without a code, for this reason.
    End(Ending),
}

/// Why a login request ended without a code, and how the service is told: an OAuth error
/// and its description in the authorization response (RFC 6749 section 4.1.2.1, OIDC Core
/// section 3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The citizen denied it in the app.
    Denied,
    /// The citizen chose "Cancel and go back" in the browser.
    Cancelled,
    /// The app was given a wrong matching code, which ends the request.
    WrongMatchCode,
    /// Nobody approved it within its lifetime (never stored: it is read off the clock).
    Expired,
    /// Someone other than the citizen the `id_token_hint` names approved it.
    OtherCitizen,
    /// The approving citizen's account is below the essential `acr` the service asked for.
    LevelTooLow,
    /// The approving citizen's account is suspended by the operator.
    AccountSuspended,
}

impl Ending {
    pub const ALL: [Ending; 7] = [
        Ending::Denied,
        Ending::Cancelled,
        Ending::WrongMatchCode,
        Ending::Expired,
        Ending::OtherCitizen,
        Ending::LevelTooLow,
        Ending::AccountSuspended,
    ];

    /// The stored form (the `failure` column); older rows hold the last three.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Denied => "denied",
            Ending::WrongMatchCode => "wrong_match_code",
            Ending::Expired => "expired",
            Ending::Cancelled => "cancelled",
            Ending::OtherCitizen => "login_required",
            Ending::LevelTooLow => "unmet_authentication_requirements",
            Ending::AccountSuspended => "account_suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Ending> {
        Ending::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// The OAuth error the service receives.
    pub fn oauth_error(self) -> AuthzErrorCode {
        match self {
            Ending::OtherCitizen => AuthzErrorCode::LoginRequired,
            Ending::LevelTooLow => AuthzErrorCode::UnmetAuthenticationRequirements,
            Ending::Denied
            | Ending::Cancelled
            | Ending::WrongMatchCode
            | Ending::Expired
            | Ending::AccountSuspended => AuthzErrorCode::AccessDenied,
        }
    }

    /// The `error_description` the service receives, for its developers.
    pub fn description(self) -> &'static str {
        match self {
            Ending::Denied => "the citizen declined the request",
            Ending::Cancelled => "the citizen cancelled the login in the browser",
            Ending::WrongMatchCode => {
                "the login was cancelled: the app was given a wrong matching code"
            }
            Ending::Expired => "the login request expired before the citizen approved it",
            Ending::OtherCitizen => "another citizen than the one id_token_hint names approved",
            Ending::LevelTooLow => "the citizen's account does not reach the requested acr",
            Ending::AccountSuspended => "the citizen's account is suspended",
        }
    }

    /// The status a request ending so is left in.
    pub fn status(self) -> LoginStatus {
        match self {
            Ending::WrongMatchCode => LoginStatus::Failed,
            _ => LoginStatus::Denied,
        }
    }
}

/// Tokens issued from one approved login; the refresh token rotates within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub account_id: AccountId,
    pub client_id: ClientId,
    pub login_request_id: LoginRequestId,
    pub scopes: Vec<String>,
    /// As the login request's: what of `scopes` is released (`consent::claims::released`).
    pub claims_filter: Vec<String>,
    /// As the login request's.
    pub verified_claims: Vec<String>,
    /// The form filled, as the login request's (`oidc::forms`).
    pub authorization_details: Option<String>,
    pub auth_time: UnixTime,
    pub acr: String,
    pub amr: Vec<String>,
    pub refresh_hash: String,
    pub refresh_expires_at: UnixTime,
    pub created_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// The thumbprint of the DPoP key the grant's tokens are bound to (RFC 9449), if any.
    pub dpop_jkt: Option<String>,
    /// Hash of the browser-binding cookie of the browser the login happened in: only that
    /// browser ends the session by RP-initiated logout. `None` for grants older than the column.
    pub browser_hash: Option<String>,
}

#[cfg(test)]
mod ending_tests {
    use super::*;

    #[test]
    fn every_ending_is_stored_and_read_back_and_older_rows_still_read() {
        for ending in Ending::ALL {
            assert_eq!(Ending::parse(ending.as_str()), Some(ending));
        }
        // What rows written before the type existed hold.
        assert_eq!(Ending::parse("login_required"), Some(Ending::OtherCitizen));
        assert_eq!(Ending::parse("unmet_authentication_requirements"), Some(Ending::LevelTooLow));
        assert_eq!(Ending::parse("cancelled"), Some(Ending::Cancelled));
        assert_eq!(Ending::WrongMatchCode.status(), LoginStatus::Failed);
        assert_eq!(Ending::LevelTooLow.oauth_error().as_str(), "unmet_authentication_requirements");
    }
}
