//! The scopes a relying party may ask for, and the claims each releases.

/// A scope a relying party may ask for: what it releases and how the citizen is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: &'static str,
    /// Releases personal data: shown to the citizen, who may refuse it.
    pub personal: bool,
    /// Plain-language English description.
    pub description: &'static str,
    /// The catalog key of the description in the citizen's language (`scope.{name}`).
    pub catalog_key: &'static str,
    /// The claims its consent releases (OIDC Core section 5.4).
    pub claims: &'static [&'static str],
}

/// A claim the platform can release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimDef {
    pub name: &'static str,
    /// The scope whose consent releases it; `None` for `sub`, which every token carries.
    pub scope: Option<&'static str>,
    /// Personal data (sealed at rest, released only with consent).
    pub personal: bool,
    /// Verified against the population registry, rather than declared by the citizen.
    pub verified: bool,
}

/// The scopes, in the order the citizen sees them. The one table of scopes and claims: the
/// functions below, discovery, the consent screens and the claims request read it.
pub const SCOPES: &[ScopeDef] = &[
    ScopeDef {
        name: "openid",
        personal: false,
        description: "Your civpass identifier for this service",
        catalog_key: "scope.openid",
        claims: &["sub"],
    },
    ScopeDef {
        name: "profile",
        personal: true,
        description: "Your name in English and Chinese",
        catalog_key: "scope.profile",
        claims: &["name", "family_name", "given_name", "name#zh-Hant-HK"],
    },
    ScopeDef {
        name: "hkid",
        personal: true,
        description: "Your Hong Kong Identity Card number",
        catalog_key: "scope.hkid",
        claims: &["hkid"],
    },
    ScopeDef {
        name: "birthdate",
        personal: true,
        description: "Your date of birth",
        catalog_key: "scope.birthdate",
        claims: &["birthdate"],
    },
    ScopeDef {
        name: "gender",
        personal: true,
        description: "Your gender",
        catalog_key: "scope.gender",
        claims: &["gender"],
    },
];

/// Every claim, each once, in the scopes' order.
pub fn catalogue() -> impl Iterator<Item = ClaimDef> {
    SCOPES.iter().flat_map(|scope| {
        scope.claims.iter().map(move |name| ClaimDef {
            name,
            scope: (scope.name != "openid").then_some(scope.name),
            personal: scope.personal,
            verified: scope.personal,
        })
    })
}

/// A known scope.
pub fn scope(name: &str) -> Option<&'static ScopeDef> {
    SCOPES.iter().find(|s| s.name == name)
}

/// The names of the scopes we know (discovery's `scopes_supported`).
pub fn supported() -> Vec<&'static str> {
    SCOPES.iter().map(|s| s.name).collect()
}

/// Whether a scope is known.
pub fn is_supported(name: &str) -> bool {
    scope(name).is_some()
}

/// The names of every claim (discovery's `claims_supported`).
pub fn all_claims() -> Vec<&'static str> {
    catalogue().map(|c| c.name).collect()
}

/// Scopes that release personal data; each is shown to the citizen and may be refused.
pub fn is_personal_data(name: &str) -> bool {
    scope(name).is_some_and(|s| s.personal)
}

/// Plain-language English description shown to the citizen.
pub fn describe(name: &str) -> &'static str {
    scope(name).map_or("Unknown data", |s| s.description)
}

/// The scope whose consent releases a claim (OIDC Core section 5.4), for the claims request.
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    catalogue().find(|c| c.name == claim).and_then(|c| c.scope)
}

/// The catalog key of the scope's plain-language description (`scope.{name}`), for the pages
/// and the app to show in the citizen's language.
pub fn description_key(name: &str) -> &'static str {
    scope(name).map_or("scope.unknown", |s| s.catalog_key)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_each_claim_once_with_the_scope_that_releases_it() {
        let names = all_claims();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a claim in two scopes: {names:?}");
        assert_eq!(scope_of_claim("family_name"), Some("profile"));
        assert_eq!(scope_of_claim("sub"), None);
        assert_eq!(scope_of_claim("email"), None);
        assert!(is_personal_data("hkid") && !is_personal_data("openid") && !is_personal_data("x"));
        assert_eq!(description_key("gender"), "scope.gender");
        assert_eq!(description_key("nope"), "scope.unknown");
        assert!(SCOPES.iter().all(|s| s.catalog_key == format!("scope.{}", s.name)));
    }
}
