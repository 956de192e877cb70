//! `civpass wallet`: a citizen's device in software, for testers and scripts. It checks what
//! it can before it sends anything, as the app does.

use std::path::PathBuf;

use civpass_core::oidc::login::Verdict;
use civpass_wallet::{LoginLink, Wallet};
use clap::{Args, Subcommand};

/// Where a new wallet's device API is: the default issuer of `civpass serve` (passkeys and
/// signed messages name the issuer's host, `localhost`, not 127.0.0.1).
const DEFAULT_SERVER: &str = "http://localhost:8080";

/// A matching code is two digits (the login page shows it; `OidcService::start_login`).
fn is_match_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Args)]
pub(crate) struct WalletArgs {
    /// The wallet file, which holds the device's private key (created 0600)
    /// [default: ~/.civpass-wallet.json].
    #[arg(long, env = "CIVPASS_WALLET")]
    wallet: Option<PathBuf>,
    /// The civpass server [default: the wallet's, or http://localhost:8080 for a new one].
    #[arg(long, env = "CIVPASS_SERVER")]
    server: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

impl WalletArgs {
    /// The wallet file: as given, else in the home directory, outside any working copy.
    fn path(&self) -> PathBuf {
        self.wallet.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
                .join(".civpass-wallet.json")
        })
    }
}

