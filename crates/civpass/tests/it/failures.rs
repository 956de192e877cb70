//! Failures keep their cause: an outside service or a database that does not answer is a 503
//! with `Retry-After` (retrying may succeed), and the log says why, once, with the request id.

use civpass_testkit::{Backend, TestDb, backends, spawn_server};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK};

#[tokio::test]
async fn an_unreachable_registry_is_a_503_and_the_log_says_why_with_the_request_id() {
    // A port nothing listens on: the registry's connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let vendor = crate::proofing::vendor(str::to_owned).await;
    let db = TestDb::create(&Backend::Sqlite).await;
    let log_path = db.dir.join("server.log");
    let data_dir = db.dir.to_str().unwrap();
    let registry_url = format!("http://{closed}");
    let (mut child, base) = support::serve_binary(
        &["--evidence-url", &vendor, "--registry-url", &registry_url, "--data-dir", data_dir],
        &[("CIVPASS_LOG_FORMAT", "json")],
        std::fs::File::create(&log_path).unwrap().into(),
    );

    let registry = civpass_registry::SandboxRegistry::generate(10);
    let person = &registry.people()[3];
    let hkid = person.hkid.to_string();
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/device/passkey-registrations"))
        .json(&json!({
            "id_number": hkid, "name_en": person.name_en, "date_of_birth": person.date_of_birth.to_string(),
            "evidence": {"session": "s-1", "reference": support::identity_check(&base, &hkid).await},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "https://civpass.dev/problems/registry-unavailable");
    assert!(!problem.to_string().to_lowercase().contains("refused"), "the cause is for the log");
    child.kill().unwrap();
    let _ = child.wait();

    let log = std::fs::read_to_string(&log_path).unwrap();
    let told: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "the population registry did not answer")
        .collect();
    assert_eq!(told.len(), 1, "logged once: {log}");
    let cause = told[0]["fields"]["cause"].as_str().unwrap().to_lowercase();
    assert!(cause.contains("connection refused"), "{cause}");
    assert_eq!(told[0]["span"]["request_id"], request_id.as_str());
    assert!(!log.contains(&hkid), "the log holds no HKID");
}

#[tokio::test]
async fn a_database_that_does_not_answer_is_a_503_with_retry_after_not_a_500() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let token = |http: reqwest::Client| {
            let (base, id, secret) = (server.base.clone(), id.clone(), secret.clone());
            async move {
                http.post(format!("{base}/token"))
                    .basic_auth(&id, Some(&secret))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", "x"),
                        ("redirect_uri", CALLBACK),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        // Up: a bad code is the client's fault.
        assert_eq!(token(reqwest::Client::new()).await.status(), StatusCode::BAD_REQUEST);
        if !server.db.set_reachable(false).await {
            continue;
        }
        let res = token(reqwest::Client::new()).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");

        // A page says "busy", not "something went wrong".
        let page = support::browser()
            .get(AuthRequest::new(&id, CALLBACK, "openid").url(&server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.headers().contains_key("retry-after"));

        server.db.set_reachable(true).await;
        let mut back = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..50 {
            back = token(reqwest::Client::new()).await.status();
            if back != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(back, StatusCode::BAD_REQUEST, "served again once the database is back");
    }
}
