//! Accounts over their lifetime, on both databases: an operator suspends an account (it cannot
//! log in, its sessions end and each service hears of it), reinstates it, downgrades plus to
//! basic; the citizen lists devices, revokes a lost one from another (which can then approve
//! nothing), and sees the account's history, where and when.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;

use civpass_core::account::lifecycle::LifecycleError;
use civpass_core::counter::hours::Hours;
use civpass_core::counter::model::{ActKind, CardDetails, PointKind, StaffRole};
use civpass_core::counter::{CounterRequest, NewPoint};
use civpass_testkit::{backends, spawn_server};
use civpass_wallet::{Wallet, WalletError};

use crate::logout::{client_with, logout_token, receiver};
use crate::oidc_params::{approve_as, with};
use crate::support::{self, AuthRequest, CALLBACK};

fn problem(err: &WalletError) -> &str {
    match err {
        WalletError::Problem(p) => p.problem_type.rsplit('/').next().unwrap_or(""),
        _ => "",
    }
}

#[tokio::test]
async fn a_suspended_account_cannot_log_in_and_its_services_hear_of_it() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (uri, received) = receiver().await;
        let (id, secret) = client_with(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(61).await;
        let hkid = server.person(61).0;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let sub = support::jwt_claims(tokens["id_token"].as_str().unwrap())["sub"].clone();

        let account = &server.services.account;
        // A reason is required, and an unknown identity changes nothing.
        assert!(matches!(account.suspend(&hkid, "  ").await, Err(LifecycleError::InvalidReason)));
        let stranger = server.person(62).0;
        assert!(matches!(account.suspend(&stranger, "x").await, Err(LifecycleError::NoAccount)));
        let done = account.suspend(&hkid, "reported stolen phone, case 123").await.unwrap();
        assert_eq!(done.sessions_ended, 1);
        assert!(matches!(
            account.suspend(&hkid, "again").await,
            Err(LifecycleError::AlreadySuspended)
        ));
        for _ in 0..100 {
            if !received.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bodies = received.lock().unwrap().clone();
        assert_eq!(bodies.len(), 1, "the service heard of the suspension");
        assert_eq!(logout_token(&bodies[0])["sub"], sub);
        // Its refresh token is dead, and a new login is refused (the service hears access_denied).
        let refresh = support::token(
            &server.base,
            (&id, &secret),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(refresh.1["error"], "invalid_grant");
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let (outcome, back) = approve_as(&server, &wallet, &req.url(&server.base)).await;
        assert_eq!(problem(&outcome.unwrap_err()), "account-suspended");
        assert_eq!(support::query(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(
            support::query(&back, "error_description").as_deref(),
            Some("the citizen's account is suspended")
        );

        account.reinstate(&hkid, "phone found").await.unwrap();
        assert!(matches!(
            account.reinstate(&hkid, "again").await,
            Err(LifecycleError::NotSuspended)
        ));
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let (outcome, _) = approve_as(&server, &wallet, &req.url(&server.base)).await;
        outcome.unwrap();

        // The operator's history holds both acts with their reasons; the citizen's, without.
        let history = account.history_for_operator(&hkid).await.unwrap();
        let whats: Vec<&str> = history.iter().map(|h| h.what.as_str()).collect();
        assert_eq!(whats, ["registered", "device_added", "suspended", "reinstated"]);
        assert_eq!(history[2].reason.as_deref(), Some("reported stolen phone, case 123"));
        let session = wallet.open_session().await.unwrap();
        let mine = wallet.history(&session).await.unwrap();
        assert_eq!(mine.len(), 4);
        assert!(
            serde_json::to_string(&mine).unwrap().find("stolen").is_none(),
            "reasons are the operator's"
        );
    }
}

#[tokio::test]
async fn a_downgraded_account_no_longer_meets_plus_and_the_history_says_where_it_was_raised() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let counter = &server.services.counter;
        let point = counter
            .add_point(NewPoint {
                kind: PointKind::Counter,
                name_en: "Immigration Tower".into(),
                name_zh_hant: "入境事務大樓".into(),
                name_zh_hans: "入境事务大楼".into(),
                district: "Wan Chai".into(),
                hours: Hours::parse_weekly("mon-sun 00:00-24:00").unwrap(),
            })
            .await
            .unwrap();
        let officer = counter.add_staff("Officer Ma", StaffRole::Officer).await.unwrap();
        counter.assign(&officer.id, &point.id).await.unwrap();
        let mut wallet = server.enrolled_wallet(63).await;
        let (id_number, name_en, date_of_birth) = server.person(63);
        let code = wallet.registration_code().await.unwrap().code;
        let card = CardDetails { id_number: id_number.clone(), name_en, date_of_birth };
        counter
            .act(CounterRequest {
                kind: ActKind::Upgrade,
                staff_id: &officer.id,
                point_id: &point.id,
                code: &code,
                card,
            })
            .await
            .unwrap();
        let pending = wallet.pending().await.unwrap();
        wallet.confirm(&pending[0]).await.unwrap();

        let (id, _) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let plus = with(&req, &server, &[("acr_values", "plus")]);
        approve_as(&server, &wallet, &plus).await.0.unwrap();
        server.services.account.downgrade(&id_number, "card reported lost").await.unwrap();
        assert!(matches!(
            server.services.account.downgrade(&id_number, "again").await,
            Err(LifecycleError::NotPlus)
        ));
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let (_, back) =
            approve_as(&server, &wallet, &with(&req, &server, &[("acr_values", "plus")])).await;
        assert_eq!(
            support::query(&back, "error").as_deref(),
            Some("unmet_authentication_requirements")
        );

        let session = wallet.open_session().await.unwrap();
        let history = wallet.history(&session).await.unwrap();
        let upgraded = history.iter().find(|h| h.what == "upgraded").unwrap();
        assert_eq!(upgraded.channel, "counter");
        assert_eq!(upgraded.point.as_ref().unwrap()[1], "入境事務大樓");
        assert_eq!(history.last().unwrap().what, "downgraded");
    }
}

#[tokio::test]
async fn a_moved_account_lists_its_devices_and_the_old_phone_approves_nothing() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (hkid, name, dob) = server.person(64);
        let old = server.enrolled_wallet(64).await;
        let mut new = Wallet::create(&server.base).unwrap();
        new.enrol(&hkid, &name, &dob, None, Some(&old)).await.unwrap();
        // Moving the account revoked the old device already; a second phone added by a
        // counter would be another. Here: the citizen lists devices, and revoking the one the
        // session runs on, or one that is not active, is refused.
        let session = new.open_session().await.unwrap();
        let devices = new.devices(&session).await.unwrap();
        assert_eq!(devices.len(), 2);
        let current = devices.iter().find(|d| d.current).unwrap();
        let lost = devices.iter().find(|d| !d.current).unwrap();
        assert!(lost.revoked_at.is_some());
        let refused = new.revoke_device(&session, &current.id).await.unwrap_err();
        assert_eq!(problem(&refused), "unknown-device");
        let refused = new.revoke_device(&session, &lost.id).await.unwrap_err();
        assert_eq!(problem(&refused), "unknown-device", "revoked already");
        // The old phone approves nothing.
        let (id, _) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let browser = support::browser();
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        assert!(old.fetch(&waiting.link).await.is_ok());
        let view = old.fetch(&waiting.link).await.unwrap();
        let approved = old
            .decide(
                &waiting.link,
                &view,
                civpass_core::oidc::login::Verdict::Approve,
                &waiting.match_code,
                &["openid".to_owned()],
            )
            .await;
        assert_eq!(problem(&approved.unwrap_err()), "unknown-device");
        let history = new.history(&session).await.unwrap();
        let whats: Vec<&str> = history.iter().map(|h| h.what.as_str()).collect();
        assert!(
            whats.contains(&"device_revoked")
                && whats.iter().filter(|w| **w == "device_added").count() == 2,
            "{whats:?}"
        );
    }
}

