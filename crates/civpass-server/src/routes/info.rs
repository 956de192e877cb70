//! Pages that say what runs here: the landing page at `/`, the built-in privacy notice and
//! help (used unless the operator names its own), and the developer documentation.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

use crate::AppState;
use crate::i18n::{self, Lang};
use crate::limits::{self, Routes};
use crate::pages::{self, Chrome, InfoTemplate};
use crate::routes::login::LangQuery;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/", limits::PUBLIC, get(|s, j, h, u, q| info(s, j, h, u, q, Info::Landing)))
        .at("/privacy", limits::PUBLIC, get(|s, j, h, u, q| info(s, j, h, u, q, Info::Privacy)))
        .at("/help", limits::PUBLIC, get(|s, j, h, u, q| info(s, j, h, u, q, Info::Help)))
        .at("/docs/{name}", limits::PUBLIC, get(document))
        .into_router()
}

#[derive(Clone, Copy)]
enum Info {
    Landing,
    Privacy,
    Help,
}

impl Info {
    fn key(self) -> &'static str {
        match self {
            Info::Landing => "landing",
            Info::Privacy => "privacy",
            Info::Help => "help",
        }
    }
}

/// The developer documentation, served from the binary so that the landing page's links work
/// wherever civpass runs (Markdown, as in the repository).
const DOCUMENTS: [(&str, &str); 9] = [
    ("RELYING-PARTIES.md", include_str!("../../../../docs/RELYING-PARTIES.md")),
    ("CONFIGURATION.md", include_str!("../../../../docs/CONFIGURATION.md")),
    ("DEVICE-API.md", include_str!("../../../../docs/DEVICE-API.md")),
    ("SECURITY.md", include_str!("../../../../docs/SECURITY.md")),
    ("APP.md", include_str!("../../../../docs/APP.md")),
    ("OPERATIONS.md", include_str!("../../../../docs/OPERATIONS.md")),
    ("REGISTRATION.md", include_str!("../../../../docs/REGISTRATION.md")),
    ("EME.md", include_str!("../../../../docs/EME.md")),
    ("PKI.md", include_str!("../../../../docs/PKI.md")),
];

async fn info(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<LangQuery>,
    which: Info,
) -> Response {
    let lang_tag = query.lang();
    let jar = i18n::remember_choice(jar, lang_tag, state.secure_cookies);
    let chrome = Chrome::new(Lang::choose(lang_tag, &jar, None, &headers), &uri, &state.operator);
    let t = chrome.t;
    let key = which.key();
    // Sections are numbered keys (`{page}.1.heading`, `{page}.1.body`, ...) up to the first gap.
    let sections = (1..)
        .map_while(|n| {
            let heading = t.lookup(&format!("{key}.{n}.heading"))?;
            Some((heading, t.lookup(&format!("{key}.{n}.body")).unwrap_or("")))
        })
        .collect();
    let links = match which {
        Info::Landing => {
            let issuer = &state.services.settings().issuer;
            let mut links = vec![
                (t.get("landing.link.app"), "/app/".to_owned()),
                (
                    t.get("landing.link.discovery"),
                    format!("{issuer}/.well-known/openid-configuration"),
                ),
                (t.get("landing.link.jwks"), format!("{issuer}/jwks")),
                (t.get("landing.link.openapi"), "/openapi.json".to_owned()),
            ];
            links.extend(DOCUMENTS.iter().map(|(name, _)| (*name, format!("/docs/{name}"))));
            links
        }
        Info::Privacy | Info::Help => Vec::new(),
    };
    let template = InfoTemplate {
        heading: t.lookup(&format!("{key}.heading")).unwrap_or("civpass"),
        intro: t.fill(&format!("{key}.intro"), &[("operator", &state.operator.name)]),
        sections,
        links,
        chrome,
    };
    (jar, pages::render(StatusCode::OK, &template)).into_response()
}

async fn document(Path(name): Path<String>) -> Response {
    match DOCUMENTS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => {
            let mut res = (*text).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/markdown; charset=utf-8"),
            );
            res
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
