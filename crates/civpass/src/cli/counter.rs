//! `civpass staff`, `civpass points` and `civpass counter`: the registration operator's
//! administration (staff, their assignments, registration points) and what an officer does at
//! a counter, against an existing platform, as operators script it (docs/REGISTRATION.md).

use civpass_core::counter::console::enrolment_url;
use civpass_core::counter::hours::Hours;
use civpass_core::counter::model::{ActKind, CardDetails, PointKind, StaffRole};
use civpass_core::counter::{CounterRequest, NewPoint};
use civpass_driver::Config;
use clap::{Args, Subcommand};

use crate::config::StorageArgs;

#[derive(Args)]
pub(crate) struct Common {
    #[command(flatten)]
    storage: StorageArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub(crate) enum StaffCommand {
    /// Add a member of staff.
    Add {
        #[command(flatten)]
        common: Common,
        /// As the staff member is known at work.
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["officer", "supervisor", "admin"])]
        role: String,
        /// The issuer the console is served at, for the enrolment link (default: the one
        /// `civpass serve` has with this configuration).
        #[arg(long)]
        issuer: Option<String>,
    },
    /// List the staff and the points each is assigned to.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Let a member of staff act at a registration point.
    Assign {
        #[command(flatten)]
        common: Common,
        staff_id: String,
        point_id: String,
    },
    /// A new one-time link for a member of staff to make their console passkey (for a lost
    /// passkey too; the earlier link stops working).
    Link {
        #[command(flatten)]
        common: Common,
        staff_id: String,
        /// As for `staff add`.
        #[arg(long)]
        issuer: Option<String>,
    },
    /// Disable a member of staff at once.
    Disable {
        #[command(flatten)]
        common: Common,
        staff_id: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum PointsCommand {
    /// Add a registration point.
    Add {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_parser = ["counter", "post_office", "kiosk", "mobile_team"])]
        kind: String,
        #[arg(long)]
        name_en: String,
        /// The name in Traditional Chinese.
        #[arg(long)]
        name_zh_hant: String,
        /// The name in Simplified Chinese.
        #[arg(long)]
        name_zh_hans: String,
        #[arg(long)]
        district: String,
        /// Weekly opening hours, Hong Kong time: `mon-fri 09:00-17:30, sat 09:00-12:30`.
        #[arg(long, required_unless_present = "visits", conflicts_with = "visits")]
        hours: Option<String>,
        /// A mobile team's visit: `2026-12-01 10:00-16:00 Tai Po Market`; repeat for each.
        #[arg(long = "visit")]
        visits: Vec<String>,
    },
    /// List the registration points.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Change a point's opening hours, or a mobile team's schedule, from now on.
    SetHours {
        #[command(flatten)]
        common: Common,
        point_id: String,
        /// Weekly opening hours, Hong Kong time: `mon-fri 09:00-17:30, sat 09:00-12:30`.
        #[arg(long, required_unless_present = "visits", conflicts_with = "visits")]
        hours: Option<String>,
        /// A mobile team's visit: `2026-12-01 10:00-16:00 Tai Po Market`; repeat for each.
        #[arg(long = "visit")]
        visits: Vec<String>,
    },
    /// Enrol a self-service kiosk to a point, with a key of its own: the private key goes to
    /// --key-file (created 0600; install it on the kiosk), civpass keeps the public key.
    AddKiosk {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        point: String,
        /// As the operator knows the kiosk, e.g. "GPO kiosk 2".
        #[arg(long)]
        name: String,
        /// Where to write the kiosk's key (must not exist).
        #[arg(long)]
        key_file: std::path::PathBuf,
    },
}

#[derive(Args)]
pub(crate) struct ActArgs {
    #[command(flatten)]
    common: Common,
    /// The registration point where the officer is.
    #[arg(long)]
    point: String,
    /// The officer's staff id.
    #[arg(long)]
    officer: String,
    /// The registration code the citizen's app shows.
    #[arg(long)]
    code: String,
    /// The identity card's number, check digit included: `A123456(3)`.
    #[arg(long)]
    id_number: String,
    /// The English name as on the card.
    #[arg(long)]
    name_en: String,
    /// Date of birth as on the card, YYYY-MM-DD.
    #[arg(long)]
    dob: String,
}

