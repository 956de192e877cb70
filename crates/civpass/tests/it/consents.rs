//! Standing consents the citizen controls: purpose and expiry kept with each, a receipt the
//! citizen can download, and withdrawal (or expiry) told to the service at once by Security
//! Event Tokens (RFC 8417) pushed to it (RFC 8935) through the outbox. The tokens and the
//! receipt are checked with `jsonwebtoken` against the published JWKS, not with civpass's
//! own verifier. On both databases.

use std::time::Duration;

use civpass_core::oidc::clients::ClientSpec;
use civpass_testkit::{Options, TestServer, backends, spawn_server, spawn_server_with};
use serde_json::{Value, json};

use crate::logout::receiver;
use crate::support::{self, AuthRequest, CALLBACK};

/// Verifies `jwt` with the JWKS the provider publishes, as a service would, and checks its
/// `typ`; returns its claims.
async fn verified(server: &TestServer, jwt: &str, typ: &str, audience: Option<&str>) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some(typ));
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::get(format!("{}/jwks", server.base)).await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the key is in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_issuer(&[&server.base]);
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("verifies").claims
}

async fn client_pushing_to(server: &TestServer, uri: Option<String>) -> (String, String) {
    let mut spec = ClientSpec::web("Housing Authority", &[CALLBACK.to_owned()]);
    spec.security_events_push_uri = uri;
    let created = server.services.oidc.register_client(spec).await.unwrap();
    (created.client.id.into(), created.secret.unwrap())
}

/// A login with `purpose` asking for `scope`; returns the ID token's `sub` and `sid`.
async fn login(
    server: &TestServer,
    client: (&str, &str),
    wallet: &civpass_wallet::Wallet,
    scope: &str,
) -> (String, String) {
    let req = AuthRequest::new(client.0, CALLBACK, scope);
    let url = crate::oidc_params::with(
        &req,
        server,
        &[("purpose", "To process your public housing application")],
    );
    let browser = support::browser();
    let waiting = support::open_login_page(&browser, &server.base, &url).await;
    support::approve(wallet, &waiting).await;
    let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
    let (_, tokens) = support::redeem(&server.base, client, &req, &code).await;
    let claims = crate::oidc_params::id_token_claims(tokens["id_token"].as_str().unwrap());
    (
        claims["sub"].as_str().unwrap().to_owned(),
        claims["sid"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn wait_for(
    received: &std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    n: usize,
) -> Vec<String> {
    for _ in 0..150 {
        if received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    received.lock().unwrap().clone()
}

#[tokio::test]
async fn a_withdrawn_consent_is_pushed_to_the_service_as_signed_security_events() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (uri, received) = receiver().await;
        let (id, secret) = client_pushing_to(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(12).await;
        let (sub, _) = login(&server, (&id, &secret), &wallet, "openid profile").await;
        login(&server, (&id, &secret), &wallet, "openid profile").await;

        // The standing consent says what, what for and until when; its receipt says the same.
        let session = wallet.open_session().await.unwrap();
        let services = wallet.services(&session).await.unwrap();
        let linked = &services[0];
        assert_eq!(linked.purpose.as_deref(), Some("To process your public housing application"));
        assert_eq!(linked.claims, ["name", "family_name", "given_name", "name#zh-Hant-HK"]);
        let expires = linked.expires_at.unwrap();
        assert_eq!(expires - linked.last_consent_at, 365 * 24 * 3600);
        let receipt = wallet.consent_receipt(&session, &id).await.unwrap();
        let receipt = verified(&server, &receipt, "consent-receipt+jwt", None).await;
        assert_eq!(receipt["sub"], sub, "the citizen as that service knows them");
        assert_eq!(receipt["consent"]["client_name"], "Housing Authority");
        assert_eq!(receipt["consent"]["purpose"], "To process your public housing application");
        assert_eq!(receipt["consent"]["claims"], json!(linked.claims));
        assert_eq!(receipt["consent"]["expires_at"], expires);

        // Withdrawal: one consent-ended and one session-revoked per session, each a SET.
        wallet.unlink(&session, &id).await.unwrap();
        let bodies = wait_for(&received, 3).await;
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        let mut types = Vec::new();
        for body in &bodies {
            let set = verified(&server, body, "secevent+jwt", Some(&id)).await;
            assert!(set["jti"].is_string() && set["iat"].is_i64());
            let events = set["events"].as_object().unwrap();
            assert_eq!(events.len(), 1);
            let (event_type, event) = events.iter().next().unwrap();
            types.push(event_type.clone());
            if event_type.ends_with("consent-ended") {
                assert_eq!(
                    set["sub_id"],
                    json!({"format": "iss_sub", "iss": server.base, "sub": sub})
                );
                assert_eq!(event["reason"], "withdrawn");
                assert_eq!(event["scopes"], json!(["openid", "profile"]));
                assert_eq!(event["purpose"], "To process your public housing application");
            } else {
                assert_eq!(set["sub_id"]["format"], "complex");
                assert_eq!(set["sub_id"]["user"]["sub"], sub);
                assert!(set["sub_id"]["session"]["id"].is_string());
                assert_eq!(event["initiating_entity"], "user");
            }
        }
        types.sort();
        assert_eq!(
            types,
            [
                "https://civpass.dev/secevent/consent-ended",
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
            ]
        );
        let services = wallet.services(&session).await.unwrap();
        assert!(services.is_empty());
    }
}

#[tokio::test]
async fn a_consent_withdrawn_before_the_code_is_redeemed_links_nothing_and_a_narrower_one_adds_to_it()
 {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = client_pushing_to(&server, None).await;
        let wallet = server.enrolled_wallet(20).await;
        login(&server, (&id, &secret), &wallet, "openid profile birthdate").await;
        login(&server, (&id, &secret), &wallet, "openid").await;
        let session = wallet.open_session().await.unwrap();
        let services = wallet.services(&session).await.unwrap();
        assert_eq!(
            services[0].scopes,
            ["openid", "profile", "birthdate"],
            "the narrower approval adds to the consent"
        );
        assert!(services[0].claims.contains(&"birthdate".to_owned()));

        // Approved, then withdrawn before the service redeems its code.
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let browser = support::browser();
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        support::approve(&wallet, &waiting).await;
        wallet.unlink(&session, &id).await.unwrap();
        let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
        // Linking the service anew (a second later) does not revive the code approved under
        // the consent that was withdrawn.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        login(&server, (&id, &secret), &wallet, "openid").await;
        let (status, body) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")));
        let services = wallet.services(&session).await.unwrap();
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].scopes, ["openid"], "the old code's profile was not released");
    }
}

