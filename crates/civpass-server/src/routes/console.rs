//! The operator's pages: the self-service kiosk's page at `/kiosk/`, and the counter console
//! at `/counter/`: the registration operator's staff sign in with a
//! passkey (administrators also with a TOTP code), officers register and upgrade citizens at
//! their points, administrators manage staff and points. The page is a static script like the
//! citizen app; its JSON API under `/counter/api/` is authenticated by a `SameSite=Strict`,
//! `HttpOnly` session cookie scoped to `/counter`, and a state-changing request must also come
//! from the issuer's own origin (`Origin`), so another site can neither read nor forge it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use civpass_core::counter::CounterError;
use civpass_core::counter::console::{ConsoleError, ConsoleSession};
use civpass_core::counter::hours::Hours;
use civpass_core::counter::model::{
    ActKind, CardDetails, PointKind, RegistrationPoint, Staff, StaffRole,
};
use civpass_core::counter::{CounterRequest, NewPoint};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::ApiJson;
use crate::limits::{self, Routes};
use crate::routes::device::webauthn_json;

const SHELL: &str = include_str!("../../static/counter/index.html");
const SCRIPT: &str = include_str!("../../static/counter/console.js");
/// A QR decoder for the laptop camera where the browser has no Barcode Detection API (jsQR
/// 1.4.0, Apache-2.0, `static/vendor/jsQR.LICENSE`): decoding images is not civpass's work.
const QR_DECODER: &str = include_str!("../../static/vendor/jsQR.js");
/// The self-service kiosk's page: it signs with the kiosk's own key (`POST /api/v1/kiosk/acts`).
const KIOSK_SHELL: &str = include_str!("../../static/kiosk/index.html");
const KIOSK_SCRIPT: &str = include_str!("../../static/kiosk/kiosk.js");
const COOKIE: &str = "civpass_counter";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Routes::new(state)
        .at("/counter", limits::PUBLIC, get(|| async { Redirect::permanent("/counter/") }))
        .at("/counter/", limits::PUBLIC, get(shell))
        .at("/counter/enrol", limits::PUBLIC, get(shell))
        .at("/counter/admin", limits::PUBLIC, get(shell))
        .at("/counter/console.js", limits::PUBLIC, get(script))
        .at(
            "/counter/jsQR.js",
            limits::PUBLIC,
            get(|| async { page("text/javascript", QR_DECODER) }),
        )
        .at("/kiosk", limits::PUBLIC, get(|| async { Redirect::permanent("/kiosk/") }))
        .at(
            "/kiosk/",
            limits::PUBLIC,
            get(|| async { page("text/html; charset=utf-8", KIOSK_SHELL) }),
        )
        .at(
            "/kiosk/kiosk.js",
            limits::PUBLIC,
            get(|| async { page("text/javascript", KIOSK_SCRIPT) }),
        )
        .at("/counter/api/enrolment", limits::REGISTRATION, post(start_enrolment))
        .at("/counter/api/enrolment/finish", limits::REGISTRATION, post(finish_enrolment))
        .at("/counter/api/sign-in", limits::REGISTRATION, post(start_sign_in))
        .at("/counter/api/sign-in/finish", limits::REGISTRATION, post(finish_sign_in))
        .at("/counter/api/sign-out", limits::DEVICE, post(sign_out))
        .at("/counter/api/session", limits::DEVICE, get(session))
        .at("/counter/api/acts", limits::DEVICE, post(act))
        .at("/counter/api/staff", limits::DEVICE, get(list_staff).post(add_staff))
        .at("/counter/api/staff/{id}/enrolment-link", limits::DEVICE, post(enrolment_link))
        .at("/counter/api/staff/{id}/assign", limits::DEVICE, post(assign))
        .at("/counter/api/staff/{id}/disable", limits::DEVICE, post(disable))
        .at("/counter/api/points", limits::DEVICE, get(list_points).post(add_point))
        .at("/counter/api/points/{id}/hours", limits::DEVICE, post(set_hours))
        .into_router()
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

async fn shell() -> Response {
    page("text/html; charset=utf-8", SHELL)
}

async fn script() -> Response {
    page("text/javascript", SCRIPT)
}