#[tokio::test]
async fn a_remote_upgrade_needs_a_strong_check_of_the_citizens_own_identity() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let wallet = server.enrolled_wallet(65).await;
        // A check that passed only at the basic level is not enough.
        let weak = wallet.upgrade("pass:basic").await.unwrap_err();
        assert_eq!(problem(&weak), "evidence-too-weak");
        let failed = wallet.upgrade("liveness_failed").await.unwrap_err();
        assert_eq!(problem(&failed), "evidence-liveness-failed");
        assert_eq!(wallet.upgrade("pass").await.unwrap().tier, "plus");
        assert_eq!(problem(&wallet.upgrade("pass").await.unwrap_err()), "already-plus");
        let (id, _) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        approve_as(&server, &wallet, &with(&req, &server, &[("acr_values", "plus")]))
            .await
            .0
            .unwrap();
        // The evidence that raised the tier is recorded: remote, strong, for the upgrade.
        let session = wallet.open_session().await.unwrap();
        let history = wallet.history(&session).await.unwrap();
        let upgraded = history.iter().find(|h| h.what == "upgraded").unwrap();
        assert_eq!(upgraded.channel, "remote");
        let mine = wallet.my_data(&session).await.unwrap();
        let upgrade = mine.evidence.iter().find(|e| e.purpose == "upgrade").unwrap();
        assert_eq!(upgrade.level, "strong");
    }
}

