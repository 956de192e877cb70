//! The login flow end to end, with the `openidconnect` crate as an independent relying party.

use civpass_core::oidc::login::Verdict;
use civpass_core::store::ports::*;
use civpass_crypto::jws::Algorithm;
use civpass_testkit::{TestServer, backends, spawn_server};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;

use crate::support::{self, AuthRequest, CALLBACK};

/// The `openidconnect` crate's HTTP client interface over reqwest (it ships none without its
/// default features, which would bring a second TLS stack).
async fn rp_http(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, std::io::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let request = reqwest::Request::try_from(request).map_err(std::io::Error::other)?;
    let response = client.execute(request).await.map_err(std::io::Error::other)?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await.map_err(std::io::Error::other)?.to_vec();
    builder.body(body).map_err(std::io::Error::other)
}

/// The client type that discovery produces: auth endpoint set, token and UserInfo maybe set.
type DiscoveredClient = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

struct Rp {
    client: DiscoveredClient,
}

async fn relying_party(
    server: &TestServer,
    client_id: &str,
    secret: Option<&str>,
    auth_type: AuthType,
) -> Rp {
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &rp_http,
    )
    .await
    .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        secret.map(|s| ClientSecret::new(s.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap())
    .set_auth_type(auth_type);
    Rp { client }
}

struct LoggedIn {
    id_token: openidconnect::core::CoreIdToken,
    sub: String,
    access_token: String,
    refresh_token: String,
    acr: Option<String>,
    amr: Vec<String>,
}

/// One login driven by the `openidconnect` crate: the RP builds the request and validates the
/// response; a browser and the wallet play the citizen.
async fn login_with_rp(
    server: &TestServer,
    rp: &Rp,
    wallet: &civpass_wallet::Wallet,
    extra_scopes: &[&str],
) -> LoggedIn {
    login_with_rp_in(&support::browser(), server, rp, wallet, extra_scopes).await
}

/// The same, in `browser`, whose cookies then bind the session.
async fn login_with_rp_in(
    browser: &reqwest::Client,
    server: &TestServer,
    rp: &Rp,
    wallet: &civpass_wallet::Wallet,
    extra_scopes: &[&str],
) -> LoggedIn {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut auth = rp.client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in extra_scopes {
        auth = auth.add_scope(Scope::new((*scope).to_owned()));
    }
    let (url, csrf, nonce) = auth.set_pkce_challenge(challenge).url();

    let waiting = support::open_login_page(browser, &server.base, url.as_str()).await;
    support::approve(wallet, &waiting).await;
    let back = support::finish(browser, &waiting).await;
    assert!(back.as_str().starts_with(CALLBACK));
    assert_eq!(support::query(&back, "state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(support::query(&back, "iss").as_deref(), Some(server.base.as_str()), "RFC 9207 iss");
    let code = support::query(&back, "code").unwrap();

    let http = rp_http;
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token");
    let verifier = rp
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&verifier, &nonce)
        .expect("a valid ID token");
    assert!(claims.auth_time().is_some());
    LoggedIn {
        id_token: tokens.id_token().expect("an ID token").clone(),
        sub: claims.subject().to_string(),
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens.refresh_token().expect("a refresh token").secret().clone(),
        acr: claims.auth_context_ref().map(|a| a.to_string()),
        amr: claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
    }
}

#[tokio::test]
async fn openidconnect_client_signs_a_citizen_in_and_receives_verified_data() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(3).await;
        let (id, secret) = server.client(CALLBACK).await;
        let rp = relying_party(&server, &id, Some(&secret), AuthType::BasicAuth).await;
        let logged_in =
            login_with_rp(&server, &rp, &wallet, &["profile", "hkid", "birthdate", "gender"]).await;
        assert_eq!(logged_in.acr.as_deref(), Some("basic"));
        assert_eq!(logged_in.amr, vec!["swk".to_owned()]);

        let userinfo: CoreUserInfoClaims = rp
            .client
            .user_info(openidconnect::AccessToken::new(logged_in.access_token.clone()), None)
            .unwrap()
            .request_async(&rp_http)
            .await
            .expect("userinfo");
        assert_eq!(userinfo.subject().as_str(), logged_in.sub);
        let (hkid, name, dob) = server.person(3);
        assert_eq!(
            userinfo.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
            Some(name.as_str())
        );
        assert_eq!(userinfo.birthdate().map(|d| d.as_str()), Some(dob.as_str()));
        let (_, raw) = support::userinfo(&server.base, &logged_in.access_token).await;
        assert_eq!(raw["hkid"], hkid);
        assert!(raw["name#zh-Hant-HK"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(matches!(raw["gender"].as_str(), Some("female" | "male")));

        // The consent and every release are on record.
        let account_id = wallet.file.account_id.clone().unwrap();
        let consents = server
            .store
            .list_consents(&civpass_core::kernel::AccountId::from(&account_id))
            .await
            .unwrap();
        assert_eq!(consents.len(), 1);
        assert_eq!(consents[0].scopes, ["openid", "profile", "hkid", "birthdate", "gender"]);
        let releases = server
            .store
            .list_releases(&civpass_core::kernel::AccountId::from(&account_id))
            .await
            .unwrap();
        let channels: Vec<&str> = releases.iter().map(|r| r.channel.as_str()).collect();
        assert_eq!(channels, ["id_token", "userinfo", "userinfo"], "{backend:?}");
        assert!(releases[1].claims.contains(&"hkid".to_owned()));
    }
}

#[tokio::test]
async fn a_client_registered_for_rs256_gets_rs256_id_tokens() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(12).await;
        let created = server
            .services
            .oidc
            .create_client_with("RSA-only service", &[CALLBACK.to_owned()], false, Algorithm::RS256)
            .await
            .unwrap();
        let rp = relying_party(
            &server,
            &created.client.id,
            created.secret.as_deref(),
            AuthType::BasicAuth,
        )
        .await;
        // The verifier's default: RS256 only, as OIDC Registration makes it for such clients.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _, nonce) = rp
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .url();
        let browser = support::browser();
        let waiting = support::open_login_page(&browser, &server.base, url.as_str()).await;
        support::approve(&wallet, &waiting).await;
        let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
        let tokens = rp
            .client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&rp_http)
            .await
            .unwrap();
        let id_token = tokens.id_token().unwrap();
        assert!(id_token.claims(&rp.client.id_token_verifier(), &nonce).is_ok());
        let compact = id_token.to_string();
        let header =
            civpass_crypto::secret::b64url_decode(compact.split('.').next().unwrap()).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&header).unwrap()["alg"], "RS256");
    }
}

