//! Form filling through rich authorization requests (RFC 9396, civpass type `form_filling`):
//! the app shows the form and its fields, the service gets the filled fields as claims and the
//! granted details in the token response; an anonymous filling gives a one-time subject and
//! leaves no consent, grant, release or link with the service, only the citizen's sealed record.
//! On both databases.

use civpass_core::store::ports::LoginStore;
use civpass_testkit::{TestServer, backends, spawn_server};
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK};

fn form(anonymous: bool) -> String {
    json!([{
        "type": "form_filling",
        "form_name": "Application for a Residents' Parking Permit",
        "form_number": "TD 561",
        "description": "Permit for parking in your district",
        "purpose": "To decide your permit application",
        "fields": ["given_name", {"name": "email", "essential": true}, "address"],
        "anonymous": anonymous,
    }])
    .to_string()
}

/// One filling: returns the app's view, the token response, and the ID token's claims.
async fn fill(
    server: &TestServer,
    client: (&str, &str),
    wallet: &civpass_wallet::Wallet,
    details: &str,
) -> (civpass_api::LoginRequestView, Value, Value) {
    let req = AuthRequest::new(client.0, CALLBACK, "openid");
    let url = crate::oidc_params::with(&req, server, &[("authorization_details", details)]);
    let browser = support::browser();
    let waiting = support::open_login_page(&browser, &server.base, &url).await;
    let view = wallet.fetch_with_values(&waiting.link).await.unwrap();
    support::approve(wallet, &waiting).await;
    let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
    let (status, tokens) = support::redeem(&server.base, client, &req, &code).await;
    assert_eq!(status, 200, "{tokens}");
    // An anonymous code is good once too (a linked one's replay revokes its grant, as
    // `tokens.rs` tests).
    if details.contains("\"anonymous\":true") {
        let (again, _) = support::redeem(&server.base, client, &req, &code).await;
        assert_eq!(again, 400);
    }
    let id_token = crate::oidc_params::id_token_claims(tokens["id_token"].as_str().unwrap());
    (view, tokens, id_token)
}

async fn citizen(server: &TestServer, idx: usize) -> civpass_wallet::Wallet {
    let wallet = server.enrolled_wallet(idx).await;
    let session = wallet.open_session().await.unwrap();
    let changes = vec![
        ("email".to_owned(), Some("form@example.hk".to_owned())),
        ("address.building".to_owned(), Some("Lok Fu Court".to_owned())),
        ("address.district".to_owned(), Some("Wong Tai Sin".to_owned())),
    ];
    wallet.change_vault(&session, changes).await.unwrap();
    wallet
}

#[tokio::test]
async fn a_service_fills_a_named_form_with_the_fields_the_citizen_approved() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let wallet = citizen(&server, 14).await;
        let (view, tokens, id_token) = fill(&server, (&id, &secret), &wallet, &form(false)).await;
        let shown = view.form.as_ref().unwrap();
        assert_eq!(shown.form_name, "Application for a Residents' Parking Permit");
        assert_eq!(shown.form_number.as_deref(), Some("TD 561"));
        assert_eq!(shown.fields, ["given_name", "email", "address"]);
        assert!(!shown.anonymous);
        assert_eq!(view.purpose.as_deref(), Some("To decide your permit application"));
        let email = view.scopes.iter().find(|s| s.scope == "email").unwrap();
        assert!(email.essential);
        assert_eq!(email.claims.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["email"]);

        // The filled fields, as claims in the ID token and the granted details beside them.
        assert_eq!(id_token["email"], "form@example.hk");
        assert_eq!(id_token["address"]["locality"], "Wong Tai Sin");
        assert!(id_token["given_name"].is_string() && id_token.get("family_name").is_none());
        let granted = &tokens["authorization_details"][0];
        assert_eq!(granted["type"], "form_filling");
        assert_eq!(granted["form_number"], "TD 561");
        assert_eq!(granted["fields"].as_array().unwrap().len(), 3);
        let (_, userinfo) =
            support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(userinfo["email"], "form@example.hk");
        // A linked filling is a consent like any other.
        let session = wallet.open_session().await.unwrap();
        let services = wallet.services(&session).await.unwrap();
        assert_eq!(services[0].purpose.as_deref(), Some("To decide your permit application"));

        // An anonymous filling cannot be pinned to a citizen or a level: the outcome would say
        // who filled it.
        for pin in [
            ("claims", r#"{"id_token":{"sub":{"value":"someone"}}}"#),
            ("acr_values", "plus"),
            ("login_hint", "x"),
        ] {
            let req = AuthRequest::new(&id, CALLBACK, "openid");
            let url = crate::oidc_params::with(
                &req,
                &server,
                &[("authorization_details", &form(true)), pin],
            );
            let res = support::browser().get(url).send().await.unwrap();
            let back = url::Url::parse(&support::location(&res)).unwrap();
            assert_eq!(
                support::query(&back, "error").as_deref(),
                Some("invalid_request"),
                "{pin:?}"
            );
        }

        let discovery = support::discovery(&server.base).await;
        assert_eq!(discovery["authorization_details_types_supported"], json!(["form_filling"]));

        for bad in [
            r#"[{"type":"payment_initiation"}]"#,
            r#"[{"type":"form_filling","form_name":"x","fields":["sub"]}]"#,
            "not json",
        ] {
            let req = AuthRequest::new(&id, CALLBACK, "openid");
            let url = crate::oidc_params::with(&req, &server, &[("authorization_details", bad)]);
            let res = support::browser().get(url).send().await.unwrap();
            let back = url::Url::parse(&support::location(&res)).unwrap();
            assert_eq!(
                support::query(&back, "error").as_deref(),
                Some("invalid_authorization_details"),
                "{bad}"
            );
        }
    }
}

