//! Health and the API description.

use axum::Json;
use axum::Router;
use axum::routing::get;

use crate::AppState;
use crate::limits::{self, Routes};
use crate::routes::openapi::openapi_document;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/healthz", limits::PUBLIC, get(|| async { "ok" }))
        .at("/openapi.json", limits::PUBLIC, get(|| async { Json(openapi_document()) }))
        .into_router()
}
