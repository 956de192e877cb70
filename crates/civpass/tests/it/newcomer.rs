//! What a first-time citizen, tester or operator meets: logins that end go back to the
//! service, the landing and information pages, and a command-line wallet that checks before
//! it sends and answers only its own platform.

use std::process::Command;

use civpass_core::oidc::login::{Verdict, decision_message};
use civpass_testkit::{backends, spawn_server};
use reqwest::StatusCode;

use crate::support::{self, CALLBACK};

#[tokio::test]
async fn cancel_and_go_back_ends_the_login_and_tells_the_service() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(30).await;
        let (_, browser, waiting) = support::start_login(&server, "openid").await;
        let page = browser.get(&waiting.page_url).send().await.unwrap().text().await.unwrap();
        let cancel = format!("{}/cancel", waiting.page_url);
        assert!(page.contains(&format!("action=\"{}\"", cancel.trim_start_matches(&server.base))));

        // Another site cannot make the browser cancel it (Fetch Metadata), nor can another
        // browser (no binding cookie).
        let res = browser.post(&cancel).header("sec-fetch-site", "cross-site").send().await;
        assert_eq!(res.unwrap().status(), StatusCode::FORBIDDEN);
        let res = support::browser().post(&cancel).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        let res = browser.post(&cancel).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert!(back.as_str().starts_with(CALLBACK), "{back}");
        assert_eq!(support::query(&back, "error").as_deref(), Some("access_denied"));
        assert!(support::query(&back, "state").is_some());
        assert_eq!(support::query(&back, "iss").as_deref(), Some(server.base.as_str()));
        // The app can no longer approve it, and the page keeps sending the browser back.
        let view = wallet.fetch(&waiting.link).await;
        assert!(view.is_err(), "a cancelled request is not shown to the app");
        let again = support::finish(&browser, &waiting).await;
        assert_eq!(support::query(&again, "error").as_deref(), Some("access_denied"));
    }
}

#[tokio::test]
async fn a_decision_signed_in_the_old_format_is_refused() {
    let server = spawn_server(&backends()[0]).await;
    let wallet = server.enrolled_wallet(33).await;
    let (_, _, waiting) = support::start_login(&server, "openid").await;
    let view = wallet.fetch(&waiting.link).await.unwrap();
    // A v2 message naming another platform, and the v1 message (no issuer), signed by the
    // enrolled device's own key: neither counts here.
    let mut body = wallet
        .decision_body(&view, Verdict::Approve, &waiting.match_code, &["openid".into()])
        .unwrap();
    let scopes = ["openid".to_owned()];
    let other_platform = decision_message(
        "https://elsewhere.example",
        &view.request_id,
        &view.challenge,
        Verdict::Approve,
        &waiting.match_code,
        &scopes,
    );
    let v1 = format!(
        "civpass-login/v1\nrequest={}\nchallenge={}\ndecision=approve\nmatch={}\nscopes=openid",
        view.request_id, view.challenge, waiting.match_code
    );
    let url = format!(
        "{}/api/v1/device/login-requests/{}/decision",
        server.base, waiting.link.request_id
    );
    for message in [other_platform, v1.into_bytes()] {
        body.signature = wallet.sign_message(&message).unwrap();
        let res = reqwest::Client::new().post(&url).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let problem: serde_json::Value = res.json().await.unwrap();
        assert!(problem["type"].as_str().unwrap().ends_with("bad-signature"), "{problem}");
    }
    // The request is still pending: the app can still approve it properly.
    support::approve(&wallet, &waiting).await;
}

#[tokio::test]
async fn the_landing_page_and_the_built_in_notices_say_what_runs_here() {
    let server = spawn_server(&backends()[0]).await;
    let browser = support::browser();
    for (lang, privacy) in [("en", "Privacy notice"), ("zh-HK", "私隱政策"), ("zh-CN", "隐私政策")]
    {
        let res = browser.get(format!("{}/?lang={lang}", server.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        for link in [
            "/app/",
            "/.well-known/openid-configuration",
            "/jwks",
            "/openapi.json",
            "/docs/RELYING-PARTIES.md",
        ] {
            assert!(page.contains(link), "{lang}: {link}");
        }
        assert!(page.contains(privacy), "{lang}");
        assert!(page.contains(&format!("/privacy?lang={lang}")), "{lang}");
        let notice = browser.get(format!("{}/privacy?lang={lang}", server.base)).send().await;
        assert_eq!(notice.unwrap().status(), StatusCode::OK);
        let help = browser.get(format!("{}/help?lang={lang}", server.base)).send().await;
        assert_eq!(help.unwrap().status(), StatusCode::OK);
    }
    let doc = browser.get(format!("{}/docs/RELYING-PARTIES.md", server.base)).send().await;
    let doc = doc.unwrap();
    assert!(doc.headers()["content-type"].to_str().unwrap().starts_with("text/markdown"));
    assert!(doc.text().await.unwrap().contains("CORS"));
    let none = browser.get(format!("{}/docs/..%2FCargo.toml", server.base)).send().await;
    assert_eq!(none.unwrap().status(), StatusCode::NOT_FOUND);
    let config =
        support::get_json(&browser, &format!("{}/api/v1/device/configuration", server.base)).await;
    assert_eq!(config["issuer"], server.base.as_str(), "the app checks its origin against it");
}

fn civpass() -> Command {
    Command::new(env!("CARGO_BIN_EXE_civpass"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_wallet_checks_before_it_sends() {
    let server = spawn_server(&backends()[0]).await;
    let dir = std::env::temp_dir().join(format!("civpass-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wallet.json");
    let wallet_file = file.to_str().unwrap().to_owned();
    let (hkid, name, dob) = server.person(32);
    let out = civpass()
        .args(["wallet", "enroll", "--wallet", &wallet_file, "--server", &server.base])
        .args(["--id-number", &hkid, "--name-en", &name, "--dob", &dob, "--evidence", "pass"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["issuer"], server.base.as_str(), "the wallet knows its platform");

    let (_, browser, waiting) = support::start_login(&server, "openid profile birthdate").await;
    let link = format!("{}/app/login?request={}", server.base, waiting.link.request_id);
    let approve = |extra: &[&str]| {
        let wallet_file = wallet_file.clone();
        let link = link.clone();
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            civpass()
                .args(["wallet", "approve", "--wallet", &wallet_file, "--json", &link])
                .args(extra)
                .output()
                .unwrap()
        })
    };
    // Refused here, before anything is sent: the login stays pending.
    for (args, says) in [
        (vec!["--match", "3"], "two digits"),
        (vec!["--match", "abc"], "two digits"),
        (vec!["--match", "12", "--only", "gender"], "did not ask for it"),
        (vec!["--match", "12", "--only", "openid"], "did not ask for it"),
    ] {
        let out = approve(&args).await.unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        let status = support::get_json(&browser, &format!("{}/status", waiting.page_url)).await;
        assert_eq!(status["status"], "pending", "{args:?} ended the login");
    }
    // A link to another platform is refused: the wallet answers only its own.
    let elsewhere = link.replace(&server.base, "http://127.0.0.1:9");
    let out = tokio::task::spawn_blocking({
        let wallet_file = wallet_file.clone();
        move || {
            civpass()
                .args(["wallet", "approve", "--wallet", &wallet_file, "--match", "12", &elsewhere])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("its own platform"));

    // Denying releases nothing, and says so.
    let out = approve(&["--deny"]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["released"], serde_json::json!([]));
    let back = support::finish(&browser, &waiting).await;
    assert_eq!(support::query(&back, "error").as_deref(), Some("access_denied"));
    std::fs::remove_dir_all(dir).unwrap();
}
