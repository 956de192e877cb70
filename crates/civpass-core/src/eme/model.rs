//! The e-ME vault's fields: their names (the claims they are released as), what each may hold,
//! and where each value came from.
//!
//! Field names follow OpenID Connect Core section 5.1 where it has one (`phone_number`,
//! `email`, `address`, with `#zh-Hant-HK` for the Chinese form, section 5.2); the rest are
//! civpass claims, documented in docs/EME.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::kernel::clock::UnixTime;
use crate::kernel::text::display_text;

/// Where a field's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The population registry, at registration or a later registry event.
    Registry,
    /// Checked by civpass: `method` says how (`email_link`, `sms_code`).
    Verified { method: String },
    /// Typed by the citizen, unchecked.
    SelfDeclared,
}

impl Source {
    /// `registry`, `verified` or `self_declared`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Registry => "registry",
            Source::Verified { .. } => "verified",
            Source::SelfDeclared => "self_declared",
        }
    }

    pub fn method(&self) -> Option<&str> {
        match self {
            Source::Verified { method } => Some(method),
            _ => None,
        }
    }
}

/// One stored value with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub value: Value,
    pub source: Source,
    /// When the value last changed (Unix seconds).
    pub updated_at: UnixTime,
}

/// The fields a citizen stores, as sealed at rest (JSON, `EmeStore`). Registry fields are not
/// here: they are the account's verified identity, read from its own vault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVault {
    pub fields: BTreeMap<String, Entry>,
}

/// A field of the vault as the citizen and services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEntry {
    pub name: &'static str,
    pub value: Value,
    pub source: Source,
    pub updated_at: UnixTime,
}

/// The whole vault, registry fields first, in the catalogue's order; absent fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vault {
    pub entries: Vec<VaultEntry>,
}

impl Vault {
    pub fn get(&self, name: &str) -> Option<&VaultEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// What a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// From the registry; the citizen cannot change it.
    Registry,
    /// One of a fixed list of codes.
    Choice(&'static [&'static str]),
    /// An E.164 telephone number (`+` and 8 to 15 digits, ITU-T E.164 section 6).
    Phone,
    /// An e-mail address (RFC 5321 section 4.1.2 syntax).
    Email,
    /// A structured Hong Kong address in one language (`address::Language`).
    Address(Language),
    /// Uploaded documents (`eme::documents`): added by upload, never set as text.
    Documents,
}

/// The language an address is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Chinese,
}

/// A field of the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// The claim it is released as.
    pub name: &'static str,
    pub kind: FieldKind,
}

pub const TITLES: &[&str] = &["Mr", "Mrs", "Ms", "Miss", "Dr", "Prof"];
pub const MARITAL_STATUSES: &[&str] = &["single", "married", "divorced", "widowed", "separated"];
pub const EDUCATION_LEVELS: &[&str] =
    &["primary", "secondary", "post_secondary", "bachelor", "master", "doctorate"];

/// Every field, in the order the citizen sees them.
pub const FIELDS: &[FieldDef] = &[
    FieldDef { name: "name", kind: FieldKind::Registry },
    FieldDef { name: "family_name", kind: FieldKind::Registry },
    FieldDef { name: "given_name", kind: FieldKind::Registry },
    FieldDef { name: "name#zh-Hant-HK", kind: FieldKind::Registry },
    FieldDef { name: "hkid", kind: FieldKind::Registry },
    FieldDef { name: "birthdate", kind: FieldKind::Registry },
    FieldDef { name: "gender", kind: FieldKind::Registry },
    FieldDef { name: "title", kind: FieldKind::Choice(TITLES) },
    FieldDef { name: "marital_status", kind: FieldKind::Choice(MARITAL_STATUSES) },
    FieldDef { name: "phone_number", kind: FieldKind::Phone },
    FieldDef { name: "home_phone_number", kind: FieldKind::Phone },
    FieldDef { name: "office_phone_number", kind: FieldKind::Phone },
    FieldDef { name: "email", kind: FieldKind::Email },
    FieldDef { name: "address", kind: FieldKind::Address(Language::English) },
    FieldDef { name: "address#zh-Hant-HK", kind: FieldKind::Address(Language::Chinese) },
    FieldDef { name: "postal_address", kind: FieldKind::Address(Language::English) },
    FieldDef { name: "postal_address#zh-Hant-HK", kind: FieldKind::Address(Language::Chinese) },
    FieldDef { name: "education_level", kind: FieldKind::Choice(EDUCATION_LEVELS) },
    FieldDef { name: "address_proof", kind: FieldKind::Documents },
];

