//! The browser side of a login: the waiting page with its QR code, its status, and the app link.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use civpass_core::consent::claims;
use civpass_core::oidc::login::{LoginPage, LoginPageError};

use serde::Deserialize;

use crate::AppState;
use crate::i18n::{self, Lang};
use crate::limits::{self, Routes};
use crate::pages::{self, Chrome, LoginTemplate};
use crate::routes::oidc::browser_id;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/login/{id}", limits::AUTHORIZE, get(login_page))
        .at(
            "/login/{id}/status",
            limits::Limit::None(
                "the waiting page polls it each second; bound to its browser's cookie, cheap",
            ),
            get(login_status),
        )
        .at("/login/{id}/cancel", limits::AUTHORIZE, post(cancel_login))
        .at(
            "/static/login.js",
            limits::PUBLIC,
            get(|| async { asset("text/javascript", include_str!("../../static/login.js")) }),
        )
        .at(
            "/static/civpass.css",
            limits::PUBLIC,
            get(|| async { asset("text/css", include_str!("../../static/civpass.css")) }),
        )
        .into_router()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    res
}

/// The QR code (error correction level M) as one SVG path of horizontal runs. The SVG is
/// written here because QR libraries emit a path command per module: several times the size.
pub(crate) fn qr_svg(link: &str) -> Option<String> {
    const QUIET: usize = 4;
    let code = fast_qr::QRBuilder::new(link).ecl(fast_qr::ECL::M).build().ok()?;
    let width = code.size;
    let mut path = String::with_capacity(width * width);
    for (y, row) in code.data[..width * width].chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x].value() {
                let start = x;
                while x < width && row[x].value() {
                    x += 1;
                }
                let run = x - start;
                path.push_str(&format!("M{} {}h{run}v1h-{run}z", start + QUIET, y + QUIET));
            } else {
                x += 1;
            }
        }
    }
    let size = width + 2 * QUIET;
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"240\" height=\"240\" \
         shape-rendering=\"crispEdges\" aria-hidden=\"true\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

/// A QR code as an SVG `data:` URI, for pages that draw it with an `img` (the app, the console).
pub(crate) fn qr_data_uri(text: &str) -> Option<String> {
    use base64::Engine;
    let svg = qr_svg(text)?;
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The link that opens the app on this login request (the QR code holds the same link).
pub(crate) fn app_link(issuer: &str, request_id: &str) -> String {
    format!("{issuer}/app/login?request={request_id}")
}

fn page_error(chrome: Chrome, e: LoginPageError) -> Response {
    match e {
        LoginPageError::NotFound => {
            pages::message(chrome, StatusCode::NOT_FOUND, "not_found", None, None)
        }
        LoginPageError::OtherBrowser => {
            pages::message(chrome, StatusCode::FORBIDDEN, "other_browser", None, None)
        }
        LoginPageError::Internal(cause) => pages::internal(chrome, &cause),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

impl LangQuery {
    pub(crate) fn lang(&self) -> Option<&str> {
        self.lang.as_deref()
    }
}

async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let jar = i18n::remember_choice(jar, query.lang.as_deref(), state.secure_cookies);
    let page = match browser_id(&state, &jar) {
        Some(browser) => state.services.oidc.login_page(&id, &browser).await,
        None => Err(LoginPageError::OtherBrowser),
    };
    let ui_locales = match &page {
        Ok(LoginPage::Waiting { ui_locales, .. }) => ui_locales.as_deref(),
        _ => None,
    };
    let lang = Lang::choose(query.lang.as_deref(), &jar, ui_locales, &headers);
    let chrome = Chrome::new(lang, &uri, &state.operator);
    let page = match page {
        Ok(page) => page,
        Err(e) => return (jar, page_error(chrome, e)).into_response(),
    };
    let res = match page {
        LoginPage::Redirect(url) => Redirect::to(&url).into_response(),
        LoginPage::Waiting { client_name, scopes: requested, match_code, redirect_uri, .. } => {
            let settings = state.services.settings();
            let link = app_link(&settings.issuer, &id);
            let qr_svg = qr_svg(&link).unwrap_or_default();
            let t = chrome.t;
            // First-strong isolate: whatever the service's name holds, it cannot reorder the
            // text around it (Unicode Bidirectional Algorithm, UAX #9 section 2.4).
            let isolated = format!("\u{2068}{client_name}\u{2069}");
            let service = [("service", isolated.as_str())];
            let template = LoginTemplate {
                title: t.fill("login.title", &service),
                heading: t.fill("login.heading", &service),
                asks_for: t.fill("login.asks_for", &service),
                waiting: t.fill(
                    "login.waiting",
                    &[("minutes", &(settings.login_request_ttl / 60).to_string())],
                ),
                request_id: id,
                qr_svg,
                link,
                match_code,
                scopes: requested.iter().map(|s| t.get(claims::description_key(s))).collect(),
                chrome,
            };
            // "Cancel and go back" posts here and is redirected to the service: browsers hold
            // that redirect to the page's form-action too (CSP Level 3 section 6.4.1).
            let target = url::Url::parse(&redirect_uri).ok().map(|to| match to.origin() {
                origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
                url::Origin::Opaque(_) => format!("{}:", to.scheme()),
            });
            pages::render_with_form_targets(StatusCode::OK, &template, target.as_deref())
        }
        LoginPage::Ended => pages::message(chrome, StatusCode::OK, "ended", None, None),
    };
    (jar, res).into_response()
}

/// "Cancel and go back": a form post from the login page, with the binding cookie and, where
/// the browser says, from civpass's own origin (so another site cannot end a citizen's login).
/// Answers 303 to the service with `error=access_denied`, or the page `login_page` would show.
async fn cancel_login(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    // The page's language links point at the login page, not at this POST-only address.
    let page_uri: Uri = format!("/login/{id}").parse().unwrap_or(uri);
    let chrome = Chrome::new(Lang::choose(None, &jar, None, &headers), &page_uri, &state.operator);
    // Only the login page itself may cancel (Fetch Metadata), as with the logout confirmation:
    // the Lax cookie alone would let a sibling site that learnt a request id end it.
    if headers.get("sec-fetch-site").is_some_and(|site| site.as_bytes() != b"same-origin") {
        return page_error(chrome, LoginPageError::OtherBrowser);
    }
    let page = match browser_id(&state, &jar) {
        Some(browser) => state.services.oidc.cancel_login(&id, &browser).await,
        None => Err(LoginPageError::OtherBrowser),
    };
    match page {
        Ok(LoginPage::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(_) => pages::message(chrome, StatusCode::OK, "ended", None, None),
        Err(e) => page_error(chrome, e),
    }
}

async fn login_status(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let Some(browser) = browser_id(&state, &jar) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.services.oidc.login_status(&id, &browser).await {
        Ok(status) => {
            let mut res = Json(serde_json::json!({ "status": status })).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(LoginPageError::Internal(cause)) => {
            crate::error::ApiError::internal(&cause).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
