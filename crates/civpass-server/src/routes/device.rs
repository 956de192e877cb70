//! The device API: what the civpass app (and `civpass wallet`) calls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use civpass_api::{
    DecisionRequest, DecisionResponse, DeviceChallenge, DeviceChallengeRequest,
    DeviceConfiguration, EnrolmentRequest, EnrolmentResponse, FormView, IdentityCheckRequest,
    IdentityCheckResponse, LoginContextView, LoginRequestView, PasskeyRegistrationChallenge,
    PasskeyRegistrationFinish, PasskeyRegistrationRequest, Problem, RequestedClaim, RequestedScope,
};
use civpass_core::consent::claims;
use civpass_core::device::passkey::{AssertionOptions, Challenge, DeviceProof};
use civpass_core::identity::evidence::EvidenceOutcome;
use civpass_core::identity::registration::{
    EnrolError, EnrolRequest, EvidenceSubmission, IdentityClaim, Transfer,
};
use civpass_core::kernel::Internal;
use civpass_core::kernel::error::Chain;
use civpass_core::oidc::login::{DecisionRequest as CoreDecision, DeviceError, Verdict};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::{ApiJson, BearerToken};
use crate::limits::{self, Routes};
use crate::routes::oidc::browser_id;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/api/v1/device/configuration", limits::DEVICE, get(configuration))
        .at("/api/v1/device/identity-checks", limits::REGISTRATION, post(start_identity_check))
        .at("/api/v1/device/enrolments", limits::REGISTRATION, post(enrol))
        .at("/api/v1/device/passkey-registrations", limits::REGISTRATION, post(start_registration))
        .at(
            "/api/v1/device/passkey-registrations/{id}",
            limits::REGISTRATION,
            post(finish_registration),
        )
        .at("/api/v1/device/login-requests/{id}", limits::DEVICE, get(view))
        .at(
            "/api/v1/device/login-requests/{id}/passkey-challenge",
            limits::DEVICE,
            post(decision_challenge),
        )
        .at("/api/v1/device/login-requests/{id}/decision", limits::DEVICE, post(decide))
        .into_router()
}

/// A WebAuthn structure from the app, parsed into the verifier's type.
pub(crate) fn webauthn_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-credential",
            "The passkey response is not a valid WebAuthn credential",
        )
        .detail(e.to_string())
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/device/configuration",
    tag = "device",
    responses(
        (status = 200, description = "How this platform registers citizens", body = DeviceConfiguration),
    )
)]
pub(crate) async fn configuration(State(state): State<AppState>) -> Json<DeviceConfiguration> {
    let sandbox = state.services.identity.evidence_is_sandbox();
    Json(DeviceConfiguration {
        issuer: state.services.settings().issuer.clone(),
        passkeys_available: state.services.device.passkeys_available(),
        evidence_verifier: if sandbox { "sandbox" } else { "vendor" }.to_owned(),
        sandbox_outcomes: if sandbox {
            EvidenceOutcome::ALL.iter().map(|o| o.as_str().to_owned()).collect()
        } else {
            Vec::new()
        },
    })
}

pub(crate) fn submission(evidence: &civpass_api::EvidenceSubmission) -> EvidenceSubmission<'_> {
    EvidenceSubmission { session: &evidence.session, reference: &evidence.reference }
}

