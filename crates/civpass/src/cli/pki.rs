//! `civpass pki`: the operator makes the platform's certificate authorities, exports the root
//! (the trust anchor verifiers need, and its key for cold storage) and removes the root's key
//! from the platform (docs/PKI.md).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use civpass_driver::Config;
use clap::Subcommand;

use crate::config::StorageArgs;

#[derive(Subcommand)]
pub(crate) enum PkiCommand {
    /// Make the root CA and the issuing CA (once), and issue a signing certificate to every
    /// plus citizen without one; run again, it only issues what is missing.
    Init {
        #[command(flatten)]
        storage: StorageArgs,
        /// The organisation the CAs are named for.
        #[arg(long, default_value = "civpass sandbox")]
        organisation: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the root CA's certificate (PEM): the trust anchor for verifying signatures.
    ExportRoot {
        #[command(flatten)]
        storage: StorageArgs,
        /// A new file.
        #[arg(long)]
        output: PathBuf,
    },
    /// Write the root CA's private key (PKCS#8 PEM, a new file readable by you only), for
    /// cold storage; then `remove-root-key`.
    ExportRootKey {
        #[command(flatten)]
        storage: StorageArgs,
        /// A new file.
        #[arg(long)]
        output: PathBuf,
    },
    /// Remove the root CA's private key from the platform (export it first); issuing goes on
    /// with the issuing CA's key.
    RemoveRootKey {
        #[command(flatten)]
        storage: StorageArgs,
        /// Confirms that the key was exported (or is not wanted).
        #[arg(long)]
        yes: bool,
    },
}

pub(crate) async fn pki(command: PkiCommand, file: &Config) -> anyhow::Result<()> {
    match command {
        PkiCommand::Init { storage, organisation, json } => {
            let platform = civpass_driver::existing_platform(&storage.over(file).storage).await?;
            let done = platform.signing.init_pki(&organisation).await.context("making the PKI")?;
            if json {
                let out = serde_json::json!({"created": done.created, "issued": done.issued});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                if done.created {
                    println!("made the root CA and the issuing CA of \"{organisation}\"");
                } else {
                    println!("the platform's CAs exist already");
                }
                let s = if done.issued == 1 { "" } else { "s" };
                println!("issued {} signing certificate{s} to plus citizens", done.issued);
            }
            Ok(())
        }
        PkiCommand::ExportRoot { storage, output } => {
            let platform = civpass_driver::existing_platform(&storage.over(file).storage).await?;
            let pem = platform.signing.root_certificate_pem().await?;
            write_new(&output, pem.as_bytes())?;
            println!("the root CA's certificate is in {}", output.display());
            Ok(())
        }
        PkiCommand::ExportRootKey { storage, output } => {
            let platform = civpass_driver::existing_platform(&storage.over(file).storage).await?;
            let pem = platform.signing.root_key_pem().await?;
            write_new(&output, pem.as_bytes())?;
            println!(
                "the root CA's private key is in {} (0600): move it to cold storage, then run \
                 `civpass pki remove-root-key --yes`",
                output.display()
            );
            Ok(())
        }
        PkiCommand::RemoveRootKey { storage, yes } => {
            if !yes {
                anyhow::bail!(
                    "this removes the root CA's key for good: export it first with \
                     `civpass pki export-root-key --output FILE`, then pass --yes"
                );
            }
            let platform = civpass_driver::existing_platform(&storage.over(file).storage).await?;
            platform.signing.remove_root_key().await?;
            println!("the root CA's key is no longer on the platform; issuing goes on");
            Ok(())
        }
    }
}

/// Writes a new file, readable by this user only; never over an existing one.
fn write_new(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = super::create_private_file(path)
        .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
    out.write_all(bytes)?;
    out.sync_all()?;
    Ok(())
}
