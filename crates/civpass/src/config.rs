//! Flags and `CIVPASS_*` environment variables (clap reads both; a flag wins), laid over the
//! configuration file (`civpass_driver::Config`, which holds the defaults and the sections).
//! Every key has a flag and a variable of the same name; a switch takes `=false` too, so a flag
//! or the environment can turn off what the file turned on.

use std::path::PathBuf;

use civpass_driver::Config;
use clap::Args;

/// Sets `target` to the flag's value when one was given.
fn set<T>(target: &mut T, given: Option<T>) {
    if let Some(value) = given {
        *target = value;
    }
}

/// Where the platform keeps its data (`[storage]`): every command that opens it takes these.
#[derive(Args, Clone)]
pub(crate) struct StorageArgs {
    /// Data directory (SQLite database and master key) [default: ./civpass-data].
    #[arg(long, env = "CIVPASS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` selects PostgreSQL; default SQLite in the data directory.
    #[arg(long, env = "CIVPASS_DATABASE_URL")]
    database_url: Option<String>,
    /// Master key: base64url of 32 bytes, or versions `v1:KEY v2:KEY` (the highest wraps new data
    /// keys) [default: DATA_DIR/master.key, created on first start].
    #[arg(long, env = "CIVPASS_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// Base URL of an HTTP population registry; default the synthetic sandbox registry.
    #[arg(long, env = "CIVPASS_REGISTRY_URL")]
    registry_url: Option<String>,
    /// Base URL of a vendor's identity evidence service (document, liveness and face match);
    /// default the sandbox verifier, which only the sandbox registry may use.
    #[arg(long, env = "CIVPASS_EVIDENCE_URL")]
    evidence_url: Option<String>,
}

impl StorageArgs {
    /// The file's configuration with these flags over it.
    pub(crate) fn over(&self, file: &Config) -> Config {
        let mut config = file.clone();
        let storage = &mut config.storage;
        set(&mut storage.data_dir, self.data_dir.clone());
        set(&mut storage.database_url, self.database_url.clone().map(Some));
        set(&mut storage.master_key, self.master_key.clone().map(Some));
        set(&mut storage.registry_url, self.registry_url.clone().map(Some));
        set(&mut storage.evidence_url, self.evidence_url.clone().map(Some));
        config
    }
}

/// What `civpass serve` takes besides the storage: `[server]`, `[oidc]`, `[limits]` and
/// `[operator]`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) storage: StorageArgs,
    /// Address to listen on [default: 127.0.0.1:8080]. The switches below (`--fapi2` and
    /// others) take `=false` too, so a flag or the environment can turn off what the file
    /// turned on.
    #[arg(long, env = "CIVPASS_LISTEN")]
    listen: Option<String>,
    /// Issuer URL [default: http://localhost:PORT on loopback, else http://LISTEN-ADDRESS].
    #[arg(long, env = "CIVPASS_ISSUER")]
    issuer: Option<String>,
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
    /// A MaxMind DB city database (GeoIP2/GeoLite2 City or compatible) naming the
    /// approximate place of a login's browser, which the app shows [default: none, and the
    /// place is "unknown"].
    #[arg(long, env = "CIVPASS_IP_LOCATION_DB")]
    ip_location_db: Option<PathBuf>,
    /// A listener of its own for `/metrics`, such as 127.0.0.1:9090 [default: none, and
    /// `/metrics` is served on the public listener].
    #[arg(long, env = "CIVPASS_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Every client must push its authorization requests (RFC 9126), as FAPI 2.0 asks.
    #[arg(long, env = "CIVPASS_REQUIRE_PAR", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    require_par: Option<bool>,
    /// Every token must be bound to a DPoP key (RFC 9449), as FAPI 2.0 asks.
    #[arg(long, env = "CIVPASS_REQUIRE_DPOP", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    require_dpop: Option<bool>,
    /// The FAPI 2.0 Security Profile for every client: PAR, DPoP and private_key_jwt only.
    #[arg(long, env = "CIVPASS_FAPI2", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    fapi2: Option<bool>,
    /// Let clients register loopback or private URLs for civpass to call (jwks_uri,
    /// sector_identifier_uri, backchannel_logout_uri, security_events_push_uri): for
    /// development only.
    #[arg(long, env = "CIVPASS_ALLOW_PRIVATE_URIS", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    allow_private_uris: Option<bool>,
    /// `/authorize`, `/logout` and login pages, requests a minute per address [default: 120].
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
    /// An SMTP relay for citizens' mail (`smtp://host:port`, `smtps://user:password@host`)
    /// [default: with the sandbox registry, DATA_DIR/sandbox-messages/mail.jsonl].
    #[arg(long, env = "CIVPASS_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of civpass's mail [default: "civpass <no-reply@localhost>"].
    #[arg(long, env = "CIVPASS_MAIL_FROM")]
    mail_from: Option<String>,
}

