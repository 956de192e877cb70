//! `civpass client`: the operator registers, lists, shows, suspends, deletes and rotates the
//! secrets of relying parties, on an existing platform (never creating one: a mistyped
//! `--data-dir` must not start a new platform with a new master key).

use std::path::PathBuf;

use anyhow::Context;
use civpass_core::oidc::clients::ClientSpec;
use civpass_core::oidc::model::{AuthMethod, Client, GrantType};
use civpass_crypto::jws::Algorithm;
use civpass_driver::Config;
use clap::{Args, Subcommand};

use crate::config::StorageArgs;

/// What `civpass client create` registers.
#[derive(Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The name citizens see on the login page and in the app.
    #[arg(long)]
    name: String,
    /// Exact redirect URI; repeat for several (needed for the authorization code grant).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE only): the same as `--auth-method none`.
    #[arg(long)]
    public: bool,
    /// Allowed token-endpoint authentication methods; repeat for several [default:
    /// client_secret_basic and client_secret_post].
    #[arg(long = "auth-method", value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])]
    auth_methods: Vec<String>,
    /// Grant types; repeat for several [default: authorization_code and refresh_token].
    #[arg(long = "grant-type", value_parser = ["authorization_code", "refresh_token", "client_credentials"])]
    grant_types: Vec<String>,
    /// A file with the client's public keys as a JWK Set, for private_key_jwt.
    #[arg(long, conflicts_with = "jwks_uri")]
    jwks: Option<PathBuf>,
    /// Where the client publishes its JWK Set, for private_key_jwt.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// Scopes the client may ask for with the client-credentials grant; repeat for several.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// The client must push its authorization requests (RFC 9126).
    #[arg(long)]
    require_par: bool,
    /// The client must sign its authorization requests (RFC 9101); needs its keys.
    #[arg(long)]
    require_signed_request: bool,
    /// The client's tokens must be bound to a DPoP key (RFC 9449 `dpop_bound_access_tokens`).
    #[arg(long)]
    require_dpop: bool,
    /// Where `/logout` may send the browser afterwards; repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Where the service hears that a citizen's session ended (Back-Channel Logout).
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// Where the service receives Security Event Tokens by push (RFC 8935): a citizen's
    /// consent that ended, and the sessions that ended with it.
    #[arg(long)]
    security_events_push_uri: Option<String>,
    /// A URL listing the redirect URIs of the organisation's services, which then share
    /// pairwise subjects.
    #[arg(long)]
    sector_identifier_uri: Option<String>,
    /// A protected resource that may introspect other clients' access tokens (RFC 7662).
    #[arg(long)]
    resource_server: bool,
    /// How its ID tokens are signed (`id_token_signed_response_alg`).
    #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS256", "PS256", "EdDSA"])]
    id_token_alg: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Issue an initial access token for dynamic client registration (RFC 7591), for developers
    /// to register their own clients at `/register`.
    RegistrationToken {
        #[command(flatten)]
        storage: StorageArgs,
        /// How long it may be used, in hours.
        #[arg(long, default_value_t = 24)]
        hours: i64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register a relying party; prints its client_id and, for confidential clients, its secret.
    Create(Box<CreateArgs>),
    /// List the registered relying parties, suspended ones included.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one relying party's registration.
    Show(ClientTarget),
    /// Suspend a relying party: no logins, no tokens, its tokens inactive; grants are kept.
    Disable(ClientTarget),
    /// Lift a suspension.
    Enable(ClientTarget),
    /// Delete a relying party for good and revoke its grants.
    Delete(ClientTarget),
    /// Give a confidential client a new secret, shown once; the old one stops working at once.
    RotateSecret(ClientTarget),
}

