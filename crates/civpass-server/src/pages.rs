//! HTML pages for citizens' browsers (askama templates, escaped by default), in the citizen's
//! language.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use civpass_core::kernel::Internal;

use crate::i18n::{Catalog, Lang};

/// Who runs this platform, as every page shows it: the name, and where the privacy notice and
/// help are (`None`: the built-in pages at `/privacy` and `/help`).
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub privacy_url: Option<String>,
    pub help_url: Option<String>,
}

impl Default for Operator {
    fn default() -> Operator {
        Operator { name: "civpass".to_owned(), privacy_url: None, help_url: None }
    }
}

/// What every page needs: its language, the links that switch to the others, and the
/// operator's name, privacy notice and help.
pub(crate) struct Chrome {
    pub(crate) t: &'static Catalog,
    pub(crate) languages: Vec<LanguageLink>,
    pub(crate) operated_by: String,
    pub(crate) privacy_href: String,
    pub(crate) help_href: String,
}

pub(crate) struct LanguageLink {
    pub(crate) tag: &'static str,
    pub(crate) name: &'static str,
    pub(crate) href: String,
    pub(crate) current: bool,
}

impl Chrome {
    /// For a page in `lang` at `uri`: each switch link is the same URI with `lang` replaced.
    pub(crate) fn new(lang: Lang, uri: &Uri, operator: &Operator) -> Chrome {
        let kept: Vec<(String, String)> =
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .filter(|(k, _)| k != "lang")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let languages = Lang::ALL
            .iter()
            .map(|&other| {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&kept)
                    .append_pair("lang", other.tag())
                    .finish();
                LanguageLink {
                    tag: other.tag(),
                    name: other.catalog().get("lang.name"),
                    href: format!("{}?{query}", uri.path()),
                    current: other == lang,
                }
            })
            .collect();
        let t = lang.catalog();
        // The built-in pages keep the page's language; an operator's own pages choose theirs.
        let built_in = |path: &str| format!("{path}?lang={}", lang.tag());
        Chrome {
            t,
            languages,
            operated_by: t.fill("footer.operated_by", &[("operator", &operator.name)]),
            privacy_href: operator.privacy_url.clone().unwrap_or_else(|| built_in("/privacy")),
            help_href: operator.help_url.clone().unwrap_or_else(|| built_in("/help")),
        }
    }

    pub(crate) fn lang(&self) -> &'static str {
        self.t.lang().tag()
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginTemplate {
    pub(crate) chrome: Chrome,
    pub(crate) title: String,
    pub(crate) heading: String,
    pub(crate) asks_for: String,
    pub(crate) waiting: String,
    pub(crate) request_id: String,
    pub(crate) qr_svg: String,
    pub(crate) link: String,
    pub(crate) match_code: String,
    pub(crate) scopes: Vec<&'static str>,
}

/// A page of prose: a heading and paragraphs (the built-in privacy notice and help).
#[derive(Template)]
#[template(path = "info.html")]
pub(crate) struct InfoTemplate {
    pub(crate) chrome: Chrome,
    pub(crate) heading: &'static str,
    pub(crate) intro: String,
    pub(crate) sections: Vec<(&'static str, &'static str)>,
    /// (text, href)
    pub(crate) links: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessageTemplate {
    pub(crate) chrome: Chrome,
    pub(crate) heading: String,
    pub(crate) body: String,
    /// Technical detail for the service's developers, e.g. which parameter was wrong.
    pub(crate) detail: Option<String>,
}

/// The logout confirmation: a form whose answer redirects to the service's post-logout URI.
#[derive(Template)]
#[template(path = "logout.html")]
pub(crate) struct LogoutTemplate {
    pub(crate) chrome: Chrome,
    pub(crate) heading: String,
    pub(crate) body: String,
    pub(crate) confirm: String,
    pub(crate) stay: String,
    /// The logout request's parameters, posted back as they came.
    pub(crate) fields: Vec<(&'static str, String)>,
    pub(crate) csrf: String,
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    render_with_form_targets(status, template, None)
}

/// Like `render`, with one more origin a form on the page may end up at: browsers apply
/// `form-action` to the redirects that follow a form's submission too (CSP Level 3, 6.4.1).
pub(crate) fn render_with_form_targets(
    status: StatusCode,
    template: &impl Template,
    also: Option<&str>,
) -> Response {
    // Only a plain origin (`scheme://host[:port]`) or scheme (`com.example.app:`) may join the
    // policy: anything else could add directives of its own.
    let also = also.filter(|origin| {
        let scheme_ok = |scheme: &str| {
            !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
        };
        match origin.split_once("://") {
            Some((scheme, host_port)) => {
                scheme_ok(scheme)
                    && !host_port.is_empty()
                    && host_port.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            }
            // A native app's reverse-domain scheme (RFC 8252 section 7.1), never `https:`.
            None => origin
                .strip_suffix(':')
                .is_some_and(|scheme| scheme_ok(scheme) && scheme.contains('.')),
        }
    });
    let csp = match also {
        Some(origin) => HeaderValue::from_str(
            &CSP.replace("form-action 'self'", &format!("form-action 'self' {origin}")),
        )
        .unwrap_or(HeaderValue::from_static(CSP)),
        None => HeaderValue::from_static(CSP),
    };
    match template.render() {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            let headers = res.headers_mut();
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::VARY, HeaderValue::from_static("Accept-Language, Cookie"));
            res
        }
        Err(e) => {
            tracing::error!(cause = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page with a heading and a sentence, both catalog keys (`{key}.heading`, `{key}.body`
/// unless `body` names another key).
pub(crate) fn message(
    chrome: Chrome,
    status: StatusCode,
    key: &str,
    body: Option<&str>,
    detail: Option<String>,
) -> Response {
    let t = chrome.t;
    let heading = t.get(&format!("page.{key}.heading")).to_owned();
    let body = t.get(&format!("page.{}.body", body.unwrap_or(key))).to_owned();
    let detail = detail.map(|d| t.fill("page.detail", &[("detail", &d)]));
    render(status, &MessageTemplate { chrome, heading, body, detail })
}

/// The page for an internal failure, logged once here with its cause chain: "something went
/// wrong" (500), or, when retrying may succeed, "the service is busy" (503, `Retry-After`).
pub(crate) fn internal(chrome: Chrome, cause: &Internal) -> Response {
    match crate::error::log_internal(cause) {
        Some(seconds) => {
            let mut res =
                message(chrome, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None, None);
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            res
        }
        None => message(chrome, StatusCode::INTERNAL_SERVER_ERROR, "internal", None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Template)]
    #[template(source = "ok", ext = "txt")]
    struct Plain;

    fn form_action(also: &str) -> String {
        let res = render_with_form_targets(StatusCode::OK, &Plain, Some(also));
        let csp = res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        csp.split(';').find(|d| d.trim().starts_with("form-action")).unwrap().trim().to_owned()
    }

    #[test]
    fn only_plain_origins_join_the_form_action_policy() {
        assert_eq!(form_action("https://rp.example"), "form-action 'self' https://rp.example");
        assert_eq!(
            form_action("http://127.0.0.1:9000"),
            "form-action 'self' http://127.0.0.1:9000"
        );
        assert_eq!(form_action("com.example.app:"), "form-action 'self' com.example.app:");
        for hostile in [
            "https://x.example;sandbox;a.example",
            "https://x.example 'unsafe-inline'",
            "https://x.example/path",
            "https:",
            "",
        ] {
            assert_eq!(form_action(hostile), "form-action 'self'", "{hostile}");
        }
    }
}