fn console_error(e: ConsoleError) -> ApiError {
    let (status, slug, title) = match &e {
        ConsoleError::EnrolmentLinkInvalid => {
            (StatusCode::GONE, "enrolment-link-invalid", "The enrolment link cannot be used")
        }
        ConsoleError::SignInFailed => (StatusCode::FORBIDDEN, "sign-in-failed", "Sign-in failed"),
        ConsoleError::CeremonyNotFound => {
            (StatusCode::GONE, "challenge-expired", "The challenge has expired or was already used")
        }
        ConsoleError::PasskeyRejected => {
            (StatusCode::FORBIDDEN, "passkey-rejected", "The passkey could not prove itself")
        }
        ConsoleError::PasskeyTaken => {
            (StatusCode::CONFLICT, "passkey-taken", "This passkey is registered already")
        }
        ConsoleError::TotpRequired => {
            (StatusCode::UNAUTHORIZED, "totp-required", "An authenticator code is required")
        }
        ConsoleError::TotpInvalid => {
            (StatusCode::FORBIDDEN, "totp-invalid", "The authenticator code is not accepted")
        }
        ConsoleError::PasskeysUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "passkeys-unavailable",
            "Passkeys need an issuer with a domain name",
        ),
        ConsoleError::Unauthenticated => {
            (StatusCode::UNAUTHORIZED, "unauthenticated", "Sign in to the console")
        }
        ConsoleError::Forbidden => {
            (StatusCode::FORBIDDEN, "forbidden", "Only an administrator may do this")
        }
        ConsoleError::Internal(cause) => return ApiError::internal(cause),
    };
    ApiError::new(status, slug, title).detail(e.to_string())
}

/// The counter's refusals as an officer or administrator is told them.
fn staff_error(e: CounterError) -> ApiError {
    let (status, slug, title) = match &e {
        CounterError::UnknownStaff => {
            (StatusCode::NOT_FOUND, "unknown-staff", "No member of staff has this id")
        }
        CounterError::StaffDisabled => {
            (StatusCode::FORBIDDEN, "staff-disabled", "This member of staff is disabled")
        }
        CounterError::NotAnOfficer => (
            StatusCode::FORBIDDEN,
            "not-an-officer",
            "Only officers and supervisors serve citizens",
        ),
        CounterError::NotAssigned => (
            StatusCode::FORBIDDEN,
            "not-assigned",
            "You are not assigned to this registration point",
        ),
        _ => return crate::routes::counter::counter_error(e),
    };
    ApiError::new(status, slug, title).detail(e.to_string())
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", "The request is not valid")
        .detail(detail)
}

/// A state-changing request must come from a page of the issuer's origin (the Fetch
/// standard's `Origin` header, which browsers send on every POST): with the `Strict` cookie,
/// this stops a request forged by another site, even a same-site one.
fn same_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let issuer = &state.services.settings().issuer;
    let expected = url::Url::parse(issuer).map(|u| u.origin().ascii_serialization()).ok();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, expected) {
        (Some(origin), Some(expected)) if origin == expected => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-origin",
            "The console accepts changes only from its own pages",
        )),
    }
}

fn token(jar: &CookieJar) -> &str {
    jar.get(COOKIE).map(Cookie::value).unwrap_or("")
}

#[derive(Serialize)]
struct StaffView {
    id: String,
    name: String,
    role: &'static str,
    created_at: i64,
    disabled_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    points: Option<Vec<String>>,
}

impl StaffView {
    fn of(staff: Staff, points: Option<Vec<String>>) -> StaffView {
        StaffView {
            id: staff.id,
            name: staff.name,
            role: staff.role.as_str(),
            created_at: staff.created_at,
            disabled_at: staff.disabled_at,
            points,
        }
    }
}

#[derive(Serialize)]
struct PointView {
    id: String,
    kind: &'static str,
    name_en: String,
    name_zh_hant: String,
    name_zh_hans: String,
    district: String,
    hours: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_now: Option<bool>,
}

