//! The scopes a relying party may ask for, and the claims each releases.

/// Scopes we know, in the order the citizen sees them.
pub const SUPPORTED: &[&str] = &["openid", "profile", "hkid", "birthdate", "gender"];

/// Scopes that release personal data; each is shown to the citizen and may be refused.
pub fn is_personal_data(scope: &str) -> bool {
    matches!(scope, "profile" | "hkid" | "birthdate" | "gender")
}

pub const ALL_CLAIMS: &[&str] =
    &["sub", "name", "family_name", "given_name", "name#zh-Hant-HK", "hkid", "birthdate", "gender"];

/// Plain-language English description shown to the citizen.
pub fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "Your civpass identifier for this service",
        "profile" => "Your name in English and Chinese",
        "hkid" => "Your Hong Kong Identity Card number",
        "birthdate" => "Your date of birth",
        "gender" => "Your gender",
        _ => "Unknown data",
    }
}

/// The scope whose consent releases a claim (OIDC Core section 5.4), for the claims request.
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    match claim {
        "name" | "family_name" | "given_name" | "name#zh-Hant-HK" => Some("profile"),
        "hkid" => Some("hkid"),
        "birthdate" => Some("birthdate"),
        "gender" => Some("gender"),
        _ => None,
    }
}

/// The catalog key of the scope's plain-language description (`scope.{name}`), for the pages
/// and the app to show in the citizen's language.
pub fn description_key(scope: &str) -> &'static str {
    match scope {
        "openid" => "scope.openid",
        "profile" => "scope.profile",
        "hkid" => "scope.hkid",
        "birthdate" => "scope.birthdate",
        "gender" => "scope.gender",
        _ => "scope.unknown",
    }
}

/// Splits a space-separated scope string, dropping duplicates and keeping the first order.
pub fn parse_list(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in text.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    out
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}