impl ServeArgs {
    /// The file's configuration with these flags over it.
    pub(crate) fn over(self, file: &Config) -> Config {
        let mut config = self.storage.over(file);
        let server = &mut config.server;
        set(&mut server.listen, self.listen);
        set(&mut server.issuer, self.issuer.map(Some));
        set(&mut server.header_read_timeout, self.header_read_timeout);
        set(&mut server.idle_timeout, self.idle_timeout);
        set(&mut server.max_connections, self.max_connections);
        set(&mut server.max_connections_per_client, self.max_connections_per_client);
        set(&mut server.ip_location_db, self.ip_location_db.map(Some));
        set(&mut server.metrics_listen, self.metrics_listen.map(Some));
        let oidc = &mut config.oidc;
        set(&mut oidc.require_par, self.require_par);
        set(&mut oidc.require_dpop, self.require_dpop);
        set(&mut oidc.fapi2, self.fapi2);
        set(&mut oidc.allow_private_uris, self.allow_private_uris);
        let limits = &mut config.limits;
        set(&mut limits.rate_limit_authorize, self.rate_limit_authorize);
        set(&mut limits.rate_limit_token, self.rate_limit_token);
        set(&mut limits.rate_limit_device, self.rate_limit_device);
        set(&mut limits.rate_limit_registration, self.rate_limit_registration);
        set(&mut limits.identity_attempts_per_hour, self.identity_attempts_per_hour);
        set(&mut limits.max_pending_logins_per_browser, self.max_pending_logins_per_browser);
        set(&mut limits.max_pending_logins_per_address, self.max_pending_logins_per_address);
        set(&mut limits.ipv6_client_prefix, self.ipv6_client_prefix);
        if !self.trusted_proxies.is_empty() {
            limits.trusted_proxies = self.trusted_proxies;
        }
        let operator = &mut config.operator;
        set(&mut operator.name, self.operator_name.map(Some));
        set(&mut operator.privacy_url, self.privacy_url.map(Some));
        set(&mut operator.help_url, self.help_url.map(Some));
        let messaging = &mut config.messaging;
        set(&mut messaging.smtp_url, self.smtp_url.map(Some));
        set(&mut messaging.mail_from, self.mail_from);
        config
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

    fn resolved(args: &[&str], file: &str) -> Config {
        let parsed = Command::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .serve;
        parsed.over(&Config::parse(file).unwrap())
    }

    fn switches(args: &[&str], file: &str) -> [bool; 4] {
        let oidc = resolved(args, file).oidc;
        [oidc.require_par, oidc.require_dpop, oidc.fapi2, oidc.allow_private_uris]
    }

    #[test]
    fn a_flag_turns_a_switch_on_or_off_whatever_the_file_says() {
        let all = "[oidc]\nrequire_par = true\nrequire_dpop = true\nfapi2 = true\nallow_private_uris = true";
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

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let file = "[storage]\ndata_dir = \"/srv/civpass\"\ndatabase_url = \"postgres://db/civpass\"\n\
                    [limits]\nrate_limit_token = 7\ntrusted_proxies = [\"10.0.0.1\"]\n[server]\nlisten = \"0.0.0.0:80\"";
        let config =
            resolved(&["--database-url", "sqlite://x.db", "--rate-limit-token", "0"], file);
        assert_eq!(config.storage.data_dir, PathBuf::from("/srv/civpass"));
        assert_eq!(config.storage.database_url(), "sqlite://x.db");
        assert_eq!((config.limits.rate_limit_token, config.limits.rate_limit_device), (0, 120));
        assert_eq!(config.limits.trusted_proxies, ["10.0.0.1"]);
        assert_eq!(config.server.listen, "0.0.0.0:80");
        let config = resolved(&["--trusted-proxy", "10.0.0.2", "--listen", "127.0.0.1:1"], file);
        assert_eq!(
            (config.limits.trusted_proxies, config.server.listen),
            (vec!["10.0.0.2".to_owned()], "127.0.0.1:1".to_owned())
        );
    }
}
