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
        // Another request's id, as a client might send to muddle an investigation: ignored.
        .header("x-request-id", "forged-id")
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
    assert_ne!(request_id, "forged-id", "every request gets an id of ours");
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
    assert!(!log.contains("forged-id"));
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

#[tokio::test]
async fn a_client_whose_jwks_uri_does_not_answer_is_told_to_retry_not_that_it_is_invalid() {
    use civpass_core::oidc::clients::ClientSpec;
    use civpass_core::oidc::model::{AuthMethod, GrantType};
    use civpass_crypto::jws::{Algorithm, SigningKey};

    use crate::client_auth::{CC, token_with_assertion};

    let server = spawn_server(&backends()[0]).await;
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let register = |jwks_uri: String| {
        let mut spec = ClientSpec::web("Keys elsewhere", &[]);
        spec.auth_methods = vec![AuthMethod::PrivateKeyJwt];
        spec.grant_types = vec![GrantType::ClientCredentials];
        spec.jwks_uri = Some(jwks_uri);
        server.services.oidc.register_client(spec)
    };
    let assertion = |id: &str| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let jti = civpass_crypto::secret::random_token(12);
        let claims = json!({"iss": id, "sub": id, "aud": server.base, "exp": now + 60, "jti": jti});
        key.sign("JWT", &claims).unwrap()
    };
    // Nothing listens there: the client's server is down, which retrying may cure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let id = register(format!("http://{closed}/jwks")).await.unwrap().client.id;
    let (status, body) = token_with_assertion(&server, &assertion(&id), CC).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    // An answer that is no JWK Set is the client's own fault: invalid_client.
    let empty = support::document_server(std::sync::Arc::default()).await;
    let id = register(empty).await.unwrap().client.id;
    let (status, body) = token_with_assertion(&server, &assertion(&id), CC).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
}
