//! OpenID Connect endpoints: discovery, JWKS, authorize, token and UserInfo.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use civpass_core::oidc::clients::{ClientAuthRequest, unverified_issuer};
use civpass_core::oidc::dpop::DpopRequest;
use civpass_core::oidc::endpoints;
use civpass_core::oidc::login::{AuthorizeError, AuthorizeParams, with_query};
use civpass_core::oidc::login_context::RequestOrigin;
use civpass_core::oidc::logout::{LogoutError, LogoutOutcome, LogoutRequest};
use civpass_core::oidc::model::Client;
use civpass_core::oidc::par::PushError;
use civpass_core::oidc::token::{TokenError, UserInfoError};

use crate::error::{OAuthError, no_store};
use crate::extract;
use crate::i18n::{self, Lang};
use crate::limits::{self, Routes};
use crate::pages::{self, Chrome, LogoutTemplate};
use crate::{AppState, cors};

/// The browser cookie ties a login request to the browser that started it. Over https it
/// carries the `__Host-` prefix so a sibling subdomain cannot plant its own value (cookie
/// tossing, RFC 6265bis section 4.1.3.2); plain-http development cannot use the prefix.
const BROWSER_COOKIE: &str = "civpass_browser";
const BROWSER_COOKIE_HOST: &str = "__Host-civpass_browser";

fn browser_cookie_name(secure: bool) -> &'static str {
    if secure { BROWSER_COOKIE_HOST } else { BROWSER_COOKIE }
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    // CORS (see `cors` for the policy): public metadata for every origin, the endpoints a
    // browser-based public client calls for its registered web origins.
    let public_metadata = Routes::new(state)
        .at(endpoints::DISCOVERY, limits::PUBLIC, get(discovery))
        .at(endpoints::JWKS, limits::PUBLIC, get(jwks))
        .into_router()
        .layer(axum::middleware::from_fn(cors::open_to_all));
    let post_preflight = || async { cors::preflight("POST") };
    Routes::new(state)
        .at(endpoints::AUTHORIZE, limits::AUTHORIZE, get(authorize).post(authorize_form))
        .at(endpoints::TOKEN, limits::TOKEN, post(token).options(post_preflight))
        .at(endpoints::PAR, limits::TOKEN, post(par).options(post_preflight))
        .at(endpoints::LOGOUT, limits::AUTHORIZE, get(logout).post(logout_form))
        .at(endpoints::REVOKE, limits::TOKEN, post(revoke).options(post_preflight))
        .at(endpoints::INTROSPECT, limits::TOKEN, post(introspect))
        .at(
            endpoints::USERINFO,
            limits::TOKEN,
            get(userinfo).post(userinfo).options(|| async { cors::preflight("GET, POST") }),
        )
        .into_router()
        .merge(public_metadata)
}

async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.services.oidc.discovery())
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = Json(state.services.keys.jwks()).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("public, max-age=300"));
    res
}

/// No parameter name repeats (RFC 6749 section 3.1), and there are not absurdly many: the
/// check is linear, and the cap keeps a stranger's request cheap.
fn distinct_names(pairs: &[(String, String)]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    pairs.len() <= 100 && pairs.iter().all(|(name, _)| seen.insert(name.as_str()))
}

/// The authorization parameters among `pairs`; `None` if one repeats (RFC 6749 section 3.1).
fn authorize_params(pairs: &[(String, String)]) -> Option<AuthorizeParams> {
    if !distinct_names(pairs) {
        return None;
    }
    let mut params = AuthorizeParams::default();
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "client_id" => &mut params.client_id,
            "redirect_uri" => &mut params.redirect_uri,
            "response_type" => &mut params.response_type,
            "scope" => &mut params.scope,
            "state" => &mut params.state,
            "nonce" => &mut params.nonce,
            "code_challenge" => &mut params.code_challenge,
            "code_challenge_method" => &mut params.code_challenge_method,
            "prompt" => &mut params.prompt,
            "request" => &mut params.request,
            "request_uri" => &mut params.request_uri,
            "response_mode" => &mut params.response_mode,
            "ui_locales" => &mut params.ui_locales,
            "max_age" => &mut params.max_age,
            "acr_values" => &mut params.acr_values,
            "claims" => &mut params.claims,
            "login_hint" => &mut params.login_hint,
            "id_token_hint" => &mut params.id_token_hint,
            "dpop_jkt" => &mut params.dpop_jkt,
            "purpose" => &mut params.purpose,
            "authorization_details" => &mut params.authorization_details,
            _ => continue,
        };
        *slot = Some(value.clone());
    }
    Some(params)
}

