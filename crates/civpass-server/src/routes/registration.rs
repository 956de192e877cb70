//! Dynamic client registration (RFC 7591) and management (RFC 7592).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use civpass_core::oidc::endpoints;
use civpass_core::oidc::registration::{ClientMetadata, RegistrationError};

use crate::AppState;
use crate::error::{OAuthError, no_store};
use crate::extract::BearerToken;
use crate::limits::{self, Routes};

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at(endpoints::REGISTER, limits::TOKEN, post(register))
        .at(
            "/register/{client_id}",
            limits::TOKEN,
            axum::routing::get(read).put(update).delete(remove),
        )
        .into_router()
}

fn error(e: RegistrationError) -> Response {
    let err = match e {
        RegistrationError::InvalidRedirectUri(d) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", d)
        }
        RegistrationError::InvalidMetadata(d) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", d)
        }
        RegistrationError::InvalidToken => {
            let mut err = OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "a valid initial or registration access token is required",
            );
            err.www_authenticate = Some("Bearer realm=\"civpass\", error=\"invalid_token\"");
            err
        }
        RegistrationError::Internal(cause) => OAuthError::internal(&cause),
    };
    err.into_response()
}

/// The metadata of the body, or `invalid_client_metadata` when it is not JSON of that shape.
fn metadata(
    body: Result<Json<ClientMetadata>, JsonRejection>,
) -> Result<ClientMetadata, OAuthError> {
    body.map(|Json(m)| m).map_err(|e| {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", e.body_text())
    })
}

async fn register(
    State(state): State<AppState>,
    bearer: BearerToken,
    body: Result<Json<ClientMetadata>, JsonRejection>,
) -> Response {
    let Some(token) = bearer.0.as_deref() else { return error(RegistrationError::InvalidToken) };
    let metadata = match metadata(body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    match state.services.oidc.register_dynamic(token, &metadata).await {
        Ok(registered) => (StatusCode::CREATED, no_store(), Json(registered)).into_response(),
        Err(e) => error(e),
    }
}

async fn read(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(client_id): Path<String>,
) -> Response {
    let Some(token) = bearer.0.as_deref() else { return error(RegistrationError::InvalidToken) };
    match state.services.oidc.read_registration(&client_id, token).await {
        Ok(registered) => (no_store(), Json(registered)).into_response(),
        Err(e) => error(e),
    }
}

async fn update(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(client_id): Path<String>,
    body: Result<Json<ClientMetadata>, JsonRejection>,
) -> Response {
    let Some(token) = bearer.0.as_deref() else { return error(RegistrationError::InvalidToken) };
    let metadata = match metadata(body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    match state.services.oidc.update_registration(&client_id, token, &metadata).await {
        Ok(registered) => (no_store(), Json(registered)).into_response(),
        Err(e) => error(e),
    }
}

async fn remove(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(client_id): Path<String>,
) -> Response {
    let Some(token) = bearer.0.as_deref() else { return error(RegistrationError::InvalidToken) };
    match state.services.oidc.delete_registration(&client_id, token).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}
