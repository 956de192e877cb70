//! What relying parties' libraries and native apps send, as public bug reports against other
//! providers show it: POST to the authorization endpoint (OIDC Core 3.1.2.1), parameters sent
//! empty (RFC 6749 3.1), scopes and `acr_values` civpass does not know (OIDC Core 3.1.2.1),
//! loopback redirects on any port and private-use schemes for native apps (RFC 8252 7.1, 7.3),
//! and an operator's suspension of a client. On both databases.

use civpass_core::oidc::clients::ClientSpec;
use civpass_core::oidc::model::AuthMethod;
use civpass_testkit::{TestServer, backends, spawn_server};
use reqwest::StatusCode;

use crate::support::{self, AuthRequest, CALLBACK};

/// A public native app's client, registered with `redirect_uris`.
async fn native_client(server: &TestServer, redirect_uris: &[&str]) -> String {
    let uris: Vec<String> = redirect_uris.iter().map(|u| (*u).to_owned()).collect();
    let mut spec = ClientSpec::web("Native app", &uris);
    spec.native = true;
    spec.auth_methods = vec![AuthMethod::None];
    server.services.oidc.register_client(spec).await.unwrap().client.id.into()
}

/// Whether `/authorize` with this request reaches the login page (rather than an error page).
async fn reaches_login_page(url: &str) -> bool {
    let res = support::browser().get(url).send().await.unwrap();
    res.status() == StatusCode::SEE_OTHER && support::location(&res).starts_with("/login/")
}

