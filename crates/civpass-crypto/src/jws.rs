//! JSON Web Signatures (RFC 7515 compact form) with keys held parsed in memory.
//!
//! Written over aws-lc-rs rather than with `jsonwebtoken` because that crate re-parses the
//! private key from DER on every signature, which would dominate the token endpoint's cost.
//! Verification of tokens from outside (request objects, client assertions) is left to
//! `jsonwebtoken`; here we verify only what we signed and P-256 device signatures.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::CryptoError;
use crate::secret::{b64url, b64url_decode, sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    ES256,
    RS256,
    /// RSASSA-PSS with SHA-256, as FAPI 2.0 allows for RSA.
    PS256,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            "PS256" => Some(Algorithm::PS256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
}

enum KeyMaterial {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    /// The same RSA keys, used with PSS padding.
    RsaPss(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its key id (the RFC 7638 thumbprint of its public JWK).
pub struct SigningKey {
    kid: String,
    material: KeyMaterial,
    public_jwk: serde_json::Value,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    /// A new key; returns it with its PKCS#8 encoding for storage.
    pub fn generate(alg: Algorithm) -> Result<(SigningKey, Vec<u8>), CryptoError> {
        let pkcs8 = match alg {
            Algorithm::ES256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| CryptoError::Rng)?
                .as_ref()
                .to_vec(),
            Algorithm::RS256 | Algorithm::PS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map_err(|_| CryptoError::Rng)?
                .as_ref()
                .to_vec(),
            Algorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map_err(|_| CryptoError::Rng)?
                .as_ref()
                .to_vec(),
        };
        Ok((SigningKey::from_pkcs8(alg, &pkcs8)?, pkcs8))
    }

    pub fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<SigningKey, CryptoError> {
        let (material, public_jwk) = match alg {
            Algorithm::ES256 => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                        .map_err(|_| CryptoError::InvalidKey)?;
                let point = pair.public_key().as_ref();
                let (x, y) = point.get(1..).ok_or(CryptoError::InvalidKey)?.split_at(32);
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)});
                (KeyMaterial::Ec(pair), jwk)
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError::InvalidKey)?;
                let public = pair.public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64url(public.modulus().big_endian_without_leading_zero()),
                    "e": b64url(public.exponent().big_endian_without_leading_zero()),
                });
                if alg == Algorithm::PS256 {
                    (KeyMaterial::RsaPss(pair), jwk)
                } else {
                    (KeyMaterial::Rsa(pair), jwk)
                }
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
                    .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8))
                    .map_err(|_| CryptoError::InvalidKey)?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(pair.public_key().as_ref())});
                (KeyMaterial::Ed(pair), jwk)
            }
        };
        let kid = jwk_thumbprint(&public_jwk).ok_or(CryptoError::InvalidKey)?;
        let mut public_jwk = public_jwk;
        public_jwk["kid"] = json!(kid);
        public_jwk["alg"] = json!(alg.as_str());
        public_jwk["use"] = json!("sig");
        Ok(SigningKey { kid, material, public_jwk, rng: SystemRandom::new() })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            KeyMaterial::Ec(_) => Algorithm::ES256,
            KeyMaterial::Rsa(_) => Algorithm::RS256,
            KeyMaterial::RsaPss(_) => Algorithm::PS256,
            KeyMaterial::Ed(_) => Algorithm::EdDSA,
        }
    }

    /// The public key as a JWK with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.public_jwk
    }

    /// Signs `claims` as a compact JWS with the given `typ` header.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, CryptoError> {
        let header = json!({"alg": self.algorithm().as_str(), "typ": typ, "kid": self.kid});
        let header = serde_json::to_vec(&header).map_err(|_| CryptoError::Malformed)?;
        let payload = serde_json::to_vec(claims).map_err(|_| CryptoError::Malformed)?;
        let signing_input = format!("{}.{}", b64url(&header), b64url(&payload));
        let sig = self.sign_raw(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64url(&sig)))
    }

    /// The JWS signature over `signing_input` (ECDSA as `r || s`, RSA PKCS#1 v1.5), for callers
    /// that build their own header, like a DPoP client.
    pub fn sign_raw(&self, signing_input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(match &self.material {
            KeyMaterial::Ec(pair) => {
                pair.sign(&self.rng, signing_input).map_err(|_| CryptoError::Rng)?.as_ref().to_vec()
            }
            KeyMaterial::Rsa(pair) | KeyMaterial::RsaPss(pair) => {
                let padding: &dyn signature::RsaEncoding = match &self.material {
                    KeyMaterial::RsaPss(_) => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &self.rng, signing_input, &mut sig)
                    .map_err(|_| CryptoError::Rng)?;
                sig
            }
            KeyMaterial::Ed(pair) => pair.sign(signing_input).as_ref().to_vec(),
        })
    }

    /// Verifies a compact JWS that this key signed with header `typ` (the kind of token it is:
    /// `at+jwt`, `JWT` for ID tokens, `logout+jwt`), so that one kind never passes for another.
    pub fn verify_typed<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<T, CryptoError> {
        let header = token.split('.').next().ok_or(CryptoError::Malformed)?;
        let header: Header = decode_json(header)?;
        if header.typ.as_deref() != Some(typ) {
            return Err(CryptoError::BadSignature);
        }
        self.verify(token)
    }

    /// Verifies a compact JWS that this key signed and returns its claims.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, CryptoError> {
        let (signing_input, sig) = token.rsplit_once('.').ok_or(CryptoError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(CryptoError::Malformed)?;
        let header: Header = decode_json(header)?;
        if header.alg != self.algorithm().as_str()
            || header.kid.as_deref() != Some(self.kid.as_str())
        {
            return Err(CryptoError::BadSignature);
        }
        let sig = b64url_decode(sig).ok_or(CryptoError::Malformed)?;
        let ok = match &self.material {
            KeyMaterial::Ec(pair) => UnparsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                pair.public_key().as_ref(),
            )
            .verify(signing_input.as_bytes(), &sig),
            KeyMaterial::Rsa(pair) => {
                let der = pair.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
                UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der.as_ref())
                    .verify(signing_input.as_bytes(), &sig)
            }
            KeyMaterial::RsaPss(pair) => {
                let der = pair.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
                UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, der.as_ref())
                    .verify(signing_input.as_bytes(), &sig)
            }
            KeyMaterial::Ed(pair) => {
                UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref())
                    .verify(signing_input.as_bytes(), &sig)
            }
        };
        ok.map_err(|_| CryptoError::BadSignature)?;
        decode_json(payload)
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

