//! The device API's side of in-person registration: the app asks for a registration code to
//! show at a counter, lists what an officer did that waits for its confirmation, and confirms
//! it with its key (core's `counter` slice; docs/REGISTRATION.md).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use civpass_api::{
    ActResponse, ConfirmRequest, ConfirmResponse, CounterPasskeyCode, CounterPasskeyRequest,
    DeviceChallenge, KioskActRequest, PasskeyConfirmRequest, PendingList, PendingRequest,
    PendingView, Problem, RegistrationCodeRequest, RegistrationCodeResponse,
};
use civpass_core::counter::model::{ActKind, CardDetails};
use civpass_core::counter::{CounterError, CounterRequest, KioskRequest};
use civpass_core::identity::registration::EvidenceSubmission;
use civpass_core::kernel::error::Chain;

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::{ApiJson, BearerToken};
use crate::limits::{self, Routes};

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/api/v1/device/registration-codes", limits::DEVICE, post(registration_code))
        .at("/api/v1/device/pending", limits::DEVICE, post(pending))
        .at("/api/v1/device/pending/{id}/confirm", limits::DEVICE, post(confirm))
        .at("/api/v1/kiosk/acts", limits::REGISTRATION, post(kiosk_act))
        .at("/api/v1/device/me/registration-code", limits::DEVICE, post(my_registration_code))
        .at("/api/v1/device/me/pending", limits::DEVICE, get(my_pending))
        .at("/api/v1/device/me/pending/{id}/challenge", limits::DEVICE, post(my_confirm_challenge))
        .at("/api/v1/device/me/pending/{id}/confirm", limits::DEVICE, post(my_confirm))
        .at("/api/v1/device/counter-passkeys", limits::REGISTRATION, post(start_counter_passkey))
        .at(
            "/api/v1/device/counter-passkeys/{ceremony}",
            limits::REGISTRATION,
            post(finish_counter_passkey),
        )
        .at("/api/v1/device/counter-passkey-pending", limits::DEVICE, get(new_passkey_pending))
        .at(
            "/api/v1/device/counter-passkey-pending/{id}/challenge",
            limits::DEVICE,
            post(new_passkey_challenge),
        )
        .at(
            "/api/v1/device/counter-passkey-pending/{id}/confirm",
            limits::DEVICE,
            post(new_passkey_confirm),
        )
        .into_router()
}

