//! Verifying JWTs that others signed (client assertions now; request objects and DPoP proofs
//! build on it) against their JWK Set, with `jsonwebtoken`.
//!
//! Only asymmetric algorithms are accepted, and only those we list: `none` and the HMAC family
//! are refused before any key is touched, which rules out algorithm confusion (a public key
//! used as an HMAC secret). Claims are returned unvalidated: the caller knows which ones matter.

pub use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::CryptoError;

/// The signature algorithms we accept from others.
pub const ACCEPTED: &[&str] = &["ES256", "RS256", "PS256", "EdDSA"];

/// A verified JWT: its header's `typ` and its claims.
#[derive(Debug, Clone)]
pub struct Verified {
    pub typ: Option<String>,
    pub claims: serde_json::Value,
}

/// Parses a JWK Set, refusing sets without a usable public signing key.
pub fn parse_jwks(text: &str) -> Result<JwkSet, CryptoError> {
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|_| CryptoError::InvalidKey)?;
    // A private key (`d`) in a published set means the client leaked it: refuse the set.
    let keys = raw.get("keys").and_then(|k| k.as_array()).ok_or(CryptoError::InvalidKey)?;
    if keys.iter().any(|k| k.get("d").is_some()) {
        return Err(CryptoError::InvalidKey);
    }
    let set: JwkSet = serde_json::from_value(raw).map_err(|_| CryptoError::InvalidKey)?;
    let usable =
        set.keys.iter().filter(|k| DecodingKey::from_jwk(k).is_ok() && is_public(k)).count();
    if usable == 0 {
        return Err(CryptoError::InvalidKey);
    }
    Ok(set)
}

/// Symmetric keys have no place in a client's public JWK Set.
fn is_public(jwk: &Jwk) -> bool {
    !matches!(&jwk.algorithm, AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_))
}

fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let family_fits = matches!(
        (&jwk.algorithm, alg),
        (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256)
            | (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::PS256)
            | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
    );
    let declared = jwk.common.key_algorithm.map(|a| format!("{a:?}"));
    family_fits && declared.is_none_or(|d| d == format!("{alg:?}"))
}

/// Verifies `token`'s signature with the key of `jwks` its header names (or, without a `kid`,
/// any key that fits its algorithm) and returns its claims, unvalidated.
pub fn verify_with_jwks(token: &str, jwks: &JwkSet) -> Result<Verified, CryptoError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| CryptoError::Malformed)?;
    let alg = header.alg;
    if !ACCEPTED.contains(&format!("{alg:?}").as_str()) {
        return Err(CryptoError::UnsupportedAlgorithm);
    }
    let candidates: Vec<&Jwk> = match &header.kid {
        Some(kid) => jwks.find(kid).into_iter().collect(),
        None => jwks.keys.iter().collect(),
    };
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    for jwk in candidates.into_iter().filter(|k| fits(k, alg) && is_public(k)) {
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        if let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation) {
            return Ok(Verified { typ: header.typ.clone(), claims: data.claims });
        }
    }
    Err(CryptoError::BadSignature)
}

/// A DPoP proof whose signature verifies with the key in its own header (RFC 9449 section 4.3,
/// checks 1 to 6 and 8); the caller checks the claims.
#[derive(Debug, Clone)]
pub struct DpopProof {
    /// The RFC 7638 thumbprint of the proof's public key, which tokens are bound to.
    pub jkt: String,
    pub claims: serde_json::Value,
}

