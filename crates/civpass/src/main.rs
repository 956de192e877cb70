//! `civpass`: the platform's one binary. `serve` runs it; `init`, `client`, `keys` and
//! `registry` administer it (admin.rs), `wallet` acts as a citizen's device (wallet.rs) and
//! `bench` measures it (bench.rs).

// A command-line program prints its results.
#![allow(clippy::print_stdout)]

mod admin;
mod app;
mod bench;
mod config;
mod serve;
mod wallet;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::admin::{ClientCommand, KeysCommand, RegistryCommand};
use crate::config::{FileConfig, StorageArgs};
use crate::wallet::WalletCommand;

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
    /// ip_location_db, operator_name, privacy_url, help_url).
    #[arg(long, global = true, env = "CIVPASS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform (creating it on first start).
    Serve(Box<serve::ServeArgs>),
    /// Create the platform (data directory, master key, database, signing keys) without
    /// running it.
    Init {
        #[command(flatten)]
        storage: StorageArgs,
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
        Command::Serve(args) => args.run(&file).await,
        Command::Init { storage } => admin::init(storage, &file).await,
        Command::Client(command) => admin::client(command, &file).await,
        Command::Keys(command) => admin::keys(command, &file).await,
        Command::Registry(command) => admin::registry(command),
        Command::Wallet(command) => wallet::run(command).await,
        Command::Bench(command) => bench::run(command, &file).await,
    }
}

/// Unix seconds as an ISO 8601 (RFC 3339) UTC time, as every command prints times.
pub(crate) fn iso8601(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}
