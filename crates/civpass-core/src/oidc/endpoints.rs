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
/// RFC 7591.
pub const REGISTER: &str = "/register";
/// A client's configuration endpoint (RFC 7592 section 2), as a route: `REGISTER/{client_id}`.
pub const CLIENT_CONFIGURATION: &str = "/register/{client_id}";
/// OpenID Connect RP-Initiated Logout 1.0.
pub const LOGOUT: &str = "/logout";

/// The absolute URL of the endpoint at `path` under `issuer` (which has no trailing slash).
pub fn url(issuer: &str, path: &str) -> String {
    format!("{issuer}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_configuration_endpoint_is_under_registration() {
        assert_eq!(CLIENT_CONFIGURATION.replace("{client_id}", "c_1"), url("", REGISTER) + "/c_1");
    }
}
