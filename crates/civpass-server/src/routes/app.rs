//! The citizen app: a progressive web app under `/app/`, compiled into the binary. The shell is
//! the same for every path (the script shows the right screen), so the service worker can keep
//! it for offline use; everything personal comes from the device API and is never cached.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use civpass_crypto::secret::hash_secret;

use crate::AppState;
use crate::i18n::Lang;
use crate::limits::{self, Routes};

const SHELL: &str = include_str!("../../static/app/index.html");
const SCRIPT: &str = include_str!("../../static/app/app.js");
/// What the app and the counter console share (`static/shared.js`).
pub(crate) const SHARED: &str = include_str!("../../static/shared.js");
const STYLE: &str = include_str!("../../static/civpass.css");
const WORKER: &str = include_str!("../../static/app/sw.js");
const MANIFEST: &str = include_str!("../../static/app/manifest.webmanifest");
const ICON_SVG: &str = include_str!("../../static/app/icon.svg");
const ICON_192: &[u8] = include_bytes!("../../static/app/icon-192.png");
const ICON_512: &[u8] = include_bytes!("../../static/app/icon-512.png");
const ICON_MASKABLE: &[u8] = include_bytes!("../../static/app/icon-maskable-512.png");

/// Names the service worker's cache after the shell's content, so that a new build replaces
/// the cached shell instead of serving a stale one.
static WORKER_WITH_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut all = String::new();
    for part in [SHELL, SHARED, SCRIPT, STYLE, MANIFEST, ICON_SVG] {
        all.push_str(part);
    }
    for lang in Lang::ALL {
        all.push_str(lang.source());
    }
    let version = hash_secret(&all);
    WORKER.replace("__CIVPASS_CACHE_VERSION__", &version[..16])
});

const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; manifest-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/app", limits::PUBLIC, get(|| async { Redirect::permanent("/app/") }))
        .at("/app/", limits::PUBLIC, get(shell))
        .at("/app/register", limits::PUBLIC, get(shell))
        .at("/app/login", limits::PUBLIC, get(shell))
        .at("/app/services", limits::PUBLIC, get(shell))
        .at("/app/data", limits::PUBLIC, get(shell))
        .at("/app/devices", limits::PUBLIC, get(shell))
        .at("/app/counter", limits::PUBLIC, get(shell))
        .at("/app/pending", limits::PUBLIC, get(shell))
        .at("/app/eme", limits::PUBLIC, get(shell))
        .at("/app/verify-email", limits::PUBLIC, get(shell))
        .at(
            "/app/app.js",
            limits::PUBLIC,
            get(|| async { asset("text/javascript", SCRIPT.as_bytes()) }),
        )
        .at(
            "/app/shared.js",
            limits::PUBLIC,
            get(|| async { asset("text/javascript", SHARED.as_bytes()) }),
        )
        .at("/app/app.css", limits::PUBLIC, get(|| async { asset("text/css", STYLE.as_bytes()) }))
        .at("/app/sw.js", limits::PUBLIC, get(worker))
        .at(
            "/app/manifest.webmanifest",
            limits::PUBLIC,
            get(|| async { asset("application/manifest+json", MANIFEST.as_bytes()) }),
        )
        .at(
            "/app/icon.svg",
            limits::PUBLIC,
            get(|| async { asset("image/svg+xml", ICON_SVG.as_bytes()) }),
        )
        .at("/app/icon-192.png", limits::PUBLIC, get(|| async { asset("image/png", ICON_192) }))
        .at("/app/icon-512.png", limits::PUBLIC, get(|| async { asset("image/png", ICON_512) }))
        .at(
            "/app/icon-maskable-512.png",
            limits::PUBLIC,
            get(|| async { asset("image/png", ICON_MASKABLE) }),
        )
        .at("/app/i18n/{file}", limits::PUBLIC, get(catalog))
        .into_router()
}

/// App assets may be cached briefly; the service worker revalidates them.
fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

async fn shell() -> Response {
    let mut res = asset("text/html; charset=utf-8", SHELL.as_bytes());
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

async fn worker() -> Response {
    let mut res = WORKER_WITH_VERSION.clone().into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

async fn catalog(Path(file): Path<String>) -> Response {
    let lang =
        file.strip_suffix(".json").and_then(|tag| Lang::ALL.into_iter().find(|l| l.tag() == tag));
    match lang {
        Some(lang) => asset("application/json; charset=utf-8", lang.source().as_bytes()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
