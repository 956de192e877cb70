//! `civpass serve`: runs the platform, with the policy the operator chose, and its background
//! work (key reloads, housekeeping, back-channel logout delivery).

use std::path::PathBuf;

use anyhow::Context;
use civpass_core::kernel::Settings;
use civpass_server::{AppState, ClientAddressing, ConnectionLimits, Operator, RateLimits};
use clap::Args;

use crate::app;
use crate::config::{FileConfig, StorageArgs, StorageConfig};

/// What `civpass serve` takes.
#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CIVPASS_LISTEN")]
    listen: Option<String>,
    /// Issuer URL [default: http://localhost:PORT on loopback, else http://LISTEN-ADDRESS].
    #[arg(long, env = "CIVPASS_ISSUER")]
    issuer: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Every client must push its authorization requests (RFC 9126), as FAPI 2.0 asks. This and
    /// the other switches take `=false` too, so a flag or the environment can turn off what the
    /// file turned on.
    #[arg(long, env = "CIVPASS_REQUIRE_PAR", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    require_par: Option<bool>,
    /// Every token must be bound to a DPoP key (RFC 9449), as FAPI 2.0 asks.
    #[arg(long, env = "CIVPASS_REQUIRE_DPOP", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    require_dpop: Option<bool>,
    /// The FAPI 2.0 Security Profile for every client: PAR, DPoP and private_key_jwt only.
    #[arg(long, env = "CIVPASS_FAPI2", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    fapi2: Option<bool>,
    /// A MaxMind DB city database (GeoIP2/GeoLite2 City or compatible) naming the
    /// approximate place of a login's browser, which the app shows [default: none, and the
    /// place is "unknown"].
    #[arg(long, env = "CIVPASS_IP_LOCATION_DB")]
    ip_location_db: Option<PathBuf>,
    /// Let clients register loopback or private URLs for civpass to call (jwks_uri,
    /// sector_identifier_uri, backchannel_logout_uri): for development only.
    #[arg(long, env = "CIVPASS_ALLOW_PRIVATE_URIS", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    allow_private_uris: Option<bool>,
    /// Who runs this platform, as every page's footer names it [default: "civpass sandbox"
    /// with the sandbox registry, else "civpass"].
    #[arg(long, env = "CIVPASS_OPERATOR_NAME")]
    operator_name: Option<String>,
    /// The operator's privacy notice [default: the built-in page at /privacy].
    #[arg(long, env = "CIVPASS_PRIVACY_URL")]
    privacy_url: Option<String>,
    /// The operator's help pages [default: the built-in page at /help].
    #[arg(long, env = "CIVPASS_HELP_URL")]
    help_url: Option<String>,
}

impl ServeArgs {
    pub(crate) async fn run(self, file: &FileConfig) -> anyhow::Result<()> {
        let ServeArgs {
            storage,
            listen,
            issuer,
            limits,
            require_par,
            require_dpop,
            fapi2,
            allow_private_uris,
            ip_location_db,
            operator_name,
            privacy_url,
            help_url,
        } = self;
        let storage = storage.resolve(file);
        let url = |what: &str, given: Option<String>| -> anyhow::Result<Option<String>> {
            given
                .map(|u| {
                    url::Url::parse(&u)
                        .ok()
                        .filter(|p| matches!(p.scheme(), "https" | "http"))
                        .map(|_| u.clone())
                        .with_context(|| format!("{what} must be an http(s) URL, not {u:?}"))
                })
                .transpose()
        };
        let operator = Operator {
            name: operator_name.or_else(|| file.operator_name.clone()).unwrap_or_else(|| {
                if storage.registry_url.is_none() { "civpass sandbox" } else { "civpass" }
                    .to_owned()
            }),
            privacy_url: url("privacy_url", privacy_url.or_else(|| file.privacy_url.clone()))?,
            help_url: url("help_url", help_url.or_else(|| file.help_url.clone()))?,
        };
        let policy = Policy {
            limits: limits.resolve(file),
            identity_attempts_per_hour: limits
                .identity_attempts_per_hour
                .or(file.identity_attempts_per_hour),
            max_pending_logins_per_browser: limits
                .max_pending_logins_per_browser
                .or(file.max_pending_logins_per_browser),
            max_pending_logins_per_address: limits
                .max_pending_logins_per_address
                .or(file.max_pending_logins_per_address),
            addressing: limits.addressing(file)?,
            connections: limits.connections(file),
            require_par: require_par.or(file.require_par).unwrap_or(false),
            require_dpop: require_dpop.or(file.require_dpop).unwrap_or(false),
            allow_private_uris: allow_private_uris.or(file.allow_private_uris).unwrap_or(false),
            fapi2: fapi2.or(file.fapi2).unwrap_or(false),
            ip_location_db: ip_location_db.or_else(|| file.ip_location_db.clone()),
            operator,
        };
        serve(file, storage, listen, issuer, policy).await
    }
}

