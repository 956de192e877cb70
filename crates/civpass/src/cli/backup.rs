//! `civpass backup` and `civpass restore`: a consistent copy of the whole database, taken while
//! the platform runs, restorable into SQLite or PostgreSQL whichever it came from
//! (`civpass_store::backup` holds the format). The master key is not in it.

use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::Context;
use civpass_driver::Config;

use crate::config::StorageArgs;

/// `civpass backup --output FILE`: written to a new `FILE.partial` (never an existing file or a
/// link, readable by this user only: it holds sealed personal data and the sealed signing keys)
/// and renamed into place once whole and on disk, so that FILE is never a backup cut short.
pub(crate) async fn backup(
    storage: StorageArgs,
    output: PathBuf,
    file: &Config,
) -> anyhow::Result<()> {
    let storage = storage.over(file).storage;
    // Never over something that is there: an earlier backup, or a device such as /dev/null
    // (a rename would replace it with a file).
    if std::fs::symlink_metadata(&output).is_ok() {
        anyhow::bail!("{} exists; give a new file name (nothing was written)", output.display());
    }
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        anyhow::bail!(
            "the folder {} does not exist; create it first (nothing was written)",
            dir.display()
        );
    }
    let mut partial = output.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let created = crate::cli::create_private_file(&partial).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            " (a backup left half-written? remove it)"
        } else {
            ""
        };
        anyhow::Error::new(e).context(format!("creating {}{hint}", partial.display()))
    })?;
    let written = async {
        let mut out = BufWriter::new(created);
        let summary = civpass_driver::backup::backup(&storage.database_url(), &mut out)
            .await
            .context("taking the backup")?;
        let created = out.into_inner().map_err(|e| e.into_error()).context("writing the backup")?;
        created.sync_all().context("writing the backup")?;
        std::fs::rename(&partial, &output)
            .with_context(|| format!("moving the backup to {}", output.display()))?;
        anyhow::Ok(summary)
    }
    .await;
    let summary = match written {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself on disk.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    println!(
        "backed up {} rows of {} tables (schema {}) to {}",
        summary.rows,
        summary.tables,
        summary.schema,
        output.display()
    );
    println!(
        "the master key is not in it: keep it apart (docs/OPERATIONS.md, \"Back up and restore\")"
    );
    Ok(())
}

/// `civpass restore --input FILE` into a new data directory or an empty PostgreSQL database,
/// then a check that the master key given opens what was restored.
pub(crate) async fn restore(
    storage: StorageArgs,
    input: PathBuf,
    file: &Config,
) -> anyhow::Result<()> {
    let storage = storage.over(file).storage;
    let reader =
        std::fs::File::open(&input).with_context(|| format!("opening {}", input.display()))?;
    // The key first: restored data that nothing can open helps no one, and `init` would make a
    // new, wrong key.
    if storage.master_key.is_none() && !storage.data_dir.join("master.key").exists() {
        anyhow::bail!(
            "no master key: put the master key of the platform the backup came from in {} (as master.key, mode 0600), or set CIVPASS_MASTER_KEY; nothing was restored",
            storage.data_dir.display()
        );
    }
    civpass_driver::prepare_storage(&storage)?;
    let summary = civpass_driver::backup::restore(&storage.database_url(), BufReader::new(reader))
        .await
        .context("restoring the backup")?;
    println!(
        "restored {} rows of {} tables (schema {}) from {}",
        summary.rows,
        summary.tables,
        summary.schema,
        input.display()
    );
    if let Err(e) = civpass_driver::existing_platform(&storage).await {
        anyhow::bail!(
            "restored, but the master key given does not open it ({e:#}): it must be the key of the platform the backup came from. Restore again into a new place with that key"
        );
    }
    Ok(())
}
