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
    // e-ME fields (OIDC Core section 5.4 for email, phone and address; the rest civpass's).
    ScopeDef {
        name: "email",
        personal: true,
        description: "Your e-mail address",
        catalog_key: "scope.email",
        claims: &["email", "email_verified"],
    },
    ScopeDef {
        name: "phone",
        personal: true,
        description: "Your mobile phone number",
        catalog_key: "scope.phone",
        claims: &["phone_number", "phone_number_verified"],
    },
    ScopeDef {
        name: "address",
        personal: true,
        description: "Your residential address",
        catalog_key: "scope.address",
        claims: &["address", "address#zh-Hant-HK"],
    },
    ScopeDef {
        name: "postal_address",
        personal: true,
        description: "Your postal address",
        catalog_key: "scope.postal_address",
        claims: &["postal_address", "postal_address#zh-Hant-HK"],
    },
    ScopeDef {
        name: "other_phones",
        personal: true,
        description: "Your home and office phone numbers",
        catalog_key: "scope.other_phones",
        claims: &["home_phone_number", "office_phone_number"],
    },
    ScopeDef {
        name: "title",
        personal: true,
        description: "Your title (Mr, Ms, Dr…)",
        catalog_key: "scope.title",
        claims: &["title"],
    },
    ScopeDef {
        name: "marital_status",
        personal: true,
        description: "Your marital status",
        catalog_key: "scope.marital_status",
        claims: &["marital_status"],
    },
    ScopeDef {
        name: "address_proof",
        personal: true,
        description: "Your address proof documents (such as a utility bill)",
        catalog_key: "scope.address_proof",
        claims: &["address_proof"],
    },
    ScopeDef {
        name: "education_level",
        personal: true,
        description: "Your education level",
        catalog_key: "scope.education_level",
        claims: &["education_level"],
    },
];

/// The scopes whose claims are the registry-verified identity (identity data a service may
/// also ask for as `verified_claims`); the rest are e-ME fields the citizen keeps.
const REGISTRY_SCOPES: &[&str] = &["profile", "hkid", "birthdate", "gender"];

/// Every claim, each once, in the scopes' order.
pub fn catalogue() -> impl Iterator<Item = ClaimDef> {
    SCOPES.iter().flat_map(|scope| {
        scope.claims.iter().map(move |name| ClaimDef {
            name,
            scope: (scope.name != "openid").then_some(scope.name),
            personal: scope.personal,
            verified: REGISTRY_SCOPES.contains(&scope.name),
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

/// The claims released for approved `scopes`: every claim of each, except that a scope some of
/// whose claims are in `filter` (claims a `claims` request named without the scope itself being
/// asked for, OIDC Core section 5.5) releases only those.
pub fn released(scopes: &[String], filter: &[String]) -> Vec<&'static str> {
    scopes
        .iter()
        .filter_map(|s| scope(s))
        .filter(|s| s.personal)
        .flat_map(|s| {
            let named: Vec<&'static str> =
                s.claims.iter().copied().filter(|c| filter.iter().any(|f| f == c)).collect();
            if named.is_empty() { s.claims.to_vec() } else { named }
        })
        .collect()
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
        assert_eq!(scope_of_claim("email"), Some("email"));
        assert_eq!(scope_of_claim("nickname"), None);
        assert!(is_personal_data("hkid") && !is_personal_data("openid") && !is_personal_data("x"));
        assert_eq!(description_key("gender"), "scope.gender");
        assert_eq!(description_key("nope"), "scope.unknown");
        assert!(SCOPES.iter().all(|s| s.catalog_key == format!("scope.{}", s.name)));
    }
}