/// The browser id in the binding cookie, if the cookie is one civpass issued.
pub(crate) fn browser_id(state: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(browser_cookie_name(state.secure_cookies))
        .map(|c| c.value().to_owned())
        .filter(|v| state.services.oidc.is_browser_id(v))
}

/// The browser's binding cookie, and whether it came with the request; issued now if not.
fn with_browser_cookie(state: &AppState, jar: CookieJar) -> (CookieJar, String, bool) {
    match browser_id(state, &jar) {
        Some(id) => (jar, id, true),
        None => {
            let id = state.services.oidc.new_browser_id();
            let cookie = Cookie::build((browser_cookie_name(state.secure_cookies), id.clone()))
                .path("/")
                .http_only(true)
                .secure(state.secure_cookies)
                .same_site(SameSite::Lax)
                .build();
            (jar.add(cookie), id, false)
        }
    }
}

/// The authorization endpoint by GET, the parameters in the query.
async fn authorize(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let pairs = query.ok().map(|Query(pairs)| pairs);
    authorize_with(state, jar, headers, connect, uri, pairs).await
}

/// The authorization endpoint by POST, the parameters form-serialised in the body (OIDC Core
/// section 3.1.2.1: both methods must be supported).
async fn authorize_form(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let pairs = form.ok().map(|Form(pairs)| pairs);
    if let Some(resent) =
        pairs.as_ref().and_then(|p| resend_without_cookie(&state, &jar, endpoints::AUTHORIZE, p))
    {
        return resent;
    }
    authorize_with(state, jar, headers, connect, uri, pairs).await
}

/// The parameters that were sent with a value: "parameters sent without a value MUST be
/// treated as if they were omitted from the request" (RFC 6749 section 3.1), so an empty copy
/// beside a valued one is no repetition either.
fn with_values(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.into_iter().filter(|(_, value)| !value.is_empty()).collect()
}

/// A form another site posts to `/authorize` or `/logout` (as OIDC lets relying parties do)
/// comes without the browser's `SameSite=Lax` binding cookie. Answering it would bind a login
/// to a new cookie that replaces the browser's own, stranding its logins in progress and
/// detaching it from its sessions (so a logout could not end them). It is sent on as a GET
/// with the same parameters instead, which a top-level navigation makes with the cookie.
/// `None` when the request carried the cookie and can be answered as it is.
fn resend_without_cookie(
    state: &AppState,
    jar: &CookieJar,
    path: &str,
    pairs: &[(String, String)],
) -> Option<Response> {
    if browser_id(state, jar).is_some() {
        return None;
    }
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    Some(Redirect::to(&format!("{path}?{query}")).into_response())
}

