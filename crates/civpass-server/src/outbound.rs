//! Outbound HTTP: fetching relying parties' JWK Sets from their `jwks_uri`, and delivering
//! back-channel logout tokens to their `backchannel_logout_uri`.

use std::time::Duration;

use async_trait::async_trait;
use civpass_core::clients::JwksSource;
use civpass_core::logout::LogoutNotifier;

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

/// Posts logout tokens in the background (Back-Channel Logout section 2.5): the citizen's action
/// does not wait on the service, and a failure is logged, not retried (the service's sessions
/// end anyway when its tokens stop working).
#[derive(Clone)]
pub struct HttpLogoutNotifier {
    http: reqwest::Client,
}

impl HttpLogoutNotifier {
    pub fn new() -> Result<HttpLogoutNotifier, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpLogoutNotifier { http })
    }
}

impl LogoutNotifier for HttpLogoutNotifier {
    fn notify(&self, uri: &str, logout_token: String) {
        let (http, uri) = (self.http.clone(), uri.to_owned());
        tokio::spawn(async move {
            let sent = http.post(&uri).form(&[("logout_token", logout_token)]).send().await;
            match sent {
                Ok(res) if res.status().is_success() => {}
                Ok(res) => {
                    tracing::warn!(status = %res.status(), "a service refused a back-channel logout")
                }
                Err(e) => {
                    tracing::warn!(cause = %e, "a back-channel logout could not be delivered")
                }
            }
        });
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