#[tokio::test]
async fn the_authorization_endpoint_takes_post_and_ignores_parameters_without_a_value() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let wallet = server.enrolled_wallet(90).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        // The same request, form-serialised in a POST body (OIDC Core 3.1.2.1), with the empty
        // parameters a form builder leaves in (RFC 6749 3.1: as if omitted).
        let url = url::Url::parse(&req.url(&server.base)).unwrap();
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        for empty in ["max_age", "prompt", "login_hint", "acr_values", "ui_locales", "claims"] {
            form.push((empty.into(), String::new()));
        }
        let browser = support::browser();
        // A browser that already holds its binding cookie: the form is answered as it is.
        let _ = support::start_login_in(&browser, &server, &id).await;
        let res = browser
            .post(format!("{}/authorize", server.base))
            .header("sec-fetch-dest", "document")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let page_url = format!("{}{}", server.base, support::location(&res));
        assert!(page_url.contains("/login/"), "{page_url}");
        let html = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
        let match_code = support::between(&html, "id=\"match-code\">", "<").to_owned();
        let link = support::between(&html, "id=\"open-app\" href=\"", "\"").replace("&amp;", "&");
        let waiting = support::Waiting {
            page_url,
            match_code,
            link: civpass_wallet::LoginLink::parse(&link).unwrap(),
        };
        support::approve(&wallet, &waiting).await;
        let back = support::finish(&browser, &waiting).await;
        let code = support::query(&back, "code").unwrap();
        let (status, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");

        // An empty max_age beside a valid request, by GET: the reported failure.
        let mut with_empty = url::Url::parse(&req.url(&server.base)).unwrap();
        with_empty.query_pairs_mut().append_pair("max_age", "").append_pair("nonce", "");
        // The nonce appears twice now, once empty: the empty one does not count as a repeat.
        assert!(reaches_login_page(with_empty.as_str()).await);

        // A form another site posts arrives without the SameSite=Lax cookie: it is sent on as
        // a GET (which the browser makes with its cookie), and no new cookie replaces the
        // browser's own, which would strand its logins and detach it from its sessions.
        for path in ["/authorize", "/logout"] {
            let res = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(format!("{}{path}", server.base))
                .header("sec-fetch-dest", "document")
                .header("sec-fetch-site", "cross-site")
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
            assert!(res.headers().get("set-cookie").is_none(), "{path}");
            let again = url::Url::parse(&format!("{}{}", server.base, support::location(&res)));
            let again = again.unwrap();
            assert_eq!(again.path(), path);
            let resent: Vec<(String, String)> = again.query_pairs().into_owned().collect();
            assert_eq!(resent, form, "{path}: the same parameters, in the same order");
        }

        // A POST that is not a form is a clear error, not a login.
        let res = support::browser()
            .post(format!("{}/authorize", server.base))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn unknown_scopes_and_acr_values_are_ignored_and_known_levels_follow_the_client_policy() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let wallet = server.enrolled_wallet(91).await;
        // `offline_access` (openid-client, authlib and AppAuth ask for it), a service's own scope
        // and an unknown level: none ends the login, and none is shown to the citizen.
        let req = AuthRequest::new(&id, CALLBACK, "openid offline_access profile api:read");
        let mut url = url::Url::parse(&req.url(&server.base)).unwrap();
        url.query_pairs_mut().append_pair("acr_values", "gold urn:example:loa:3");
        let browser = support::browser();
        let waiting = support::open_login_page(&browser, &server.base, url.as_str()).await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        let asked: Vec<&str> = view.scopes.iter().map(|s| s.scope.as_str()).collect();
        assert_eq!(asked, ["openid", "profile"]);
        support::approve(&wallet, &waiting).await;
        let back = support::finish(&browser, &waiting).await;
        let code = support::query(&back, "code").unwrap();
        let (status, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tokens["scope"], "openid profile", "the scope granted, as RFC 6749 5.1 asks");

        // A known level the citizen cannot meet: refused by default, voluntary by choice.
        let basic = server.enrolled_wallet(92).await;
        let mut spec = ClientSpec::web("Voluntary levels", &[CALLBACK.to_owned()]);
        spec.acr_values_voluntary = true;
        let voluntary = server.services.oidc.register_client(spec).await.unwrap();
        let req = AuthRequest::new(&voluntary.client.id, CALLBACK, "openid");
        let mut url = url::Url::parse(&req.url(&server.base)).unwrap();
        url.query_pairs_mut().append_pair("acr_values", "plus");
        let browser = support::browser();
        let waiting = support::open_login_page(&browser, &server.base, url.as_str()).await;
        support::approve(&basic, &waiting).await;
        let back = support::finish(&browser, &waiting).await;
        let code = support::query(&back, "code").expect("a voluntary level does not end the login");
        let client = (voluntary.client.id.as_str(), voluntary.secret.as_deref().unwrap());
        let (_, tokens) = support::redeem(&server.base, client, &req, &code).await;
        let claims = support::jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(claims["acr"], "basic", "the ID token says the level the login had");

        // An essential acr must still name a level civpass has.
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["gold"]}}}"#;
        let mut url = url::Url::parse(&req.url(&server.base)).unwrap();
        url.query_pairs_mut().append_pair("claims", claims);
        let res = support::browser().get(url.as_str()).send().await.unwrap();
        let back = url::Url::parse(&support::location(&res)).unwrap();
        assert_eq!(support::query(&back, "error").as_deref(), Some("invalid_request"));
    }
}

