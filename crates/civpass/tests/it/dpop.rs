//! DPoP (RFC 9449): sender-constrained tokens, nonces, proof checks and binding at UserInfo and
//! on refresh; each attack gets its exact rejection. On both databases.

use civpass_core::kernel::clock::Clock;
use civpass_core::oidc::clients::ClientSpec;
use civpass_core::oidc::model::GrantType;
use civpass_crypto::jws::Algorithm;
use civpass_crypto::secret::{b64url, sha256};
use civpass_testkit::{DpopKey, Options, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{self, AuthRequest, CALLBACK};

struct Answer {
    status: StatusCode,
    body: Value,
    nonce: Option<String>,
    challenge: Option<String>,
}

async fn answer(res: reqwest::Response) -> Answer {
    let header = |name: &str| {
        let values: Vec<&str> =
            res.headers().get_all(name).iter().map(|v| v.to_str().unwrap()).collect();
        (!values.is_empty()).then(|| values.join(" | "))
    };
    let (nonce, challenge) = (header("dpop-nonce"), header("www-authenticate"));
    let status = res.status();
    Answer { status, body: res.json().await.unwrap_or(Value::Null), nonce, challenge }
}

/// A client-authenticated form POST to `path`, with a DPoP proof if given.
async fn post_form(
    server: &TestServer,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .basic_auth(client.0, Some(client.1))
        .form(form);
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    answer(req.send().await.unwrap()).await
}

async fn token_request(
    server: &TestServer,
    client: (&str, &str),
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> Answer {
    post_form(server, "/token", client, form, proof).await
}

async fn userinfo(server: &TestServer, scheme: &str, token: &str, proof: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new()
        .get(format!("{}/userinfo", server.base))
        .header("authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    answer(req.send().await.unwrap()).await
}

fn now(server: &TestServer) -> i64 {
    server.clock.as_ref().map(|c| c.now()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    })
}

#[tokio::test]
async fn dpop_binds_tokens_to_the_clients_key_with_a_nonce() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let key = DpopKey::new(Algorithm::ES256);
        let token_url = format!("{}/token", server.base);
        let (id, secret) = server.client(CALLBACK).await;
        let wallet = server.enrolled_wallet(60).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let code = support::login_code(&server, &wallet, &req).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", req.verifier.as_str()),
        ];
        // Without a nonce: told to use ours, and given one.
        let first = token_request(
            &server,
            (&id, &secret),
            &form,
            Some(&key.proof("POST", &token_url, now(&server), None, None)),
        )
        .await;
        assert_eq!(
            (first.status, first.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("use_dpop_nonce"))
        );
        let nonce = first.nonce.expect("a DPoP-Nonce header");
        let tokens = token_request(
            &server,
            (&id, &secret),
            &form,
            Some(&key.proof("POST", &token_url, now(&server), Some(&nonce), None)),
        )
        .await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
        assert_eq!(tokens.body["token_type"], "DPoP");
        let access = tokens.body["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens.body["refresh_token"].as_str().unwrap().to_owned();
        let seen: Value = reqwest::Client::new()
            .post(format!("{}/introspect", server.base))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seen["cnf"]["jkt"], key.jkt());
        assert_eq!(seen["token_type"], "DPoP", "RFC 9449 section 6.2");

        // UserInfo: only with the DPoP scheme and a proof of this key for this token.
        let url = format!("{}/userinfo", server.base);
        let ok = userinfo(
            &server,
            "DPoP",
            &access,
            Some(&key.proof("GET", &url, now(&server), None, Some(&access))),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert!(ok.body["name"].is_string());
        let thief = DpopKey::new(Algorithm::ES256);
        let replayed_claims = DpopKey::claims("GET", &url, now(&server), None, Some(&access));
        let replayed = key.sign(&replayed_claims);
        assert_eq!(
            userinfo(&server, "DPoP", &access, Some(&replayed)).await.status,
            StatusCode::OK
        );
        let cases: Vec<(&str, &str, Option<String>)> = vec![
            ("as a bearer token", "Bearer", None),
            ("without a proof", "DPoP", None),
            (
                "with the thief's key",
                "DPoP",
                Some(thief.proof("GET", &url, now(&server), None, Some(&access))),
            ),
            ("with a replayed proof", "DPoP", Some(replayed)),
            (
                "for another method",
                "DPoP",
                Some(key.proof("POST", &url, now(&server), None, Some(&access))),
            ),
            (
                "for another URL",
                "DPoP",
                Some(key.proof("GET", &token_url, now(&server), None, Some(&access))),
            ),
            ("without ath", "DPoP", Some(key.proof("GET", &url, now(&server), None, None))),
            (
                "for another token",
                "DPoP",
                Some(key.proof("GET", &url, now(&server), None, Some("other"))),
            ),
            (
                "made ten minutes ago",
                "DPoP",
                Some(key.proof("GET", &url, now(&server) - 600, None, Some(&access))),
            ),
        ];
        for (what, scheme, proof) in cases {
            let res = userinfo(&server, scheme, &access, proof.as_deref()).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{what}");
            assert!(res.challenge.unwrap_or_default().contains("DPoP"), "{what}: a DPoP challenge");
        }

        // The refresh token is bound too: without the key it is useless.
        let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        let res = token_request(&server, (&id, &secret), &refresh_form, None).await;
        assert_eq!(
            (res.status, res.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
        );
        let nonce = res.nonce.unwrap();
        let res = token_request(
            &server,
            (&id, &secret),
            &refresh_form,
            Some(&thief.proof("POST", &token_url, now(&server), Some(&nonce), None)),
        )
        .await;
        assert_eq!(
            (res.status, res.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
        );
        let res = token_request(
            &server,
            (&id, &secret),
            &refresh_form,
            Some(&key.proof("POST", &token_url, now(&server), Some(&nonce), None)),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.body["token_type"], "DPoP");
        // Outside --fapi2 a bound refresh token still rotates: the old one, even with the key,
        // is a replay.
        assert_ne!(res.body["refresh_token"], refresh.as_str());
        let nonce = res.nonce.unwrap();
        let res = token_request(
            &server,
            (&id, &secret),
            &refresh_form,
            Some(&key.proof("POST", &token_url, now(&server), Some(&nonce), None)),
        )
        .await;
        assert_eq!(res.body["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn bad_proofs_at_the_token_endpoint_are_refused() {
    let server =
        spawn_server_with(&backends()[0], Options { fixed_clock: true, ..Options::default() })
            .await;
    let clock = server.clock.clone().unwrap();
    let mut spec = ClientSpec::web("Bound", &[CALLBACK.to_owned()]);
    spec.grant_types = vec![GrantType::ClientCredentials];
    spec.require_dpop = true;
    let created = server.services.oidc.register_client(spec).await.unwrap();
    let client = (created.client.id.as_str(), created.secret.as_deref().unwrap());
    let url = format!("{}/token", server.base);
    let cc = [("grant_type", "client_credentials")];
    let key = DpopKey::new(Algorithm::RS256);

    let res = token_request(&server, client, &cc, None).await;
    assert_eq!(
        (res.status, res.body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
        "this client must use DPoP"
    );
    let nonce = res.nonce.unwrap();
    let good = key.proof("POST", &url, clock.now(), Some(&nonce), None);
    let res = token_request(&server, client, &cc, Some(&good)).await;
    assert_eq!((res.status, res.body["token_type"].as_str()), (StatusCode::OK, Some("DPoP")));

    let mut unsigned_claims = DpopKey::claims("POST", &url, clock.now(), Some(&nonce), None);
    unsigned_claims["jti"] = serde_json::json!("x");
    let cases: Vec<(&str, String, &str)> = vec![
        ("replayed", good, "invalid_dpop_proof"),
        ("for GET", key.proof("GET", &url, clock.now(), Some(&nonce), None), "invalid_dpop_proof"),
        (
            "for another URL",
            key.proof("POST", "https://other.example/token", clock.now(), Some(&nonce), None),
            "invalid_dpop_proof",
        ),
        (
            "from the future",
            key.proof("POST", &url, clock.now() + 300, Some(&nonce), None),
            "invalid_dpop_proof",
        ),
        (
            "with a forged nonce",
            key.proof("POST", &url, clock.now(), Some("AAAAAAAAAAA.forged"), None),
            "use_dpop_nonce",
        ),
        ("not a JWT", "garbage".to_owned(), "invalid_dpop_proof"),
        (
            "alg none",
            {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                format!(
                "{}.{}.",
                b64.encode(serde_json::json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.key.public_jwk()}).to_string()),
                b64.encode(unsigned_claims.to_string())
            )
            },
            "invalid_dpop_proof",
        ),
    ];
    for (what, proof, error) in cases {
        let res = token_request(&server, client, &cc, Some(&proof)).await;
        assert_eq!(
            (res.status, res.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{what}"
        );
    }
    // Two DPoP headers are one too many.
    let res = reqwest::Client::new()
        .post(&url)
        .basic_auth(client.0, Some(client.1))
        .header("DPoP", key.proof("POST", &url, clock.now(), Some(&nonce), None))
        .header("DPoP", key.proof("POST", &url, clock.now(), Some(&nonce), None))
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Nonces go stale after five minutes.
    clock.advance(301);
    let res = token_request(
        &server,
        client,
        &cc,
        Some(&key.proof("POST", &url, clock.now(), Some(&nonce), None)),
    )
    .await;
    assert_eq!(res.body["error"], "use_dpop_nonce");
}

async fn push(
    server: &TestServer,
    client: (&str, &str),
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> Answer {
    post_form(server, "/par", client, form, proof).await
}

/// A login begun at `url`, approved by `wallet`, to the code it returns.
async fn code_from(server: &TestServer, wallet: &civpass_wallet::Wallet, url: &str) -> String {
    let browser = support::browser();
    let waiting = support::open_login_page(&browser, &server.base, url).await;
    support::approve(wallet, &waiting).await;
    let back = support::finish(&browser, &waiting).await;
    support::query(&back, "code").expect("a code")
}

#[tokio::test]
async fn a_code_is_bound_to_the_dpop_key_by_a_proof_at_par_or_by_dpop_jkt() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (key, thief) = (DpopKey::new(Algorithm::ES256), DpopKey::new(Algorithm::ES256));
        let (id, secret) = server.client(CALLBACK).await;
        let client = (id.as_str(), secret.as_str());
        let wallet = server.enrolled_wallet(61).await;
        let (par_url, token_url) =
            (format!("{}/par", server.base), format!("{}/token", server.base));
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let challenge = b64url(&sha256(req.verifier.as_bytes()));
        let form = vec![
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];

        // RFC 9449 section 10.1: a proof sent with the push; the nonce is asked for first.
        let first = push(
            &server,
            client,
            &form,
            Some(&key.proof("POST", &par_url, now(&server), None, None)),
        )
        .await;
        assert_eq!(
            (first.status, first.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("use_dpop_nonce"))
        );
        let nonce = first.nonce.expect("a DPoP-Nonce header");
        let proof = |k: &DpopKey, url: &str| k.proof("POST", url, now(&server), Some(&nonce), None);
        let wrong_endpoint = push(&server, client, &form, Some(&proof(&key, &token_url))).await;
        assert_eq!(
            (wrong_endpoint.status, wrong_endpoint.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
        );
        let at_par = proof(&key, &par_url);
        let pushed = push(&server, client, &form, Some(&at_par)).await;
        assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
        let replayed = push(&server, client, &form, Some(&at_par)).await;
        assert_eq!(
            (replayed.status, replayed.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
            "a proof is used once at PAR too"
        );
        let mut authorize = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("client_id", &id)
            .append_pair("request_uri", pushed.body["request_uri"].as_str().unwrap());
        let code = code_from(&server, &wallet, authorize.as_str()).await;
        let redeem = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", req.verifier.as_str()),
        ];
        let bare = token_request(&server, client, &redeem, None).await;
        assert_eq!(
            (bare.status, bare.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
        );
        let stolen =
            token_request(&server, client, &redeem, Some(&proof(&thief, &token_url))).await;
        assert_eq!(
            (stolen.status, stolen.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        // Neither burnt the code for its rightful holder.
        let tokens = token_request(&server, client, &redeem, Some(&proof(&key, &token_url))).await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
        assert_eq!(tokens.body["token_type"], "DPoP");

        // The dpop_jkt parameter, here in the front channel.
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let url = format!("{}&dpop_jkt={}", req.url(&server.base), key.jkt());
        let code = code_from(&server, &wallet, &url).await;
        let redeem = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", req.verifier.as_str()),
        ];
        let stolen =
            token_request(&server, client, &redeem, Some(&proof(&thief, &token_url))).await;
        assert_eq!(stolen.body["error"], "invalid_grant");
        let tokens = token_request(&server, client, &redeem, Some(&proof(&key, &token_url))).await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);

        // Both at once must name the same key; a dpop_jkt must look like a thumbprint.
        let mut both = form.clone();
        both.push(("dpop_jkt", thief.jkt()));
        let answer = push(&server, client, &both, Some(&proof(&key, &par_url))).await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
        );
        let mut malformed = form.clone();
        malformed.push(("dpop_jkt", "not-a-thumbprint"));
        let answer = push(&server, client, &malformed, None).await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request"))
        );
        let front = format!("{}&dpop_jkt=not-a-thumbprint", req.url(&server.base));
        let res = support::browser().get(front).send().await.unwrap();
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert_eq!(support::query(&back, "error").as_deref(), Some("invalid_request"));

        // Without either, nothing changes: a pushed request without a proof stays unbound.
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let challenge = b64url(&sha256(req.verifier.as_bytes()));
        let mut form = form.clone();
        form[3] = ("code_challenge", challenge.as_str());
        let answer = push(&server, client, &form, None).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let mut authorize = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("client_id", &id)
            .append_pair("request_uri", answer.body["request_uri"].as_str().unwrap());
        let code = code_from(&server, &wallet, authorize.as_str()).await;
        let (status, tokens) = support::redeem(&server.base, client, &req, &code).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
    }
}
