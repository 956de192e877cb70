//! `civpass keys rotate-master` and `retire-master` against a serving node (issue 13, part 7):
//! every service's `sub` is the same after them, the citizen's data still opens, and a
//! rotation run while `civpass bench login` drives flows fails none of them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use civpass_core::identity::guardian::age_on;
use civpass_testkit::{TestDb, backends};
use civpass_wallet::Wallet;

use crate::support::{self, AuthRequest};

fn civpass(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_civpass"));
    command.env_remove("CIVPASS_MASTER_KEY");
    command.env("CIVPASS_DATA_DIR", &db.dir).env("CIVPASS_DATABASE_URL", &db.url);
    command
}

/// `civpass serve` on `listen` (`127.0.0.1:0` for a free port); the process and its base URL.
fn serve(db: &TestDb, listen: &str, extra: &[&str]) -> (std::process::Child, String) {
    let env = [("CIVPASS_DATA_DIR", db.dir.to_str().unwrap()), ("CIVPASS_DATABASE_URL", &db.url)];
    support::serve_binary_at(listen, extra, &env, Stdio::null())
}

fn run_json(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let out = civpass(db).args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A login of `wallet` at `client`, redeemed: the ID token's claims, with the name from
/// UserInfo (which opens the citizen's sealed identity).
async fn id_token_claims(
    base: &str,
    client: &(String, String),
    redirect_uri: &str,
    wallet: &Wallet,
) -> serde_json::Value {
    let req = AuthRequest::new(&client.0, redirect_uri, "openid profile");
    let browser = support::browser();
    let waiting = support::open_login_page(&browser, base, &req.url(base)).await;
    support::approve(wallet, &waiting).await;
    let back = support::finish(&browser, &waiting).await;
    let code = support::query(&back, "code").expect("a code");
    let (status, body) = support::redeem(base, (&client.0, &client.1), &req, &code).await;
    assert!(status.is_success(), "{body}");
    let mut claims = support::jwt_claims(body["id_token"].as_str().unwrap());
    let (status, userinfo) = support::userinfo(base, body["access_token"].as_str().unwrap()).await;
    assert!(status.is_success(), "{userinfo}");
    claims["name"] = userinfo["name"].clone();
    claims
}

/// Each wallet's login at each client: (`sub`, name).
async fn subjects_and_names(
    base: &str,
    clients: &[((String, String), &str)],
    wallets: &[Wallet],
) -> Vec<(serde_json::Value, serde_json::Value)> {
    let mut out = Vec::new();
    for wallet in wallets {
        for (client, redirect) in clients {
            let claims = id_token_claims(base, client, redirect, wallet).await;
            out.push((claims["sub"].clone(), claims["name"].clone()));
        }
    }
    out
}

#[tokio::test]
async fn rotating_the_master_key_while_serving_changes_no_subject_and_fails_no_flow() {
    let registry = civpass_registry::SandboxRegistry::generate(120);
    let now = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock);
    let adults: Vec<_> =
        registry.people()[100..].iter().filter(|p| age_on(p.date_of_birth, now) >= 18).collect();
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let no_limits = [
            "--rate-limit-authorize",
            "0",
            "--rate-limit-token",
            "0",
            "--rate-limit-device",
            "0",
            "--rate-limit-registration",
            "0",
            "--identity-attempts-per-hour",
            "0",
            "--max-pending-logins-per-address",
            "0",
        ];
        let (mut server, base) = serve(&db, "127.0.0.1:0", &no_limits);
        let first_key = std::fs::read_to_string(db.dir.join("master.key")).unwrap();

        // Two services in two sectors, so two pairwise subjects per citizen.
        let mut clients = Vec::new();
        for (name, redirect) in [("Tax", "http://127.0.0.1:9/cb"), ("Housing", "http://[::1]:9/cb")]
        {
            let made =
                run_json(&db, &["client", "create", "--name", name, "--redirect-uri", redirect]);
            let id = made["client_id"].as_str().unwrap().to_owned();
            let secret = made["client_secret"].as_str().unwrap().to_owned();
            clients.push(((id, secret), redirect));
        }
        let mut wallets = Vec::new();
        for p in &adults[..2] {
            let mut wallet = Wallet::create(&base).unwrap();
            let (hkid, dob) = (p.hkid.to_string(), p.date_of_birth.to_string());
            wallet.enrol(&hkid, &p.name_en, &dob, Some("pass"), None).await.unwrap();
            wallets.push(wallet);
        }
        let before = subjects_and_names(&base, &clients, &wallets).await;

        // A benchmark of whole login flows, with a rotation (and a retirement) while it runs.
        let mut bench = civpass(&db)
            .args(["bench", "login", "--server", &base, "--citizens", "6"])
            .args(["--concurrency", "4", "--flows", "800", "--max-seconds", "120"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut bench_out = BufReader::new(bench.stdout.take().unwrap());
        let mut line = String::new();
        bench_out.read_line(&mut line).unwrap();
        assert!(line.contains("citizens enrolled"), "{line}");
        let rotated = run_json(&db, &["keys", "rotate-master"]);
        assert_eq!(rotated["master_key_version"], 2, "{rotated}");
        assert!(rotated["rewrapped"].as_u64().unwrap() >= 2 + 2 + 6, "{rotated}");
        assert_eq!(rotated["held_versions"], serde_json::json!([1, 2]));
        let again = run_json(&db, &["keys", "rotate-master"]);
        assert_eq!(again["master_key_version"], 3, "{again}");
        // Retiring needs the operator to say where the old versions go (backups need them).
        let out = civpass(&db).args(["keys", "retire-master"]).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--save-retired"));
        let saved = db.dir.join("retired.key");
        let retired =
            run_json(&db, &["keys", "retire-master", "--save-retired", saved.to_str().unwrap()]);
        assert_eq!(retired["retired_versions"], serde_json::json!([1, 2]), "{retired}");
        assert_eq!(retired["held_versions"], serde_json::json!([3]));
        assert!(
            bench.try_wait().unwrap().is_none(),
            "the benchmark ended before the rotation did: it must run through it (raise --flows)"
        );
        let out = bench.wait_with_output().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut bench_out, &mut rest).unwrap();
        assert!(
            out.status.success() && rest.contains("; 0 failed"),
            "{backend:?}: {rest}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key_file = std::fs::read_to_string(db.dir.join("master.key")).unwrap();
        assert!(key_file.contains("v3:") && !key_file.contains("v1:"), "{key_file}");
        let saved = std::fs::read_to_string(&saved).unwrap();
        assert!(saved.contains("v1:") && saved.contains("v2:") && !saved.contains("v3:"));
        assert!(saved.contains(first_key.trim()), "the retired file keeps version 1 as it was");
        #[cfg(unix)]
        for file in [db.dir.join("master.key"), db.dir.join("retired.key")] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{}: {mode:o}", file.display());
        }

        // The running node, and a node started afresh on the new key file: same subjects,
        // and the identity still opens (the name is in the ID token).
        let after = subjects_and_names(&base, &clients, &wallets).await;
        assert_eq!(after, before, "{backend:?}: the running node");
        server.kill().unwrap();
        server.wait().unwrap();
        // On the same address: the wallets learnt the issuer at enrolment.
        let (mut server, again) = serve(&db, base.trim_start_matches("http://"), &no_limits);
        assert_eq!(again, base);
        let restarted = subjects_and_names(&base, &clients, &wallets).await;
        assert_eq!(restarted, before, "{backend:?}: a restarted node");
        assert!(before.iter().all(|(sub, name)| sub.is_string() && name.is_string()));
        server.kill().unwrap();
        server.wait().unwrap();

        // Another key under the version number the platform uses is refused, whatever it is.
        let other = format!("v3:{}", civpass_crypto::secret::b64url(&[7; 32]));
        let out =
            civpass(&db).args(["keys", "list"]).env("CIVPASS_MASTER_KEY", other).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not the platform's version 3"), "{stderr}");

        // Two rotations at once: one waits its turn or is refused; the key file and the
        // database agree afterwards either way.
        let mut racing = Vec::new();
        for _ in 0..2 {
            racing.push(
                civpass(&db)
                    .args(["keys", "rotate-master", "--json"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        let outcomes: Vec<_> = racing.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        assert!(outcomes.iter().any(|o| o.status.success()));
        for refused in outcomes.iter().filter(|o| !o.status.success()) {
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(stderr.contains("is running"), "{stderr}");
        }
        let listed = civpass(&db).args(["keys", "list"]).output().unwrap();
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));

        // The retired master key opens nothing now: a node given only it refuses to start.
        let out = civpass(&db)
            .args(["keys", "list"])
            .env("CIVPASS_MASTER_KEY", first_key.trim())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("which this node does not hold"), "{stderr}");
    }
}
