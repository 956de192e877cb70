//! The master key's versions, where an operator keeps them, and their rotation
//! (`civpass keys rotate-master`, `civpass keys retire-master`; see `kernel::envelope`).
//!
//! The text form, in `DATA_DIR/master.key` or the `master_key` setting
//! (`CIVPASS_MASTER_KEY`): versions separated by new lines, spaces or commas, each
//! `vN:KEY` with KEY 32 bytes in base64url; a bare KEY is version 1 (the form civpass wrote
//! before versions). Lines starting with `#` are comments. The highest version wraps new keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use civpass_core::kernel::envelope::{Envelope, FixedMasterKeys, MasterKeySource, MasterKeys};
use civpass_core::keys::KeyRing;
use civpass_core::store::ports::KeyStore;
use civpass_crypto::sealed::SealingKey;
use civpass_crypto::secret::{b64url, b64url_decode, random_bytes};

use crate::config::StorageConfig;

/// The versions in `text`, lowest first.
///
/// Errors: a key that is not 32 bytes of base64url, a version that is not a positive number,
/// a version given twice, no key at all (each a message for the operator, naming no key).
pub fn parse_master_key_versions(text: &str) -> Result<Vec<(u32, [u8; 32])>, String> {
    let mut versions: Vec<(u32, [u8; 32])> = Vec::new();
    let lines = text.lines().filter(|l| !l.trim_start().starts_with('#'));
    for item in lines.flat_map(|l| l.split([' ', ',', '\t'])).filter(|i| !i.trim().is_empty()) {
        let item = item.trim();
        let (version, key) = match item.split_once(':') {
            Some((v, key)) => {
                let v = v.strip_prefix('v').unwrap_or(v);
                let v: u32 = v
                    .parse()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or("a master key version is `vN:KEY` with N a number from 1")?;
                (v, key)
            }
            None => (1, item),
        };
        let key: [u8; 32] = b64url_decode(key)
            .and_then(|b| b.try_into().ok())
            .ok_or(format!("master key version {version} is not 32 bytes of base64url"))?;
        if versions.iter().any(|(v, _)| *v == version) {
            return Err(format!("master key version {version} is given twice"));
        }
        versions.push((version, key));
    }
    if versions.is_empty() {
        return Err("no master key".to_owned());
    }
    versions.sort_by_key(|(v, _)| *v);
    Ok(versions)
}

/// `parse_master_key_versions`, as the envelope holds them.
pub fn parse_master_keys(text: &str) -> Result<MasterKeys, String> {
    MasterKeys::new(parse_master_key_versions(text)?)
}

fn format_versions(versions: &[(u32, [u8; 32])]) -> String {
    let mut out = String::from(
        "# civpass master key versions; the highest wraps new data keys. Keep a copy offline.\n",
    );
    for (v, key) in versions {
        out.push_str(&format!("v{v}:{}\n", b64url(key)));
    }
    out
}

/// `DATA_DIR/master.key`, read again whenever the envelope asks (a rotation by another process).
pub struct MasterKeyFile {
    path: PathBuf,
}

impl MasterKeyFile {
    pub fn new(path: PathBuf) -> MasterKeyFile {
        MasterKeyFile { path }
    }
}

impl MasterKeySource for MasterKeyFile {
    fn load(&self) -> Result<MasterKeys, String> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("reading {}: {e}", self.path.display()))?;
        parse_master_keys(&text).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// Writes `versions` to `path` in one step: a new file of this process's own (0600, owned like
/// the file it replaces, so that a service running as another user can still read it),
/// synced, renamed over the old, the directory synced, and the result read back. A node
/// reading it sees the old versions or the new, never half a file, and after a power loss the
/// file holds the versions the database may already use.
///
/// Errors: the file cannot be written or given its owner (run as that user), or reads back
/// differently.
fn write_key_file(path: &Path, versions: &[(u32, [u8; 32])]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "key.new-{}-{}",
        std::process::id(),
        b64url(&random_bytes::<6>())
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = (|| -> anyhow::Result<()> {
        #[cfg(unix)]
        if let Ok(old) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt;
            std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid())).with_context(
                || {
                    format!(
                        "{} belongs to user {}: run this command as that user",
                        path.display(),
                        old.uid()
                    )
                },
            )?;
        }
        std::io::Write::write_all(&mut file, format_versions(versions).as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    let back =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if parse_master_key_versions(&back).ok().as_deref() != Some(versions) {
        bail!("{} changed under this command: is another one running?", path.display());
    }
    Ok(())
}

