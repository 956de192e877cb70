//! e-ME: the citizen's vault over the device API, on both databases: changes all or none,
//! refused values reported each with why, registry fields read-only, and two devices' changes
//! never lost to each other.

use civpass_testkit::{backends, spawn_server};
use civpass_wallet::WalletError;
use serde_json::{Value, json};

fn field<'a>(
    vault: &'a civpass_wallet::Vault,
    name: &str,
) -> Option<&'a civpass_api::VaultFieldView> {
    vault.fields.iter().find(|f| f.name == name)
}

fn change(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned))).collect()
}

#[tokio::test]
async fn the_vault_keeps_fields_with_their_source_and_refuses_bad_values_whole() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(3).await;
        let session = wallet.open_session().await.unwrap();
        let vault = wallet.vault(&session).await.unwrap();
        let (hkid, name_en, _) = server.person(3);
        assert_eq!(field(&vault, "hkid").unwrap().value, json!(hkid));
        assert_eq!(field(&vault, "name").unwrap().value, json!(name_en));
        assert!(vault.fields.iter().all(|f| f.source == "registry"), "{:?}", vault.fields);

        let vault = wallet
            .change_vault(
                &session,
                change(&[
                    ("phone_number", Some("+852 6123 4567")),
                    ("email", Some("Tester@Example.HK")),
                    ("title", Some("ms")),
                    ("address.flat", Some("12A")),
                    ("address.street_name", Some("Tai Po Road")),
                    ("address.district", Some("Sha Tin")),
                    ("address#zh-Hant-HK.district", Some("沙田")),
                    ("education_level", Some("bachelor")),
                ]),
            )
            .await
            .unwrap();
        let phone = field(&vault, "phone_number").unwrap();
        assert_eq!(
            (phone.value.clone(), phone.source.as_str()),
            (json!("+85261234567"), "self_declared")
        );
        assert_eq!(field(&vault, "email").unwrap().value, json!("Tester@example.hk"));
        assert_eq!(field(&vault, "title").unwrap().value, json!("Ms"));
        let address = &field(&vault, "address").unwrap().value;
        assert_eq!(address["region"], "New Territories");
        assert_eq!(field(&vault, "address#zh-Hant-HK").unwrap().value["district"], "沙田區");

        // One bad value among good ones: nothing changes, and each bad one is named.
        let refused = wallet
            .change_vault(
                &session,
                change(&[
                    ("phone_number", Some("61234567")),
                    ("email", Some("not an address")),
                    ("marital_status", Some("married")),
                    ("address.district", Some("Gotham")),
                    ("name", Some("Someone Else")),
                    ("favourite_colour", Some("blue")),
                ]),
            )
            .await
            .unwrap_err();
        let WalletError::Problem(problem) = refused else { panic!("{refused:?}") };
        assert_eq!(problem.status, 422);
        let mut named: Vec<&str> = problem.errors.iter().map(|e| e.pointer.as_str()).collect();
        named.sort_unstable();
        assert_eq!(
            named,
            ["address.district", "email", "favourite_colour", "name", "phone_number"]
        );
        let after = wallet.vault(&session).await.unwrap();
        assert!(field(&after, "marital_status").is_none(), "the good value did not land alone");
        assert_eq!(field(&after, "phone_number").unwrap().value, json!("+85261234567"));

        // Deleting a part, then a whole field.
        let vault = wallet.change_vault(&session, change(&[("address.flat", None)])).await.unwrap();
        assert!(field(&vault, "address").unwrap().value.get("flat").is_none());
        let vault = wallet.change_vault(&session, change(&[("email", None)])).await.unwrap();
        assert!(field(&vault, "email").is_none());

        // Without a session there is no vault.
        let http = reqwest::Client::new();
        let res = http.get(format!("{}/api/v1/device/me/eme", server.base)).send().await.unwrap();
        assert_eq!(res.status(), 401);
        let res = http
            .patch(format!("{}/api/v1/device/me/eme", server.base))
            .bearer_auth(&session.token)
            .header("content-type", "application/json")
            .body("{\"changes\": {\"email\": 5}}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "a value that is not a string is malformed");
        let res = http
            .delete(format!("{}/api/v1/device/me/eme/hkid", server.base))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["pointer"], "hkid");
    }
}

#[tokio::test]
async fn changes_from_two_devices_at_once_are_all_kept() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(4).await;
        let session = wallet.open_session().await.unwrap();
        let fields = [
            "title",
            "marital_status",
            "phone_number",
            "home_phone_number",
            "office_phone_number",
            "email",
            "education_level",
            "address.building",
        ];
        let values = [
            "Dr",
            "single",
            "+85261230001",
            "+85221230002",
            "+85231230003",
            "a@example.hk",
            "master",
            "Harmony Court",
        ];
        let writes = fields.iter().zip(values).map(|(f, v)| {
            let (wallet, session) = (&wallet, &session);
            async move { wallet.change_vault(session, change(&[(f, Some(v))])).await }
        });
        for result in futures_util::future::join_all(writes).await {
            result.unwrap();
        }
        let vault = wallet.vault(&session).await.unwrap();
        for (f, v) in fields.iter().zip(values) {
            let (name, part) = f.split_once('.').map_or((*f, None), |(n, p)| (n, Some(p)));
            let value = &field(&vault, name).unwrap_or_else(|| panic!("{f} was lost")).value;
            let value = part.map_or(value, |p| &value[p]);
            assert_eq!(value, &json!(v), "{f}");
        }
    }
}