/// The client an operator command acts on.
#[derive(Args)]
pub(crate) struct ClientTarget {
    #[command(flatten)]
    storage: StorageArgs,
    /// Its client_id (see `civpass client list`).
    client_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn client(command: ClientCommand, file: &Config) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create(args) => create(*args, file).await,
        ClientCommand::RegistrationToken { storage, hours, json } => {
            registration_token(storage, hours, json, file).await
        }
        ClientCommand::List { storage, json } => {
            let services = civpass_driver::existing_platform(&storage.over(file).storage).await?;
            let clients = services.oidc.list_clients().await?;
            if json {
                let out: Vec<_> = clients.iter().map(client_json).collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if clients.is_empty() {
                println!("No clients yet: register one with `civpass client create`.");
            } else {
                for c in &clients {
                    println!(
                        "{}  {}  {}{}",
                        c.id,
                        client_kind(c),
                        c.name,
                        if c.disabled_at.is_some() { "  (suspended)" } else { "" }
                    );
                }
            }
            Ok(())
        }
        ClientCommand::Show(target) => {
            let services =
                civpass_driver::existing_platform(&target.storage.over(file).storage).await?;
            let client = services
                .oidc
                .client(&target.client_id)
                .await?
                .with_context(|| no_such_client(&target.client_id))?;
            let out = client_json(&client);
            if target.json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if let Some(fields) = out.as_object() {
                for (name, value) in fields
                    .iter()
                    .filter(|(_, v)| !v.is_null() && !v.as_array().is_some_and(Vec::is_empty))
                {
                    let text = match value {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(" "),
                        other => other.to_string(),
                    };
                    println!("{name}: {text}");
                }
            }
            Ok(())
        }
        ClientCommand::Disable(target) => set_disabled(target, true, file).await,
        ClientCommand::Enable(target) => set_disabled(target, false, file).await,
        ClientCommand::Delete(target) => {
            let services =
                civpass_driver::existing_platform(&target.storage.over(file).storage).await?;
            if !services.oidc.delete_client(&target.client_id).await? {
                anyhow::bail!(no_such_client(&target.client_id));
            }
            report(target.json, &target.client_id, "deleted", "deleted; its grants are revoked")
        }
        ClientCommand::RotateSecret(target) => {
            let services =
                civpass_driver::existing_platform(&target.storage.over(file).storage).await?;
            let client = services
                .oidc
                .client(&target.client_id)
                .await?
                .with_context(|| no_such_client(&target.client_id))?;
            let secret = services.oidc.rotate_client_secret(&client.id).await?.with_context(|| {
                format!(
                    "{} has no secret to rotate: it is a public client or authenticates with private_key_jwt",
                    client.id
                )
            })?;
            if target.json {
                println!(
                    "{}",
                    serde_json::json!({"client_id": client.id, "client_secret": secret})
                );
            } else {
                println!("client_id: {}", client.id);
                println!("client_secret: {secret}");
                println!("(the old secret no longer works; this one is shown only now)");
            }
            Ok(())
        }
    }
}

async fn set_disabled(target: ClientTarget, disabled: bool, file: &Config) -> anyhow::Result<()> {
    let services = civpass_driver::existing_platform(&target.storage.over(file).storage).await?;
    if !services.oidc.set_client_disabled(&target.client_id, disabled).await? {
        anyhow::bail!(no_such_client(&target.client_id));
    }
    if disabled {
        report(
            target.json,
            &target.client_id,
            "suspended",
            "suspended: no logins or tokens, its tokens inactive, until `civpass client enable`",
        )
    } else {
        report(target.json, &target.client_id, "enabled", "enabled again")
    }
}

fn report(json: bool, client_id: &str, status: &str, text: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::json!({"client_id": client_id, "status": status}));
    } else {
        println!("{client_id} {text}");
    }
    Ok(())
}

fn no_such_client(client_id: &str) -> String {
    format!("no client {client_id:?} here: `civpass client list` shows them")
}

fn client_kind(client: &Client) -> &'static str {
    match (client.native, client.auth_methods.first()) {
        (true, _) => "native",
        (false, Some(AuthMethod::None)) => "public",
        (false, Some(AuthMethod::PrivateKeyJwt)) => "private_key_jwt",
        _ => "confidential",
    }
}