async fn authorize_with(
    state: AppState,
    jar: CookieJar,
    headers: HeaderMap,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    pairs: Option<Vec<(String, String)>>,
) -> Response {
    let pairs = pairs.map(with_values);
    let explicit = pairs
        .as_ref()
        .and_then(|pairs| pairs.iter().find(|(n, _)| n == "lang").map(|(_, v)| v.clone()));
    let jar = i18n::remember_choice(jar, explicit.as_deref(), state.secure_cookies);
    let chrome = |ui_locales: Option<&str>| {
        Chrome::new(
            Lang::choose(explicit.as_deref(), &jar, ui_locales, &headers),
            &uri,
            &state.operator,
        )
    };
    let Some(pairs) = pairs else {
        let page =
            pages::message(chrome(None), StatusCode::BAD_REQUEST, "invalid_request", None, None);
        return (jar, page).into_response();
    };
    let Some(params) = authorize_params(&pairs) else {
        // RFC 6749 section 3.1: parameters must not repeat. The redirect URI itself may be
        // the repeated one, so no redirect.
        let page = pages::message(
            chrome(None),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("repeated"),
            None,
        );
        return (jar, page).into_response();
    };
    let page_chrome = chrome(params.ui_locales.as_deref());
    // Only a top-level navigation starts a login (Fetch Metadata): an image, a frame or a
    // script on another site cannot open requests in a visitor's name.
    if headers.get("sec-fetch-dest").is_some_and(|dest| dest.as_bytes() != b"document") {
        let page =
            pages::message(page_chrome, StatusCode::BAD_REQUEST, "invalid_request", None, None);
        return (jar, page).into_response();
    }
    let (jar, browser, known_browser) = with_browser_cookie(&state, jar.clone());
    let client_ip =
        connect.map(|axum::Extension(ConnectInfo(peer))| state.client_address(peer.ip(), &headers));
    let origin = RequestOrigin {
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()),
        ip: client_ip,
        client_key: client_ip.map(|ip| state.client_key(ip)),
        known_browser,
    };
    match state.services.oidc.start_login(&params, &browser, &origin).await {
        Ok(started) => {
            (jar, Redirect::to(&format!("/login/{}", started.request_id))).into_response()
        }
        Err(AuthorizeError::NoRedirect { description }) => (
            jar,
            pages::message(
                page_chrome,
                StatusCode::BAD_REQUEST,
                "bad_client",
                None,
                Some(description.to_owned()),
            ),
        )
            .into_response(),
        Err(AuthorizeError::Redirect { redirect_uri, error, description, state: oauth_state }) => {
            let mut pairs = vec![("error", error.as_str()), ("error_description", description)];
            if let Some(s) = oauth_state.as_deref() {
                pairs.push(("state", s));
            }
            let issuer = state.services.settings().issuer.clone();
            pairs.push(("iss", &issuer));
            Redirect::to(&with_query(&redirect_uri, &pairs)).into_response()
        }
        Err(AuthorizeError::TooManyPending) => (
            jar,
            pages::message(
                page_chrome,
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_pending",
                None,
                None,
            ),
        )
            .into_response(),
        Err(AuthorizeError::Internal(cause)) => pages::internal(page_chrome, &cause),
    }
}

fn token_error(e: TokenError, basic: bool) -> OAuthError {
    match e {
        TokenError::InvalidRequest(d) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", d)
        }
        TokenError::InvalidClient => {
            let mut err = OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
            if basic {
                err.www_authenticate = Some("Basic realm=\"civpass\"");
            }
            err
        }
        TokenError::InvalidGrant(d) => OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", d),
        TokenError::UnsupportedGrantType => OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials",
        ),
        TokenError::UnauthorizedClient => OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the client is not registered for this grant type",
        ),
        TokenError::InvalidScope(d) => OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", d),
        TokenError::InvalidDpopProof(d) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", d)
        }
        TokenError::UseDpopNonce => OAuthError::new(
            StatusCode::BAD_REQUEST,
            "use_dpop_nonce",
            "the DPoP proof needs the nonce in the DPoP-Nonce header",
        ),
        TokenError::Internal(cause) => OAuthError::internal(&cause),
    }
}

/// RFC 6749 section 2.3.1: the Basic credentials are form-encoded before base64.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| TokenError::InvalidClient)?;
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))
    else {
        return Err(TokenError::InvalidRequest(
            "only Basic authorization is accepted at the token endpoint",
        ));
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| TokenError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| TokenError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(TokenError::InvalidClient)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    Ok(Some((
        unescape(id).ok_or(TokenError::InvalidClient)?,
        unescape(secret).ok_or(TokenError::InvalidClient)?,
    )))
}

