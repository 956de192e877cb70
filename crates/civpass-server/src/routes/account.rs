//! The citizen's account in the app: app sessions opened with the device key, the identity data
//! held, linked services and unlinking. Answers carry personal data, so none may be cached.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use civpass_api::{
    DeviceChallenge, DeviceChallengeRequest, DeviceView, EvidenceView, FillingView, HistoryView,
    LinkedServiceView, MyData, Problem, ReleaseView, SessionRequest, SessionResponse,
    UpgradeRequest, UpgradeResponse,
};
use civpass_core::account::SessionError;
use civpass_core::account::upgrade::UpgradeError;
use civpass_core::device::passkey::DeviceProof;
use webauthn_rs::prelude::PublicKeyCredential;

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::{ApiJson, BearerToken};
use crate::limits::{self, Routes};
use crate::routes::device::{challenge_view, webauthn_json};

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/api/v1/device/sessions/challenge", limits::DEVICE, post(session_challenge))
        .at("/api/v1/device/sessions", limits::DEVICE, post(open_session))
        .at("/api/v1/device/me", limits::DEVICE, get(my_data))
        .at("/api/v1/device/me/services", limits::DEVICE, get(services))
        .at("/api/v1/device/me/services/{client_id}", limits::DEVICE, delete(unlink))
        .at("/api/v1/device/me/services/{client_id}/receipt", limits::DEVICE, get(receipt))
        .at("/api/v1/device/me/fillings", limits::DEVICE, get(fillings))
        .at("/api/v1/device/me/devices", limits::DEVICE, get(devices))
        .at("/api/v1/device/me/devices/{id}/revoke", limits::DEVICE, post(revoke_device))
        .at("/api/v1/device/me/history", limits::DEVICE, get(history))
        .at("/api/v1/device/me/upgrade", limits::REGISTRATION, post(upgrade))
        .into_router()
}

