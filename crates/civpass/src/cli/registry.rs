//! `civpass registry`: the sandbox population registry's synthetic people, and applying a
//! registry's change events from a file (JSON lines, the feed's wire format).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use civpass_core::identity::registry::RegistryEvent;
use civpass_driver::Config;
use civpass_registry::SandboxRegistry;
use clap::Subcommand;

use crate::config::StorageArgs;

#[derive(Subcommand)]
pub(crate) enum RegistryCommand {
    /// Print people from the synthetic registry.
    List {
        /// How many people to print.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// How many to skip first.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply a registry's change events from a JSON-lines file (`deceased`, `name_changed`,
    /// `card_replaced`); each event id is applied once, so a file applied again changes nothing
    /// more. The whole file is checked first: a bad line applies nothing.
    Events {
        #[command(flatten)]
        storage: StorageArgs,
        /// The events, one JSON object a line.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn registry(command: RegistryCommand, file: &Config) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Events { storage, file: path, json } => {
            let reader = std::io::BufReader::new(
                std::fs::File::open(&path)
                    .with_context(|| format!("opening {}", path.display()))?,
            );
            let mut events = Vec::new();
            for (n, line) in reader.lines().enumerate() {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                if line.trim().is_empty() {
                    continue;
                }
                let event = RegistryEvent::parse(&line).map_err(|why| {
                    anyhow::anyhow!("{} line {}: {why}; nothing was applied", path.display(), n + 1)
                })?;
                events.push(event);
            }
            let platform = civpass_driver::existing_platform(&storage.over(file).storage).await?;
            // On standard error, and only on a terminal: the output stays the answer.
            let bar = indicatif::ProgressBar::new(events.len() as u64).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events ({eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for event in &events {
                let applied = platform.account.apply_registry_event(event).await?;
                let key = serde_json::to_value(applied)?.as_str().unwrap_or_default().to_owned();
                *counts.entry(key).or_default() += 1;
                bar.inc(1);
            }
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::json!({"events": events.len(), "applied": counts}));
            } else {
                println!("{} events read from {}", events.len(), path.display());
                for (what, n) in counts {
                    println!("  {what}: {n}");
                }
            }
            Ok(())
        }
        RegistryCommand::List { limit, offset, json } => {
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
                            "guardians": p.guardians.iter().map(ToString::to_string).collect::<Vec<_>>(),
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
    }
}