/// The `token` parameter of a revocation or introspection request.
fn token_param(pairs: &[(String, String)]) -> Result<&str, TokenError> {
    pairs
        .iter()
        .find(|(n, _)| n == "token")
        .map(|(_, v)| v.as_str())
        .ok_or(TokenError::InvalidRequest("token is required"))
}

/// RP-Initiated Logout 1.0: the query (GET) or form (POST) parameters.
async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    // A GET only ever asks: the confirmation's token counts in its own POST alone, so a link
    // (or an image) carrying one ends nothing.
    let pairs: Vec<(String, String)> = with_values(pairs)
        .into_iter()
        .filter(|(name, _)| name != "csrf" && name != "decision")
        .collect();
    end_session(&state, jar, &headers, &uri, &pairs).await
}

async fn logout_form(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    // Without the cookie the form cannot be the confirmation page's own, whose answer needs it;
    // as a GET, the browser is asked again, with its cookie.
    let request: Vec<(String, String)> =
        pairs.iter().filter(|(name, _)| name != "csrf" && name != "decision").cloned().collect();
    if let Some(resent) = resend_without_cookie(&state, &jar, endpoints::LOGOUT, &request) {
        return resent;
    }
    end_session(&state, jar, &headers, &uri, &with_values(pairs)).await
}

/// The parameters of a logout request a confirmation form carries back.
const LOGOUT_FIELDS: [&str; 5] =
    ["id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"];

/// A logout request (from the service, by GET or by a form it posts) is checked and, when it
/// would end a live session, shown to the citizen for confirmation; the session ends only when
/// the confirmation form, carrying this browser's CSRF token, is posted back (RP-Initiated
/// Logout 1.0 section 2: the OP should ask the End-User).
async fn end_session(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    uri: &Uri,
    pairs: &[(String, String)],
) -> Response {
    let param = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let lang =
        Lang::choose(param("lang").as_deref(), &jar, param("ui_locales").as_deref(), headers);
    let chrome = || Chrome::new(lang, uri, &state.operator);
    if !distinct_names(pairs) {
        return pages::message(
            chrome(),
            StatusCode::BAD_REQUEST,
            "invalid_logout",
            Some("repeated"),
            None,
        );
    }
    let request = LogoutRequest {
        id_token_hint: param("id_token_hint"),
        client_id: param("client_id"),
        post_logout_redirect_uri: param("post_logout_redirect_uri"),
        state: param("state"),
    };
    let failed = |e: LogoutError| match e {
        LogoutError::InvalidRequest(detail) => pages::message(
            chrome(),
            StatusCode::BAD_REQUEST,
            "invalid_logout",
            None,
            Some(detail.to_owned()),
        ),
        LogoutError::Internal(cause) => pages::internal(chrome(), &cause),
    };
    let respond = |outcome: LogoutOutcome| match outcome {
        LogoutOutcome::Redirect(to) => Redirect::to(&to).into_response(),
        LogoutOutcome::LoggedOut => {
            pages::message(chrome(), StatusCode::OK, "logged_out", None, None)
        }
    };
    // The confirmation form's answer.
    if let Some(token) = param("csrf") {
        // Browsers say where a form came from (Fetch Metadata): only our own page may answer.
        let same_origin =
            headers.get("sec-fetch-site").is_none_or(|site| site.as_bytes() == b"same-origin");
        let confirmed = browser_id(state, &jar)
            .filter(|_| same_origin)
            .filter(|browser| state.services.oidc.logout_csrf_matches(browser, &token));
        let Some(browser) = confirmed else {
            return pages::message(chrome(), StatusCode::FORBIDDEN, "logout_expired", None, None);
        };
        return match param("decision").as_deref() {
            Some("logout") => match state.services.oidc.confirm_logout(&request, &browser).await {
                Ok(outcome) => respond(outcome),
                Err(e) => failed(e),
            },
            _ => match state.services.oidc.plan_logout(&request).await {
                Ok(plan) => respond(plan.outcome()),
                Err(e) => failed(e),
            },
        };
    }
    let plan = match state.services.oidc.plan_logout(&request).await {
        Ok(plan) => plan,
        Err(e) => return failed(e),
    };
    if !plan.ends_session {
        // Nothing to end: back to the service at once.
        return respond(plan.outcome());
    }
    let (jar, browser, _) = with_browser_cookie(state, jar);
    let page_chrome = chrome();
    let t = page_chrome.t;
    let service = format!("\u{2068}{}\u{2069}", plan.client_name.as_deref().unwrap_or("?"));
    let fields =
        LOGOUT_FIELDS.iter().filter_map(|&name| param(name).map(|value| (name, value))).collect();
    let template = LogoutTemplate {
        heading: t.fill("page.logout_confirm.heading", &[("service", &service)]),
        body: t.fill("page.logout_confirm.body", &[("service", &service)]),
        confirm: t.get("logout.confirm").to_owned(),
        stay: t.get("logout.stay").to_owned(),
        fields,
        csrf: state.services.oidc.logout_csrf_token(&browser),
        chrome: page_chrome,
    };
    let target = plan.redirect.as_deref().and_then(|to| url::Url::parse(to).ok());
    let origin = target.map(|to| to.origin().ascii_serialization());
    (jar, pages::render_with_form_targets(StatusCode::OK, &template, origin.as_deref()))
        .into_response()
}

