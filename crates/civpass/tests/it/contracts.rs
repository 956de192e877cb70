//! The contracts relying parties and devices build on, pinned as snapshots (insta, in
//! `snapshots/`): the discovery document, the token response and the claims of ID, access and
//! logout tokens, the device API's problem types, and the OpenAPI document. A snapshot may
//! change only in a commit that names the change and why (`cargo insta review`, or
//! `INSTA_UPDATE=always` and read the diff).
//!
//! Values that differ from run to run (the issuer's port, ids, times, keys, tokens) are
//! replaced by what they are, so that the snapshot shows shapes and fixed values only.

use std::time::Duration;

use civpass_testkit::{backends, spawn_server};
use serde_json::Value;

use crate::support::{self, AuthRequest, CALLBACK};

const ISSUER: &str = "https://issuer.example";

/// `value` with the test server's address written as `ISSUER`.
fn at_fixed_issuer(value: &Value, base: &str) -> Value {
    serde_json::from_str(&value.to_string().replace(base, ISSUER)).unwrap()
}

/// `value` with the members named in `varying` replaced by a word saying what they hold.
fn fixed(mut value: Value, varying: &[(&str, &str)]) -> Value {
    if let Some(object) = value.as_object_mut() {
        for (name, what) in varying {
            if let Some(member) = object.get_mut(*name) {
                *member = Value::String(format!("[{what}]"));
            }
        }
    }
    value
}

/// The protected header of a JWT.
fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_discovery_document() {
    let server = spawn_server(&backends()[0]).await;
    let discovery = support::discovery(&server.base).await;
    insta::assert_json_snapshot!("discovery", at_fixed_issuer(&discovery, &server.base));
}

#[tokio::test]
async fn the_token_response_and_the_claims_of_id_access_and_logout_tokens() {
    let server = spawn_server(&backends()[0]).await;
    let (receiver, received) = crate::logout::receiver().await;
    let (id, secret) = crate::logout::client_with(&server, Some(receiver)).await;
    let wallet = server.enrolled_wallet(40).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid profile hkid birthdate gender");
    let code = support::login_code(&server, &wallet, &req).await;
    let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let response = fixed(
        tokens,
        &[("access_token", "token"), ("refresh_token", "token"), ("id_token", "token")],
    );
    insta::assert_json_snapshot!("token_response", response);

    let times = [("iat", "time"), ("exp", "time"), ("auth_time", "time"), ("nbf", "time")];
    let ids = [
        ("sub", "pairwise subject"),
        ("aud", "client_id"),
        ("azp", "client_id"),
        ("client_id", "client_id"),
        ("jti", "unique id"),
        ("gid", "grant id"),
        ("sid", "session id"),
        ("nonce", "the request's nonce"),
        ("at_hash", "hash"),
    ];
    let varying: Vec<(&str, &str)> = times.iter().chain(&ids).copied().collect();
    let header = [("kid", "key id")];
    let id_claims = at_fixed_issuer(&support::jwt_claims(&id_token), &server.base);
    insta::assert_json_snapshot!("id_token_header", fixed(jwt_header(&id_token), &header));
    insta::assert_json_snapshot!("id_token_claims", fixed(id_claims, &varying));
    let access_claims = at_fixed_issuer(&support::jwt_claims(&access_token), &server.base);
    insta::assert_json_snapshot!("access_token_header", fixed(jwt_header(&access_token), &header));
    insta::assert_json_snapshot!("access_token_claims", fixed(access_claims, &varying));

    // Unlinking in the app sends the back-channel logout token.
    let session = wallet.open_session().await.unwrap();
    wallet.unlink(&session, &id).await.unwrap();
    for _ in 0..150 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = received.lock().unwrap().first().cloned().expect("a logout token was sent");
    let logout = at_fixed_issuer(&crate::logout::logout_token(&body), &server.base);
    insta::assert_json_snapshot!("logout_token_claims", fixed(logout, &varying));
}

#[tokio::test]
async fn the_problem_types_of_the_device_api() {
    let server = spawn_server(&backends()[0]).await;
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1/device{path}", server.base);
    let wallet = server.enrolled_wallet(41).await;
    let device_id = wallet.file.device_id.clone().unwrap();
    let mut seen = Vec::new();
    let mut record = |what: &str, status: reqwest::StatusCode, body: Value| {
        seen.push(serde_json::json!({
            "request": what,
            "status": status.as_u16(),
            "type": body["type"],
            "title": body["title"],
        }));
    };
    for (what, res) in [
        ("GET an unknown login request", http.get(api("/login-requests/nope")).send().await),
        (
            "POST a decision that is not JSON",
            http.post(api("/login-requests/nope/decision"))
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await,
        ),
        (
            "POST a session challenge for an unknown device",
            http.post(api("/sessions/challenge"))
                .json(&serde_json::json!({"device_id": "d_unknown"}))
                .send()
                .await,
        ),
        (
            "POST a session with a challenge never issued",
            http.post(api("/sessions"))
                .json(&serde_json::json!({
                    "device_id": device_id, "ceremony_id": "c_nope", "signature": "AAAA"
                }))
                .send()
                .await,
        ),
        ("GET my data without a session", http.get(api("/me")).send().await),
        (
            "POST an enrolment with a malformed ID number",
            http.post(api("/enrolments"))
                .json(&serde_json::json!({
                    "id_number": "X", "name_en": "A", "date_of_birth": "2000-01-01",
                    "public_key": wallet.public_key(), "proof": "AAAA"
                }))
                .send()
                .await,
        ),
        (
            "POST an identity check for a malformed ID number",
            http.post(api("/identity-checks"))
                .json(&serde_json::json!({"id_number": "X"}))
                .send()
                .await,
        ),
    ] {
        let res = res.unwrap();
        let status = res.status();
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "application/problem+json",
            "{what}"
        );
        record(what, status, res.json().await.unwrap());
    }
    insta::assert_json_snapshot!("device_api_problems", seen);
}

#[test]
fn the_openapi_document() {
    insta::assert_json_snapshot!(
        "openapi",
        serde_json::to_value(civpass_server::openapi_document()).unwrap()
    );
}