pub(crate) fn session_error(e: SessionError) -> ApiError {
    let (status, slug, title) = match &e {
        SessionError::UnknownDevice => {
            (StatusCode::FORBIDDEN, "unknown-device", "Unknown or revoked device")
        }
        SessionError::CeremonyNotFound => {
            (StatusCode::GONE, "challenge-expired", "The challenge has expired or was already used")
        }
        SessionError::BadProof => {
            (StatusCode::FORBIDDEN, "bad-signature", "The device could not prove itself")
        }
        SessionError::Unauthenticated => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "An app session token is required",
            )
            .detail(e.to_string())
            .challenge("Bearer realm=\"civpass-app\"");
        }
        SessionError::NotLinked => {
            (StatusCode::NOT_FOUND, "not-linked", "This service is not linked to the account")
        }
        SessionError::PasskeysUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "passkeys-unavailable",
            "Passkeys need an issuer with a domain name",
        ),
        SessionError::Internal(cause) => return ApiError::internal(cause),
    };
    ApiError::new(status, slug, title).detail(e.to_string())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/sessions/challenge",
    tag = "account",
    request_body = DeviceChallengeRequest,
    responses(
        (status = 200, description = "A challenge for the device key", body = DeviceChallenge),
        (status = 403, description = "Unknown or revoked device", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn session_challenge(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DeviceChallengeRequest>,
) -> Result<Response, ApiError> {
    let challenge =
        state.services.account.start_app_session(&body.device_id).await.map_err(session_error)?;
    Ok((no_store(), Json(challenge_view(challenge))).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/sessions",
    tag = "account",
    request_body = SessionRequest,
    responses(
        (status = 201, description = "An app session for ten minutes", body = SessionResponse),
        (status = 400, description = "Malformed input", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The device could not prove itself", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The challenge expired or was used", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_session(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SessionRequest>,
) -> Result<Response, ApiError> {
    let credential: Option<PublicKeyCredential> = body.passkey.map(webauthn_json).transpose()?;
    let proof = match (&credential, body.signature.as_deref()) {
        (Some(c), None) => DeviceProof::Passkey(c),
        (None, Some(signature)) => DeviceProof::Signature(signature),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-body",
                "Send exactly one of signature and passkey",
            ));
        }
    };
    let session = state
        .services
        .account
        .open_app_session(&body.device_id, &body.ceremony_id, proof)
        .await
        .map_err(session_error)?;
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(SessionResponse { token: session.token, expires_at: session.expires_at }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "The verified identity data held", body = MyData),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn my_data(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let data = state.services.account.my_data(bearer.or_empty()).await.map_err(session_error)?;
    Ok((
        no_store(),
        Json(MyData {
            hkid: data.identity.hkid,
            name_en: data.identity.name_en,
            name_zh: data.identity.name_zh,
            date_of_birth: data.identity.date_of_birth,
            gender: data.identity.gender.as_str().to_owned(),
            tier: data.tier.as_str().to_owned(),
            registered_at: data.registered_at,
            evidence: data
                .evidence
                .into_iter()
                .map(|e| EvidenceView {
                    purpose: e.purpose,
                    method: e.method,
                    level: e.level.as_str().to_owned(),
                    verified_at: e.verified_at,
                })
                .collect(),
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/fillings",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "The citizen's anonymous form fillings, oldest first", body = [FillingView]),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn fillings(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let records = state
        .services
        .account
        .anonymous_fillings(bearer.or_empty())
        .await
        .map_err(session_error)?;
    let views: Vec<FillingView> = records
        .into_iter()
        .map(|r| FillingView {
            client_name: r.client_name,
            form_name: r.form_name,
            form_number: r.form_number,
            claims: r.claims,
            filled_at: r.filled_at,
        })
        .collect();
    Ok((no_store(), Json(views)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/services/{client_id}/receipt",
    tag = "account",
    security(("app_session" = [])),
    params(("client_id" = String, Path, description = "The service's client id")),
    responses(
        (status = 200, description = "The consent receipt: a JWT (`application/jwt`, typ `consent-receipt+jwt`) signed with a key of the JWKS", content_type = "application/jwt", body = String),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No standing consent for this service", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn receipt(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let jwt = state
        .services
        .account
        .consent_receipt(bearer.or_empty(), &client_id)
        .await
        .map_err(session_error)?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/jwt".to_owned()),
        (
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"consent-receipt.jwt\"".to_owned(),
        ),
    ];
    Ok((no_store(), headers, jwt).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/services",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "Linked services, latest first, with what each received", body = Vec<LinkedServiceView>),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn services(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let list =
        state.services.account.linked_services(bearer.or_empty()).await.map_err(session_error)?;
    let views: Vec<LinkedServiceView> = list
        .into_iter()
        .map(|s| LinkedServiceView {
            client_id: s.client_id,
            client_name: s.client_name,
            scopes: s.scopes,
            linked_at: s.linked_at,
            last_consent_at: s.last_consent_at,
            claims: s.claims,
            purpose: s.purpose,
            expires_at: s.expires_at,
            releases: s
                .releases
                .into_iter()
                .map(|r| ReleaseView {
                    claims: r.claims,
                    channel: r.channel.as_str().to_owned(),
                    released_at: r.released_at,
                })
                .collect(),
        })
        .collect();
    Ok((no_store(), Json(views)).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/device/me/services/{client_id}",
    tag = "account",
    security(("app_session" = [])),
    params(("client_id" = String, Path, description = "The service's client id")),
    responses(
        (status = 204, description = "Unlinked: its consent is gone and its tokens are revoked"),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The service is not linked", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn unlink(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .services
        .account
        .unlink_service(bearer.or_empty(), &client_id)
        .await
        .map_err(session_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/devices",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "The account's devices, active and revoked, oldest first", body = Vec<DeviceView>),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn devices(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let list = state.services.account.my_devices(bearer.or_empty()).await.map_err(session_error)?;
    let views: Vec<DeviceView> = list
        .into_iter()
        .map(|d| DeviceView {
            id: d.id,
            kind: d.kind,
            added_at: d.added_at,
            revoked_at: d.revoked_at,
            current: d.current,
        })
        .collect();
    Ok((no_store(), Json(views)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/devices/{id}/revoke",
    tag = "account",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "Another active device of this account")),
    responses(
        (status = 204, description = "Revoked: it can no longer approve logins or open sessions"),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not another active device of this account (the current one is not revoked here)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.services.account.revoke_my_device(bearer.or_empty(), &id).await.map_err(session_error)?;
    Ok((StatusCode::NO_CONTENT, no_store()).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/history",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "What happened to the account, where and when, oldest first", body = Vec<HistoryView>),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn history(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let list = state.services.account.my_history(bearer.or_empty()).await.map_err(session_error)?;
    let views: Vec<HistoryView> = list
        .into_iter()
        .map(|h| HistoryView {
            at: h.at,
            what: h.what,
            channel: h.channel,
            device_id: h.device_id,
            point: h.point.map(Vec::from),
        })
        .collect();
    Ok((no_store(), Json(views)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/upgrade",
    tag = "account",
    security(("app_session" = [])),
    request_body = UpgradeRequest,
    responses(
        (status = 200, description = "Upgraded to plus", body = UpgradeResponse),
        (status = 400, description = "No identity check, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account is suspended", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is plus already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The check failed, or passed only at the basic level", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts for this identity", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The identity check cannot be verified now", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    bearer: BearerToken,
    ApiJson(body): ApiJson<UpgradeRequest>,
) -> Result<Response, ApiError> {
    let evidence = body.evidence.as_ref().map(crate::routes::device::submission);
    match state.services.account.upgrade_remotely(bearer.or_empty(), evidence).await {
        Ok(tier) => {
            Ok((no_store(), Json(UpgradeResponse { tier: tier.as_str().to_owned() }))
                .into_response())
        }
        Err(UpgradeError::Session(e)) => Err(session_error(e)),
        Err(UpgradeError::Evidence(e)) => Err(crate::routes::device::enrol_error(e)),
        Err(UpgradeError::Internal(cause)) => Err(ApiError::internal(&cause)),
        Err(e @ UpgradeError::EvidenceTooWeak) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "evidence-too-weak",
            "An upgrade to plus needs a strong identity check",
        )
        .detail(e.to_string())),
        Err(UpgradeError::AlreadyPlus) => {
            Err(ApiError::new(StatusCode::CONFLICT, "already-plus", "This account is plus already"))
        }
        Err(UpgradeError::Suspended) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account-suspended",
            "This account is suspended",
        )),
    }
}
