//! Cross-origin reads (the Fetch standard's CORS protocol) for browser-based relying parties.
//!
//! The policy:
//! - Public metadata (discovery, JWKS) is readable from any origin (`*`): it is public, and
//!   OIDC Discovery 1.0 expects browser clients to fetch it.
//! - The token, pushed-request, revocation and UserInfo answers are readable only by a page at
//!   a registered web origin (the origin of a redirect URI) of the public client the request is
//!   for (`OidcService::web_origin_allowed`). Their error answers are readable from any origin:
//!   they carry only the error (an expired token's 401 and its `WWW-Authenticate`, which a
//!   browser client needs to refresh), and a request whose token or client is not valid names
//!   no client whose origins could be checked. Never with credentials: these endpoints use no
//!   cookies, so `Access-Control-Allow-Credentials` is never sent.
//! - A preflight is answered for any origin: it only lets the browser send a request that any
//!   server could send anyway (no cookies, no ambient authority); whether the page may read the
//!   answer is decided on the answer itself.
//! - Introspection, registration, the device API and the pages send no CORS headers: their
//!   callers are servers, the app on civpass's own origin, or browsers navigating.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Headers a browser client must be able to read: the DPoP nonce to retry with (RFC 9449
/// section 8) and the challenge of a refused UserInfo call (RFC 6750 section 3).
const EXPOSED: HeaderValue = HeaderValue::from_static("DPoP-Nonce, WWW-Authenticate");

/// Answers a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) for an endpoint
/// that takes `methods`.
pub(crate) fn preflight(methods: &'static str) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let out = res.headers_mut();
    // `*` rather than the caller's origin: without credentials it admits the same requests,
    // and the answer does not vary by origin.
    out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    out.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, dpop"),
    );
    out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    res
}

/// Middleware for public metadata: readable from any origin, preflights answered.
pub(crate) async fn open_to_all(request: Request, next: Next) -> Response {
    if request.method() == axum::http::Method::OPTIONS {
        return preflight("GET");
    }
    let mut res = next.run(request).await;
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// Lets the page that sent `headers` read `res` if `res` is an error (`4xx`), or if the page runs
/// at a registered web origin of the public client `client_id` (see the module's policy). `res`
/// varies by `Origin` either way.
pub(crate) async fn allow_client_origin(
    state: &AppState,
    headers: &HeaderMap,
    client_id: Option<&str>,
    res: &mut Response,
) {
    res.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
    let Some(origin) = headers.get(header::ORIGIN) else { return };
    let readable = res.status().is_client_error()
        || match (client_id, origin.to_str()) {
            (Some(client_id), Ok(text)) => {
                state.services.oidc.web_origin_allowed(client_id, text).await
            }
            _ => false,
        };
    if readable {
        res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        res.headers_mut().insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
    }
}
