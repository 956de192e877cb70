//! The concrete parts a platform is built from: the store (SQLite or PostgreSQL, in a private
//! data directory), the master key's source, the registry (the sandbox or HTTP) and the
//! evidence verifier; and the platform itself, new or existing.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use civpass_core::identity::evidence::EvidenceVerifier;
use civpass_core::identity::registry::RegistrySource;
use civpass_core::kernel::Secrets;
use civpass_core::kernel::Settings;
use civpass_core::kernel::clock::Clock;
use civpass_core::kernel::envelope::{Envelope, FixedMasterKeys, MasterKeySource};
use civpass_core::keys::KeyRing;
use civpass_core::platform::Platform;
use civpass_core::store::ports::*;
use civpass_crypto::sealed::SealingKey;
use civpass_crypto::secret::random_token;
use civpass_registry::evidence::{HttpEvidenceVerifier, SandboxEvidenceVerifier};
use civpass_registry::{HttpRegistry, SandboxRegistry};
use civpass_server::{HttpJwksSource, HttpLogoutNotifier};
use civpass_store::SqlStore;

use crate::config::{Config, StorageConfig};
use crate::master_keys::{MasterKeyFile, parse_master_keys};
use crate::{Overrides, SystemClock};

/// Opens the store `config` names, creating a SQLite database (and its directory) readable by
/// the owner only.
pub async fn open_store(config: &StorageConfig) -> anyhow::Result<SqlStore> {
    prepare_storage(config)?;
    SqlStore::connect(&config.database_url()).await.context("opening the database")
}

/// On SQLite, creates the data directory and the database file, readable by this user only.
///
/// Errors: either cannot be created.
pub fn prepare_storage(config: &StorageConfig) -> anyhow::Result<()> {
    if let Some(db_file) = sqlite_file(&config.database_url()) {
        create_private_dir(&config.data_dir)?;
        if let Some(parent) = db_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        create_private_file(&db_file)?;
    }
    warn_if_readable_by_others(&config.data_dir);
    Ok(())
}

/// The database file of a `sqlite:` URL (`sqlite://PATH?mode=rwc`), if it names one.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Creates `dir` (and its parents) readable by the owner only: it holds the database of
/// sealed personal data and the master key.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Creates the SQLite file 0600 before SQLite does, because SQLite gives its `-wal` and `-shm`
/// files the database file's permissions, and would create it with the umask's (often 0644).
fn create_private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Warns, without refusing to start, when the data directory or a file in it can be read or
/// written by anyone but its owner (an installation from before these permissions, or a copy).
fn warn_if_readable_by_others(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let wide = |path: &Path| {
            std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
        };
        if dir.exists() && wide(dir) {
            tracing::warn!(path = %dir.display(), "the data directory is open to other users: chmod 700 it");
        }
        let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
        for entry in entries {
            let path = entry.path();
            if path.is_file() && wide(&path) {
                tracing::warn!(path = %path.display(), "a data file is open to other users: chmod 600 it");
            }
        }
    }
}

/// Where the master key versions come from: configuration (`master_key`), or `master.key` in
/// the data directory, created (readable by the owner only) on first start.
fn master_source(config: &StorageConfig) -> anyhow::Result<Arc<dyn MasterKeySource>> {
    Ok(match &config.master_key {
        Some(text) => {
            Arc::new(FixedMasterKeys(parse_master_keys(text).map_err(anyhow::Error::msg)?))
        }
        None => {
            let path = config.data_dir.join("master.key");
            read_or_create_key_file(&path)?;
            Arc::new(MasterKeyFile::new(path))
        }
    })
}

fn read_or_create_key_file(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        return std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()));
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
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

pub fn registry(config: &StorageConfig) -> anyhow::Result<Arc<dyn RegistrySource>> {
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
pub fn evidence_verifier(config: &StorageConfig) -> anyhow::Result<Arc<dyn EvidenceVerifier>> {
    Ok(match &config.evidence_url {
        Some(url) => Arc::new(
            HttpEvidenceVerifier::new(url, std::env::var("CIVPASS_EVIDENCE_TOKEN").ok())
                .context("evidence verifier URL")?,
        ),
        None => Arc::new(SandboxEvidenceVerifier),
    })
}

/// Whether wiring may create the signing keys (a new platform) or only load them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeysAt {
    CreatedIfMissing,
    Existing,
}

