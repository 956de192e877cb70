//! Outbound HTTP to addresses relying parties give us: their `jwks_uri`, `sector_identifier_uri`
//! and `backchannel_logout_uri`.
//!
//! Such URLs are chosen by whoever registers a client, so they must not let anyone reach
//! civpass's own host or internal network (server-side request forgery): each request resolves
//! the host once, refuses every address that is not globally reachable (unless the operator
//! allows them, for development), pins the connection to the address it checked (so a second
//! DNS answer cannot swap it), goes direct (never through a proxy from the environment, which
//! would resolve the name again), and follows no redirects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use civpass_core::kernel::error::Chain;
use civpass_core::oidc::clients::{FetchError, JwksSource};
use civpass_core::oidc::logout::{DeliveryError, LogoutNotifier};
use ipnet::{Ipv4Net, Ipv6Net};

/// A JWK Set or sector document is small; anything bigger is refused rather than read.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// IPv4 blocks that are not globally reachable: every entry of the IANA IPv4 Special-Purpose
/// Address Registry marked so (RFC 6890 and its updates), the deprecated 6to4 relay anycast
/// block, and multicast. Where the registry marks a small block inside one of these globally
/// reachable (192.0.0.9/32, 192.0.0.10/32), it stays refused: nothing civpass calls lives there.
const DENIED_V4: &[&str] = &[
    "0.0.0.0/8",       // "this network" (RFC 791)
    "10.0.0.0/8",      // private use (RFC 1918)
    "100.64.0.0/10",   // shared address space, carrier-grade NAT (RFC 6598)
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link local, including cloud metadata services
    "172.16.0.0/12",   // private use
    "192.0.0.0/24",    // IETF protocol assignments (RFC 6890), DS-Lite, NAT64 discovery
    "192.0.2.0/24",    // documentation (TEST-NET-1)
    "192.88.99.0/24",  // deprecated 6to4 relay anycast (RFC 7526)
    "192.168.0.0/16",  // private use
    "198.18.0.0/15",   // benchmarking (RFC 2544)
    "198.51.100.0/24", // documentation (TEST-NET-2)
    "203.0.113.0/24",  // documentation (TEST-NET-3)
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and the limited broadcast address
];

/// IPv6 blocks that are not globally reachable: the IANA IPv6 Special-Purpose Address
/// Registry's non-global entries (RFC 6890 and its updates), with the whole of 2001::/23 (a few
/// anycast services inside it are global; civpass calls none of them), and the deprecated
/// site-local and IPv4-compatible blocks. Anything outside 2000::/3, the global unicast space,
/// is refused as well (`is_global`); this list names what lies inside it, and what outside it
/// deserves a name.
const DENIED_V6: &[&str] = &[
    "::/128",         // unspecified
    "::1/128",        // loopback
    "::/96",          // IPv4-compatible, deprecated (RFC 4291 section 2.5.5.1)
    "64:ff9b:1::/48", // local-use IPv4/IPv6 translation (RFC 8215)
    "100::/64",       // discard-only (RFC 6666)
    "100:0:0:1::/64", // dummy prefix (RFC 9780)
    "2001::/23",      // IETF protocol assignments, Teredo (RFC 2928, RFC 4380)
    "2001:db8::/32",  // documentation (RFC 3849)
    "3fff::/20",      // documentation (RFC 9637)
    "5f00::/16",      // SRv6 SIDs (RFC 9602)
    "fc00::/7",       // unique local (RFC 4193)
    "fe80::/10",      // link local
    "fec0::/10",      // site local, deprecated (RFC 3879)
    "ff00::/8",       // multicast
];

static DENIED: LazyLock<(Vec<Ipv4Net>, Vec<Ipv6Net>)> = LazyLock::new(|| {
    let v4 = DENIED_V4.iter().filter_map(|n| n.parse().ok()).collect();
    let v6 = DENIED_V6.iter().filter_map(|n| n.parse().ok()).collect();
    (v4, v6)
});

