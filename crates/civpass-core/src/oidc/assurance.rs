//! Registry-verified identity as OpenID Connect for Identity Assurance 1.0 `verified_claims`
//! (OIDC4IDA section 5; the evidence as the OpenID Identity Assurance Schema Definition 1.0
//! describes it): what was verified, under which trust framework, when, and on what evidence.
//!
//! A service asks for it through the `claims` request parameter (OIDC4IDA section 6); civpass
//! answers with the claims of its request that the registry verified and the citizen released.
//! Scopes keep releasing plain claims, unchanged.

use serde_json::{Map, Value, json};

use crate::identity::evidence::EvidenceRecord;
use crate::identity::in_person::{IN_PERSON_CARD, KIOSK_CARD_FACE_MATCH};

/// civpass's trust framework: identities checked against the population registry, at basic
/// (remote evidence) or plus (in person, or strong remote evidence) assurance. Documented in
/// docs/EME.md.
pub const TRUST_FRAMEWORK: &str = "hk_civpass";

/// The claims civpass can release as verified: the registry's.
pub const VERIFIABLE: &[&str] =
    &["name", "family_name", "given_name", "name#zh-Hant-HK", "hkid", "birthdate", "gender"];

/// The check methods civpass's evidence uses (the Schema Definition's predefined values):
/// `vpip` an officer examined the card in person, `vcrypt` a kiosk read the card's chip,
/// `vri` a vendor examined an image of the card, `bvr` a face matched the card's photograph,
/// `data` the record was checked at the authoritative source (the registry).
pub const CHECK_METHODS: &[&str] = &["vpip", "vcrypt", "vri", "bvr", "data"];

/// What a `verified_claims` request (one object, or an array of them) asks for: the verifiable
/// claims named in its `claims` elements, and whether its trust framework constraint (a
/// `value` or `values`) admits ours. `None` if it is not the structure section 6 describes.
pub(crate) fn parse_request(value: &Value) -> Option<(Vec<String>, bool)> {
    let requests: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut names = Vec::new();
    let mut admitted = false;
    for request in requests {
        let verification = request.get("verification")?.as_object()?;
        let claims = request.get("claims")?.as_object()?;
        if claims.is_empty() || claims.values().any(|c| !(c.is_null() || c.is_object())) {
            return None;
        }
        let framework = verification.get("trust_framework");
        let ours = match framework {
            None | Some(Value::Null) => true,
            Some(Value::Object(constraint)) => {
                match (constraint.get("value"), constraint.get("values")) {
                    (Some(v), _) => v.as_str() == Some(TRUST_FRAMEWORK),
                    (None, Some(Value::Array(vs))) => {
                        vs.iter().any(|v| v.as_str() == Some(TRUST_FRAMEWORK))
                    }
                    (None, None) => true,
                    _ => return None,
                }
            }
            Some(_) => return None,
        };
        if !ours {
            continue;
        }
        admitted = true;
        for name in claims.keys() {
            if VERIFIABLE.contains(&name.as_str()) && !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    Some((names, admitted))
}

/// RFC 3339 date-time in UTC, as the schema's `time` members are written, to the day: the
/// instant of a registration is the same for every service and would link the citizen's
/// pairwise identities (a quasi-identifier).
fn time(seconds: i64) -> Value {
    let day = seconds - seconds.rem_euclid(86_400);
    let at =
        time::OffsetDateTime::from_unix_timestamp(day).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    json!(at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default())
}

/// One identity check as the schema's evidence: the card examined in person, read at a kiosk
/// with a face match, or a vendor's remote document and face check; each rests on the registry
/// record too (`registry_record`).
fn evidence(record: &EvidenceRecord) -> Value {
    let checks: &[&str] = match record.method.as_str() {
        IN_PERSON_CARD => &["vpip"],
        KIOSK_CARD_FACE_MATCH => &["vcrypt", "bvr"],
        _ => &["vri", "bvr"],
    };
    json!({
        "type": "document",
        "check_details": checks.iter().map(|c| json!({"check_method": c})).collect::<Vec<_>>(),
        "time": time(record.verified_at),
        "document_details": {
            "type": "idcard",
            "issuer": {"name": "Immigration Department", "country_code": "HKG"}
        }
    })
}

/// The population registry's record, checked at registration.
fn registry_record(at: i64) -> Value {
    json!({
        "type": "electronic_record",
        "check_details": [{"check_method": "data", "organization": "civpass"}],
        "time": time(at),
        "record": {
            "type": "population_register",
            "source": {"name": "Immigration Department", "country_code": "HKG"}
        }
    })
}

/// The `verified_claims` element for `claims` (values of verifiable claims), resting on the
/// account's identity checks (oldest first) at assurance level `tier` (`basic` or `plus`).
pub(crate) fn verified_claims(
    claims: Map<String, Value>,
    checks: &[EvidenceRecord],
    tier: &str,
) -> Value {
    let newest = checks.iter().map(|c| c.verified_at).max().unwrap_or(0);
    let first = checks.iter().map(|c| c.verified_at).min().unwrap_or(0);
    let mut evidence: Vec<Value> = vec![registry_record(first)];
    evidence.extend(checks.iter().map(self::evidence));
    json!({
        "verification": {
            "trust_framework": TRUST_FRAMEWORK,
            "assurance_level": tier,
            "time": time(newest),
            "evidence": evidence,
        },
        "claims": claims,
    })
}

/// The discovery members of OIDC4IDA section 8.
pub(crate) fn discovery(metadata: &mut Map<String, Value>) {
    metadata.insert("verified_claims_supported".into(), json!(true));
    metadata.insert("trust_frameworks_supported".into(), json!([TRUST_FRAMEWORK]));
    metadata.insert("evidence_supported".into(), json!(["document", "electronic_record"]));
    metadata.insert("documents_supported".into(), json!(["idcard"]));
    metadata.insert("documents_check_methods_supported".into(), json!(CHECK_METHODS));
    metadata.insert("electronic_records_supported".into(), json!(["population_register"]));
    metadata.insert("claims_in_verified_claims_supported".into(), json!(VERIFIABLE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_verifiable_claims_and_may_constrain_the_framework() {
        let request = json!({"verification": {"trust_framework": null}, "claims": {"given_name": null, "email": null, "birthdate": {"essential": true}}});
        assert_eq!(
            parse_request(&request),
            Some((vec!["birthdate".into(), "given_name".into()], true))
        );
        let other = json!([{"verification": {"trust_framework": {"value": "eidas"}}, "claims": {"given_name": null}}]);
        assert_eq!(parse_request(&other), Some((vec![], false)));
        let ours = json!({"verification": {"trust_framework": {"values": ["eidas", "hk_civpass"]}}, "claims": {"hkid": null}});
        assert_eq!(parse_request(&ours), Some((vec!["hkid".into()], true)));
        for bad in [
            json!({"claims": {"a": null}}),
            json!({"verification": {}, "claims": {}}),
            json!({"verification": {}, "claims": {"a": 1}}),
            json!("x"),
            json!({"verification": {"trust_framework": 3}, "claims": {"a": null}}),
        ] {
            assert_eq!(parse_request(&bad), None, "{bad}");
        }
    }
}
