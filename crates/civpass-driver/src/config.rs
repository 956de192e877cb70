//! `Config`: every setting of a civpass node, in sections (`[server]`, `[storage]`, `[oidc]`,
//! `[limits]`, `[operator]`). Precedence, lowest to highest: the defaults here, the TOML file,
//! then `CIVPASS_*` environment variables and flags, which the binary applies over the file
//! (`Config::load`, then assignments). Unknown keys are an error; a key of the old flat form
//! names the section it moved to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use civpass_core::kernel::Settings;
use civpass_server::{ClientAddressing, ConnectionLimits, IpNet, Operator, RateLimits};
use serde::Deserialize;

/// The whole configuration, as the file spells it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub oidc: OidcConfig,
    pub limits: LimitsConfig,
    pub operator: OperatorConfig,
    pub messaging: MessagingConfig,
}

/// `[server]`: where it listens, the name it issues under, and how long a connection may idle.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `127.0.0.1:8080` by default.
    pub listen: String,
    /// The issuer URL; by default `http://localhost:PORT` on loopback (passkeys need a domain
    /// name), else `http://LISTEN-ADDRESS`.
    pub issuer: Option<String>,
    /// Seconds a client may take to send a request head; 0 turns it off.
    pub header_read_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request; 0 turns it off.
    pub idle_timeout: u64,
    /// Open connections at most, always kept below the open-file limit; 0: that limit alone.
    pub max_connections: usize,
    /// Open connections at most from one client address (IPv6: prefix); 0: no cap.
    pub max_connections_per_client: usize,
    /// A MaxMind DB city database naming the approximate place of a login's browser.
    pub ip_location_db: Option<PathBuf>,
    /// A listener of its own for `/metrics` (say `127.0.0.1:9090`); by default `/metrics` is
    /// on the public listener.
    pub metrics_listen: Option<String>,
    /// `text` (the default) or `json`, one object per line; `CIVPASS_LOG_FORMAT` wins.
    pub log_format: LogFormat,
}

/// How the server writes its log to standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        let connections = ConnectionLimits::default();
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            issuer: None,
            header_read_timeout: connections.header_read_timeout.as_secs(),
            idle_timeout: connections.idle_timeout.as_secs(),
            max_connections: connections.max_connections,
            max_connections_per_client: connections.max_connections_per_client,
            ip_location_db: None,
            metrics_listen: None,
            log_format: LogFormat::Text,
        }
    }
}

/// `[storage]`: where the data lives and the outside sources of identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The SQLite database and the master key; `./civpass-data` by default.
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; by default SQLite in the data directory.
    pub database_url: Option<String>,
    /// Base64url of 32 bytes; by default `master.key` in the data directory.
    pub master_key: Option<String>,
    /// An HTTP population registry; by default the synthetic sandbox registry.
    pub registry_url: Option<String>,
    /// A vendor's identity evidence service; by default the sandbox verifier, which only the
    /// sandbox registry may use.
    pub evidence_url: Option<String>,
}

impl Default for StorageConfig {
    fn default() -> StorageConfig {
        StorageConfig {
            data_dir: PathBuf::from("./civpass-data"),
            database_url: None,
            master_key: None,
            registry_url: None,
            evidence_url: None,
        }
    }
}

impl StorageConfig {
    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("civpass.db").display())
        })
    }

    /// How the data is kept, for the start-up line (hosts only: a URL may carry credentials).
    pub fn describe(&self) -> String {
        if self.database_url().starts_with("postgres") {
            "PostgreSQL".to_owned()
        } else {
            format!("SQLite in {}", self.data_dir.display())
        }
    }
}

/// `[oidc]`: the profile every client is held to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Every client must push its authorization requests (RFC 9126).
    pub require_par: bool,
    /// Every token must be bound to a DPoP key (RFC 9449).
    pub require_dpop: bool,
    /// The FAPI 2.0 Security Profile for every client: PAR, DPoP and `private_key_jwt` only.
    pub fapi2: bool,
    /// Clients may register loopback or private URLs for civpass to call (development only).
    pub allow_private_uris: bool,
}

/// `[limits]`: what one client address, browser or identity may do; 0 turns a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests a minute per address to `/authorize`, `/logout` and the login pages.
    pub rate_limit_authorize: u32,
    /// Requests a minute per address to the token endpoints.
    pub rate_limit_token: u32,
    /// Requests a minute per address to the device API but for registration.
    pub rate_limit_device: u32,
    /// Requests a minute per address to registration.
    pub rate_limit_registration: u32,
    /// Remote registrations that may name one identity in an hour, from any address.
    pub identity_attempts_per_hour: u32,
    /// Pending login requests one browser may hold at once.
    pub max_pending_logins_per_browser: u32,
    /// Pending login requests one client address (IPv6: prefix) may hold at once.
    pub max_pending_logins_per_address: u32,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// IPv6 clients are counted by this prefix of their address (1 to 128).
    pub ipv6_client_prefix: u8,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        let rates = RateLimits::default();
        let settings = Settings::new("");
        LimitsConfig {
            rate_limit_authorize: rates.authorize,
            rate_limit_token: rates.token,
            rate_limit_device: rates.device,
            rate_limit_registration: rates.registration,
            identity_attempts_per_hour: settings.identity_attempts_per_hour,
            max_pending_logins_per_browser: settings.max_pending_logins_per_browser,
            max_pending_logins_per_address: settings.max_pending_logins_per_address,
            trusted_proxies: Vec::new(),
            ipv6_client_prefix: ClientAddressing::default().ipv6_prefix,
        }
    }
}

