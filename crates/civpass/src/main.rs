//! `civpass`: the platform's one binary. It parses the command line and the configuration file
//! and hands each command to its file in `cli/`: `serve` runs a node (wired by
//! `civpass_driver`); `init`, `client`, `keys` and `registry` administer the platform; `wallet`
//! acts as a citizen's device; `bench` measures a running server.

// A command-line program prints its results.
#![allow(clippy::print_stdout)]

/// `println!`, except that a closed pipe (`civpass staff list | head -1`) ends the command
/// quietly, as other command-line tools do, instead of panicking: the standard library ignores
/// SIGPIPE, and restoring it would need `unsafe`. Defined before the modules, so it is theirs.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*)
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(0);
        }
    }};
}

mod cli;
mod config;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cli::client::ClientCommand;
use crate::cli::keys::KeysCommand;
use crate::cli::pki::PkiCommand;
use crate::cli::registry::RegistryCommand;
use civpass_driver::Config;

use crate::cli::wallet::WalletCommand;
use crate::config::{ServeArgs, StorageArgs};

#[derive(Parser)]
#[command(name = "civpass", version, about = "An open digital-identity platform")]
struct Cli {
    /// TOML configuration file, in sections ([server], [storage], [oidc], [limits],
    /// [operator], [messaging]); docs/CONFIGURATION.md gives each flag's section and key; flags and
    /// environment variables win over it.
    #[arg(long, global = true, env = "CIVPASS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform (creating it on first start).
    Serve(Box<ServeArgs>),
    /// Create the platform (data directory, master key, database, signing keys) without
    /// running it.
    Init {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Write a consistent backup of the whole database (while it runs) to a file. The master
    /// key is not in it.
    Backup {
        #[command(flatten)]
        storage: StorageArgs,
        /// The backup file to write (JSON Lines; written whole or not at all).
        #[arg(long)]
        output: PathBuf,
    },
    /// Restore a backup into a new data directory or an empty PostgreSQL database (either
    /// engine, whichever the backup came from).
    Restore {
        #[command(flatten)]
        storage: StorageArgs,
        /// The backup file to read.
        #[arg(long)]
        input: PathBuf,
    },
    /// Citizens' accounts: suspend, reinstate, downgrade, history.
    #[command(subcommand)]
    Accounts(cli::accounts::AccountsCommand),
    /// The platform's figures: accounts, plus, suspended, devices, registrations per day.
    Stats(cli::stats::StatsArgs),
    /// The registration operator's staff.
    #[command(subcommand)]
    Staff(cli::counter::StaffCommand),
    /// Registration points.
    #[command(subcommand)]
    Points(cli::counter::PointsCommand),
    /// What an officer does at a registration point (as the counter console does).
    #[command(subcommand)]
    Counter(cli::counter::CounterCommand),
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// The sandbox population registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// The platform's signing keys, and its master key versions.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The certificate authorities behind citizens' signing certificates (docs/PKI.md).
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Check a detached signature over a file: signer, signing time, chain, content.
    Verify(cli::verify::VerifyArgs),
    /// Act as a service would: have a citizen sign a file (docs/PKI.md).
    #[command(subcommand)]
    Sign(cli::sign::SignCommand),
    /// A citizen's device in software.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Benchmarks against a running server.
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let file = match Config::load(cli.config.as_deref()) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("civpass: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The server logs its work; a command's output is its answer, so it logs only trouble.
    // sqlx's own notes (a ping that failed, a migration table that exists) stay out of it: a
    // failure that matters is logged, with its cause, where its request is answered.
    let default = if matches!(cli.command, Command::Serve(_)) { "info,sqlx=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CIVPASS_LOG")
        .unwrap_or_else(|_| default.into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let json = match std::env::var("CIVPASS_LOG_FORMAT") {
        Ok(format) => format == "json",
        Err(_) => file.server.log_format == civpass_driver::config::LogFormat::Json,
    };
    if json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    match run(cli, &file).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("civpass: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, file: &Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => cli::serve::run(*args, file).await,
        Command::Init { storage } => cli::init::init(storage, file).await,
        Command::Backup { storage, output } => cli::backup::backup(storage, output, file).await,
        Command::Restore { storage, input } => cli::backup::restore(storage, input, file).await,
        Command::Client(command) => cli::client::client(command, file).await,
        Command::Accounts(command) => cli::accounts::accounts(command, file).await,
        Command::Stats(args) => cli::stats::stats(args, file).await,
        Command::Staff(command) => cli::counter::staff(command, file).await,
        Command::Points(command) => cli::counter::points(command, file).await,
        Command::Counter(command) => cli::counter::counter(command, file).await,
        Command::Keys(command) => cli::keys::keys(command, file).await,
        Command::Pki(command) => cli::pki::pki(command, file).await,
        Command::Verify(args) => cli::verify::verify(args, file).await,
        Command::Sign(command) => cli::sign::sign(command).await,
        Command::Registry(command) => cli::registry::registry(command, file).await,
        Command::Wallet(command) => cli::wallet::run(command).await,
        Command::Bench(command) => cli::bench::run(command, file).await,
    }
}

/// Unix seconds as an ISO 8601 (RFC 3339) UTC time, as every command prints times.
pub(crate) fn iso8601(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}
