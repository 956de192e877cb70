//! `civpass bench login`: simulated citizens through the whole login flow against a running
//! server (authorize, login page, app approval, code, token, UserInfo), reporting flows per
//! second and latency percentiles. A load generator, not a test: it asserts nothing about speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use civpass_core::oidc::clients::ClientSpec;
use civpass_core::oidc::login::Verdict;
use civpass_core::oidc::model::GrantType;
use civpass_crypto::secret::{b64url, random_token, sha256};
use civpass_registry::SandboxRegistry;
use civpass_wallet::{LoginLink, Wallet, WalletFile};
use clap::Subcommand;
use reqwest::header;

use crate::StorageArgs;
use civpass_driver::Config;

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Complete login flows per second against a running server.
    Login {
        /// Where the server keeps its data, to register the benchmark's client.
        #[command(flatten)]
        storage: StorageArgs,
        /// The running server (its listening address will do).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Distinct enrolled citizens to cycle through.
        #[arg(long, default_value_t = 200)]
        citizens: usize,
        /// Flows in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Complete flows to run.
        #[arg(long, default_value_t = 5000)]
        flows: usize,
        /// Stop after this many seconds even if not all flows ran.
        #[arg(long, default_value_t = 120)]
        max_seconds: u64,
    },
    /// Signing requests per second against a running server: a service asks for one
    /// document's signature, a software wallet approves it, the service collects the CAdES
    /// signature (docs/PKI.md). Makes the PKI if the platform has none, and upgrades the
    /// benchmark's citizens to plus.
    Sign {
        #[command(flatten)]
        storage: StorageArgs,
        /// The running server (its listening address will do).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Distinct plus citizens to cycle through.
        #[arg(long, default_value_t = 50)]
        citizens: usize,
        /// Signing requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Signatures to make.
        #[arg(long, default_value_t = 2000)]
        signatures: usize,
        /// Stop after this many seconds even if not all were made.
        #[arg(long, default_value_t = 120)]
        max_seconds: u64,
    },
    /// Token-endpoint grants per second against a running server: `client_credentials`, or
    /// `refresh_token` rotations (each one a durable write).
    Tokens {
        #[command(flatten)]
        storage: StorageArgs,
        /// The running server (its listening address will do).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// The grant to measure.
        #[arg(long, value_parser = ["client_credentials", "refresh_token"])]
        grant: String,
        /// Requests in flight at once (for refresh_token, also the number of grants rotated).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Requests to make.
        #[arg(long, default_value_t = 50000)]
        requests: usize,
        /// Stop after this many seconds even if not all requests ran.
        #[arg(long, default_value_t = 120)]
        max_seconds: u64,
    },
}

struct Rp {
    server: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    http: reqwest::Client,
}

pub(crate) async fn run(command: BenchCommand, file: &Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Login { storage, server, citizens, concurrency, flows, max_seconds } => {
            login(storage.over(file).storage, server, citizens, concurrency, flows, max_seconds)
                .await
        }
        BenchCommand::Sign { storage, server, citizens, concurrency, signatures, max_seconds } => {
            sign(storage.over(file).storage, server, citizens, concurrency, signatures, max_seconds)
                .await
        }
        BenchCommand::Tokens { storage, server, grant, concurrency, requests, max_seconds } => {
            tokens(storage.over(file).storage, server, &grant, concurrency, requests, max_seconds)
                .await
        }
    }
}

/// An HTTP client for `concurrency` requests in flight, checked against the server.
async fn connect(server: &str, concurrency: usize) -> anyhow::Result<reqwest::Client> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency * 2)
        .build()?;
    http.get(format!("{server}/healthz"))
        .send()
        .await
        .context("is the server running?")?
        .error_for_status()?;
    Ok(http)
}