/// A client as its registration metadata names it (RFC 7591 section 2, OIDC Registration
/// section 2), with civpass's own fields; never its secret's hash or its keys.
fn client_json(client: &Client) -> serde_json::Value {
    serde_json::json!({
        "client_id": client.id,
        "client_name": client.name,
        "application_type": if client.native { "native" } else { "web" },
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": client.auth_methods.first().map(|m| m.as_str()),
        // Every method the client may use; the first is the one its registration names.
        "token_endpoint_auth_methods": client.auth_methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "id_token_signed_response_alg": client.id_token_alg.as_str(),
        "jwks_uri": client.jwks_uri,
        "scope": (!client.scopes.is_empty()).then(|| client.scopes.join(" ")),
        "require_pushed_authorization_requests": client.require_par,
        "require_signed_request_object": client.require_signed_request,
        "dpop_bound_access_tokens": client.require_dpop,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "security_events_push_uri": client.security_events_push_uri,
        "sector_identifier_uri": client.sector_identifier_uri,
        "acr_values_voluntary": client.acr_values_voluntary,
        "resource_server": client.resource_server,
        "registered_dynamically": client.registration_token_hash.is_some(),
        "created_at": crate::iso8601(client.created_at),
        "disabled_at": client.disabled_at.map(crate::iso8601),
    })
}

async fn create(args: CreateArgs, file: &Config) -> anyhow::Result<()> {
    let CreateArgs {
        storage,
        name,
        redirect_uris,
        public,
        id_token_alg,
        auth_methods,
        grant_types,
        jwks,
        jwks_uri,
        scopes,
        require_par,
        require_signed_request,
        require_dpop,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        security_events_push_uri,
        sector_identifier_uri,
        resource_server,
        json,
    } = args;
    let services = civpass_driver::existing_platform(&storage.over(file).storage).await?;
    let mut spec = ClientSpec::web(&name, &redirect_uris);
    spec.id_token_alg = Algorithm::parse(&id_token_alg)
        .context("--id-token-alg must be ES256, RS256, PS256 or EdDSA")?;
    if public {
        spec.auth_methods = vec![AuthMethod::None];
    }
    if !auth_methods.is_empty() {
        spec.auth_methods = auth_methods.iter().filter_map(|m| AuthMethod::parse(m)).collect();
    }
    if !grant_types.is_empty() {
        spec.grant_types = grant_types.iter().filter_map(|g| GrantType::parse(g)).collect();
    }
    spec.jwks = match jwks {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    spec.jwks_uri = jwks_uri;
    spec.scopes = scopes;
    spec.require_par = require_par;
    spec.require_signed_request = require_signed_request;
    spec.require_dpop = require_dpop;
    spec.post_logout_redirect_uris = post_logout_redirect_uris;
    spec.backchannel_logout_uri = backchannel_logout_uri;
    spec.security_events_push_uri = security_events_push_uri;
    spec.sector_identifier_uri = sector_identifier_uri;
    spec.resource_server = resource_server;
    let created = services.oidc.register_client(spec).await?;
    let client = &created.client;
    if json {
        let mut out = client_json(client);
        out["client_secret"] = serde_json::json!(created.secret);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("client_id: {}", created.client.id);
        if let Some(secret) = created.secret {
            println!("client_secret: {secret}");
            println!("(the secret is shown only now; civpass keeps only its hash)");
        }
    }
    Ok(())
}

async fn registration_token(
    storage: StorageArgs,
    hours: i64,
    json: bool,
    file: &Config,
) -> anyhow::Result<()> {
    let services = civpass_driver::existing_platform(&storage.over(file).storage).await?;
    let (token, expires_at) = services.oidc.issue_registration_token(hours * 3600).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"initial_access_token": token, "expires_at": crate::iso8601(expires_at)})
        );
    } else {
        println!("initial access token: {token}");
        println!("expires: {}", crate::iso8601(expires_at));
        println!("(send it as `Authorization: Bearer …` to POST /register; shown only now)");
    }
    Ok(())
}
