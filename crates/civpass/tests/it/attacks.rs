//! The attacks the login flow must stop, each asserting the exact rejection.

use civpass_core::oidc::login::Verdict;
use civpass_core::store::ports::*;
use civpass_testkit::{Options, backends, spawn_server, spawn_server_with};
use civpass_wallet::WalletError;
use reqwest::StatusCode;

use crate::support::{self, AuthRequest, CALLBACK};

#[track_caller]
fn assert_problem(err: WalletError, status: u16, slug: &str) {
    match err {
        WalletError::Problem(p) => {
            assert_eq!(p.status, status, "{p:?}");
            assert!(p.problem_type.ends_with(slug), "{p:?}");
        }
        other => panic!("expected problem {slug}, got {other}"),
    }
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_it_produced() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(20).await;
        let (id, secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let code = support::login_code(&server, &wallet, &req).await;
        let (status, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        let (status, body) =
            support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token"))
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, _) = support::token(
            &server.base,
            (&id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_and_no_redirect() {
    let server = spawn_server(&backends()[0]).await;
    let (id, _) = server.client(CALLBACK).await;
    for redirect in [
        "http://attacker.example/cb",
        "http://127.0.0.1:9/callback/extra",
        "http://127.0.0.1:9/callback?x=1",
    ] {
        let req = AuthRequest::new(&id, redirect, "openid");
        let res = support::browser().get(req.url(&server.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(res.headers().get("location").is_none());
    }
    let res = support::browser()
        .get(AuthRequest::new("c_unknown", CALLBACK, "openid").url(&server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn authorization_errors_for_a_trusted_redirect_go_back_to_the_client() {
    let server = spawn_server(&backends()[0]).await;
    let (id, _) = server.client(CALLBACK).await;
    let base = AuthRequest::new(&id, CALLBACK, "openid").url(&server.base);
    // Unknown scopes beside openid are ignored (OIDC Core 3.1.2.1), not refused: see
    // rp_libraries.rs.
    for (change, error) in [
        (("code_challenge_method", "plain"), "invalid_request"),
        (("response_type", "token"), "unsupported_response_type"),
        (("scope", "profile"), "invalid_scope"),
        (("prompt", "none"), "login_required"),
    ] {
        let mut url = url::Url::parse(&base).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                if k == change.0 {
                    (k.into_owned(), change.1.to_owned())
                } else {
                    (k.into_owned(), v.into_owned())
                }
            })
            .collect();
        let mut pairs = pairs;
        if !pairs.iter().any(|(k, _)| k == change.0) {
            pairs.push((change.0.to_owned(), change.1.to_owned()));
        }
        url.query_pairs_mut().clear().extend_pairs(&pairs);
        let res = support::browser().get(url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{change:?}");
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert!(back.as_str().starts_with(CALLBACK));
        assert_eq!(support::query(&back, "error").as_deref(), Some(error), "{change:?}");
        assert_eq!(support::query(&back, "iss").as_deref(), Some(server.base.as_str()));
    }
    // Mix-up (RFC 9207): every authorization response, errors too, names us, and discovery
    // tells clients to check it.
    let discovery = support::discovery(&server.base).await;
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);
    // PKCE is not optional.
    let mut url = url::Url::parse(&base).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "code_challenge")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let res = support::browser().get(url.as_str()).send().await.unwrap();
    assert_eq!(
        support::query(&url::Url::parse(&support::location(&res)).unwrap(), "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn the_token_endpoint_checks_redirect_uri_and_pkce_without_burning_the_code() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(21).await;
        let (id, secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let client = (id.as_str(), secret.as_str());
        let base = server.base.as_str();
        let attempts: [&[(&str, &str)]; 4] = [
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", &req.verifier),
            ],
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &req.verifier),
            ],
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier-x"),
            ],
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CALLBACK)],
        ];
        let expected = ["invalid_grant", "invalid_grant", "invalid_grant", "invalid_request"];
        for (form, error) in attempts.iter().zip(expected) {
            let (status, body) = support::token(base, client, form).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some(error)),
                "{form:?}"
            );
        }
        let (status, _) = support::redeem(base, client, &req, &code).await;
        assert_eq!(status, StatusCode::OK, "the rightful client can still redeem");
    }
}