#[tokio::test]
async fn registry_events_act_on_accounts_once_however_often_they_are_applied() {
    use civpass_core::account::registry_events::Applied;
    use civpass_core::identity::registry::RegistryEvent;
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (uri, received) = receiver().await;
        let (id, secret) = client_with(&server, Some(uri)).await;
        let dying = server.enrolled_wallet(66).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &dying, &req).await;
        support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let renamed = server.enrolled_wallet(67).await;
        server.enrolled_wallet(68).await;
        let feed = format!(
            "{{\"id\":\"ev-1\",\"type\":\"deceased\",\"hkid\":\"{}\"}}\n\
             {{\"id\":\"ev-2\",\"type\":\"name_changed\",\"hkid\":\"{}\",\"name_en\":\"CHEUNG, Mei Ling\",\"name_zh\":\"張美玲\"}}\n\
             {{\"id\":\"ev-3\",\"type\":\"card_replaced\",\"hkid\":\"{}\"}}\n\
             {{\"id\":\"ev-4\",\"type\":\"deceased\",\"hkid\":\"{}\"}}",
            server.person(66).0,
            server.person(67).0,
            server.person(68).0,
            server.person(69).0,
        );
        let events: Vec<RegistryEvent> =
            feed.lines().map(|l| RegistryEvent::parse(l).unwrap()).collect();
        let mut applied = Vec::new();
        for event in &events {
            applied.push(server.services.account.apply_registry_event(event).await.unwrap());
        }
        assert_eq!(
            applied,
            [Applied::Suspended, Applied::NameUpdated, Applied::CardRecorded, Applied::NoAccount]
        );
        for event in &events {
            let again = server.services.account.apply_registry_event(event).await.unwrap();
            assert_eq!(again, Applied::AlreadyApplied, "{event:?}");
        }
        // The deceased holder's account logs in nowhere, and its service heard of it once.
        for _ in 0..100 {
            if !received.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(received.lock().unwrap().len(), 1);
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let (outcome, _) = approve_as(&server, &dying, &req.url(&server.base)).await;
        assert_eq!(problem(&outcome.unwrap_err()), "account-suspended");
        // The new names are in the vault; the history says so, and the card's replacement.
        let session = renamed.open_session().await.unwrap();
        let mine = renamed.my_data(&session).await.unwrap();
        assert_eq!((mine.name_en.as_str(), mine.name_zh.as_str()), ("CHEUNG, Mei Ling", "張美玲"));
        let history = renamed.history(&session).await.unwrap();
        assert!(history.iter().any(|h| h.what == "name_changed" && h.channel == "registry"));
        let card =
            server.services.account.history_for_operator(&server.person(68).0).await.unwrap();
        assert!(card.iter().any(|h| h.what == "card_replaced"));
        // Malformed events are refused with a reason that names the field and quotes nothing.
        assert!(
            RegistryEvent::parse("{\"id\":\"x\",\"type\":\"married\",\"hkid\":\"A123456(3)\"}")
                .unwrap_err()
                .contains("\"type\" must be")
        );
        assert!(
            RegistryEvent::parse("{\"id\":\"x\",\"type\":\"deceased\",\"hkid\":\"A123456(4)\"}")
                .unwrap_err()
                .contains("not a valid identity card number")
        );
        for bad in [
            "{\"id\":\"x\",\"type\":\"married\",\"hkid\":\"A123456(3)\"}",
            "{\"id\":\"x\",\"type\":\"deceased\",\"hkid\":\"A123456(4)\"}",
            "{\"id\":\"x\",\"type\":\"name_changed\",\"hkid\":\"A123456(3)\"}",
            "{\"id\":\"x\",\"type\":\"name_changed\",\"hkid\":\"A123456(3)\",\"name_en\":\"EVIL\\u001b[31m\",\"name_zh\":\"x\"}",
            "not json",
        ] {
            let why = RegistryEvent::parse(bad).unwrap_err();
            assert!(
                !why.contains("A123456") && !why.contains("married") && !why.contains("EVIL"),
                "{why}"
            );
        }
    }
}

