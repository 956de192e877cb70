//! Prometheus metrics: the recorder (installed once per process), the per-route request
//! counter and latency histogram, token endpoint outcomes, rate-limit refusals, and `/metrics`,
//! which reads the platform's gauges (outbox, pool, signing key) when scraped. Served on the
//! public listener unless the operator gives it a listener of its own (`[server] metrics_listen`).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use civpass_core::counter::model::{ActKind, ActOutcome};
use civpass_core::kernel::telemetry;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use civpass_core::kernel::error::Chain;

const REQUESTS: &str = "civpass_http_requests_total";
const DURATION: &str = "civpass_http_request_duration_seconds";
const TOKEN_REQUESTS: &str = "civpass_token_requests_total";
const RATE_LIMITED: &str = "civpass_rate_limit_refusals_total";
const OUTBOX_DEPTH: &str = "civpass_outbox_depth";
const OUTBOX_OLDEST: &str = "civpass_outbox_oldest_age_seconds";
const POOL_OPEN: &str = "civpass_db_pool_connections";
const POOL_IDLE: &str = "civpass_db_pool_idle_connections";
const POOL_MAX: &str = "civpass_db_pool_max_connections";
const KEY_AGE: &str = "civpass_signing_key_age_seconds";
const STORE_UP: &str = "civpass_store_up";
const COUNTER_ACTS: &str = "civpass_counter_acts_last_day";

/// Latency buckets in seconds: a login's requests take milliseconds, a slow database seconds.
const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. Several nodes in one process (tests) share
/// it; a process that installed another recorder first gets one that renders nothing.
pub(crate) fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            describe();
        }
        handle
    })
}

fn describe() {
    telemetry::describe();
    // Series an alert divides by exist from the start, at zero, not from their first event.
    for outcome in ["started", "approved", "denied", "expired"] {
        metrics::counter!(telemetry::LOGINS, "outcome" => outcome).absolute(0);
    }
    metrics::counter!(telemetry::GRANTS_ISSUED).absolute(0);
    metrics::describe_counter!(REQUESTS, "HTTP requests answered, by route, method and status");
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency, by route and method"
    );
    metrics::describe_counter!(
        TOKEN_REQUESTS,
        "Token endpoint requests, by grant type and outcome (ok or the OAuth error code)"
    );
    metrics::describe_counter!(RATE_LIMITED, "Requests refused with 429, by rate-limit group");
    metrics::describe_gauge!(OUTBOX_DEPTH, "Outbox messages waiting to be delivered");
    metrics::describe_gauge!(
        OUTBOX_OLDEST,
        metrics::Unit::Seconds,
        "Age of the oldest waiting outbox message"
    );
    metrics::describe_gauge!(POOL_OPEN, "Database connections open");
    metrics::describe_gauge!(POOL_IDLE, "Database connections open and idle");
    metrics::describe_gauge!(POOL_MAX, "Database connections the pool may open");
    metrics::describe_gauge!(
        COUNTER_ACTS,
        "Acts at registration points in the last 24 hours, by kind and outcome"
    );
    metrics::describe_gauge!(
        STORE_UP,
        "1 if the last scrape could read the store's gauges, else 0"
    );
    metrics::describe_gauge!(
        KEY_AGE,
        metrics::Unit::Seconds,
        "Age of the ES256 key signing tokens now (since it became active)"
    );
}

/// Counts every answered request by its route's pattern (never its path, which may hold ids),
/// method and status, and times it.
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Any token is a valid method to hyper: only the standard ones become label values, so
    // that a client cannot make new series at will.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        // The handler was dropped mid-way (the 30 s request timeout); nothing else logs it.
        tracing::warn!(%route, method, "request timed out");
    }
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Counts a token endpoint answer: `outcome` is `ok` or the OAuth error code. Grant types
/// outside the known ones count as `other`, so a client cannot make new series at will.
pub(crate) fn token_outcome(grant_type: Option<&str>, outcome: &'static str) {
    // Label values borrowed from here, not the request: no allocation on the hot path.
    let grant_type = match grant_type {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some("client_credentials") => "client_credentials",
        Some("urn:ietf:params:oauth:grant-type:token-exchange") => {
            "urn:ietf:params:oauth:grant-type:token-exchange"
        }
        Some(_) => "other",
        None => "none",
    };
    metrics::counter!(TOKEN_REQUESTS, "grant_type" => grant_type, "outcome" => outcome)
        .increment(1);
}

/// Counts a 429.
pub(crate) fn rate_limited(group: &'static str) {
    metrics::counter!(RATE_LIMITED, "group" => group).increment(1);
}

/// `GET /metrics`: the Prometheus text format (version 0.0.4), with the platform's gauges read
/// now. If they cannot be read (the database does not answer), the counters are still served
/// and `civpass_store_up` is 0.
pub(crate) async fn serve(State(state): State<AppState>) -> Response {
    let handle = handle();
    match state.services.gauges().await {
        Ok(g) => {
            metrics::gauge!(STORE_UP).set(1.0);
            metrics::gauge!(OUTBOX_DEPTH).set(g.outbox_depth as f64);
            metrics::gauge!(OUTBOX_OLDEST).set(g.outbox_oldest_age_seconds as f64);
            metrics::gauge!(POOL_OPEN).set(f64::from(g.pool.open));
            metrics::gauge!(POOL_IDLE).set(f64::from(g.pool.idle));
            metrics::gauge!(POOL_MAX).set(f64::from(g.pool.max));
            if let Some(age) = g.signing_key_age_seconds {
                metrics::gauge!(KEY_AGE).set(age as f64);
            }
            // Every kind and outcome, so that one that falls to none reads 0, not its last value.
            for kind in ActKind::ALL {
                for outcome in ActOutcome::ALL {
                    let n = g
                        .counter_acts_last_day
                        .iter()
                        .find(|(k, o, _)| k == kind.as_str() && o == outcome.as_str())
                        .map_or(0, |(_, _, n)| *n);
                    metrics::gauge!(COUNTER_ACTS, "kind" => kind.as_str(), "outcome" => outcome.as_str())
                        .set(n as f64);
                }
            }
        }
        Err(cause) => {
            tracing::warn!(cause = %Chain(&cause), "metrics: the store's gauges could not be read");
            metrics::gauge!(STORE_UP).set(0.0);
            // Not the last values read, which would look current.
            for gauge in [OUTBOX_DEPTH, OUTBOX_OLDEST, POOL_OPEN, POOL_IDLE, POOL_MAX, KEY_AGE] {
                metrics::gauge!(gauge).set(f64::NAN);
            }
        }
    }
    handle.run_upkeep();
    let mut res = (StatusCode::OK, handle.render()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
