//! DPoP (RFC 9449): tokens bound to a key the client holds, so that a stolen token is useless
//! without the key. The client proves possession with a fresh signed proof per request; the
//! token endpoint binds access and refresh tokens to the key's thumbprint (`cnf.jkt`), and
//! UserInfo accepts such a token only with a proof for that key and that token (`ath`).
//!
//! Nonces (section 8) are stateless: a timestamp and its keyed hash, so any node can check one
//! another node handed out.

use civpass_crypto::external::verify_dpop_proof;
use civpass_crypto::secret::{b64url, b64url_decode, ct_eq, sha256};

use crate::kernel::Internal;
use crate::oidc::OidcService;

/// How far a proof's `iat` may be from our clock, either way.
const PROOF_WINDOW: i64 = 60;

/// How long a nonce we hand out is accepted.
const NONCE_LIFETIME: i64 = 300;

/// A request as a DPoP proof must describe it.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// The `DPoP` header, if the request had exactly one.
    pub proof: Option<&'a str>,
    pub method: &'a str,
    /// The endpoint's URL, without query or fragment.
    pub url: &'a str,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("invalid_dpop_proof: {0}")]
    Invalid(&'static str),
    /// The proof needs a fresh nonce from us (sent in the `DPoP-Nonce` header).
    #[error("use_dpop_nonce")]
    UseNonce,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The URL a proof's `htu` must name: scheme, host, port and path (RFC 9449 section 4.3).
fn normalise(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.to_string())
}

impl OidcService {
    /// A nonce for the `DPoP-Nonce` header.
    pub fn dpop_nonce(&self) -> String {
        let now = self.ctx.now().to_be_bytes();
        let mac = self.ctx.secrets.lookup.hash(&[b"civpass/dpop-nonce/v1", &now]);
        format!("{}.{mac}", b64url(&now))
    }

    fn nonce_is_fresh(&self, nonce: &str) -> bool {
        let Some((stamp, mac)) = nonce.split_once('.') else { return false };
        let Some(bytes) = b64url_decode(stamp).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            return false;
        };
        let expected = self.ctx.secrets.lookup.hash(&[b"civpass/dpop-nonce/v1", &bytes]);
        let age = self.ctx.now() - i64::from_be_bytes(bytes);
        ct_eq(mac, &expected) && (0..=NONCE_LIFETIME).contains(&age)
    }

    /// Whether a proof lacks a fresh nonce of ours, when nonces are required: asked before the
    /// client authenticates, so that a client's one-time assertion is not spent on a request
    /// that must be repeated with a nonce anyway.
    pub fn dpop_nonce_missing(&self, proof: &str) -> bool {
        self.ctx.settings.dpop_nonce
            && verify_dpop_proof(proof).is_ok_and(|p| {
                !p.claims
                    .get("nonce")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| self.nonce_is_fresh(n))
            })
    }

    /// Checks a DPoP proof for `request` (and, at a resource, for `access_token`); returns the
    /// key's thumbprint, or `None` if there was no proof.
    pub async fn check_dpop(
        &self,
        request: &DpopRequest<'_>,
        access_token: Option<&str>,
        require_nonce: bool,
    ) -> Result<Option<String>, DpopError> {
        let Some(proof) = request.proof else { return Ok(None) };
        let invalid = DpopError::Invalid;
        let verified =
            verify_dpop_proof(proof).map_err(|_| invalid("the DPoP proof does not verify"))?;
        let claims = &verified.claims;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        let now = self.ctx.now();
        if text("htm") != Some(request.method) {
            return Err(invalid("htm is not this request's method"));
        }
        if text("htu").and_then(normalise) != normalise(request.url) {
            return Err(invalid("htu is not this endpoint"));
        }
        let iat = claims.get("iat").and_then(|v| v.as_i64()).ok_or(invalid("iat is missing"))?;
        if (now - iat).abs() > PROOF_WINDOW {
            return Err(invalid("the proof is too old or from the future"));
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or(invalid("jti is missing"))?;
        if let Some(token) = access_token
            && text("ath") != Some(b64url(&sha256(token.as_bytes())).as_str())
        {
            return Err(invalid("ath is not the hash of this access token"));
        }
        if require_nonce && !text("nonce").is_some_and(|n| self.nonce_is_fresh(n)) {
            return Err(DpopError::UseNonce);
        }
        // One use per proof: the key and jti together, kept while the proof could be fresh.
        let id = b64url(&sha256(format!("{}:{jti}", verified.jkt).as_bytes()));
        if !self.store.use_dpop_proof(&id, now + 2 * PROOF_WINDOW).await.map_err(Internal::from)? {
            return Err(invalid("the DPoP proof was used before"));
        }
        Ok(Some(verified.jkt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_comparison_ignores_query_and_fragment_only() {
        assert_eq!(
            normalise("https://id.example/token?x=1#f"),
            normalise("https://id.example/token")
        );
        assert_ne!(normalise("https://id.example/token"), normalise("https://id.example/userinfo"));
        assert_ne!(normalise("https://id.example/token"), normalise("http://id.example/token"));
        assert_eq!(normalise("not a url"), None);
    }
}
