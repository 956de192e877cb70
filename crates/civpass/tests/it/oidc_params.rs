//! What OpenID Connect Core lets a relying party ask of a login: `acr_values`, the `claims`
//! parameter, `prompt`, `max_age`, `login_hint` and `id_token_hint`, with the exact errors and
//! where they go. On both databases.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use civpass_core::oidc::login::Verdict;
use civpass_testkit::{TestServer, backends, spawn_server};
use civpass_wallet::{Wallet, WalletError};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{self, AuthRequest, CALLBACK};

pub(crate) fn with(req: &AuthRequest, server: &TestServer, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&req.url(&server.base)).unwrap();
    url.query_pairs_mut().extend_pairs(extra);
    url.to_string()
}

/// The error a request with `extra` parameters is sent back with, without any login.
async fn refused(server: &TestServer, req: &AuthRequest, extra: &[(&str, &str)]) -> Option<String> {
    let res = support::browser().get(with(req, server, extra)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = url::Url::parse(&support::location(&res)).unwrap();
    assert!(back.as_str().starts_with(CALLBACK), "the error goes back to the client");
    assert_eq!(support::query(&back, "state").as_deref(), Some(req.state.as_str()));
    support::query(&back, "error")
}

/// Approves as `wallet` and returns (the wallet's outcome, the callback URL).
pub(crate) async fn approve_as(
    server: &TestServer,
    wallet: &Wallet,
    url: &str,
) -> (Result<(), WalletError>, url::Url) {
    let browser = support::browser();
    let waiting = support::open_login_page(&browser, &server.base, url).await;
    let view = wallet.fetch(&waiting.link).await.unwrap();
    let scopes: Vec<String> = view.scopes.iter().map(|s| s.scope.clone()).collect();
    let outcome = wallet
        .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &scopes)
        .await
        .map(|_| ());
    (outcome, support::finish(&browser, &waiting).await)
}

fn problem_slug(err: &WalletError) -> &str {
    match err {
        WalletError::Problem(p) => p.problem_type.rsplit('/').next().unwrap(),
        _ => "",
    }
}

pub(crate) fn id_token_claims(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn acr_values_a_basic_citizen_cannot_meet_end_the_login_as_the_spec_says() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let wallet = server.enrolled_wallet(80).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let (outcome, back) =
            approve_as(&server, &wallet, &with(&req, &server, &[("acr_values", "plus")])).await;
        assert_eq!(
            problem_slug(&outcome.unwrap_err()),
            "account-level-too-low",
            "the app is told why"
        );
        assert_eq!(
            support::query(&back, "error").as_deref(),
            Some("unmet_authentication_requirements")
        );
        assert!(support::query(&back, "code").is_none());

        // An essential acr in the claims request is the same requirement.
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["plus"]}}}"#;
        let (_, back) =
            approve_as(&server, &wallet, &with(&req, &server, &[("claims", claims)])).await;
        assert_eq!(
            support::query(&back, "error").as_deref(),
            Some("unmet_authentication_requirements")
        );

        // A basic citizen meets "plus basic" (the service takes either).
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let (outcome, back) =
            approve_as(&server, &wallet, &with(&req, &server, &[("acr_values", "plus basic")]))
                .await;
        outcome.unwrap();
        let code = support::query(&back, "code").unwrap();
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(id_token_claims(tokens["id_token"].as_str().unwrap())["acr"], "basic");
    }
}

#[tokio::test]
async fn the_claims_parameter_asks_for_data_and_puts_it_in_the_id_token() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let wallet = server.enrolled_wallet(81).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let claims = r#"{"id_token":{"birthdate":{"essential":true}},"userinfo":{"name":null}}"#;
        let browser = support::browser();
        let waiting = support::open_login_page(
            &browser,
            &server.base,
            &with(&req, &server, &[("claims", claims)]),
        )
        .await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        let asked: Vec<&str> = view.scopes.iter().map(|s| s.scope.as_str()).collect();
        assert_eq!(
            asked,
            ["openid", "birthdate", "profile"],
            "the citizen is asked about what the claims need"
        );
        let scopes: Vec<String> = view.scopes.iter().map(|s| s.scope.clone()).collect();
        wallet
            .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &scopes)
            .await
            .unwrap();
        let back = support::finish(&browser, &waiting).await;
        let code = support::query(&back, "code").unwrap();
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let id_token = id_token_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["birthdate"], server.person(81).2.as_str());
        assert!(id_token.get("name").is_none(), "name was asked for UserInfo only");
        let (_, info) =
            support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
        assert!(info["name"].is_string());

        // The release record names what the ID token carried.
        let session = wallet.open_session().await.unwrap();
        let services = wallet.services(&session).await.unwrap();
        let at_login = services[0].releases.iter().find(|r| r.channel == "id_token").unwrap();
        assert_eq!(at_login.claims, ["sub", "birthdate"]);

        for bad in ["[]", "not json", r#"{"userinfo":{"name":5}}"#] {
            assert_eq!(
                refused(&server, &req, &[("claims", bad)]).await.as_deref(),
                Some("invalid_request"),
                "{bad}"
            );
        }
    }
}

