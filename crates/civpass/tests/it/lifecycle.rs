//! Accounts over their lifetime, on both databases: an operator suspends an account (it cannot
//! log in, its sessions end and each service hears of it), reinstates it, downgrades plus to
//! basic; the citizen lists devices, revokes a lost one from another (which can then approve
//! nothing), and sees the account's history, where and when.

use std::time::Duration;

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
async fn a_lost_phone_is_revoked_from_the_new_one_and_approves_nothing_after() {
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
