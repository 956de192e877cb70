//! A DPoP client key for tests (RFC 9449): makes proofs for a method, a URL, an optional nonce
//! and an optional access token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use civpass_crypto::jws::{Algorithm, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct DpopKey {
    pub key: SigningKey,
}

impl DpopKey {
    pub fn new(alg: Algorithm) -> DpopKey {
        DpopKey { key: SigningKey::generate(alg).unwrap().0 }
    }

    /// The RFC 7638 thumbprint tokens get bound to.
    pub fn jkt(&self) -> &str {
        self.key.kid()
    }

    /// A proof with the claims given, signed with this key and its public JWK in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": self.key.algorithm().as_str(), "jwk": self.key.public_jwk()});
        let input =
            format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = self.key.sign_raw(input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    /// The claims of a fresh proof for `method` `url` at `now`.
    pub fn claims(
        method: &str,
        url: &str,
        now: i64,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Value {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": now,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(token) = access_token {
            claims["ath"] = json!(B64.encode(Sha256::digest(token.as_bytes())));
        }
        claims
    }

    pub fn proof(
        &self,
        method: &str,
        url: &str,
        now: i64,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> String {
        self.sign(&DpopKey::claims(method, url, now, nonce, access_token))
    }
}
