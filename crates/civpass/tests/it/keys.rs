//! Signing keys: rotation publishes the next key before it signs and retires the old one after
//! the longest token lifetime; each client gets ID tokens in the algorithm it registered
//! (ES256, RS256, PS256, EdDSA), checked by an independent JWT library. On both databases.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use civpass_crypto::external::{parse_jwks, verify_with_jwks};
use civpass_crypto::jws::Algorithm;
use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use serde_json::Value;

use crate::support::{self, AuthRequest, CALLBACK};

async fn jwks(server: &TestServer) -> Value {
    reqwest::get(format!("{}/jwks", server.base)).await.unwrap().json().await.unwrap()
}

fn kids(jwks: &Value, alg: &str) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == alg)
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn header(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap()
}

/// An ID token for a new login at a client that wants `alg`.
async fn id_token(server: &TestServer, alg: Algorithm, person: usize) -> String {
    let created = server
        .services
        .oidc
        .create_client_with("Keys service", &[CALLBACK.to_owned()], false, alg)
        .await
        .unwrap();
    let (id, secret) = (created.client.id, created.secret.unwrap());
    let wallet = server.enrolled_wallet(person).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    let code = support::login_code(server, &wallet, &req).await;
    let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
    tokens["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_rotated_key_is_published_first_signs_later_and_the_old_one_retires() {
    for backend in backends() {
        let server =
            spawn_server_with(&backend, Options { fixed_clock: true, ..Options::default() }).await;
        let clock = server.clock.clone().unwrap();
        let before = jwks(&server).await;
        for alg in ["ES256", "RS256", "PS256", "EdDSA"] {
            assert_eq!(kids(&before, alg).len(), 1, "one {alg} key at first start");
        }
        let old = kids(&before, "ES256").remove(0);
        let rotated = server.services.keys.rotate_keys(&[Algorithm::ES256], 600).await.unwrap();
        let new = rotated[0].new_kid.clone();
        assert_eq!(rotated[0].retiring, vec![(old.clone(), clock_now(&server) + 600 + 600)]);

        let published = kids(&jwks(&server).await, "ES256");
        assert!(
            published.contains(&old) && published.contains(&new),
            "the next key is published at once"
        );
        assert_eq!(
            header(&id_token(&server, Algorithm::ES256, 100).await)["kid"],
            old,
            "but does not sign yet"
        );

        clock.advance(600);
        assert_eq!(
            header(&id_token(&server, Algorithm::ES256, 101).await)["kid"],
            new,
            "it signs from activation"
        );
        assert!(
            kids(&jwks(&server).await, "ES256").contains(&old),
            "the old key stays while its tokens live"
        );

        clock.advance(600);
        assert_eq!(kids(&jwks(&server).await, "ES256"), vec![new], "then it retires");
        assert_eq!(kids(&jwks(&server).await, "RS256").len(), 1, "other algorithms are untouched");
    }
}

fn clock_now(server: &TestServer) -> i64 {
    use civpass_core::kernel::clock::Clock;
    server.clock.as_ref().unwrap().now()
}

#[tokio::test]
async fn id_tokens_come_in_the_algorithm_each_client_registered() {
    let server = spawn_server_with(&backends()[0], Options::default()).await;
    let set = parse_jwks(&jwks(&server).await.to_string()).unwrap();
    for (n, alg) in [Algorithm::ES256, Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA]
        .into_iter()
        .enumerate()
    {
        let token = id_token(&server, alg, 110 + n).await;
        assert_eq!(header(&token)["alg"], alg.as_str());
        // jsonwebtoken, not our own code, checks the signature against the published JWKS.
        let verified =
            verify_with_jwks(&token, &set).unwrap_or_else(|e| panic!("{}: {e}", alg.as_str()));
        assert_eq!(verified.claims["iss"], server.base);
    }
    let discovery = support::discovery(&server.base).await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256", "PS256", "EdDSA"])
    );
}
