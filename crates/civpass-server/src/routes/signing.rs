//! The signing service's endpoints (issue 14, in progress; docs/PKI.md): a service's signing
//! requests (client authentication) and their results, the app's view and signed answer, and
//! checking a detached signature against the platform's root CA.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use civpass_api::signing::Verdict;
use civpass_api::{
    SignatureReport, SignatureVerifyRequest, SigningDecisionRequest, SigningRequestCreate,
    SigningRequestCreated, SigningRequestStatus, SigningRequestView,
};
use civpass_core::signing::PkiError;
use civpass_core::signing::requests::{SigningOutcome, SigningRequestError};

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::ApiJson;
use crate::limits::{self, Routes};

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/api/v1/signatures/verify", limits::DEVICE, post(verify))
        .at("/api/v1/signing-requests", limits::TOKEN, post(create_request))
        .at("/api/v1/signing-requests/{id}", limits::TOKEN, get(request_status))
        .at("/api/v1/device/signing-requests/{id}", limits::DEVICE, get(device_view))
        .at("/api/v1/device/signing-requests/{id}/decision", limits::DEVICE, post(device_decide))
        .into_router()
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid-signature-request",
        "The request cannot be checked",
    )
    .detail(detail)
}

#[utoipa::path(
    post,
    path = "/api/v1/signatures/verify",
    tag = "signing",
    request_body = SignatureVerifyRequest,
    responses(
        (status = 200, description = "What the check found (`valid` says whether every check passed)", body = SignatureReport),
        (status = 400, description = "Not base64, not a digest, or not a signature civpass can read", body = civpass_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The platform has no PKI yet", body = civpass_api::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignatureVerifyRequest>,
) -> Result<Response, ApiError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let signature =
        b64.decode(body.signature.trim()).map_err(|_| bad("signature is not base64"))?;
    let digest = b64
        .decode(body.document_digest.trim())
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| bad("document_digest is not a base64 SHA-256 digest (32 bytes)"))?;
    let report = match state.services.signing.verify(&signature, &digest).await {
        Ok(Ok(report)) => report,
        Ok(Err(why)) => return Err(bad(format!("not a signature civpass can check: {why}"))),
        Err(PkiError::NotInitialised) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no-pki",
                "The platform has no certificate authority yet",
            ));
        }
        Err(PkiError::Internal(cause)) => return Err(ApiError::internal(&cause)),
        Err(other) => {
            return Err(ApiError::internal(&civpass_core::kernel::Internal::new(
                other.to_string(),
            )));
        }
    };
    Ok((
        no_store(),
        axum::Json(SignatureReport {
            valid: report.valid(),
            signer: report.signer,
            signing_time: report.signing_time,
            content_matches: report.content_matches,
            signature_valid: report.signature_valid,
            trusted: report.trusted,
            chain: report.chain,
            problems: report.problems,
        }),
    )
        .into_response())
}

/// The service's own client, by HTTP Basic (client_secret_basic, RFC 6749 section 2.3.1), as
/// at the token endpoint: `401 invalid-client` otherwise.
async fn service_client(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<civpass_core::oidc::model::Client, ApiError> {
    let unauthenticated = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-client",
            "The service's client authentication failed",
        )
        .challenge("Basic realm=\"civpass\"")
    };
    let basic = crate::routes::oidc::basic_credentials(headers).map_err(|_| unauthenticated())?;
    if basic.is_none() {
        return Err(unauthenticated());
    }
    let request = civpass_core::oidc::clients::ClientAuthRequest {
        basic,
        client_id: None,
        client_secret: None,
        client_assertion_type: None,
        client_assertion: None,
    };
    state.services.oidc.authenticate(&request).await.map_err(|_| unauthenticated())
}

