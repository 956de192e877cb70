//! The HTTP layer of civpass: routers, extractors, pages and the mapping of core errors to
//! OAuth error responses, RFC 9457 problem details and HTML pages.
//!
//! Handlers only translate: they parse the request, call one use case of
//! `civpass_core::platform::Platform`, and shape the answer. No SQL and no business rules here.

mod connections;
mod cors;
mod error;
mod extract;
mod i18n;
mod ip_location;
mod limits;
pub mod messaging;
mod metrics;
mod outbound;
mod pages;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request};
use civpass_core::platform::Platform;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use crate::connections::{ConnectionLimits, serve};
pub use crate::ip_location::MaxMindLocator;
pub use crate::limits::{ClientAddressing, RateLimits, client_ip, parse_proxy};
pub use crate::outbound::{HttpJwksSource, HttpLogoutNotifier};
pub use crate::pages::Operator;
pub use crate::routes::openapi::openapi_document;
pub use ipnet::IpNet;

#[derive(Clone)]
pub struct AppState {
    /// Behind an `Arc`: axum clones the state for every request, and a platform is some
    /// dozens of `Arc`s (each service holds the context and its ports).
    pub services: Arc<Platform>,
    /// Mark the browser-binding cookie `Secure` (the issuer is https).
    pub secure_cookies: bool,
    limiters: Arc<limits::Limiters>,
    /// Who runs the platform, as the pages show it.
    pub(crate) operator: Arc<pages::Operator>,
    /// `/metrics` on the public router (else only on the listener `serve_metrics` runs).
    pub(crate) metrics_public: bool,
}

impl AppState {
    /// Rate limits keyed on the client `addressing` names (through trusted proxies' `X-Forwarded-For`,
    /// IPv6 by prefix; see `limits::client_ip`).
    pub fn with_limits_behind(
        services: Platform,
        limits: RateLimits,
        addressing: ClientAddressing,
    ) -> AppState {
        let secure_cookies = services.settings().issuer.starts_with("https://");
        let mut limiters = limits::Limiters::new(limits);
        limiters.addressing = addressing;
        AppState {
            services: Arc::new(services),
            secure_cookies,
            limiters: Arc::new(limiters),
            operator: Arc::new(pages::Operator::default()),
            metrics_public: true,
        }
    }

    /// Serves `/metrics` only on a listener of its own (`serve_metrics`), not the public one.
    pub fn with_metrics_apart(mut self) -> AppState {
        self.metrics_public = false;
        self
    }

    /// The operator's name, privacy notice and help, shown on every page.
    pub fn with_operator(mut self, operator: pages::Operator) -> AppState {
        self.operator = Arc::new(operator);
        self
    }

    /// The client's address: the TCP peer, or, behind a trusted proxy, the address it reports
    /// in `X-Forwarded-For` (the whole address, not the rate limits' key).
    pub(crate) fn client_address(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        let forwarded: Vec<&str> =
            headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        client_ip(peer, &forwarded, &self.limiters.addressing.trusted_proxies)
    }

    /// The key a client address is counted under (an IPv6 address cut to its prefix).
    pub(crate) fn client_key(&self, address: std::net::IpAddr) -> std::net::IpAddr {
        self.limiters.addressing.key(address)
    }

    /// Lets the rate limiters forget addresses that have been quiet; call it now and then.
    pub fn forget_idle_clients(&self) {
        self.limiters.forget_idle();
    }
}

/// The path as logs may hold it: a login request's id (which, with the browser's cookie,
/// opens its page and which the QR code carries) becomes `{id}`.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in ["/login/", "/api/v1/device/login-requests/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            return format!("{prefix}{{id}}{tail}").into();
        }
    }
    path.into()
}

/// Serves `/metrics` alone on `listener` (a listener for monitoring only), until the process
/// ends.
pub async fn serve_metrics(listener: tokio::net::TcpListener, state: AppState) {
    metrics::handle();
    let router =
        Router::new().route("/metrics", axum::routing::get(metrics::serve)).with_state(state);
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(cause = %e, "the metrics listener stopped");
    }
}

/// The public router: everything citizens, relying parties and the app reach.
pub fn router(state: AppState) -> Router {
    // Installed before the first request counts anything.
    metrics::handle();
    let request_id = HeaderName::from_static("x-request-id");
    // Over https, browsers are told to use nothing else for a year (RFC 6797): a first visit
    // by plain http could otherwise be rewritten by anyone on the network. Not for
    // subdomains, which the operator may run otherwise.
    let hsts = state.secure_cookies.then(|| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000"),
        )
    });
    Router::new()
        .merge(routes::oidc::router(&state))
        .merge(routes::login::router(&state))
        .merge(routes::device::router(&state))
        .merge(routes::counter::router(&state))
        .merge(routes::console::router(&state))
        .merge(routes::account::router(&state))
        .merge(routes::eme::router(&state))
        .merge(routes::signing::router(&state))
        .merge(routes::app::router(&state))
        .merge(routes::registration::router(&state))
        .merge(routes::meta::router(&state))
        .merge(routes::info::router(&state))
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        // After the layer above: uploads have a larger limit of their own.
        .merge(routes::eme::uploads(&state))
        .fallback(limits::not_found)
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        // Spans carry the method and path only: query strings and bodies may hold codes.
        // Failures are logged once, where they are answered (`error.rs`), not again here.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("http", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
        }).on_failure(()))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        // Every request gets an id of ours: one a client sent could name another request and
        // forge the log's correlation.
        .layer(axum::middleware::map_request(move |mut req: Request<axum::body::Body>| {
            let request_id = request_id.clone();
            async move {
                req.headers_mut().remove(&request_id);
                req
            }
        }))
        // Outside the timeout, panic and body-limit layers, so that their 408, 500 and 413
        // are counted too; `Router::layer` runs after routing, so the route is known.
        .layer(axum::middleware::from_fn(metrics::record))
        // Outermost, so that every answer carries them, the limits' 413 and 408 and a
        // panic's 500 too.
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(tower::util::option_layer(hsts))
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn login_request_ids_stay_out_of_the_logs() {
        assert_eq!(loggable_path("/login/8LH9IsjEKwBm"), "/login/{id}");
        assert_eq!(loggable_path("/login/8LH9IsjEKwBm/cancel"), "/login/{id}/cancel");
        assert_eq!(
            loggable_path("/api/v1/device/login-requests/abc/decision"),
            "/api/v1/device/login-requests/{id}/decision"
        );
        assert_eq!(loggable_path("/token"), "/token");
    }
}
