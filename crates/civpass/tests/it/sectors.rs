//! Sector identifiers (OIDC Core section 8.1): an organisation's services that name the same
//! sector identifier URI get the same pairwise subject for a citizen; others do not.

use std::sync::{Arc, Mutex};

use civpass_core::oidc::clients::ClientSpec;
use civpass_testkit::{TestServer, backends, spawn_server};
use civpass_wallet::Wallet;

use crate::support::{self, AuthRequest};

/// The subject a client learns for the wallet's citizen, from the ID token and UserInfo alike.
async fn subject(
    server: &TestServer,
    wallet: &Wallet,
    client: (&str, &str),
    redirect: &str,
) -> String {
    let req = AuthRequest::new(client.0, redirect, "openid");
    let code = support::login_code(server, wallet, &req).await;
    let (_, tokens) = support::redeem(&server.base, client, &req, &code).await;
    let (_, info) = support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
    info["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn services_of_one_sector_share_a_subject_and_others_do_not() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (tax, housing) = ("http://127.0.0.1:9/tax/cb", "http://127.0.0.1:9/housing/cb");
        let listed = Arc::new(Mutex::new(serde_json::json!([tax, housing]).to_string()));
        let sector_uri = support::document_server(listed.clone()).await;
        let register = |name: &str, redirect: &str, sector: Option<&str>| {
            let mut spec = ClientSpec::web(name, &[redirect.to_owned()]);
            spec.sector_identifier_uri = sector.map(str::to_owned);
            server.services.oidc.register_client(spec)
        };
        let a = register("Tax", tax, Some(&sector_uri)).await.unwrap();
        let b = register("Housing", housing, Some(&sector_uri)).await.unwrap();
        let c = register("Elsewhere", tax, None).await.unwrap();
        assert_eq!(a.client.sector.as_deref(), Some("127.0.0.1"));

        let wallet = server.enrolled_wallet(120).await;
        let secret = |n: &civpass_core::oidc::clients::NewClient| n.secret.clone().unwrap();
        let sub_a = subject(&server, &wallet, (&a.client.id, &secret(&a)), tax).await;
        let sub_b = subject(&server, &wallet, (&b.client.id, &secret(&b)), housing).await;
        let sub_c = subject(&server, &wallet, (&c.client.id, &secret(&c)), tax).await;
        assert_eq!(sub_a, sub_b, "one sector, one subject");
        assert_ne!(sub_a, sub_c, "another sector, another subject");

        // A redirect URI the sector does not list is refused at registration.
        let outsider = register("Outsider", "http://127.0.0.1:9/other/cb", Some(&sector_uri)).await;
        assert!(outsider.is_err());
        *listed.lock().unwrap() = "not json".to_owned();
        assert!(register("Broken", tax, Some(&sector_uri)).await.is_err());
        assert!(register("Plain http", tax, Some("http://rp.example/sector.json")).await.is_err());
    }
}