fn request_error(e: SigningRequestError) -> ApiError {
    match e {
        SigningRequestError::Invalid(detail) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-signing-request",
            "The signing request was refused",
        )
        .detail(detail),
        SigningRequestError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "no-signing-request", "No such signing request")
        }
        SigningRequestError::NotPending => ApiError::new(
            StatusCode::CONFLICT,
            "signing-request-decided",
            "The signing request was answered already, or expired",
        ),
        SigningRequestError::UnknownDevice => ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown-device",
            "The device is not an active device",
        ),
        SigningRequestError::BadSignature => ApiError::new(
            StatusCode::FORBIDDEN,
            "bad-signature",
            "The device's signature does not verify",
        ),
        SigningRequestError::WrongMatchCode => ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong-match-code",
            "The matching code is not the one the service showed; the request has ended",
        ),
        SigningRequestError::Refused(why) => {
            ApiError::new(StatusCode::FORBIDDEN, "signing-refused", "The citizen cannot sign this")
                .detail(why)
        }
        SigningRequestError::Internal(cause) => ApiError::internal(&cause),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/signing-requests",
    tag = "signing",
    request_body = SigningRequestCreate,
    responses(
        (status = 201, description = "Made: show the link as a QR code and the matching code", body = SigningRequestCreated),
        (status = 400, description = "The documents were refused", body = civpass_api::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The service's client authentication failed", body = civpass_api::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_request(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<SigningRequestCreate>,
) -> Result<Response, ApiError> {
    let client = service_client(&state, &headers).await?;
    let sector = client.sector.clone().unwrap_or_else(|| client.id.to_string());
    let made = state
        .services
        .signing
        .create_signing_request(
            &client.id,
            &client.name,
            &sector,
            body.documents,
            body.expected_signer,
        )
        .await
        .map_err(request_error)?;
    Ok((
        StatusCode::CREATED,
        no_store(),
        axum::Json(SigningRequestCreated {
            request_id: made.id,
            link: made.link,
            match_code: made.match_code,
            expires_at: made.expires_at,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/signing-requests/{id}",
    tag = "signing",
    params(("id" = String, Path, description = "The signing request's id")),
    responses(
        (status = 200, description = "Where it stands, with the signatures once signed", body = SigningRequestStatus),
        (status = 401, description = "The service's client authentication failed", body = civpass_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request of this service", body = civpass_api::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn request_status(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = service_client(&state, &headers).await?;
    let outcome =
        state.services.signing.signing_outcome(&client.id, &id).await.map_err(request_error)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (status, signatures, reason) = match outcome {
        SigningOutcome::Pending => ("pending", Vec::new(), None),
        SigningOutcome::Expired => ("expired", Vec::new(), None),
        SigningOutcome::Denied => ("denied", Vec::new(), None),
        SigningOutcome::Refused(why) => ("refused", Vec::new(), Some(why)),
        SigningOutcome::Signed(all) => {
            ("signed", all.iter().map(|s| b64.encode(s)).collect(), None)
        }
    };
    Ok((
        no_store(),
        axum::Json(SigningRequestStatus { status: status.to_owned(), signatures, reason }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/device/signing-requests/{id}",
    tag = "device",
    params(("id" = String, Path, description = "The signing request's id, from the link")),
    responses(
        (status = 200, description = "What the citizen is asked to sign", body = SigningRequestView),
        (status = 404, description = "No such request", body = civpass_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Answered already, or expired", body = civpass_api::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn device_view(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let request = state.services.signing.signing_request_view(&id).await.map_err(request_error)?;
    Ok((
        no_store(),
        axum::Json(SigningRequestView {
            request_id: request.id,
            client_id: request.client_id.to_string(),
            client_name: request.client_name,
            documents_binding: request.documents_binding,
            documents: request.documents,
            expires_at: request.expires_at,
        }),
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/device/signing-requests/{id}/decision",
    tag = "device",
    params(("id" = String, Path, description = "The signing request's id")),
    request_body = SigningDecisionRequest,
    responses(
        (status = 204, description = "Answered: signed, or denied"),
        (status = 403, description = "Not signed: the device, its signature, the matching code or the citizen (`signing-refused`, with why)", body = civpass_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Answered already, or expired", body = civpass_api::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn device_decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SigningDecisionRequest>,
) -> Result<Response, ApiError> {
    let verdict = match body.decision.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        _ => return Err(bad("decision is approve or deny")),
    };
    state
        .services
        .signing
        .decide_signing_request(&id, &body.device_id, verdict, &body.match_code, &body.signature)
        .await
        .map_err(request_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