#[tokio::test]
async fn an_expired_consent_ends_the_services_grants_and_tells_it() {
    for backend in backends() {
        let server =
            spawn_server_with(&backend, Options { fixed_clock: true, ..Options::default() }).await;
        let (uri, received) = receiver().await;
        let (id, secret) = client_pushing_to(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(13).await;
        login(&server, (&id, &secret), &wallet, "openid birthdate").await;
        assert_eq!(server.services.account.end_expired_consents().await.unwrap(), 0);
        server.clock.as_ref().unwrap().advance(365 * 24 * 3600);
        // The node's housekeeping may get there first (its first round runs at start, and may
        // be late on a busy machine): either way the consent ends once.
        let ended = server.services.account.end_expired_consents().await.unwrap();
        assert!(ended <= 1);
        let bodies = wait_for(&received, 2).await;
        let set = verified(&server, &bodies[0], "secevent+jwt", Some(&id)).await;
        let event = set["events"]["https://civpass.dev/secevent/consent-ended"].clone();
        assert_eq!(event["reason"], "expired");
        // The service is no longer linked.
        let session = wallet.open_session().await;
        assert!(session.is_ok());
        assert!(wallet.services(&session.unwrap()).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_purpose_outside_three_to_three_hundred_characters_fails_the_request() {
    let server = spawn_server(&backends()[0]).await;
    let (id, _) = client_pushing_to(&server, None).await;
    for bad in ["ab", &"x".repeat(301), "a\u{202E}bc"] {
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let url = crate::oidc_params::with(&req, &server, &[("purpose", bad)]);
        let res = support::browser().get(url).send().await.unwrap();
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert_eq!(support::query(&back, "error").as_deref(), Some("invalid_request"), "{bad}");
    }
}
