//! Client authentication with `private_key_jwt` (RFC 7523, OIDC Core section 9), per-client
//! allowed methods, keys by JWKS or `jwks_uri`, and the client-credentials grant; each attack
//! gets its exact rejection. On both databases.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use civpass_core::kernel::clock::Clock;
use civpass_core::oidc::clients::{ClientSpec, JWT_BEARER};
use civpass_core::oidc::model::{AuthMethod, GrantType};
use civpass_crypto::jws::{Algorithm, SigningKey};
use civpass_crypto::secret::random_token;
use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK};

fn jwks(key: &SigningKey) -> String {
    json!({ "keys": [key.public_jwk()] }).to_string()
}

/// A client that authenticates with `private_key_jwt` only, and its key.
async fn signing_client(server: &TestServer, grants: &[GrantType]) -> (String, SigningKey) {
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let mut spec = ClientSpec::web("Signing service", &[CALLBACK.to_owned()]);
    spec.auth_methods = vec![AuthMethod::PrivateKeyJwt];
    spec.grant_types = grants.to_vec();
    spec.jwks = Some(jwks(&key));
    spec.scopes = vec!["api.read".into()];
    let created = server.services.oidc.register_client(spec).await.unwrap();
    assert!(created.secret.is_none(), "no secret for a client that signs");
    (created.client.id.into(), key)
}

