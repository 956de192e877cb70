//! `civpass keys`: the operator lists and rotates the platform's signing keys, and rotates
//! and retires master key versions.

use anyhow::Context;
use civpass_crypto::jws::Algorithm;
use civpass_driver::Config;
use clap::Subcommand;

use crate::config::StorageArgs;

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
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
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rotate the master key: add a new version to DATA_DIR/master.key (with the versions in
    /// configuration, add it there on every node first) and re-wrap every data key under it.
    /// No personal data is re-encrypted and no subject changes; nodes keep serving.
    RotateMaster {
        #[command(flatten)]
        storage: StorageArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove every master key version but the newest from DATA_DIR/master.key, after
    /// re-wrapping any key still under an older one. Backups made before need the old
    /// versions: save them with --save-retired to keep offline with those backups.
    RetireMaster {
        #[command(flatten)]
        storage: StorageArgs,
        /// Write the retired versions to this new file (0600) before removing them.
        #[arg(long, value_name = "FILE", conflicts_with = "discard_retired")]
        save_retired: Option<std::path::PathBuf>,
        /// Remove the retired versions without saving them.
        #[arg(long)]
        discard_retired: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the signing keys and where each is in its life: next, signing, published
    /// (replaced, still in the JWKS) or retired.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn keys(command: KeysCommand, file: &Config) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate { storage, algs, activate_after, json } => {
            let services = civpass_driver::existing_platform(&storage.over(file).storage).await?;
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
                .keys
                .rotate_keys(&algs, activate_after)
                .await
                .context("rotating the signing keys")?;
            if json {
                let out: Vec<_> = rotated
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "alg": r.alg,
                            "new_kid": r.new_kid,
                            "activates_at": crate::iso8601(r.activates_at),
                            "retiring": r.retiring.iter().map(|(kid, at)| {
                                serde_json::json!({"kid": kid, "retires_at": crate::iso8601(*at)})
                            }).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for r in &rotated {
                    println!(
                        "{}: new key {} is published now and signs from {}",
                        r.alg,
                        r.new_kid,
                        crate::iso8601(r.activates_at)
                    );
                    for (kid, retires_at) in &r.retiring {
                        println!(
                            "    replaces {kid}, which leaves the JWKS at {}",
                            crate::iso8601(*retires_at)
                        );
                    }
                }
            }
            Ok(())
        }
        KeysCommand::RotateMaster { storage, json } => {
            let report =
                civpass_driver::master_keys::rotate_master(&storage.over(file).storage).await?;
            print_master_report(&report, json, "rotated")
        }
        KeysCommand::RetireMaster { storage, save_retired, discard_retired, json } => {
            use civpass_driver::master_keys::RetiredKeys;
            let retired = match (&save_retired, discard_retired) {
                (Some(path), _) => RetiredKeys::SaveTo(path),
                (None, true) => RetiredKeys::Discard,
                (None, false) => RetiredKeys::Unsaid,
            };
            let report =
                civpass_driver::master_keys::retire_master(&storage.over(file).storage, retired)
                    .await?;
            print_master_report(&report, json, "retired")
        }
        KeysCommand::List { storage, json } => {
            let services = civpass_driver::existing_platform(&storage.over(file).storage).await?;
            let keys = services.keys.list_keys().await?;
            if json {
                let out: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "kid": k.kid,
                            "alg": k.alg,
                            "state": k.state,
                            "created_at": crate::iso8601(k.created_at),
                            "activates_at": crate::iso8601(k.activates_at),
                            "retires_at": k.retires_at.map(crate::iso8601),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for k in &keys {
                    let state = serde_json::to_value(k.state)?;
                    let until = match k.retires_at {
                        Some(at) => format!(", leaves the JWKS {}", crate::iso8601(at)),
                        None => String::new(),
                    };
                    println!(
                        "{:<6} {:<9} {}  signs from {}{until}",
                        k.alg,
                        state.as_str().unwrap_or(""),
                        k.kid,
                        crate::iso8601(k.activates_at)
                    );
                }
            }
            Ok(())
        }
    }
}

fn print_master_report(
    report: &civpass_driver::master_keys::MasterKeyReport,
    json: bool,
    what: &str,
) -> anyhow::Result<()> {
    if json {
        let out = serde_json::json!({
            "master_key_version": report.version,
            "rewrapped": report.rewrapped,
            "held_versions": report.held,
            "retired_versions": report.retired,
            "in_configuration": report.in_configuration,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "master key {what}: every data key is wrapped under version {} ({} re-wrapped now)",
        report.version, report.rewrapped
    );
    let old: Vec<String> =
        report.held.iter().filter(|v| **v != report.version).map(|v| format!("v{v}")).collect();
    let versions = |list: &[String]| match list.len() {
        1 => format!("version {}", list[0]),
        _ => format!("versions {}", list.join(", ")),
    };
    let stay = if old.len() == 1 { "stays" } else { "stay" };
    let is = if old.len() == 1 { "is" } else { "are" };
    if !report.retired.is_empty() && !report.in_configuration {
        let gone: Vec<String> = report.retired.iter().map(|v| format!("v{v}")).collect();
        println!("removed master key {} from master.key", versions(&gone));
    } else if !old.is_empty() && report.in_configuration && what == "retired" {
        println!(
            "no data key needs master key {} now: remove {} from master_key \
             (CIVPASS_MASTER_KEY) on every node, then restart them",
            versions(&old),
            if old.len() == 1 { "it" } else { "them" }
        );
    } else if !old.is_empty() && report.in_configuration {
        println!(
            "master key {} {is} still configured: once every node has the new version, \
             `civpass keys retire-master` says what to remove",
            versions(&old)
        );
    } else if !old.is_empty() {
        println!(
            "master key {} {stay} in master.key until `civpass keys retire-master`, so that \
             every node reads the new version first and older backups stay readable",
            versions(&old)
        );
    }
    Ok(())
}
