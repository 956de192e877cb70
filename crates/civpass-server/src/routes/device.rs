//! The device API: what the civpass app (and `civpass wallet`) calls.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use civpass_api::{
    DecisionRequest, DecisionResponse, EnrolmentRequest, EnrolmentResponse, LoginRequestView,
    Problem, RequestedScope,
};
use civpass_core::enrol::{EnrolError, EnrolRequest, Transfer};
use civpass_core::login::{DecisionRequest as CoreDecision, DeviceError, Verdict};
use civpass_core::scopes;

use crate::AppState;
use crate::error::ApiError;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/device/enrolments", post(enrol))
        .route("/api/v1/device/login-requests/{id}", get(view))
        .route("/api/v1/device/login-requests/{id}/decision", post(decide))
}

fn bad_json(e: JsonRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid-body",
        "The request body is not valid JSON for this endpoint",
    )
    .detail(e.body_text())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/enrolments",
    tag = "device",
    request_body = EnrolmentRequest,
    responses(
        (status = 201, description = "Registered (or moved to this device)", body = EnrolmentResponse),
        (status = 400, description = "Malformed input", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The identity already has an account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Details do not match the registry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn enrol(
    State(state): State<AppState>,
    body: Result<Json<EnrolmentRequest>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => return bad_json(e).into_response(),
    };
    let req = EnrolRequest {
        id_number: &body.id_number,
        name_en: &body.name_en,
        date_of_birth: &body.date_of_birth,
        public_key: &body.public_key,
        proof: &body.proof,
        transfer: body
            .transfer
            .as_ref()
            .map(|t| Transfer { device_id: &t.device_id, signature: &t.signature }),
    };
    match state.services.enrol(req).await {
        Ok(done) => (
            StatusCode::CREATED,
            Json(EnrolmentResponse {
                account_id: done.account_id,
                device_id: done.device_id,
                tier: done.tier.as_str().to_owned(),
                transferred: done.transferred,
            }),
        )
            .into_response(),
        Err(e) => {
            let (status, slug, title) = match &e {
                EnrolError::InvalidIdNumber(_) => (
                    StatusCode::BAD_REQUEST,
                    "invalid-id-number",
                    "The identity card number is not valid",
                ),
                EnrolError::InvalidDateOfBirth => (
                    StatusCode::BAD_REQUEST,
                    "invalid-date-of-birth",
                    "The date of birth is not valid",
                ),
                EnrolError::InvalidPublicKey => {
                    (StatusCode::BAD_REQUEST, "invalid-public-key", "The device key is not valid")
                }
                EnrolError::InvalidProof => (
                    StatusCode::BAD_REQUEST,
                    "invalid-proof",
                    "The proof of possession of the device key is invalid",
                ),
                EnrolError::IdentityMismatch => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "identity-mismatch",
                    "The details do not match the population registry",
                ),
                EnrolError::AccountExists => (
                    StatusCode::CONFLICT,
                    "account-exists",
                    "This identity already has a civpass account",
                ),
                EnrolError::InvalidTransfer => (
                    StatusCode::FORBIDDEN,
                    "invalid-transfer",
                    "The transfer authorisation is invalid",
                ),
                EnrolError::RegistryUnavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "registry-unavailable",
                    "The population registry is unavailable; try again later",
                ),
                EnrolError::Internal(cause) => return ApiError::internal(&cause.0).into_response(),
            };
            ApiError::new(status, slug, title).detail(e.to_string()).into_response()
        }
    }
}

fn device_error(e: DeviceError) -> ApiError {
    let (status, slug, title) = match &e {
        DeviceError::NotFound => {
            (StatusCode::NOT_FOUND, "login-request-not-found", "No such login request")
        }
        DeviceError::Expired => {
            (StatusCode::GONE, "login-request-expired", "The login request has expired")
        }
        DeviceError::AlreadyDecided => (
            StatusCode::CONFLICT,
            "login-request-decided",
            "The login request has already been decided",
        ),
        DeviceError::UnknownDevice => {
            (StatusCode::FORBIDDEN, "unknown-device", "Unknown or revoked device")
        }
        DeviceError::BadSignature => {
            (StatusCode::FORBIDDEN, "bad-signature", "The device signature is invalid")
        }
        DeviceError::WrongMatchCode => (
            StatusCode::FORBIDDEN,
            "wrong-match-code",
            "The matching code is wrong; the login request has been cancelled",
        ),
        DeviceError::InvalidScopes => (
            StatusCode::BAD_REQUEST,
            "invalid-scopes",
            "The approved data must include openid and only what the service asked for",
        ),
        DeviceError::Internal(cause) => return ApiError::internal(cause),
    };
    ApiError::new(status, slug, title)
}

#[utoipa::path(
    get,
    path = "/api/v1/device/login-requests/{id}",
    tag = "device",
    params(("id" = String, Path, description = "The login request id from the app link")),
    responses(
        (status = 200, description = "The pending login request", body = LoginRequestView),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn view(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.services.device_view(&id).await {
        Ok(v) => Json(LoginRequestView {
            request_id: v.request_id,
            client_id: v.client_id,
            client_name: v.client_name,
            scopes: v
                .scopes
                .iter()
                .map(|s| RequestedScope {
                    scope: s.clone(),
                    description: scopes::describe(s).to_owned(),
                    optional: scopes::is_personal_data(s),
                })
                .collect(),
            challenge: v.challenge,
            expires_at: v.expires_at,
            match_code_required: true,
        })
        .into_response(),
        Err(e) => device_error(e).into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/device/login-requests/{id}/decision",
    tag = "device",
    params(("id" = String, Path, description = "The login request id")),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "Decision recorded", body = DecisionResponse),
        (status = 400, description = "Malformed input", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Bad signature, unknown device or wrong matching code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<DecisionRequest>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => return bad_json(e).into_response(),
    };
    let verdict = match body.decision.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-decision",
                "decision must be approve or deny",
            )
            .into_response();
        }
    };
    let req = CoreDecision {
        device_id: &body.device_id,
        verdict,
        match_code: &body.match_code,
        approved_scopes: &body.approved_scopes,
        signature: &body.signature,
    };
    match state.services.decide(&id, req).await {
        Ok(()) => {
            let status = if verdict == Verdict::Approve { "approved" } else { "denied" };
            Json(DecisionResponse { status: status.to_owned() }).into_response()
        }
        Err(e) => device_error(e).into_response(),
    }
}