/// `[operator]`: who runs the platform, as every page says.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorConfig {
    /// By default "civpass sandbox" with the sandbox registry, else "civpass".
    pub name: Option<String>,
    /// The operator's privacy notice; by default the built-in page at /privacy.
    pub privacy_url: Option<String>,
    /// The operator's help pages; by default the built-in page at /help.
    pub help_url: Option<String>,
}

/// `[messaging]`: how civpass reaches citizens (e-mail verification links, SMS codes).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagingConfig {
    /// An SMTP relay (`smtp://host:port`, `smtps://user:password@host`); by default, with
    /// the sandbox registry, mail goes to DATA_DIR/sandbox-messages/mail.jsonl, and with a
    /// real registry e-mail verification is off.
    pub smtp_url: Option<String>,
    /// The sender of civpass's mail.
    pub mail_from: String,
}

impl Default for MessagingConfig {
    fn default() -> MessagingConfig {
        MessagingConfig { smtp_url: None, mail_from: "civpass <no-reply@localhost>".to_owned() }
    }
}

/// The sections of the file, for naming where a flat key moved.
const SECTIONS: [&str; 6] = ["server", "storage", "oidc", "limits", "operator", "messaging"];

impl Config {
    /// The defaults, overlaid by the file at `path` if one is given.
    ///
    /// Errors: the file cannot be read, is not TOML, holds an unknown key or a value of the
    /// wrong type; a key of the old flat form is named with the section it belongs in.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// The defaults, overlaid by the TOML `text`.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let table: toml::Table = toml::from_str(text)?;
        for (key, value) in &table {
            if SECTIONS.contains(&key.as_str()) {
                continue;
            }
            // The section a flat key moved to is the one that accepts it: found from the
            // types themselves, so the hint cannot fall out of step with them.
            let moved = SECTIONS.iter().find(|section| {
                let mut probe = toml::Table::new();
                let mut inner = toml::Table::new();
                inner.insert(key.clone(), value.clone());
                probe.insert(section.to_string(), toml::Value::Table(inner));
                Config::deserialize(probe).is_ok()
            });
            match moved {
                Some(section) => bail!("`{key}` belongs in the [{section}] section now"),
                None => bail!("unknown key `{key}`; the sections are {}", SECTIONS.join(", ")),
            }
        }
        Ok(Config::deserialize(table)?)
    }

    /// The issuer for a node listening on `address`.
    pub fn issuer(&self, address: std::net::SocketAddr) -> String {
        self.server.issuer.clone().unwrap_or_else(|| {
            // Passkeys need a domain name, and browsers treat localhost as secure.
            if address.ip().is_loopback() {
                format!("http://localhost:{}", address.port())
            } else {
                format!("http://{address}")
            }
        })
    }

    /// Core's settings under `issuer`.
    pub fn settings(&self, issuer: &str) -> Settings {
        let mut settings = Settings::new(issuer);
        settings.require_par = self.oidc.require_par;
        settings.require_dpop = self.oidc.require_dpop;
        settings.allow_loopback_uris = self.oidc.allow_private_uris;
        settings.identity_attempts_per_hour = self.limits.identity_attempts_per_hour;
        settings.max_pending_logins_per_browser = self.limits.max_pending_logins_per_browser;
        settings.max_pending_logins_per_address = self.limits.max_pending_logins_per_address;
        settings
    }

    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            authorize: self.limits.rate_limit_authorize,
            token: self.limits.rate_limit_token,
            device: self.limits.rate_limit_device,
            registration: self.limits.rate_limit_registration,
        }
    }

    /// Errors: a trusted proxy that is not an address or network, or a prefix out of range.
    pub fn addressing(&self) -> anyhow::Result<ClientAddressing> {
        let prefix = self.limits.ipv6_client_prefix;
        if !(1..=128).contains(&prefix) {
            bail!("ipv6_client_prefix must be between 1 and 128");
        }
        let trusted_proxies = self
            .limits
            .trusted_proxies
            .iter()
            .map(|p| {
                civpass_server::parse_proxy(p).map_err(|e| anyhow::anyhow!("trusted proxy: {e}"))
            })
            .collect::<anyhow::Result<Vec<IpNet>>>()?;
        Ok(ClientAddressing { trusted_proxies, ipv6_prefix: prefix })
    }

    pub fn connections(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.server.header_read_timeout),
            idle_timeout: Duration::from_secs(self.server.idle_timeout),
            max_connections: self.server.max_connections,
            max_connections_per_client: self.server.max_connections_per_client,
        }
    }

    /// Errors: a privacy or help address that is not an http(s) URL.
    pub fn operator(&self) -> anyhow::Result<Operator> {
        let url = |what: &str, given: &Option<String>| -> anyhow::Result<Option<String>> {
            given
                .as_ref()
                .map(|u| {
                    url::Url::parse(u)
                        .ok()
                        .filter(|p| matches!(p.scheme(), "https" | "http"))
                        .map(|_| u.clone())
                        .with_context(|| format!("{what} must be an http(s) URL, not {u:?}"))
                })
                .transpose()
        };
        Ok(Operator {
            name: self.operator.name.clone().unwrap_or_else(|| {
                if self.storage.registry_url.is_none() { "civpass sandbox" } else { "civpass" }
                    .to_owned()
            }),
            privacy_url: url("privacy_url", &self.operator.privacy_url)?,
            help_url: url("help_url", &self.operator.help_url)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_overlays_the_defaults_section_by_section() {
        let config = Config::parse(
            "[storage]\ndata_dir = \"/srv/civpass\"\n[oidc]\nrequire_par = true\n[limits]\nrate_limit_token = 7",
        )
        .unwrap();
        assert_eq!(config.storage.data_dir, PathBuf::from("/srv/civpass"));
        assert_eq!(config.storage.database_url(), "sqlite:///srv/civpass/civpass.db?mode=rwc");
        assert!(config.oidc.require_par && !config.oidc.fapi2);
        assert_eq!(config.rate_limits().token, 7);
        assert_eq!(config.rate_limits().authorize, RateLimits::default().authorize);
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        let defaults = Config::default();
        assert_eq!(defaults.storage.database_url(), "sqlite://./civpass-data/civpass.db?mode=rwc");
        assert_eq!(defaults.settings("http://x").max_pending_logins_per_address, 50);
    }

    #[test]
    fn unknown_and_moved_keys_are_errors_that_say_where_to_look() {
        let moved = Config::parse("listen = \"127.0.0.1:1\"").unwrap_err().to_string();
        assert!(moved.contains("[server]"), "{moved}");
        let moved = Config::parse("require_par = true").unwrap_err().to_string();
        assert!(moved.contains("[oidc]"), "{moved}");
        let unknown = Config::parse("lisen = 1").unwrap_err().to_string();
        assert!(unknown.contains("unknown key `lisen`"), "{unknown}");
        assert!(Config::parse("[server]\nlisen = \"x\"").is_err());
        assert!(Config::parse("[oidc]\nfapi2 = \"maybe\"").is_err(), "a switch is true or false");
    }

    /// The keys a section accepts, from the type itself (serde names them when it refuses an
    /// unknown one).
    fn keys_of(section: &str) -> Vec<String> {
        let error = Config::parse(&format!("[{section}]\nnot_a_key = 0")).unwrap_err().to_string();
        // serde lists three keys or more as "one of `a`, `b`, `c`", and two as "`a` or `b`".
        let listed = error
            .split("expected one of ")
            .nth(1)
            .or_else(|| error.split("expected ").nth(1))
            .unwrap_or_default();
        let listed = listed.lines().next().unwrap_or_default().replace(" or ", ", ");
        let mut keys: Vec<String> =
            listed.split(", ").map(|k| k.trim().trim_matches('`').to_owned()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_configuration_guide_lists_every_key_of_every_section() {
        let guide = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md"),
        )
        .unwrap();
        for section in SECTIONS {
            let prefix = format!("| `[{section}]` `");
            let mut documented: Vec<String> = guide
                .lines()
                .filter_map(|line| line.strip_prefix(&prefix))
                .filter_map(|rest| rest.split('`').next().map(str::to_owned))
                .collect();
            documented.sort();
            assert_eq!(documented, keys_of(section), "[{section}] in docs/CONFIGURATION.md");
        }
    }

    #[test]
    fn the_guides_example_files_parse() {
        let guide = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md"),
        )
        .unwrap();
        let examples: Vec<&str> =
            guide.split("```toml\n").skip(1).filter_map(|rest| rest.split("```").next()).collect();
        assert!(examples.len() >= 2, "the guide's examples were found");
        for example in examples {
            Config::parse(example).unwrap_or_else(|e| panic!("{e:#}\n{example}"));
        }
    }

    #[test]
    fn the_deployment_example_parses() {
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/civpass.toml"),
        )
        .unwrap();
        let config = Config::parse(&example).unwrap();
        assert_eq!(config.server.log_format, LogFormat::Json);
        assert!(config.server.metrics_listen.is_some());
    }
}
