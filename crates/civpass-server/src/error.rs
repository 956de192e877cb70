//! Error responses: OAuth 2.0 JSON for the OAuth endpoints, RFC 9457 problem details for the
//! rest of the API. An internal error is logged here, once, with its cause chain (inside the
//! request's span, so with its request id), and answered with an opaque 500, or, when it is
//! transient (a database or outside service that does not answer), a 503 with `Retry-After`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use civpass_api::Problem;
use civpass_core::kernel::Internal;
use civpass_core::kernel::error::Chain;

/// Logs an internal failure with its cause chain; the seconds to ask the caller to wait, if
/// retrying may succeed.
pub(crate) fn log_internal(cause: &Internal) -> Option<u64> {
    let chain = Chain(cause);
    match cause.retry_after() {
        Some(wait) => {
            tracing::warn!(cause = %chain, "service unavailable");
            Some(wait.as_secs().max(1))
        }
        None => {
            tracing::error!(cause = %chain, "internal error");
            None
        }
    }
}

/// An RFC 6749 error response (`{"error": ..., "error_description": ...}`).
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: String,
    pub(crate) www_authenticate: Option<&'static str>,
    /// Seconds, for a `Retry-After` header on a 503.
    pub(crate) retry_after: Option<u64>,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// `server_error` (500), or for a transient failure `temporarily_unavailable` (503, with
    /// `Retry-After`; RFC 6749 section 4.1.2.1 names the code, used here at every endpoint).
    pub(crate) fn internal(cause: &Internal) -> OAuthError {
        match log_internal(cause) {
            Some(seconds) => OAuthError {
                retry_after: Some(seconds),
                ..OAuthError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the service is unavailable; try again later",
                )
            },
            None => {
                OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
            }
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut res = (self.status, no_store(), Json(body)).into_response();
        if let Some(value) = self.www_authenticate {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        if let Some(seconds) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        res
    }
}

/// RFC 9457 problem details with a stable type URI per problem.
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) slug: &'static str,
    pub(crate) title: &'static str,
    pub(crate) detail: Option<String>,
    /// Seconds, for a `Retry-After` header (429 and 503, RFC 9110 section 10.2.3).
    pub(crate) retry_after: Option<u64>,
    /// A `WWW-Authenticate` challenge, for a 401 (RFC 9110 section 11.6.1).
    pub(crate) www_authenticate: Option<&'static str>,
    /// Each refused field of the request, with why.
    pub(crate) errors: Vec<civpass_api::FieldError>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, slug: &'static str, title: &'static str) -> ApiError {
        ApiError {
            status,
            slug,
            title,
            detail: None,
            retry_after: None,
            www_authenticate: None,
            errors: Vec::new(),
        }
    }

    pub(crate) fn errors(mut self, errors: Vec<civpass_api::FieldError>) -> ApiError {
        self.errors = errors;
        self
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub(crate) fn challenge(mut self, value: &'static str) -> ApiError {
        self.www_authenticate = Some(value);
        self
    }

    /// `internal` (500), or for a transient failure `unavailable` (503, with `Retry-After`).
    pub(crate) fn internal(cause: &Internal) -> ApiError {
        match log_internal(cause) {
            Some(seconds) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is unavailable; try again later",
            )
            .retry_after(seconds),
            None => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            problem_type: format!("https://civpass.dev/problems/{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let mut res = (self.status, no_store(), Json(problem)).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(value) = self.www_authenticate {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        res
    }
}

pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

pub(crate) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error").into_response()
}