#[derive(Subcommand)]
pub(crate) enum CounterCommand {
    /// Register a new citizen at the plus tier on the phone that shows the code.
    Register(ActArgs),
    /// Upgrade the basic account on the phone that shows the code to plus.
    Upgrade(ActArgs),
    /// The citizen lost their phone: move the card holder's account to the new phone that
    /// shows the code, revoking every other device of it.
    ReplaceDevice(ActArgs),
}

pub(crate) async fn staff(command: StaffCommand, file: &Config) -> anyhow::Result<()> {
    let common = match &command {
        StaffCommand::Add { common, .. }
        | StaffCommand::List { common }
        | StaffCommand::Assign { common, .. }
        | StaffCommand::Link { common, .. }
        | StaffCommand::Disable { common, .. } => common,
    };
    let platform = civpass_driver::existing_platform(&common.storage.over(file).storage).await?;
    let counter = &platform.counter;
    match command {
        StaffCommand::Add { common, name, role, issuer } => {
            let role = StaffRole::parse(&role).unwrap_or(StaffRole::Officer);
            let staff = counter.add_staff(&name, role).await?;
            let link = counter.enrolment_link(&staff.id).await?;
            let url = enrolment_url(&issuer.unwrap_or_else(|| console_issuer(file)), &link.token);
            if common.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&with_link(&staff, &url, link.expires_at)?)?
                );
            } else {
                println!("added {} ({}, {})", staff.id, staff.name, staff.role.as_str());
                print_link(&url, role);
            }
        }
        StaffCommand::Link { common, staff_id, issuer } => {
            let staff =
                counter.list_staff().await?.into_iter().map(|(s, _)| s).find(|s| s.id == staff_id);
            let link = counter.enrolment_link(&staff_id).await?;
            let url = enrolment_url(&issuer.unwrap_or_else(|| console_issuer(file)), &link.token);
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({"enrolment_link": url, "enrolment_expires_at": link.expires_at})
                );
            } else {
                print_link(&url, staff.map_or(StaffRole::Officer, |s| s.role));
            }
        }
        StaffCommand::List { common } => {
            let all = counter.list_staff().await?;
            if common.json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|(s, points)| serde_json::json!({"staff": s, "points": points}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for (s, points) in all {
                    let state = if s.disabled_at.is_some() { "disabled" } else { "active" };
                    println!(
                        "{}  {:<10} {:<8} {}  points: {}",
                        s.id,
                        s.role.as_str(),
                        state,
                        s.name,
                        if points.is_empty() { "none".to_owned() } else { points.join(", ") }
                    );
                }
            }
        }
        StaffCommand::Assign { common, staff_id, point_id } => {
            let added = counter.assign(&staff_id, &point_id).await?;
            if common.json {
                println!("{}", serde_json::json!({"assigned": true, "new": added}));
            } else if added {
                println!("{staff_id} may now act at {point_id}");
            } else {
                println!("{staff_id} could already act at {point_id}; nothing changed");
            }
        }
        StaffCommand::Disable { common, staff_id } => {
            let disabled = counter.disable_staff(&staff_id).await?;
            if common.json {
                println!("{}", serde_json::json!({"disabled": true, "new": disabled}));
            } else if disabled {
                println!("{staff_id} is disabled: they can no longer act");
            } else {
                println!("{staff_id} was disabled already; nothing changed");
            }
        }
    }
    Ok(())
}

/// Weekly hours from `--hours`, or a schedule from the `--visit`s.
fn hours_from(hours: Option<String>, visits: &[String]) -> anyhow::Result<Hours> {
    Ok(match hours {
        Some(text) => Hours::parse_weekly(&text).map_err(anyhow::Error::msg)?,
        None => Hours::Schedule {
            visits: visits
                .iter()
                .map(|v| Hours::parse_visit(v))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?,
        },
    })
}

/// The issuer `civpass serve` would have with this configuration, for links into the console.
fn console_issuer(file: &Config) -> String {
    match file.server.listen.parse::<std::net::SocketAddr>() {
        Ok(address) => file.issuer(address),
        Err(_) => {
            file.server.issuer.clone().unwrap_or_else(|| format!("http://{}", file.server.listen))
        }
    }
}

/// The member of staff as `staff list` shows them, with their enrolment link beside.
fn with_link(
    staff: &civpass_core::counter::model::Staff,
    url: &str,
    expires_at: i64,
) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(staff)?;
    value["enrolment_link"] = url.into();
    value["enrolment_expires_at"] = expires_at.into();
    Ok(value)
}