impl PointView {
    fn of(point: RegistrationPoint, open_now: Option<bool>) -> PointView {
        PointView {
            id: point.id,
            kind: point.kind.as_str(),
            hours: point.hours.to_string(),
            name_en: point.name_en,
            name_zh_hant: point.name_zh_hant,
            name_zh_hans: point.name_zh_hans,
            district: point.district,
            open_now,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolmentRequest {
    token: String,
}

async fn start_enrolment(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EnrolmentRequest>,
) -> Result<Response, ApiError> {
    let start =
        state.services.counter.start_staff_enrolment(&body.token).await.map_err(console_error)?;
    Ok((
        no_store(),
        Json(serde_json::json!({
            "staff": StaffView::of(start.staff, None),
            "ceremony_id": start.challenge.ceremony_id,
            "passkey": start.challenge.options,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishEnrolmentRequest {
    staff_id: String,
    ceremony_id: String,
    credential: serde_json::Value,
}

async fn finish_enrolment(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FinishEnrolmentRequest>,
) -> Result<Response, ApiError> {
    same_origin(&state, &headers)?;
    let credential: RegisterPublicKeyCredential = webauthn_json(body.credential)?;
    let done = state
        .services
        .counter
        .finish_staff_enrolment(&body.staff_id, &body.ceremony_id, &credential)
        .await
        .map_err(console_error)?;
    let totp = done.totp.map(
        |t| serde_json::json!({ "secret": t.secret, "qr": crate::routes::login::qr_data_uri(&t.uri), "uri": t.uri }),
    );
    Ok((
        no_store(),
        Json(serde_json::json!({ "staff": StaffView::of(done.staff, None), "totp": totp })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInRequest {
    staff_id: String,
}

async fn start_sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let start = state
        .services
        .counter
        .start_staff_sign_in(body.staff_id.trim())
        .await
        .map_err(console_error)?;
    Ok((
        no_store(),
        Json(serde_json::json!({
            "ceremony_id": start.challenge.ceremony_id,
            "passkey": start.challenge.options,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishSignInRequest {
    staff_id: String,
    ceremony_id: String,
    credential: serde_json::Value,
    #[serde(default)]
    totp: Option<String>,
}

async fn finish_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<FinishSignInRequest>,
) -> Result<Response, ApiError> {
    same_origin(&state, &headers)?;
    let credential: PublicKeyCredential = webauthn_json(body.credential)?;
    let signed_in = state
        .services
        .counter
        .finish_staff_sign_in(
            body.staff_id.trim(),
            &body.ceremony_id,
            &credential,
            body.totp.as_deref(),
        )
        .await
        .map_err(console_error)?;
    let cookie = Cookie::build((COOKIE, signed_in.token))
        .path("/counter")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(civpass_core::counter::console::STAFF_SESSION_TTL))
        .build();
    Ok((
        jar.add(cookie),
        no_store(),
        Json(serde_json::json!({
            "staff": StaffView::of(signed_in.staff, None),
            "expires_at": signed_in.expires_at,
        })),
    )
        .into_response())
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    same_origin(&state, &headers)?;
    state
        .services
        .counter
        .end_staff_session(token(&jar))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let gone = Cookie::build((COOKIE, "")).path("/counter").build();
    Ok((jar.remove(gone), StatusCode::NO_CONTENT).into_response())
}

async fn session(State(state): State<AppState>, jar: CookieJar) -> Result<Response, ApiError> {
    let session = state.services.counter.staff_session(token(&jar)).await.map_err(console_error)?;
    let points: Vec<PointView> =
        session.points.into_iter().map(|(p, open)| PointView::of(p, Some(open))).collect();
    Ok((
        no_store(),
        Json(serde_json::json!({
            "staff": StaffView::of(session.staff, None),
            "points": points,
            "expires_at": session.expires_at,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActRequest {
    kind: String,
    point_id: String,
    code: String,
    id_number: String,
    name_en: String,
    date_of_birth: String,
}

async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<ActRequest>,
) -> Result<Response, ApiError> {
    same_origin(&state, &headers)?;
    let session = state.services.counter.staff_session(token(&jar)).await.map_err(console_error)?;
    let kind = ActKind::parse(&body.kind)
        .ok_or_else(|| invalid("kind must be register, upgrade or replace_device"))?;
    let report = state
        .services
        .counter
        .act(CounterRequest {
            kind,
            staff_id: &session.staff.id,
            point_id: &body.point_id,
            code: &body.code,
            card: CardDetails {
                id_number: body.id_number,
                name_en: body.name_en,
                date_of_birth: body.date_of_birth,
            },
        })
        .await
        .map_err(staff_error)?;
    Ok((
        no_store(),
        Json(serde_json::json!({
            "act_id": report.act_id,
            "outcome": report.outcome.as_str(),
            "expires_at": report.expires_at,
        })),
    )
        .into_response())
}

// -- Administration -----------------------------------------------------------------------

async fn admin(state: &AppState, jar: &CookieJar) -> Result<ConsoleSession, ApiError> {
    state.services.counter.admin_session(token(jar)).await.map_err(console_error)
}

/// An administrator's change: from the console's own origin, in an administrator's session.
async fn admin_change(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
) -> Result<ConsoleSession, ApiError> {
    same_origin(state, headers)?;
    admin(state, jar).await
}

async fn list_staff(State(state): State<AppState>, jar: CookieJar) -> Result<Response, ApiError> {
    admin(&state, &jar).await?;
    let all = state.services.counter.list_staff().await.map_err(staff_error)?;
    let views: Vec<StaffView> =
        all.into_iter().map(|(s, points)| StaffView::of(s, Some(points))).collect();
    Ok((no_store(), Json(views)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddStaffRequest {
    name: String,
    role: String,
}

async fn add_staff(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<AddStaffRequest>,
) -> Result<Response, ApiError> {
    let session = admin_change(&state, &headers, &jar).await?;
    let role = StaffRole::parse(&body.role)
        .filter(|r| *r != StaffRole::Kiosk)
        .ok_or_else(|| invalid("role must be officer, supervisor or admin"))?;
    let counter = &state.services.counter;
    let staff = counter.add_staff(&body.name, role).await.map_err(staff_error)?;
    tracing::info!(admin_id = %session.staff.id, staff_id = %staff.id, "console: staff added");
    let link = counter.enrolment_link(&staff.id).await.map_err(staff_error)?;
    let url = civpass_core::counter::console::enrolment_url(
        &state.services.settings().issuer,
        &link.token,
    );
    Ok((
        StatusCode::CREATED,
        no_store(),
        Json(serde_json::json!({
            "staff": StaffView::of(staff, None),
            "enrolment_link": url,
            "expires_at": link.expires_at,
        })),
    )
        .into_response())
}

async fn enrolment_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = admin_change(&state, &headers, &jar).await?;
    let link = state.services.counter.enrolment_link(&id).await.map_err(staff_error)?;
    tracing::info!(admin_id = %session.staff.id, staff_id = %id, "console: enrolment link issued");
    let url = civpass_core::counter::console::enrolment_url(
        &state.services.settings().issuer,
        &link.token,
    );
    Ok((
        no_store(),
        Json(serde_json::json!({ "enrolment_link": url, "expires_at": link.expires_at })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    point_id: String,
}

async fn assign(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<Response, ApiError> {
    let session = admin_change(&state, &headers, &jar).await?;
    let added = state.services.counter.assign(&id, &body.point_id).await.map_err(staff_error)?;
    tracing::info!(admin_id = %session.staff.id, staff_id = %id, point_id = %body.point_id, "console: staff assigned");
    Ok((no_store(), Json(serde_json::json!({ "assigned": added }))).into_response())
}

async fn disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = admin_change(&state, &headers, &jar).await?;
    if session.staff.id == id {
        return Err(invalid("an administrator cannot disable themselves"));
    }
    let disabled = state.services.counter.disable_staff(&id).await.map_err(staff_error)?;
    tracing::info!(admin_id = %session.staff.id, staff_id = %id, "console: staff disabled");
    Ok((no_store(), Json(serde_json::json!({ "disabled": disabled }))).into_response())
}

async fn list_points(State(state): State<AppState>, jar: CookieJar) -> Result<Response, ApiError> {
    admin(&state, &jar).await?;
    let all = state.services.counter.list_points().await.map_err(staff_error)?;
    let views: Vec<PointView> = all.into_iter().map(|p| PointView::of(p, None)).collect();
    Ok((no_store(), Json(views)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddPointRequest {
    kind: String,
    name_en: String,
    name_zh_hant: String,
    name_zh_hans: String,
    district: String,
    /// Weekly hours (`mon-fri 09:00-17:30, sat 09:00-12:30`) or, for a mobile team, visits
    /// one per line (`2026-12-01 09:30-16:00 Tai Po Market`).
    hours: String,
}

async fn add_point(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<AddPointRequest>,
) -> Result<Response, ApiError> {
    admin_change(&state, &headers, &jar).await?;
    let kind = PointKind::parse(&body.kind)
        .ok_or_else(|| invalid("kind must be counter, post_office, kiosk or mobile_team"))?;
    let hours = hours_of(kind, &body.hours)?;
    let point = state
        .services
        .counter
        .add_point(NewPoint {
            kind,
            name_en: body.name_en,
            name_zh_hant: body.name_zh_hant,
            name_zh_hans: body.name_zh_hans,
            district: body.district,
            hours,
        })
        .await
        .map_err(staff_error)?;
    Ok((StatusCode::CREATED, no_store(), Json(PointView::of(point, None))).into_response())
}

/// Weekly hours (`mon-fri 09:00-17:30, sat 09:00-12:30`) or, for a mobile team, visits one per
/// line (`2026-12-01 09:30-16:00 Tai Po Market`).
fn hours_of(kind: PointKind, text: &str) -> Result<Hours, ApiError> {
    if kind == PointKind::MobileTeam {
        let visits = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(Hours::parse_visit)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        Ok(Hours::Schedule { visits })
    } else {
        Hours::parse_weekly(text).map_err(invalid)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetHoursRequest {
    hours: String,
}

async fn set_hours(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetHoursRequest>,
) -> Result<Response, ApiError> {
    let session = admin_change(&state, &headers, &jar).await?;
    let counter = &state.services.counter;
    let kind = counter.point(&id).await.map_err(staff_error)?.kind;
    let point =
        counter.set_point_hours(&id, hours_of(kind, &body.hours)?).await.map_err(staff_error)?;
    tracing::info!(admin_id = %session.staff.id, point_id = %id, "console: point hours changed");
    Ok((no_store(), Json(PointView::of(point, None))).into_response())
}