/// A registry feed on loopback: the sandbox's people, and one event (the death of `deceased`);
/// records the `after` of each feed request.
async fn registry_with_feed(deceased: String) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    use axum::extract::{Path, Query};
    use axum::routing::get;
    let asked: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = asked.clone();
    let people = Arc::new(civpass_registry::SandboxRegistry::generate(100));
    let app = axum::Router::new()
        .route(
            "/v1/people/{hkid}",
            get(move |Path(hkid): Path<String>| {
                let people = people.clone();
                async move {
                    let found = civpass_core::identity::hkid::HkId::parse(&hkid).ok().and_then(|h| people.find(&h).cloned());
                    match found {
                        Some(p) => axum::Json(serde_json::json!({
                            "hkid": p.hkid.to_string(), "name_en": p.name_en, "name_zh": p.name_zh,
                            "date_of_birth": p.date_of_birth.to_string(), "gender": p.gender.as_str(),
                        }))
                        .into_response(),
                        None => axum::http::StatusCode::NOT_FOUND.into_response(),
                    }
                }
            }),
        )
        .route(
            "/v1/events",
            get(move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let after = q.get("after").cloned();
                seen.lock().unwrap().push(after.clone());
                let deceased = deceased.clone();
                async move {
                    match after {
                        None => format!("{{\"id\":\"ev-9\",\"type\":\"deceased\",\"hkid\":\"{deceased}\"}}\n"),
                        Some(_) => String::new(),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, asked)
}

#[tokio::test]
async fn a_registry_feed_is_pulled_and_a_file_of_events_is_applied_from_the_command_line() {
    use std::process::{Command, Stdio};
    let db = civpass_testkit::TestDb::create(&civpass_testkit::Backend::Sqlite).await;
    let dir = db.dir.to_str().unwrap().to_owned();
    let registry = civpass_registry::SandboxRegistry::generate(10);
    let person = |i: usize| {
        let p = &registry.people()[i];
        (p.hkid.to_string(), p.name_en.clone(), p.date_of_birth.to_string())
    };
    // Two citizens registered on the sandbox.
    let (mut first, base) = support::serve_binary(&["--data-dir", &dir], &[], Stdio::null());
    for i in [5, 6] {
        let (hkid, name, dob) = person(i);
        Wallet::create(&base).unwrap().enrol(&hkid, &name, &dob, Some("pass"), None).await.unwrap();
    }
    first.kill().unwrap();
    let _ = first.wait();

    let civpass = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_civpass")).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let history = |i: usize| {
        civpass(&["accounts", "history", "--data-dir", &dir, "--json", "--id-number", &person(i).0])
            .1
    };
    // A file with a bad line applies nothing, and says where.
    let file = db.dir.join("events.jsonl");
    let good =
        format!("{{\"id\":\"f-1\",\"type\":\"card_replaced\",\"hkid\":\"{}\"}}\n", person(6).0);
    std::fs::write(&file, format!("{good}{{\"id\":\"f-2\",\"type\":\"married\"}}\n")).unwrap();
    let (ok, _, err) = civpass(&["registry", "events", "--data-dir", &dir, file.to_str().unwrap()]);
    assert!(!ok && err.contains("line 2") && err.contains("nothing was applied"), "{err}");
    assert!(!history(6).contains("card_replaced"));
    std::fs::write(&file, &good).unwrap();
    let (ok, out, err) =
        civpass(&["registry", "events", "--data-dir", &dir, "--json", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["applied"]["card_recorded"],
        1
    );
    let (_, out, _) =
        civpass(&["registry", "events", "--data-dir", &dir, "--json", file.to_str().unwrap()]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["applied"]["already_applied"],
        1
    );
    assert!(history(6).contains("card_replaced"));

    // With an HTTP registry that publishes a feed, the server pulls it at start.
    let (feed, asked) = registry_with_feed(person(5).0).await;
    let vendor = crate::proofing::vendor(str::to_owned).await;
    let (mut second, _) = support::serve_binary(
        &["--data-dir", &dir, "--registry-url", &feed, "--evidence-url", &vendor],
        &[],
        Stdio::null(),
    );
    let mut suspended = false;
    for _ in 0..100 {
        if history(5).contains("\"suspended\"") {
            suspended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    let _ = second.wait();
    assert!(suspended, "the feed's deceased event suspended the account");
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked[..2],
        [None, Some("ev-9".to_owned())],
        "read from the start, then after the last event"
    );
}