fn assertion_claims(server: &TestServer, client_id: &str) -> Value {
    let now = now();
    json!({
        "iss": client_id, "sub": client_id, "aud": server.base,
        "iat": now, "exp": now + 60, "jti": random_token(12),
    })
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub(crate) async fn token_with_assertion(
    server: &TestServer,
    assertion: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut fields: Vec<(&str, &str)> =
        vec![("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)];
    fields.extend_from_slice(form);
    let res = reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

pub(crate) const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

fn error(body: &Value) -> Option<&str> {
    body["error"].as_str()
}

#[tokio::test]
async fn private_key_jwt_authenticates_the_code_flow_and_client_credentials() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (id, key) = signing_client(
            &server,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials],
        )
        .await;
        let wallet = server.enrolled_wallet(40).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let code = support::login_code(&server, &wallet, &req).await;
        let assertion = key.sign("JWT", &assertion_claims(&server, &id)).unwrap();
        let (status, tokens) = token_with_assertion(
            &server,
            &assertion,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &req.verifier),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert!(tokens["id_token"].is_string());

        // The same assertion again: a replay (its jti was used).
        let (status, body) = token_with_assertion(&server, &assertion, CC).await;
        assert_eq!((status, error(&body)), (StatusCode::UNAUTHORIZED, Some("invalid_client")));

        let (status, body) = token_with_assertion(
            &server,
            &key.sign("JWT", &assertion_claims(&server, &id)).unwrap(),
            CC,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "api.read");

        // Only the issuer as the sole audience: an endpoint URL or a list (which another
        // server advertising our endpoints could collect) is refused.
        for aud in [
            json!(format!("{}/token", server.base)),
            json!([server.base.clone(), "https://attacker.example"]),
        ] {
            let mut claims = assertion_claims(&server, &id);
            claims["aud"] = aud.clone();
            let (status, body) =
                token_with_assertion(&server, &key.sign("JWT", &claims).unwrap(), CC).await;
            assert_eq!(
                (status, error(&body)),
                (StatusCode::UNAUTHORIZED, Some("invalid_client")),
                "{aud}"
            );
        }
        // A request object the client signed is no assertion, whatever its claims.
        let claims = assertion_claims(&server, &id);
        let (status, _) =
            token_with_assertion(&server, &key.sign("oauth-authz-req+jwt", &claims).unwrap(), CC)
                .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn bad_client_assertions_are_refused_with_invalid_client() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (id, key) = signing_client(&server, &[GrantType::ClientCredentials]).await;
        let (other_id, other_key) = signing_client(&server, &[GrantType::ClientCredentials]).await;
        let signed = |claims: &Value| key.sign("JWT", claims).unwrap();
        let base = assertion_claims(&server, &id);
        let with = |name: &str, value: Value| {
            let mut claims = base.clone();
            claims["jti"] = json!(random_token(12));
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value;
            }
            claims
        };
        let now = now();
        let cases: Vec<(&str, String)> = vec![
            ("audience of another server", signed(&with("aud", json!("https://other.example")))),
            ("audience missing", signed(&with("aud", Value::Null))),
            ("expired", signed(&with("exp", json!(now - 1)))),
            ("no expiry", signed(&with("exp", Value::Null))),
            ("living an hour", signed(&with("exp", json!(now + 3600)))),
            ("issued in the future", signed(&with("iat", json!(now + 600)))),
            ("issuer is another client", signed(&with("iss", json!(other_id)))),
            ("subject is another client", signed(&with("sub", json!(other_id)))),
            ("no jti", signed(&with("jti", Value::Null))),
            (
                "signed with another client's key",
                other_key.sign("JWT", &with("jti", json!("x1"))).unwrap(),
            ),
            ("alg none", {
                let payload = B64.encode(serde_json::to_vec(&with("jti", json!("x2"))).unwrap());
                format!("{}.{payload}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#))
            }),
            ("HS256 keyed with the public key", {
                let payload = B64.encode(serde_json::to_vec(&with("jti", json!("x3"))).unwrap());
                format!("{}.{payload}.{}", B64.encode(r#"{"alg":"HS256"}"#), B64.encode([7u8; 32]))
            }),
            ("garbage", "not.a.jwt".to_owned()),
        ];
        for (what, assertion) in cases {
            let (status, body) = token_with_assertion(&server, &assertion, CC).await;
            assert_eq!(
                (status, error(&body)),
                (StatusCode::UNAUTHORIZED, Some("invalid_client")),
                "{what}"
            );
        }

        // A client_id beside the assertion must name the same client.
        let (status, body) = token_with_assertion(
            &server,
            &signed(&with("jti", json!("x4"))),
            &[("grant_type", "client_credentials"), ("client_id", &other_id)],
        )
        .await;
        assert_eq!((status, error(&body)), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        // Two methods at once, or a mismatched assertion type, are malformed requests.
        let (status, body) = token_with_assertion(
            &server,
            &signed(&with("jti", json!("x5"))),
            &[("grant_type", "client_credentials"), ("client_secret", "s")],
        )
        .await;
        assert_eq!((status, error(&body)), (StatusCode::BAD_REQUEST, Some("invalid_request")));
        let res = reqwest::Client::new()
            .post(format!("{}/token", server.base))
            .form(&[
                ("client_assertion_type", "urn:other"),
                ("client_assertion", "x"),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn each_client_authenticates_only_by_the_methods_it_registered() {
    let server = spawn_server_with(&backends()[0], Options::default()).await;
    // A secret client may not switch to an assertion (it has no keys) ...
    let (secret_id, secret) = server.client(CALLBACK).await;
    let (_, key) = signing_client(&server, &[GrantType::ClientCredentials]).await;
    let assertion = key.sign("JWT", &assertion_claims(&server, &secret_id)).unwrap();
    let (status, body) = token_with_assertion(&server, &assertion, CC).await;
    assert_eq!((status, error(&body)), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // ... and a signing client may not present a secret.
    let (signing_id, _) = signing_client(&server, &[GrantType::ClientCredentials]).await;
    let (status, body) = support::token(&server.base, (&signing_id, "anything"), CC).await;
    assert_eq!((status, error(&body)), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // A Basic-only client may not use the form, and vice versa.
    let mut spec = ClientSpec::web("Basic only", &[CALLBACK.to_owned()]);
    spec.auth_methods = vec![AuthMethod::ClientSecretBasic];
    spec.grant_types = vec![GrantType::ClientCredentials];
    let basic_only = server.services.oidc.register_client(spec).await.unwrap();
    let basic_secret = basic_only.secret.unwrap();
    let (status, _) =
        support::token(&server.base, (&basic_only.client.id, &basic_secret), CC).await;
    assert_eq!(status, StatusCode::OK);
    let res = reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &basic_only.client.id),
            ("client_secret", &basic_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let _ = secret;
}

#[tokio::test]
async fn client_credentials_tokens_are_for_apis_not_for_citizens_data() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let mut spec = ClientSpec::web("Batch job", &[]);
        spec.grant_types = vec![GrantType::ClientCredentials];
        spec.scopes = vec!["api.read".into(), "api.write".into()];
        let m2m = server.services.oidc.register_client(spec).await.unwrap();
        let client = (m2m.client.id.as_str(), m2m.secret.as_deref().unwrap());
        let (status, body) = support::token(
            &server.base,
            client,
            &[("grant_type", "client_credentials"), ("scope", "api.read")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "api.read");
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        let access = body["access_token"].as_str().unwrap().to_owned();
        let (status, body) = support::token(&server.base, client, CC).await;
        assert_eq!(
            (status, body["scope"].as_str()),
            (StatusCode::OK, Some("api.read api.write")),
            "all registered scopes by default"
        );

        let (status, body) = support::token(
            &server.base,
            client,
            &[("grant_type", "client_credentials"), ("scope", "openid profile")],
        )
        .await;
        assert_eq!((status, error(&body)), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
        let (status, _) = support::userinfo(&server.base, &access).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "no citizen behind it");
        let res = reqwest::Client::new()
            .post(format!("{}/introspect", server.base))
            .basic_auth(client.0, Some(client.1))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap();
        let seen: Value = res.json().await.unwrap();
        assert_eq!((seen["active"].as_bool(), seen["sub"].as_str()), (Some(true), Some(client.0)));

        // A code-flow client may not use the grant, nor a machine client the code flow.
        let (code_id, code_secret) = server.client(CALLBACK).await;
        let (status, body) = support::token(&server.base, (&code_id, &code_secret), CC).await;
        assert_eq!((status, error(&body)), (StatusCode::BAD_REQUEST, Some("unauthorized_client")));
        let res = support::browser()
            .get(AuthRequest::new(client.0, CALLBACK, "openid").url(&server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "no registered redirect URI: an error page"
        );

        // Registration refuses what cannot work.
        let mut public = ClientSpec::web("Public batch", &[CALLBACK.to_owned()]);
        public.auth_methods = vec![AuthMethod::None];
        public.grant_types = vec![GrantType::ClientCredentials];
        assert!(server.services.oidc.register_client(public).await.is_err());
        let mut keyless = ClientSpec::web("Keyless", &[CALLBACK.to_owned()]);
        keyless.auth_methods = vec![AuthMethod::PrivateKeyJwt];
        assert!(server.services.oidc.register_client(keyless).await.is_err());
        let mut plain_http = ClientSpec::web("Plain", &[CALLBACK.to_owned()]);
        plain_http.auth_methods = vec![AuthMethod::PrivateKeyJwt];
        plain_http.jwks_uri = Some("http://rp.example/jwks".into());
        assert!(server.services.oidc.register_client(plain_http).await.is_err());
    }
}

#[tokio::test]
async fn keys_come_from_jwks_uri_and_a_rotated_key_is_picked_up() {
    let server =
        spawn_server_with(&backends()[0], Options { fixed_clock: true, ..Options::default() })
            .await;
    let clock = server.clock.clone().unwrap();
    let (first, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let published = std::sync::Arc::new(std::sync::Mutex::new(jwks(&first)));
    let uri = support::document_server(published.clone()).await;
    let mut spec = ClientSpec::web("Published keys", &[]);
    spec.auth_methods = vec![AuthMethod::PrivateKeyJwt];
    spec.grant_types = vec![GrantType::ClientCredentials];
    spec.jwks_uri = Some(uri);
    let id = server.services.oidc.register_client(spec).await.unwrap().client.id;
    let claims = |now: i64| json!({"iss": id, "sub": id, "aud": server.base, "exp": now + 60, "jti": random_token(12)});
    let t0 = clock.now();
    let (status, body) =
        token_with_assertion(&server, &first.sign("JWT", &claims(t0)).unwrap(), CC).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The client rotates its key; civpass refetches at most every 30 seconds.
    let (second, _) = SigningKey::generate(Algorithm::RS256).unwrap();
    *published.lock().unwrap() = jwks(&second);
    let (status, _) =
        token_with_assertion(&server, &second.sign("JWT", &claims(t0)).unwrap(), CC).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "within 30 s of the last fetch");
    clock.advance(31);
    let (status, body) =
        token_with_assertion(&server, &second.sign("JWT", &claims(t0 + 31)).unwrap(), CC).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