#[utoipa::path(
    post,
    path = "/api/v1/device/identity-checks",
    tag = "device",
    request_body = IdentityCheckRequest,
    responses(
        (status = 201, description = "The check is open: give its reference to the vendor's SDK", body = IdentityCheckResponse),
        (status = 400, description = "Malformed input", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_identity_check(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<IdentityCheckRequest>,
) -> Result<Response, ApiError> {
    let check =
        state.services.identity.start_identity_check(&body.id_number).await.map_err(enrol_error)?;
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(IdentityCheckResponse { reference: check.reference, expires_at: check.expires_at }),
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/enrolments",
    tag = "device",
    request_body = EnrolmentRequest,
    responses(
        (status = 201, description = "Registered (or moved to this device)", body = EnrolmentResponse),
        (status = 400, description = "Malformed input, no identity check, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The transfer authorisation is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The identity already has an account (told only after the identity check passed)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The identity check did not pass, or (after it passed) the details do not match the registry", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this identity", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The registry or the identity check cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn enrol(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EnrolmentRequest>,
) -> Result<Response, ApiError> {
    let req = EnrolRequest {
        id_number: &body.id_number,
        name_en: &body.name_en,
        date_of_birth: &body.date_of_birth,
        public_key: &body.public_key,
        proof: &body.proof,
        evidence: body.evidence.as_ref().map(submission),
        transfer: body
            .transfer
            .as_ref()
            .map(|t| Transfer { device_id: &t.device_id, signature: &t.signature }),
        guardian: body.guardian_id_number.as_deref(),
        replace_lost_device: body.replace_lost_device,
    };
    let done = state.services.identity.enrol(req).await.map_err(enrol_error)?;
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(EnrolmentResponse {
            account_id: done.account_id,
            device_id: done.device_id,
            tier: done.tier.as_str().to_owned(),
            transferred: done.transferred,
            awaiting_guardian: done.awaiting_guardian,
            moves_at: done.moves_at,
        }),
    )
        .into_response())
}

pub(crate) fn enrol_error(e: EnrolError) -> ApiError {
    let (status, slug, title) = match &e {
        EnrolError::InvalidIdNumber(_) => {
            (StatusCode::BAD_REQUEST, "invalid-id-number", "The identity card number is not valid")
        }
        EnrolError::InvalidDateOfBirth => {
            (StatusCode::BAD_REQUEST, "invalid-date-of-birth", "The date of birth is not valid")
        }
        EnrolError::InvalidPublicKey => {
            (StatusCode::BAD_REQUEST, "invalid-public-key", "The device key is not valid")
        }
        EnrolError::InvalidProof => (
            StatusCode::BAD_REQUEST,
            "invalid-proof",
            "The proof of possession of the device key is invalid",
        ),
        EnrolError::EvidenceRequired => (
            StatusCode::BAD_REQUEST,
            "evidence-required",
            "Remote registration needs an identity check first",
        ),
        EnrolError::EvidenceFailed(outcome) => {
            let (slug, title) = match outcome {
                EvidenceOutcome::DocumentMismatch => (
                    "evidence-document-mismatch",
                    "The identity card could not be confirmed as genuine and yours",
                ),
                EvidenceOutcome::LivenessFailed => (
                    "evidence-liveness-failed",
                    "The face check did not confirm that you are the card's holder",
                ),
                EvidenceOutcome::Timeout | EvidenceOutcome::Pass => (
                    "evidence-timeout",
                    "The identity check was not finished in time; start it again",
                ),
            };
            (StatusCode::UNPROCESSABLE_ENTITY, slug, title)
        }
        EnrolError::EvidenceUnknown => (
            StatusCode::BAD_REQUEST,
            "evidence-unknown",
            "The identity check is unknown or has expired; start it again",
        ),
        EnrolError::EvidenceUnavailable(cause) => {
            tracing::warn!(cause = %Chain(cause), "identity evidence could not be verified");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "evidence-unavailable",
                "The identity check cannot be verified now; try again later",
            )
            .retry_after(30);
        }
        EnrolError::TooManyAttempts { retry_after } => {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "Too many registration attempts for this identity; try again later",
            )
            .retry_after(u64::try_from(*retry_after).unwrap_or(3600));
        }
        EnrolError::IdentityMismatch => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "identity-mismatch",
            "The details do not match the population registry",
        ),
        EnrolError::AccountExists => {
            (StatusCode::CONFLICT, "account-exists", "This identity already has a civpass account")
        }
        EnrolError::InvalidTransfer => {
            (StatusCode::FORBIDDEN, "invalid-transfer", "The transfer authorisation is invalid")
        }
        EnrolError::RegistryUnavailable(cause) => {
            tracing::warn!(cause = %Chain(cause), "the population registry did not answer");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry-unavailable",
                "The population registry is unavailable; try again later",
            )
            .retry_after(30);
        }
        EnrolError::PasskeysUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "passkeys-unavailable",
            "Passkeys need an issuer with a domain name",
        ),
        EnrolError::CeremonyNotFound => (
            StatusCode::GONE,
            "registration-expired",
            "The registration has expired or was already finished",
        ),
        EnrolError::PasskeyRejected => {
            (StatusCode::BAD_REQUEST, "passkey-rejected", "The passkey could not be verified")
        }
        EnrolError::RecoveryNeedsStrongEvidence => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "evidence-too-weak",
            "Moving an account without the old phone needs a strong identity check",
        ),
        EnrolError::RecoveryPending => (
            StatusCode::CONFLICT,
            "recovery-pending",
            "A move of this account to a new phone waits already",
        ),
        EnrolError::RecoveryStopped => (
            StatusCode::CONFLICT,
            "recovery-stopped",
            "A remote move of this account was stopped from its phone lately",
        ),
        EnrolError::NothingToRecover => (
            StatusCode::NOT_FOUND,
            "no-account",
            "This identity has no civpass account to move; register instead",
        ),
        EnrolError::AccountSuspended => {
            (StatusCode::FORBIDDEN, "account-suspended", "This account is suspended")
        }
        EnrolError::TooYoung => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "too-young",
            "civpass registers citizens aged 11 and over",
        ),
        EnrolError::GuardianRequired => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "guardian-required",
            "A citizen aged 11 to 17 names a parent or guardian who approves",
        ),
        EnrolError::InvalidGuardian => (
            StatusCode::BAD_REQUEST,
            "invalid-guardian",
            "The guardian's identity card number is not valid",
        ),
        EnrolError::GuardianNotNamed => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "guardian-not-named",
            "The population registry does not name this person as the citizen's guardian",
        ),
        EnrolError::GuardianNotEligible => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "guardian-not-eligible",
            "The guardian needs an adult civpass Plus account of their own",
        ),
        EnrolError::Internal(cause) => return ApiError::internal(cause),
    };
    ApiError::new(status, slug, title).detail(e.to_string())
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
        DeviceError::CeremonyNotFound => (
            StatusCode::GONE,
            "challenge-expired",
            "The passkey challenge has expired or was already used",
        ),
        DeviceError::AccountLevelTooLow => (
            StatusCode::FORBIDDEN,
            "account-level-too-low",
            "The service needs a civpass plus account; the login request has ended",
        ),
        DeviceError::OtherCitizen => (
            StatusCode::FORBIDDEN,
            "other-citizen",
            "The service expected another citizen; the login request has ended",
        ),
        DeviceError::AccountSuspended => (
            StatusCode::FORBIDDEN,
            "account-suspended",
            "This account is suspended; the login request has ended",
        ),
        DeviceError::AwaitingGuardian => (
            StatusCode::FORBIDDEN,
            "awaiting-guardian",
            "This account waits for the guardian's approval; the login request has ended",
        ),
        DeviceError::NotAPasskey => (
            StatusCode::BAD_REQUEST,
            "not-a-passkey",
            "This device signs with a software key and needs no passkey challenge",
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
pub(crate) async fn view(
    State(state): State<AppState>,
    jar: CookieJar,
    bearer: BearerToken,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let browser = browser_id(&state, &jar);
    let v = state.services.oidc.device_view(&id, browser.as_deref()).await.map_err(device_error)?;
    let released = |scope: &String| claims::released(std::slice::from_ref(scope), &v.claims_filter);
    // With the account's app session, the values each claim would be released with.
    let values = match &bearer.0 {
        None => serde_json::Map::new(),
        Some(token) => {
            let names: Vec<&str> = v.scopes.iter().flat_map(released).collect();
            state
                .services
                .account
                .release_preview(token, &names)
                .await
                .map_err(crate::routes::account::session_error)?
        }
    };
    let requested = |scope: &String| {
        let claims: Vec<RequestedClaim> = released(scope)
            .into_iter()
            .map(|name| RequestedClaim {
                name: name.to_owned(),
                essential: v.essential_claims.iter().any(|e| e == name),
                value: values.get(name).cloned(),
            })
            .collect();
        RequestedScope {
            scope: scope.clone(),
            description: claims::describe(scope).to_owned(),
            optional: claims::is_personal_data(scope),
            essential: claims.iter().any(|c| c.essential),
            claims,
        }
    };
    Ok((
        no_store(),
        Json(LoginRequestView {
            request_id: v.request_id,
            client_id: v.client_id,
            client_name: v.client_name.clone(),
            purpose: v.purpose.clone(),
            form: v.form.as_ref().map(|f| FormView {
                form_name: f.form_name.clone(),
                form_number: f.form_number.clone(),
                description: f.description.clone(),
                fields: f.field_names(),
                anonymous: f.anonymous,
            }),
            scopes: v.scopes.iter().map(requested).collect(),
            challenge: v.challenge,
            expires_at: v.expires_at,
            match_code_required: !v.same_browser,
            started_at: v.started_at,
            context: LoginContextView {
                browser: v.context.browser,
                os: v.context.os,
                place_zh_hans: v.context.place.as_ref().and_then(|p| p.zh_hans.clone()),
                place: v.context.place.map(|p| p.en),
            },
        }),
    )
        .into_response())
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
    jar: CookieJar,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Response, ApiError> {
    let verdict = match body.decision.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-decision",
                "decision must be approve or deny",
            ));
        }
    };
    let credential: Option<PublicKeyCredential> = body.passkey.map(webauthn_json).transpose()?;
    let proof = match &credential {
        Some(c) => DeviceProof::Passkey(c),
        None => DeviceProof::Signature(&body.signature),
    };
    let browser = browser_id(&state, &jar);
    let req = CoreDecision {
        device_id: &body.device_id,
        verdict,
        match_code: &body.match_code,
        approved_scopes: &body.approved_scopes,
        proof,
        ceremony_id: body.ceremony_id.as_deref(),
        browser_id: browser.as_deref(),
    };
    state.services.oidc.decide(&id, req).await.map_err(device_error)?;
    let status = if verdict == Verdict::Approve { "approved" } else { "denied" };
    Ok(Json(DecisionResponse { status: status.to_owned() }).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/login-requests/{id}/passkey-challenge",
    tag = "device",
    params(("id" = String, Path, description = "The login request id")),
    request_body = DeviceChallengeRequest,
    responses(
        (status = 200, description = "WebAuthn options for deciding with this passkey", body = DeviceChallenge),
        (status = 400, description = "Malformed input, or not a passkey device", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Unknown or revoked device", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn decision_challenge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DeviceChallengeRequest>,
) -> Result<Response, ApiError> {
    let challenge = state
        .services
        .oidc
        .start_decision_assertion(&id, &body.device_id)
        .await
        .map_err(device_error)?;
    Ok((no_store(), Json(challenge_view(challenge))).into_response())
}

/// The wire form of an assertion challenge.
pub(crate) fn challenge_view(challenge: Challenge<AssertionOptions>) -> DeviceChallenge {
    match challenge.options {
        AssertionOptions::Passkey(options) => DeviceChallenge {
            ceremony_id: challenge.ceremony_id,
            passkey: serde_json::to_value(options).ok(),
            challenge: None,
        },
        AssertionOptions::Software { challenge: text } => DeviceChallenge {
            ceremony_id: challenge.ceremony_id,
            passkey: None,
            challenge: Some(text),
        },
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/device/passkey-registrations",
    tag = "device",
    request_body = PasskeyRegistrationRequest,
    responses(
        (status = 201, description = "The identity check passed and the details match: create a passkey with these options", body = PasskeyRegistrationChallenge),
        (status = 400, description = "Malformed input, no identity check, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The identity already has an account (told only after the identity check passed)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The identity check did not pass, or (after it passed) the details do not match the registry", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this identity", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Registry, identity check or passkeys unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_registration(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PasskeyRegistrationRequest>,
) -> Result<Response, ApiError> {
    let claim = IdentityClaim {
        id_number: &body.id_number,
        name_en: &body.name_en,
        date_of_birth: &body.date_of_birth,
        evidence: body.evidence.as_ref().map(submission),
        guardian: body.guardian_id_number.as_deref(),
        replace_lost_device: body.replace_lost_device,
    };
    let challenge =
        state.services.device.start_passkey_registration(&claim).await.map_err(enrol_error)?;
    Ok(match serde_json::to_value(challenge.options) {
        Ok(passkey) => (
            StatusCode::CREATED,
            no_store(),
            Json(PasskeyRegistrationChallenge { ceremony_id: challenge.ceremony_id, passkey }),
        )
            .into_response(),
        Err(e) => {
            ApiError::internal(&Internal::caused("writing passkey options", e)).into_response()
        }
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/device/passkey-registrations/{id}",
    tag = "device",
    params(("id" = String, Path, description = "The ceremony id from step one")),
    request_body = PasskeyRegistrationFinish,
    responses(
        (status = 201, description = "Registered with this passkey", body = EnrolmentResponse),
        (status = 400, description = "Malformed input, or the passkey does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The identity already has an account", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The registration expired or was already finished", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn finish_registration(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyRegistrationFinish>,
) -> Result<Response, ApiError> {
    let credential: RegisterPublicKeyCredential = webauthn_json(body.credential)?;
    let done = state
        .services
        .device
        .finish_passkey_registration(&id, &credential)
        .await
        .map_err(enrol_error)?;
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(EnrolmentResponse {
            account_id: done.account_id,
            device_id: done.device_id,
            tier: done.tier.as_str().to_owned(),
            transferred: false,
            awaiting_guardian: done.awaiting_guardian,
            moves_at: done.moves_at,
        }),
    )
        .into_response())
}