#[tokio::test]
async fn an_anonymous_filling_leaves_the_service_no_link_to_the_citizen() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let wallet = citizen(&server, 15).await;
        let (view, first, first_id) = fill(&server, (&id, &secret), &wallet, &form(true)).await;
        assert!(view.form.unwrap().anonymous);
        let request = server
            .store
            .find_login_request(&view.request_id.clone().into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (request.account_id, request.device_id),
            (None, None),
            "the request forgot who approved it"
        );
        let (_, second, second_id) = fill(&server, (&id, &secret), &wallet, &form(true)).await;

        // The data, under a subject used once.
        assert_eq!(first_id["email"], "form@example.hk");
        assert_eq!(second_id["address"]["building"], "Lok Fu Court");
        let (a, b) = (first_id["sub"].as_str().unwrap(), second_id["sub"].as_str().unwrap());
        assert_ne!(a, b, "two fillings, two subjects");
        assert!(
            first_id.get("acr").is_none() && first_id.get("amr").is_none(),
            "no level or device kind"
        );
        assert!(first.get("refresh_token").is_none() && second.get("refresh_token").is_none());
        let (status, _) =
            support::userinfo(&server.base, first["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 401, "the access token opens nothing");
        assert_eq!(first["authorization_details"][0]["anonymous"], true);

        // Other scopes the request names are neither shown nor sent: only the form's fields.
        let req = AuthRequest::new(&id, CALLBACK, "openid hkid gender email");
        let url =
            crate::oidc_params::with(&req, &server, &[("authorization_details", &form(true))]);
        let browser = support::browser();
        let waiting = support::open_login_page(&browser, &server.base, &url).await;
        let view = wallet.fetch_with_values(&waiting.link).await.unwrap();
        let shown: Vec<&str> = view.scopes.iter().map(|s| s.scope.as_str()).collect();
        assert!(!shown.contains(&"hkid") && !shown.contains(&"gender"), "{shown:?}");
        let claims: Vec<&str> =
            view.scopes.iter().flat_map(|s| s.claims.iter().map(|c| c.name.as_str())).collect();
        assert!(
            claims.iter().all(|c| ["given_name", "email", "address"].contains(c)),
            "{claims:?}"
        );
        support::approve(&wallet, &waiting).await;
        let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let claims = crate::oidc_params::id_token_claims(tokens["id_token"].as_str().unwrap());
        assert!(claims.get("hkid").is_none() && claims.get("gender").is_none(), "{claims}");
        assert_eq!(claims["email"], "form@example.hk");

        // No consent, grant or release links the two; the login requests forgot the account.
        let account: civpass_core::kernel::AccountId =
            wallet.file.account_id.clone().unwrap().into();
        assert!(server.services.consent.consents(&account).await.unwrap().is_empty());
        assert!(server.services.consent.releases(&account).await.unwrap().is_empty());
        let session = wallet.open_session().await.unwrap();
        assert!(wallet.services(&session).await.unwrap().is_empty());
        // A regular login afterwards gets the service's pairwise subject, unrelated to either.
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let linked = crate::oidc_params::id_token_claims(tokens["id_token"].as_str().unwrap());
        assert!(linked["sub"] != a && linked["sub"] != b);

        // The citizen's own record of both, and only theirs.
        let fillings = wallet.anonymous_fillings(&session).await.unwrap();
        assert_eq!(fillings.len(), 3, "two fillings above and the one with other scopes");
        assert_eq!(fillings[0].client_name, "Test service");
        assert_eq!(fillings[0].form_name, "Application for a Residents' Parking Permit");
        assert_eq!(fillings[0].claims, ["address", "email", "given_name"]);
        let other = server.enrolled_wallet(16).await;
        let other_session = other.open_session().await.unwrap();
        assert!(other.anonymous_fillings(&other_session).await.unwrap().is_empty());
    }
}
