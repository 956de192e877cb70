//! Wiring: the one place that chooses concrete implementations (SQLite or PostgreSQL, the
//! sandbox or an HTTP registry, the master key's source).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use civpass_core::clock::Clock;
use civpass_core::evidence::EvidenceVerifier;
use civpass_core::keys::{KeyRing, Secrets};
use civpass_core::registry::RegistrySource;
use civpass_core::services::{Services, Settings};
use civpass_crypto::secret::{b64url_decode, random_token};
use civpass_registry::evidence::{HttpEvidenceVerifier, SandboxEvidenceVerifier};
use civpass_registry::{HttpRegistry, SandboxRegistry};
use civpass_server::{HttpJwksSource, HttpLogoutNotifier, SystemClock};
use civpass_store::SqlStore;

use crate::config::StorageConfig;

pub(crate) async fn open_store(config: &StorageConfig) -> anyhow::Result<SqlStore> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    SqlStore::connect(&config.database_url).await.context("opening the database")
}

/// The master secret: from configuration, or from `master.key` in the data directory,
/// created (readable by the owner only) on first start.
fn master_key(config: &StorageConfig) -> anyhow::Result<[u8; 32]> {
    let text = match &config.master_key {
        Some(text) => text.clone(),
        None => read_or_create_key_file(&config.data_dir.join("master.key"))?,
    };
    let bytes = b64url_decode(text.trim()).context("the master key must be base64url")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("the master key must be 32 bytes"))
}

fn read_or_create_key_file(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        return std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = random_token(32);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    Ok(text)
}

pub(crate) fn registry(config: &StorageConfig) -> anyhow::Result<Arc<dyn RegistrySource>> {
    Ok(match &config.registry_url {
        Some(url) => Arc::new(
            HttpRegistry::new(url, std::env::var("CIVPASS_REGISTRY_TOKEN").ok())
                .context("registry URL")?,
        ),
        None => Arc::new(SandboxRegistry::default()),
    })
}

/// The identity evidence verifier: a vendor's over HTTP when `evidence_url` is set, else the
/// sandbox's.
pub(crate) fn evidence_verifier(
    config: &StorageConfig,
) -> anyhow::Result<Arc<dyn EvidenceVerifier>> {
    Ok(match &config.evidence_url {
        Some(url) => Arc::new(
            HttpEvidenceVerifier::new(url, std::env::var("CIVPASS_EVIDENCE_TOKEN").ok())
                .context("evidence verifier URL")?,
        ),
        None => Arc::new(SandboxEvidenceVerifier),
    })
}

/// The use cases over `store`, with `settings` as the operator tuned them (`Settings::new`
/// for the administrative commands).
pub(crate) async fn services(
    config: &StorageConfig,
    store: SqlStore,
    settings: Settings,
) -> anyhow::Result<Services> {
    let issuer = &settings.issuer;
    if !issuer.starts_with("http://") && !issuer.starts_with("https://") {
        bail!("the issuer must be an http(s) URL");
    }
    let secrets = Secrets::from_master(&master_key(config)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Arc::new(store);
    let keys = KeyRing::load_or_create(store.as_ref(), &secrets, clock.now())
        .await
        .context("loading signing keys")?;
    let jwks = HttpJwksSource::new(settings.allow_loopback_uris);
    let logout = HttpLogoutNotifier::new(settings.allow_loopback_uris);
    Ok(Services::new(store, registry(config)?, clock, secrets, Arc::new(keys), settings)
        .with_jwks_source(Arc::new(jwks))
        .with_logout_notifier(Arc::new(logout))
        .with_evidence_verifier(evidence_verifier(config)?))
}
