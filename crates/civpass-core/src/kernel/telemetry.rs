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
/// `civpass_counter_acts_total{kind, outcome}`: acts at registration points (officers and
/// kiosks), by what was asked and how it came out (`awaiting_citizen`, `no_such_person`, …).
pub const COUNTER_ACTS: &str = "civpass_counter_acts_total";

/// Describes core's series to the installed recorder (no-op without one).
pub fn describe() {
    metrics::describe_counter!(LOGINS, "Login requests started, and how they ended");
    metrics::describe_counter!(GRANTS_ISSUED, "Grants issued (authorization codes redeemed)");
    metrics::describe_counter!(COUNTER_ACTS, "Acts at registration points, by kind and outcome");
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

/// Counts an act at a registration point.
pub fn counter_act(kind: &'static str, outcome: &'static str) {
    metrics::counter!(COUNTER_ACTS, "kind" => kind, "outcome" => outcome).increment(1);
}

/// Counts a grant issued.
pub fn grant_issued() {
    metrics::counter!(GRANTS_ISSUED).increment(1);
}

/// What `/metrics` reads from the platform when it is scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Messages waiting in the outbox (back-channel logouts and later kinds).
    pub outbox_depth: u64,
    /// Seconds since the oldest waiting message was queued; 0 when none waits.
    pub outbox_oldest_age_seconds: i64,
    /// The store's connection pool.
    pub pool: crate::kernel::store::PoolUse,
    /// Seconds since the key now signing ES256 tokens became active; `None` if none is.
    pub signing_key_age_seconds: Option<i64>,
}
