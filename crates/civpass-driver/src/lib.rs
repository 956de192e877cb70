//! The one wiring (as Ory Hydra's `driver`): from a `Config`, the concrete ports, the feature
//! services (`Platform`), the HTTP state and router, and the background work, served by the
//! one accept loop. The binary (`civpass serve`) and the test kit both build nodes here, so the
//! tests run the platform the binary runs; a test may only replace the clock and the registry
//! (`Overrides`).

pub mod config;
pub mod master_keys;
mod wiring;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use civpass_core::identity::registry::RegistrySource;
use civpass_core::kernel::error::Chain;
use civpass_core::kernel::{Clock, UnixTime};
use civpass_core::platform::Platform;
use civpass_server::{AppState, ClientAddressing, ConnectionLimits};
use civpass_store::SqlStore;
use tokio::task::JoinHandle;

pub use crate::config::Config;
pub use crate::wiring::{
    create_platform, evidence_verifier, existing_platform, open_store, prepare_storage, registry,
};
/// Backup and restore, engine-neutral (the binary's `backup` and `restore`).
pub use civpass_store::backup;

/// The wall clock, for production.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// The parts a test may put in place of the production ones; the binary replaces nothing.
#[derive(Clone, Default)]
pub struct Overrides {
    /// A clock the test sets by hand.
    pub clock: Option<Arc<dyn Clock>>,
    /// A smaller synthetic population.
    pub registry: Option<Arc<dyn RegistrySource>>,
}

/// One civpass node: the platform over its store and the HTTP state that serves it.
pub struct Node {
    pub platform: Platform,
    pub store: SqlStore,
    pub state: AppState,
    pub issuer: String,
    addressing: ClientAddressing,
    connections: ConnectionLimits,
    /// The registry publishes a change feed (an HTTP registry): pull it.
    registry_feed: bool,
}

impl Node {
    /// Builds the node `config` describes, serving as `issuer`, creating the platform (data
    /// directory, master key, database, signing keys) on first start.
    ///
    /// Errors: a real registry without a real evidence verifier, an issuer that is not an
    /// http(s) URL, a store or key that cannot be opened, a bad proxy, URL or location database.
    pub async fn build(
        config: &Config,
        issuer: &str,
        overrides: Overrides,
    ) -> anyhow::Result<Node> {
        if config.storage.registry_url.is_some() && config.storage.evidence_url.is_none() {
            bail!(
                "a real population registry needs a real identity evidence verifier: set --evidence-url \
                 (the sandbox verifier passes whatever a tester asks, so it runs only with the sandbox registry)"
            );
        }
        let store = open_store(&config.storage).await?;
        let settings = config.settings(issuer);
        let keys_at = wiring::KeysAt::CreatedIfMissing;
        let platform =
            wiring::platform(&config.storage, store.clone(), settings, keys_at, &overrides)
                .await?
                .with_fapi2(config.oidc.fapi2);
        let platform = match &config.server.ip_location_db {
            Some(path) => platform.with_ip_locator(Arc::new(
                civpass_server::MaxMindLocator::open(path).map_err(anyhow::Error::msg)?,
            )),
            None => platform,
        };
        let platform = wiring::with_messaging(platform, config)?;
        if !platform.device.passkeys_available() {
            tracing::warn!(
                %issuer,
                "passkeys are off, so the app cannot register: WebAuthn needs an issuer with a domain name (localhost, not 127.0.0.1)"
            );
        }
        let addressing = config.addressing()?;
        let state = AppState::with_limits_behind(
            platform.clone(),
            config.rate_limits(),
            addressing.clone(),
        )
        .with_operator(config.operator()?);
        let state =
            if config.server.metrics_listen.is_some() { state.with_metrics_apart() } else { state };
        let connections = config.connections();
        let registry_feed = config.storage.registry_url.is_some();
        Ok(Node {
            platform,
            store,
            state,
            issuer: issuer.to_owned(),
            addressing,
            connections,
            registry_feed,
        })
    }

    /// Starts the background work: signing keys reloaded each minute, expired rows purged every
    /// ten minutes, and, if `logout_outbox`, back-channel logout delivery (restarted if it
    /// stops). A test that drives the outbox by hand turns that one off.
    pub fn start_background(&self, logout_outbox: bool) -> Vec<JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(reload_keys(self.platform.clone())),
            tokio::spawn(housekeeping(self.state.clone())),
        ];
        if logout_outbox {
            tasks.push(tokio::spawn(supervise_logout_outbox(self.platform.clone())));
        }
        if self.registry_feed {
            tasks.push(tokio::spawn(pull_registry_events(self.platform.clone())));
        }
        tasks
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let connections = within_open_file_limit(self.connections);
        let router = civpass_server::router(self.state);
        civpass_server::serve(listener, router, connections, self.addressing, shutdown).await;
        Ok(())
    }
}

/// Serves `/metrics` alone on `listener` (the operator's `metrics_listen`), until the process
/// ends.
pub fn serve_metrics(state: AppState, listener: tokio::net::TcpListener) -> JoinHandle<()> {
    tokio::spawn(civpass_server::serve_metrics(listener, state))
}

/// Binds `config`'s listening address; returns the listener and the issuer it serves as.
///
/// Errors: the address cannot be bound.
pub async fn bind(config: &Config) -> anyhow::Result<(tokio::net::TcpListener, String)> {
    let listen = &config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let issuer = config.issuer(listener.local_addr()?);
    Ok((listener, issuer))
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

/// Every minute: the registry's change events since the last applied (each node pulls; an
/// event applies once whichever node takes it first).
async fn pull_registry_events(platform: Platform) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        match platform.account.pull_registry_events().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n_events = n, "registry events applied"),
            Err(e) => tracing::warn!(cause = %Chain(&e), "pulling registry events failed"),
        }
    }
}

/// Back-channel logout delivery, restarted if it ever stops (it only stops by panicking).
async fn supervise_logout_outbox(platform: Platform) {
    loop {
        let run = tokio::spawn(platform.oidc.clone().run_logout_outbox()).await;
        tracing::error!(
            panicked = run.is_err(),
            "back-channel logout delivery stopped; restarting"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Every minute: keys rotated by another node or by `civpass keys rotate` are picked up, well
/// before they start signing.
async fn reload_keys(platform: Platform) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = platform.keys.reload_keys().await {
            tracing::warn!(cause = %Chain(&e), "reloading the signing keys failed");
        }
    }
}

/// Every ten minutes: what has expired in every slice goes, and the rate limiters forget quiet
/// addresses.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        state.forget_idle_clients();
        match state.services.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n_deleted = n, "expired rows purged"),
            Err(e) => tracing::warn!(cause = %Chain(&e), "purging expired rows failed"),
        }
    }
}