/// A known field.
pub fn field(name: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The parts of a Hong Kong address, in the order an English address is written (smallest
/// first). `formatted` is the free-text form, for an address the parts do not fit.
pub const ADDRESS_PARTS: &[&str] = &[
    "flat",
    "floor",
    "block",
    "building",
    "estate",
    "street_number",
    "street_name",
    "district",
    "region",
    "formatted",
];

/// The longest value of an address part, in characters.
fn part_limit(part: &str) -> usize {
    match part {
        "flat" | "floor" | "block" => 10,
        "street_number" => 16,
        "formatted" => 300,
        _ => 80,
    }
}

/// The eighteen districts with their region, in English and Chinese (the Districts
/// Ordinance, Cap. 547, Schedule 1).
pub const DISTRICTS: &[(&str, &str, usize)] = &[
    ("Central and Western", "中西區", 0),
    ("Wan Chai", "灣仔區", 0),
    ("Eastern", "東區", 0),
    ("Southern", "南區", 0),
    ("Yau Tsim Mong", "油尖旺區", 1),
    ("Sham Shui Po", "深水埗區", 1),
    ("Kowloon City", "九龍城區", 1),
    ("Wong Tai Sin", "黃大仙區", 1),
    ("Kwun Tong", "觀塘區", 1),
    ("Kwai Tsing", "葵青區", 2),
    ("Tsuen Wan", "荃灣區", 2),
    ("Tuen Mun", "屯門區", 2),
    ("Yuen Long", "元朗區", 2),
    ("North", "北區", 2),
    ("Tai Po", "大埔區", 2),
    ("Sha Tin", "沙田區", 2),
    ("Sai Kung", "西貢區", 2),
    ("Islands", "離島區", 2),
];

/// The three regions, in English and Chinese, indexed as `DISTRICTS` names them.
pub const REGIONS: &[(&str, &str)] =
    &[("Hong Kong Island", "香港島"), ("Kowloon", "九龍"), ("New Territories", "新界")];

/// Why a value was refused, for the citizen to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field (or `field.part`) as the citizen named it.
    pub field: String,
    pub message: String,
}

impl FieldProblem {
    fn new(field: &str, message: impl Into<String>) -> FieldProblem {
        FieldProblem { field: field.to_owned(), message: message.into() }
    }
}

/// A telephone number in E.164 form: spaces and hyphens dropped, `+`, a non-zero digit, 8 to
/// 15 digits in all. Hand-written: the syntax is one line, and a numbering-plan library
/// (`phonenumber`) would add metadata for every country to check a shape.
pub fn phone(text: &str) -> Result<String, String> {
    let compact: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
    let digits = compact
        .strip_prefix('+')
        .ok_or("write the number with + and the country code, as +852 9123 4567")?;
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !ok {
        return Err("a telephone number has + and 8 to 15 digits, as +852 9123 4567".into());
    }
    if let Some(local) = digits.strip_prefix("852")
        && local.len() != 8
    {
        return Err("a Hong Kong number has 8 digits after +852".into());
    }
    Ok(compact)
}

/// An e-mail address (`email_address`: RFC 5321 and 5322 syntax), at most 254 characters
/// (RFC 5321 section 4.5.3.1.3), with a dot in its domain, kept as typed but with the domain in
/// lower case.
pub fn email(text: &str) -> Result<String, String> {
    let text = text.trim();
    let message = "an e-mail address looks like name@example.com";
    if text.len() > 254 {
        return Err("an e-mail address has at most 254 characters".into());
    }
    // Nothing that hides or reorders what the citizen and services are shown; the domain in
    // ASCII (an internationalised one in its xn-- form).
    if text.chars().any(crate::kernel::text::is_deceptive)
        || crate::kernel::text::too_many_marks(text)
        || !text.rsplit('@').next().is_some_and(|d| d.is_ascii())
    {
        return Err(message.into());
    }
    let parsed: email_address::EmailAddress = text.parse().map_err(|_| message.to_owned())?;
    let domain = parsed.domain();
    if !domain.contains('.') || domain.starts_with('[') || text.contains(['<', '>', ' ']) {
        return Err(message.into());
    }
    Ok(format!("{}@{}", parsed.local_part(), domain.to_ascii_lowercase()))
}

/// A district's canonical name and its region's index, from its English or Chinese name (the
/// Chinese with or without 區, the English in any case, with or without "District").
fn district(text: &str, language: Language) -> Option<(&'static str, usize)> {
    let wanted = text.trim();
    let english = wanted.trim_end_matches(" District").trim_end_matches(" district");
    DISTRICTS.iter().find_map(|(en, zh, region)| match language {
        Language::English => en.eq_ignore_ascii_case(english).then_some((*en, *region)),
        Language::Chinese => {
            (*zh == wanted || zh.trim_end_matches('區') == wanted).then_some((*zh, *region))
        }
    })
}

fn region(text: &str, language: Language) -> Option<usize> {
    let wanted = text.trim();
    REGIONS.iter().position(|(en, zh)| match language {
        Language::English => en.eq_ignore_ascii_case(wanted),
        Language::Chinese => *zh == wanted,
    })
}

fn region_name(index: usize, language: Language) -> &'static str {
    match language {
        Language::English => REGIONS[index].0,
        Language::Chinese => REGIONS[index].1,
    }
}

