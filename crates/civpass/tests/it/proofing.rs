//! Remote registration's identity proofing: a vendor's identity check must pass before the
//! registry's answer reaches anyone, and attempts are limited per identity from any address.

use civpass_core::kernel::clock::Clock;
use civpass_server::RateLimits;
use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use civpass_wallet::{Wallet, WalletError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support;

async fn localhost_server(backend: &civpass_testkit::Backend) -> TestServer {
    spawn_server_with(backend, Options { localhost: true, ..Options::default() }).await
}

/// The problem type's slug and the status of a failed wallet enrolment.
fn problem(err: WalletError) -> (u16, String) {
    match err {
        WalletError::Problem(p) => {
            (p.status, p.problem_type.rsplit('/').next().unwrap_or("").to_owned())
        }
        other => panic!("not a problem: {other}"),
    }
}

/// Step one of registering in the app, as the app sends it.
async fn start_passkey_registration(
    server: &TestServer,
    claim: (&str, &str, &str),
    session: &str,
    from: &str,
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/device/passkey-registrations", server.base))
        .header("x-forwarded-for", from)
        .json(&json!({
            "id_number": claim.0, "name_en": claim.1, "date_of_birth": claim.2,
            "evidence": {"session": session, "reference": support::identity_check(&server.base, claim.0).await},
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn remote_registration_needs_a_passed_identity_check_and_records_it() {
    for backend in backends() {
        let server = localhost_server(&backend).await;
        let (hkid, name, dob) = server.person(20);
        for (evidence, expected) in [
            (None, (400, "evidence-required")),
            (Some(""), (400, "evidence-required")),
            (Some("document_mismatch"), (422, "evidence-document-mismatch")),
            (Some("liveness_failed"), (422, "evidence-liveness-failed")),
            (Some("timeout"), (422, "evidence-timeout")),
            (Some("no-such-session"), (400, "evidence-unknown")),
        ] {
            let mut wallet = Wallet::create(&server.base).unwrap();
            let err = wallet.enrol(&hkid, &name, &dob, evidence, None).await.unwrap_err();
            assert_eq!(problem(err), (expected.0, expected.1.to_owned()), "{evidence:?}");
        }
        // None of that stored anything: the citizen registers now, on a passed check, and the
        // check is on record (the vendor's reference sealed).
        let wallet = server.enrolled_wallet(20).await;
        let session = wallet.open_session().await.unwrap();
        let data = wallet.my_data(&session).await.unwrap();
        assert_eq!(data.evidence.len(), 1);
        assert_eq!(data.evidence[0].purpose, "registration");
        assert_eq!(data.evidence[0].level, "strong");
        assert_eq!(data.evidence[0].method, "sandbox_document_liveness_face_match");
        let account_id = wallet.file.account_id.clone().unwrap();
        let records = civpass_core::identity::store::AccountStore::list_evidence(
            &server.store,
            &civpass_core::kernel::AccountId::from(&account_id),
        )
        .await
        .unwrap();
        assert_eq!(records.len(), 1);
        assert!(
            !records[0].sealed_reference.windows(8).any(|w| w == b"sandbox-"),
            "the vendor's reference is sealed"
        );
    }
}

#[tokio::test]
async fn until_the_identity_check_passes_the_answer_says_nothing_of_the_registry() {
    for backend in backends() {
        // Many tries for one identity: its own limit is another test's subject.
        let options =
            Options { localhost: true, identity_attempts_per_hour: Some(0), ..Options::default() };
        let server = spawn_server_with(&backend, options).await;
        server.enrolled_wallet(30).await;
        let (h30, n30, d30) = server.person(30);
        let (h32, n32, d32) = server.person(32);
        let stranger = "A123456(3)";
        assert!(
            server
                .registry
                .find(&civpass_core::identity::hkid::HkId::parse(stranger).unwrap())
                .is_none()
        );
        let claims = [
            (h30.as_str(), n30.as_str(), d30.as_str()), // matches, already registered
            (h32.as_str(), n32.as_str(), d32.as_str()), // matches, no account yet
            (h32.as_str(), n32.as_str(), "1970-01-01"), // another date of birth
            (stranger, n32.as_str(), d32.as_str()),     // no such person
        ];
        for failing in ["document_mismatch", "liveness_failed", "timeout"] {
            // The app's registration.
            let mut answers = Vec::new();
            for claim in claims {
                answers.push(start_passkey_registration(&server, claim, failing, "").await);
            }
            assert!(answers.windows(2).all(|w| w[0] == w[1]), "{failing}: {answers:?}");
            assert_eq!(answers[0].0, StatusCode::UNPROCESSABLE_ENTITY);
            // The wallet's enrolment.
            let mut answers = Vec::new();
            for (hkid, name, dob) in claims {
                let mut wallet = Wallet::create(&server.base).unwrap();
                let err = wallet.enrol(hkid, name, dob, Some(failing), None).await.unwrap_err();
                answers.push(err.to_string());
            }
            assert!(answers.windows(2).all(|w| w[0] == w[1]), "{failing}: {answers:?}");
        }
        // Once the check has passed, the caller is the card's holder and is told why.
        let mut statuses = Vec::new();
        for claim in claims {
            statuses.push(start_passkey_registration(&server, claim, "pass", "").await.0);
        }
        assert_eq!(
            statuses,
            [
                StatusCode::CONFLICT,
                StatusCode::CREATED,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::UNPROCESSABLE_ENTITY
            ]
        );
    }
}

#[tokio::test]
async fn registration_attempts_are_limited_per_identity_whatever_the_address() {
    for backend in backends() {
        let options = Options {
            localhost: true,
            rate_limits: Some(RateLimits::default()),
            trusted_proxies: &["127.0.0.1"],
            ..Options::default()
        };
        let server = spawn_server_with(&backend, options).await;
        let (hkid, name, dob) = server.person(40);
        let wrong_dob = (hkid.as_str(), name.as_str(), "1970-01-01");
        // Ten tries from ten addresses, each under its own address's allowance.
        for n in 0..10 {
            let from = format!("203.0.113.{n}");
            let (status, _) = start_passkey_registration(&server, wrong_dob, "pass", &from).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        }
        // The eleventh, even with the right details and from a new address, waits an hour.
        let right = (hkid.as_str(), name.as_str(), dob.as_str());
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/device/passkey-registrations", server.base))
            .header("x-forwarded-for", "198.51.100.77")
            .json(&json!({
                "id_number": right.0, "name_en": right.1, "date_of_birth": right.2,
                "evidence": {"session": "pass", "reference": support::identity_check(&server.base, right.0).await},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()["retry-after"], "3600");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["type"], "https://civpass.dev/problems/too-many-attempts");
        // The limit is the identity's alone: another citizen registers from the same address.
        let (h41, n41, d41) = server.person(41);
        let (status, _) =
            start_passkey_registration(&server, (&h41, &n41, &d41), "pass", "198.51.100.77").await;
        assert_eq!(status, StatusCode::CREATED);
        // And the wallet's enrolment counts against the same identity.
        let mut wallet = Wallet::create(&server.base).unwrap();
        let err = wallet.enrol(&hkid, &name, &dob, Some("pass"), None).await.unwrap_err();
        assert_eq!(problem(err), (429, "too-many-attempts".to_owned()));
    }
}

#[tokio::test]
async fn registration_is_limited_per_address_too() {
    // Opening the identity check and registering are two requests of the registration group.
    let limits = RateLimits { registration: 6, ..RateLimits::OFF };
    let server = spawn_server_with(
        &backends()[0],
        Options { localhost: true, rate_limits: Some(limits), ..Options::default() },
    )
    .await;
    for idx in 50..53 {
        let (h, n, d) = server.person(idx);
        let (status, _) = start_passkey_registration(&server, (&h, &n, &d), "pass", "").await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (h, ..) = server.person(53);
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/device/identity-checks", server.base))
        .json(&json!({"id_number": h}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_identity_check_is_good_once_for_its_id_number_within_its_time() {
    for backend in backends() {
        let options = Options {
            localhost: true,
            fixed_clock: true,
            identity_attempts_per_hour: Some(0),
            ..Options::default()
        };
        let server = spawn_server_with(&backend, options).await;
        let (hkid, name, dob) = server.person(60);
        let (other_hkid, ..) = server.person(61);
        let register = |reference: String| {
            let (hkid, name, dob) = (hkid.clone(), name.clone(), dob.clone());
            let url = format!("{}/api/v1/device/passkey-registrations", server.base);
            async move {
                let res = reqwest::Client::new()
                    .post(url)
                    .json(&json!({
                        "id_number": hkid, "name_en": name, "date_of_birth": dob,
                        "evidence": {"session": "pass", "reference": reference},
                    }))
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let body: Value = res.json().await.unwrap();
                (
                    status,
                    body["type"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_owned(),
                )
            }
        };
        let unknown = (StatusCode::BAD_REQUEST, "evidence-unknown".to_owned());
        // A reference civpass never opened.
        assert_eq!(register("made-up".into()).await, unknown);
        // One opened for another ID number.
        assert_eq!(
            register(support::identity_check(&server.base, &other_hkid).await).await,
            unknown
        );
        // One that has waited past its 15 minutes.
        let stale = support::identity_check(&server.base, &hkid).await;
        server.clock.as_ref().unwrap().advance(901);
        assert_eq!(register(stale).await, unknown);
        // A good one works once; used again, it vouches for nothing.
        let fresh = support::identity_check(&server.base, &hkid).await;
        let (status, _) = register(fresh.clone()).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(register(fresh).await, unknown);
    }
}

/// A vendor's verification service on loopback that says `pass` for every session, naming
/// the reference `echo` returns.
pub(crate) async fn vendor(echo: fn(&str) -> String) -> String {
    use axum::Json;
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/verifications",
        post(move |Json(body): Json<Value>| async move {
            Json(json!({
                "reference": echo(body["reference"].as_str().unwrap_or("")),
                "outcome": "pass", "method": "document_liveness_face_match", "level": "strong",
                "vendor_reference": "vendor-123",
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// `civpass serve` with a vendor's evidence service; returns the process and its base URL.
fn serve_with_vendor(db: &civpass_testkit::TestDb, vendor: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_civpass"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--evidence-url",
            vendor,
            "--database-url",
            &db.url,
        ])
        .arg("--data-dir")
        .arg(&db.dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    (child, base)
}

#[tokio::test]
async fn a_vendors_verdict_counts_only_for_the_check_its_session_was_started_for() {
    let registry = civpass_registry::SandboxRegistry::generate(100);
    let person = &registry.people()[62];
    let (hkid, name, dob) =
        (person.hkid.to_string(), person.name_en.clone(), person.date_of_birth.to_string());
    // A session the vendor ran for some other check (say, one a phishing page opened).
    let elsewhere = vendor(|_| "a-reference-civpass-never-gave".to_owned()).await;
    let db = civpass_testkit::TestDb::create(&backends()[0]).await;
    let (mut child, base) = serve_with_vendor(&db, &elsewhere);
    let mut wallet = Wallet::create(&base).unwrap();
    let err = wallet.enrol(&hkid, &name, &dob, Some("session-1"), None).await.unwrap_err();
    assert_eq!(problem(err), (400, "evidence-unknown".to_owned()));
    child.kill().unwrap();
    let _ = child.wait();
    // The same with a vendor that names the check it was given: registered.
    let honest = vendor(str::to_owned).await;
    let db = civpass_testkit::TestDb::create(&backends()[0]).await;
    let (mut child, base) = serve_with_vendor(&db, &honest);
    let mut wallet = Wallet::create(&base).unwrap();
    wallet.enrol(&hkid, &name, &dob, Some("session-1"), None).await.unwrap();
    child.kill().unwrap();
    let _ = child.wait();
}

/// Whether `wallet` can approve a login (a revoked device cannot).
async fn approves(server: &TestServer, wallet: &Wallet) -> bool {
    support::try_login(server, wallet).await.is_ok()
}

#[tokio::test]
async fn a_lost_phone_is_replaced_remotely_only_on_a_strong_identity_check_after_a_day() {
    for backend in backends() {
        let server = spawn_server_with(
            &backend,
            Options { localhost: true, fixed_clock: true, ..Options::default() },
        )
        .await;
        let clock = server.clock.as_ref().unwrap();
        let (hkid, name, dob) = server.person(37);
        let mut old = server.enrolled_wallet(37).await;

        // A basic-level check does not move the account: nothing changes.
        let mut new = Wallet::create(&server.base).unwrap();
        let err = new.recover_lost_device(&hkid, &name, &dob, "pass:basic").await.unwrap_err();
        assert_eq!(problem(err), (422, "evidence-too-weak".to_owned()));
        assert!(approves(&server, &old).await);

        // A strong one starts the move, which waits a day: the old phone still works and sees
        // it; the new one approves nothing yet; a second move is refused meanwhile.
        let done = new.recover_lost_device(&hkid, &name, &dob, "pass").await.unwrap();
        let moves_at = done.moves_at.expect("the move waits");
        assert_eq!(moves_at - clock.now(), civpass_core::identity::registration::RECOVERY_DELAY);
        assert!(approves(&server, &old).await);
        assert!(!approves(&server, &new).await);
        let mut third = Wallet::create(&server.base).unwrap();
        let err = third.recover_lost_device(&hkid, &name, &dob, "pass").await.unwrap_err();
        assert_eq!(problem(err), (409, "recovery-pending".to_owned()));

        // The phone was phished, not lost: its owner stops the move from it.
        let pending = old.pending().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].kind, "recovery");
        old.confirm(&pending[0]).await.unwrap();
        assert!(old.pending().await.unwrap().is_empty());
        clock.advance(civpass_core::identity::registration::RECOVERY_DELAY + 1);
        server.services.purge_expired().await.unwrap();
        assert!(approves(&server, &old).await);
        assert!(!approves(&server, &new).await);

        // Whoever passed the check cannot simply try again: remote moves wait a month after a
        // stop (a registration point moves the account meanwhile).
        let mut newer = Wallet::create(&server.base).unwrap();
        let err = newer.recover_lost_device(&hkid, &name, &dob, "pass").await.unwrap_err();
        assert_eq!(problem(err), (409, "recovery-stopped".to_owned()));
        clock.advance(civpass_core::identity::registration::RECOVERY_BLOCK);
        server.services.purge_expired().await.unwrap();

        // Really lost: nobody stops it, and a day later the account is on the new phone, and a
        // plus citizen's signing certificate with it: the old one, which the lost phone could
        // activate, is revoked and a new one issued.
        old.upgrade("pass").await.unwrap();
        let signing = &server.services.signing;
        signing.init_pki("civpass test").await.unwrap();
        let account: civpass_core::kernel::AccountId = old.file.account_id.clone().unwrap().into();
        let before = signing.live_credential(&account).await.unwrap().unwrap();
        newer.recover_lost_device(&hkid, &name, &dob, "pass").await.unwrap();
        clock.advance(civpass_core::identity::registration::RECOVERY_DELAY + 1);
        server.services.purge_expired().await.unwrap();
        assert!(!approves(&server, &old).await);
        assert!(approves(&server, &newer).await);
        let after = signing.live_credential(&account).await.unwrap().unwrap();
        assert_ne!(after, before, "a new certificate");
        use civpass_core::signing::store::SigningStore;
        let all = server.store.credentials_of(&account).await.unwrap();
        assert!(all.iter().any(|c| c.revocation_reason.as_deref() == Some("device_replaced")));
        let session = newer.open_session().await.unwrap();
        let history = newer.history(&session).await.unwrap();
        assert!(
            history.iter().any(|h| h.what == "device_replaced" && h.channel == "remote"),
            "{history:?}"
        );

        // A move is neither a registration nor an upgrade in the operator's figures (the one
        // upgrade is the one above).
        let figures = server.services.account.figures(40).await.unwrap();
        let registered: u64 = figures.days.iter().map(|d| d.remote_registrations).sum();
        let upgraded: u64 = figures.days.iter().map(|d| d.remote_upgrades).sum();
        assert_eq!((registered, upgraded), (1, 1));

        // No account to move: told so.
        let (other, other_name, other_dob) = server.person(38);
        let mut stranger = Wallet::create(&server.base).unwrap();
        let err = stranger
            .recover_lost_device(&other, &other_name, &other_dob, "pass")
            .await
            .unwrap_err();
        assert_eq!(problem(err), (404, "no-account".to_owned()));

        // The app's passkey: the account moves to a new passkey the same way (a second after
        // the last move: a device added in the second a move begins overtakes it).
        clock.advance(1);
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/device/passkey-registrations", server.base))
            .json(&json!({
                "id_number": hkid, "name_en": name, "date_of_birth": dob, "replace_lost_device": true,
                "evidence": {"session": "pass", "reference": support::identity_check(&server.base, &hkid).await},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let started: Value = res.json().await.unwrap();
        let mut passkey = civpass_testkit::SoftPasskey::new(&server.base);
        let credential = passkey.create(&started["passkey"]);
        let res = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/device/passkey-registrations/{}",
                server.base,
                started["ceremony_id"].as_str().unwrap()
            ))
            .json(&json!({ "credential": credential }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let moved: Value = res.json().await.unwrap();
        assert_eq!(moved["account_id"], done.account_id.as_str());
        assert!(moved["moves_at"].is_i64());
        clock.advance(civpass_core::identity::registration::RECOVERY_DELAY + 1);
        server.services.purge_expired().await.unwrap();
        assert!(!approves(&server, &newer).await, "the wallet was revoked by the second move");
    }
}

#[tokio::test]
async fn a_waiting_remote_move_is_dropped_when_the_account_moved_meanwhile_or_was_suspended() {
    for backend in backends() {
        let server = spawn_server_with(
            &backend,
            Options { localhost: true, fixed_clock: true, ..Options::default() },
        )
        .await;
        let clock = server.clock.as_ref().unwrap();
        let (hkid, name, dob) = server.person(43);
        let old = server.enrolled_wallet(43).await;
        let mut attacker = Wallet::create(&server.base).unwrap();
        attacker.recover_lost_device(&hkid, &name, &dob, "pass").await.unwrap();
        // The citizen moves the account themselves, from the old phone, a second later.
        clock.advance(1);
        let mut moved = Wallet::create(&server.base).unwrap();
        moved.enrol(&hkid, &name, &dob, None, Some(&old)).await.unwrap();
        clock.advance(civpass_core::identity::registration::RECOVERY_DELAY + 1);
        server.services.purge_expired().await.unwrap();
        assert!(approves(&server, &moved).await, "the citizen's own move stands");
        assert!(!approves(&server, &attacker).await, "the waiting move was dropped");

        // A suspended account is not moved when the day is over either.
        let (hkid, name, dob) = server.person(44);
        let _second = server.enrolled_wallet(44).await;
        let mut other = Wallet::create(&server.base).unwrap();
        other.recover_lost_device(&hkid, &name, &dob, "pass").await.unwrap();
        server.services.account.suspend(&hkid, "reported stolen identity").await.unwrap();
        clock.advance(civpass_core::identity::registration::RECOVERY_DELAY + 1);
        server.services.purge_expired().await.unwrap();
        assert!(!approves(&server, &other).await);
    }
}