/// What `serve` enforces beyond the protocols' minimum.
struct Policy {
    limits: RateLimits,
    /// `None` keeps `Settings`' default, here and below.
    identity_attempts_per_hour: Option<u32>,
    max_pending_logins_per_browser: Option<u32>,
    max_pending_logins_per_address: Option<u32>,
    addressing: ClientAddressing,
    connections: ConnectionLimits,
    require_par: bool,
    require_dpop: bool,
    allow_private_uris: bool,
    fapi2: bool,
    ip_location_db: Option<PathBuf>,
    operator: Operator,
}

impl Policy {
    fn settings(&self, issuer: &str) -> Settings {
        let mut settings = Settings::new(issuer);
        settings.require_par = self.require_par;
        settings.allow_loopback_uris = self.allow_private_uris;
        let defaults = settings.clone();
        settings.identity_attempts_per_hour =
            self.identity_attempts_per_hour.unwrap_or(defaults.identity_attempts_per_hour);
        settings.max_pending_logins_per_browser =
            self.max_pending_logins_per_browser.unwrap_or(defaults.max_pending_logins_per_browser);
        settings.max_pending_logins_per_address =
            self.max_pending_logins_per_address.unwrap_or(defaults.max_pending_logins_per_address);
        settings
    }
}

/// Requests a minute per client IP address; 0 turns a limit off.
#[derive(Args)]
struct LimitArgs {
    /// `/authorize`, `/logout` and login pages [default: 120].
    #[arg(long, env = "CIVPASS_RATE_LIMIT_AUTHORIZE")]
    rate_limit_authorize: Option<u32>,
    /// `/token`, `/revoke`, `/introspect`, `/par`, `/register`, `/userinfo` [default: 600].
    #[arg(long, env = "CIVPASS_RATE_LIMIT_TOKEN")]
    rate_limit_token: Option<u32>,
    /// The device API, but for registration [default: 120].
    #[arg(long, env = "CIVPASS_RATE_LIMIT_DEVICE")]
    rate_limit_device: Option<u32>,
    /// Registration (enrolments and passkey registrations) [default: 30].
    #[arg(long, env = "CIVPASS_RATE_LIMIT_REGISTRATION")]
    rate_limit_registration: Option<u32>,
    /// Remote registrations that may name one identity in an hour, from any address; 0 turns
    /// the limit off [default: 10].
    #[arg(long, env = "CIVPASS_IDENTITY_ATTEMPTS_PER_HOUR")]
    identity_attempts_per_hour: Option<u32>,
    /// Pending login requests one browser may hold at once; 0 turns the cap off [default: 5].
    #[arg(long, env = "CIVPASS_MAX_PENDING_LOGINS_PER_BROWSER")]
    max_pending_logins_per_browser: Option<u32>,
    /// Pending login requests one client address (IPv6: prefix) may hold at once; 0 turns the
    /// cap off [default: 50].
    #[arg(long, env = "CIVPASS_MAX_PENDING_LOGINS_PER_ADDRESS")]
    max_pending_logins_per_address: Option<u32>,
    /// A reverse proxy (address or CIDR network) whose X-Forwarded-For names the client for
    /// the rate limits; repeat, or comma-separate in the environment [default: none].
    #[arg(long = "trusted-proxy", env = "CIVPASS_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<String>,
    /// IPv6 clients are counted by this prefix length of their address, as one host holds a
    /// whole /64 [default: 64].
    #[arg(long, env = "CIVPASS_IPV6_CLIENT_PREFIX", value_parser = clap::value_parser!(u8).range(1..=128))]
    ipv6_client_prefix: Option<u8>,
    /// Seconds a client may take to send a request head; 0 turns it off [default: 10].
    #[arg(long, env = "CIVPASS_HEADER_READ_TIMEOUT")]
    header_read_timeout: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request; 0 turns it off
    /// [default: 30].
    #[arg(long, env = "CIVPASS_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// Open connections at most, always kept below the open-file limit; 0 means that limit
    /// alone [default: 8192].
    #[arg(long, env = "CIVPASS_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Open connections at most from one client address (IPv6: prefix); trusted proxies are
    /// exempt; 0 means no cap [default: 256].
    #[arg(long, env = "CIVPASS_MAX_CONNECTIONS_PER_CLIENT")]
    max_connections_per_client: Option<usize>,
}

