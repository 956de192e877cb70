//! HTML pages for citizens' browsers (askama templates, escaped by default).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginTemplate {
    pub(crate) client_name: String,
    pub(crate) request_id: String,
    pub(crate) qr_svg: String,
    pub(crate) link: String,
    pub(crate) match_code: String,
    pub(crate) scopes: Vec<&'static str>,
    pub(crate) minutes: i64,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessageTemplate<'a> {
    pub(crate) heading: &'a str,
    pub(crate) body: &'a str,
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            let headers = res.headers_mut();
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => {
            tracing::error!(cause = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub(crate) fn message(status: StatusCode, heading: &str, body: &str) -> Response {
    render(status, &MessageTemplate { heading, body })
}