#[derive(Subcommand)]
pub(crate) enum WalletCommand {
    /// Register this device for an identity (basic tier), creating the wallet file if needed.
    Enroll {
        #[command(flatten)]
        args: WalletArgs,
        /// The identity card number, check digit included: `A123456(3)`.
        #[arg(long)]
        id_number: String,
        /// The English name as on the card, surname first.
        #[arg(long)]
        name_en: String,
        /// Date of birth, YYYY-MM-DD.
        #[arg(long)]
        dob: String,
        /// The identity check: the vendor's session reference; with the sandbox verifier, the
        /// outcome to simulate (pass, document_mismatch, liveness_failed, timeout). Needed for a
        /// new account, not with --transfer-from.
        #[arg(long, required_unless_present = "transfer_from")]
        evidence: Option<String>,
        /// The account's current wallet file, to move an existing account to this wallet.
        #[arg(long)]
        transfer_from: Option<PathBuf>,
        /// For a citizen aged 11 to 17: a parent's or guardian's identity card number, one the
        /// population registry names; they approve in their own app (`wallet pending`,
        /// `wallet confirm`) before this account can log in.
        #[arg(long)]
        guardian: Option<String>,
        /// The phone holding the account was lost: move the account to this wallet, revoking
        /// every other device of it, a day later unless the old phone stops it. Needs a strong
        /// identity check (`--evidence pass` in the sandbox; `pass:basic` is refused); at a
        /// registration point the move is immediate.
        #[arg(long, conflicts_with_all = ["transfer_from", "guardian"])]
        replace_lost_device: bool,
    },
    /// Show a login request and approve or deny it.
    Approve {
        #[command(flatten)]
        args: WalletArgs,
        /// The link from the login page (QR code or "Open civpass app").
        link: String,
        /// The two-digit matching code shown on the login page.
        #[arg(long = "match")]
        match_code: Option<String>,
        /// Deny the request: nothing is released.
        #[arg(long)]
        deny: bool,
        /// Release only these of the requested scopes, comma-separated (openid is always
        /// released); each must be one the service asked for.
        #[arg(long = "only", value_delimiter = ',', conflicts_with = "deny")]
        only: Option<Vec<String>>,
    },
    /// List the services this identity has used and the data each received.
    Services {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// Save the consent receipt for a service (a JWT signed by civpass, verifiable against its
    /// JWKS): what it may receive, what for, since and until when.
    Receipt {
        #[command(flatten)]
        args: WalletArgs,
        /// The service's client id (see `civpass wallet services`).
        client_id: String,
        /// Where to write it [default: print it].
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The forms you filled anonymously: the services got the data with no link to you, and
    /// only you see this record.
    Fillings {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// Unlink a service: it loses its tokens and must ask again next time.
    Unlink {
        #[command(flatten)]
        args: WalletArgs,
        /// The service's client id (see `civpass wallet services`).
        client_id: String,
    },
    /// Show the verified identity data civpass holds.
    Data {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// Show a registration code for an officer at a registration point: to upgrade this
    /// wallet's account to plus, or, before enrolment, to register at plus on it (creating
    /// the wallet file if needed).
    RegistrationCode {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// List this account's devices, or revoke another one (a lost phone) with --revoke.
    Devices {
        #[command(flatten)]
        args: WalletArgs,
        /// Revoke this device (not this wallet's own).
        #[arg(long)]
        revoke: Option<String>,
    },
    /// Upgrade this account to plus remotely, with a strong identity check.
    Upgrade {
        #[command(flatten)]
        args: WalletArgs,
        /// The identity check: the vendor's session reference; with the sandbox verifier, the
        /// outcome to simulate (pass is strong; pass:basic is not, and is refused).
        #[arg(long)]
        evidence: String,
    },
    /// The e-ME vault: the data civpass holds for you and can fill forms with.
    Eme {
        #[command(subcommand)]
        command: EmeCommand,
    },
    /// What happened to this account, where and when.
    History {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// List what an officer did that waits for this wallet's confirmation.
    Pending {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// Confirm what an officer did (an id from `civpass wallet pending`): it takes effect.
    Confirm {
        #[command(flatten)]
        args: WalletArgs,
        id: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum EmeCommand {
    /// Show every field held, its value, where it came from and when it changed.
    Show {
        #[command(flatten)]
        args: WalletArgs,
    },
    /// Set fields: FIELD=VALUE, or FIELD.PART=VALUE for a part of an address
    /// (`address.district="Sha Tin"`, `address#zh-Hant-HK.district=沙田`); all or none.
    Set {
        #[command(flatten)]
        args: WalletArgs,
        /// FIELD=VALUE pairs, e.g. `phone_number=+85291234567 email=chan@example.hk`.
        #[arg(required = true, value_name = "FIELD=VALUE")]
        assignments: Vec<String>,
    },
    /// Delete a field (or FIELD.PART, one part of an address).
    Delete {
        #[command(flatten)]
        args: WalletArgs,
        field: String,
    },
    /// Verify `email` (a one-time link is mailed: open it, or pass it to `confirm-email`) or
    /// `phone_number` (a code is sent by SMS: pass it to `confirm-phone`).
    Verify {
        #[command(flatten)]
        args: WalletArgs,
        field: String,
    },
    /// Add an address proof: a PDF, JPEG or PNG file of at most 5 MB (at most 3 are kept).
    UploadProof {
        #[command(flatten)]
        args: WalletArgs,
        file: PathBuf,
    },
    /// Delete one address proof (its id is in `eme show`); `delete address_proof` deletes all.
    DeleteProof {
        #[command(flatten)]
        args: WalletArgs,
        id: String,
    },
    /// Save an address proof (its id is in `eme show`).
    DownloadProof {
        #[command(flatten)]
        args: WalletArgs,
        id: String,
        #[arg(long)]
        output: PathBuf,
    },
    /// Open an e-mail verification link, as the app does.
    ConfirmEmail {
        #[command(flatten)]
        args: WalletArgs,
        link: String,
    },
    /// Send back the code an SMS verification sent.
    ConfirmPhone {
        #[command(flatten)]
        args: WalletArgs,
        /// The verification id `verify phone_number` printed.
        verification_id: String,
        code: String,
    },
}

/// A vault field's or a released claim's value as one line: an address as its parts (or its
/// `formatted` form), a document as its id, type, size and upload time, never its bytes.
fn value_text(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(text) => text.clone(),
        Value::Object(doc) if doc.contains_key("content_type") => {
            let text = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or_default();
            let mut out = format!(
                "{} ({}, {} bytes",
                text("id"),
                text("content_type"),
                doc.get("size").and_then(Value::as_u64).unwrap_or_default()
            );
            if let Some(at) = doc.get("uploaded_at").and_then(Value::as_i64) {
                out.push_str(&format!(", uploaded {}", crate::iso8601(at)));
            }
            out.push(')');
            out.trim_start().to_owned()
        }
        Value::Object(parts) => match parts.get("formatted").and_then(Value::as_str) {
            Some(formatted) => formatted.to_owned(),
            None => parts
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("; "),
        },
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

fn print_vault(vault: &civpass_wallet::Vault, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(vault)?);
        return Ok(());
    }
    for f in &vault.fields {
        let source = match &f.method {
            Some(method) => format!("{} by {method}", f.source),
            None => f.source.clone(),
        };
        println!(
            "{:<28} {}  [{source}, {}]",
            f.name,
            value_text(&f.value),
            crate::iso8601(f.updated_at)
        );
    }
    Ok(())
}

async fn eme(command: EmeCommand) -> anyhow::Result<()> {
    match command {
        EmeCommand::Show { args } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            print_vault(&wallet.vault(&session).await?, args.json)
        }
        EmeCommand::Set { args, assignments } => {
            let changes = assignments
                .iter()
                .map(|a| {
                    a.split_once('=')
                        .map(|(k, v)| (k.trim().to_owned(), Some(v.to_owned())))
                        .ok_or_else(|| anyhow::anyhow!("{a:?}: write FIELD=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            print_vault(&wallet.change_vault(&session, changes).await?, args.json)
        }
        EmeCommand::Verify { args, field } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let started = wallet.start_verification(&session, &field).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&started)?);
            } else if let Some(id) = &started.verification_id {
                println!(
                    "a code was sent by SMS; before {}: civpass wallet eme confirm-phone{} {id} CODE",
                    crate::iso8601(started.expires_at),
                    wallet_flag(&args)
                );
            } else {
                println!(
                    "a one-time link was mailed; open it before {} (or: civpass wallet eme confirm-email LINK)",
                    crate::iso8601(started.expires_at)
                );
            }
            Ok(())
        }
        EmeCommand::UploadProof { args, file } => {
            let bytes = std::fs::read(&file)?;
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            print_vault(&wallet.upload_address_proof(&session, bytes).await?, args.json)
        }
        EmeCommand::DownloadProof { args, id, output } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let (content_type, bytes) = wallet.address_proof(&session, &id).await?;
            std::fs::write(&output, bytes)?;
            println!("{content_type} written to {}", output.display());
            Ok(())
        }
        EmeCommand::ConfirmEmail { args, link } => {
            let wallet = load_wallet(&args)?;
            wallet.confirm_email_link(&link).await?;
            println!("the e-mail address is verified");
            Ok(())
        }
        EmeCommand::ConfirmPhone { args, verification_id, code } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let vault = wallet.confirm_phone(&session, &verification_id, &code).await?;
            if args.json {
                return print_vault(&vault, true);
            }
            println!("the mobile number is verified");
            Ok(())
        }
        EmeCommand::DeleteProof { args, id } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            print_vault(&wallet.delete_address_proof(&session, &id).await?, args.json)
        }
        EmeCommand::Delete { args, field } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            print_vault(&wallet.change_vault(&session, vec![(field, None)]).await?, args.json)
        }
    }
}

/// ` --wallet FILE` when the command was given one, for the next command it suggests.
fn wallet_flag(args: &WalletArgs) -> String {
    match &args.wallet {
        Some(path) => format!(" --wallet {}", path.display()),
        None => String::new(),
    }
}

fn load_wallet(args: &WalletArgs) -> anyhow::Result<Wallet> {
    let mut wallet = Wallet::load(&args.path())?;
    if let Some(server) = &args.server {
        wallet.file.server = server.trim_end_matches('/').to_owned();
    }
    Ok(wallet)
}

fn open_or_create_wallet(args: &WalletArgs) -> anyhow::Result<Wallet> {
    let mut wallet = if args.path().exists() {
        Wallet::load(&args.path())?
    } else {
        Wallet::create(args.server.as_deref().unwrap_or(DEFAULT_SERVER))?
    };
    if let Some(server) = &args.server {
        wallet.file.server = server.trim_end_matches('/').to_owned();
    }
    Ok(wallet)
}

pub(crate) async fn run(command: WalletCommand) -> anyhow::Result<()> {
    match command {
        WalletCommand::Enroll {
            args,
            id_number,
            name_en,
            dob,
            evidence,
            transfer_from,
            guardian,
            replace_lost_device,
        } => {
            let mut wallet = open_or_create_wallet(&args)?;
            if wallet.file.device_id.is_some() && transfer_from.is_none() {
                anyhow::bail!(
                    "{} is already enrolled; use another --wallet file",
                    args.path().display()
                );
            }
            let old = transfer_from.as_deref().map(Wallet::load).transpose()?;
            let done = if replace_lost_device {
                let evidence = evidence.as_deref().unwrap_or_default();
                wallet.recover_lost_device(&id_number, &name_en, &dob, evidence).await?
            } else {
                wallet
                    .enrol_with_guardian(
                        &id_number,
                        &name_en,
                        &dob,
                        evidence.as_deref(),
                        old.as_ref(),
                        guardian.as_deref(),
                    )
                    .await?
            };
            wallet.save(&args.path())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                println!(
                    "enrolled: account {} on device {} (tier {}){}",
                    done.account_id,
                    done.device_id,
                    done.tier,
                    if done.transferred { ", moved from the previous device" } else { "" }
                );
                if let Some(at) = done.moves_at {
                    println!(
                        "the account moves to this wallet at {}: until then this wallet approves nothing, and the account's current devices can stop the move",
                        crate::iso8601(at)
                    );
                }
                if done.awaiting_guardian {
                    println!(
                        "the account waits for the guardian's approval in their own app; it cannot log in until then"
                    );
                }
            }
            Ok(())
        }
        WalletCommand::RegistrationCode { args } => {
            let mut wallet = open_or_create_wallet(&args)?;
            let issued = wallet.registration_code().await?;
            wallet.save(&args.path())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&issued)?);
            } else {
                println!("{}", issued.code);
                println!(
                    "Show this code to the officer before {} ({}); it works once.",
                    crate::iso8601(issued.expires_at),
                    if issued.enrolled {
                        "to upgrade this account to plus"
                    } else {
                        "to register at plus on this wallet"
                    }
                );
            }
            Ok(())
        }
        WalletCommand::Devices { args, revoke } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            if let Some(id) = revoke {
                wallet.revoke_device(&session, &id).await?;
                if args.json {
                    println!("{}", serde_json::json!({"revoked": id}));
                } else {
                    println!("revoked {id}: it can no longer approve logins");
                }
                return Ok(());
            }
            let devices = wallet.devices(&session).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&devices)?);
            } else {
                for d in devices {
                    let state = match d.revoked_at {
                        Some(at) => format!("revoked {}", crate::iso8601(at)),
                        None => "active".to_owned(),
                    };
                    let this = if d.current { " (this wallet)" } else { "" };
                    println!(
                        "{}  {:<8} added {}  {state}{this}",
                        d.id,
                        d.kind,
                        crate::iso8601(d.added_at)
                    );
                }
            }
            Ok(())
        }
        WalletCommand::Upgrade { args, evidence } => {
            let wallet = load_wallet(&args)?;
            let done = wallet.upgrade(&evidence).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                println!("upgraded: this account is {}", done.tier);
            }
            Ok(())
        }
        WalletCommand::Eme { command } => eme(command).await,
        WalletCommand::Fillings { args } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let fillings = wallet.anonymous_fillings(&session).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&fillings)?);
            } else if fillings.is_empty() {
                println!("no anonymous form fillings");
            } else {
                for f in &fillings {
                    println!(
                        "{}  {}: {} ({})",
                        crate::iso8601(f.filled_at),
                        f.client_name,
                        f.form_name,
                        f.claims.join(", ")
                    );
                }
            }
            Ok(())
        }
        WalletCommand::Receipt { args, client_id, output } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let receipt = wallet.consent_receipt(&session, &client_id).await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &receipt)?;
                    println!("consent receipt written to {}", path.display());
                }
                None => println!("{receipt}"),
            }
            Ok(())
        }
        WalletCommand::History { args } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let history = wallet.history(&session).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                for h in history {
                    let place = h
                        .point
                        .as_ref()
                        .and_then(|p| p.first())
                        .map(|p| format!(" at {p}"))
                        .unwrap_or_default();
                    println!("{}  {} ({}){place}", crate::iso8601(h.at), h.what, h.channel);
                }
            }
            Ok(())
        }
        WalletCommand::Pending { args } => {
            let mut wallet = load_wallet(&args)?;
            let pending = wallet.pending().await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&pending)?);
            } else if pending.is_empty() {
                println!("nothing waits for this wallet's confirmation");
            } else {
                for p in &pending {
                    if p.kind == "recovery" {
                        println!(
                            "{}  someone asked to move this account to a new phone; it happens at {} unless you stop it: `civpass wallet confirm {}` stops it",
                            p.id,
                            crate::iso8601(p.expires_at),
                            p.id
                        );
                        continue;
                    }
                    if p.kind == "guardian_approval" {
                        println!(
                            "{}  approve, as their guardian, the registration of the minor {}; before {}",
                            p.id,
                            p.name_en,
                            crate::iso8601(p.expires_at)
                        );
                        continue;
                    }
                    let what = match p.kind.as_str() {
                        "register" => "register at plus on this wallet",
                        "replace_device" => {
                            "move the account to this wallet (the lost phone is revoked)"
                        }
                        _ => "upgrade this account to plus",
                    };
                    println!(
                        "{}  {what}: {} at {}, confirm before {}",
                        p.id,
                        p.name_en,
                        p.point_name_en,
                        crate::iso8601(p.expires_at)
                    );
                }
            }
            Ok(())
        }
        WalletCommand::Confirm { args, id } => {
            let mut wallet = load_wallet(&args)?;
            let pending = wallet.pending().await?;
            let Some(found) = pending.iter().find(|p| p.id == id) else {
                anyhow::bail!(
                    "nothing with id {id} waits for this wallet's confirmation (see `civpass wallet pending`); nothing was sent"
                );
            };
            let done = wallet.confirm(found).await?;
            wallet.save(&args.path())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else if found.kind == "recovery" {
                println!("stopped: the account stays on its current devices");
            } else if found.kind == "guardian_approval" {
                println!(
                    "approved, as guardian, the registration of {}: their account can now log in",
                    found.name_en
                );
            } else {
                println!(
                    "confirmed: account {} on device {} is {}",
                    done.account_id, done.device_id, done.tier
                );
            }
            Ok(())
        }
        WalletCommand::Approve { args, link, match_code, deny, only: _ }
            if LoginLink::is_signing(&link) =>
        {
            approve_signing(&args, &link, match_code, deny).await
        }
        WalletCommand::Approve { args, link, match_code, deny, only } => {
            let wallet = load_wallet(&args)?;
            let link = LoginLink::parse(&link)?;
            // Checked here, as the app does: a wrong code sent to the server ends the login.
            let match_code = match (deny, match_code) {
                (true, _) => String::new(),
                (false, None) => anyhow::bail!(
                    "this login needs the two-digit matching code shown on the login page: pass --match CODE"
                ),
                (false, Some(code)) if is_match_code(&code) => code,
                (false, Some(code)) => anyhow::bail!(
                    "--match must be the two digits shown on the login page, not {code:?}; nothing was sent"
                ),
            };
            // `fetch` refuses a link to another platform before it sends anything.
            let view = wallet.fetch_with_values(&link).await?;
            if !args.json {
                let context = &view.context;
                let place = context.place.as_deref().unwrap_or("an unknown place");
                println!(
                    "Started {} in {} on {}, near {place}: approve only a login you started there.",
                    crate::iso8601(view.started_at),
                    context.browser.as_deref().unwrap_or("an unknown browser"),
                    context.os.as_deref().unwrap_or("an unknown system"),
                );
                println!("{} ({}) asks to log you in and for:", view.client_name, view.client_id);
                if let Some(form) = &view.form {
                    let number =
                        form.form_number.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                    println!(
                        "  to fill the form \"{}\"{number}{}",
                        form.form_name,
                        if form.anonymous {
                            ", anonymously: it will not know who you are"
                        } else {
                            ""
                        }
                    );
                }
                if let Some(description) = view.form.as_ref().and_then(|f| f.description.as_ref()) {
                    println!("  the form, in its words: {description}");
                }
                if let Some(purpose) = &view.purpose {
                    println!("  for this purpose, in its words: {purpose}");
                }
                for item in &view.scopes {
                    let mark = match (item.optional, item.essential) {
                        (false, _) => " (required)",
                        (true, true) => " (the service says it needs this)",
                        (true, false) => "",
                    };
                    let anonymous = view.form.as_ref().is_some_and(|f| f.anonymous);
                    let description = if anonymous && item.scope == "openid" {
                        "A one-time identifier: the service cannot recognise you"
                    } else {
                        item.description.as_str()
                    };
                    println!("  - {description}{mark} [{}]", item.scope);
                    for claim in &item.claims {
                        let value = claim
                            .value
                            .as_ref()
                            .map_or("(not in your e-ME; not released)".to_owned(), value_text);
                        println!("      {}: {value}", claim.name);
                    }
                }
            }
            let verdict = if deny { Verdict::Deny } else { Verdict::Approve };
            let requested: Vec<String> = view.scopes.iter().map(|s| s.scope.clone()).collect();
            let optional: Vec<&str> =
                view.scopes.iter().filter(|s| s.optional).map(|s| s.scope.as_str()).collect();
            if let Some(unknown) = only.iter().flatten().find(|s| !optional.contains(&s.as_str())) {
                anyhow::bail!(
                    "--only {unknown}: the service did not ask for it, or it is always released; it may be one of: {}; nothing was sent",
                    if optional.is_empty() { "(none)".to_owned() } else { optional.join(", ") }
                );
            }
            let released: Vec<String> = match (&only, verdict) {
                (_, Verdict::Deny) => Vec::new(),
                (Some(only), _) => requested
                    .iter()
                    .filter(|s| !optional.contains(&s.as_str()) || only.contains(s))
                    .cloned()
                    .collect(),
                (None, _) => requested,
            };
            let res = wallet.decide(&link, &view, verdict, &match_code, &released).await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"status": res.status, "client_name": view.client_name, "released": released})
                    )?
                );
            } else {
                println!("{}", res.status);
            }
            Ok(())
        }
        WalletCommand::Services { args } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let services = wallet.services(&session).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&services)?);
                return Ok(());
            }
            if services.is_empty() {
                println!("No services yet.");
            }
            for s in &services {
                println!("{} ({}): shares {}", s.client_name, s.client_id, s.scopes.join(" "));
                for r in &s.releases {
                    println!(
                        "  {} via {}: {}",
                        crate::iso8601(r.released_at),
                        r.channel,
                        r.claims.join(" ")
                    );
                }
            }
            Ok(())
        }
        WalletCommand::Unlink { args, client_id } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            wallet.unlink(&session, &client_id).await?;
            if args.json {
                println!("{}", serde_json::json!({"unlinked": client_id}));
            } else {
                println!("unlinked {client_id}");
            }
            Ok(())
        }
        WalletCommand::Data { args } => {
            let wallet = load_wallet(&args)?;
            let session = wallet.open_session().await?;
            let data = wallet.my_data(&session).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                println!(
                    "{} {} ({}), born {}, {}, {} tier",
                    data.name_en,
                    data.name_zh,
                    data.hkid,
                    data.date_of_birth,
                    data.gender,
                    data.tier
                );
            }
            Ok(())
        }
    }
}