pub fn verify_dpop_proof(proof: &str) -> Result<DpopProof, CryptoError> {
    let header = jsonwebtoken::decode_header(proof).map_err(|_| CryptoError::Malformed)?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(CryptoError::Malformed);
    }
    let alg = header.alg;
    if !ACCEPTED.contains(&format!("{alg:?}").as_str()) {
        return Err(CryptoError::UnsupportedAlgorithm);
    }
    let jwk = header.jwk.ok_or(CryptoError::Malformed)?;
    // The header must carry a public key: a private one (`d`) would mean the client leaked it.
    let raw = serde_json::to_value(&jwk).map_err(|_| CryptoError::Malformed)?;
    let raw_header = proof.split('.').next().and_then(crate::secret::b64url_decode);
    let has_private = raw_header
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| h.get("jwk").and_then(|k| k.get("d")).is_some());
    if has_private || !is_public(&jwk) || !fits(&jwk, alg) {
        return Err(CryptoError::InvalidKey);
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| CryptoError::InvalidKey)?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(proof, &key, &validation)
        .map_err(|_| CryptoError::BadSignature)?;
    let jkt = crate::jws::jwk_thumbprint(&raw).ok_or(CryptoError::InvalidKey)?;
    Ok(DpopProof { jkt, claims: data.claims })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::jws::{Algorithm as Ours, SigningKey};

    fn key_and_set(alg: Ours) -> (SigningKey, JwkSet) {
        let (key, _) = SigningKey::generate(alg).unwrap();
        let set = parse_jwks(&json!({"keys": [key.public_jwk()]}).to_string()).unwrap();
        (key, set)
    }

    #[test]
    fn a_token_signed_by_a_key_of_the_set_verifies() {
        // Our own signatures, checked by jsonwebtoken: each algorithm interoperates.
        for alg in [Ours::ES256, Ours::RS256, Ours::PS256, Ours::EdDSA] {
            let (key, set) = key_and_set(alg);
            let token = key.sign("JWT", &json!({"iss": "c1", "jti": "1"})).unwrap();
            let verified = verify_with_jwks(&token, &set).unwrap();
            assert_eq!(verified.claims["iss"], "c1");
            let (_, other_set) = key_and_set(alg);
            assert_eq!(
                verify_with_jwks(&token, &other_set).unwrap_err(),
                CryptoError::BadSignature
            );
        }
    }

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_tried() {
        let (key, set) = key_and_set(Ours::RS256);
        let token = key.sign("JWT", &json!({"iss": "c1"})).unwrap();
        let (_, payload_sig) = token.split_once('.').unwrap();
        let (payload, _) = payload_sig.split_once('.').unwrap();
        let none = format!("{}.{payload}.", B64.encode(r#"{"alg":"none"}"#));
        assert!(verify_with_jwks(&none, &set).is_err());
        // HS256 "signed" with the RSA public key's bytes: the classic algorithm confusion.
        let hs = format!("{}.{payload}.c2ln", B64.encode(r#"{"alg":"HS256"}"#));
        assert_eq!(verify_with_jwks(&hs, &set).unwrap_err(), CryptoError::UnsupportedAlgorithm);
    }

    #[test]
    fn sets_without_a_public_signing_key_are_refused() {
        assert!(parse_jwks(r#"{"keys": []}"#).is_err());
        assert!(parse_jwks(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).is_err());
        assert!(parse_jwks("not json").is_err());
        let (key, _) = SigningKey::generate(Ours::ES256).unwrap();
        let mut private = key.public_jwk().clone();
        private["d"] = json!("AAAA");
        assert!(parse_jwks(&json!({"keys": [private]}).to_string()).is_err());
    }

    #[test]
    fn a_dpop_proof_is_verified_with_its_own_header_key() {
        let (key, _) = SigningKey::generate(Ours::ES256).unwrap();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk()});
        let proof = sign_with_header(&key, &header, &json!({"htm": "POST", "jti": "1"}));
        let verified = verify_dpop_proof(&proof).unwrap();
        assert_eq!(verified.jkt, key.kid(), "the key id is the thumbprint");
        assert_eq!(verified.claims["htm"], "POST");
        let wrong_typ = sign_with_header(
            &key,
            &json!({"typ": "JWT", "alg": "ES256", "jwk": key.public_jwk()}),
            &json!({}),
        );
        assert!(verify_dpop_proof(&wrong_typ).is_err());
        let (other, _) = SigningKey::generate(Ours::ES256).unwrap();
        let foreign = sign_with_header(&other, &header, &json!({}));
        assert_eq!(verify_dpop_proof(&foreign).unwrap_err(), CryptoError::BadSignature);
    }

    /// Signs with an arbitrary header, as a DPoP client does.
    fn sign_with_header(
        key: &SigningKey,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> String {
        let token = key.sign("x", claims).unwrap();
        let (_, rest) = token.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();
        let input = format!("{}.{payload}", B64.encode(header.to_string()));
        let sig = key.sign_raw(input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    /// Arbitrary JSON, a few levels deep: what a forger can put in a header or a payload.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "\\PC{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// JOSE headers with the fields verification looks at, each well-formed or not.
    fn header() -> impl Strategy<Value = serde_json::Value> {
        let alg = prop_oneof![
            Just("ES256".to_owned()),
            Just("RS256".to_owned()),
            Just("EdDSA".to_owned()),
            Just("HS256".to_owned()),
            Just("none".to_owned()),
            "\\PC{0,8}",
        ];
        let typ = prop_oneof![Just("dpop+jwt".to_owned()), Just("JWT".to_owned()), "\\PC{0,8}"];
        (alg, typ, prop::option::of(json_value()), prop::option::of("\\PC{0,12}")).prop_map(
            |(alg, typ, jwk, kid)| {
                let mut header = json!({"alg": alg, "typ": typ});
                if let Some(jwk) = jwk {
                    header["jwk"] = jwk;
                }
                if let Some(kid) = kid {
                    header["kid"] = json!(kid);
                }
                header
            },
        )
    }

    proptest! {
        /// Well-formed base64url JSON with arbitrary fields reaches the header, claim and key
        /// parsing that random text never does; nothing unsigned by a known key verifies.
        #[test]
        fn structured_forgeries_are_refused(
            header in header(),
            claims in json_value(),
            signature in prop::collection::vec(any::<u8>(), 0..80),
        ) {
            let token = format!(
                "{}.{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims.to_string()),
                B64.encode(signature)
            );
            prop_assert!(verify_dpop_proof(&token).is_err());
            let (_, set) = key_and_set(Ours::ES256);
            prop_assert!(verify_with_jwks(&token, &set).is_err());
        }

        /// Properly signed proofs with any type, any claims, and a key that may be altered:
        /// no panic, and a proof verifies only when its key is the one that signed.
        #[test]
        fn signed_proofs_with_arbitrary_fields_never_panic(
            typ in prop_oneof![Just("dpop+jwt".to_owned()), "\\PC{0,8}"],
            claims in json_value(),
            altered in any::<bool>(),
        ) {
            let (key, _) = SigningKey::generate(Ours::ES256).unwrap();
            let mut jwk = key.public_jwk().clone();
            if altered {
                jwk["x"] = json!(B64.encode([7u8; 32]));
            }
            let proof = sign_with_header(&key, &json!({"typ": typ, "alg": "ES256", "jwk": jwk}), &claims);
            if let Ok(verified) = verify_dpop_proof(&proof) {
                prop_assert!(!altered);
                prop_assert_eq!(verified.jkt.len(), 43);
            }
        }

        #[test]
        fn dpop_verification_never_panics(proof in "[A-Za-z0-9_.-]{0,300}") {
            let _ = verify_dpop_proof(&proof);
        }

        #[test]
        fn verification_never_panics(token in "[A-Za-z0-9_.-]{0,300}") {
            let (_, set) = key_and_set(Ours::ES256);
            let _ = verify_with_jwks(&token, &set);
        }

        #[test]
        fn jwks_parsing_never_panics(text in "\\PC{0,300}") {
            let _ = parse_jwks(&text);
        }
    }
}
