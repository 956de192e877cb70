//! The FAPI 2.0 Security Profile as a platform policy (`serve --fapi2`): only `private_key_jwt`
//! clients, every authorization request pushed, every token bound to a DPoP key, PKCE always.
//! A whole login under it, and each shortcut refused. On both databases.

use civpass_core::oidc::clients::{ClientSpec, JWT_BEARER};
use civpass_core::oidc::model::{AuthMethod, GrantType};
use civpass_crypto::jws::{Algorithm, SigningKey};
use civpass_crypto::secret::{b64url, random_token, sha256};
use civpass_testkit::{DpopKey, Options, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn assertion(server: &TestServer, id: &str, key: &SigningKey) -> String {
    key.sign("JWT", &json!({"iss": id, "sub": id, "aud": server.base, "exp": now() + 60, "jti": random_token(12)}))
        .unwrap()
}

async fn post(
    server: &TestServer,
    path: &str,
    form: &[(&str, &str)],
    dpop: Option<&str>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = reqwest::Client::new().post(format!("{}{path}", server.base)).form(form);
    if let Some(proof) = dpop {
        req = req.header("DPoP", proof);
    }
    let res = req.send().await.unwrap();
    let nonce = res.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null), nonce)
}

#[tokio::test]
async fn under_fapi2_a_login_needs_a_signing_client_par_pkce_and_dpop() {
    for backend in backends() {
        let server =
            spawn_server_with(&backend, Options { fapi2: true, ..Options::default() }).await;
        let discovery = support::discovery(&server.base).await;
        assert_eq!(discovery["require_pushed_authorization_requests"], true);
        assert_eq!(discovery["token_endpoint_auth_methods_supported"], json!(["private_key_jwt"]));

        // Clients with secrets cannot be registered (and the token endpoint refuses secrets).
        assert!(
            server
                .services
                .oidc
                .register_client(ClientSpec::web("Secret", &[CALLBACK.to_owned()]))
                .await
                .is_err()
        );

        let (key, _) = SigningKey::generate(Algorithm::PS256).unwrap();
        let mut spec = ClientSpec::web("Bank", &[CALLBACK.to_owned()]);
        spec.auth_methods = vec![AuthMethod::PrivateKeyJwt];
        spec.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
        spec.jwks = Some(json!({"keys": [key.public_jwk()]}).to_string());
        let id = server.services.oidc.register_client(spec).await.unwrap().client.id;

        // The front channel alone is refused.
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let res = support::browser().get(req.url(&server.base)).send().await.unwrap();
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert_eq!(support::query(&back, "error").as_deref(), Some("invalid_request"));

        // Pushed, with PKCE and private_key_jwt.
        let challenge = b64url(&sha256(req.verifier.as_bytes()));
        let client_assertion = assertion(&server, &id, &key);
        let (status, pushed, _) = post(
            &server,
            "/par",
            &[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &client_assertion),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
                ("scope", "openid profile"),
                ("state", &req.state),
                ("nonce", &req.nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{pushed}");
        let mut url = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", &id)
            .append_pair("request_uri", pushed["request_uri"].as_str().unwrap());
        let browser = support::browser();
        let waiting = support::open_login_page(&browser, &server.base, url.as_str()).await;
        let wallet = server.enrolled_wallet(130).await;
        support::approve(&wallet, &waiting).await;
        let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();

        // Without a DPoP proof the code is not exchanged; with one it is, bound to the key.
        let token_url = format!("{}/token", server.base);
        let exchange = |assertion: String| {
            vec![
                ("client_assertion_type", JWT_BEARER.to_owned()),
                ("client_assertion", assertion),
                ("grant_type", "authorization_code".to_owned()),
                ("code", code.clone()),
                ("redirect_uri", CALLBACK.to_owned()),
                ("code_verifier", req.verifier.clone()),
            ]
        };
        let form = exchange(assertion(&server, &id, &key));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body, nonce) = post(&server, "/token", &form, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
        );
        let dpop = DpopKey::new(Algorithm::ES256);
        let proof = dpop.proof("POST", &token_url, now(), nonce.as_deref(), None);
        let form = exchange(assertion(&server, &id, &key));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, tokens, mut nonce) = post(&server, "/token", &form, Some(&proof)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "DPoP");

        // No rotation (FAPI 2.0 Security Profile 5.3.2.1 clause 10): a client whose answer was
        // lost retries with the same refresh token, which stays bound to its key.
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let server = &server;
        let refresh_with = |proof: String| {
            let assertion = assertion(server, &id, &key);
            let refresh = refresh.clone();
            async move {
                let form = [
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.as_str()),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                ];
                post(server, "/token", &form, Some(&proof)).await
            }
        };
        for _ in 0..2 {
            let proof = dpop.proof("POST", &token_url, now(), nonce.as_deref(), None);
            let (status, renewed, next) = refresh_with(proof).await;
            assert_eq!(status, StatusCode::OK, "{renewed}");
            assert_eq!(renewed["refresh_token"], refresh.as_str());
            assert_eq!(renewed["token_type"], "DPoP");
            nonce = next;
        }
        let thief = DpopKey::new(Algorithm::ES256);
        let proof = thief.proof("POST", &token_url, now(), nonce.as_deref(), None);
        let (status, refused, _) = refresh_with(proof).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
            "another key cannot use it"
        );
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                tokens["id_token"].as_str().unwrap().split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "ES256");
    }
}
