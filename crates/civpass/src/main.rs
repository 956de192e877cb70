//! `civpass`: the platform's one binary. `serve` runs it; the other subcommands administer it
//! (`client`, `registry`), act as a citizen's device (`wallet`) or measure it (`bench`).

// A command-line program prints its results.
#![allow(clippy::print_stdout)]

mod app;
mod bench;
mod config;

use std::path::PathBuf;

use anyhow::Context;
use civpass_core::clients::ClientSpec;
use civpass_core::login::Verdict;
use civpass_core::model::{AuthMethod, GrantType};
use civpass_core::scopes;
use civpass_core::services::Settings;
use civpass_crypto::jws::Algorithm;
use civpass_registry::SandboxRegistry;
use civpass_server::{AppState, ClientAddressing, ConnectionLimits, RateLimits};
use civpass_wallet::{LoginLink, Wallet};
use clap::{Args, Parser, Subcommand};

use crate::config::{FileConfig, StorageConfig};

#[derive(Parser)]
#[command(name = "civpass", version, about = "An open digital-identity platform")]
struct Cli {
    /// TOML configuration file (keys: data_dir, database_url, listen, issuer, registry_url,
    /// evidence_url, master_key,
    /// rate_limit_authorize, rate_limit_token, rate_limit_device, rate_limit_registration,
    /// identity_attempts_per_hour, max_pending_logins_per_browser, max_pending_logins_per_address,
    /// trusted_proxies,
    /// ipv6_client_prefix, header_read_timeout, idle_timeout, max_connections,
    /// max_connections_per_client, require_par, require_dpop, fapi2, allow_private_uris,
    /// ip_location_db).
    #[arg(long, global = true, env = "CIVPASS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct StorageArgs {
    /// Data directory (SQLite database and master key) [default: ./civpass-data].
    #[arg(long, env = "CIVPASS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` selects PostgreSQL; default SQLite in the data directory.
    #[arg(long, env = "CIVPASS_DATABASE_URL")]
    database_url: Option<String>,
    /// Master secret, base64url of 32 bytes [default: DATA_DIR/master.key, created on first start].
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
    fn resolve(&self, file: &FileConfig) -> StorageConfig {
        StorageConfig::resolve(
            file,
            self.data_dir.clone(),
            self.database_url.clone(),
            self.master_key.clone(),
            self.registry_url.clone(),
            self.evidence_url.clone(),
        )
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
    /// Open connections at most; 0 means no cap [default: 8192, and below the open-file limit].
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

#[derive(Subcommand)]
enum Command {
    /// Run the platform.
    Serve {
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
        /// Every client must push its authorization requests (RFC 9126), as FAPI 2.0 asks.
        #[arg(long, env = "CIVPASS_REQUIRE_PAR")]
        require_par: bool,
        /// Every token must be bound to a DPoP key (RFC 9449), as FAPI 2.0 asks.
        #[arg(long, env = "CIVPASS_REQUIRE_DPOP")]
        require_dpop: bool,
        /// The FAPI 2.0 Security Profile for every client: PAR, DPoP and private_key_jwt only.
        #[arg(long, env = "CIVPASS_FAPI2")]
        fapi2: bool,
        /// A MaxMind DB city database (GeoIP2/GeoLite2 City or compatible) naming the
        /// approximate place of a login's browser, which the app shows [default: none, and the
        /// place is "unknown"].
        #[arg(long, env = "CIVPASS_IP_LOCATION_DB")]
        ip_location_db: Option<PathBuf>,
        /// Let clients register loopback or private URLs for civpass to call (jwks_uri,
        /// sector_identifier_uri, backchannel_logout_uri): for development only.
        #[arg(long, env = "CIVPASS_ALLOW_PRIVATE_URIS")]
        allow_private_uris: bool,
    },
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// The sandbox population registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// The platform's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A citizen's device in software.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Benchmarks against a running server.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// What `civpass client create` registers.
#[derive(Args)]
struct CreateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[arg(long)]
    name: String,
    /// Exact redirect URI; repeat for several (needed for the authorization code grant).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE only): the same as `--auth-method none`.
    #[arg(long)]
    public: bool,
    /// Allowed token-endpoint authentication methods; repeat for several [default:
    /// client_secret_basic and client_secret_post].
    #[arg(long = "auth-method", value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])]
    auth_methods: Vec<String>,
    /// Grant types; repeat for several [default: authorization_code and refresh_token].
    #[arg(long = "grant-type", value_parser = ["authorization_code", "refresh_token", "client_credentials"])]
    grant_types: Vec<String>,
    /// A file with the client's public keys as a JWK Set, for private_key_jwt.
    #[arg(long, conflicts_with = "jwks_uri")]
    jwks: Option<PathBuf>,
    /// Where the client publishes its JWK Set, for private_key_jwt.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// Scopes the client may ask for with the client-credentials grant; repeat for several.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// The client must push its authorization requests (RFC 9126).
    #[arg(long)]
    require_par: bool,
    /// The client must sign its authorization requests (RFC 9101); needs its keys.
    #[arg(long)]
    require_signed_request: bool,
    /// The client's tokens must be bound to a DPoP key (RFC 9449 `dpop_bound_access_tokens`).
    #[arg(long)]
    require_dpop: bool,
    /// Where `/logout` may send the browser afterwards; repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Where the service hears that a citizen's session ended (Back-Channel Logout).
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// A URL listing the redirect URIs of the organisation's services, which then share
    /// pairwise subjects.
    #[arg(long)]
    sector_identifier_uri: Option<String>,
    /// A protected resource that may introspect other clients' access tokens (RFC 7662).
    #[arg(long)]
    resource_server: bool,
    /// How its ID tokens are signed (`id_token_signed_response_alg`).
    #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS256", "PS256", "EdDSA"])]
    id_token_alg: String,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Issue an initial access token for dynamic client registration (RFC 7591), for developers
    /// to register their own clients at `/register`.
    RegistrationToken {
        #[command(flatten)]
        storage: StorageArgs,
        /// How long it may be used, in hours.
        #[arg(long, default_value_t = 24)]
        hours: i64,
        #[arg(long)]
        json: bool,
    },
    /// Register a relying party; prints its client_id and, for confidential clients, its secret.
    Create(Box<CreateArgs>),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Publish a new signing key now; it signs from `--activate-after` seconds on, and the key
    /// it replaces leaves the JWKS once the tokens it signed have expired.
    Rotate {
        #[command(flatten)]
        storage: StorageArgs,
        /// Algorithms to rotate; repeat for several [default: all].
        #[arg(long = "alg", value_parser = ["ES256", "RS256", "PS256", "EdDSA"])]
        algs: Vec<String>,
        /// Seconds between publishing the new key and signing with it: longer than relying
        /// parties cache the JWKS (civpass says 5 minutes) and than nodes take to reload (1).
        #[arg(long, default_value_t = 600)]
        activate_after: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Print people from the synthetic registry.
    List {
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct WalletArgs {
    /// The wallet file.
    #[arg(long, env = "CIVPASS_WALLET", default_value = "civpass-wallet.json")]
    wallet: PathBuf,
    /// The civpass server [default: the wallet's, or http://127.0.0.1:8080].
    #[arg(long, env = "CIVPASS_SERVER")]
    server: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Register this device for an identity (basic tier), creating the wallet file if needed.
    Enroll {
        #[command(flatten)]
        args: WalletArgs,
        #[arg(long)]
        id_number: String,
        #[arg(long)]
        name_en: String,
        /// Date of birth, YYYY-MM-DD.
        #[arg(long)]
        dob: String,
        /// The identity check: the vendor's session reference; with the sandbox verifier, the
        /// outcome to simulate (pass, document_mismatch, liveness_failed, timeout). Needed for a
        /// new account, not with --transfer-from.
        #[arg(long, required_unless_present = "transfer_from")]
        evidence: Option<String>,
        /// The account's current wallet file, to move an existing account to this wallet.
        #[arg(long)]
        transfer_from: Option<PathBuf>,
    },
    /// Show a login request and approve or deny it.
    Approve {
        #[command(flatten)]
        args: WalletArgs,
        /// The link from the login page (QR code or "Open civpass app").
        link: String,
        /// The two-digit matching code shown on the login page.
        #[arg(long = "match")]
        match_code: Option<String>,
        #[arg(long)]
        deny: bool,
        /// Release only these of the requested scopes (openid is always released).
        #[arg(long = "only", value_delimiter = ',')]
        only: Option<Vec<String>>,
    },
    /// List the services this identity has used and the data each received.
    Services {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// Unlink a service: it loses its tokens and must ask again next time.
    Unlink {
        #[command(flatten)]
        args: WalletArgs,
        /// The service's client id (see `civpass wallet services`).
        client_id: String,
    },
    /// Show the verified identity data civpass holds.
    Data {
        #[command(flatten)]
        args: WalletArgs,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CIVPASS_LOG")
        .unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("CIVPASS_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("civpass: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = FileConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve {
            storage,
            listen,
            issuer,
            limits,
            require_par,
            require_dpop,
            fapi2,
            allow_private_uris,
            ip_location_db,
        } => {
            let policy = Policy {
                limits: limits.resolve(&file),
                identity_attempts_per_hour: limits
                    .identity_attempts_per_hour
                    .or(file.identity_attempts_per_hour),
                max_pending_logins_per_browser: limits
                    .max_pending_logins_per_browser
                    .or(file.max_pending_logins_per_browser),
                max_pending_logins_per_address: limits
                    .max_pending_logins_per_address
                    .or(file.max_pending_logins_per_address),
                addressing: limits.addressing(&file)?,
                connections: limits.connections(&file),
                require_par: require_par || file.require_par.unwrap_or(false),
                require_dpop: require_dpop || file.require_dpop.unwrap_or(false),
                allow_private_uris: allow_private_uris || file.allow_private_uris.unwrap_or(false),
                fapi2: fapi2 || file.fapi2.unwrap_or(false),
                ip_location_db: ip_location_db.or_else(|| file.ip_location_db.clone()),
            };
            serve(&file, storage.resolve(&file), listen, issuer, policy).await
        }
        Command::Client(ClientCommand::Create(args)) => {
            let CreateArgs {
                storage,
                name,
                redirect_uris,
                public,
                id_token_alg,
                auth_methods,
                grant_types,
                jwks,
                jwks_uri,
                scopes,
                require_par,
                require_signed_request,
                require_dpop,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                sector_identifier_uri,
                resource_server,
                json,
            } = *args;
            let storage = storage.resolve(&file);
            let store = app::open_store(&storage).await?;
            let services =
                app::services(&storage, store, Settings::new("http://127.0.0.1:8080")).await?;
            let mut spec = ClientSpec::web(&name, &redirect_uris);
            spec.id_token_alg = Algorithm::parse(&id_token_alg)
                .context("--id-token-alg must be ES256, RS256, PS256 or EdDSA")?;
            if public {
                spec.auth_methods = vec![AuthMethod::None];
            }
            if !auth_methods.is_empty() {
                spec.auth_methods =
                    auth_methods.iter().filter_map(|m| AuthMethod::parse(m)).collect();
            }
            if !grant_types.is_empty() {
                spec.grant_types = grant_types.iter().filter_map(|g| GrantType::parse(g)).collect();
            }
            spec.jwks = match jwks {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            spec.jwks_uri = jwks_uri;
            spec.scopes = scopes;
            spec.require_par = require_par;
            spec.require_signed_request = require_signed_request;
            spec.require_dpop = require_dpop;
            spec.post_logout_redirect_uris = post_logout_redirect_uris;
            spec.backchannel_logout_uri = backchannel_logout_uri;
            spec.sector_identifier_uri = sector_identifier_uri;
            spec.resource_server = resource_server;
            let created = services.register_client(spec).await?;
            let client = &created.client;
            if json {
                let out = serde_json::json!({
                    "client_id": client.id,
                    "client_secret": created.secret,
                    "client_name": client.name,
                    "redirect_uris": client.redirect_uris,
                    "token_endpoint_auth_method": client.auth_methods[0].as_str(),
                    "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                    "id_token_signed_response_alg": client.id_token_alg.as_str(),
                    "jwks_uri": client.jwks_uri,
                    "scope": client.scopes.join(" "),
                    "require_pushed_authorization_requests": client.require_par,
                    "require_signed_request_object": client.require_signed_request,
                    "dpop_bound_access_tokens": client.require_dpop,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("client_id: {}", created.client.id);
                if let Some(secret) = created.secret {
                    println!("client_secret: {secret}");
                    println!("(the secret is shown only now; civpass keeps only its hash)");
                }
            }
            Ok(())
        }
        Command::Client(ClientCommand::RegistrationToken { storage, hours, json }) => {
            let storage = storage.resolve(&file);
            let store = app::open_store(&storage).await?;
            let services =
                app::services(&storage, store, Settings::new("http://127.0.0.1:8080")).await?;
            let (token, expires_at) = services.issue_registration_token(hours * 3600).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"initial_access_token": token, "expires_at": expires_at})
                );
            } else {
                println!("initial access token: {token}");
                println!(
                    "(send it as `Authorization: Bearer …` to POST /register; shown only now)"
                );
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate { storage, algs, activate_after, json }) => {
            let storage = storage.resolve(&file);
            let store = app::open_store(&storage).await?;
            let services =
                app::services(&storage, store, Settings::new("http://127.0.0.1:8080")).await?;
            let algs: Vec<Algorithm> = if algs.is_empty() {
                civpass_core::keys::ALGORITHMS.to_vec()
            } else {
                algs.iter().filter_map(|a| Algorithm::parse(a)).collect()
            };
            // Relying parties cache the JWKS five minutes and nodes reload keys each minute: a
            // key must be published longer than that before it signs.
            if activate_after < 360 {
                anyhow::bail!(
                    "--activate-after must be at least 360 seconds (JWKS cache and key reload)"
                );
            }
            let rotated = services
                .rotate_keys(&algs, activate_after)
                .await
                .context("rotating the signing keys")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rotated)?);
            } else {
                for r in &rotated {
                    println!(
                        "{}: new key {} signs from {}; retiring {:?}",
                        r.alg, r.new_kid, r.activates_at, r.retiring
                    );
                }
            }
            Ok(())
        }
        Command::Registry(RegistryCommand::List { limit, offset, json }) => {
            let registry = SandboxRegistry::default();
            let people = registry.people().iter().skip(offset).take(limit);
            if json {
                let out: Vec<_> = people
                    .map(|p| {
                        serde_json::json!({
                            "hkid": p.hkid.to_string(),
                            "name_en": p.name_en,
                            "name_zh": p.name_zh,
                            "date_of_birth": p.date_of_birth.to_string(),
                            "gender": p.gender.as_str(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for p in people {
                    println!(
                        "{:<13} {:<24} {:<6} {} {}",
                        p.hkid.to_string(),
                        p.name_en,
                        p.name_zh,
                        p.date_of_birth,
                        p.gender.as_str()
                    );
                }
            }
            Ok(())
        }
        Command::Wallet(command) => wallet(command).await,
        Command::Bench(command) => bench::run(command, &file).await,
    }
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
    if !services.passkeys_available() {
        tracing::warn!(
            %issuer,
            "passkeys are off, so the app cannot register: WebAuthn needs an issuer with a domain name (localhost, not 127.0.0.1)"
        );
    }
    let connections = within_open_file_limit(policy.connections);
    let state = AppState::with_limits_behind(services, policy.limits, policy.addressing.clone());
    tokio::spawn(housekeeping(state.clone()));
    tokio::spawn(reload_keys(state.services.clone()));
    tokio::spawn(supervise_logout_outbox(state.services.clone()));
    let router = civpass_server::router(state);
    println!("civpass listening on http://{address} (issuer {issuer})");
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
async fn supervise_logout_outbox(services: civpass_core::services::Services) {
    loop {
        let run = tokio::spawn(services.clone().run_logout_outbox()).await;
        tracing::error!(
            panicked = run.is_err(),
            "back-channel logout delivery stopped; restarting"
        );
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Every minute: keys rotated by another node or by `civpass keys rotate` are picked up, well
/// before they start signing.
async fn reload_keys(services: civpass_core::services::Services) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = services.reload_keys().await {
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
        match state.services.purge_expired_login_requests().await {
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

fn load_wallet(args: &WalletArgs) -> anyhow::Result<Wallet> {
    let mut wallet = Wallet::load(&args.wallet)?;
    if let Some(server) = &args.server {
        wallet.file.server = server.trim_end_matches('/').to_owned();
    }
    Ok(wallet)
}

fn open_or_create_wallet(args: &WalletArgs) -> anyhow::Result<Wallet> {
    let mut wallet = if args.wallet.exists() {
        Wallet::load(&args.wallet)?
    } else {
        Wallet::create(args.server.as_deref().unwrap_or("http://127.0.0.1:8080"))?
    };
    if let Some(server) = &args.server {
        wallet.file.server = server.trim_end_matches('/').to_owned();
    }
    Ok(wallet)
}

async fn wallet(command: WalletCommand) -> anyhow::Result<()> {
    match command {
        WalletCommand::Enroll { args, id_number, name_en, dob, evidence, transfer_from } => {
            let mut wallet = open_or_create_wallet(&args)?;
            if wallet.file.device_id.is_some() && transfer_from.is_none() {
                anyhow::bail!(
                    "{} is already enrolled; use another --wallet file",
                    args.wallet.display()
                );
            }
            let old = transfer_from.as_deref().map(Wallet::load).transpose()?;
            let done =
                wallet.enrol(&id_number, &name_en, &dob, evidence.as_deref(), old.as_ref()).await?;
            wallet.save(&args.wallet)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                println!(
                    "enrolled: account {} on device {} (tier {}){}",
                    done.account_id,
                    done.device_id,
                    done.tier,
                    if done.transferred { ", moved from the previous device" } else { "" }
                );
            }
            Ok(())
        }
        WalletCommand::Approve { args, link, match_code, deny, only } => {
            let wallet = open_or_create_wallet(&args)?;
            let link = LoginLink::parse(&link)?;
            let view = wallet.fetch(&link).await?;
            if !args.json {
                println!("{} ({}) asks to log you in and for:", view.client_name, view.client_id);
                for item in &view.scopes {
                    println!(
                        "  - {}{}",
                        item.description,
                        if item.optional { "" } else { " (required)" }
                    );
                }
            }
            let (verdict, code) = if deny {
                (Verdict::Deny, String::new())
            } else {
                let code = match_code.context("this login needs the two-digit matching code shown on the login page: pass --match CODE")?;
                (Verdict::Approve, code)
            };
            let requested: Vec<String> = view.scopes.iter().map(|s| s.scope.clone()).collect();
            let released: Vec<String> = match &only {
                Some(only) => requested
                    .iter()
                    .filter(|s| !scopes::is_personal_data(s) || only.contains(s))
                    .cloned()
                    .collect(),
                None => requested,
            };
            let res = wallet.decide(&link, &view, verdict, &code, &released).await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"status": res.status, "client_name": view.client_name, "released": released})
                    )?
                );
            } else {
                println!("{}", res.status);
            }
            Ok(())
        }
        WalletCommand::Services { args } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let services = wallet.services(&session).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&services)?);
                return Ok(());
            }
            if services.is_empty() {
                println!("No services yet.");
            }
            for s in &services {
                println!("{} ({}): shares {}", s.client_name, s.client_id, s.scopes.join(" "));
                for r in &s.releases {
                    println!("  {} via {}: {}", r.released_at, r.channel, r.claims.join(" "));
                }
            }
            Ok(())
        }
        WalletCommand::Unlink { args, client_id } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            wallet.unlink(&session, &client_id).await?;
            if args.json {
                println!("{}", serde_json::json!({"unlinked": client_id}));
            } else {
                println!("unlinked {client_id}");
            }
            Ok(())
        }
        WalletCommand::Data { args } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let data = wallet.my_data(&session).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                println!(
                    "{} {} ({}), born {}, {}, {} tier",
                    data.name_en,
                    data.name_zh,
                    data.hkid,
                    data.date_of_birth,
                    data.gender,
                    data.tier
                );
            }
            Ok(())
        }
    }
}