/// RFC 9126: the client pushes its authorization request and gets a one-time `request_uri`.
async fn par(
    State(state): State<AppState>,
    headers: HeaderMap,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    form: FormBody,
) -> Response {
    let client_key = connect.map(|axum::Extension(ConnectInfo(peer))| {
        state.client_key(state.client_address(peer.ip(), &headers))
    });
    let basic = headers.contains_key(header::AUTHORIZATION);
    let pairs = form_pairs(form);
    let client_id = claimed_client_id(&headers, pairs.as_deref().unwrap_or_default());
    let mut res = match pairs {
        Ok(pairs) => par_inner(&state, &headers, client_key, pairs).await,
        Err(e) => token_error(e, basic).into_response(),
    };
    // As at the token endpoint: a DPoP client gets the nonce it will need without asking.
    if let Ok(nonce) = header::HeaderValue::from_str(&state.services.oidc.dpop_nonce()) {
        res.headers_mut().insert("dpop-nonce", nonce);
    }
    cors::allow_client_origin(&state, &headers, client_id.as_deref(), &mut res).await;
    res
}

async fn par_inner(
    state: &AppState,
    headers: &HeaderMap,
    client_key: Option<std::net::IpAddr>,
    pairs: Vec<(String, String)>,
) -> Response {
    let basic = headers.contains_key(header::AUTHORIZATION);
    // RFC 9449 section 10.1: a DPoP proof with the push binds the code to its key. Its nonce is
    // asked for before the client authenticates, as at the token endpoint.
    let proof = match dpop_header(headers) {
        Ok(proof) => proof,
        Err(e) => return token_error(e, basic).into_response(),
    };
    if proof.is_some_and(|p| state.services.oidc.dpop_nonce_missing(p)) {
        return token_error(TokenError::UseDpopNonce, basic).into_response();
    }
    let client = match authenticated_client(state, headers, &pairs).await {
        Ok(client) => client,
        Err(e) => return token_error(e, basic).into_response(),
    };
    let url = endpoints::url(&state.services.settings().issuer, endpoints::PAR);
    let request = DpopRequest { proof, method: "POST", url: &url };
    let proof_jkt = match state.services.oidc.pushed_request_dpop(&request).await {
        Ok(jkt) => jkt,
        Err(e) => return token_error(e, basic).into_response(),
    };
    // Client authentication parameters are not authorization parameters.
    let Some(params) = authorize_params(&pairs) else {
        return token_error(
            TokenError::InvalidRequest("a parameter appears more than once"),
            basic,
        )
        .into_response();
    };
    match state
        .services
        .oidc
        .push_authorization(&client, &params, proof_jkt.as_deref(), client_key)
        .await
    {
        Ok(pushed) => (
            StatusCode::CREATED,
            no_store(),
            Json(serde_json::json!({
                "request_uri": pushed.request_uri,
                "expires_in": pushed.expires_in,
            })),
        )
            .into_response(),
        Err(PushError { cause: Some(cause), .. }) => OAuthError::internal(&cause).into_response(),
        Err(e) => OAuthError::new(StatusCode::BAD_REQUEST, e.error.as_str(), e.description)
            .into_response(),
    }
}

