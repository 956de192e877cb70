//! `civpass sign hash FILE`: acts as a service would (docs/PKI.md): asks the platform to have
//! a citizen sign FILE's SHA-256 digest, prints the link for the citizen's app and the matching
//! code, waits for the answer and writes the detached CAdES signature.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum SignCommand {
    /// Have a citizen sign a file's SHA-256 digest; writes a detached CAdES signature (DER).
    Hash {
        /// The file to sign (only its digest leaves this machine).
        file: PathBuf,
        /// Where to write the signature (a new file, `.p7s`).
        #[arg(long)]
        output: PathBuf,
        /// The civpass server.
        #[arg(long, default_value = "http://localhost:8080")]
        server: String,
        /// The service's client id.
        #[arg(long, env = "CIVPASS_CLIENT_ID")]
        client_id: String,
        /// The service's client secret.
        #[arg(long, env = "CIVPASS_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// Only this citizen may sign: the `sub` this service knows them by.
        #[arg(long)]
        signer_sub: Option<String>,
        /// The document's name as the citizen sees it [default: the file's name].
        #[arg(long)]
        name: Option<String>,
        /// Seconds to wait for the citizen.
        #[arg(long, default_value_t = 300)]
        wait: u64,
    },
}

pub(crate) async fn sign(command: SignCommand) -> anyhow::Result<()> {
    let SignCommand::Hash {
        file,
        output,
        server,
        client_id,
        client_secret,
        signer_sub,
        name,
        wait,
    } = command;
    if output.exists() {
        bail!("{} exists: name a new file", output.display());
    }
    let content = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let digest = civpass_crypto::secret::sha256(&content);
    let b64 = base64::engine::general_purpose::STANDARD;
    let name = name.unwrap_or_else(|| {
        file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let server = server.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let body = civpass_api::SigningRequestCreate {
        documents: vec![civpass_api::DocumentDigest { name, digest: b64.encode(digest) }],
        expected_signer: signer_sub,
    };
    let res = http
        .post(format!("{server}/api/v1/signing-requests"))
        .basic_auth(&client_id, Some(&client_secret))
        .json(&body)
        .send()
        .await
        .context("is the server running?")?;
    if !res.status().is_success() {
        let problem: serde_json::Value = res.json().await.unwrap_or_default();
        let say = |k: &str| problem[k].as_str().unwrap_or_default().to_owned();
        bail!("the signing request was refused: {} {}", say("title"), say("detail"));
    }
    let made: civpass_api::SigningRequestCreated = res.json().await?;
    let fingerprint =
        civpass_api::signing::fingerprint(&civpass_api::signing::documents_binding(&[digest]));
    println!("link: {}", made.link);
    println!("matching code: {}", made.match_code);
    println!("fingerprint: {fingerprint}");
    println!(
        "the citizen approves with: civpass wallet approve '{}' --match {} [--wallet FILE]",
        made.link, made.match_code
    );
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let res = http
            .get(format!("{server}/api/v1/signing-requests/{}", made.request_id))
            .basic_auth(&client_id, Some(&client_secret))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("reading the signing request failed: {}", res.text().await.unwrap_or_default());
        }
        let status: civpass_api::SigningRequestStatus = res.json().await?;
        match status.status.as_str() {
            "pending" if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            "pending" => bail!("the citizen did not answer within {wait} seconds"),
            "signed" => {
                let signature = status
                    .signatures
                    .first()
                    .and_then(|s| b64.decode(s).ok())
                    .context("the answer holds no signature")?;
                let mut out = super::create_private_file(&output)
                    .with_context(|| format!("creating {}", output.display()))?;
                std::io::Write::write_all(&mut out, &signature)?;
                println!("signed: the signature is in {}", output.display());
                return Ok(());
            }
            "denied" => bail!("the citizen declined to sign"),
            "expired" => bail!("the signing request expired before the citizen answered"),
            _ => bail!(
                "not signed: {}",
                status.reason.unwrap_or_else(|| "the request was refused".into())
            ),
        }
    }
}