/// The IPv4 address an IPv6 one carries, where a packet to it would reach that IPv4 host:
/// IPv4-mapped (`::ffff:0:0/96`), NAT64 (`64:ff9b::/96`, RFC 6052) and 6to4 (`2002::/16`, RFC
/// 3056, the address in bits 16 to 48).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let last = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(last);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

/// Whether civpass may connect to an address a stranger named: only globally reachable ones
/// (not loopback, private, link-local, shared, documentation, benchmarking, reserved,
/// multicast, nor any other special-purpose block), and for an IPv6 address that carries an
/// IPv4 one, only if that is globally reachable too.
pub(crate) fn is_global(ip: IpAddr) -> bool {
    let (v4_denied, v6_denied) = &*DENIED;
    match ip {
        IpAddr::V4(v4) => !v4_denied.iter().any(|net| net.contains(&v4)),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6)
                && !is_global(IpAddr::V4(v4))
            {
                return false;
            }
            if v6.to_ipv4_mapped().is_some() || v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return true;
            }
            let global_unicast = (v6.segments()[0] & 0xe000) == 0x2000;
            global_unicast && !v6_denied.iter().any(|net| net.contains(&v6))
        }
    }
}

/// A client for one request to `url`, pinned to an address that passed the check.
async fn pinned_client(url: &str, allow_private: bool) -> Result<reqwest::Client, FetchError> {
    let refused = |why: &str| FetchError::Refused(why.into());
    let parsed = url::Url::parse(url).map_err(|_| refused("not a URL"))?;
    let host =
        parsed.host_str().ok_or_else(|| refused("no host"))?.trim_matches(['[', ']']).to_owned();
    let port = parsed.port_or_known_default().ok_or_else(|| refused("no port"))?;
    // The system resolver can take far longer than a caller may wait.
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(Duration::from_secs(5), lookup)
        .await
        .map_err(|_| FetchError::Unavailable("resolving the host took too long".into()))?
        .map_err(|e| FetchError::Unavailable(Box::new(e)))?
        .collect();
    let addr = addrs
        .into_iter()
        .find(|a| allow_private || is_global(a.ip()))
        .ok_or_else(|| refused("the host is not on a public address"))?;
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        // Never through an HTTP(S)_PROXY from the environment: a proxy would resolve the name
        // again, and the address checked above would mean nothing.
        .no_proxy()
        .resolve(&host, addr)
        .build()
        .map_err(|e| FetchError::Refused(Box::new(e)))
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
    async fn fetch(&self, uri: &str) -> Result<String, FetchError> {
        let http = pinned_client(uri, self.allow_private).await?;
        // The URL is the client's own, not personal data: it stays in the cause.
        let unanswered = |e: reqwest::Error| FetchError::Unavailable(Box::new(e));
        let mut res = http.get(uri).send().await.map_err(unanswered)?;
        let status = res.status();
        if !status.is_success() {
            let why = format!("HTTP {status}").into();
            let retry = status.is_server_error()
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
            return Err(if retry {
                FetchError::Unavailable(why)
            } else {
                FetchError::Refused(why)
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(unanswered)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::Refused("the document is too large".into()));
            }
        }
        String::from_utf8(body).map_err(|_| FetchError::Refused("the document is not UTF-8".into()))
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
    /// Posts to a service's URL, pinned to the address checked: a 2xx is delivery; a 4xx
    /// other than 408 and 429 is the service refusing the message itself (Back-Channel Logout
    /// section 2.8, RFC 8935 section 2.3), which a retry would not change.
    async fn post(
        &self,
        uri: &str,
        body: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<(), DeliveryError> {
        let retry = |cause: String| DeliveryError { cause, permanent: false };
        let http = pinned_client(uri, self.allow_private)
            .await
            .map_err(|e| retry(Chain(&e).to_string()))?;
        let res = body(http.post(uri)).send().await.map_err(|e| retry(Chain(&e).to_string()))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let permanent = status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
        Err(DeliveryError { cause: format!("HTTP {status}"), permanent })
    }

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
    /// Back-Channel Logout section 2.5: the token as a form field.
    async fn deliver(&self, uri: &str, logout_token: &str) -> Result<(), DeliveryError> {
        self.post(uri, |request| request.form(&[("logout_token", logout_token)])).await
    }

    /// RFC 8935 section 2: the SET as the body, `application/secevent+jwt`.
    async fn push_event(&self, uri: &str, set: &str) -> Result<(), DeliveryError> {
        self.post(uri, |request| {
            request
                .header(reqwest::header::CONTENT_TYPE, "application/secevent+jwt")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(set.to_owned())
        })
        .await
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
    fn only_globally_reachable_addresses_pass() {
        for denied in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.0.1",
            "192.0.0.9",
            "192.0.2.1",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "100::1",
            "fc00::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "1::1",
            "4000::1",
        ] {
            assert!(!is_global(denied.parse().unwrap()), "{denied}");
        }
        for global in [
            "8.8.8.8",
            "1.1.1.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2620:4f:8000::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_global(global.parse().unwrap()), "{global}");
        }
    }

    /// An address inside network `net`, chosen by `bits`.
    fn v4_in(net: &Ipv4Net, bits: u32) -> Ipv4Addr {
        let host = bits & !u32::from(net.netmask());
        Ipv4Addr::from(u32::from(net.network()) | host)
    }

    fn v6_in(net: &Ipv6Net, bits: u128) -> Ipv6Addr {
        let host = bits & !u128::from(net.netmask());
        Ipv6Addr::from(u128::from(net.network()) | host)
    }

    /// Every way an IPv6 address can carry an IPv4 one that civpass unwraps or refuses.
    fn wrapped(v4: Ipv4Addr) -> [Ipv6Addr; 4] {
        let n = u32::from(v4);
        [
            v4.to_ipv6_mapped(),
            v4.to_ipv6_compatible(),
            Ipv6Addr::from((0x64_u128 << 112) | (0xff9b_u128 << 96) | u128::from(n)),
            Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(n) << 80) | 1),
        ]
    }

    proptest::proptest! {
        #[test]
        fn any_address_in_a_denied_ipv4_block_is_refused_however_it_is_wrapped(idx in 0..DENIED_V4.len(), bits: u32) {
            let net: Ipv4Net = DENIED_V4[idx].parse().unwrap();
            let v4 = v4_in(&net, bits);
            proptest::prop_assert!(!is_global(IpAddr::V4(v4)), "{}", v4);
            for v6 in wrapped(v4) {
                proptest::prop_assert!(!is_global(IpAddr::V6(v6)), "{} ({})", v6, v4);
            }
        }

        #[test]
        fn any_address_in_a_denied_ipv6_block_is_refused(idx in 0..DENIED_V6.len(), bits: u128) {
            let net: Ipv6Net = DENIED_V6[idx].parse().unwrap();
            let v6 = v6_in(&net, bits);
            proptest::prop_assert!(!is_global(IpAddr::V6(v6)), "{}", v6);
        }

        #[test]
        fn an_ipv4_address_outside_every_denied_block_passes_bare_mapped_and_translated(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            let denied = DENIED_V4.iter().any(|n| n.parse::<Ipv4Net>().unwrap().contains(&v4));
            proptest::prop_assert_eq!(is_global(IpAddr::V4(v4)), !denied);
            let [mapped, compatible, nat64, six_to_four] = wrapped(v4);
            proptest::prop_assert_eq!(is_global(IpAddr::V6(mapped)), !denied);
            proptest::prop_assert_eq!(is_global(IpAddr::V6(nat64)), !denied);
            proptest::prop_assert_eq!(is_global(IpAddr::V6(six_to_four)), !denied);
            proptest::prop_assert!(!is_global(IpAddr::V6(compatible)), "IPv4-compatible is deprecated");
        }

        #[test]
        fn ipv6_outside_global_unicast_is_refused_unless_it_carries_a_global_ipv4(bits: u128) {
            let v6 = Ipv6Addr::from(bits);
            let carries_v4 = v6.to_ipv4_mapped().is_some() || v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            if (v6.segments()[0] & 0xe000) != 0x2000 && !carries_v4 {
                proptest::prop_assert!(!is_global(IpAddr::V6(v6)), "{}", v6);
            }
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