/// Reads the `kid` of a compact JWS without verifying it, to pick the verification key.
pub fn peek_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    decode_json::<Header>(header).ok()?.kid
}

fn decode_json<T: DeserializeOwned>(part: &str) -> Result<T, CryptoError> {
    let bytes = b64url_decode(part).ok_or(CryptoError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| CryptoError::Malformed)
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
pub fn jwk_thumbprint(jwk: &serde_json::Value) -> Option<String> {
    let canonical = match jwk.get("kty")?.as_str()? {
        "EC" => {
            json!({"crv": jwk.get("crv")?, "kty": "EC", "x": jwk.get("x")?, "y": jwk.get("y")?})
        }
        "RSA" => json!({"e": jwk.get("e")?, "kty": "RSA", "n": jwk.get("n")?}),
        "OKP" => json!({"crv": jwk.get("crv")?, "kty": "OKP", "x": jwk.get("x")?}),
        _ => return None,
    };
    // serde_json's map keeps keys sorted (no `preserve_order` feature), as RFC 7638 requires.
    Some(b64url(&sha256(canonical.to_string().as_bytes())))
}

/// A P-256 public key of a citizen's device, parsed and checked to be on the curve.
pub struct DevicePublicKey {
    bytes: Vec<u8>,
    parsed: signature::ParsedPublicKey,
}

impl std::fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevicePublicKey({})", b64url(&self.bytes))
    }
}

impl PartialEq for DevicePublicKey {
    fn eq(&self, other: &DevicePublicKey) -> bool {
        self.bytes == other.bytes
    }
}

