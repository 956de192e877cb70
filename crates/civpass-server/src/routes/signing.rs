//! The signing service's public endpoints (issue 14, in progress; docs/PKI.md): checking a
//! detached signature against the platform's root CA.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use civpass_api::{SignatureReport, SignatureVerifyRequest};
use civpass_core::signing::PkiError;

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::ApiJson;
use crate::limits::{self, Routes};

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state).at("/api/v1/signatures/verify", limits::DEVICE, post(verify)).into_router()
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