/// The platform over `store`, with `settings` as the operator tuned them and the parts
/// `overrides` replaces.
pub(crate) async fn platform(
    config: &StorageConfig,
    store: SqlStore,
    settings: Settings,
    keys_at: KeysAt,
    overrides: &Overrides,
) -> anyhow::Result<Platform> {
    let issuer = &settings.issuer;
    if !issuer.starts_with("http://") && !issuer.starts_with("https://") {
        bail!("the issuer must be an http(s) URL");
    }
    let clock: Arc<dyn Clock> = overrides.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
    let store = Arc::new(store);
    let stored = store.list_signing_keys().await.context("reading the signing keys")?;
    let fits = |key: &SealingKey| KeyRing::opens_with(&stored, key);
    let opened = Envelope::open(master_source(config)?, store.clone(), clock.now(), &fits)
        .await
        .context("opening the data keys")?;
    let secrets = Secrets::new(opened);
    let keys = match keys_at {
        KeysAt::CreatedIfMissing => {
            KeyRing::load_or_create(store.as_ref(), &secrets, clock.now()).await
        }
        KeysAt::Existing => KeyRing::load(store.as_ref(), &secrets).await,
    }
    .context("loading signing keys")?;
    let registry = match &overrides.registry {
        Some(registry) => registry.clone(),
        None => registry(config)?,
    };
    let jwks = HttpJwksSource::new(settings.allow_loopback_uris);
    let logout = HttpLogoutNotifier::new(settings.allow_loopback_uris);
    Ok(Platform::new(store, registry, clock, secrets, Arc::new(keys), settings)
        .with_jwks_source(Arc::new(jwks))
        .with_logout_notifier(Arc::new(logout))
        .with_evidence_verifier(evidence_verifier(config)?))
}

/// The platform's mail relay and SMS gateway: SMTP where `[messaging] smtp_url` names a
/// relay; with the sandbox registry, the sandbox's message files for the rest
/// (DATA_DIR/sandbox-messages); with a real registry, no SMS gateway yet (phone verification
/// is off) and no mail without a relay, so that real people's numbers never land in files.
pub(crate) fn with_messaging(platform: Platform, config: &Config) -> anyhow::Result<Platform> {
    use civpass_core::eme::verification::{Mailer, SmsGateway};
    use civpass_server::messaging::{SandboxMessages, SmtpMailer};
    let sandbox =
        config.storage.registry_url.is_none().then(|| {
            Arc::new(SandboxMessages::new(config.storage.data_dir.join("sandbox-messages")))
        });
    let mailer: Option<Arc<dyn Mailer>> = match &config.messaging.smtp_url {
        Some(url) => Some(Arc::new(
            SmtpMailer::new(url, &config.messaging.mail_from).map_err(anyhow::Error::msg)?,
        )),
        None => sandbox.clone().map(|s| s as Arc<dyn Mailer>),
    };
    let sms = sandbox.map(|s| s as Arc<dyn SmsGateway>);
    Ok(platform.with_messaging(mailer, sms))
}

/// What an administrative command acts on: a platform that `serve` or `init` created. Nothing
/// is created here, so a mistyped `--data-dir` or `--database-url` is an error, not a new
/// platform with a new master key.
pub async fn existing_platform(config: &StorageConfig) -> anyhow::Result<Platform> {
    let database_url = config.database_url();
    let missing = |what: String| {
        anyhow::anyhow!(
            "no civpass platform here: {what}. Check --data-dir or --database-url (or --config), \
             or create one with `civpass init` (`civpass serve` does too)"
        )
    };
    if let Some(db_file) = sqlite_file(&database_url).filter(|f| !f.exists()) {
        return Err(missing(format!("{} does not exist", db_file.display())));
    }
    let master = match &config.master_key {
        Some(text) => text.clone(),
        None => {
            let path = config.data_dir.join("master.key");
            if !path.exists() {
                return Err(missing(format!("{} does not exist", path.display())));
            }
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
        }
    };
    parse_master_keys(&master).map_err(anyhow::Error::msg)?;
    if !SqlStore::holds_platform(&database_url).await.context("opening the database")? {
        return Err(missing("the database holds no civpass signing keys".to_owned()));
    }
    let store = SqlStore::connect(&database_url).await.context("opening the database")?;
    // The administrative commands sign nothing that names the issuer; any will do.
    let settings = Settings::new("http://localhost:8080");
    platform(config, store, settings, KeysAt::Existing, &Overrides::default()).await
}

/// Creates the platform's data directory, master key, database and signing keys where
/// `config` says; false if they were all there already.
pub async fn create_platform(config: &StorageConfig) -> anyhow::Result<bool> {
    let had_db = sqlite_file(&config.database_url()).is_none_or(|f| f.exists());
    let had_key = config.master_key.is_some() || config.data_dir.join("master.key").exists();
    let store = open_store(config).await?;
    let had_keys = !store.list_signing_keys().await.context("reading the signing keys")?.is_empty();
    let settings = Settings::new("http://localhost:8080");
    platform(config, store, settings, KeysAt::CreatedIfMissing, &Overrides::default()).await?;
    Ok(!(had_db && had_key && had_keys))
}