async fn login(
    storage: civpass_driver::config::StorageConfig,
    server: String,
    citizens: usize,
    concurrency: usize,
    flows: usize,
    max_seconds: u64,
) -> anyhow::Result<()> {
    let server = server.trim_end_matches('/').to_owned();
    let http = connect(&server, concurrency).await?;

    let services = civpass_driver::existing_platform(&storage).await?;
    let redirect_uri = "http://127.0.0.1:9/bench/callback".to_owned();
    let client = services
        .oidc
        .create_client("Benchmark service", std::slice::from_ref(&redirect_uri), false)
        .await?;
    let rp = Arc::new(Rp {
        server: server.clone(),
        client_id: client.client.id.into(),
        client_secret: client.secret.unwrap_or_default(),
        redirect_uri,
        http: http.clone(),
    });

    let wallets = Arc::new(enrol_citizens(&storage.data_dir, &server, citizens, &http).await?);
    println!(
        "bench login: {} citizens enrolled, {concurrency} concurrent, {flows} flows",
        wallets.len()
    );

    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(max_seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (rp, wallets, next) = (rp.clone(), wallets.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
            let mut errors = 0usize;
            let mut browser_cookie: Option<String> = None;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= flows || Instant::now() >= deadline {
                    break;
                }
                let wallet = &wallets[n % wallets.len()];
                let t = Instant::now();
                match one_flow(&rp, wallet, &mut browser_cookie).await {
                    Ok(_) => latencies.record(t.elapsed().as_micros() as u64)?,
                    Err(e) => {
                        errors += 1;
                        if format!("{e:#}").contains("429") {
                            RATE_LIMITED.fetch_add(1, Ordering::Relaxed);
                        } else if errors <= 3 {
                            eprintln!("flow failed: {e:#}");
                        }
                    }
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    report("flows", started, workers).await
}

/// Enrols `n` sandbox citizens, reusing wallets from earlier runs kept in the data directory.
async fn enrol_citizens(
    data_dir: &std::path::Path,
    server: &str,
    n: usize,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<Wallet>> {
    let path = data_dir.join("bench-wallets.json");
    let mut files: Vec<WalletFile> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    files.retain(|f| f.server == server);
    let registry = SandboxRegistry::default();
    let mut person = files.len();
    while files.len() < n {
        let p = registry
            .people()
            .get(person)
            .context("the sandbox registry has no more people to enrol")?;
        person += 1;
        let mut wallet = Wallet::create(server)?;
        match wallet
            .enrol(
                &p.hkid.to_string(),
                &p.name_en,
                &p.date_of_birth.to_string(),
                Some("pass"),
                None,
            )
            .await
        {
            Ok(_) => files.push(wallet.file.clone()),
            // Enrolled by an earlier run whose wallet was not kept: skip that person.
            Err(civpass_wallet::WalletError::Problem(problem)) if problem.status == 409 => continue,
            // A minor registers only with a guardian's approval: the benchmark takes adults.
            Err(civpass_wallet::WalletError::Problem(problem))
                if problem.problem_type.ends_with("/guardian-required") =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The wallets hold device private keys: readable by the owner only.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, &serde_json::to_vec(&files)?)?;
    files
        .into_iter()
        .take(n)
        .map(|f| Wallet::from_file(f).map(|w| w.with_http(http.clone())).map_err(Into::into))
        .collect()
}

fn location(res: &reqwest::Response) -> anyhow::Result<String> {
    if res.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("expected 303, got {}", res.status());
    }
    Ok(res.headers().get(header::LOCATION).context("no Location")?.to_str()?.to_owned())
}

/// One whole login; returns the refresh token it ended with.
async fn one_flow(
    rp: &Rp,
    wallet: &Wallet,
    browser_cookie: &mut Option<String>,
) -> anyhow::Result<String> {
    let verifier = random_token(32);
    let challenge = b64url(&sha256(verifier.as_bytes()));
    let state = random_token(12);
    let mut authorize = rp.http.get(format!("{}/authorize", rp.server)).query(&[
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", &rp.redirect_uri),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", &state),
        ("nonce", "n"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    if let Some(cookie) = browser_cookie.as_deref() {
        authorize = authorize.header(header::COOKIE, cookie);
    }
    let res = authorize.send().await?;
    if let Some(set) = res.headers().get(header::SET_COOKIE) {
        *browser_cookie = Some(set.to_str()?.split(';').next().unwrap_or_default().to_owned());
    }
    let cookie = browser_cookie.clone().context("no browser cookie")?;
    let page_path = location(&res)?;
    let page = rp
        .http
        .get(format!("{}{page_path}", rp.server))
        .header(header::COOKIE, &cookie)
        .send()
        .await?
        .text()
        .await?;
    let code = page
        .split("id=\"match-code\">")
        .nth(1)
        .and_then(|s| s.get(..2))
        .context("no matching code on the page")?
        .to_owned();
    let request_id = page_path.trim_start_matches("/login/");
    let link = LoginLink { server: rp.server.clone(), request_id: request_id.to_owned() };
    let view = wallet.fetch(&link).await?;
    let scopes: Vec<String> = view.scopes.iter().map(|s| s.scope.clone()).collect();
    wallet.decide(&link, &view, Verdict::Approve, &code, &scopes).await?;
    let res = rp
        .http
        .get(format!("{}{page_path}", rp.server))
        .header(header::COOKIE, &cookie)
        .send()
        .await?;
    let back = url::Url::parse(&location(&res)?)?;
    let auth_code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code")?;
    let tokens: serde_json::Value = rp
        .http
        .post(format!("{}/token", rp.server))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &auth_code),
            ("redirect_uri", &rp.redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let access = tokens["access_token"].as_str().context("no access token")?;
    rp.http
        .get(format!("{}/userinfo", rp.server))
        .bearer_auth(access)
        .send()
        .await?
        .error_for_status()?;
    Ok(tokens["refresh_token"].as_str().context("no refresh token")?.to_owned())
}

/// A load-generating task: its latencies in microseconds, and how many of its requests failed.
type Worker = tokio::task::JoinHandle<anyhow::Result<(hdrhistogram::Histogram<u64>, usize)>>;

/// Prints requests per second and latency percentiles from the workers' histograms.
async fn report(what: &str, started: Instant, workers: Vec<Worker>) -> anyhow::Result<()> {
    let mut all = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut errors = 0;
    for worker in workers {
        let (latencies, worker_errors) = worker.await??;
        all.add(latencies)?;
        errors += worker_errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "completed {} {what} in {elapsed:.2} s: {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; {errors} failed",
        all.len(),
        all.len() as f64 / elapsed,
        all.value_at_quantile(0.50) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.max() as f64 / 1000.0,
    );
    let limited = RATE_LIMITED.load(Ordering::Relaxed);
    if limited > 0 {
        eprintln!(
            "{limited} of the failures were 429 Too Many Requests: the server's rate limits, \
             which count every request from this one address. To measure throughput, start the \
             server with --rate-limit-authorize 0 --rate-limit-token 0 --rate-limit-device 0 \
             --rate-limit-registration 0 --identity-attempts-per-hour 0 \
             --max-pending-logins-per-address 0 (docs/BENCHMARKS.md)"
        );
    }
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}

/// Answers refused by the server's rate limits, which a benchmark from one address meets first.
static RATE_LIMITED: AtomicUsize = AtomicUsize::new(0);

async fn tokens(
    storage: civpass_driver::config::StorageConfig,
    server: String,
    grant: &str,
    concurrency: usize,
    requests: usize,
    max_seconds: u64,
) -> anyhow::Result<()> {
    let server = server.trim_end_matches('/').to_owned();
    let http = connect(&server, concurrency).await?;
    let services = civpass_driver::existing_platform(&storage).await?;
    let redirect_uri = "http://127.0.0.1:9/bench/callback".to_owned();
    let mut spec = ClientSpec::web("Token benchmark", std::slice::from_ref(&redirect_uri));
    spec.grant_types.push(GrantType::ClientCredentials);
    spec.scopes = vec!["api.read".into()];
    let client = services.oidc.register_client(spec).await?;
    let rp = Arc::new(Rp {
        server: server.clone(),
        client_id: client.client.id.into(),
        client_secret: client.secret.unwrap_or_default(),
        redirect_uri,
        http: http.clone(),
    });
    // For refresh_token, each worker rotates a grant of its own, got by a whole login.
    let mut chains: Vec<Option<String>> = vec![None; concurrency];
    if grant == "refresh_token" {
        let wallets = enrol_citizens(&storage.data_dir, &server, concurrency, &http).await?;
        for (chain, wallet) in chains.iter_mut().zip(&wallets) {
            *chain = Some(one_flow(&rp, wallet, &mut None).await?);
        }
    }
    println!("bench tokens: {grant}, {concurrency} concurrent, {requests} requests");
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(max_seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for chain in chains {
        let (rp, next, grant) = (rp.clone(), next.clone(), grant.to_owned());
        workers.push(tokio::spawn(async move {
            let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
            let mut errors = 0usize;
            let mut refresh = chain;
            while next.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let t = Instant::now();
                let form: Vec<(&str, &str)> = match &refresh {
                    Some(token) => vec![("grant_type", "refresh_token"), ("refresh_token", token)],
                    None => vec![("grant_type", "client_credentials")],
                };
                let res = rp
                    .http
                    .post(format!("{}/token", rp.server))
                    .basic_auth(&rp.client_id, Some(&rp.client_secret))
                    .form(&form)
                    .send()
                    .await;
                let body: Option<serde_json::Value> = match res {
                    Ok(res) if res.status().is_success() => res.json().await.ok(),
                    Ok(res) if res.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                        RATE_LIMITED.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    _ => None,
                };
                match body {
                    Some(body) if grant == "refresh_token" => {
                        refresh = body["refresh_token"].as_str().map(str::to_owned);
                        latencies.record(t.elapsed().as_micros() as u64)?;
                        if refresh.is_none() {
                            bail!("no refresh token in the answer");
                        }
                    }
                    Some(_) => latencies.record(t.elapsed().as_micros() as u64)?,
                    None => {
                        errors += 1;
                        if grant == "refresh_token" {
                            // The chain is broken (its grant is revoked); stop this worker.
                            break;
                        }
                    }
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    report(&format!("{grant} grants"), started, workers).await
}

async fn sign(
    storage: civpass_driver::config::StorageConfig,
    server: String,
    citizens: usize,
    concurrency: usize,
    signatures: usize,
    max_seconds: u64,
) -> anyhow::Result<()> {
    use base64::Engine;
    let server = server.trim_end_matches('/').to_owned();
    let http = connect(&server, concurrency).await?;
    let services = civpass_driver::existing_platform(&storage).await?;
    let client = services
        .oidc
        .create_client(
            "Signing benchmark",
            &["http://127.0.0.1:9/bench/callback".to_owned()],
            false,
        )
        .await?;
    let (client_id, secret) = (client.client.id.to_string(), client.secret.unwrap_or_default());
    let wallets = enrol_citizens(&storage.data_dir, &server, citizens, &http).await?;
    for wallet in &wallets {
        match wallet.upgrade("pass").await {
            Ok(_) => {}
            Err(civpass_wallet::WalletError::Problem(p))
                if p.problem_type.ends_with("/already-plus") => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Issues to the citizens just upgraded too, if the PKI was made only now.
    services.signing.init_pki("civpass benchmark").await?;
    println!(
        "bench sign: {} plus citizens, {concurrency} concurrent, {signatures} signatures",
        wallets.len()
    );
    let wallets = Arc::new(wallets);
    let auth = Arc::new((client_id, secret));
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(max_seconds);
    let started = Instant::now();
    let mut workers: Vec<Worker> = Vec::new();
    for _ in 0..concurrency {
        let (wallets, next, http, server, auth) =
            (wallets.clone(), next.clone(), http.clone(), server.clone(), auth.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
            let mut errors = 0usize;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= signatures || Instant::now() >= deadline {
                    break;
                }
                let wallet = &wallets[n % wallets.len()];
                let t = Instant::now();
                let once = async {
                    let digest = sha256(format!("benchmark document {n}").as_bytes());
                    let b64 = base64::engine::general_purpose::STANDARD;
                    let body = serde_json::json!({"documents": [{"name": format!("Document {n}"), "digest": b64.encode(digest)}]});
                    let made: civpass_api::SigningRequestCreated = http
                        .post(format!("{server}/api/v1/signing-requests"))
                        .basic_auth(&auth.0, Some(&auth.1))
                        .json(&body)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    let link = LoginLink::parse_signing(&made.link)?;
                    let view = wallet.fetch_signing(&link).await?;
                    wallet.decide_signing(&link, &view, Verdict::Approve, &made.match_code).await?;
                    let status: civpass_api::SigningRequestStatus = http
                        .get(format!("{server}/api/v1/signing-requests/{}", made.request_id))
                        .basic_auth(&auth.0, Some(&auth.1))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    if status.status != "signed" || status.signatures.len() != 1 {
                        bail!("not signed: {}", status.status);
                    }
                    anyhow::Ok(())
                };
                match once.await {
                    Ok(()) => latencies.record(t.elapsed().as_micros() as u64)?,
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("signing failed: {e:#}");
                        }
                    }
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    report("signatures", started, workers).await
}
