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

/// A citizen with a filled vault: mobile (verified or not), e-mail, an English address; no
/// Chinese address, no postal address.
async fn filled(server: &civpass_testkit::TestServer, idx: usize) -> civpass_wallet::Wallet {
    let wallet = server.enrolled_wallet(idx).await;
    let session = wallet.open_session().await.unwrap();
    wallet
        .change_vault(
            &session,
            change(&[
                ("phone_number", Some("+85261234567")),
                ("email", Some("tester@example.hk")),
                ("title", Some("Mr")),
                ("address.building", Some("Harmony Court")),
                ("address.district", Some("Sha Tin")),
            ]),
        )
        .await
        .unwrap();
    wallet
}

/// One login asking `scope` and `claims`, approved for `approve` (None: everything asked);
/// returns the app's view, the ID token's claims and UserInfo's answer.
async fn login_for(
    server: &civpass_testkit::TestServer,
    client: (&str, &str),
    wallet: &civpass_wallet::Wallet,
    scope: &str,
    claims: Option<&str>,
    approve: Option<&[&str]>,
) -> (civpass_api::LoginRequestView, Value, Value) {
    use crate::support::{self, AuthRequest, CALLBACK};
    let req = AuthRequest::new(client.0, CALLBACK, scope);
    let url = match claims {
        Some(c) => crate::oidc_params::with(&req, server, &[("claims", c)]),
        None => req.url(&server.base),
    };
    let browser = support::browser();
    let waiting = support::open_login_page(&browser, &server.base, &url).await;
    let view = wallet.fetch_with_values(&waiting.link).await.unwrap();
    let scopes: Vec<String> = view
        .scopes
        .iter()
        .map(|s| s.scope.clone())
        .filter(|s| approve.is_none_or(|a| s == "openid" || a.contains(&s.as_str())))
        .collect();
    wallet
        .decide(
            &waiting.link,
            &view,
            civpass_core::oidc::login::Verdict::Approve,
            &waiting.match_code,
            &scopes,
        )
        .await
        .unwrap();
    let back = support::finish(&browser, &waiting).await;
    let code = support::query(&back, "code").unwrap();
    let (_, tokens) = support::redeem(&server.base, client, &req, &code).await;
    let id_token = crate::oidc_params::id_token_claims(tokens["id_token"].as_str().unwrap());
    let (_, userinfo) =
        support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
    (view, id_token, userinfo)
}

fn keys(value: &Value) -> Vec<String> {
    let mut k: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn a_service_gets_the_e_me_fields_it_asked_for_and_the_citizen_approved_and_no_more() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(crate::support::CALLBACK).await;
        let wallet = filled(&server, 5).await;
        let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"given_name":null,"address#zh-Hant-HK":null}}"#;
        let (view, id_token, userinfo) = login_for(
            &server,
            (&id, &secret),
            &wallet,
            "openid email phone address",
            Some(claims),
            Some(&["email", "address", "profile"]),
        )
        .await;

        // What the app was shown: each scope's claims exactly, essential ones marked, values.
        let shown = |scope: &str| view.scopes.iter().find(|s| s.scope == scope).unwrap();
        assert!(shown("email").essential && !shown("phone").essential);
        let names =
            |scope: &str| shown(scope).claims.iter().map(|c| c.name.as_str()).collect::<Vec<_>>();
        assert_eq!(names("profile"), ["given_name"], "a claim asked alone is shown alone");
        assert_eq!(names("email"), ["email", "email_verified"]);
        assert_eq!(shown("email").claims[0].value, Some(json!("tester@example.hk")));
        assert_eq!(shown("email").claims[1].value, Some(json!(false)));
        assert_eq!(shown("phone").claims[0].value, Some(json!("+85261234567")));
        let address = shown("address").claims[0].value.clone().unwrap();
        assert_eq!(address["formatted"], "Harmony Court, Sha Tin, New Territories, Hong Kong");
        assert_eq!(address["locality"], "Sha Tin");
        assert!(shown("address").claims[1].value.is_none(), "no Chinese address filled");

        // Released: approved scopes' claims, the profile only as asked, nothing of phone.
        let (family, given) =
            server.person(5).1.split_once(' ').map(|(f, g)| (f.to_owned(), g.to_owned())).unwrap();
        assert_eq!(keys(&userinfo), ["address", "email", "email_verified", "given_name", "sub"]);
        assert_eq!(userinfo["given_name"], json!(given));
        assert!(!userinfo.to_string().contains(&family), "the family name was not asked for");
        assert_eq!(id_token["email"], "tester@example.hk");
        assert!(id_token.get("phone_number").is_none() && id_token.get("email_verified").is_none());

        // The citizen's record: the ID token's and UserInfo's releases, each as it was.
        let session = wallet.open_session().await.unwrap();
        let services = wallet.services(&session).await.unwrap();
        let releases = &services[0].releases;
        let mut recorded: Vec<Vec<String>> = releases
            .iter()
            .map(|r| {
                let mut c = r.claims.clone();
                c.sort_unstable();
                c
            })
            .collect();
        recorded.sort();
        assert_eq!(recorded, [keys(&userinfo), vec!["email".to_owned(), "sub".to_owned()]]);
    }
}

