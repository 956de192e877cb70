//! Pushed authorization requests (RFC 9126) and signed request objects (RFC 9101), and the
//! policies that require them; on both databases.

use civpass_core::oidc::clients::ClientSpec;
use civpass_core::oidc::model::{AuthMethod, GrantType};
use civpass_core::store::ports::*;
use civpass_crypto::jws::{Algorithm, SigningKey};
use civpass_crypto::secret::{b64url, random_token, sha256};
use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK};

fn authorization_form<'a>(req: &'a AuthRequest, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("redirect_uri", req.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", req.scope.as_str()),
        ("state", req.state.as_str()),
        ("nonce", req.nonce.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn push(
    server: &TestServer,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/par", server.base))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn authorize_with(server: &TestServer, client_id: &str, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
    url.query_pairs_mut().append_pair("client_id", client_id).append_pair(name, value);
    url.to_string()
}

#[tokio::test]
async fn a_pushed_request_is_used_once_within_a_minute_by_its_own_client() {
    for backend in backends() {
        let server =
            spawn_server_with(&backend, Options { fixed_clock: true, ..Options::default() }).await;
        let clock = server.clock.clone().unwrap();
        let wallet = server.enrolled_wallet(50).await;
        let (id, secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let challenge = b64url(&sha256(req.verifier.as_bytes()));
        let (status, pushed) =
            push(&server, (&id, &secret), &authorization_form(&req, &challenge)).await;
        assert_eq!(status, StatusCode::CREATED, "{pushed}");
        assert_eq!(pushed["expires_in"], 60);
        let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
        assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

        let browser = support::browser();
        let waiting = support::open_login_page(
            &browser,
            &server.base,
            &authorize_with(&server, &id, "request_uri", &request_uri),
        )
        .await;
        support::approve(&wallet, &waiting).await;
        let back = support::finish(&browser, &waiting).await;
        assert_eq!(support::query(&back, "state").as_deref(), Some(req.state.as_str()));
        let code = support::query(&back, "code").unwrap();
        let (status, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");

        // Used once.
        let res = support::browser()
            .get(authorize_with(&server, &id, "request_uri", &request_uri))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("already used"));
        // Only by the client that pushed it.
        let (other, _) = server.client(CALLBACK).await;
        let (_, pushed) =
            push(&server, (&id, &secret), &authorization_form(&req, &challenge)).await;
        let uri = pushed["request_uri"].as_str().unwrap();
        let res = support::browser()
            .get(authorize_with(&server, &other, "request_uri", uri))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let still = support::browser();
        let waiting = support::open_login_page(
            &still,
            &server.base,
            &authorize_with(&server, &id, "request_uri", uri),
        )
        .await;
        assert_eq!(waiting.match_code.len(), 2, "another client's attempt did not burn it");
        // Within a minute.
        let (_, pushed) =
            push(&server, (&id, &secret), &authorization_form(&req, &challenge)).await;
        clock.advance(61);
        let uri = pushed["request_uri"].as_str().unwrap();
        let res = support::browser()
            .get(authorize_with(&server, &id, "request_uri", uri))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // Not one we did not hand out.
        let res = support::browser()
            .get(authorize_with(&server, &id, "request_uri", "https://attacker.example/request"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn the_par_endpoint_checks_the_request_and_the_client() {
    let server = spawn_server_with(&backends()[0], Options::default()).await;
    let (id, secret) = server.client(CALLBACK).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    let challenge = b64url(&sha256(req.verifier.as_bytes()));
    let mut form = authorization_form(&req, &challenge);
    let (status, body) = push(&server, (&id, "wrong"), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    form[0] = ("redirect_uri", "https://attacker.example/cb");
    let (status, body) = push(&server, (&id, &secret), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let form = authorization_form(&req, &challenge)
        .into_iter()
        .filter(|(k, _)| *k != "code_challenge")
        .collect::<Vec<_>>();
    let (status, body) = push(&server, (&id, &secret), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "PKCE is required"
    );
    // prompt=none is answered by redirect when the request is used (RFC 9126 section 4).
    let mut form = authorization_form(&req, &challenge);
    form.push(("prompt", "none"));
    let (status, pushed) = push(&server, (&id, &secret), &form).await;
    assert_eq!(status, StatusCode::CREATED);
    let res = support::browser()
        .get(authorize_with(&server, &id, "request_uri", pushed["request_uri"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(&support::location(&res)).unwrap();
    assert_eq!(support::query(&back, "error").as_deref(), Some("login_required"));
    let mut form = authorization_form(&req, &challenge);
    form.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    let (status, body) = push(&server, (&id, &secret), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let discovery = support::discovery(&server.base).await;
    assert_eq!(discovery["pushed_authorization_request_endpoint"], format!("{}/par", server.base));
}

#[tokio::test]
async fn a_client_that_must_push_cannot_use_the_front_channel() {
    let server = spawn_server_with(&backends()[0], Options::default()).await;
    let mut spec = ClientSpec::web("Bank", &[CALLBACK.to_owned()]);
    spec.require_par = true;
    let created = server.services.oidc.register_client(spec).await.unwrap();
    let id = created.client.id;
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    let res = support::browser().get(req.url(&server.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = url::Url::parse(&support::location(&res)).unwrap();
    assert_eq!(support::query(&back, "error").as_deref(), Some("invalid_request"));
    let challenge = b64url(&sha256(req.verifier.as_bytes()));
    let (status, _) = push(
        &server,
        (&id, created.secret.as_deref().unwrap()),
        &authorization_form(&req, &challenge),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// A client with a signing key that must send signed request objects.
async fn signing_client(server: &TestServer) -> (String, SigningKey) {
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let mut spec = ClientSpec::web("Signed requests", &[CALLBACK.to_owned()]);
    spec.auth_methods = vec![AuthMethod::PrivateKeyJwt];
    spec.grant_types = vec![GrantType::AuthorizationCode];
    spec.jwks = Some(json!({"keys": [key.public_jwk()]}).to_string());
    spec.require_signed_request = true;
    (server.services.oidc.register_client(spec).await.unwrap().client.id.into(), key)
}

fn request_object(server: &TestServer, id: &str, req: &AuthRequest) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    json!({
        "iss": id, "aud": server.base, "client_id": id, "exp": now + 300, "nbf": now, "jti": random_token(8),
        "redirect_uri": req.redirect_uri, "response_type": "code", "scope": req.scope,
        "state": req.state, "nonce": req.nonce,
        "code_challenge": b64url(&sha256(req.verifier.as_bytes())), "code_challenge_method": "S256",
    })
}

#[tokio::test]
async fn signed_request_objects_carry_the_request_and_bad_ones_are_refused() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (id, key) = signing_client(&server).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let mut claims = request_object(&server, &id, &req);
        // A DPoP key to bind the code to may come inside the request object (RFC 9449 section 10).
        let jkt = b64url(&sha256(b"a DPoP key"));
        claims["dpop_jkt"] = json!(jkt);
        let object = key.sign("oauth-authz-req+jwt", &claims).unwrap();
        // Query parameters beside the request object are not used (RFC 9101 section 6.3).
        let mut url = url::Url::parse(&authorize_with(&server, &id, "request", &object)).unwrap();
        url.query_pairs_mut().append_pair("scope", "openid hkid");
        let browser = support::browser();
        let waiting = support::open_login_page(&browser, &server.base, url.as_str()).await;
        let wallet = server.enrolled_wallet(51).await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        let asked: Vec<&str> = view.scopes.iter().map(|s| s.scope.as_str()).collect();
        assert_eq!(asked, ["openid", "profile"], "the signed scope, not the query's");
        let stored = server
            .store
            .find_login_request(&civpass_core::kernel::LoginRequestId::from(
                &waiting.link.request_id,
            ))
            .await
            .unwrap();
        assert_eq!(stored.unwrap().dpop_jkt, Some(jkt), "the code will be bound to the key");

        // Without a request object, this client is refused.
        let res = support::browser().get(req.url(&server.base)).send().await.unwrap();
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert_eq!(support::query(&back, "error").as_deref(), Some("invalid_request"));

        let (other_key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let mut expired = request_object(&server, &id, &req);
        expired["exp"] = json!(1);
        let mut foreign_aud = request_object(&server, &id, &req);
        foreign_aud["aud"] = json!("https://other.example");
        let mut long_lived = request_object(&server, &id, &req);
        long_lived["exp"] = json!(long_lived["nbf"].as_i64().unwrap() + 7200);
        let unsigned = format!(
            "{}.{}.",
            b64url(br#"{"alg":"none"}"#),
            b64url(&serde_json::to_vec(&request_object(&server, &id, &req)).unwrap())
        );
        for (what, object) in [
            (
                "signed by another key",
                other_key.sign("JWT", &request_object(&server, &id, &req)).unwrap(),
            ),
            ("expired", key.sign("JWT", &expired).unwrap()),
            ("for another server", key.sign("JWT", &foreign_aud).unwrap()),
            ("living two hours", key.sign("JWT", &long_lived).unwrap()),
            ("unsigned", unsigned),
        ] {
            // With a registered redirect URI in the query, the error goes back to the client...
            let mut url =
                url::Url::parse(&authorize_with(&server, &id, "request", &object)).unwrap();
            url.query_pairs_mut().append_pair("redirect_uri", CALLBACK);
            let res = support::browser().get(url.as_str()).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{what}");
            let back = url::Url::parse(&support::location(&res)).unwrap();
            assert_eq!(
                support::query(&back, "error").as_deref(),
                Some("invalid_request_object"),
                "{what}"
            );
            // ...and without one, an error page.
            let res = support::browser()
                .get(authorize_with(&server, &id, "request", &object))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        }
    }
}

#[tokio::test]
async fn a_request_object_can_be_pushed() {
    let server = spawn_server_with(&backends()[0], Options::default()).await;
    let (id, key) = signing_client(&server).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    let object = key.sign("oauth-authz-req+jwt", &request_object(&server, &id, &req)).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let assertion = key
        .sign("JWT", &json!({"iss": id, "sub": id, "aud": server.base, "exp": now + 60, "jti": random_token(8)}))
        .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/par", server.base))
        .form(&[
            ("client_assertion_type", civpass_core::oidc::clients::JWT_BEARER),
            ("client_assertion", &assertion),
            ("request", &object),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let pushed: Value = res.json().await.unwrap();
    let browser = support::browser();
    let waiting = support::open_login_page(
        &browser,
        &server.base,
        &authorize_with(&server, &id, "request_uri", pushed["request_uri"].as_str().unwrap()),
    )
    .await;
    assert_eq!(waiting.match_code.len(), 2, "a signed, pushed request passes both policies");
}

/// Every `params` value of the pushed requests in the server's database, as stored.
async fn stored_pushed_params(server: &TestServer) -> Vec<String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.db.url).await.unwrap();
    let rows = sqlx::query("SELECT params FROM pushed_requests").fetch_all(&pool).await.unwrap();
    let out = rows.iter().map(|r| r.get::<String, _>("params")).collect();
    pool.close().await;
    out
}

#[tokio::test]
async fn a_pushed_request_is_kept_sealed() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (id, secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let challenge = b64url(&sha256(req.verifier.as_bytes()));
        let mut form = authorization_form(&req, &challenge);
        form.push(("login_hint", "chan.tai.man@example.hk"));
        let (status, pushed) = push(&server, (&id, &secret), &form).await;
        assert_eq!(status, StatusCode::CREATED, "{pushed}");
        let stored = stored_pushed_params(&server).await;
        assert_eq!(stored.len(), 1);
        for needle in ["chan.tai.man", &req.state, CALLBACK, "login_hint"] {
            assert!(!stored[0].contains(needle), "{needle} is stored in clear");
        }
        // And it still works.
        let request_uri = pushed["request_uri"].as_str().unwrap();
        let res = support::browser()
            .get(authorize_with(&server, &id, "request_uri", request_uri))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(support::location(&res).starts_with("/login/"));
    }
}

#[tokio::test]
async fn pushes_are_bounded_in_size_and_a_public_clients_per_address() {
    for backend in backends() {
        let options = Options { pending_caps: Some((0, 3)), ..Options::default() };
        let server = spawn_server_with(&backend, options).await;
        let public = server
            .services
            .oidc
            .create_client("Phone app", &[CALLBACK.to_owned()], true)
            .await
            .unwrap()
            .client
            .id;
        let req = AuthRequest::new(&public, CALLBACK, "openid");
        let challenge = b64url(&sha256(req.verifier.as_bytes()));
        let push_public = |extra: Vec<(&'static str, String)>| {
            let mut form: Vec<(String, String)> = authorization_form(&req, &challenge)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            form.push(("client_id".into(), public.clone().into()));
            form.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
            let url = format!("{}/par", server.base);
            async move {
                let res = reqwest::Client::new().post(url).form(&form).send().await.unwrap();
                let status = res.status();
                (status, res.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        // Fields no real request needs at that size.
        for (name, value) in [
            ("ui_locales", "en ".repeat(200)),
            ("prompt", "login ".repeat(100)),
            ("scope", "openid ".repeat(500)),
        ] {
            let (status, body) = push_public(vec![(name, value)]).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{name}"
            );
        }
        // A public client's pushes are anyone's: three pending per address, then a pause.
        for _ in 0..3 {
            let (status, body) = push_public(vec![]).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, body) = push_public(vec![]).await;
        assert_eq!(body["error"], "temporarily_unavailable", "{status} {body}");
        // A confidential client answers for its own pushes and is not capped so.
        let (id, secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let challenge = b64url(&sha256(req.verifier.as_bytes()));
        for _ in 0..4 {
            let (status, _) =
                push(&server, (&id, &secret), &authorization_form(&req, &challenge)).await;
            assert_eq!(status, StatusCode::CREATED);
        }
    }
}
