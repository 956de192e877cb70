//! The platform's metrics, named in one place: what core counts (logins by outcome, grants
//! issued) through the `metrics` facade, and the gauges read when `/metrics` is scraped. The
//! server installs the Prometheus recorder and adds the HTTP-level series; docs/OPERATIONS.md
//! lists every series and what to alert on.

/// `civpass_logins_total{outcome}`: login requests started, and how they ended (`approved`,
/// `denied`, `cancelled`, `wrong_match_code`, `login_required`, `unmet_authentication_requirements`,
/// and `expired`: never decided, counted when purged, an hour after expiry).
pub const LOGINS: &str = "civpass_logins_total";
/// `civpass_grants_issued_total`: authorization codes redeemed for a new grant.
pub const GRANTS_ISSUED: &str = "civpass_grants_issued_total";

/// Describes core's series to the installed recorder (no-op without one).
pub fn describe() {
    metrics::describe_counter!(LOGINS, "Login requests started, and how they ended");
    metrics::describe_counter!(GRANTS_ISSUED, "Grants issued (authorization codes redeemed)");
}

/// Counts a login event (`started`, `approved`, or an ending's name).
pub fn login(outcome: &'static str) {
    metrics::counter!(LOGINS, "outcome" => outcome).increment(1);
}

/// Counts `n` login requests that expired undecided.
pub fn logins_expired(n: u64) {
    if n > 0 {
        metrics::counter!(LOGINS, "outcome" => "expired").increment(n);
    }
}

/// Counts a grant issued.
pub fn grant_issued() {
    metrics::counter!(GRANTS_ISSUED).increment(1);
}

/// What `/metrics` reads from the platform when it is scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Messages waiting in the outbox (back-channel logouts and later kinds).
    pub outbox_depth: u64,
    /// Seconds since the oldest waiting message was queued; 0 when none waits.
    pub outbox_oldest_age_seconds: i64,
    /// The store's connection pool.
    pub pool: crate::kernel::store::PoolUse,
    /// Seconds since the key now signing ES256 tokens became active; `None` if none is.
    pub signing_key_age_seconds: Option<i64>,
    /// Acts at registration points in the last 24 hours, `(kind, outcome, n)`: read from the
    /// database, so that acts run from the command line or another node count too.
    pub counter_acts_last_day: Vec<(String, String, u64)>,
}