/// One random login: the scope parameter's extra scopes, the claims request's entries (claim,
/// for the ID token rather than UserInfo, essential), and the scopes the citizen approves.
#[derive(Debug, Clone)]
struct Case {
    scopes: Vec<&'static str>,
    named: Vec<(&'static str, bool, bool)>,
    approve: Vec<&'static str>,
}

fn cases(n: usize) -> Vec<Case> {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    const SCOPES: &[&str] =
        &["profile", "hkid", "email", "phone", "address", "title", "other_phones"];
    const CLAIMS: &[&str] = &[
        "given_name",
        "family_name",
        "email",
        "email_verified",
        "phone_number",
        "address",
        "title",
        "home_phone_number",
        "birthdate",
        "address#zh-Hant-HK",
    ];
    let strategy = (
        proptest::sample::subsequence(SCOPES, 0..=SCOPES.len()),
        proptest::sample::subsequence(CLAIMS, 0..=4).prop_flat_map(|c| {
            let n = c.len();
            (Just(c), proptest::collection::vec((any::<bool>(), any::<bool>()), n))
        }),
        proptest::sample::subsequence(
            &["profile", "hkid", "email", "phone", "address", "title", "other_phones", "birthdate"]
                [..],
            0..=8,
        ),
    );
    let mut runner = proptest::test_runner::TestRunner::default();
    (0..n)
        .map(|_| {
            let (scopes, (claims, flags), approve) =
                strategy.new_tree(&mut runner).unwrap().current();
            let named = claims.into_iter().zip(flags).map(|(c, (id, e))| (c, id, e)).collect();
            Case { scopes, named, approve }
        })
        .collect()
}

/// The property: whatever a service asks (scopes, a claims request) and whatever the citizen
/// approves, the service receives exactly the claims the app showed for the approved scopes
/// (those with a value), with the values shown; each claim released is of an approved scope
/// and was asked for (its scope, or itself by name); the ID token carries only those asked for
/// it; and the citizen's record holds each release once, as it was.
#[tokio::test]
async fn release_is_exactly_what_was_shown_and_approved_over_random_requests() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(crate::support::CALLBACK).await;
        let wallet = filled(&server, 6).await;
        for case in cases(12) {
            let scope = std::iter::once("openid")
                .chain(case.scopes.iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            let mut request = serde_json::Map::new();
            for (claim, id_token, essential) in &case.named {
                let target = if *id_token { "id_token" } else { "userinfo" };
                let entry = request.entry(target).or_insert_with(|| json!({}));
                entry[claim] = if *essential { json!({"essential": true}) } else { Value::Null };
            }
            let claims = (!request.is_empty()).then(|| Value::Object(request).to_string());
            let (view, id_token, userinfo) = login_for(
                &server,
                (&id, &secret),
                &wallet,
                &scope,
                claims.as_deref(),
                Some(&case.approve),
            )
            .await;
            let approved: Vec<&civpass_api::RequestedScope> = view
                .scopes
                .iter()
                .filter(|s| s.scope != "openid" && case.approve.contains(&s.scope.as_str()))
                .collect();
            let mut expected: Vec<String> = approved
                .iter()
                .flat_map(|s| s.claims.iter().filter(|c| c.value.is_some()).map(|c| c.name.clone()))
                .collect();
            expected.push("sub".into());
            expected.sort_unstable();
            assert_eq!(keys(&userinfo), expected, "{case:?}");
            for s in &approved {
                for c in s.claims.iter().filter(|c| c.value.is_some()) {
                    assert_eq!(Some(&userinfo[&c.name]), c.value.as_ref(), "{case:?}");
                    let asked = case.scopes.contains(&s.scope.as_str())
                        || case.named.iter().any(|(n, _, _)| *n == c.name);
                    assert!(asked, "{} was released unasked: {case:?}", c.name);
                }
            }
            let for_id_token: Vec<&str> =
                case.named.iter().filter(|(_, id, _)| *id).map(|(n, _, _)| *n).collect();
            let personal: Vec<String> = keys(&id_token)
                .into_iter()
                .filter(|k| {
                    civpass_core::consent::claims::all_claims().contains(&k.as_str()) && k != "sub"
                })
                .collect();
            let mut want_id: Vec<String> =
                expected.iter().filter(|c| for_id_token.contains(&c.as_str())).cloned().collect();
            want_id.sort_unstable();
            assert_eq!(personal, want_id, "{case:?}");
        }
        // Every release once: one per ID token and one per UserInfo call, 12 logins.
        let session = wallet.open_session().await.unwrap();
        let services = wallet.services(&session).await.unwrap();
        assert_eq!(services[0].releases.len(), 24);
    }
}