pub(crate) fn counter_error(e: CounterError) -> ApiError {
    let e = match e {
        // A kiosk's identity check fails as a registration's does.
        CounterError::Evidence(inner) => return crate::routes::device::enrol_error(inner),
        other => other,
    };
    let (status, slug, title) = match &e {
        CounterError::InvalidPublicKey | CounterError::Invalid(_) => {
            (StatusCode::BAD_REQUEST, "invalid-request", "The request is not valid")
        }
        CounterError::InvalidProof => {
            (StatusCode::UNAUTHORIZED, "invalid-proof", "The device's signature does not verify")
        }
        CounterError::UnknownDevice => {
            (StatusCode::FORBIDDEN, "unknown-device", "The device is unknown or revoked")
        }
        CounterError::KeyEnrolled => {
            (StatusCode::CONFLICT, "key-enrolled", "This key is an enrolled device's")
        }
        CounterError::StaleRequest => {
            (StatusCode::BAD_REQUEST, "stale-request", "The signed time is too far from now")
        }
        CounterError::NotPending => {
            (StatusCode::NOT_FOUND, "not-pending", "Nothing with this id waits for this device")
        }
        CounterError::Expired => {
            (StatusCode::GONE, "confirmation-expired", "The time to confirm has passed")
        }
        CounterError::AccountExists => {
            (StatusCode::CONFLICT, "account-exists", "This identity already has a civpass account")
        }
        CounterError::AlreadyPlus => {
            (StatusCode::CONFLICT, "already-plus", "This account is plus already")
        }
        CounterError::Overtaken => (
            StatusCode::CONFLICT,
            "act-overtaken",
            "The account changed since the officer's act; it must be done again",
        ),
        CounterError::RegistryUnavailable(cause) => {
            tracing::warn!(cause = %Chain(cause), "the population registry did not answer");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry-unavailable",
                "The population registry is unavailable; try again later",
            )
            .retry_after(30);
        }
        CounterError::Internal(cause) => return ApiError::internal(cause),
        CounterError::Evidence(_) => {
            (StatusCode::BAD_REQUEST, "invalid-request", "The request is not valid")
        }
        CounterError::GuardianNotEligible => (
            StatusCode::FORBIDDEN,
            "guardian-not-eligible",
            "The registry no longer names this guardian, or their account cannot approve",
        ),
        CounterError::EvidenceTooWeak => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "evidence-too-weak",
            "A kiosk needs a strong card and face check",
        ),
        CounterError::UnknownStaff | CounterError::NotAnOfficer | CounterError::StaffDisabled => {
            (StatusCode::FORBIDDEN, "not-a-kiosk", "No enabled kiosk has this id")
        }
        CounterError::NotAssigned => (
            StatusCode::FORBIDDEN,
            "not-this-point",
            "A kiosk acts only at the point it is enrolled to",
        ),
        CounterError::UnknownPoint => {
            (StatusCode::NOT_FOUND, "unknown-point", "No registration point has this id")
        }
        CounterError::PointClosed { .. } => {
            (StatusCode::CONFLICT, "point-closed", "The registration point is closed now")
        }
        CounterError::TooManyActs { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "too-many-acts", "Too many acts in the last hour")
        }
        CounterError::InvalidIdNumber(_) | CounterError::InvalidDateOfBirth => {
            (StatusCode::BAD_REQUEST, "invalid-card", "The card's details are not valid")
        }
    };
    ApiError::new(status, slug, title).detail(e.to_string())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/registration-codes",
    tag = "device",
    request_body = RegistrationCodeRequest,
    responses(
        (status = 201, description = "A code to show at a counter (five minutes, single use)", body = RegistrationCodeResponse),
        (status = 400, description = "Malformed input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The device is unknown, revoked, or holds another key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is an enrolled device's: send its device id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn registration_code(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegistrationCodeRequest>,
) -> Result<Response, ApiError> {
    let issued = state
        .services
        .counter
        .issue_code(&body.public_key, body.device_id.as_deref(), &body.signature)
        .await
        .map_err(counter_error)?;
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(RegistrationCodeResponse {
            code: issued.code,
            expires_at: issued.expires_at,
            enrolled: issued.enrolled,
            qr: None,
        }),
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/pending",
    tag = "device",
    request_body = PendingRequest,
    responses(
        (status = 200, description = "What waits for this device's confirmation", body = PendingList),
        (status = 400, description = "Malformed input, or a signed time too far from now", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature does not verify", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn pending(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PendingRequest>,
) -> Result<Response, ApiError> {
    let pending = state
        .services
        .counter
        .pending(&body.public_key, body.at, &body.signature)
        .await
        .map_err(counter_error)?;
    Ok((StatusCode::OK, no_store(), Json(pending_list(pending))).into_response())
}

fn pending_list(pending: Vec<civpass_core::counter::PendingAct>) -> PendingList {
    let pending = pending
        .into_iter()
        .map(|p| PendingView {
            id: p.id,
            kind: p.kind.as_str().to_owned(),
            name_en: p.name_en,
            point_name_en: p.point_name_en,
            point_name_zh_hant: p.point_name_zh_hant,
            point_name_zh_hans: p.point_name_zh_hans,
            at: p.at,
            expires_at: p.expires_at,
        })
        .collect();
    PendingList { pending }
}

#[utoipa::path(
    post,
    path = "/api/v1/device/pending/{id}/confirm",
    tag = "device",
    params(("id" = String, Path, description = "The act's id, from the pending list")),
    request_body = ConfirmRequest,
    responses(
        (status = 200, description = "Done: registered or upgraded at plus", body = ConfirmResponse),
        (status = 401, description = "The signature is not the bound key's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The device was revoked meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing with this id waits for confirmation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Registered or upgraded meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The time to confirm has passed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<Response, ApiError> {
    let done = state.services.counter.confirm(&id, &body.signature).await.map_err(counter_error)?;
    Ok(confirmed(done))
}

fn confirmed(done: civpass_core::counter::Confirmed) -> Response {
    (
        StatusCode::OK,
        no_store(),
        Json(ConfirmResponse {
            account_id: done.account_id,
            device_id: done.device_id,
            tier: done.tier.as_str().to_owned(),
        }),
    )
        .into_response()
}

/// The app's device, from its session (opened with a passkey assertion).
async fn session_device(
    state: &AppState,
    bearer: &BearerToken,
) -> Result<civpass_core::identity::model::Device, ApiError> {
    state
        .services
        .account
        .session_device(bearer.or_empty())
        .await
        .map_err(crate::routes::account::session_error)
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/registration-code",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 201, description = "A code for this device to show at a counter, with its QR code (five minutes, single use; an upgrade)", body = RegistrationCodeResponse),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn my_registration_code(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let device = session_device(&state, &bearer).await?;
    let issued =
        state.services.counter.issue_code_for_device(&device).await.map_err(counter_error)?;
    let qr = crate::routes::login::qr_data_uri(&issued.code);
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(RegistrationCodeResponse {
            code: issued.code,
            expires_at: issued.expires_at,
            enrolled: issued.enrolled,
            qr,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/me/pending",
    tag = "account",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "What waits for this device's confirmation", body = PendingList),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn my_pending(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let device = session_device(&state, &bearer).await?;
    let pending =
        state.services.counter.pending_for_device(&device).await.map_err(counter_error)?;
    Ok((StatusCode::OK, no_store(), Json(pending_list(pending))).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/pending/{id}/challenge",
    tag = "account",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "The act's id, from the pending list")),
    responses(
        (status = 200, description = "WebAuthn options bound to this act and this device", body = DeviceChallenge),
        (status = 401, description = "No valid app session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing with this id waits for this device", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn my_confirm_challenge(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let device = session_device(&state, &bearer).await?;
    let challenge = state
        .services
        .counter
        .start_passkey_confirm(&id, &device)
        .await
        .map_err(counter_error)?
        .ok_or_else(passkeys_unavailable)?;
    Ok(passkey_options(challenge))
}

#[utoipa::path(
    post,
    path = "/api/v1/device/me/pending/{id}/confirm",
    tag = "account",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "The act's id, from the pending list")),
    request_body = PasskeyConfirmRequest,
    responses(
        (status = 200, description = "Done: upgraded at plus", body = ConfirmResponse),
        (status = 401, description = "No valid app session, or the passkey's assertion does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing with this id waits for this device", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Upgraded or changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The time to confirm has passed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn my_confirm(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyConfirmRequest>,
) -> Result<Response, ApiError> {
    let device = session_device(&state, &bearer).await?;
    let credential: webauthn_rs::prelude::PublicKeyCredential =
        crate::routes::device::webauthn_json(body.passkey)?;
    let done = state
        .services
        .counter
        .finish_passkey_confirm(&id, &device, &body.ceremony_id, &credential)
        .await
        .map_err(counter_error)?;
    Ok(confirmed(done))
}

#[utoipa::path(
    post,
    path = "/api/v1/kiosk/acts",
    tag = "device",
    request_body = KioskActRequest,
    responses(
        (status = 200, description = "The act's outcome; `awaiting_citizen` waits for the phone's confirmation", body = ActResponse),
        (status = 400, description = "Malformed input, or a signed time too far from now", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The kiosk's signature does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an enabled kiosk, or not at its own point", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The point is closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The card and face check failed, or passed only at the basic level", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many acts by this kiosk in the last hour", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn kiosk_act(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KioskActRequest>,
) -> Result<Response, ApiError> {
    let kind =
        ActKind::parse(&body.kind).filter(|k| *k != ActKind::ReplaceDevice).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", "The request is not valid")
                .detail("kind must be register or upgrade")
        })?;
    let req = KioskRequest {
        act: CounterRequest {
            kind,
            staff_id: &body.kiosk_id,
            point_id: &body.point_id,
            code: &body.code,
            card: CardDetails {
                id_number: body.id_number.clone(),
                name_en: body.name_en.clone(),
                date_of_birth: body.date_of_birth.clone(),
            },
        },
        evidence: EvidenceSubmission {
            session: &body.evidence.session,
            reference: &body.evidence.reference,
        },
        at: body.at,
        signature: &body.signature,
    };
    let report = state.services.counter.kiosk_act(req).await.map_err(counter_error)?;
    Ok((
        StatusCode::OK,
        no_store(),
        Json(ActResponse {
            act_id: report.act_id,
            outcome: report.outcome.as_str().to_owned(),
            expires_at: report.expires_at,
        }),
    )
        .into_response())
}

/// WebAuthn options for the app (`navigator.credentials.create` or `.get`), with the ceremony
/// that will check the answer.
fn passkey_options<T: serde::Serialize>(
    challenge: civpass_core::device::passkey::Challenge<T>,
) -> Response {
    (
        no_store(),
        Json(DeviceChallenge {
            ceremony_id: challenge.ceremony_id,
            passkey: serde_json::to_value(challenge.options).ok(),
            challenge: None,
        }),
    )
        .into_response()
}

fn passkeys_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "passkeys-unavailable",
        "Passkeys need an issuer with a domain name",
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/device/counter-passkeys",
    tag = "device",
    responses(
        (status = 200, description = "Options for the passkey the app makes for a registration at a counter", body = DeviceChallenge),
        (status = 503, description = "Passkeys are not available on this issuer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_counter_passkey(
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let challenge = state
        .services
        .counter
        .start_counter_passkey()
        .await
        .map_err(counter_error)?
        .ok_or_else(passkeys_unavailable)?;
    Ok(passkey_options(challenge))
}

#[utoipa::path(
    post,
    path = "/api/v1/device/counter-passkeys/{ceremony}",
    tag = "device",
    params(("ceremony" = String, Path, description = "The ceremony id from the options")),
    request_body = CounterPasskeyRequest,
    responses(
        (status = 201, description = "A registration code bound to the new passkey, and the token to follow it with", body = CounterPasskeyCode),
        (status = 401, description = "The passkey does not verify, or the ceremony is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The passkey is registered already", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn finish_counter_passkey(
    State(state): State<AppState>,
    Path(ceremony): Path<String>,
    ApiJson(body): ApiJson<CounterPasskeyRequest>,
) -> Result<Response, ApiError> {
    let credential: webauthn_rs::prelude::RegisterPublicKeyCredential =
        crate::routes::device::webauthn_json(body.credential)?;
    let made = state
        .services
        .counter
        .finish_counter_passkey(&ceremony, &credential)
        .await
        .map_err(counter_error)?;
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(CounterPasskeyCode {
            qr: crate::routes::login::qr_data_uri(&made.code.code),
            code: made.code.code,
            expires_at: made.code.expires_at,
            token: made.token,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/counter-passkey-pending",
    tag = "device",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "What waits for the passkey made at the counter (the Bearer token is that code's)", body = PendingList),
        (status = 403, description = "The token is unknown or expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn new_passkey_pending(
    State(state): State<AppState>,
    bearer: BearerToken,
) -> Result<Response, ApiError> {
    let pending = state
        .services
        .counter
        .pending_for_new_passkey(bearer.or_empty())
        .await
        .map_err(counter_error)?;
    Ok((StatusCode::OK, no_store(), Json(pending_list(pending))).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/counter-passkey-pending/{id}/challenge",
    tag = "device",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "The act's id, from the pending list")),
    responses(
        (status = 200, description = "WebAuthn options bound to this act and the passkey", body = DeviceChallenge),
        (status = 404, description = "Nothing with this id waits for this passkey", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn new_passkey_challenge(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let challenge = state
        .services
        .counter
        .start_new_passkey_confirm(bearer.or_empty(), &id)
        .await
        .map_err(counter_error)?
        .ok_or_else(passkeys_unavailable)?;
    Ok(passkey_options(challenge))
}

#[utoipa::path(
    post,
    path = "/api/v1/device/counter-passkey-pending/{id}/confirm",
    tag = "device",
    security(("app_session" = [])),
    params(("id" = String, Path, description = "The act's id, from the pending list")),
    request_body = PasskeyConfirmRequest,
    responses(
        (status = 200, description = "Done: registered at plus, or the account moved to this passkey", body = ConfirmResponse),
        (status = 401, description = "The passkey's assertion does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing with this id waits for this passkey", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Registered or changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The time to confirm has passed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn new_passkey_confirm(
    State(state): State<AppState>,
    bearer: BearerToken,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyConfirmRequest>,
) -> Result<Response, ApiError> {
    let credential: webauthn_rs::prelude::PublicKeyCredential =
        crate::routes::device::webauthn_json(body.passkey)?;
    let done = state
        .services
        .counter
        .finish_new_passkey_confirm(bearer.or_empty(), &id, &body.ceremony_id, &credential)
        .await
        .map_err(counter_error)?;
    Ok(confirmed(done))
}