impl LimitArgs {
    fn resolve(&self, file: &FileConfig) -> RateLimits {
        let defaults = RateLimits::default();
        RateLimits {
            authorize: self
                .rate_limit_authorize
                .or(file.rate_limit_authorize)
                .unwrap_or(defaults.authorize),
            token: self.rate_limit_token.or(file.rate_limit_token).unwrap_or(defaults.token),
            device: self.rate_limit_device.or(file.rate_limit_device).unwrap_or(defaults.device),
            registration: self
                .rate_limit_registration
                .or(file.rate_limit_registration)
                .unwrap_or(defaults.registration),
        }
    }

    fn addressing(&self, file: &FileConfig) -> anyhow::Result<ClientAddressing> {
        let prefix = self.ipv6_client_prefix.or(file.ipv6_client_prefix).unwrap_or(64);
        if !(1..=128).contains(&prefix) {
            anyhow::bail!("ipv6_client_prefix must be between 1 and 128");
        }
        Ok(ClientAddressing { trusted_proxies: self.proxies(file)?, ipv6_prefix: prefix })
    }

    fn connections(&self, file: &FileConfig) -> ConnectionLimits {
        let defaults = ConnectionLimits::default();
        let seconds = |flag: Option<u64>, key: Option<u64>, default: std::time::Duration| {
            flag.or(key).map(std::time::Duration::from_secs).unwrap_or(default)
        };
        ConnectionLimits {
            header_read_timeout: seconds(
                self.header_read_timeout,
                file.header_read_timeout,
                defaults.header_read_timeout,
            ),
            idle_timeout: seconds(self.idle_timeout, file.idle_timeout, defaults.idle_timeout),
            max_connections: self
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults.max_connections),
            max_connections_per_client: self
                .max_connections_per_client
                .or(file.max_connections_per_client)
                .unwrap_or(defaults.max_connections_per_client),
        }
    }

    fn proxies(&self, file: &FileConfig) -> anyhow::Result<Vec<civpass_server::IpNet>> {
        let given = if self.trusted_proxies.is_empty() {
            file.trusted_proxies.clone().unwrap_or_default()
        } else {
            self.trusted_proxies.clone()
        };
        given
            .iter()
            .map(|p| {
                civpass_server::parse_proxy(p).map_err(|e| anyhow::anyhow!("trusted proxy: {e}"))
            })
            .collect()
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// `http://localhost:PORT` on a loopback address, because WebAuthn (the app's passkeys) needs a
/// domain name and browsers treat localhost as secure; else the address itself.
fn default_issuer(address: std::net::SocketAddr) -> String {
    if address.ip().is_loopback() {
        format!("http://localhost:{}", address.port())
    } else {
        format!("http://{address}")
    }
}

async fn serve(
    file: &FileConfig,
    storage: StorageConfig,
    listen: Option<String>,
    issuer: Option<String>,
    policy: Policy,
) -> anyhow::Result<()> {
    let listen =
        listen.or_else(|| file.listen.clone()).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    let issuer = issuer.or_else(|| file.issuer.clone()).unwrap_or_else(|| default_issuer(address));
    if storage.registry_url.is_some() && storage.evidence_url.is_none() {
        anyhow::bail!(
            "a real population registry needs a real identity evidence verifier: set --evidence-url \
             (the sandbox verifier passes whatever a tester asks, so it runs only with the sandbox registry)"
        );
    }
    let store = app::open_store(&storage).await?;
    let services = app::services(&storage, store, policy.settings(&issuer))
        .await?
        .with_dpop_required(policy.require_dpop)
        .with_fapi2(policy.fapi2);
    let services = match &policy.ip_location_db {
        Some(path) => services.with_ip_locator(std::sync::Arc::new(
            civpass_server::MaxMindLocator::open(path).map_err(anyhow::Error::msg)?,
        )),
        None => services,
    };
    if !services.device.passkeys_available() {
        tracing::warn!(
            %issuer,
            "passkeys are off, so the app cannot register: WebAuthn needs an issuer with a domain name (localhost, not 127.0.0.1)"
        );
    }
    let connections = within_open_file_limit(policy.connections);
    let state = AppState::with_limits_behind(services, policy.limits, policy.addressing.clone())
        .with_operator(policy.operator);
    tokio::spawn(housekeeping(state.clone()));
    tokio::spawn(reload_keys(state.services.clone()));
    tokio::spawn(supervise_logout_outbox(state.services.clone()));
    let router = civpass_server::router(state);
    let data = if storage.database_url.starts_with("postgres") {
        "PostgreSQL".to_owned()
    } else {
        format!("SQLite in {}", storage.data_dir.display())
    };
    let registry = match &storage.registry_url {
        // Hosts only: a URL could carry credentials.
        Some(url) => format!(
            "{} (identity evidence from {})",
            host_of(url),
            storage.evidence_url.as_deref().map_or("?".to_owned(), host_of)
        ),
        None => "the sandbox (synthetic people; `civpass registry list`)".to_owned(),
    };
    // The first line's form is read by scripts and tests: keep it. One write, and its failure
    // ignored: a reader that took the first line and closed the pipe must not stop the server.
    // The second line names the issuer's host because passkeys work only there.
    let _ = std::io::Write::write_all(
        &mut std::io::stdout(),
        format!(
            "civpass listening on http://{address} (issuer {issuer})\n\
             Open {issuer}/ in a browser; the citizen app is at {issuer}/app/\n\
             Data: {data}; registry: {registry}\n"
        )
        .as_bytes(),
    );
    tracing::info!(%address, %issuer, "civpass is serving");
    civpass_server::serve(listener, router, connections, policy.addressing, shutdown_signal())
        .await;
    tracing::info!("civpass has stopped");
    Ok(())
}

/// Raises the soft limit on open files to the hard one (as Go's runtime does), and keeps the
/// connection cap below it with room for the database and the outbound calls: when the
/// process runs out of descriptors, accepting fails for everyone, not only past the cap.
fn within_open_file_limit(mut limits: ConnectionLimits) -> ConnectionLimits {
    const RESERVED: u64 = 256;
    let Ok(open_files) = rlimit::increase_nofile_limit(u64::MAX) else { return limits };
    let room = usize::try_from(open_files.saturating_sub(RESERVED)).unwrap_or(usize::MAX).max(1);
    if limits.max_connections == 0 || limits.max_connections > room {
        tracing::warn!(
            open_files,
            max_connections = room,
            "the connection cap is lowered to fit the open-file limit; raise `ulimit -n` (LimitNOFILE) for more"
        );
        limits.max_connections = room;
    }
    limits
}

/// Back-channel logout delivery, restarted if it ever stops (it only stops by panicking).
async fn supervise_logout_outbox(services: civpass_core::platform::Platform) {
    loop {
        let run = tokio::spawn(services.oidc.clone().run_logout_outbox()).await;
        tracing::error!(
            panicked = run.is_err(),
            "back-channel logout delivery stopped; restarting"
        );
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Every minute: keys rotated by another node or by `civpass keys rotate` are picked up, well
/// before they start signing.
async fn reload_keys(services: civpass_core::platform::Platform) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = services.keys.reload_keys().await {
            tracing::warn!(cause = %e, "reloading the signing keys failed");
        }
    }
}

/// Every ten minutes: expired login requests, ceremonies, sessions and retired refresh tokens
/// go, and the rate limiters forget quiet addresses.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        state.forget_idle_clients();
        match state.services.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n_deleted = n, "expired login requests purged"),
            Err(e) => tracing::warn!(cause = %e, "purging expired login requests failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn switches(args: &[&str], file: &str) -> [bool; 4] {
        let parsed = Command::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .serve;
        let file: FileConfig = toml::from_str(file).unwrap();
        let on = |flag: Option<bool>, key: Option<bool>| flag.or(key).unwrap_or(false);
        [
            on(parsed.require_par, file.require_par),
            on(parsed.require_dpop, file.require_dpop),
            on(parsed.fapi2, file.fapi2),
            on(parsed.allow_private_uris, file.allow_private_uris),
        ]
    }

    #[test]
    fn a_flag_turns_a_switch_on_or_off_whatever_the_file_says() {
        let all =
            "require_par = true\nrequire_dpop = true\nfapi2 = true\nallow_private_uris = true";
        assert_eq!(switches(&[], ""), [false; 4]);
        assert_eq!(switches(&[], all), [true; 4]);
        assert_eq!(switches(&["--require-par", "--fapi2"], ""), [true, false, true, false]);
        assert_eq!(
            switches(
                &[
                    "--require-par=false",
                    "--require-dpop=no",
                    "--fapi2=0",
                    "--allow-private-uris=false"
                ],
                all
            ),
            [false; 4]
        );
        assert!(Command::try_parse_from(["serve", "--fapi2=maybe"]).is_err(), "only yes or no");
    }
}