#[tokio::test]
async fn prompt_max_age_and_login_hint_are_checked() {
    let server = spawn_server(&backends()[0]).await;
    let (id, _) = server.client(CALLBACK).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    assert_eq!(
        refused(&server, &req, &[("prompt", "none")]).await.as_deref(),
        Some("login_required")
    );
    for (name, value) in [
        ("prompt", "none login"),
        ("prompt", "bogus"),
        ("max_age", "-1"),
        ("max_age", "soon"),
        ("login_hint", &"x".repeat(300)),
        ("id_token_hint", "not-a-token"),
    ] {
        assert_eq!(
            refused(&server, &req, &[(name, value)]).await.as_deref(),
            Some("invalid_request"),
            "{name}={value}"
        );
    }
    // What every login already does: a fresh approval, consent shown, auth_time in the ID token.
    for (name, value) in
        [("prompt", "login consent"), ("max_age", "0"), ("login_hint", "a citizen")]
    {
        let browser = support::browser();
        let waiting = support::open_login_page(
            &browser,
            &server.base,
            &with(&req, &server, &[(name, value)]),
        )
        .await;
        assert_eq!(waiting.match_code.len(), 2, "{name}={value}");
    }
}

/// An ID token for `wallet`'s citizen at `client`, by a whole login.
async fn id_token(server: &TestServer, client: (&str, &str), wallet: &Wallet) -> String {
    let req = AuthRequest::new(client.0, CALLBACK, "openid");
    let code = support::login_code(server, wallet, &req).await;
    let (_, tokens) = support::redeem(&server.base, client, &req, &code).await;
    tokens["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn id_token_hint_lets_only_the_citizen_it_names_approve() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let (other_id, other_secret) = server.client(CALLBACK).await;
        let alice = server.enrolled_wallet(82).await;
        let bob = server.enrolled_wallet(83).await;
        let hint = id_token(&server, (&id, &secret), &alice).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let (outcome, back) =
            approve_as(&server, &bob, &with(&req, &server, &[("id_token_hint", &hint)])).await;
        assert_eq!(problem_slug(&outcome.unwrap_err()), "other-citizen");
        assert_eq!(support::query(&back, "error").as_deref(), Some("login_required"));
        let (outcome, back) =
            approve_as(&server, &alice, &with(&req, &server, &[("id_token_hint", &hint)])).await;
        outcome.unwrap();
        assert!(support::query(&back, "code").is_some());
        // A claims request naming the subject is the same requirement (OIDC Core 5.5.1).
        let alice_sub: Value =
            serde_json::from_slice(&B64.decode(hint.split('.').nth(1).unwrap()).unwrap()).unwrap();
        let claims = format!(
            r#"{{"id_token":{{"sub":{{"value":"{}"}}}}}}"#,
            alice_sub["sub"].as_str().unwrap()
        );
        let (outcome, back) =
            approve_as(&server, &bob, &with(&req, &server, &[("claims", &claims)])).await;
        assert_eq!(problem_slug(&outcome.unwrap_err()), "other-citizen");
        assert_eq!(support::query(&back, "error").as_deref(), Some("login_required"));
        // An access token is not an ID token, even with the right audience and subject.
        let req2 = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &alice, &req2).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req2, &code).await;
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            refused(&server, &req, &[("id_token_hint", access)]).await.as_deref(),
            Some("invalid_request")
        );
        // A hint issued to another client is not this client's to give.
        let foreign = id_token(&server, (&other_id, &other_secret), &alice).await;
        assert_eq!(
            refused(&server, &req, &[("id_token_hint", &foreign)]).await.as_deref(),
            Some("invalid_request")
        );
    }
}