#[tokio::test]
async fn a_client_cannot_authenticate_with_another_clients_secret_or_redeem_its_code() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(22).await;
        let (a_id, a_secret) = server.client(CALLBACK).await;
        let (b_id, b_secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&a_id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (status, body) = support::redeem(&server.base, (&a_id, &b_secret), &req, &code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        let (status, body) = support::redeem(&server.base, (&b_id, &b_secret), &req, &code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        // Two authentication methods at once is an error, as is none for a confidential client.
        let res = reqwest::Client::new()
            .post(format!("{}/token", server.base))
            .basic_auth(&a_id, Some(&a_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_secret", &a_secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
        let res = reqwest::Client::new()
            .post(format!("{}/token", server.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", a_id.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
        let (status, _) = support::redeem(&server.base, (&a_id, &a_secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn another_browser_cannot_finish_someone_elses_login() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(23).await;
        let (id, _) = server.client(CALLBACK).await;
        let victim = support::browser();
        let waiting = support::open_login_page(
            &victim,
            &server.base,
            &AuthRequest::new(&id, CALLBACK, "openid").url(&server.base),
        )
        .await;
        support::approve(&wallet, &waiting).await;
        let attacker = support::browser();
        // With its own cookie from an /authorize of its own, and with none at all.
        let _ = support::open_login_page(
            &attacker,
            &server.base,
            &AuthRequest::new(&id, CALLBACK, "openid").url(&server.base),
        )
        .await;
        for browser in [
            attacker,
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        ] {
            let res = browser.get(&waiting.page_url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            assert!(!res.text().await.unwrap().contains("code="));
        }
        // The victim's browser still completes.
        let back = support::finish(&victim, &waiting).await;
        assert!(support::query(&back, "code").is_some());
    }
}

#[tokio::test]
async fn a_login_request_is_single_use() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(24).await;
        let (_, browser, waiting) = support::start_login(&server, "openid").await;
        support::approve(&wallet, &waiting).await;
        support::finish(&browser, &waiting).await;
        let res = browser.get(&waiting.page_url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("has ended"));
        assert_problem(
            wallet.fetch(&waiting.link).await.unwrap_err(),
            409,
            "login-request-decided",
        );
    }
}

#[tokio::test]
async fn an_expired_login_request_or_code_is_refused() {
    for backend in backends() {
        let server =
            spawn_server_with(&backend, Options { fixed_clock: true, ..Options::default() }).await;
        let clock = server.clock.clone().unwrap();
        let wallet = server.enrolled_wallet(35).await;
        let (id, secret) = server.client(CALLBACK).await;
        let browser = support::browser();
        let waiting = support::open_login_page(
            &browser,
            &server.base,
            &AuthRequest::new(&id, CALLBACK, "openid").url(&server.base),
        )
        .await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        clock.advance(300);
        let err = wallet
            .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &["openid".into()])
            .await
            .unwrap_err();
        assert_problem(err, 410, "login-request-expired");
        // The browser goes back to the service, which hears that the login ended
        // (RFC 6749 section 4.1.2.1), with its state and our name (RFC 9207).
        let res = browser.get(&waiting.page_url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert!(back.as_str().starts_with(CALLBACK), "{back}");
        assert_eq!(support::query(&back, "error").as_deref(), Some("access_denied"));
        assert!(support::query(&back, "error_description").unwrap().contains("expired"));
        assert!(support::query(&back, "state").is_some());
        assert_eq!(support::query(&back, "iss").as_deref(), Some(server.base.as_str()));

        // Approved in time, but the browser comes back long after: no code, the login ended.
        let late = support::open_login_page(
            &browser,
            &server.base,
            &AuthRequest::new(&id, CALLBACK, "openid").url(&server.base),
        )
        .await;
        support::approve(&wallet, &late).await;
        clock.advance(120 + 60);
        let res = browser.get(&late.page_url).send().await.unwrap();
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert_eq!(support::query(&back, "code"), None, "{back}");
        assert_eq!(support::query(&back, "error").as_deref(), Some("access_denied"));

        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        clock.advance(60);
        let (status, body) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );

        // A day after expiry, housekeeping deletes the request; the next login is unaffected.
        assert_eq!(server.services.purge_expired().await.unwrap(), 0);
        clock.advance(civpass_core::oidc::login::LOGIN_REQUEST_RETENTION);
        assert!(server.services.purge_expired().await.unwrap() >= 1);
        assert!(
            server
                .store
                .find_login_request(&civpass_core::kernel::LoginRequestId::from(
                    &waiting.link.request_id
                ))
                .await
                .unwrap()
                .is_none()
        );
        support::login_code(&server, &wallet, &AuthRequest::new(&id, CALLBACK, "openid")).await;
    }
}

#[tokio::test]
async fn forged_and_replayed_device_signatures_are_refused() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(26).await;
        let intruder = server.enrolled_wallet(27).await;
        let (id, browser, waiting) = support::start_login(&server, "openid").await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        let http = reqwest::Client::new();
        let decision_url = format!(
            "{}/api/v1/device/login-requests/{}/decision",
            server.base, waiting.link.request_id
        );

        // Another key signing in this device's name.
        let forged = civpass_wallet::Wallet::from_file(civpass_wallet::WalletFile {
            device_id: wallet.file.device_id.clone(),
            ..intruder.file.clone()
        })
        .unwrap();
        let err = forged
            .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &["openid".into()])
            .await
            .unwrap_err();
        assert_problem(err, 403, "bad-signature");
        // A signature that is not one.
        let body = serde_json::json!({
            "device_id": wallet.file.device_id, "decision": "approve", "match_code": waiting.match_code,
            "approved_scopes": ["openid"], "signature": "AAAA"
        });
        let res = http.post(&decision_url).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // Unknown device.
        let body =
            serde_json::json!({"device_id": "d_nope", "decision": "deny", "signature": "AAAA"});
        assert_eq!(
            http.post(&decision_url).json(&body).send().await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        // Malformed bodies get problem details and change nothing.
        for bad in [
            "{",
            "[]",
            "{\"device_id\": 1}",
            "{\"device_id\":\"x\",\"decision\":\"maybe\",\"signature\":\"x\"}",
        ] {
            let res = http
                .post(&decision_url)
                .header("content-type", "application/json")
                .body(bad)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
        }

        // The real approval, captured, cannot be replayed onto this or another request.
        let captured = wallet
            .decision_body(&view, Verdict::Approve, &waiting.match_code, &["openid".into()])
            .unwrap();
        assert_eq!(
            http.post(&decision_url).json(&captured).send().await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            http.post(&decision_url).json(&captured).send().await.unwrap().status(),
            StatusCode::CONFLICT
        );
        let other = support::open_login_page(
            &support::browser(),
            &server.base,
            &AuthRequest::new(&id, CALLBACK, "openid").url(&server.base),
        )
        .await;
        let other_url = format!(
            "{}/api/v1/device/login-requests/{}/decision",
            server.base, other.link.request_id
        );
        assert_eq!(
            http.post(&other_url).json(&captured).send().await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        assert!(support::query(&support::finish(&browser, &waiting).await, "code").is_some());
    }
}

#[tokio::test]
async fn a_wrong_matching_code_cancels_the_request() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(28).await;
        let (_, browser, waiting) = support::start_login(&server, "openid").await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        let wrong = format!("{:02}", (waiting.match_code.parse::<u32>().unwrap() + 1) % 100);
        let err = wallet
            .decide(&waiting.link, &view, Verdict::Approve, &wrong, &["openid".into()])
            .await
            .unwrap_err();
        assert_problem(err, 403, "wrong-match-code");
        let err = wallet
            .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &["openid".into()])
            .await
            .unwrap_err();
        assert_problem(err, 409, "login-request-decided");
        let res = browser.get(&waiting.page_url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert_eq!(support::query(&back, "error").as_deref(), Some("access_denied"));
        assert!(support::query(&back, "error_description").unwrap().contains("matching code"));
        assert_eq!(support::query(&back, "iss").as_deref(), Some(server.base.as_str()));
    }
}

#[tokio::test]
async fn approving_data_that_was_not_asked_for_is_refused() {
    let server = spawn_server(&backends()[0]).await;
    let wallet = server.enrolled_wallet(29).await;
    let (id, _) = server.client(CALLBACK).await;
    let waiting = support::open_login_page(
        &support::browser(),
        &server.base,
        &AuthRequest::new(&id, CALLBACK, "openid profile").url(&server.base),
    )
    .await;
    let view = wallet.fetch(&waiting.link).await.unwrap();
    for scopes in [vec!["openid".to_owned(), "hkid".to_owned()], vec!["profile".to_owned()]] {
        let err = wallet
            .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &scopes)
            .await
            .unwrap_err();
        assert_problem(err, 400, "invalid-scopes");
    }
    support::approve(&wallet, &waiting).await;
}

#[tokio::test]
async fn malformed_token_and_userinfo_requests_get_oauth_errors() {
    let server = spawn_server(&backends()[0]).await;
    let (id, secret) = server.client(CALLBACK).await;
    let http = reqwest::Client::new();
    let url = format!("{}/token", server.base);
    let res = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    let (status, body) =
        support::token(&server.base, (&id, &secret), &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body) = support::token(
        &server.base,
        (&id, &secret),
        &[("grant_type", "refresh_token"), ("grant_type", "refresh_token")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let res = http
        .post(&url)
        .header("authorization", "Basic !!!")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("www-authenticate").is_some());
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
    // No token at all: 401 with a bare challenge (RFC 6750 section 3.1).
    let (status, body) = support::userinfo(&server.base, "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_request"))
    );
    for token in ["abc", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        let (status, body) = support::userinfo(&server.base, token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            "{token}"
        );
    }
}