/// RFC 7009: revokes the grant behind a refresh or access token; 200 whatever the token was.
async fn revoke(State(state): State<AppState>, headers: HeaderMap, form: FormBody) -> Response {
    let basic = headers.contains_key(header::AUTHORIZATION);
    let pairs = form_pairs(form);
    let client_id = claimed_client_id(&headers, pairs.as_deref().unwrap_or_default());
    let outcome = async {
        let pairs = pairs?;
        let client = authenticated_client(&state, &headers, &pairs).await?;
        let token = token_param(&pairs)?;
        state.services.oidc.revoke_token(&client, token).await
    }
    .await;
    let mut res = match outcome {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => token_error(e, basic).into_response(),
    };
    cors::allow_client_origin(&state, &headers, client_id.as_deref(), &mut res).await;
    res
}

/// RFC 7662: whether a token is active, and what it stands for.
async fn introspect(State(state): State<AppState>, headers: HeaderMap, form: FormBody) -> Response {
    let basic = headers.contains_key(header::AUTHORIZATION);
    let outcome = async {
        let pairs = form_pairs(form)?;
        let client = authenticated_client(&state, &headers, &pairs).await?;
        let token = token_param(&pairs)?;
        state.services.oidc.introspect(&client, token).await
    }
    .await;
    match outcome {
        Ok(answer) => (no_store(), Json(answer)).into_response(),
        Err(e) => token_error(e, basic).into_response(),
    }
}

/// The DPoP key of a token request, after the client authenticated.
async fn token_dpop(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
) -> Result<Option<String>, TokenError> {
    let url = endpoints::url(&state.services.settings().issuer, endpoints::TOKEN);
    let request = DpopRequest { proof: dpop_header(headers)?, method: "POST", url: &url };
    state.services.oidc.token_dpop(client, &request).await
}

async fn token(State(state): State<AppState>, headers: HeaderMap, form: FormBody) -> Response {
    let basic = headers.contains_key(header::AUTHORIZATION);
    let pairs = form_pairs(form);
    let client_id = claimed_client_id(&headers, pairs.as_deref().unwrap_or_default());
    let grant_type = pairs
        .as_deref()
        .ok()
        .and_then(|pairs| pairs.iter().find(|(n, _)| n == "grant_type").map(|(_, v)| v.clone()));
    let outcome = match pairs {
        Ok(pairs) => token_inner(&state, &headers, &pairs).await,
        Err(e) => Err(e),
    };
    let mut res = match outcome {
        Ok(res) => {
            crate::metrics::token_outcome(grant_type.as_deref(), "ok");
            res
        }
        Err(e) => {
            let error = token_error(e, basic);
            crate::metrics::token_outcome(grant_type.as_deref(), error.error);
            error.into_response()
        }
    };
    // A fresh nonce with every answer, so that DPoP clients need no extra round trip.
    if let Ok(nonce) = header::HeaderValue::from_str(&state.services.oidc.dpop_nonce()) {
        res.headers_mut().insert("dpop-nonce", nonce);
    }
    cors::allow_client_origin(&state, &headers, client_id.as_deref(), &mut res).await;
    res
}

/// The client a token-endpoint request says it is for, before it authenticates: for the CORS
/// answer only, which the client's registration decides (`cors::allow_client_origin`).
fn claimed_client_id(headers: &HeaderMap, pairs: &[(String, String)]) -> Option<String> {
    let param = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    param("client_id")
        .or_else(|| basic_credentials(headers).ok().flatten().map(|(id, _)| id))
        .or_else(|| param("client_assertion").and_then(|jwt| unverified_issuer(&jwt)))
}

