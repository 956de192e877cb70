//! `civpass verify FILE --detached SIG`: checks a detached CAdES signature over FILE, against
//! the root CA given (`--root`, what `civpass pki export-root` writes) or the platform's own,
//! and reports the signer, the signing time, the chain and whether the content matches. Exits
//! non-zero unless every check passes.

use std::path::PathBuf;

use anyhow::Context;
use civpass_driver::Config;
use clap::Args;

use crate::config::StorageArgs;

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The signed document.
    file: PathBuf,
    /// The detached signature (DER, as `.p7s`).
    #[arg(long)]
    detached: PathBuf,
    /// The trust anchor (PEM); default the platform's root CA.
    #[arg(long)]
    root: Option<PathBuf>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn verify(args: VerifyArgs, file: &Config) -> anyhow::Result<()> {
    let content =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let signature = std::fs::read(&args.detached)
        .with_context(|| format!("reading {}", args.detached.display()))?;
    let digest = civpass_crypto::secret::sha256(&content);
    let root_pem = match &args.root {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            let platform =
                civpass_driver::existing_platform(&args.storage.over(file).storage).await?;
            platform.signing.root_certificate_pem().await?
        }
    };
    let root = civpass_pki::ca::from_pem(&root_pem).context("the root is not a PEM certificate")?;
    let now = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock);
    let report = civpass_pki::cades::verify_detached(&signature, &digest, &[root], now)
        .map_err(|e| anyhow::anyhow!("not a signature civpass can check: {e}"))?;
    if args.json {
        let out = serde_json::json!({
            "valid": report.valid(),
            "signer": report.signer,
            "signing_time": report.signing_time.map(crate::iso8601),
            "content_matches": report.content_matches,
            "signature_valid": report.signature_valid,
            "trusted": report.trusted,
            "chain": report.chain,
            "problems": report.problems,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("signer:       {}", report.signer);
        if let Some(at) = report.signing_time {
            println!("signed at:    {}", crate::iso8601(at));
        }
        println!("chain:        {}", report.chain.join("  <-  "));
        println!(
            "content:      {}",
            if report.content_matches { "matches" } else { "DOES NOT MATCH" }
        );
        println!("signature:    {}", if report.signature_valid { "valid" } else { "INVALID" });
        println!("trusted:      {}", if report.trusted { "yes" } else { "NO" });
        for problem in &report.problems {
            println!("problem:      {problem}");
        }
    }
    if !report.valid() {
        anyhow::bail!("not valid: {}", report.problems.join("; "));
    }
    Ok(())
}