#[tokio::test]
async fn a_native_app_uses_any_loopback_port_and_its_own_scheme() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(93).await;
        let id = native_client(
            &server,
            &["http://127.0.0.1/cb", "http://[::1]/cb", "com.example.app:/cb"],
        )
        .await;
        let base = &server.base;
        for uri in ["http://127.0.0.1:51004/cb", "http://[::1]:61000/cb", "http://127.0.0.1/cb"] {
            let req = AuthRequest::new(&id, uri, "openid");
            assert!(reaches_login_page(&req.url(base)).await, "{uri}");
        }
        // Only the port may vary, only on a loopback IP literal (RFC 8252 8.3: not localhost).
        for uri in [
            "http://localhost:51004/cb",
            "http://127.0.0.1:51004/other",
            "http://127.0.0.1:51004/cb?x=1",
            "http://127.0.0.2:51004/cb",
            "https://127.0.0.1:51004/cb",
            "com.example.app:/other",
        ] {
            let req = AuthRequest::new(&id, uri, "openid");
            assert!(!reaches_login_page(&req.url(base)).await, "{uri}");
        }

        // The whole flow on a port chosen at run time; the token request carries an empty
        // client_secret, as some libraries send for public clients (RFC 6749 3.1).
        let redirect = "http://127.0.0.1:51004/cb";
        let req = AuthRequest::new(&id, redirect, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let res = reqwest::Client::new()
            .post(format!("{base}/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &req.verifier),
                ("client_id", &id),
                ("client_secret", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        // The code was for that port: another one is not the same redirect URI.
        let req = AuthRequest::new(&id, redirect, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let res = reqwest::Client::new()
            .post(format!("{base}/token"))
            // Basic with an empty password names a public client too.
            .basic_auth(&id, Some(""))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:51005/cb"),
                ("code_verifier", &req.verifier),
            ])
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");

        // A web client keeps exact matching, and cannot register a private-use scheme.
        let (web, _) = server.client("http://127.0.0.1/cb").await;
        let req = AuthRequest::new(&web, "http://127.0.0.1:51004/cb", "openid");
        assert!(!reaches_login_page(&req.url(base)).await);
        let mut spec = ClientSpec::web("Web", &["com.example.app:/cb".to_owned()]);
        assert!(server.services.oidc.register_client(spec.clone()).await.is_err());
        // A native private-use scheme must be a reverse domain name (RFC 8252 7.1).
        spec.native = true;
        for bad in ["myapp:/cb", "com.example.app://host/cb", "javascript:alert(1)", ".x:/cb"] {
            spec.redirect_uris = vec![bad.to_owned()];
            assert!(server.services.oidc.register_client(spec.clone()).await.is_err(), "{bad}");
        }
    }
}

#[tokio::test]
async fn a_disabled_client_has_no_logins_and_no_live_tokens_until_enabled() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let (resource, resource_secret) = {
            let mut spec = ClientSpec::web("Resource server", &[]);
            spec.grant_types = vec![civpass_core::oidc::model::GrantType::ClientCredentials];
            spec.resource_server = true;
            let created = server.services.oidc.register_client(spec).await.unwrap();
            (created.client.id, created.secret.unwrap())
        };
        let wallet = server.enrolled_wallet(94).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();

        assert!(server.services.oidc.set_client_disabled(&id, true).await.unwrap());
        assert!(!reaches_login_page(&req.url(&server.base)).await);
        let (status, body) = support::token(
            &server.base,
            (&id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        let (status, _) = support::userinfo(&server.base, access).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let introspect = |token: String| {
            let (base, resource, secret) =
                (server.base.clone(), resource.clone(), resource_secret.clone());
            async move {
                let res = reqwest::Client::new()
                    .post(format!("{base}/introspect"))
                    .basic_auth(resource, Some(secret))
                    .form(&[("token", token)])
                    .send()
                    .await
                    .unwrap();
                res.json::<serde_json::Value>().await.unwrap()["active"].clone()
            }
        };
        assert_eq!(introspect(access.to_owned()).await, false);

        // Enabled again, its grants work as before: a suspension is not a revocation.
        assert!(server.services.oidc.set_client_disabled(&id, false).await.unwrap());
        assert_eq!(introspect(access.to_owned()).await, true);
        assert_eq!(support::userinfo(&server.base, access).await.0, StatusCode::OK);
        assert!(reaches_login_page(&req.url(&server.base)).await);
        let (status, _) = support::token(
            &server.base,
            (&id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        // Deleting it ends its grants for good; its secret is gone with it.
        assert!(server.services.oidc.delete_client(&id).await.unwrap());
        assert_eq!(introspect(access.to_owned()).await, false);
        assert!(!server.services.oidc.set_client_disabled(&id, false).await.unwrap());
        assert_eq!(server.services.oidc.rotate_client_secret(&id).await.unwrap(), None);
    }
}

#[tokio::test]
async fn browser_clients_read_metadata_anywhere_and_token_answers_only_at_their_origin() {
    let server = spawn_server(&backends()[0]).await;
    let base = &server.base;
    let http = reqwest::Client::new();
    let spa = "http://127.0.0.1:5173";
    let mut spec = ClientSpec::web("Single-page app", &[format!("{spa}/callback")]);
    spec.auth_methods = vec![AuthMethod::None];
    let public = server.services.oidc.register_client(spec).await.unwrap().client.id;
    let (confidential, secret) = server.client(&format!("{spa}/callback")).await;
    let acao = |res: &reqwest::Response| {
        res.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned())
    };

    // Public metadata, for everyone, with preflights answered.
    for path in ["/.well-known/openid-configuration", "/jwks"] {
        let res = http
            .get(format!("{base}{path}"))
            .header("origin", "https://any.example")
            .send()
            .await
            .unwrap();
        assert_eq!(acao(&res).as_deref(), Some("*"), "{path}");
        let res = http
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("origin", "https://any.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
    }
    // Preflights for the client endpoints: no longer a 405.
    for path in ["/token", "/userinfo", "/revoke", "/par"] {
        let res = http
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("origin", spa)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "dpop, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        let allowed = res.headers()["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("dpop") && allowed.contains("authorization"), "{path}");
        assert!(res.headers().get("access-control-allow-credentials").is_none());
    }

    // A refused token request: its error is readable from any origin (it carries only the
    // error, and a browser client needs it to recover).
    let token = |origin: &'static str, client_id: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/token"))
                .header("origin", origin)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", "nope"),
                    ("client_id", &client_id),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let res = token("http://127.0.0.1:5173", public.clone().into()).await;
    assert_eq!(acao(&res).as_deref(), Some(spa));
    let exposed = res.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("dpop-nonce") && exposed.contains("www-authenticate"));
    assert!(res.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().contains("origin")));
    for (origin, client) in [
        ("https://evil.example", public.clone()),
        ("http://127.0.0.1:5173", confidential.clone().into()),
        ("http://127.0.0.1:5173", "unknown".to_owned().into()),
    ] {
        let res = token(origin, client.clone().into()).await;
        assert!(res.status().is_client_error());
        assert_eq!(acao(&res).as_deref(), Some(origin), "{origin} {client}");
    }

    // UserInfo: by the token's client.
    let wallet = server.enrolled_wallet(95).await;
    let req = AuthRequest::new(&public, &format!("{spa}/callback"), "openid profile");
    let code = support::login_code(&server, &wallet, &req).await;
    let res = http
        .post(format!("{base}/token"))
        .header("origin", spa)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", &req.redirect_uri),
            ("code_verifier", &req.verifier),
            ("client_id", &public),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(acao(&res).as_deref(), Some(spa));
    let tokens: serde_json::Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    for (origin, expected) in [(spa, Some(spa)), ("https://evil.example", None)] {
        let res = http
            .get(format!("{base}/userinfo"))
            .header("origin", origin)
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(acao(&res).as_deref(), expected, "{origin}");
    }
    // A successful token answer goes only to the public client's own origin: not to another
    // origin, and never for a confidential client (whose secret has no place in a page).
    for (origin, client, credentials) in [
        ("https://evil.example", public.clone(), None),
        ("http://127.0.0.1:5174", public.clone(), None),
        ("http://localhost:5173", public.clone(), None),
        (spa, confidential.clone().into(), Some(secret.clone())),
    ] {
        let req = AuthRequest::new(&client, &format!("{spa}/callback"), "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let mut call = http.post(format!("{base}/token")).header("origin", origin);
        if let Some(secret) = &credentials {
            call = call.basic_auth(&client, Some(secret));
        }
        let res = call
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", &req.redirect_uri),
                ("code_verifier", &req.verifier),
                ("client_id", &client),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{origin} {client}");
        assert_eq!(acao(&res), None, "{origin} {client}");
    }
    // An expired or unknown token's 401 is readable, with its WWW-Authenticate, wherever the
    // page runs: nothing in it is the citizen's.
    let res = http
        .get(format!("{base}/userinfo"))
        .header("origin", "https://evil.example")
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(acao(&res).as_deref(), Some("https://evil.example"));
    assert!(res.headers().contains_key("www-authenticate"));
    // Revocation, likewise.
    let res = http
        .post(format!("{base}/revoke"))
        .header("origin", spa)
        .form(&[("token", tokens["refresh_token"].as_str().unwrap()), ("client_id", &public)])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), acao(&res).as_deref()), (StatusCode::OK, Some(spa)));
    // Endpoints for servers only send no CORS headers at all.
    let res = http
        .post(format!("{base}/introspect"))
        .header("origin", spa)
        .form(&[("token", access), ("client_id", &public)])
        .send()
        .await
        .unwrap();
    assert_eq!(acao(&res), None);
}