#[tokio::test]
async fn client_secret_post_and_public_clients_complete_the_flow() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(4).await;
        let (id, secret) = server.client(CALLBACK).await;
        let rp = relying_party(&server, &id, Some(&secret), AuthType::RequestBody).await;
        login_with_rp(&server, &rp, &wallet, &["profile"]).await;

        let public = server
            .services
            .oidc
            .create_client("Public app", &[CALLBACK.to_owned()], true)
            .await
            .unwrap();
        assert!(public.secret.is_none());
        let rp = relying_party(&server, &public.client.id, None, AuthType::RequestBody).await;
        login_with_rp(&server, &rp, &wallet, &[]).await;
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_stops_working() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(5).await;
        let (id, secret) = server.client(CALLBACK).await;
        let rp = relying_party(&server, &id, Some(&secret), AuthType::BasicAuth).await;
        let logged_in = login_with_rp(&server, &rp, &wallet, &["profile"]).await;
        let refreshed = rp
            .client
            .exchange_refresh_token(&openidconnect::RefreshToken::new(
                logged_in.refresh_token.clone(),
            ))
            .unwrap()
            .request_async(&rp_http)
            .await
            .expect("refresh");
        let new_refresh = refreshed.refresh_token().unwrap().secret().clone();
        assert_ne!(new_refresh, logged_in.refresh_token);
        let (status, _) = support::userinfo(&server.base, refreshed.access_token().secret()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = support::token(
            &server.base,
            (&id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &logged_in.refresh_token)],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
}

#[tokio::test]
async fn subjects_are_stable_per_client_and_differ_between_clients() {
    let server = spawn_server(&backends()[0]).await;
    let wallet = server.enrolled_wallet(6).await;
    let (a_id, a_secret) = server.client(CALLBACK).await;
    let (b_id, b_secret) = server.client(CALLBACK).await;
    let rp_a = relying_party(&server, &a_id, Some(&a_secret), AuthType::BasicAuth).await;
    let rp_b = relying_party(&server, &b_id, Some(&b_secret), AuthType::BasicAuth).await;
    let first = login_with_rp(&server, &rp_a, &wallet, &[]).await.sub;
    let again = login_with_rp(&server, &rp_a, &wallet, &[]).await.sub;
    let other = login_with_rp(&server, &rp_b, &wallet, &[]).await.sub;
    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[tokio::test]
async fn data_the_citizen_declines_is_not_released() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(7).await;
        let (id, secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid profile hkid");
        let browser = support::browser();
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        assert!(view.scopes.iter().any(|s| s.scope == "hkid" && s.optional));
        assert!(view.scopes.iter().any(|s| s.scope == "openid" && !s.optional));
        wallet
            .decide(
                &waiting.link,
                &view,
                Verdict::Approve,
                &waiting.match_code,
                &["openid".into(), "profile".into()],
            )
            .await
            .unwrap();
        let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
        let (status, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tokens["scope"], "openid profile");
        let (_, claims) =
            support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
        assert!(claims.get("name").is_some());
        assert!(claims.get("hkid").is_none());
    }
}