#[tokio::test]
async fn registry_data_asked_for_as_verified_claims_comes_with_its_verification() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = server.client(crate::support::CALLBACK).await;
        let wallet = filled(&server, 7).await;
        let claims = json!({
            "userinfo": {"verified_claims": {
                "verification": {"trust_framework": null, "time": null, "evidence": null},
                "claims": {"given_name": null, "birthdate": {"essential": true}, "email": null}
            }},
            "id_token": {"verified_claims": [
                {"verification": {"trust_framework": {"value": "eidas"}}, "claims": {"gender": null}},
                {"verification": {"trust_framework": {"values": ["hk_civpass"]}}, "claims": {"hkid": null}}
            ]}
        })
        .to_string();
        let (view, id_token, userinfo) =
            login_for(&server, (&id, &secret), &wallet, "openid email", Some(&claims), None).await;
        let mut scopes: Vec<&str> = view.scopes.iter().map(|s| s.scope.as_str()).collect();
        scopes.sort_unstable();
        assert_eq!(
            scopes,
            ["birthdate", "email", "hkid", "openid", "profile"],
            "gender's framework is not ours"
        );

        // Asked for only as verified: inside verified_claims, not beside it.
        assert_eq!(keys(&userinfo), ["email", "email_verified", "sub", "verified_claims"]);
        let verified = &userinfo["verified_claims"];
        let (hkid, name_en, dob) = server.person(7);
        assert_eq!(keys(&verified["claims"]), ["birthdate", "given_name"]);
        assert_eq!(verified["claims"]["birthdate"], dob);
        assert_eq!(verified["claims"]["given_name"], name_en.split_once(' ').unwrap().1);
        let verification = &verified["verification"];
        assert_eq!(verification["trust_framework"], "hk_civpass");
        assert_eq!(verification["assurance_level"], "basic");
        assert!(verification["time"].as_str().unwrap().ends_with('Z'));
        let evidence = verification["evidence"].as_array().unwrap();
        assert_eq!(evidence[0]["type"], "electronic_record");
        assert_eq!(evidence[0]["record"]["type"], "population_register");
        assert_eq!(evidence[1]["type"], "document");
        assert_eq!(evidence[1]["document_details"]["type"], "idcard");
        assert!(!verification.to_string().contains(&hkid), "the evidence names no card number");

        assert!(id_token.get("hkid").is_none());
        assert_eq!(id_token["verified_claims"]["claims"]["hkid"], hkid);
        assert!(id_token["verified_claims"]["claims"].get("gender").is_none());

        // The record names what went inside verified_claims.
        let session = wallet.open_session().await.unwrap();
        let services = wallet.services(&session).await.unwrap();
        let all: Vec<String> = services[0].releases.iter().flat_map(|r| r.claims.clone()).collect();
        for name in [
            "verified_claims/hkid",
            "verified_claims/birthdate",
            "verified_claims/given_name",
            "email",
        ] {
            assert!(all.contains(&name.to_owned()), "{name} in {all:?}");
        }

        // Discovery says so.
        let metadata = crate::support::discovery(&server.base).await;
        assert_eq!(metadata["verified_claims_supported"], true);
        assert_eq!(metadata["trust_frameworks_supported"], json!(["hk_civpass"]));
        assert!(
            metadata["claims_in_verified_claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("hkid"))
        );

        // A malformed verified_claims request is refused as the claims parameter is.
        let req = crate::support::AuthRequest::new(&id, crate::support::CALLBACK, "openid");
        let url = crate::oidc_params::with(
            &req,
            &server,
            &[("claims", r#"{"userinfo":{"verified_claims":{"claims":{}}}}"#)],
        );
        let res = crate::support::browser().get(url).send().await.unwrap();
        let back = url::Url::parse(&crate::support::location(&res)).unwrap();
        assert_eq!(crate::support::query(&back, "error").as_deref(), Some("invalid_request"));
    }
}

/// The last message the sandbox sent to `to`, from DATA_DIR/sandbox-messages/`file`.
fn last_message(server: &civpass_testkit::TestServer, file: &str, to: &str) -> Value {
    let text = std::fs::read_to_string(server.db.dir.join("sandbox-messages").join(file)).unwrap();
    text.lines()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|m| m["to"] == to)
        .unwrap()
}

