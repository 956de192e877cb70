//! Outbound HTTP to addresses relying parties give us: their `jwks_uri`, `sector_identifier_uri`
//! and `backchannel_logout_uri`.
//!
//! Such URLs are chosen by whoever registers a client, so they must not let anyone reach
//! civpass's own host or internal network (server-side request forgery): each request resolves
//! the host once, refuses loopback, private, link-local and other non-public addresses (unless
//! the operator allows them, for development), pins the connection to the address it checked
//! (so a second DNS answer cannot swap it), and follows no redirects.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use civpass_core::clients::JwksSource;
use civpass_core::logout::{DeliveryError, LogoutNotifier};

/// A JWK Set or sector document is small; anything bigger is refused rather than read.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// multicast, unspecified or documentation space).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || a == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// A client for one request to `url`, pinned to an address that passed the check.
async fn pinned_client(url: &str, allow_private: bool) -> Result<reqwest::Client, String> {
    let parsed = url::Url::parse(url).map_err(|_| "not a URL".to_owned())?;
    let host = parsed.host_str().ok_or("no host")?.trim_matches(['[', ']']).to_owned();
    let port = parsed.port_or_known_default().ok_or("no port")?;
    // The system resolver can take far longer than a caller may wait.
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(Duration::from_secs(5), lookup)
        .await
        .map_err(|_| "resolving the host took too long".to_owned())?
        .map_err(|e| format!("cannot resolve the host: {e}"))?
        .collect();
    let addr = addrs
        .into_iter()
        .find(|a| allow_private || is_public(a.ip()))
        .ok_or("the host is not on a public address")?;
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())
}

/// Fetches documents (JWK Sets, sector identifier lists) for the core.
pub struct HttpJwksSource {
    allow_private: bool,
}

impl HttpJwksSource {
    /// `allow_private` lets loopback and private addresses through: for development and tests.
    pub fn new(allow_private: bool) -> HttpJwksSource {
        HttpJwksSource { allow_private }
    }
}

#[async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self, uri: &str) -> Result<String, String> {
        let http = pinned_client(uri, self.allow_private).await?;
        let mut res = http.get(uri).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err("the document is too large".into());
            }
        }
        String::from_utf8(body).map_err(|_| "the document is not UTF-8".into())
    }
}

/// Posts logout tokens (Back-Channel Logout section 2.5) for the core's delivery loop, which
/// keeps each notice until a service answers 2xx and retries with backoff otherwise.
pub struct HttpLogoutNotifier {
    allow_private: bool,
    woken: tokio::sync::Notify,
    /// How long the loop waits between rounds when nothing wakes it.
    round: Duration,
}

impl HttpLogoutNotifier {
    pub fn new(allow_private: bool) -> HttpLogoutNotifier {
        HttpLogoutNotifier {
            allow_private,
            woken: tokio::sync::Notify::new(),
            round: Duration::from_secs(5),
        }
    }
}

#[async_trait]
impl LogoutNotifier for HttpLogoutNotifier {
    async fn deliver(&self, uri: &str, logout_token: &str) -> Result<(), DeliveryError> {
        let retry = |cause: String| DeliveryError { cause, permanent: false };
        let http = pinned_client(uri, self.allow_private).await.map_err(retry)?;
        let res = http
            .post(uri)
            .form(&[("logout_token", logout_token)])
            .send()
            .await
            .map_err(|e| retry(e.to_string()))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        // Back-Channel Logout section 2.8: a 400 means the service rejected the token itself.
        let permanent = status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
        Err(DeliveryError { cause: format!("HTTP {status}"), permanent })
    }

    fn wake(&self) {
        self.woken.notify_one();
    }

    async fn idle(&self) {
        let _ = tokio::time::timeout(self.round, self.woken.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_url_on_a_private_address_is_refused_unless_allowed() {
        let refused = pinned_client("http://127.0.0.1:9/x", false).await;
        assert!(refused.is_err());
        assert!(pinned_client("http://127.0.0.1:9/x", true).await.is_ok());
        assert!(pinned_client("https://localhost/jwks", false).await.is_err());
    }
}
