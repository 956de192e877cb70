//! Random tokens, hashing of high-entropy secrets, constant-time comparison, PKCE and keyed
//! hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// A URL-safe random token carrying `n_bytes` of entropy from the OS generator.
pub fn random_token(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    rand::rng().fill_bytes(&mut buf);
    b64url(&buf)
}

/// `N` random bytes from the OS generator (keys).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// A uniformly random number below `bound` (small bounds only, e.g. a two-digit code).
pub fn random_below(bound: u32) -> u32 {
    // Rejection sampling keeps the distribution uniform.
    let limit = u32::MAX - u32::MAX % bound;
    loop {
        let n = rand::rng().next_u32();
        if n < limit {
            return n % bound;
        }
    }
}

/// SHA-256 of a secret, base64url. Only for secrets we generate with at least 128 bits of
/// entropy (client secrets, codes, refresh tokens): a slow password hash adds nothing there and
/// would cap the token endpoint at a few hundred requests per second.
pub fn hash_secret(secret: &str) -> String {
    b64url(&Sha256::digest(secret.as_bytes()))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two secrets (or their hashes) in time independent of where they differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// RFC 7636 S256: checks the verifier's form (43 to 128 unreserved characters) and that its
/// SHA-256 is the challenge.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && ct_eq(&b64url(&Sha256::digest(verifier.as_bytes())), challenge)
}

/// A key for keyed hashes (HMAC-SHA-256): look-up hashes of personal data, pairwise subjects.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct HashKey([u8; 32]);

impl HashKey {
    pub fn new(bytes: [u8; 32]) -> HashKey {
        HashKey(bytes)
    }

    /// Derives an independent key for one purpose from a master secret.
    pub fn derive(master: &[u8], purpose: &str) -> HashKey {
        HashKey(hmac_sha256(master, &[purpose.as_bytes()]))
    }

    /// HMAC over the parts, each length-prefixed so that ("ab","c") and ("a","bc") differ.
    pub fn hash(&self, parts: &[&[u8]]) -> String {
        b64url(&hmac_sha256(&self.0, parts))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn pkce_accepts_the_rfc_7636_example() {
        assert!(pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn pkce_rejects_wrong_and_short_verifiers() {
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        let short = "abc";
        assert!(!pkce_s256_matches(short, &b64url(&sha256(short.as_bytes()))));
    }

    #[test]
    fn keyed_hash_separates_parts() {
        let key = HashKey::new([7; 32]);
        assert_ne!(key.hash(&[b"ab", b"c"]), key.hash(&[b"a", b"bc"]));
        assert_eq!(key.hash(&[b"ab"]), key.hash(&[b"ab"]));
    }

    #[test]
    fn random_tokens_differ_and_are_url_safe() {
        let a = random_token(32);
        assert_ne!(a, random_token(32));
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    proptest! {
        #[test]
        fn pkce_never_panics(verifier in "\\PC{0,200}", challenge in "\\PC{0,60}") {
            let _ = pkce_s256_matches(&verifier, &challenge);
        }

        #[test]
        fn random_below_stays_below(bound in 1u32..1000) {
            prop_assert!(random_below(bound) < bound);
        }
    }
}