#[tokio::test]
async fn a_denied_request_sends_the_browser_back_with_access_denied() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(8).await;
        let (id, _) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let browser = support::browser();
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        let view = wallet.fetch(&waiting.link).await.unwrap();
        let res = wallet.decide(&waiting.link, &view, Verdict::Deny, "", &[]).await.unwrap();
        assert_eq!(res.status, "denied");
        let back = support::finish(&browser, &waiting).await;
        assert_eq!(support::query(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(support::query(&back, "state").as_deref(), Some(req.state.as_str()));
        assert!(support::query(&back, "code").is_none());
    }
}

#[tokio::test]
async fn the_login_page_reports_its_status_for_polling() {
    let server = spawn_server(&backends()[0]).await;
    let wallet = server.enrolled_wallet(9).await;
    let (_, browser, waiting) = support::start_login(&server, "openid").await;
    let status = |b: reqwest::Client| {
        let url = format!("{}/status", waiting.page_url);
        async move { b.get(url).send().await.unwrap() }
    };
    assert_eq!(
        status(browser.clone()).await.json::<serde_json::Value>().await.unwrap()["status"],
        "pending"
    );
    assert_eq!(
        status(support::browser()).await.status(),
        StatusCode::NOT_FOUND,
        "another browser learns nothing"
    );
    support::approve(&wallet, &waiting).await;
    assert_eq!(
        status(browser.clone()).await.json::<serde_json::Value>().await.unwrap()["status"],
        "approved"
    );
}

