//! Health and the API description.

use axum::Json;
use axum::Router;
use axum::routing::get;

use crate::AppState;
use crate::routes::openapi::openapi_document;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/openapi.json", get(|| async { Json(openapi_document()) }))
}