/// Sets one part of an address (empty text removes it), checking it: lengths, no deceptive
/// characters, a district of the eighteen, a region that matches the district (filled in from
/// it when absent).
pub fn set_address_part(
    address: &mut Map<String, Value>,
    field_name: &str,
    part: &str,
    text: &str,
    language: Language,
) -> Result<(), FieldProblem> {
    let label = format!("{field_name}.{part}");
    if !ADDRESS_PARTS.contains(&part) {
        return Err(FieldProblem::new(
            &label,
            format!("an address has the parts {}", ADDRESS_PARTS.join(", ")),
        ));
    }
    if text.trim().is_empty() {
        address.remove(part);
        return Ok(());
    }
    let limit = part_limit(part);
    let value = display_text(text, limit).ok_or_else(|| {
        FieldProblem::new(&label, format!("at most {limit} characters of ordinary text"))
    })?;
    match part {
        "district" => {
            let (name, index) = district(&value, language).ok_or_else(|| {
                FieldProblem::new(&label, "not one of Hong Kong's eighteen districts")
            })?;
            if let Some(current) = address.get("region").and_then(Value::as_str)
                && region(current, language) != Some(index)
            {
                address.remove("region");
            }
            address.insert("district".into(), name.into());
            address.entry("region").or_insert_with(|| region_name(index, language).into());
        }
        "region" => {
            let index = region(&value, language).ok_or_else(|| {
                FieldProblem::new(
                    &label,
                    match language {
                        Language::English => "Hong Kong Island, Kowloon or New Territories",
                        Language::Chinese => "香港島、九龍或新界",
                    },
                )
            })?;
            let district_region = address
                .get("district")
                .and_then(Value::as_str)
                .and_then(|d| district(d, language))
                .map(|(_, r)| r);
            if district_region.is_some_and(|r| r != index) {
                return Err(FieldProblem::new(&label, "the district is not in this region"));
            }
            address.insert("region".into(), region_name(index, language).into());
        }
        _ => {
            address.insert(part.into(), value.into());
        }
    }
    Ok(())
}

