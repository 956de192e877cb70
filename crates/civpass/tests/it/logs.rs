//! The server's log holds no personal data and no secrets, even at debug level.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use civpass_testkit::{Backend, TestDb};
use civpass_wallet::Wallet;

use crate::support::{self, AuthRequest, CALLBACK};

#[tokio::test]
async fn a_whole_login_leaves_no_personal_data_or_secrets_in_the_log() {
    let db = TestDb::create(&Backend::Sqlite).await;
    let data_dir = db.dir.to_str().unwrap().to_owned();
    let log_path = db.dir.join("server.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_civpass"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_dir])
        .env("CIVPASS_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();

    let out = Command::new(env!("CARGO_BIN_EXE_civpass"))
        .args([
            "client",
            "create",
            "--data-dir",
            &data_dir,
            "--name",
            "Log test",
            "--redirect-uri",
            CALLBACK,
            "--json",
        ])
        .output()
        .unwrap();
    let client: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (id, secret) =
        (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());

    let registry = civpass_registry::SandboxRegistry::generate(60);
    let person = &registry.people()[55];
    let mut wallet = Wallet::create(&base).unwrap();
    wallet
        .enrol(&person.hkid.to_string(), &person.name_en, &person.date_of_birth.to_string(), None)
        .await
        .unwrap();

    let req = AuthRequest::new(id, CALLBACK, "openid profile hkid birthdate gender");
    let browser = support::browser();
    let waiting = support::open_login_page(&browser, &base, &req.url(&base)).await;
    support::approve(&wallet, &waiting).await;
    let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
    let (_, tokens) = support::redeem(&base, (id, secret), &req, &code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (_, claims) = support::userinfo(&base, &access).await;
    assert_eq!(claims["hkid"], person.hkid.to_string());
    child.kill().unwrap();
    child.wait().unwrap();

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("login request decided"), "the log is being written");
    let given_name = person.name_en.split_once(' ').unwrap().1.to_owned();
    for (what, value) in [
        ("HKID", person.hkid.to_string()),
        ("HKID", person.hkid.as_str().to_owned()),
        ("English name", person.name_en.clone()),
        ("given name", given_name),
        ("Chinese name", person.name_zh.clone()),
        ("date of birth", person.date_of_birth.to_string()),
        ("client secret", secret.to_owned()),
        ("code", code),
        ("access token", access),
        ("refresh token", refresh),
        ("PKCE verifier", req.verifier.clone()),
        ("device key", wallet.public_key()),
    ] {
        assert!(!log.contains(&value), "the log contains the {what}");
    }
}