#[tokio::test]
async fn discovery_jwks_and_openapi_describe_the_provider() {
    let server = spawn_server(&backends()[0]).await;
    let get = |path: &str| {
        let url = format!("{}{path}", server.base);
        async move { reqwest::get(url).await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let discovery = get("/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], server.base);
    assert_eq!(discovery["subject_types_supported"], serde_json::json!(["pairwise"]));
    assert_eq!(discovery["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    let jwks = get("/jwks").await;
    let algs: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"), "{algs:?}");
    let openapi = get("/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/device/enrolments"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/device/login-requests/{id}/decision"]["post"].is_object());
    for path in [
        "/api/v1/device/passkey-registrations",
        "/api/v1/device/passkey-registrations/{id}",
        "/api/v1/device/login-requests/{id}/passkey-challenge",
        "/api/v1/device/sessions/challenge",
        "/api/v1/device/sessions",
    ] {
        assert!(openapi["paths"][path]["post"].is_object(), "{path}");
    }
    assert!(openapi["paths"]["/api/v1/device/me/services/{client_id}"]["delete"].is_object());
    assert_eq!(openapi["components"]["securitySchemes"]["app_session"]["scheme"], "bearer");
    assert_eq!(discovery["ui_locales_supported"], serde_json::json!(["en", "zh-HK", "zh-CN"]));
    assert_eq!(
        reqwest::get(format!("{}/healthz", server.base)).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_account_moves_to_a_new_device_only_with_the_current_devices_signature() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let old = server.enrolled_wallet(10).await;
        let (hkid, name, dob) = server.person(10);
        let mut new = civpass_wallet::Wallet::create(&server.base).unwrap();
        let err = new.enrol(&hkid, &name, &dob, Some("pass"), None).await.unwrap_err();
        assert!(
            matches!(err, civpass_wallet::WalletError::Problem(ref p) if p.status == 409),
            "{err}"
        );
        let moved = new.enrol(&hkid, &name, &dob, None, Some(&old)).await.unwrap();
        assert!(moved.transferred);
        assert_eq!(Some(moved.account_id), old.file.account_id);

        // The old device can no longer approve logins; the new one can.
        let (_, _, waiting) = support::start_login(&server, "openid").await;
        let view = old.fetch(&waiting.link).await.unwrap();
        let err = old
            .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &["openid".into()])
            .await
            .unwrap_err();
        assert!(
            matches!(err, civpass_wallet::WalletError::Problem(ref p) if p.status == 403),
            "{err}"
        );
        support::approve(&new, &waiting).await;
        // A second transfer with the revoked device fails.
        let mut third = civpass_wallet::Wallet::create(&server.base).unwrap();
        assert!(third.enrol(&hkid, &name, &dob, None, Some(&old)).await.is_err());
    }
}

#[tokio::test]
async fn enrolment_with_details_that_do_not_match_is_refused_and_stores_nothing() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (hkid, name, dob) = server.person(11);
        let mut wallet = civpass_wallet::Wallet::create(&server.base).unwrap();
        for (h, n, d) in [
            (hkid.as_str(), "CHAN Someone Else", dob.as_str()),
            (hkid.as_str(), name.as_str(), "1900-01-01"),
        ] {
            let err = wallet.enrol(h, n, d, Some("pass"), None).await.unwrap_err();
            assert!(
                matches!(err, civpass_wallet::WalletError::Problem(ref p) if p.status == 422),
                "{err}"
            );
        }
        // A valid number that is not in the registry gets the same answer.
        let err = wallet.enrol("A123456(3)", &name, &dob, Some("pass"), None).await.unwrap_err();
        assert!(
            matches!(err, civpass_wallet::WalletError::Problem(ref p) if p.status == 422 && p.problem_type.ends_with("identity-mismatch")),
            "{err}"
        );
        // Nothing was stored: the real enrolment still succeeds as a new account.
        let done = wallet.enrol(&hkid, &name, &dob, Some("pass"), None).await.unwrap();
        assert!(!done.transferred);
    }
}

#[tokio::test]
async fn the_openidconnect_crate_introspects_and_logs_out() {
    use openidconnect::{
        AccessToken, EndSessionUrl, IntrospectionUrl, LogoutRequest, PostLogoutRedirectUrl,
        ProviderMetadataWithLogout, TokenIntrospectionResponse,
    };
    const BYE: &str = "https://rp.example/bye";
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(7).await;
        let mut spec =
            civpass_core::oidc::clients::ClientSpec::web("Logout RP", &[CALLBACK.to_owned()]);
        spec.post_logout_redirect_uris = vec![BYE.to_owned()];
        let created = server.services.oidc.register_client(spec).await.unwrap();
        let (id, secret) = (created.client.id, created.secret.unwrap());
        let rp = relying_party(&server, &id, Some(&secret), AuthType::BasicAuth).await;
        // The crate reads the endpoints from our discovery document.
        let logout_metadata = ProviderMetadataWithLogout::discover_async(
            IssuerUrl::new(server.base.clone()).unwrap(),
            &rp_http,
        )
        .await
        .expect("discovery with logout metadata");
        let end_session: EndSessionUrl =
            logout_metadata.additional_metadata().end_session_endpoint.clone().unwrap();
        let document = support::discovery(&server.base).await;
        let url = |name: &str| document[name].as_str().unwrap().to_owned();
        let client = rp
            .client
            .clone()
            .set_introspection_url(IntrospectionUrl::new(url("introspection_endpoint")).unwrap());

        // Introspection (RFC 7662) and revocation (RFC 7009).
        let first = login_with_rp(&server, &rp, &wallet, &[]).await;
        let access = AccessToken::new(first.access_token.clone());
        let seen = client.introspect(&access).request_async(&rp_http).await.expect("introspect");
        assert!(seen.active());
        assert_eq!(seen.sub(), Some(first.sub.as_str()));
        // The crate refuses a plain-http revocation endpoint (the test server has no TLS), so
        // this request is made by hand; openid-client revokes in `interop.test.mjs`.
        let res = reqwest::Client::new()
            .post(url("revocation_endpoint"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", first.refresh_token.as_str()), ("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let seen = client.introspect(&access).request_async(&rp_http).await.expect("introspect");
        assert!(!seen.active(), "revoking the refresh token ends the grant");

        // RP-initiated logout with the crate's end-session URL ends the session it names, once
        // the citizen confirms it in the browser they logged in with.
        let browser = support::browser();
        let second = login_with_rp_in(&browser, &server, &rp, &wallet, &[]).await;
        let logout = LogoutRequest::from(end_session)
            .set_id_token_hint(&second.id_token)
            .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(BYE.to_owned()).unwrap())
            .set_state(CsrfToken::new("bye-1".to_owned()))
            .http_get_url();
        let res = browser.get(logout.as_str()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "the citizen is asked first");
        let page = res.text().await.unwrap();
        let res = support::answer_logout(&browser, &server.base, &page, "logout").await;
        assert!(res.status().is_redirection(), "{}", res.status());
        assert_eq!(support::location(&res), format!("{BYE}?state=bye-1"));
        let access = AccessToken::new(second.access_token.clone());
        let seen = client.introspect(&access).request_async(&rp_http).await.expect("introspect");
        assert!(!seen.active(), "the logout ended the session");
    }
}
