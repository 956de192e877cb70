//! The citizen's e-ME vault in the app: read it, change fields (all or none), delete one.
//! Answers carry personal data, so none may be cached.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use civpass_api::{
    EmailVerificationToken, FieldError, Problem, VaultChange, VaultFieldView, VaultView,
    VerificationCode, VerificationStarted,
};
use civpass_core::eme::EmeError;
use civpass_core::eme::documents::MAX_DOCUMENT_BYTES;
use civpass_core::eme::model::Vault;
use civpass_core::eme::verification::VerifyError;

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::{ApiJson, BearerToken};
use crate::limits::{self, Routes};
use crate::routes::account::session_error;

/// Uploads, with a body limit of their own (the rest of the API takes at most 64 KiB).
pub(crate) fn uploads(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/api/v1/device/me/eme/address_proof", limits::REGISTRATION, post(upload_proof))
        .into_router()
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_DOCUMENT_BYTES + 1024))
        // axum's extractors stop at 2 MB of their own unless told otherwise.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_DOCUMENT_BYTES + 1024))
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/api/v1/device/me/eme", limits::DEVICE, get(show).patch(change))
        .at("/api/v1/device/me/eme/{field}", limits::DEVICE, delete(remove))
        .at("/api/v1/device/me/eme/email/verification", limits::REGISTRATION, post(verify_email))
        .at(
            "/api/v1/device/me/eme/phone_number/verification",
            limits::REGISTRATION,
            post(verify_phone),
        )
        .at(
            "/api/v1/device/me/eme/phone_number/verification/{id}",
            limits::DEVICE,
            post(confirm_phone),
        )
        .at("/api/v1/device/me/eme/email/confirmation", limits::REGISTRATION, post(confirm_email))
        .at(
            "/api/v1/device/me/eme/address_proof/{id}",
            limits::DEVICE,
            get(download_proof).delete(delete_proof),
        )
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

fn verify_error(e: VerifyError) -> ApiError {
    let (status, slug, title) = match &e {
        VerifyError::NothingToVerify => {
            (StatusCode::CONFLICT, "nothing-to-verify", "There is no value to verify yet")
        }
        VerifyError::AlreadyVerified => {
            (StatusCode::CONFLICT, "already-verified", "It is already verified")
        }
        VerifyError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "verification-unavailable",
            "This platform cannot send such messages",
        ),
        VerifyError::TooMany => {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-messages",
                "Too many verification messages today",
            )
            .detail(e.to_string())
            .retry_after(86_400);
        }
        VerifyError::NotSent(cause) => {
            // Only our own words: a relay's answer may echo the address.
            tracing::warn!(reason = %cause.what, "a verification message was not sent");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "message-not-sent",
                "The message could not be sent; try again later",
            )
            .retry_after(60);
        }
        VerifyError::Expired => (
            StatusCode::GONE,
            "verification-expired",
            "The link or code is unknown, used or expired",
        ),
        VerifyError::WrongCode => {
            (StatusCode::FORBIDDEN, "wrong-code", "The code is wrong; ask for a new one")
        }
        VerifyError::Changed => {
            (StatusCode::CONFLICT, "value-changed", "The value changed since the message was sent")
        }
        VerifyError::Internal(cause) => return ApiError::internal(cause),
    };
    ApiError::new(status, slug, title).detail(e.to_string())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/eme/email/verification",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 202, description = "A one-time link was sent to the address", body = VerificationStarted),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No address, or already verified", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No mail relay, or it refused the message", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let expires_at = state
        .services
        .account
        .verify_email(bearer.or_empty())
        .await
        .map_err(session_error)?
        .map_err(verify_error)?;
    let body = VerificationStarted { verification_id: None, expires_at };
    Ok((StatusCode::ACCEPTED, no_store(), Json(body)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/eme/email/confirmation",
    tag = "account",
    security(("app_session" = [])),
    request_body = EmailVerificationToken,
    responses(
        (status = 200, description = "The address is verified; the vault", body = VaultView),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address changed since the link was sent", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Unknown, used or expired link, or another account's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn confirm_email(
    State(state): State<AppState>,
    bearer: BearerToken,
    ApiJson(body): ApiJson<EmailVerificationToken>,
) -> Result<Response, ApiError> {
    let vault = state
        .services
        .account
        .confirm_email(bearer.or_empty(), &body.token)
        .await
        .map_err(session_error)?
        .map_err(verify_error)?;
    Ok(view(vault))
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/eme/phone_number/verification",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 202, description = "A code was sent by SMS", body = VerificationStarted),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No number, or already verified", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No SMS gateway, or it refused the message", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify_phone(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let started = state
        .services
        .account
        .verify_phone(bearer.or_empty())
        .await
        .map_err(session_error)?
        .map_err(verify_error)?;
    let body =
        VerificationStarted { verification_id: Some(started.id), expires_at: started.expires_at };
    Ok((StatusCode::ACCEPTED, no_store(), Json(body)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/eme/phone_number/verification/{id}",
    tag = "account",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "The verification id")),
    request_body = VerificationCode,
    responses(
        (status = 200, description = "The number is verified; the vault", body = VaultView),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong code; the verification has ended", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Unknown, used or expired verification", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn confirm_phone(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VerificationCode>,
) -> Result<Response, ApiError> {
    let vault = state
        .services
        .account
        .confirm_phone(bearer.or_empty(), &id, &body.code)
        .await
        .map_err(session_error)?
        .map_err(verify_error)?;
    Ok(view(vault))
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/eme/address_proof",
    tag = "account",
    security(("app_session" = [])),
    request_body(content = Vec<u8>, description = "The document: a PDF, JPEG or PNG file of at most 5 MB, known by its content", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored; the vault lists it", body = VaultView),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 5 MB"),
        (status = 422, description = "Not a PDF, JPEG or PNG, empty, or a fourth document", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn upload_proof(
    State(state): State<AppState>,
    bearer: BearerToken,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let vault = state
        .services
        .account
        .add_address_proof(bearer.or_empty(), &body)
        .await
        .map_err(session_error)?
        .map_err(eme_error)?;
    Ok((StatusCode::CREATED, view(vault)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/eme/address_proof/{id}",
    tag = "account",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "The document's id, as the vault lists it")),
    responses(
        (status = 200, description = "The document, with the type its content shows", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn download_proof(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = state
        .services
        .account
        .address_proof(bearer.or_empty(), &id)
        .await
        .map_err(session_error)?;
    let Some((content_type, bytes)) = found else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not-found", "No such document"));
    };
    let extension = match content_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    };
    let headers = [
        (axum::http::header::CONTENT_TYPE, content_type),
        (
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"address-proof.{extension}\""),
        ),
    ];
    Ok((no_store(), headers, bytes).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/device/me/eme/address_proof/{id}",
    tag = "account",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "Deleted; the vault without it", body = VaultView),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such document", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_proof(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let vault = state
        .services
        .account
        .delete_address_proof(bearer.or_empty(), &id)
        .await
        .map_err(session_error)?
        .map_err(eme_error)?;
    Ok(view(vault))
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