type FormBody = Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>;

/// The form parameters of a token, revocation or introspection request; none may repeat.
fn form_pairs(form: FormBody) -> Result<Vec<(String, String)>, TokenError> {
    let Form(pairs) = form.map_err(|_| {
        TokenError::InvalidRequest("the body must be application/x-www-form-urlencoded")
    })?;
    let pairs = with_values(pairs);
    if !distinct_names(&pairs) {
        return Err(TokenError::InvalidRequest("a parameter appears more than once, or too many"));
    }
    Ok(pairs)
}

/// Authenticates the client of a token, PAR, revocation or introspection request (RFC 6749
/// section 2.3): the Basic header and the form's parameters, judged by core.
async fn authenticated_client(
    state: &AppState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<Client, TokenError> {
    let param = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let request = ClientAuthRequest {
        basic: basic_credentials(headers)?,
        client_id: param("client_id"),
        client_secret: param("client_secret"),
        client_assertion_type: param("client_assertion_type"),
        client_assertion: param("client_assertion"),
    };
    state.services.oidc.authenticate(&request).await
}

async fn token_inner(
    state: &AppState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<Response, TokenError> {
    if dpop_header(headers)?.is_some_and(|proof| state.services.oidc.dpop_nonce_missing(proof)) {
        return Err(TokenError::UseDpopNonce);
    }
    let client = authenticated_client(state, headers, pairs).await?;
    let param = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let response = match param("grant_type") {
        Some("authorization_code") => {
            let code = param("code").ok_or(TokenError::InvalidRequest("code is required"))?;
            let jkt = token_dpop(state, headers, &client).await?;
            state
                .services
                .oidc
                .exchange_code(
                    &client,
                    code,
                    param("redirect_uri"),
                    param("code_verifier"),
                    jkt.as_deref(),
                )
                .await?
        }
        Some("refresh_token") => {
            let refresh = param("refresh_token")
                .ok_or(TokenError::InvalidRequest("refresh_token is required"))?;
            let jkt = token_dpop(state, headers, &client).await?;
            state.services.oidc.refresh(&client, refresh, param("scope"), jkt.as_deref()).await?
        }
        Some("client_credentials") => {
            let jkt = token_dpop(state, headers, &client).await?;
            state.services.oidc.client_credentials(&client, param("scope"), jkt.as_deref())?
        }
        Some(_) => return Err(TokenError::UnsupportedGrantType),
        None => return Err(TokenError::InvalidRequest("grant_type is required")),
    };
    Ok((no_store(), Json(response)).into_response())
}

/// The challenges for a bad token, one `WWW-Authenticate` value per scheme (RFC 6750, RFC 9449).
const BEARER_CHALLENGE: &str = "Bearer realm=\"civpass\", error=\"invalid_token\"";
const DPOP_CHALLENGE: &str = "DPoP algs=\"ES256 RS256 PS256 EdDSA\", error=\"invalid_token\"";

/// Adds the DPoP challenge beside the Bearer one an `OAuthError` carries.
fn with_dpop_challenge(mut res: Response, challenge: &'static str) -> Response {
    res.headers_mut().append(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(challenge));
    res
}

async fn userinfo(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    let (token, scheme_dpop) = match extract::authorization(&headers, "Bearer") {
        Some(token) => (Some(token), false),
        None => (extract::authorization(&headers, "DPoP"), true),
    };
    let Some(token) = token else {
        let mut err = OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "a Bearer or DPoP access token is required",
        );
        // RFC 6750 section 3.1: no error code in the challenge when no credentials were sent.
        err.www_authenticate = Some("Bearer realm=\"civpass\"");
        return with_dpop_challenge(err.into_response(), "DPoP algs=\"ES256 RS256 PS256 EdDSA\"");
    };
    let client_id = headers
        .contains_key(header::ORIGIN)
        .then(|| state.services.oidc.access_token_client(token))
        .flatten();
    let mut res = userinfo_answer(&state, &method, &headers, token, scheme_dpop).await;
    cors::allow_client_origin(&state, &headers, client_id.as_deref(), &mut res).await;
    res
}

async fn userinfo_answer(
    state: &AppState,
    method: &axum::http::Method,
    headers: &HeaderMap,
    token: &str,
    scheme_dpop: bool,
) -> Response {
    let url = endpoints::url(&state.services.settings().issuer, endpoints::USERINFO);
    // Two DPoP headers count as none: a bound token then fails for want of a proof.
    let proof = dpop_header(headers).unwrap_or_default();
    let request = DpopRequest { proof, method: method.as_str(), url: &url };
    let dpop = scheme_dpop.then_some(&request);
    match state.services.oidc.userinfo(token, dpop).await {
        Ok(claims) => (no_store(), Json(claims)).into_response(),
        Err(UserInfoError::InvalidToken) => {
            let mut err = OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid, expired, revoked, or presented with the wrong scheme",
            );
            err.www_authenticate = Some(BEARER_CHALLENGE);
            with_dpop_challenge(err.into_response(), DPOP_CHALLENGE)
        }
        Err(UserInfoError::InvalidDpopProof) => {
            let mut err = OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_dpop_proof",
                "a valid DPoP proof for this request, this token and its key is required",
            );
            err.www_authenticate =
                Some("DPoP algs=\"ES256 RS256 PS256 EdDSA\", error=\"invalid_dpop_proof\"");
            err.into_response()
        }
        Err(UserInfoError::Internal(cause)) => OAuthError::internal(&cause).into_response(),
    }
}

