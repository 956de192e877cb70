//! Outbound HTTP: fetching relying parties' JWK Sets from their `jwks_uri`.

use std::time::Duration;

use async_trait::async_trait;
use civpass_core::clients::JwksSource;

/// A JWK Set is small; anything bigger is refused rather than read.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Fetches with a short timeout and without following redirects, so that a client cannot
/// point civpass at an internal address through a redirect.
pub struct HttpJwksSource {
    http: reqwest::Client,
}

impl HttpJwksSource {
    pub fn new() -> Result<HttpJwksSource, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpJwksSource { http })
    }
}

#[async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self, uri: &str) -> Result<String, String> {
        let mut res = self.http.get(uri).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err("the JWK Set is too large".into());
            }
        }
        String::from_utf8(body).map_err(|_| "the JWK Set is not UTF-8".into())
    }
}