/// `wallet approve` for a signing request's link: shows what is to be signed and its
/// fingerprint, then signs the approval (or the denial) with the device key.
async fn approve_signing(
    args: &WalletArgs,
    link: &str,
    match_code: Option<String>,
    deny: bool,
) -> anyhow::Result<()> {
    let wallet = load_wallet(args)?;
    let link = LoginLink::parse_signing(link)?;
    let match_code = match (deny, match_code) {
        (true, _) => String::new(),
        (false, Some(code)) if is_match_code(&code) => code,
        (false, Some(code)) => anyhow::bail!(
            "--match must be the two digits shown on the service's page, not {code:?}; nothing was sent"
        ),
        (false, None) => anyhow::bail!(
            "signing needs the two-digit matching code shown on the service's page: pass --match CODE; nothing was sent"
        ),
    };
    let view = wallet.fetch_signing(&link).await?;
    // From the digests shown, as the approval signs them, not from the server's binding.
    let fingerprint = civpass_api::signing::fingerprint(&Wallet::documents_binding(&view)?);
    if !args.json {
        println!(
            "{} ({}) asks you to sign {} document{} with legal effect:",
            view.client_name,
            view.client_id,
            view.documents.len(),
            if view.documents.len() == 1 { "" } else { "s" }
        );
        for document in &view.documents {
            println!("  - {}", document.name);
        }
        println!("fingerprint {fingerprint}: the service's page shows the same");
    }
    let verdict = if deny { Verdict::Deny } else { Verdict::Approve };
    wallet.decide_signing(&link, &view, verdict, &match_code).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"request_id": view.request_id, "decision": verdict.as_str(), "fingerprint": fingerprint})
        );
    } else if deny {
        println!("denied: nothing was signed");
    } else {
        println!("signed: the service receives the signatures");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_two_digits_are_a_matching_code() {
        assert!(is_match_code("07"));
        for bad in ["3", "abc", "123", "0a", "", "٠٧"] {
            assert!(!is_match_code(bad), "{bad}");
        }
    }
}
