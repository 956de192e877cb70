//! Rate limits: past its allowance a client address gets 429 with Retry-After, in the form of
//! the endpoint (OAuth JSON, problem details, or a page), and other groups are unaffected.

use civpass_server::RateLimits;
use civpass_testkit::{Options, backends, spawn_server_with};
use reqwest::StatusCode;

#[tokio::test]
async fn each_group_answers_429_with_retry_after_past_its_allowance() {
    let limits = RateLimits { authorize: 3, token: 3, device: 3, registration: 3 };
    let server = spawn_server_with(
        &backends()[0],
        Options { rate_limits: Some(limits), ..Options::default() },
    )
    .await;
    let http = reqwest::Client::new();
    let base = &server.base;
    let send = |method: reqwest::Method, path: &str| http.request(method, format!("{base}{path}"));

    for _ in 0..3 {
        let res = send(reqwest::Method::POST, "/token")
            .form(&[("grant_type", "x")])
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let res =
        send(reqwest::Method::POST, "/introspect").form(&[("token", "x")]).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "token, revoke and introspect share one allowance"
    );
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");

    for _ in 0..3 {
        let res =
            send(reqwest::Method::GET, "/api/v1/device/login-requests/nope").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let res =
        send(reqwest::Method::GET, "/api/v1/device/login-requests/nope").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["type"], "https://civpass.dev/problems/too-many-requests");
    // A path no route serves under the device API is counted with it: probing is limited.
    let probe = send(reqwest::Method::GET, "/api/v1/device/no-such-thing").send().await.unwrap();
    assert_eq!(probe.status(), StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = send(reqwest::Method::GET, "/no-such-thing").send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);

    for _ in 0..3 {
        send(reqwest::Method::GET, "/authorize").send().await.unwrap();
    }
    let res = send(reqwest::Method::GET, "/login/nope")
        .header("accept-language", "zh-HK")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("要求過多"), "a page, in the citizen's language");

    // What is not a stranger's door stays open: discovery, the app, the page's status polling.
    for path in ["/.well-known/openid-configuration", "/app/", "/login/nope/status", "/jwks"] {
        for _ in 0..5 {
            let res = send(reqwest::Method::GET, path).send().await.unwrap();
            assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        }
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_allowance() {
    let limits = RateLimits { authorize: 0, token: 2, device: 0, registration: 0 };
    let token = |base: String, client: &'static str| async move {
        reqwest::Client::new()
            .post(format!("{base}/token"))
            .header("x-forwarded-for", format!("{client}, 127.0.0.1"))
            .form(&[("grant_type", "x")])
            .send()
            .await
            .unwrap()
            .status()
    };
    // The test's requests come from 127.0.0.1, as if through a proxy there.
    let behind = Options {
        rate_limits: Some(limits),
        trusted_proxies: &["127.0.0.0/8"],
        ..Options::default()
    };
    let server = spawn_server_with(&backends()[0], behind).await;
    for _ in 0..2 {
        assert_ne!(token(server.base.clone(), "203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(token(server.base.clone(), "203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(
        token(server.base.clone(), "203.0.113.2").await,
        StatusCode::TOO_MANY_REQUESTS,
        "another citizen behind the same proxy"
    );

    // Without trusting the proxy, the header is the client's own word: one allowance for all.
    let exposed = Options { rate_limits: Some(limits), ..Options::default() };
    let server = spawn_server_with(&backends()[0], exposed).await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        assert_ne!(token(server.base.clone(), client).await, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(token(server.base.clone(), "203.0.113.3").await, StatusCode::TOO_MANY_REQUESTS);
}
