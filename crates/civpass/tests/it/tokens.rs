//! Refresh-token rotation with reuse detection, sliding and absolute lifetimes, revocation
//! (RFC 7009) and introspection (RFC 7662); on both databases.

use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{self, AuthRequest, CALLBACK};

/// A login with the raw protocol: (access token, refresh token).
async fn login(server: &TestServer, client: (&str, &str), person: usize) -> (String, String) {
    let wallet = server.enrolled_wallet(person).await;
    let req = AuthRequest::new(client.0, CALLBACK, "openid profile");
    let code = support::login_code(server, &wallet, &req).await;
    let (status, tokens) = support::redeem(&server.base, client, &req, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(server: &TestServer, client: (&str, &str), token: &str) -> (StatusCode, Value) {
    support::token(
        &server.base,
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// Posts `token` to `/revoke` or `/introspect` with client_secret_basic.
async fn token_call(
    server: &TestServer,
    path: &str,
    client: (&str, &str),
    token: &str,
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_grant() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (id, secret) = server.client(CALLBACK).await;
        let client = (id.as_str(), secret.as_str());
        let (_, first) = login(&server, client, 30).await;
        let (status, rotated) = refresh(&server, client, &first).await;
        assert_eq!(status, StatusCode::OK);
        let current = rotated["refresh_token"].as_str().unwrap().to_owned();
        let access = rotated["access_token"].as_str().unwrap().to_owned();

        // An attacker replays the old token: refused, and the grant ends for everyone.
        let (status, body) = refresh(&server, client, &first).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        let (status, body) = refresh(&server, client, &current).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "the legitimate client's newer token died with the grant"
        );
        let (status, _) = support::userinfo(&server.base, &access).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "so did its access token");
    }
}

#[tokio::test]
async fn refresh_tokens_slide_within_an_absolute_lifetime() {
    for backend in backends() {
        let server =
            spawn_server_with(&backend, Options { fixed_clock: true, ..Options::default() }).await;
        let clock = server.clock.clone().unwrap();
        let settings = server.services.settings().clone();
        let (id, secret) = server.client(CALLBACK).await;
        let client = (id.as_str(), secret.as_str());
        let (_, mut token) = login(&server, client, 33).await;
        // Used a little before each idle expiry, the token lives on...
        let step = settings.refresh_token_ttl - 60;
        let mut elapsed = 0;
        while elapsed + step < settings.refresh_token_max_age {
            clock.advance(step);
            elapsed += step;
            let (status, body) = refresh(&server, client, &token).await;
            assert_eq!(status, StatusCode::OK, "after {elapsed}s: {body}");
            token = body["refresh_token"].as_str().unwrap().to_owned();
        }
        // ...but not past the absolute lifetime.
        clock.advance(settings.refresh_token_max_age - elapsed);
        let (status, _) = refresh(&server, client, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Left unused past its idle lifetime, a token expires.
        let (_, idle) = login(&server, client, 32).await;
        clock.advance(settings.refresh_token_ttl);
        let (status, body) = refresh(&server, client, &idle).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
}

#[tokio::test]
async fn clients_revoke_their_own_tokens_and_resource_servers_introspect() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (id, secret) = server.client(CALLBACK).await;
        let client = (id.as_str(), secret.as_str());
        let (other_id, other_secret) = server.client(CALLBACK).await;
        let other = (other_id.as_str(), other_secret.as_str());
        let mut spec = civpass_core::oidc::clients::ClientSpec::web("Records API", &[]);
        spec.grant_types = vec![civpass_core::oidc::model::GrantType::ClientCredentials];
        spec.resource_server = true;
        let api = server.services.oidc.register_client(spec).await.unwrap();
        let api = (api.client.id.as_str(), api.secret.as_deref().unwrap());
        let (access, refresh_token) = login(&server, client, 33).await;

        let (status, active) = token_call(&server, "/introspect", client, &access).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(active["active"], true);
        assert_eq!(active["client_id"], id.as_str());
        assert_eq!(active["scope"], "openid profile");
        assert_eq!(active["token_type"], "Bearer");
        // A resource server the operator named may introspect others' access tokens, but not
        // their refresh tokens; any other client sees only its own (RFC 7662 section 4).
        let (_, seen) = token_call(&server, "/introspect", api, &access).await;
        assert_eq!(seen["active"], true);
        let (_, seen) = token_call(&server, "/introspect", api, &refresh_token).await;
        assert_eq!(seen, serde_json::json!({"active": false}));
        let (_, seen) = token_call(&server, "/introspect", other, &access).await;
        assert_eq!(seen, serde_json::json!({"active": false}), "not a resource server");
        let (_, own) = token_call(&server, "/introspect", client, &refresh_token).await;
        assert_eq!(
            (own["active"].as_bool(), own["token_type"].as_str()),
            (Some(true), Some("refresh_token"))
        );
        for junk in ["not-a-token", "eyJhbGciOiJub25lIn0.e30."] {
            let (status, body) = token_call(&server, "/introspect", client, junk).await;
            assert_eq!((status, body), (StatusCode::OK, serde_json::json!({"active": false})));
        }
        // A parameter without a value is omitted (RFC 6749 section 3.1), so an empty token is
        // a missing one: the request is malformed (RFC 7662 section 2.1), not a dead token.
        let (status, body) = token_call(&server, "/introspect", client, "").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request"))
        );
        let (status, body) = token_call(&server, "/introspect", (&id, "wrong"), &access).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );

        // Another client's revocation changes nothing and looks like success (no probing).
        let (status, _) = token_call(&server, "/revoke", other, &refresh_token).await;
        assert_eq!(status, StatusCode::OK);
        let (_, still) = token_call(&server, "/introspect", client, &access).await;
        assert_eq!(still["active"], true);
        let (status, _) = token_call(&server, "/revoke", client, "unknown").await;
        assert_eq!(status, StatusCode::OK);

        // The client revokes its refresh token: the grant ends, access token included.
        let (status, _) = token_call(&server, "/revoke", client, &refresh_token).await;
        assert_eq!(status, StatusCode::OK);
        let (_, gone) = token_call(&server, "/introspect", client, &access).await;
        assert_eq!(gone, serde_json::json!({"active": false}));
        let (status, _) = refresh(&server, client, &refresh_token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Revoking by access token ends the grant too.
        let (access, refresh_token) = login(&server, client, 34).await;
        let (status, _) = token_call(&server, "/revoke", client, &access).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = refresh(&server, client, &refresh_token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let res = reqwest::Client::new()
            .post(format!("{}/revoke", server.base))
            .basic_auth(client.0, Some(client.1))
            .form(&[("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "token is required");
    }
}

#[tokio::test]
async fn public_clients_cannot_introspect() {
    let server = civpass_testkit::spawn_server(&backends()[0]).await;
    let public =
        server.services.oidc.create_client("Public", &[CALLBACK.to_owned()], true).await.unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/introspect", server.base))
        .form(&[("client_id", public.client.id.as_str()), ("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let discovery = support::discovery(&server.base).await;
    assert_eq!(discovery["revocation_endpoint"], format!("{}/revoke", server.base));
    assert_eq!(discovery["introspection_endpoint"], format!("{}/introspect", server.base));
}

#[tokio::test]
async fn a_revoked_client_credentials_token_is_inactive_everywhere() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let mut spec = civpass_core::oidc::clients::ClientSpec::web("Batch job", &[]);
        spec.grant_types = vec![civpass_core::oidc::model::GrantType::ClientCredentials];
        spec.scopes = vec!["api.read".into()];
        let job = server.services.oidc.register_client(spec).await.unwrap();
        let job = (job.client.id.as_str(), job.secret.as_deref().unwrap());
        let (other_id, other_secret) = server.client(CALLBACK).await;
        let other = (other_id.as_str(), other_secret.as_str());
        let (status, tokens) =
            support::token(&server.base, job, &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        let (_, seen) = token_call(&server, "/introspect", job, access).await;
        assert_eq!(seen["active"], true);

        // Another client's revocation changes nothing (and gets the same 200).
        let (status, _) = token_call(&server, "/revoke", other, access).await;
        assert_eq!(status, StatusCode::OK);
        let (_, seen) = token_call(&server, "/introspect", job, access).await;
        assert_eq!(seen["active"], true);

        // Its own client's revocation ends it; revoking twice is fine.
        for _ in 0..2 {
            let (status, _) = token_call(&server, "/revoke", job, access).await;
            assert_eq!(status, StatusCode::OK);
        }
        let (_, seen) = token_call(&server, "/introspect", job, access).await;
        assert_eq!(seen, serde_json::json!({"active": false}));
        // A new token for the same client is unaffected.
        let (_, fresh) =
            support::token(&server.base, job, &[("grant_type", "client_credentials")]).await;
        let (_, seen) =
            token_call(&server, "/introspect", job, fresh["access_token"].as_str().unwrap()).await;
        assert_eq!(seen["active"], true);
    }
}

#[tokio::test]
async fn a_refresh_may_narrow_its_response_but_never_widen_it() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (id, secret) = server.client(CALLBACK).await;
        let client = (id.as_str(), secret.as_str());
        let wallet = server.enrolled_wallet(34).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile birthdate");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, client, &req, &code).await;
        let mut refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        let with_scope = |scope: &'static str, token: String| {
            let base = server.base.clone();
            async move {
                support::token(
                    &base,
                    client,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token), ("scope", scope)],
                )
                .await
            }
        };

        // Narrower: this access token and what UserInfo releases shrink to it.
        let (status, narrow) = with_scope("openid profile", refresh_token.clone()).await;
        assert_eq!(status, StatusCode::OK, "{narrow}");
        assert_eq!(narrow["scope"], "openid profile");
        assert!(narrow["id_token"].is_string());
        let (_, info) =
            support::userinfo(&server.base, narrow["access_token"].as_str().unwrap()).await;
        assert!(info["name"].is_string());
        assert!(info.get("birthdate").is_none(), "narrowed away: {info}");
        refresh_token = narrow["refresh_token"].as_str().unwrap().to_owned();

        // Wider than the grant: invalid_scope, and the refresh token is not spent.
        let (status, wide) = with_scope("openid profile hkid", refresh_token.clone()).await;
        assert_eq!(
            (status, wide["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope"))
        );

        // Without openid there is no ID token.
        let (status, bare) = with_scope("profile", refresh_token.clone()).await;
        assert_eq!(status, StatusCode::OK, "{bare}");
        assert!(bare.get("id_token").is_none());
        refresh_token = bare["refresh_token"].as_str().unwrap().to_owned();

        // The grant kept what the citizen approved: a refresh without scope (or with an empty
        // one, which counts as omitted) has it all again.
        let (status, full) = with_scope("", refresh_token.clone()).await;
        assert_eq!(status, StatusCode::OK, "{full}");
        assert_eq!(full["scope"], "openid profile birthdate");
        let (status, full) =
            refresh(&server, client, full["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let (_, info) =
            support::userinfo(&server.base, full["access_token"].as_str().unwrap()).await;
        assert!(info["birthdate"].is_string(), "{info}");
    }
}