/// The request's one `DPoP` header, as the token endpoints' error.
fn dpop_header(headers: &HeaderMap) -> Result<Option<&str>, TokenError> {
    extract::dpop_header(headers).map_err(TokenError::InvalidDpopProof)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn basic(value: &str) -> Result<Option<(String, String)>, TokenError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        basic_credentials(&headers)
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("c_1%3Ax:s%2Bcret+with+space");
        assert_eq!(
            basic(&format!("Basic {encoded}")),
            Ok(Some(("c_1:x".into(), "s+cret with space".into())))
        );
        assert_eq!(basic("Basic !!!"), Err(TokenError::InvalidClient));
        assert_eq!(
            basic(&format!("Basic {}", STANDARD.encode("no-colon"))),
            Err(TokenError::InvalidClient)
        );
        assert!(matches!(basic("Bearer abc"), Err(TokenError::InvalidRequest(_))));
    }

    #[test]
    fn repeated_authorization_parameters_are_refused() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>()
        };
        let params =
            authorize_params(&pairs(&[("client_id", "c"), ("max_age", "0"), ("x", "y")])).unwrap();
        assert_eq!(
            (params.client_id.as_deref(), params.max_age.as_deref()),
            (Some("c"), Some("0"))
        );
        assert!(authorize_params(&pairs(&[("scope", "a"), ("scope", "b")])).is_none());
        let many: Vec<(String, String)> =
            (0..101).map(|n| (format!("p{n}"), String::new())).collect();
        assert!(authorize_params(&many).is_none(), "at most 100 parameters");
        assert_eq!(unverified_issuer("e30.eyJpc3MiOiJjMSJ9.sig").as_deref(), Some("c1"));
        assert_eq!(unverified_issuer("nonsense"), None);
    }

    proptest! {
        #[test]
        fn authorization_parameters_never_panic(pairs in proptest::collection::vec(("[a-z_]{0,14}", "\\PC{0,40}"), 0..20)) {
            let _ = authorize_params(&pairs);
        }

        #[test]
        fn reading_an_assertions_issuer_never_panics(jwt in "[A-Za-z0-9_.=-]{0,200}") {
            let _ = unverified_issuer(&jwt);
        }

        #[test]
        fn basic_credentials_never_panic(value in "[ -~]{0,200}") {
            let _ = basic(&value);
        }

        #[test]
        fn basic_credentials_never_panic_on_any_decoded_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = basic(&format!("Basic {}", STANDARD.encode(bytes)));
        }
    }
}
