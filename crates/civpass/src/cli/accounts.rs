//! `civpass accounts`: an operator suspends and reinstates accounts, downgrades plus to basic
//! (each with a reason, recorded and sealed), and reads an account's history, against an
//! existing platform.

use civpass_driver::Config;
use clap::{Args, Subcommand};

use crate::config::StorageArgs;

#[derive(Args)]
pub(crate) struct Target {
    #[command(flatten)]
    storage: StorageArgs,
    /// The account's identity card number, check digit included: `A123456(3)`.
    #[arg(long)]
    id_number: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub(crate) enum AccountsCommand {
    /// Suspend an account: it cannot log in, its sessions end and each service is told.
    Suspend {
        #[command(flatten)]
        target: Target,
        /// Why (kept sealed with the account; shown to operators).
        #[arg(long)]
        reason: String,
    },
    /// Lift a suspension.
    Reinstate {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: String,
    },
    /// Lower a plus account to basic.
    Downgrade {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: String,
    },
    /// What happened to an account, where and when, with the operators' reasons.
    History {
        #[command(flatten)]
        target: Target,
    },
}

pub(crate) async fn accounts(command: AccountsCommand, file: &Config) -> anyhow::Result<()> {
    let target = match &command {
        AccountsCommand::Suspend { target, .. }
        | AccountsCommand::Reinstate { target, .. }
        | AccountsCommand::Downgrade { target, .. }
        | AccountsCommand::History { target } => target,
    };
    let platform = civpass_driver::existing_platform(&target.storage.over(file).storage).await?;
    let account = &platform.account;
    let (json, id_number) = (target.json, target.id_number.clone());
    let done = match command {
        AccountsCommand::Suspend { reason, .. } => account.suspend(&id_number, &reason).await?,
        AccountsCommand::Reinstate { reason, .. } => account.reinstate(&id_number, &reason).await?,
        AccountsCommand::Downgrade { reason, .. } => account.downgrade(&id_number, &reason).await?,
        AccountsCommand::History { .. } => {
            let history = account.history_for_operator(&id_number).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                for h in history {
                    let place =
                        h.point.as_ref().map(|p| format!(" at {}", p[0])).unwrap_or_default();
                    let why = h.reason.map(|r| format!(": {r}")).unwrap_or_default();
                    println!("{}  {} ({}){place}{why}", crate::iso8601(h.at), h.what, h.channel);
                }
            }
            return Ok(());
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        println!("account {}: {}", done.account_id, done.act.as_str());
        if done.sessions_ended > 0 {
            println!(
                "{} sessions ended; their services are told by back-channel logout",
                done.sessions_ended
            );
        }
    }
    Ok(())
}
