//! The server's log holds no personal data and no secrets, even at debug level: a whole login,
//! a passkey registration in the app and a look at My data.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use civpass_testkit::{Backend, TestDb};
use civpass_wallet::Wallet;

use crate::support::{self, AuthRequest, CALLBACK};

async fn post_json(
    http: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> serde_json::Value {
    http.post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

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
        .enrol(
            &person.hkid.to_string(),
            &person.name_en,
            &person.date_of_birth.to_string(),
            Some("pass"),
            None,
        )
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

    // A passkey registration in the app and a look at My data, at debug level too (the
    // WebAuthn library logs at debug).
    let issuer = line.split("issuer ").nth(1).unwrap().trim().trim_end_matches(')').to_owned();
    let app_person = &registry.people()[56];
    let mut passkey = civpass_testkit::SoftPasskey::new(&issuer);
    let http = reqwest::Client::new();
    let started: serde_json::Value = post_json(
        &http,
        format!("{base}/api/v1/device/passkey-registrations"),
        serde_json::json!({
            "id_number": app_person.hkid.to_string(),
            "name_en": app_person.name_en,
            "date_of_birth": app_person.date_of_birth.to_string(),
            "evidence": {
                "session": "pass",
                "reference": crate::support::identity_check(&base, &app_person.hkid.to_string()).await,
            },
        }),
    )
    .await;
    let credential = passkey.create(&started["passkey"]);
    let done: serde_json::Value = post_json(
        &http,
        format!(
            "{base}/api/v1/device/passkey-registrations/{}",
            started["ceremony_id"].as_str().unwrap()
        ),
        serde_json::json!({ "credential": credential }),
    )
    .await;
    let device_id = done["device_id"].as_str().expect("registered").to_owned();
    let challenge: serde_json::Value = post_json(
        &http,
        format!("{base}/api/v1/device/sessions/challenge"),
        serde_json::json!({ "device_id": device_id }),
    )
    .await;
    let assertion = passkey.get(&challenge["passkey"]);
    let session: serde_json::Value = post_json(
        &http,
        format!("{base}/api/v1/device/sessions"),
        serde_json::json!({
            "device_id": device_id, "ceremony_id": challenge["ceremony_id"], "passkey": assertion,
        }),
    )
    .await;
    let session_token = session["token"].as_str().unwrap().to_owned();
    let data: serde_json::Value = http
        .get(format!("{base}/api/v1/device/me"))
        .bearer_auth(&session_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(data["name_zh"], app_person.name_zh.as_str());

    // e-ME: fields stored, verified by SMS code and e-mail link, released by scope, by the
    // claims parameter (also as verified_claims) and by an anonymous form filling, and a
    // consent receipt downloaded.
    let eme_session = wallet.open_session().await.unwrap();
    let eme = [
        ("phone_number", "+85261239876"),
        ("home_phone_number", "+85223456789"),
        ("email", "logcheck@example.hk"),
        ("title", "Dr"),
        ("address.building", "Tranquil Mansion"),
        ("address.street_name", "Quiet Lane"),
        ("address.district", "Sham Shui Po"),
        ("postal_address", "PO Box 4321, Mong Kok"),
    ];
    let changes = eme.iter().map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned()))).collect();
    wallet.change_vault(&eme_session, changes).await.unwrap();
    let started = wallet.start_verification(&eme_session, "phone_number").await.unwrap();
    let messages = db.dir.join("sandbox-messages");
    let sms = std::fs::read_to_string(messages.join("sms.jsonl")).unwrap();
    let sms_code: String = sms.split("code is ").nth(1).unwrap().chars().take(6).collect();
    wallet
        .confirm_phone(&eme_session, started.verification_id.as_deref().unwrap(), &sms_code)
        .await
        .unwrap();
    wallet.start_verification(&eme_session, "email").await.unwrap();
    let mail = std::fs::read_to_string(messages.join("mail.jsonl")).unwrap();
    let mail: serde_json::Value = serde_json::from_str(mail.lines().last().unwrap()).unwrap();
    let text = mail["text"].as_str().unwrap();
    let link =
        text.split_whitespace().find(|w| w.contains("/app/verify-email#")).unwrap().to_owned();
    let email_token = link.split('#').nth(1).unwrap().chars().take(22).collect::<String>();
    wallet.confirm_email_link(&link).await.unwrap();
    let claims_request = r#"{"userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"birthdate":null}}}}"#;
    let details = r#"[{"type":"form_filling","form_name":"Log form","fields":["email","address"],"anonymous":true}]"#;
    for extra in [
        vec![("claims", claims_request), ("purpose", "Checking the log")],
        vec![("authorization_details", details)],
    ] {
        let req = AuthRequest::new(
            id,
            CALLBACK,
            "openid email phone address postal_address other_phones title",
        );
        let mut url = url::Url::parse(&req.url(&base)).unwrap();
        url.query_pairs_mut().extend_pairs(extra);
        let waiting = support::open_login_page(&browser, &base, url.as_str()).await;
        support::approve(&wallet, &waiting).await;
        let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
        let (_, tokens) = support::redeem(&base, (id, secret), &req, &code).await;
        let _ = support::userinfo(&base, tokens["access_token"].as_str().unwrap()).await;
    }
    let receipt = wallet.consent_receipt(&eme_session, id).await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("login request decided"), "the log is being written");
    assert!(log.contains("app session opened"), "the app part ran");
    assert!(log.contains("anonymous form filled"), "the e-ME part ran");
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
        ("app HKID", app_person.hkid.to_string()),
        ("app HKID", app_person.hkid.as_str().to_owned()),
        ("app English name", app_person.name_en.clone()),
        ("app Chinese name", app_person.name_zh.clone()),
        ("app date of birth", app_person.date_of_birth.to_string()),
        ("app session token", session_token),
        ("SMS code", sms_code),
        ("e-mail verification token", email_token),
        ("consent receipt", receipt),
    ]
    .into_iter()
    .chain(eme.iter().map(|(k, v)| (*k, (*v).to_owned())))
    .chain([
        ("formatted address", "Tranquil Mansion, Quiet Lane".to_owned()),
        ("local phone", "61239876".to_owned()),
    ]) {
        assert!(!log.contains(&value), "the log contains the {what}");
    }
}