/// Holds `DATA_DIR/master.key.lock` for as long as it lives: one rotation or retirement at a
/// time, since each reads the key file, changes it and writes it back.
struct KeyFileLock(#[allow(dead_code)] std::fs::File);

fn lock_key_file(path: &Path) -> anyhow::Result<KeyFileLock> {
    let lock_path = path.with_extension("key.lock");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file =
        options.open(&lock_path).with_context(|| format!("opening {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(KeyFileLock(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `civpass keys rotate-master` or `retire-master` is running on {}: wait for it",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", lock_path.display()))
        }
    }
}

/// The master key versions a rotation or a retirement starts from, with the key file locked
/// when they are in it.
struct Held {
    path: PathBuf,
    versions: Vec<(u32, [u8; 32])>,
    in_configuration: bool,
    _lock: Option<KeyFileLock>,
}

/// Checks that a platform is there, then locks the key file (unless the versions are in
/// configuration) and reads the versions.
async fn held(config: &StorageConfig) -> anyhow::Result<Held> {
    crate::wiring::existing_platform(config).await?;
    let path = config.data_dir.join("master.key");
    let (text, in_configuration, _lock) = match &config.master_key {
        Some(text) => (text.clone(), true, None),
        None => {
            let lock = lock_key_file(&path)?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            (text, false, Some(lock))
        }
    };
    let versions = parse_master_key_versions(&text).map_err(anyhow::Error::msg)?;
    Ok(Held { path, versions, in_configuration, _lock })
}

/// What a rotation or a retirement did.
#[derive(Debug)]
pub struct MasterKeyReport {
    /// The version every key is wrapped under now.
    pub version: u32,
    /// Keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Versions the key source still holds.
    pub held: Vec<u32>,
    /// Versions retired by this run (removed from the key file).
    pub retired: Vec<u32>,
    /// Whether the versions are in configuration (the operator edits them) or in the data
    /// directory's file (this command did).
    pub in_configuration: bool,
}

/// An envelope over the platform's store holding `versions`, whatever the key source says
/// later: a rotation keeps every version it started with until it has re-wrapped the last key.
async fn envelope_holding(
    config: &StorageConfig,
    versions: &[(u32, [u8; 32])],
) -> anyhow::Result<Envelope> {
    let keys = MasterKeys::new(versions.iter().copied()).map_err(anyhow::Error::msg)?;
    let store = Arc::new(crate::wiring::open_store(config).await?);
    let now = civpass_core::kernel::Clock::now(&crate::SystemClock);
    let stored = store.list_signing_keys().await.context("reading the signing keys")?;
    let fits = |key: &SealingKey| KeyRing::opens_with(&stored, key);
    Ok(Envelope::open(Arc::new(FixedMasterKeys(keys)), store, now, &fits)
        .await
        .context("opening the data keys")?
        .envelope)
}

/// `civpass keys rotate-master`: with the key in the data directory, adds a new random master
/// version to `master.key` and re-wraps every data key under it; with versions in
/// configuration, re-wraps under the highest configured one (the operator adds it first, on
/// every node). Old versions stay until `retire_master`, so that nodes that have not read the
/// new one yet keep working, and older backups stay readable.
///
/// Errors: no platform here; with configured versions, every key is already under the
/// highest (the message says what to add); the store fails.
pub async fn rotate_master(config: &StorageConfig) -> anyhow::Result<MasterKeyReport> {
    let Held { path, mut versions, in_configuration, _lock } = held(config).await?;
    if !in_configuration {
        let next = versions.last().map_or(1, |(v, _)| v + 1);
        versions.push((next, random_bytes::<32>()));
        write_key_file(&path, &versions)?;
    }
    let envelope = envelope_holding(config, &versions).await?;
    let current = versions.last().map_or(1, |(v, _)| *v);
    if in_configuration {
        let in_use = envelope.versions_in_use().await?;
        if in_use.iter().all(|(v, _)| *v == current) {
            bail!(
                "every data key is already wrapped under master key version {current}, the \
                 highest configured. Add a new version to master_key (CIVPASS_MASTER_KEY) on \
                 every node, the same on each, as `v{next}:KEY` beside the current one (a KEY \
                 from `head -c 32 /dev/urandom | basenc --base64url | tr -d '=\\n'`), restart \
                 them, and run this again",
                next = current + 1,
            );
        }
    }
    let done = envelope.rewrap_all().await?;
    Ok(MasterKeyReport {
        version: done.version,
        rewrapped: done.rewrapped,
        held: versions.iter().map(|(v, _)| *v).collect(),
        retired: Vec::new(),
        in_configuration,
    })
}

/// What `retire_master` does with the versions it removes from `master.key`: backups made
/// before hold keys wrapped under them, so the operator says where they go.
pub enum RetiredKeys<'a> {
    /// Written to this new file (0600), to keep offline with those backups.
    SaveTo(&'a Path),
    /// Gone for good (the operator has a copy, or no backup needs them).
    Discard,
    /// Neither said: refuse if there is anything to retire.
    Unsaid,
}

/// `civpass keys retire-master`: re-wraps any key still under an older version, then removes
/// every version but the highest from `master.key` (with versions in configuration, says
/// which to remove). Backups made before hold keys wrapped under the old versions: `retired`
/// says where those go.
///
/// Errors: no platform here; old versions to remove and `RetiredKeys::Unsaid`; the save file
/// exists; the store fails.
pub async fn retire_master(
    config: &StorageConfig,
    retired_keys: RetiredKeys<'_>,
) -> anyhow::Result<MasterKeyReport> {
    let Held { path, versions, in_configuration, _lock } = held(config).await?;
    let envelope = envelope_holding(config, &versions).await?;
    let mut done = envelope.rewrap_all().await?;
    let current = done.version;
    let retired: Vec<u32> = versions.iter().map(|(v, _)| *v).filter(|v| *v != current).collect();
    let kept: Vec<(u32, [u8; 32])> =
        versions.iter().copied().filter(|(v, _)| *v == current).collect();
    if !in_configuration && !retired.is_empty() {
        let old: Vec<(u32, [u8; 32])> =
            versions.iter().copied().filter(|(v, _)| *v != current).collect();
        match retired_keys {
            RetiredKeys::Unsaid => bail!(
                "backups made before now need master key version(s) {}: say where they go with \
                 --save-retired FILE (to keep offline with those backups) or --discard-retired; \
                 nothing was removed",
                old.iter().map(|(v, _)| format!("v{v}")).collect::<Vec<_>>().join(", ")
            ),
            RetiredKeys::SaveTo(file) => {
                if file.exists() {
                    bail!("{} exists: name a new file; nothing was removed", file.display());
                }
                write_key_file(file, &old)?;
            }
            RetiredKeys::Discard => {}
        }
        write_key_file(&path, &kept)?;
        // A node that read the file just before it changed may still wrap one new key under
        // an old version: wait out that moment and re-wrap again, with the old versions held.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let again = envelope.rewrap_all().await?;
        done.rewrapped += again.rewrapped;
    }
    Ok(MasterKeyReport {
        version: current,
        rewrapped: done.rewrapped,
        held: if in_configuration {
            versions.iter().map(|(v, _)| *v).collect()
        } else {
            vec![current]
        },
        retired,
        in_configuration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_key_is_version_1_and_versions_sort() {
        let a = b64url(&[1; 32]);
        let b = b64url(&[2; 32]);
        let versions = parse_master_key_versions(&format!("# note\nv2:{b}\n{a}\n")).unwrap();
        assert_eq!(versions, vec![(1, [1; 32]), (2, [2; 32])]);
        assert_eq!(parse_master_key_versions(&format!("{a}, v3:{b}")).unwrap().len(), 2);
        assert_eq!(parse_master_key_versions(&format_versions(&versions)).unwrap(), versions);
    }

    #[test]
    fn bad_keys_are_named_by_version_only() {
        let a = b64url(&[1; 32]);
        for (text, says) in [
            ("", "no master key"),
            ("v1:abc", "version 1 is not 32 bytes"),
            (&format!("v0:{a}") as &str, "from 1"),
            (&format!("vx:{a}"), "from 1"),
            (&format!("{a} v1:{a}"), "given twice"),
        ] {
            let err = parse_master_key_versions(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains(&a));
        }
    }
}