impl DevicePublicKey {
    /// From base64url of the 65-byte uncompressed point.
    pub fn parse(b64: &str) -> Result<DevicePublicKey, CryptoError> {
        let bytes = b64url_decode(b64).ok_or(CryptoError::InvalidKey)?;
        if bytes.len() != 65 || bytes[0] != 4 {
            return Err(CryptoError::InvalidKey);
        }
        let parsed = signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &bytes)
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(DevicePublicKey { bytes, parsed })
    }

    pub fn to_b64(&self) -> String {
        b64url(&self.bytes)
    }

    /// Verifies a fixed-size (r || s, base64url) ECDSA P-256 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> Result<(), CryptoError> {
        let sig = b64url_decode(signature_b64).ok_or(CryptoError::BadSignature)?;
        self.parsed.verify_sig(message, &sig).map_err(|_| CryptoError::BadSignature)
    }
}

/// A device's private key (the command-line wallet's software key).
pub struct DeviceKeyPair {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl DeviceKeyPair {
    pub fn generate() -> Result<(DeviceKeyPair, Vec<u8>), CryptoError> {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| CryptoError::Rng)?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| CryptoError::Rng)?.as_ref().to_vec();
        Ok((DeviceKeyPair { pair, rng: SystemRandom::new() }, pkcs8))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<DeviceKeyPair, CryptoError> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(DeviceKeyPair { pair, rng: SystemRandom::new() })
    }

    pub fn public_key_b64(&self) -> String {
        b64url(self.pair.public_key().as_ref())
    }

    pub fn sign_b64(&self, message: &[u8]) -> Result<String, CryptoError> {
        let sig = self.pair.sign(&self.rng, message).map_err(|_| CryptoError::Rng)?;
        Ok(b64url(sig.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Claims {
        sub: String,
    }

    #[test]
    fn both_algorithms_sign_and_verify_and_reload() {
        for alg in [Algorithm::ES256, Algorithm::RS256] {
            let (key, pkcs8) = SigningKey::generate(alg).unwrap();
            let token = key.sign("JWT", &Claims { sub: "a".into() }).unwrap();
            let reloaded = SigningKey::from_pkcs8(alg, &pkcs8).unwrap();
            assert_eq!(reloaded.kid(), key.kid());
            assert_eq!(reloaded.verify::<Claims>(&token).unwrap(), Claims { sub: "a".into() });
            assert_eq!(peek_kid(&token).as_deref(), Some(key.kid()));
            let mut tampered = token.clone();
            tampered.insert(token.find('.').unwrap() + 2, 'x');
            assert!(reloaded.verify::<Claims>(&tampered).is_err());
        }
    }

    #[test]
    fn tokens_from_another_key_are_rejected() {
        let (a, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let (b, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let token = a.sign("JWT", &Claims { sub: "a".into() }).unwrap();
        assert_eq!(b.verify::<Claims>(&token), Err(CryptoError::BadSignature));
    }

    #[test]
    fn device_signatures_verify_only_for_the_signed_message() {
        let (pair, pkcs8) = DeviceKeyPair::generate().unwrap();
        let public = DevicePublicKey::parse(&pair.public_key_b64()).unwrap();
        let sig = pair.sign_b64(b"approve").unwrap();
        assert_eq!(public.verify(b"approve", &sig), Ok(()));
        assert_eq!(public.verify(b"deny", &sig), Err(CryptoError::BadSignature));
        let again = DeviceKeyPair::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(again.public_key_b64(), pair.public_key_b64());
    }

    #[test]
    fn off_curve_device_keys_are_rejected() {
        let mut bytes = vec![4u8];
        bytes.extend([1u8; 64]);
        assert_eq!(DevicePublicKey::parse(&b64url(&bytes)), Err(CryptoError::InvalidKey));
        assert_eq!(DevicePublicKey::parse("!!"), Err(CryptoError::InvalidKey));
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    proptest! {
        #[test]
        fn verify_never_panics(token in "\\PC{0,300}") {
            let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
            let _ = key.verify::<serde_json::Value>(&token);
            let _ = peek_kid(&token);
        }

        #[test]
        fn device_key_parse_never_panics(input in "[A-Za-z0-9_-]{0,120}") {
            let _ = DevicePublicKey::parse(&input);
        }
    }
}