/// The refusal of a change to a registry field.
pub fn read_only(name: &str) -> FieldProblem {
    FieldProblem::new(
        name,
        "comes from the population registry; it changes only when the registry's record does",
    )
}

/// A whole field's new value, checked and normalised; an address takes its free-text form.
pub fn checked_value(def: &FieldDef, text: &str) -> Result<Value, FieldProblem> {
    let problem = |message: String| FieldProblem::new(def.name, message);
    match def.kind {
        FieldKind::Registry => Err(read_only(def.name)),
        FieldKind::Choice(codes) => codes
            .iter()
            .find(|c| c.eq_ignore_ascii_case(text.trim()))
            .map(|c| Value::from(*c))
            .ok_or_else(|| problem(format!("one of {}", codes.join(", ")))),
        FieldKind::Phone => phone(text).map(Value::from).map_err(problem),
        FieldKind::Documents => Err(problem("upload a PDF, JPEG or PNG file instead".into())),
        FieldKind::Email => email(text).map(Value::from).map_err(problem),
        FieldKind::Address(language) => {
            let mut address = Map::new();
            set_address_part(&mut address, def.name, "formatted", text, language)?;
            Ok(Value::Object(address))
        }
    }
}

/// An address as the OpenID Connect `address` claim (OIDC Core section 5.1.1): `formatted`
/// (the citizen's free text, or the parts joined in the language's order), `street_address`,
/// `locality` (the district), `region` and `country`, with the Hong Kong parts beside them.
pub fn address_claim(parts: &Map<String, Value>, language: Language) -> Value {
    let part = |name: &str| parts.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut claim = parts.clone();
    let street = match language {
        Language::English => {
            let flat = part("flat").map(|f| format!("Flat {f}"));
            let floor = part("floor").map(|f| format!("{f}/F"));
            let block = part("block").map(|b| format!("Block {b}"));
            let street = match (part("street_number"), part("street_name")) {
                (Some(n), Some(s)) => Some(format!("{n} {s}")),
                (None, Some(s)) => Some(s.to_owned()),
                _ => None,
            };
            [
                flat,
                floor,
                block,
                part("building").map(str::to_owned),
                part("estate").map(str::to_owned),
                street,
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        }
        Language::Chinese => {
            let number = part("street_number").map(|n| format!("{n}號"));
            let block = part("block").map(|b| format!("{b}座"));
            let floor = part("floor").map(|f| format!("{f}樓"));
            let flat = part("flat").map(|f| format!("{f}室"));
            [
                part("street_name").map(str::to_owned),
                number,
                part("estate").map(str::to_owned),
                part("building").map(str::to_owned),
                block,
                floor,
                flat,
            ]
            .into_iter()
            .flatten()
            .collect::<String>()
        }
    };
    let country = match language {
        Language::English => "Hong Kong",
        Language::Chinese => "香港",
    };
    if !street.is_empty() {
        claim.insert("street_address".into(), street.clone().into());
    }
    if let Some(district) = part("district") {
        claim.insert("locality".into(), district.into());
    }
    claim.insert("country".into(), country.into());
    if part("formatted").is_none() {
        let formatted = match language {
            Language::English => {
                [Some(street.as_str()), part("district"), part("region"), Some(country)]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
            Language::Chinese => {
                [Some(country), part("region"), part("district"), Some(street.as_str())]
                    .into_iter()
                    .flatten()
                    .collect::<String>()
            }
        };
        claim.insert("formatted".into(), formatted.into());
    }
    Value::Object(claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_kept_in_e164_form() {
        assert_eq!(phone("+852 9123-4567"), Ok("+85291234567".into()));
        assert_eq!(phone("+44 20 7946 0958"), Ok("+442079460958".into()));
        assert!(phone("91234567").is_err(), "no country code");
        assert!(phone("+852 912345").is_err(), "too short for Hong Kong");
        assert!(phone("+0 123 456 789").is_err());
        assert!(phone("+852 9123 456a").is_err());
        assert!(phone("+1234567890123456").is_err(), "16 digits");
    }

    #[test]
    fn e_mail_addresses_are_checked_and_their_domain_lowered() {
        assert_eq!(email(" Chan.Tai-Man@Example.HK "), Ok("Chan.Tai-Man@example.hk".into()));
        for bad in [
            "chan",
            "chan@",
            "@example.com",
            "chan@localhost",
            "a b@example.com",
            "chan@[127.0.0.1]",
            "<chan@example.com>",
            "a\u{202e}gnp.exe@example.com",
            "a\u{200b}b@example.com",
            "chan@例子.hk",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn a_district_fills_its_region_and_a_mismatched_region_is_refused() {
        let mut address = Map::new();
        set_address_part(
            &mut address,
            "address",
            "district",
            "sha tin district",
            Language::English,
        )
        .unwrap();
        assert_eq!(address["district"], "Sha Tin");
        assert_eq!(address["region"], "New Territories");
        let err = set_address_part(&mut address, "address", "region", "Kowloon", Language::English)
            .unwrap_err();
        assert_eq!(err.field, "address.region");
        let mut zh = Map::new();
        set_address_part(&mut zh, "address#zh-Hant-HK", "district", "沙田", Language::Chinese)
            .unwrap();
        assert_eq!(zh["district"], "沙田區");
        assert_eq!(zh["region"], "新界");
        assert!(set_address_part(&mut zh, "x", "district", "Atlantis", Language::Chinese).is_err());
        assert!(set_address_part(&mut zh, "x", "postcode", "1", Language::Chinese).is_err());
        assert!(set_address_part(&mut zh, "x", "flat", "12345678901", Language::Chinese).is_err());
        assert!(
            set_address_part(&mut zh, "x", "building", "a\u{202E}b", Language::Chinese).is_err()
        );
        set_address_part(&mut zh, "x", "district", "", Language::Chinese).unwrap();
        assert!(!zh.contains_key("district"));
    }

    #[test]
    fn an_address_claim_joins_the_parts_in_each_languages_order() {
        let mut en = Map::new();
        for (part, value) in [
            ("flat", "12A"),
            ("floor", "3"),
            ("block", "B"),
            ("building", "Harmony Court"),
            ("street_number", "1"),
            ("street_name", "Tai Po Road"),
            ("district", "Sha Tin"),
        ] {
            set_address_part(&mut en, "address", part, value, Language::English).unwrap();
        }
        let claim = address_claim(&en, Language::English);
        assert_eq!(claim["street_address"], "Flat 12A, 3/F, Block B, Harmony Court, 1 Tai Po Road");
        assert_eq!(
            claim["formatted"],
            "Flat 12A, 3/F, Block B, Harmony Court, 1 Tai Po Road, Sha Tin, New Territories, Hong Kong"
        );
        assert_eq!(claim["locality"], "Sha Tin");
        let mut zh = Map::new();
        for (part, value) in [
            ("flat", "12A"),
            ("floor", "3"),
            ("block", "B"),
            ("building", "和諧閣"),
            ("street_number", "1"),
            ("street_name", "大埔道"),
            ("district", "沙田"),
        ] {
            set_address_part(&mut zh, "address#zh-Hant-HK", part, value, Language::Chinese)
                .unwrap();
        }
        assert_eq!(
            address_claim(&zh, Language::Chinese)["formatted"],
            "香港新界沙田區大埔道1號和諧閣B座3樓12A室"
        );
    }

    #[test]
    fn choices_take_any_case_and_registry_fields_cannot_be_set() {
        assert_eq!(checked_value(field("title").unwrap(), "dr"), Ok(Value::from("Dr")));
        assert!(checked_value(field("title").unwrap(), "Sir").is_err());
        assert!(checked_value(field("hkid").unwrap(), "A123456(3)").is_err());
        assert!(FIELDS.iter().all(|f| f.name.len() <= 32));
    }
}