fn print_link(url: &str, role: StaffRole) {
    println!("one-time link to make the console passkey (valid for three days, use it once):");
    println!("  {url}");
    println!("open it in the browser the console will be used in (on the issuer's own address)");
    if role == StaffRole::Admin {
        println!(
            "as an administrator you will also be given an authenticator-app secret there: each sign-in asks for its six-digit code"
        );
    }
}

pub(crate) async fn points(command: PointsCommand, file: &Config) -> anyhow::Result<()> {
    let common = match &command {
        PointsCommand::Add { common, .. }
        | PointsCommand::List { common }
        | PointsCommand::SetHours { common, .. }
        | PointsCommand::AddKiosk { common, .. } => common,
    };
    let platform = civpass_driver::existing_platform(&common.storage.over(file).storage).await?;
    let counter = &platform.counter;
    match command {
        PointsCommand::Add {
            common,
            kind,
            name_en,
            name_zh_hant,
            name_zh_hans,
            district,
            hours,
            visits,
        } => {
            let kind = PointKind::parse(&kind).unwrap_or(PointKind::Counter);
            let hours = hours_from(hours, &visits)?;
            let point = counter
                .add_point(NewPoint { kind, name_en, name_zh_hant, name_zh_hans, district, hours })
                .await?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&point)?);
            } else {
                println!(
                    "added {} ({}, {}, {})",
                    point.id,
                    point.name_en,
                    point.kind.as_str(),
                    point.district
                );
            }
        }
        PointsCommand::AddKiosk { common, point, name, key_file } => {
            // The key file first: a kiosk whose key went nowhere would be enrolled for nothing.
            let mut out = crate::cli::create_private_file(&key_file).map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "creating the key file {} (it must not exist; nothing was done)",
                    key_file.display()
                ))
            })?;
            let (kiosk, pkcs8) = match counter.add_kiosk(&point, &name).await {
                Ok(done) => done,
                Err(e) => {
                    drop(out);
                    let _ = std::fs::remove_file(&key_file);
                    return Err(e.into());
                }
            };
            let key = serde_json::json!({
                "kiosk_id": kiosk.id,
                "point_id": point,
                "private_key": civpass_crypto::secret::b64url(&pkcs8),
            });
            std::io::Write::write_all(&mut out, serde_json::to_string_pretty(&key)?.as_bytes())?;
            out.sync_all()?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&kiosk)?);
            } else {
                println!(
                    "kiosk {} enrolled to {point}; its key is in {}",
                    kiosk.id,
                    key_file.display()
                );
            }
        }
        PointsCommand::SetHours { common, point_id, hours, visits } => {
            let point = counter.set_point_hours(&point_id, hours_from(hours, &visits)?).await?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&point)?);
            } else {
                println!("{}: hours (Hong Kong time) now {}", point.id, point.hours);
            }
        }
        PointsCommand::List { common } => {
            let all = counter.list_points().await?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for p in all {
                    println!(
                        "{}  {:<12} {} / {} ({})\n    hours (Hong Kong time): {}",
                        p.id,
                        p.kind.as_str(),
                        p.name_en,
                        p.name_zh_hant,
                        p.district,
                        p.hours
                    );
                }
            }
        }
    }
    Ok(())
}

pub(crate) async fn counter(command: CounterCommand, file: &Config) -> anyhow::Result<()> {
    let (kind, args) = match command {
        CounterCommand::Register(args) => (ActKind::Register, args),
        CounterCommand::Upgrade(args) => (ActKind::Upgrade, args),
        CounterCommand::ReplaceDevice(args) => (ActKind::ReplaceDevice, args),
    };
    let platform =
        civpass_driver::existing_platform(&args.common.storage.over(file).storage).await?;
    let report = platform
        .counter
        .act(CounterRequest {
            kind,
            staff_id: &args.officer,
            point_id: &args.point,
            code: &args.code,
            card: CardDetails {
                id_number: args.id_number.clone(),
                name_en: args.name_en.clone(),
                date_of_birth: args.dob.clone(),
            },
        })
        .await?;
    if args.common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        match report.expires_at {
            Some(until) => println!(
                "{}: checked; the citizen must confirm on the phone before {} (act {})",
                report.outcome.as_str(),
                crate::iso8601(until),
                report.act_id
            ),
            None => println!(
                "{}: nothing will happen (act {}, recorded)",
                report.outcome.as_str(),
                report.act_id
            ),
        }
    }
    Ok(())
}
