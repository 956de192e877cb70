//! Rate limits on what a stranger can reach: the authorization endpoint and login pages, the
//! token, revocation and introspection endpoints, the device API and, apart, registration. Each group allows so many
//! requests a minute per client IP address (GCRA, `governor`), all at once if need be; past
//! that the answer is 429 with `Retry-After`.
//!
//! The key is the client's address: the TCP peer, or, when the peer is a proxy the operator
//! trusts (`--trusted-proxy`), the address that proxy put in `X-Forwarded-For`, hop by hop from
//! the right, as far as the chain is trusted. Behind an untrusted proxy every request would
//! share the proxy's address. IPv6 clients are keyed by their /64 (`ClientAddressing`).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum_extra::extract::CookieJar;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::AppState;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::pages::{self, Chrome};

/// Requests a minute per client IP address for each group; 0 turns a group's limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `/authorize`, `/logout` and the login pages (not the page's status polling).
    pub authorize: u32,
    /// `/token`, `/revoke`, `/introspect`, `/par`, `/register`, `/userinfo`.
    pub token: u32,
    /// `/api/v1/device/...`, but for registration.
    pub device: u32,
    /// Registration (`/api/v1/device/enrolments`, `/api/v1/device/passkey-registrations...`),
    /// which also counts attempts per identity whatever their address.
    pub registration: u32,
}

impl Default for RateLimits {
    /// Generous, because many citizens share one address behind mobile carriers' NAT.
    fn default() -> RateLimits {
        RateLimits { authorize: 120, token: 600, device: 120, registration: 30 }
    }
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits { authorize: 0, token: 0, device: 0, registration: 0 };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Authorize,
    Token,
    Device,
    Registration,
}

impl Group {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Group::Authorize => "authorize",
            Group::Token => "token",
            Group::Device => "device",
            Group::Registration => "registration",
        }
    }
}

/// A route's rate-limit decision: a group, or no limit and why. Every route is added with one
/// (`Routes::at`, the only way to add a route), so a new endpoint cannot go unlimited by
/// accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Group(Group),
    /// No rate limit, for the reason given.
    None(&'static str),
}

pub(crate) const AUTHORIZE: Limit = Limit::Group(Group::Authorize);
pub(crate) const TOKEN: Limit = Limit::Group(Group::Token);
pub(crate) const DEVICE: Limit = Limit::Group(Group::Device);
pub(crate) const REGISTRATION: Limit = Limit::Group(Group::Registration);
/// Public, static or cached answers need no limit of their own: they are the same for
/// everyone, read nothing personal, write nothing, and the connection caps still bound them.
pub(crate) const PUBLIC: Limit =
    Limit::None("the same for everyone, no writes; bounded by the connection caps");

/// The routes of one area, each with its rate-limit decision.
pub(crate) struct Routes {
    router: Router<AppState>,
    state: AppState,
}

impl Routes {
    pub(crate) fn new(state: &AppState) -> Routes {
        Routes { router: Router::new(), state: state.clone() }
    }

    /// Serves `route` at `path`, rate-limited as `limit` says.
    pub(crate) fn at(self, path: &str, limit: Limit, route: MethodRouter<AppState>) -> Routes {
        let route = match limit {
            Limit::Group(group) => route.route_layer(axum::middleware::from_fn_with_state(
                (self.state.clone(), group),
                limit_group,
            )),
            Limit::None(_) => route,
        };
        Routes { router: self.router.route(path, route), state: self.state }
    }

    /// `at`, when `serve` holds; else the path is left to the fallback (404).
    pub(crate) fn at_if(
        self,
        serve: bool,
        path: &str,
        limit: Limit,
        route: MethodRouter<AppState>,
    ) -> Routes {
        if serve { self.at(path, limit, route) } else { self }
    }

    pub(crate) fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// A path no route serves: 404, and under the device API counted with it, as its clients are
/// the ones that probe it.
pub(crate) async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    if request.uri().path().starts_with("/api/v1/device/")
        && let Some(refused) = over_limit(&state, Group::Device, &request)
    {
        return refused;
    }
    StatusCode::NOT_FOUND.into_response()
}

pub(crate) struct Limiters {
    authorize: Option<DefaultKeyedRateLimiter<IpAddr>>,
    token: Option<DefaultKeyedRateLimiter<IpAddr>>,
    device: Option<DefaultKeyedRateLimiter<IpAddr>>,
    registration: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub(crate) addressing: ClientAddressing,
}

/// How the rate limits and connection caps name a request's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddressing {
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// An IPv6 client is known by this many leading bits of its address: one host is routinely
    /// given a whole /64 (RFC 8273, SLAAC), so keying on the full address would let it walk
    /// around every limit. 128 keys on whole addresses.
    pub ipv6_prefix: u8,
}

