//! `civpass stats`: the figures an operator needs (accounts, plus accounts, suspended accounts,
//! active devices, and registrations and upgrades per day by channel and point), against an
//! existing platform.

use civpass_driver::Config;
use clap::Args;

use crate::config::StorageArgs;

#[derive(Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// How many days back, today (Hong Kong) included [1 to 366].
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn stats(args: StatsArgs, file: &Config) -> anyhow::Result<()> {
    let platform = civpass_driver::existing_platform(&args.storage.over(file).storage).await?;
    let figures = platform.account.figures(args.days).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
        return Ok(());
    }
    let t = &figures.totals;
    println!(
        "accounts {} (plus {}, suspended {}); active devices {}",
        t.accounts, t.plus, t.suspended, t.active_devices
    );
    println!(
        "{:<10}  {:>6} {:>6}  at registration points (registrations/upgrades)",
        "date", "remote", "upgr."
    );
    for day in &figures.days {
        let points: Vec<String> = day
            .registrations_by_point_kind
            .iter()
            .map(|(kind, n)| {
                format!("{kind} {n}/{}", day.upgrades_by_point_kind.get(kind).copied().unwrap_or(0))
            })
            .collect();
        println!(
            "{:<10}  {:>6} {:>6}  {}",
            day.date,
            day.remote_registrations,
            day.remote_upgrades,
            points.join(", ")
        );
    }
    Ok(())
}
