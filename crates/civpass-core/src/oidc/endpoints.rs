//! The provider's endpoints, each path written once: the routers serve them, discovery
//! publishes them, DPoP proofs are checked against them (`htu`, RFC 9449 section 4.3) and
//! access tokens name UserInfo as their audience.

/// OpenID Connect Discovery 1.0 section 4.
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks";
/// RFC 6749 section 3.1.
pub const AUTHORIZE: &str = "/authorize";
/// RFC 6749 section 3.2.
pub const TOKEN: &str = "/token";
/// RFC 9126.
pub const PAR: &str = "/par";
/// OpenID Connect Core 1.0 section 5.3.
pub const USERINFO: &str = "/userinfo";
/// RFC 7009.
pub const REVOKE: &str = "/revoke";
/// RFC 7662.
pub const INTROSPECT: &str = "/introspect";
/// RFC 7591; a client's configuration endpoint (RFC 7592) is `REGISTER/{client_id}`.
pub const REGISTER: &str = "/register";
/// OpenID Connect RP-Initiated Logout 1.0.
pub const LOGOUT: &str = "/logout";

/// The absolute URL of the endpoint at `path` under `issuer` (which has no trailing slash).
pub fn url(issuer: &str, path: &str) -> String {
    format!("{issuer}{path}")
}
