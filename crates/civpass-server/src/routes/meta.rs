//! Health (`/healthz`: the process lives), readiness (`/readyz`: it can serve) and the API
//! description.

use axum::Json;
use axum::Router;
use axum::routing::get;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::limits::{self, Routes};
use crate::routes::openapi::openapi_document;
use civpass_core::kernel::error::Chain;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/healthz", limits::PUBLIC, get(|| async { "ok" }))
        .at(
            "/readyz",
            limits::Limit::None(
                "a load balancer's probe: one read of a small table, bounded by the connection caps",
            ),
            get(readyz),
        )
        .at("/openapi.json", limits::PUBLIC, get(|| async { Json(openapi_document()) }))
        .at_if(
            state.metrics_public,
            "/metrics",
            limits::Limit::None("scraped by monitoring; one count of the outbox per scrape"),
            get(crate::metrics::serve),
        )
        .into_router()
}

/// 200 when the node can serve, else 503 with `Retry-After` and what is missing; the cause is
/// logged here, once.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.services.readiness().await {
        Ok(()) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(cause = %Chain(&e), "not ready");
            let detail = match e {
                civpass_core::platform::NotReady::Database(_) => "the database does not answer",
                civpass_core::platform::NotReady::NoSigningKey => "no signing key is loaded",
            };
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready to serve")
                .detail(detail)
                .retry_after(5)
                .into_response()
        }
    }
}
