//! The citizen's e-ME vault in the app: read it, change fields (all or none), delete one.
//! Answers carry personal data, so none may be cached.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use civpass_api::{FieldError, Problem, VaultChange, VaultFieldView, VaultView};
use civpass_core::eme::EmeError;
use civpass_core::eme::model::Vault;

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::{ApiJson, BearerToken};
use crate::limits::{self, Routes};
use crate::routes::account::session_error;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/api/v1/device/me/eme", limits::DEVICE, get(show).patch(change))
        .at("/api/v1/device/me/eme/{field}", limits::DEVICE, delete(remove))
        .into_router()
}

fn view(vault: Vault) -> Response {
    let fields = vault
        .entries
        .into_iter()
        .map(|e| VaultFieldView {
            name: e.name.to_owned(),
            value: e.value,
            source: e.source.as_str().to_owned(),
            method: e.source.method().map(str::to_owned),
            updated_at: e.updated_at,
        })
        .collect();
    (no_store(), Json(VaultView { fields })).into_response()
}

fn eme_error(e: EmeError) -> ApiError {
    match e {
        EmeError::Invalid(problems) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "Some values were refused; nothing was changed",
        )
        .errors(
            problems
                .into_iter()
                .map(|p| FieldError { pointer: p.field, detail: p.message })
                .collect(),
        ),
        EmeError::Busy => ApiError::new(
            StatusCode::CONFLICT,
            "vault-busy",
            "The data changed meanwhile; nothing was changed",
        )
        .retry_after(1),
        EmeError::Internal(cause) => ApiError::internal(&cause),
    }
}

async fn apply(
    state: &AppState,
    token: &str,
    changes: Vec<(String, Option<String>)>,
) -> Result<Response, ApiError> {
    let vault = state
        .services
        .account
        .change_vault(token, &changes)
        .await
        .map_err(session_error)?
        .map_err(eme_error)?;
    Ok(view(vault))
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/eme",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "The e-ME vault", body = VaultView),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let vault = state.services.account.my_vault(bearer.or_empty()).await.map_err(session_error)?;
    Ok(view(vault))
}

#[utoipa::path(
    patch,
    path = "/api/v1/device/me/eme",
    tag = "account",
    security(("app_session" = [])),
    request_body = VaultChange,
    responses(
        (status = 200, description = "The vault after the changes", body = VaultView),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another change came first; try again", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Refused values, each in `errors`; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn change(
    State(state): State<AppState>,
    bearer: BearerToken,
    ApiJson(body): ApiJson<VaultChange>,
) -> Result<Response, ApiError> {
    apply(&state, bearer.or_empty(), body.changes.into_iter().collect()).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/device/me/eme/{field}",
    tag = "account",
    security(("app_session" = [])),
    params(("field" = String, Path, description = "A field, or `field.part` of an address")),
    responses(
        (status = 200, description = "The vault without the field", body = VaultView),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a field the citizen may delete", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(field): Path<String>,
) -> Result<Response, ApiError> {
    apply(&state, bearer.or_empty(), vec![(field, None)]).await
}
