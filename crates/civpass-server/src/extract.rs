//! Extractors the handlers share, so that each API reads its inputs the same way: a JSON body
//! refused as problem details (`ApiJson`), an `Authorization: Bearer` token (`BearerToken`),
//! and the one `DPoP` header a request may carry (`dpop_header`). The coming signing and
//! exchange APIs reuse them.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body; one that does not parse as `T` is answered with the `invalid-body`
/// problem (RFC 9457), not axum's plain-text rejection.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(e) => Err(bad_json(&e)),
        }
    }
}

fn bad_json(e: &JsonRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid-body",
        "The request body is not valid JSON for this endpoint",
    )
    .detail(e.body_text())
}

/// The token of an `Authorization: <scheme> <token>` header, with its scheme; `None` without
/// one. The scheme is compared without regard to case (RFC 9110 section 11.1).
pub(crate) fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(given, _)| given.eq_ignore_ascii_case(scheme))
        .map(|(_, token)| token.trim())
}

/// An `Authorization: Bearer` token (RFC 6750 section 2.1), if the request carries one. The
/// use case decides what a missing or unknown token means.
pub(crate) struct BearerToken(pub(crate) Option<String>);

impl BearerToken {
    /// The token, or "" (which no session or registration matches).
    pub(crate) fn or_empty(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(BearerToken(authorization(&parts.headers, "Bearer").map(str::to_owned)))
    }
}

/// The request's one `DPoP` header (RFC 9449 section 4.3); `Err` with the reason when it comes
/// twice or is not text.
pub(crate) fn dpop_header(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all("dpop").iter();
    let first = values.next();
    if values.next().is_some() {
        return Err("more than one DPoP header");
    }
    first.map(|v| v.to_str().map_err(|_| "the DPoP header is not text")).transpose()
}
