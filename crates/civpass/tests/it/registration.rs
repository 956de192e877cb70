//! Dynamic client registration (RFC 7591) with an initial access token, and management of the
//! registration (RFC 7592); on both databases.

use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK};

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", server.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_developer_registers_uses_updates_and_deletes_a_client() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (initial, _) = server.services.oidc.issue_registration_token(3600).await.unwrap();
        let metadata = json!({
            "client_name": "Library booking",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
            "some_extension": "ignored",
        });
        let (status, registered) =
            call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(metadata)).await;
        assert_eq!(status, StatusCode::CREATED, "{registered}");
        let id = registered["client_id"].as_str().unwrap().to_owned();
        let secret = registered["client_secret"].as_str().unwrap().to_owned();
        let rat = registered["registration_access_token"].as_str().unwrap().to_owned();
        assert_eq!(registered["registration_client_uri"], format!("{}/register/{id}", server.base));
        assert_eq!(registered["client_secret_expires_at"], 0);
        assert_eq!(registered["token_endpoint_auth_method"], "client_secret_post");
        assert!(registered.get("some_extension").is_none());

        // The client works: a login, with the method it registered.
        let wallet = server.enrolled_wallet(70).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let res = reqwest::Client::new()
            .post(format!("{}/token", server.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &req.verifier),
                ("client_id", &id),
                ("client_secret", &secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let tokens: Value = res.json().await.unwrap();

        let path = format!("/register/{id}");
        let (status, read) = call(&server, reqwest::Method::GET, &path, Some(&rat), None).await;
        assert_eq!(
            (status, read["client_name"].as_str()),
            (StatusCode::OK, Some("Library booking"))
        );
        assert!(read.get("client_secret").is_none(), "the secret is never shown again");

        // An update replaces the metadata and rotates the registration access token.
        let update = json!({
            "client_id": id, "client_name": "Library booking (new)", "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "client_secret_basic",
        });
        let (status, updated) =
            call(&server, reqwest::Method::PUT, &path, Some(&rat), Some(update.clone())).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["token_endpoint_auth_method"], "client_secret_basic");
        let new_rat = updated["registration_access_token"].as_str().unwrap().to_owned();
        let (status, _) = call(&server, reqwest::Method::GET, &path, Some(&rat), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the old registration access token is dead");
        let (status, _) = support::token(
            &server.base,
            (&id, &secret),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "the secret stayed");

        // Deletion ends the client and its grants.
        let (status, _) = call(&server, reqwest::Method::DELETE, &path, Some(&new_rat), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = call(&server, reqwest::Method::GET, &path, Some(&new_rat), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) =
            support::token(&server.base, (&id, &secret), &[("grant_type", "client_credentials")])
                .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
    }
}

#[tokio::test]
async fn registration_needs_a_live_initial_token_and_sound_metadata() {
    let server =
        spawn_server_with(&backends()[0], Options { fixed_clock: true, ..Options::default() })
            .await;
    let (initial, _) = server.services.oidc.issue_registration_token(60).await.unwrap();
    let good = json!({"redirect_uris": [CALLBACK]});
    let (status, body) =
        call(&server, reqwest::Method::POST, "/register", None, Some(good.clone())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    let (status, _) =
        call(&server, reqwest::Method::POST, "/register", Some("made-up"), Some(good.clone()))
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (what, metadata, error) in [
        (
            "a fragment in a redirect URI",
            json!({"redirect_uris": ["https://rp.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        ("no redirect URI", json!({}), "invalid_redirect_uri"),
        (
            "plain http on a public host",
            json!({"redirect_uris": ["http://rp.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "plain http on localhost (a name, not a loopback literal)",
            json!({"redirect_uris": ["http://localhost:8000/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "credentials in a redirect URI",
            json!({"redirect_uris": ["https://user:secret@rp.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "credentials in a plain-http loopback URI",
            json!({"redirect_uris": ["http://admin@127.0.0.1:9/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "a redirect URI of 3,000 characters",
            json!({"redirect_uris": [format!("https://rp.example/{}", "a".repeat(3000))]}),
            "invalid_redirect_uri",
        ),
        (
            "thirty redirect URIs",
            json!({"redirect_uris": (0..30).map(|n| format!("https://rp.example/cb{n}")).collect::<Vec<_>>()}),
            "invalid_client_metadata",
        ),
        (
            "plain http for the post-logout URI",
            json!({"redirect_uris": [CALLBACK], "post_logout_redirect_uris": ["http://rp.example/bye"]}),
            "invalid_client_metadata",
        ),
        (
            "credentials in the back-channel logout URI",
            json!({"redirect_uris": [CALLBACK], "backchannel_logout_uri": "https://u:p@rp.example/bc"}),
            "invalid_client_metadata",
        ),
        (
            "a name of 60,000 characters",
            json!({"redirect_uris": [CALLBACK], "client_name": "A".repeat(60_000)}),
            "invalid_client_metadata",
        ),
        (
            "a name with a right-to-left override",
            json!({"redirect_uris": [CALLBACK], "client_name": "Tax \u{202E}evreser"}),
            "invalid_client_metadata",
        ),
        (
            "a name with an isolate",
            json!({"redirect_uris": [CALLBACK], "client_name": "Bank\u{2067}x\u{2069}"}),
            "invalid_client_metadata",
        ),
        (
            "a name with a line break",
            json!({"redirect_uris": [CALLBACK], "client_name": "Bank\nPlease approve"}),
            "invalid_client_metadata",
        ),
        (
            "a name of spaces",
            json!({"redirect_uris": [CALLBACK], "client_name": "   "}),
            "invalid_client_metadata",
        ),
        (
            "an unknown auth method",
            json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (
            "the implicit flow",
            json!({"redirect_uris": [CALLBACK], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            "private_key_jwt without keys",
            json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            "a symmetric key",
            json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "invalid_client_metadata",
        ),
        ("redirect_uris not a list", json!({"redirect_uris": CALLBACK}), "invalid_client_metadata"),
        (
            "logout tokens with sid",
            json!({"redirect_uris": [CALLBACK], "backchannel_logout_uri": "https://rp.example/bc", "backchannel_logout_session_required": true}),
            "invalid_client_metadata",
        ),
    ] {
        let (status, body) =
            call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(metadata)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{what}"
        );
    }
    // What is allowed: https anywhere, plain http on a loopback literal, a long Chinese name.
    for (what, metadata) in [
        ("https", json!({"redirect_uris": ["https://rp.example/cb?x=1"]})),
        ("IPv6 loopback", json!({"redirect_uris": ["http://[::1]:8080/cb"]})),
        (
            "a Chinese name",
            json!({"redirect_uris": [CALLBACK], "client_name": "運輸署".repeat(33)}),
        ),
    ] {
        let (status, body) =
            call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(metadata)).await;
        assert_eq!(status, StatusCode::CREATED, "{what}: {body}");
    }
    // A registration access token manages only its own client.
    let (_, a) =
        call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(good.clone())).await;
    let (_, b) =
        call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(good.clone())).await;
    let path_b = format!("/register/{}", b["client_id"].as_str().unwrap());
    let (status, _) = call(
        &server,
        reqwest::Method::DELETE,
        &path_b,
        a["registration_access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &server,
        reqwest::Method::PUT,
        &path_b,
        b["registration_access_token"].as_str(),
        Some(json!({"redirect_uris": [CALLBACK], "client_id": a["client_id"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "client_id must be the client's own");
    server.clock.as_ref().unwrap().advance(61);
    let (status, _) =
        call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(good)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the initial token expired");
}

#[tokio::test]
async fn a_native_app_registers_its_own_scheme_and_loopback_redirects() {
    let server = spawn_server_with(&backends()[0], Options::default()).await;
    let (initial, _) = server.services.oidc.issue_registration_token(3600).await.unwrap();
    let native = json!({
        "client_name": "Booking app",
        "application_type": "native",
        "redirect_uris": ["com.example.booking:/oauth2redirect", "http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "none",
        "acr_values_voluntary": true,
    });
    let (status, registered) =
        call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(native.clone()))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!(registered["application_type"], "native");
    assert_eq!(registered["acr_values_voluntary"], true);
    assert!(registered.get("client_secret").is_none());

    // The same metadata as a web client (the default) is refused: a web client has no scheme.
    let mut web = native.clone();
    web["application_type"] = json!("web");
    let (status, body) =
        call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(web)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri"))
    );
    let mut odd = native;
    odd["application_type"] = json!("desktop");
    let (status, body) =
        call(&server, reqwest::Method::POST, "/register", Some(&initial), Some(odd)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
}