impl Default for ClientAddressing {
    fn default() -> ClientAddressing {
        ClientAddressing { trusted_proxies: Vec::new(), ipv6_prefix: 64 }
    }
}

impl ClientAddressing {
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The key an address is counted under: an IPv4 address (also when it arrives IPv4-mapped),
    /// or the IPv6 address cut to `ipv6_prefix` bits.
    pub fn key(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = self.ipv6_prefix.clamp(1, 128);
                IpAddr::V6(ipnet::Ipv6Net::new(v6, prefix).map(|n| n.network()).unwrap_or(v6))
            }
            v4 => v4,
        }
    }

    /// The key of the client behind a request from `peer` with these `X-Forwarded-For` values.
    pub fn client_key(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        self.key(client_ip(peer, forwarded_for, &self.trusted_proxies))
    }
}

/// A proxy address or network as an operator writes it: `10.0.0.0/8`, `192.0.2.7`, `::1`.
pub fn parse_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or network (CIDR)"))
}

/// The address a request comes from. If the peer is a trusted proxy, `X-Forwarded-For` is read
/// from the right (each proxy appends the address it saw): the first hop that is not a trusted
/// proxy is the client. An entry that is not an address ends the walk at the last trusted hop,
/// so a client cannot choose its key by writing the header itself.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    // A listener on [::] sees IPv4 peers as ::ffff:a.b.c.d; networks are written as IPv4.
    let mut client = peer.to_canonical();
    let hops = forwarded_for.iter().flat_map(|value| value.split(',')).rev();
    for hop in hops {
        if !is_trusted(&client) {
            break;
        }
        match hop_address(hop) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, or (as some load balancers write) one with a port.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip =
        hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

impl Limiters {
    pub(crate) fn new(limits: RateLimits) -> Limiters {
        Limiters {
            authorize: limiter(limits.authorize),
            token: limiter(limits.token),
            device: limiter(limits.device),
            registration: limiter(limits.registration),
            addressing: ClientAddressing::default(),
        }
    }

    /// Forgets addresses whose allowance is full again, so that the tables do not grow.
    pub(crate) fn forget_idle(&self) {
        for limiter in
            [&self.authorize, &self.token, &self.device, &self.registration].into_iter().flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// `Some(seconds to wait)` if this request is over its group's limit.
    fn check(&self, group: Group, ip: IpAddr) -> Option<u64> {
        let limiter = match group {
            Group::Authorize => &self.authorize,
            Group::Token => &self.token,
            Group::Device => &self.device,
            Group::Registration => &self.registration,
        };
        let not_until = limiter.as_ref()?.check_key(&ip).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    }
}

async fn limit_group(
    State((state, group)): State<(AppState, Group)>,
    request: Request,
    next: Next,
) -> Response {
    match over_limit(&state, group, &request) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// The 429 answer if this request is over its group's limit (with `Retry-After`), in the form
/// its group's clients read.
fn over_limit(state: &AppState, group: Group, request: &Request) -> Option<Response> {
    let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>().cloned()?;
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ip = state.limiters.addressing.client_key(peer.ip(), &forwarded);
    let wait = state.limiters.check(group, ip)?;
    // Counted in civpass_rate_limit_refusals_total; a flood must not flood the log too.
    tracing::debug!(path = %request.uri().path(), "rate limit reached");
    crate::metrics::rate_limited(group.as_str());
    let mut res = match group {
        Group::Device | Group::Registration => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests from this address; try again later",
        )
        .into_response(),
        Group::Token => crate::error::OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many requests from this address; try again later",
        )
        .into_response(),
        Group::Authorize => {
            let jar = CookieJar::from_headers(request.headers());
            let lang = Lang::choose(None, &jar, None, request.headers());
            let chrome = Chrome::new(lang, request.uri(), &state.operator);
            pages::message(chrome, StatusCode::TOO_MANY_REQUESTS, "too_many", None, None)
        }
    };
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routes are added only through `Routes::at`, which takes a rate-limit decision: no
    /// route module calls `.route(` itself.
    #[test]
    fn every_route_is_added_with_a_rate_limit_decision() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
        let mut routes = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains(".route("), "{}: add routes with Routes::at", path.display());
            routes += text.matches(".at(").count();
        }
        assert!(routes > 40, "the scan found the routes ({routes})");
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let nets = |list: &[&str]| list.iter().map(|n| parse_proxy(n).unwrap()).collect::<Vec<_>>();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = nets(&["10.0.0.0/8", "192.0.2.7"]);
        let proxy = ip("10.1.1.1");
        // Not behind a trusted proxy: the header is the client's own word, and ignored.
        assert_eq!(client_ip(ip("198.51.100.9"), &["203.0.113.5"], &trusted), ip("198.51.100.9"));
        assert_eq!(client_ip(proxy, &["203.0.113.5"], &[]), proxy);
        // Behind one, or a chain of them.
        assert_eq!(client_ip(proxy, &["203.0.113.5"], &trusted), ip("203.0.113.5"));
        assert_eq!(
            client_ip(proxy, &["198.51.100.1, 203.0.113.5, 192.0.2.7"], &trusted),
            ip("203.0.113.5"),
            "what the client wrote on the left does not count"
        );
        assert_eq!(
            client_ip(proxy, &["198.51.100.1", "203.0.113.5"], &trusted),
            ip("203.0.113.5"),
            "repeated headers read as one list"
        );
        assert_eq!(client_ip(proxy, &["garbage, 10.2.2.2"], &trusted), ip("10.2.2.2"));
        assert_eq!(client_ip(proxy, &[], &trusted), proxy);
        assert_eq!(client_ip(ip("::1"), &["2001:db8::1"], &nets(&["::1"])), ip("2001:db8::1"));
        // An IPv4 proxy seen by a listener on [::], and entries with ports.
        assert_eq!(client_ip(ip("::ffff:10.1.1.1"), &["203.0.113.5"], &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(proxy, &["203.0.113.5:4711"], &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(proxy, &["[2001:db8::1]:443"], &trusted), ip("2001:db8::1"));
        assert_eq!(client_ip(proxy, &["::ffff:203.0.113.5"], &trusted), ip("203.0.113.5"));
        assert!(parse_proxy("10.0.0.0/33").is_err() && parse_proxy("proxy.local").is_err());
    }

    proptest::proptest! {
        /// Whatever the header says, the answer is the peer or an address written in it, and
        /// without trusted proxies always the peer.
        #[test]
        fn any_header_gives_the_peer_or_one_of_its_addresses(header in ".{0,200}", last in 0u8..=255) {
            let peer = IpAddr::from([10, 0, 0, last]);
            let trusted = vec![parse_proxy("10.0.0.0/8").unwrap()];
            let ip = client_ip(peer, &[header.as_str()], &trusted);
            proptest::prop_assert!(ip == peer || header.split(',').any(|h| hop_address(h) == Some(ip)));
            proptest::prop_assert_eq!(client_ip(peer, &[header.as_str()], &[]), peer);
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix_and_ipv4_by_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let by_64 = ClientAddressing::default();
        assert_eq!(by_64.key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(by_64.key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), ip("2001:db8:1:2::"));
        assert_ne!(by_64.key(ip("2001:db8:1:3::1")), by_64.key(ip("2001:db8:1:2::1")));
        assert_eq!(by_64.key(ip("::ffff:203.0.113.5")), ip("203.0.113.5"));
        assert_eq!(by_64.key(ip("203.0.113.5")), ip("203.0.113.5"));
        let by_56 = ClientAddressing { ipv6_prefix: 56, ..ClientAddressing::default() };
        assert_eq!(by_56.key(ip("2001:db8:1:2ff::1")), ip("2001:db8:1:200::"));
        let whole = ClientAddressing { ipv6_prefix: 128, ..ClientAddressing::default() };
        assert_eq!(whole.key(ip("2001:db8::1")), ip("2001:db8::1"));
        // Behind a trusted proxy too: the forwarded address is keyed the same way.
        let behind = ClientAddressing {
            trusted_proxies: vec![parse_proxy("10.0.0.0/8").unwrap()],
            ..ClientAddressing::default()
        };
        assert_eq!(behind.client_key(ip("10.1.1.1"), &["2001:db8:9:9::42"]), ip("2001:db8:9:9::"));
        assert!(behind.is_trusted_proxy(ip("::ffff:10.1.1.1")));
    }

    #[test]
    fn a_whole_ipv6_64_shares_one_allowance() {
        let mut limiters =
            Limiters::new(RateLimits { authorize: 2, token: 2, device: 2, registration: 2 });
        limiters.addressing = ClientAddressing::default();
        let key = |s: &str| limiters.addressing.key(s.parse().unwrap());
        assert_eq!(limiters.check(Group::Token, key("2001:db8::1")), None);
        assert_eq!(limiters.check(Group::Token, key("2001:db8::2")), None);
        assert!(limiters.check(Group::Token, key("2001:db8::ffff")).is_some(), "same /64");
        assert_eq!(limiters.check(Group::Token, key("2001:db8:0:1::1")), None, "next /64");
    }

    #[test]
    fn a_group_allows_its_burst_then_says_how_long_to_wait() {
        let limiters =
            Limiters::new(RateLimits { authorize: 0, token: 3, device: 60, registration: 0 });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiters.check(Group::Token, ip), None);
        }
        let wait = limiters.check(Group::Token, ip).expect("limited");
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(limiters.check(Group::Token, other), None, "per address");
        assert_eq!(limiters.check(Group::Device, ip), None, "per group");
        for _ in 0..1000 {
            assert_eq!(limiters.check(Group::Authorize, ip), None, "0 is off");
        }
    }
}
