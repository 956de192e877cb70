//! `civpass registry`: the sandbox population registry's synthetic people.

use civpass_registry::SandboxRegistry;
use clap::Subcommand;

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
}

pub(crate) fn registry(command: RegistryCommand) -> anyhow::Result<()> {
    match command {
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