fn problem_status(err: WalletError) -> u16 {
    match err {
        WalletError::Problem(p) => p.status,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn contact_data_is_verified_by_a_one_time_link_and_a_one_guess_code() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(8).await;
        let session = wallet.open_session().await.unwrap();
        assert_eq!(
            problem_status(wallet.start_verification(&session, "email").await.unwrap_err()),
            409
        );
        wallet
            .change_vault(
                &session,
                change(&[
                    ("email", Some("verify@example.hk")),
                    ("phone_number", Some("+85262345678")),
                ]),
            )
            .await
            .unwrap();

        // SMS: a wrong guess ends the verification; a new one with the right code verifies.
        let started = wallet.start_verification(&session, "phone_number").await.unwrap();
        let id = started.verification_id.unwrap();
        assert!(id.starts_with("sms_"), "an id a command line cannot take for an option");
        let sms = last_message(&server, "sms.jsonl", "+85262345678");
        let text = sms["text"].as_str().unwrap();
        let code: String = text.split("code is ").nth(1).unwrap().chars().take(6).collect();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert_eq!(
            problem_status(wallet.confirm_phone(&session, &id, wrong).await.unwrap_err()),
            403
        );
        assert_eq!(
            problem_status(wallet.confirm_phone(&session, &id, &code).await.unwrap_err()),
            410
        );
        let again = wallet.start_verification(&session, "phone_number").await.unwrap();
        let code: String = last_message(&server, "sms.jsonl", "+85262345678")["text"]
            .as_str()
            .unwrap()
            .split("code is ")
            .nth(1)
            .unwrap()
            .chars()
            .take(6)
            .collect();
        let vault =
            wallet.confirm_phone(&session, &again.verification_id.unwrap(), &code).await.unwrap();
        let phone = field(&vault, "phone_number").unwrap();
        assert_eq!(
            (phone.source.as_str(), phone.method.as_deref()),
            ("verified", Some("sms_code"))
        );
        assert_eq!(
            problem_status(wallet.start_verification(&session, "phone_number").await.unwrap_err()),
            409
        );

        // E-mail: the link works once; a link for an address since changed verifies nothing.
        wallet.start_verification(&session, "email").await.unwrap();
        let mail = last_message(&server, "mail.jsonl", "verify@example.hk");
        let body = mail["text"].as_str().unwrap();
        let link =
            body.split_whitespace().find(|w| w.contains("/app/verify-email#")).unwrap().to_owned();
        assert!(link.starts_with(&server.base));
        wallet.confirm_email_link(&link).await.unwrap();
        assert_eq!(problem_status(wallet.confirm_email_link(&link).await.unwrap_err()), 410);
        let vault = wallet.vault(&session).await.unwrap();
        assert_eq!(field(&vault, "email").unwrap().method.as_deref(), Some("email_link"));

        wallet
            .change_vault(&session, change(&[("email", Some("other@example.hk"))]))
            .await
            .unwrap();
        wallet.start_verification(&session, "email").await.unwrap();
        let mail = last_message(&server, "mail.jsonl", "other@example.hk");
        let link = mail["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .find(|w| w.contains("#"))
            .unwrap()
            .to_owned();
        wallet
            .change_vault(&session, change(&[("email", Some("third@example.hk"))]))
            .await
            .unwrap();
        assert_eq!(problem_status(wallet.confirm_email_link(&link).await.unwrap_err()), 409);
        assert_eq!(
            field(&wallet.vault(&session).await.unwrap(), "email").unwrap().source,
            "self_declared"
        );

        // Another account's app cannot confirm a link sent for this one (someone who put a
        // victim's address in their own vault cannot have the victim confirm it).
        wallet
            .change_vault(&session, change(&[("email", Some("fourth@example.hk"))]))
            .await
            .unwrap();
        wallet.start_verification(&session, "email").await.unwrap();
        let mail = last_message(&server, "mail.jsonl", "fourth@example.hk");
        let link = mail["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .find(|w| w.contains('#'))
            .unwrap()
            .to_owned();
        let stranger = server.enrolled_wallet(9).await;
        assert_eq!(problem_status(stranger.confirm_email_link(&link).await.unwrap_err()), 410);
        assert_eq!(
            field(&wallet.vault(&session).await.unwrap(), "email").unwrap().source,
            "self_declared"
        );

        // A service sees the marks.
        let (id, secret) = server.client(crate::support::CALLBACK).await;
        let (_, _, userinfo) =
            login_for(&server, (&id, &secret), &wallet, "openid email phone", None, None).await;
        assert_eq!(userinfo["phone_number_verified"], true);
        assert_eq!(userinfo["email_verified"], false);
        // A few messages a day, not a flood: five of each kind.
        wallet
            .change_vault(&session, change(&[("phone_number", Some("+85269998888"))]))
            .await
            .unwrap();
        for _ in 0..3 {
            wallet.start_verification(&session, "phone_number").await.unwrap();
        }
        assert_eq!(
            problem_status(wallet.start_verification(&session, "phone_number").await.unwrap_err()),
            429
        );
        wallet
            .change_vault(&session, change(&[("phone_number", Some("+85262345678"))]))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn address_proofs_are_known_by_content_sealed_and_released_only_when_approved() {
    use base64::Engine;
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(18).await;
        let session = wallet.open_session().await.unwrap();
        let pdf = [b"%PDF-1.4\n% a synthetic utility bill\n".as_slice(), &[7u8; 2000]].concat();
        let vault = wallet.upload_address_proof(&session, pdf.clone()).await.unwrap();
        let listed = field(&vault, "address_proof").unwrap().value.as_array().unwrap().clone();
        assert_eq!(listed[0]["content_type"], "application/pdf");
        assert_eq!(listed[0]["size"], pdf.len());
        let id = listed[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            wallet.address_proof(&session, &id).await.unwrap(),
            ("application/pdf".to_owned(), pdf.clone())
        );

        // Known by content, not by name; at most 5 MB; at most three.
        for bad in [b"GIF89a....".to_vec(), b"<html>%PDF-".to_vec(), Vec::new()] {
            assert_eq!(
                problem_status(wallet.upload_address_proof(&session, bad).await.unwrap_err()),
                422
            );
        }
        let huge = [b"%PDF-".as_slice(), &vec![0u8; 5 * 1024 * 1024 + 10]].concat();
        assert!(wallet.upload_address_proof(&session, huge).await.is_err());
        // Up to the limit is taken (a scan of a bill is easily more than 2 MB).
        let large = [b"%PDF-".as_slice(), &vec![1u8; 5 * 1024 * 1024 - 10]].concat();
        let vault = wallet.upload_address_proof(&session, large).await.unwrap();
        let large_id =
            field(&vault, "address_proof").unwrap().value[1]["id"].as_str().unwrap().to_owned();
        wallet.delete_address_proof(&session, &large_id).await.unwrap();
        // The same document again is refused (it would only use up a place).
        let again = wallet.upload_address_proof(&session, pdf.clone()).await.unwrap_err();
        assert!(again.to_string().contains(&format!("already stored, as {id}")), "{again}");
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR synthetic".to_vec();
        wallet.upload_address_proof(&session, png.clone()).await.unwrap();
        let png2 = [png.as_slice(), b" second"].concat();
        wallet.upload_address_proof(&session, png2).await.unwrap();
        let png3 = [png.as_slice(), b" third"].concat();
        assert_eq!(
            problem_status(wallet.upload_address_proof(&session, png3.clone()).await.unwrap_err()),
            422
        );
        // Nobody else's session opens it.
        let other = server.enrolled_wallet(19).await;
        let other_session = other.open_session().await.unwrap();
        assert_eq!(
            problem_status(other.address_proof(&other_session, &id).await.unwrap_err()),
            404
        );

        // Released from UserInfo (never in the ID token) only when asked for and approved.
        let (id_c, secret) = server.client(crate::support::CALLBACK).await;
        let (_, id_token, userinfo) = login_for(
            &server,
            (&id_c, &secret),
            &wallet,
            "openid email address_proof",
            Some(r#"{"id_token":{"address_proof":null}}"#),
            None,
        )
        .await;
        assert!(id_token.get("address_proof").is_none());
        let attachments = userinfo["address_proof"].as_array().unwrap();
        assert_eq!(attachments.len(), 3);
        assert_eq!(attachments[0]["content_type"], "application/pdf");
        let content = base64::engine::general_purpose::STANDARD
            .decode(attachments[0]["content"].as_str().unwrap())
            .unwrap();
        assert_eq!(content, pdf);
        let (_, _, declined) =
            login_for(&server, (&id_c, &secret), &wallet, "openid address_proof", None, Some(&[]))
                .await;
        assert!(declined.get("address_proof").is_none());

        // One deleted by its id, then a third fits again; an id that is not one is refused
        // before anything is sent.
        let second = attachments[1]["id"].as_str().map(str::to_owned);
        let listed =
            field(&wallet.vault(&session).await.unwrap(), "address_proof").unwrap().value.clone();
        let png_id = listed[1]["id"].as_str().unwrap().to_owned();
        assert!(second.is_none() || second.as_deref() == Some(png_id.as_str()));
        let vault = wallet.delete_address_proof(&session, &png_id).await.unwrap();
        assert_eq!(field(&vault, "address_proof").unwrap().value.as_array().unwrap().len(), 2);
        assert!(server.store.get_blob(&png_id).await.unwrap().is_none());
        wallet.upload_address_proof(&session, png3).await.unwrap();
        assert!(matches!(
            wallet.delete_address_proof(&session, "../../services/x").await,
            Err(WalletError::Invalid(_))
        ));

        // Deleted: gone from the vault and the store.
        let vault =
            wallet.change_vault(&session, change(&[("address_proof", None)])).await.unwrap();
        assert!(field(&vault, "address_proof").is_none());
        assert_eq!(problem_status(wallet.address_proof(&session, &id).await.unwrap_err()), 404);
        use civpass_core::store::ports::BlobStore;
        assert!(
            server.store.get_blob(&id).await.unwrap().is_none(),
            "the stored document went too"
        );
    }
}

#[tokio::test]
async fn many_accounts_cannot_flood_one_number_and_one_account_cannot_block_it() {
    let server = spawn_server(&backends()[0]).await;
    let now = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock);
    let adults: Vec<usize> = (60..120)
        .filter(|i| {
            let born = server.registry.people()[*i].date_of_birth;
            civpass_core::identity::guardian::age_on(born, now) >= 18
        })
        .take(4)
        .collect();
    // Each account tries `tries` times to have `number` verified: (sent, refused).
    let attempts = |idx: usize, number: &'static str, tries: usize| {
        let server = &server;
        async move {
            let wallet = server.enrolled_wallet(idx).await;
            let session = wallet.open_session().await.unwrap();
            let mut outcome = (0, 0);
            for _ in 0..tries {
                wallet
                    .change_vault(&session, change(&[("phone_number", Some(number))]))
                    .await
                    .unwrap();
                match wallet.start_verification(&session, "phone_number").await {
                    Ok(_) => outcome.0 += 1,
                    Err(e) => {
                        assert_eq!(problem_status(e), 429);
                        outcome.1 += 1;
                    }
                }
            }
            (wallet, session, outcome)
        }
    };
    // One account: five a day, then refused; its refused tries count against no number.
    let (wallet, session, outcome) = attempts(adults[0], "+85260001111", 7).await;
    assert_eq!(outcome, (5, 2));
    wallet.change_vault(&session, change(&[("phone_number", Some("+85260002222"))])).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            problem_status(wallet.start_verification(&session, "phone_number").await.unwrap_err()),
            429
        );
    }
    // So the holder of the second number still verifies it, five times if need be.
    assert_eq!(attempts(adults[1], "+85260002222", 5).await.2, (5, 0));
    // The first number took five from one account: another account still may send five,
    // and past ten a day to one number, whoever asks, nothing more is sent.
    assert_eq!(attempts(adults[2], "+85260001111", 5).await.2, (5, 0));
    assert_eq!(attempts(adults[3], "+85260001111", 2).await.2, (0, 2));
}