#[tokio::test]
async fn oversized_inputs_are_refused_before_they_cost_anything() {
    let server = civpass_testkit::spawn_server(&backends()[0]).await;
    let (id, secret) = server.client(CALLBACK).await;
    // Bodies over 64 KiB, at the token endpoint and the device API.
    let big = "x".repeat(70 * 1024);
    let res = reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/device/enrolments", server.base))
        .header("content-type", "application/json")
        .body(format!("{{\"id_number\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // An oversized state comes back as invalid_request, not stored.
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    let mut url = url::Url::parse(&req.url(&server.base)).unwrap();
    let long_state = "s".repeat(3000);
    url.query_pairs_mut().clear().extend_pairs([
        ("client_id", id.as_str()),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", long_state.as_str()),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ]);
    let res = support::browser().get(url.as_str()).send().await.unwrap();
    let back = url::Url::parse(&support::location(&res)).unwrap();
    assert_eq!(support::query(&back, "error").as_deref(), Some("invalid_request"));
    // So do an oversized nonce, acr_values and claims; at their limits they pass.
    for (name, value, refused) in [
        ("nonce", "n".repeat(513), true),
        ("nonce", "n".repeat(512), false),
        ("state", "s".repeat(2048), false),
        ("acr_values", "basic ".repeat(60), true),
        ("claims", format!("{{\"userinfo\":{{\"x\":{}}}}}", "null ".repeat(900)), true),
    ] {
        let mut url = url::Url::parse(&req.url(&server.base)).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(n, _)| n != name)
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs).append_pair(name, &value);
        let res = support::browser().get(url.as_str()).send().await.unwrap();
        let to = support::location(&res);
        if refused {
            let back = url::Url::parse(&to).unwrap();
            assert_eq!(
                support::query(&back, "error").as_deref(),
                Some("invalid_request"),
                "{name}"
            );
        } else {
            assert!(to.starts_with("/login/"), "{name} of {} bytes: {to}", value.len());
        }
    }
    // And a request head over 32 KiB is refused before any parsing.
    let mut url = url::Url::parse(&req.url(&server.base)).unwrap();
    url.query_pairs_mut().append_pair("padding", &"p".repeat(40 * 1024));
    let res = support::browser().get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn a_browser_and_an_address_hold_only_so_many_pending_logins() {
    for backend in backends() {
        let options = Options {
            fixed_clock: true,
            pending_caps: Some((3, 5)),
            trusted_proxies: &["127.0.0.1"],
            ..Options::default()
        };
        let server = spawn_server_with(&backend, options).await;
        let (id, _) = server.client(CALLBACK).await;
        let start = |browser: reqwest::Client| {
            let url = AuthRequest::new(&id, CALLBACK, "openid").url(&server.base);
            async move { browser.get(url).send().await.unwrap() }
        };
        let here = browser_at("civpass-test", "203.0.113.20");
        for _ in 0..3 {
            assert_eq!(start(here.clone()).await.status(), StatusCode::SEE_OTHER);
        }
        let res = start(here.clone()).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "a fourth in one browser");
        assert!(res.text().await.unwrap().contains("Too many logins in progress"));
        // A citizen at the same address who has been here before.
        let regular = browser_at("civpass-test", "203.0.113.20");
        assert_eq!(start(regular.clone()).await.status(), StatusCode::SEE_OTHER);
        // Strangers without cookies fill what the address may hold (here and the regular's
        // first visit count; their later ones do not)...
        for _ in 0..3 {
            let stranger = browser_at("civpass-test", "203.0.113.20");
            assert_eq!(start(stranger).await.status(), StatusCode::SEE_OTHER);
        }
        let stranger = browser_at("civpass-test", "203.0.113.20");
        assert_eq!(start(stranger).await.status(), StatusCode::TOO_MANY_REQUESTS, "a sixth");
        // ...but a browser with its cookie is counted on its own, and is not locked out.
        assert_eq!(start(regular.clone()).await.status(), StatusCode::SEE_OTHER);
        // A cookie civpass did not issue does not make a browser known.
        let forged = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(AuthRequest::new(&id, CALLBACK, "openid").url(&server.base))
            .header("x-forwarded-for", "203.0.113.20")
            .header("cookie", format!("civpass_browser={}.{}", "a".repeat(43), "b".repeat(43)))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
        // Another address is not affected, and an IPv6 /64 counts as one address.
        let elsewhere = browser_at("civpass-test", "2001:db8:5::1");
        assert_eq!(start(elsewhere).await.status(), StatusCode::SEE_OTHER);
        // Once they expire (two minutes), the browser may start again.
        server.clock.as_ref().unwrap().advance(121);
        assert_eq!(start(here).await.status(), StatusCode::SEE_OTHER);
        // Only a top-level navigation starts a login: an image on another site does not.
        let url = AuthRequest::new(&id, CALLBACK, "openid").url(&server.base);
        let res = browser_at("civpass-test", "198.51.100.9")
            .get(url)
            .header("sec-fetch-dest", "image")
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

/// HMAC-SHA256 (RFC 2104), by hand: the forger's tool, not ours.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::digest([pad(0x36), message.to_vec()].concat());
    Sha256::digest([pad(0x5c), inner.to_vec()].concat()).to_vec()
}

#[tokio::test]
async fn forged_and_confused_tokens_are_refused_at_userinfo() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let server = spawn_server(&backends()[0]).await;
    let (id, secret) = server.client(CALLBACK).await;
    let wallet = server.enrolled_wallet(24).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid profile");
    let code = support::login_code(&server, &wallet, &req).await;
    let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = support::userinfo(&server.base, access).await;
    assert_eq!(status, StatusCode::OK, "the genuine token works");

    // The same claims, re-signed with HS256 keyed by our own public key (as its JWK text and
    // as its raw point): the classic algorithm confusion.
    let payload = access.split('.').nth(1).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    let jwks = reqwest::get(format!("{}/jwks", server.base))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap();
    let raw_point = [
        B64.decode(jwk["x"].as_str().unwrap()).unwrap(),
        B64.decode(jwk["y"].as_str().unwrap()).unwrap(),
    ]
    .concat();
    let forged_header = B64.encode(
        serde_json::json!({"alg": "HS256", "typ": header["typ"], "kid": header["kid"]}).to_string(),
    );
    let none_header =
        B64.encode(serde_json::json!({"alg": "none", "typ": header["typ"]}).to_string());
    let signing_input = format!("{forged_header}.{payload}");
    let mut forgeries = Vec::new();
    for key in [jwk.to_string().into_bytes(), raw_point] {
        let mac = B64.encode(hmac_sha256(&key, signing_input.as_bytes()));
        forgeries.push(format!("{signing_input}.{mac}"));
    }
    forgeries.push(format!("{none_header}.{payload}."));
    // An ID token is not an access token, though we signed it with the same key.
    forgeries.push(tokens["id_token"].as_str().unwrap().to_owned());
    for token in forgeries {
        let (status, body) = support::userinfo(&server.base, &token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            "{token}"
        );
    }
}

#[tokio::test]
async fn a_code_injected_into_another_session_fails_its_pkce_check() {
    // CSRF on the callback / code injection (RFC 9700 section 4.5): the attacker logs in as
    // themselves and plants their code on the victim's callback; the victim's client redeems
    // it with the victim's own PKCE verifier.
    let server = spawn_server(&backends()[0]).await;
    let (id, secret) = server.client(CALLBACK).await;
    let attacker = server.enrolled_wallet(35).await;
    let attackers_request = AuthRequest::new(&id, CALLBACK, "openid");
    let planted = support::login_code(&server, &attacker, &attackers_request).await;
    let victims_request = AuthRequest::new(&id, CALLBACK, "openid");
    let (status, body) =
        support::redeem(&server.base, (&id, &secret), &victims_request, &planted).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    // Nothing was issued, and the code still belongs to the attacker's own session only.
    let (status, _) =
        support::redeem(&server.base, (&id, &secret), &attackers_request, &planted).await;
    assert_eq!(status, StatusCode::OK);
}

/// A browser with its own User-Agent, behind the trusted proxy at 127.0.0.1 that names it
/// `address`.
fn browser_at(user_agent: &str, address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_relayed_login_shows_the_citizen_the_browser_system_and_place_it_began_in() {
    for backend in backends() {
        let options = Options { trusted_proxies: &["127.0.0.1"], ..Options::default() };
        let server = spawn_server_with(&backend, options).await;
        let wallet = server.enrolled_wallet(3).await;
        let (id, _) = server.client(CALLBACK).await;
        // A phishing page relays the QR link (and would relay the code) from far away.
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let phisher = browser_at(firefox, "198.51.100.7");
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let waiting =
            support::open_login_page(&phisher, &server.base, &req.url(&server.base)).await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        assert_eq!(view.context.browser.as_deref(), Some("Firefox"));
        assert_eq!(view.context.os.as_deref(), Some("Linux"));
        assert_eq!(view.context.place.as_deref(), Some("Lagos, Nigeria"));
        assert_eq!(view.context.place_zh_hans.as_deref(), Some("拉各斯, 尼日利亚"));
        // Login requests are short-lived: two minutes.
        assert_eq!(view.expires_at - view.started_at, 120);
        // The place is personal data: sealed in the store.
        let stored = server
            .store
            .find_login_request(&civpass_core::kernel::LoginRequestId::from(&view.request_id))
            .await
            .unwrap()
            .unwrap();
        let sealed = stored.sealed_context.unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"Lagos"));

        // Where the database knows no place, the app is told nothing rather than a guess.
        let unknown = browser_at("curl/8.5.0", "8.8.8.8");
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let waiting =
            support::open_login_page(&unknown, &server.base, &req.url(&server.base)).await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        assert_eq!(view.context.place, None);
        assert_eq!(view.context.os, None);
    }
}
