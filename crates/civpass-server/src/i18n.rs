//! Languages of citizen-facing pages: English, Traditional Chinese (Hong Kong) and Simplified
//! Chinese. One catalog per language (`i18n/*.json`, compiled in) serves both the server's pages
//! and the app, which fetches the same files.
//!
//! The choice, strongest first: the citizen's own choice (`?lang=`, kept in the `civpass_lang`
//! cookie), the service's `ui_locales`, the browser's `Accept-Language`, then English.
//! Accept-Language is parsed by hand: the crates for it do not map `zh-TW`/`zh-Hant` to
//! Traditional and `zh-SG`/`zh-Hans` to Simplified, which is the whole point here.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::{HeaderMap, header};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

pub(crate) const LANG_COOKIE: &str = "civpass_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    ZhHk,
    ZhCn,
}

impl Lang {
    pub(crate) const ALL: [Lang; 3] = [Lang::En, Lang::ZhHk, Lang::ZhCn];

    /// The BCP 47 tag, as in `<html lang>` and the catalog's file name.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhHk => "zh-HK",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// Maps a language tag to the nearest language we have, if any.
    pub(crate) fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        let mut parts = tag.split('-');
        match parts.next()? {
            "en" => Some(Lang::En),
            // Cantonese is written in Traditional characters in Hong Kong.
            "yue" => Some(Lang::ZhHk),
            "zh" => {
                let rest: Vec<&str> = parts.collect();
                if rest.iter().any(|p| matches!(*p, "hans" | "cn" | "sg" | "my")) {
                    Some(Lang::ZhCn)
                } else {
                    // zh, zh-HK, zh-MO, zh-TW, zh-Hant: Traditional, as a Hong Kong service
                    // would default.
                    Some(Lang::ZhHk)
                }
            }
            _ => None,
        }
    }

    pub(crate) fn catalog(self) -> &'static Catalog {
        &CATALOGS[self as usize]
    }

    pub(crate) fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../i18n/en.json"),
            Lang::ZhHk => include_str!("../i18n/zh-HK.json"),
            Lang::ZhCn => include_str!("../i18n/zh-CN.json"),
        }
    }

    /// The language for a request: explicit choice, then `ui_locales`, then Accept-Language.
    pub(crate) fn choose(
        explicit: Option<&str>,
        jar: &CookieJar,
        ui_locales: Option<&str>,
        headers: &HeaderMap,
    ) -> Lang {
        explicit
            .and_then(Lang::from_tag)
            .or_else(|| jar.get(LANG_COOKIE).and_then(|c| Lang::from_tag(c.value())))
            .or_else(|| ui_locales.and_then(|l| l.split(' ').find_map(Lang::from_tag)))
            .or_else(|| {
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(from_accept_language)
            })
            .unwrap_or(Lang::En)
    }
}

/// Keeps an explicit, valid `?lang=` choice in the language cookie (a preference, not a secret:
/// the app's script reads and writes it too, so it is not HttpOnly).
pub(crate) fn remember_choice(jar: CookieJar, explicit: Option<&str>, secure: bool) -> CookieJar {
    match explicit.and_then(Lang::from_tag) {
        Some(lang) => jar.add(
            Cookie::build((LANG_COOKIE, lang.tag()))
                .path("/")
                .secure(secure)
                .same_site(SameSite::Lax)
                .max_age(time::Duration::days(365))
                .build(),
        ),
        None => jar,
    }
}

/// The most preferred language we have from an `Accept-Language` value (RFC 9110 section
/// 12.5.4); entries with `q=0` are refused, malformed ones skipped.
pub(crate) fn from_accept_language(value: &str) -> Option<Lang> {
    let mut ranked: Vec<(u16, usize, Lang)> = Vec::new();
    for (index, item) in value.split(',').take(32).enumerate() {
        let mut fields = item.split(';');
        let Some(lang) = fields.next().and_then(Lang::from_tag) else { continue };
        let mut weight = 1000;
        for param in fields {
            if let Some(q) = param.trim().strip_prefix("q=") {
                weight = parse_q(q).unwrap_or(0);
            }
        }
        if weight > 0 {
            ranked.push((weight, index, lang));
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|r| r.2)
}

/// A quality value in thousandths: `0`, `0.5`, `1.000`.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    for (i, digit) in fraction.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    (thousandths <= 1000).then_some(thousandths)
}

