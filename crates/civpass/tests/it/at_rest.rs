//! Personal data at rest: after registration, an e-ME vault filled and verified, logins that
//! release every field (by scope, by the claims parameter, as verified_claims, and by linked
//! and anonymous form filling), the database holds none of the citizen's personal data in
//! plaintext. SQLite: the database file, its WAL and shared-memory file, byte for byte;
//! PostgreSQL: a `pg_dump` of the whole database.

use civpass_testkit::{Backend, backends, spawn_server};

use crate::support::{self, AuthRequest, CALLBACK};

#[tokio::test]
async fn the_database_holds_no_personal_data_in_plaintext() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(CALLBACK).await;
        let person = server.registry.people()[17].clone();
        let wallet = server.enrolled_wallet(17).await;
        let session = wallet.open_session().await.unwrap();
        let eme = [
            ("phone_number", "+85264447777"),
            ("home_phone_number", "+85223338888"),
            ("office_phone_number", "+85231119999"),
            ("email", "plaintext.hunter@example.hk"),
            ("title", "Prof"),
            ("address.flat", "27C"),
            ("address.building", "Verdant Heights"),
            ("address.street_name", "Orchid Crescent"),
            ("address.district", "Kwun Tong"),
            ("address#zh-Hant-HK.building", "翠綠閣"),
            ("address#zh-Hant-HK.street_name", "蘭花街"),
            ("postal_address", "PO Box 98765, Kowloon Central"),
        ];
        let changes = eme.iter().map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned()))).collect();
        wallet.change_vault(&session, changes).await.unwrap();
        let bill = b"%PDF-1.4 Synthetic Electricity Bill for Verdant Heights".to_vec();
        wallet.upload_address_proof(&session, bill).await.unwrap();
        let started = wallet.start_verification(&session, "phone_number").await.unwrap();
        let sms =
            std::fs::read_to_string(server.db.dir.join("sandbox-messages/sms.jsonl")).unwrap();
        let code: String = sms.split("code is ").nth(1).unwrap().chars().take(6).collect();
        wallet
            .confirm_phone(&session, started.verification_id.as_deref().unwrap(), &code)
            .await
            .unwrap();

        let all = "openid profile hkid birthdate gender email phone address postal_address other_phones title address_proof";
        let verified = r#"{"userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"hkid":null,"name":null}}}}"#;
        let form = r#"[{"type":"form_filling","form_name":"At rest","fields":["email","address","phone_number"]}]"#;
        let anonymous = r#"[{"type":"form_filling","form_name":"At rest","fields":["email","address"],"anonymous":true}]"#;
        for extra in [
            vec![],
            vec![("claims", verified)],
            vec![("authorization_details", form)],
            vec![("authorization_details", anonymous)],
        ] {
            let req = AuthRequest::new(&id, CALLBACK, all);
            let url = crate::oidc_params::with(&req, &server, &extra);
            let browser = support::browser();
            let waiting = support::open_login_page(&browser, &server.base, &url).await;
            support::approve(&wallet, &waiting).await;
            let code = support::query(&support::finish(&browser, &waiting).await, "code").unwrap();
            let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
            let (_, userinfo) =
                support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
            if extra.is_empty() {
                assert_eq!(
                    userinfo["email"], "plaintext.hunter@example.hk",
                    "everything was released"
                );
            }
        }
        wallet.consent_receipt(&session, &id).await.unwrap();

        let stored: Vec<u8> = match &backend {
            Backend::Sqlite => {
                // The WAL holds the recent writes: read it before anything checkpoints it away.
                let mut bytes = Vec::new();
                for entry in std::fs::read_dir(&server.db.dir).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().to_string();
                    if name.starts_with("civpass.db") {
                        bytes.extend(std::fs::read(&path).unwrap());
                    }
                }
                assert!(bytes.len() > 100_000, "the database files were read");
                bytes
            }
            Backend::Postgres(_) => {
                let dump =
                    std::process::Command::new("pg_dump").arg(&server.db.url).output().unwrap();
                assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
                assert!(String::from_utf8_lossy(&dump.stdout).contains("eme_vaults"));
                dump.stdout
            }
        };
        // The search finds what is kept in clear, such as a service's name.
        assert!(stored.windows(12).any(|w| w == b"Test service"), "the search works");
        let hkid = person.hkid.to_string();
        let needles: Vec<(&str, String)> = [
            ("identity card number", hkid.clone()),
            ("identity card number without brackets", hkid.replace(['(', ')'], "")),
            ("English name", person.name_en.clone()),
            ("Chinese name", person.name_zh.clone()),
            ("date of birth", person.date_of_birth.to_string()),
            ("local mobile number", "64447777".to_owned()),
            ("e-mail user", "plaintext.hunter".to_owned()),
            ("address proof", "Synthetic Electricity Bill".to_owned()),
        ]
        .into_iter()
        .chain(
            eme.iter()
                .filter(|(k, _)| *k != "title" && *k != "address.flat" && *k != "address.district")
                .map(|(k, v)| (*k, (*v).to_owned())),
        )
        .collect();
        for (what, needle) in needles {
            let found = stored.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "the {what} ({needle}) is in the {backend:?} database in plaintext");
        }
    }
}
