//! `Settings`: the lifetimes and policies an operator may tune, shared by every slice.

/// Lifetimes and names that an operator may tune.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http://127.0.0.1:8080`: no trailing slash.
    pub issuer: String,
    pub login_request_ttl: i64,
    pub code_ttl: i64,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    /// A refresh token's idle lifetime: each rotation renews it (sliding).
    pub refresh_token_ttl: i64,
    /// How long a grant's refresh tokens may be rotated at all, from the login (absolute).
    pub refresh_token_max_age: i64,
    /// How long a WebAuthn or signing challenge may be answered.
    pub ceremony_ttl: i64,
    /// How long the app may read and manage the account after one passkey check.
    pub app_session_ttl: i64,
    /// Every client must push its authorization requests (RFC 9126), as FAPI 2.0 asks.
    pub require_par: bool,
    /// Every token request must carry a DPoP proof: sender-constrained tokens for all (FAPI 2.0).
    pub require_dpop: bool,
    /// DPoP proofs at the token endpoint must carry a nonce we handed out (RFC 9449 section 8).
    pub dpop_nonce: bool,
    /// Clients may register plain-http loopback URLs for civpass to call (development, tests).
    pub allow_loopback_uris: bool,
    /// The FAPI 2.0 Security Profile for every client: PAR, DPoP, and `private_key_jwt` as the
    /// only client authentication (no secrets, no public clients).
    pub fapi2: bool,
    /// Remote registrations that may name one identity (ID number) in an hour, from anywhere;
    /// 0 turns the limit off.
    pub identity_attempts_per_hour: u32,
    /// Pending login requests one browser may hold at once; 0 turns the cap off.
    pub max_pending_logins_per_browser: u32,
    /// Pending login requests one client address (IPv6: /64) may hold at once; 0 turns the cap
    /// off.
    pub max_pending_logins_per_address: u32,
}

impl Settings {
    pub fn new(issuer: &str) -> Settings {
        Settings {
            issuer: issuer.trim_end_matches('/').to_owned(),
            // Two minutes: long enough to scan and approve, short enough that a relayed request
            // goes stale fast (RFC 10027 section 6.1, short-lived codes).
            login_request_ttl: 120,
            code_ttl: 60,
            access_token_ttl: 600,
            id_token_ttl: 600,
            refresh_token_ttl: 30 * 24 * 3600,
            refresh_token_max_age: 180 * 24 * 3600,
            ceremony_ttl: 300,
            app_session_ttl: 600,
            require_par: false,
            require_dpop: false,
            dpop_nonce: true,
            allow_loopback_uris: false,
            fapi2: false,
            identity_attempts_per_hour: 10,
            max_pending_logins_per_browser: 5,
            // Two-minute requests: 50 at once is 25 a minute from one address, room for a
            // carrier-grade NAT's citizens, not for a stranger filling the database.
            max_pending_logins_per_address: 50,
        }
    }
}