pub(crate) struct Catalog {
    lang: Lang,
    texts: HashMap<String, String>,
}

static CATALOGS: LazyLock<[Catalog; 3]> = LazyLock::new(|| Lang::ALL.map(Catalog::load));

impl Catalog {
    fn load(lang: Lang) -> Catalog {
        // The catalogs are compiled in and checked by a unit test, so a broken one cannot ship;
        // should one ever fail to parse, English keys show instead of a crash.
        let texts = serde_json::from_str(lang.source()).unwrap_or_default();
        Catalog { lang, texts }
    }

    pub(crate) fn lang(&self) -> Lang {
        self.lang
    }

    /// The text for `key`, falling back to English, then to the key itself.
    pub(crate) fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.texts
            .get(key)
            .or_else(|| CATALOGS[Lang::En as usize].texts.get(key))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// The text for `key`, in English if this language lacks it; `None` if no catalog has it.
    pub(crate) fn lookup(&self, key: &str) -> Option<&str> {
        self.texts
            .get(key)
            .or_else(|| CATALOGS[Lang::En as usize].texts.get(key))
            .map(String::as_str)
    }

    /// The text for `key` with `{name}` placeholders filled in.
    pub(crate) fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.get(key).to_owned();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_catalog_has_every_key_and_the_same_placeholders() {
        let english: HashMap<String, String> = serde_json::from_str(Lang::En.source()).unwrap();
        for lang in [Lang::ZhHk, Lang::ZhCn] {
            let other: HashMap<String, String> = serde_json::from_str(lang.source())
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", lang.tag()));
            let mut missing: Vec<_> = english.keys().filter(|k| !other.contains_key(*k)).collect();
            missing.sort();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
            let extra: Vec<_> = other.keys().filter(|k| !english.contains_key(*k)).collect();
            assert!(extra.is_empty(), "{} has unknown keys {extra:?}", lang.tag());
            for (key, text) in &english {
                for placeholder in text.split('{').skip(1).filter_map(|p| p.split_once('}')) {
                    let wanted = format!("{{{}}}", placeholder.0);
                    assert!(other[key].contains(&wanted), "{} {key} lacks {wanted}", lang.tag());
                }
            }
        }
    }

    #[test]
    fn tags_map_to_the_nearest_language() {
        for (tag, lang) in [
            ("en", Some(Lang::En)),
            ("en-GB", Some(Lang::En)),
            ("zh-HK", Some(Lang::ZhHk)),
            ("zh-Hant-TW", Some(Lang::ZhHk)),
            ("zh", Some(Lang::ZhHk)),
            ("yue", Some(Lang::ZhHk)),
            ("zh-CN", Some(Lang::ZhCn)),
            ("zh-Hans-HK", Some(Lang::ZhCn)),
            ("ZH_sg", Some(Lang::ZhCn)),
            ("fr", None),
            ("", None),
        ] {
            assert_eq!(Lang::from_tag(tag), lang, "{tag}");
        }
    }

    #[test]
    fn accept_language_follows_quality_then_order() {
        assert_eq!(from_accept_language("fr-FR, zh-CN;q=0.8, en;q=0.9"), Some(Lang::En));
        assert_eq!(from_accept_language("zh-TW,zh;q=0.9,en-US;q=0.8"), Some(Lang::ZhHk));
        assert_eq!(from_accept_language("en;q=0, zh-CN;q=0.1"), Some(Lang::ZhCn));
        assert_eq!(from_accept_language("fr, de;q=0.5"), None);
        assert_eq!(from_accept_language("en;q=2, zh-HK"), Some(Lang::ZhHk));
        assert_eq!(from_accept_language("*"), None);
    }

    #[test]
    fn fill_replaces_placeholders() {
        let text = Lang::En.catalog().fill("login.heading", &[("service", "Tax <Office>")]);
        assert_eq!(text, "Log in to Tax <Office>");
        assert_eq!(Lang::ZhHk.catalog().get("no.such.key"), "no.such.key");
    }

    proptest! {
        #[test]
        fn accept_language_never_panics(value in "\\PC{0,300}") {
            let _ = from_accept_language(&value);
        }

        #[test]
        fn language_tags_never_panic(value in "\\PC{0,50}") {
            let _ = Lang::from_tag(&value);
        }
    }
}
