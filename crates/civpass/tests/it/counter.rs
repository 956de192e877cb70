//! In-person registration end to end, on both databases: an officer at a registration point
//! registers a new citizen at the plus tier, or upgrades a basic one, on the phone that shows
//! the code, and it takes effect only when the citizen confirms with that phone's key; logins
//! then carry `acr=plus` when asked. And the attacks of docs/SECURITY.md that must fail.

use civpass_api::signing::confirm_message;
use civpass_core::counter::hours::Hours;
use civpass_core::counter::model::{ActKind, ActOutcome, CardDetails, PointKind, StaffRole};
use civpass_core::counter::{CounterError, CounterRequest, NewPoint};
use civpass_core::store::ports::*;
use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use civpass_wallet::Wallet;

use crate::oidc_params::{approve_as, id_token_claims, with};
use crate::support::{self, AuthRequest, CALLBACK};

pub(crate) fn always_open(kind: PointKind) -> NewPoint {
    NewPoint {
        kind,
        name_en: "General Post Office".into(),
        name_zh_hant: "郵政總局".into(),
        name_zh_hans: "邮政总局".into(),
        district: "Central and Western".into(),
        hours: Hours::parse_weekly("mon-sun 00:00-24:00").unwrap(),
    }
}

/// A point, an officer assigned to it; returns (point id, officer id).
async fn counter_with_officer(server: &TestServer) -> (String, String) {
    let counter = &server.services.counter;
    let point = counter.add_point(always_open(PointKind::PostOffice)).await.unwrap();
    let officer = counter.add_staff("Officer Wong", StaffRole::Officer).await.unwrap();
    assert!(counter.assign(&officer.id, &point.id).await.unwrap());
    (point.id, officer.id)
}

pub(crate) fn card(server: &TestServer, idx: usize) -> CardDetails {
    let (id_number, name_en, date_of_birth) = server.person(idx);
    CardDetails { id_number, name_en, date_of_birth }
}

async fn act(
    server: &TestServer,
    kind: ActKind,
    (point, officer): (&str, &str),
    code: &str,
    card: CardDetails,
) -> Result<civpass_core::counter::ActReport, CounterError> {
    let req = CounterRequest { kind, staff_id: officer, point_id: point, code, card };
    server.services.counter.act(req).await
}

/// A login asking for `acr_values=plus`: the ID token's acr, or the error it ended with.
async fn plus_login(server: &TestServer, wallet: &Wallet) -> Result<String, String> {
    let (id, secret) = server.client(CALLBACK).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    let (_, back) =
        approve_as(server, wallet, &with(&req, server, &[("acr_values", "plus")])).await;
    let Some(code) = support::query(&back, "code") else {
        return Err(support::query(&back, "error").unwrap_or_default());
    };
    let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
    let claims = id_token_claims(tokens["id_token"].as_str().unwrap());
    Ok(claims["acr"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_officer_registers_a_new_citizen_at_plus_once_the_phone_confirms() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (point, officer) = counter_with_officer(&server).await;
        let mut phone = Wallet::create(&server.base).unwrap();
        let code = phone.registration_code().await.unwrap();
        assert!(!code.enrolled);
        assert_eq!(code.code.len(), 9, "XXXX-XXXX");
        // The officer types it as it comes, in lower case and without the dash.
        let typed = code.code.replace('-', "").to_lowercase();
        let report = act(&server, ActKind::Register, (&point, &officer), &typed, card(&server, 30))
            .await
            .unwrap();
        assert_eq!(report.outcome, ActOutcome::AwaitingCitizen);

        // Nothing exists until the citizen confirms on the phone, which sees what and where.
        let pending = phone.pending().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].kind.as_str(), pending[0].name_en.as_str()),
            ("register", server.person(30).1.as_str())
        );
        assert_eq!(pending[0].point_name_zh_hant, "郵政總局");

        let done = phone.confirm(&pending[0]).await.unwrap();
        assert_eq!(done.tier, "plus");
        assert!(phone.pending().await.unwrap().is_empty());
        // Confirmed once: again is refused.
        let again = server.services.counter.confirm(&pending[0].id, "x").await;
        assert!(matches!(again, Err(CounterError::NotPending)), "{again:?}");

        assert_eq!(plus_login(&server, &phone).await, Ok("plus".to_owned()));
        // The evidence that raised the tier is recorded: in person, strong.
        let evidence = server.store.list_evidence(&done.account_id.as_str().into()).await.unwrap();
        assert_eq!(evidence.len(), 1);
        assert_eq!(
            (evidence[0].method.as_str(), evidence[0].purpose.as_str()),
            ("in_person_card", "registration")
        );
    }
}

#[tokio::test]
async fn an_upgrade_takes_effect_only_when_the_citizen_confirms() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (point, officer) = counter_with_officer(&server).await;
        let mut phone = server.enrolled_wallet(32).await;
        assert_eq!(
            plus_login(&server, &phone).await,
            Err("unmet_authentication_requirements".into())
        );
        let code = phone.registration_code().await.unwrap();
        assert!(code.enrolled);
        let report =
            act(&server, ActKind::Upgrade, (&point, &officer), &code.code, card(&server, 32))
                .await
                .unwrap();
        assert_eq!(report.outcome, ActOutcome::AwaitingCitizen);
        // Not confirmed: still basic.
        assert_eq!(
            plus_login(&server, &phone).await,
            Err("unmet_authentication_requirements".into())
        );
        let pending = phone.pending().await.unwrap();
        assert_eq!(pending[0].kind, "upgrade");
        assert_eq!(phone.confirm(&pending[0]).await.unwrap().tier, "plus");
        assert_eq!(plus_login(&server, &phone).await, Ok("plus".to_owned()));
        // The history in the order things happened, even within one second.
        let session = phone.open_session().await.unwrap();
        let whats: Vec<String> =
            phone.history(&session).await.unwrap().into_iter().map(|h| h.what).collect();
        assert_eq!(whats, ["registered", "device_added", "upgraded"]);

        // Upgraded already: the officer is told so.
        let code = phone.registration_code().await.unwrap();
        let report =
            act(&server, ActKind::Upgrade, (&point, &officer), &code.code, card(&server, 32))
                .await
                .unwrap();
        assert_eq!(report.outcome, ActOutcome::AlreadyPlus);
    }
}

#[tokio::test]
async fn officers_are_told_each_outcome_apart_and_every_act_is_recorded_sealed() {
    let server = spawn_server_with(&backends()[0], Options::default()).await;
    let (point, officer) = counter_with_officer(&server).await;
    let at = (point.as_str(), officer.as_str());
    let enrolled = server.enrolled_wallet(40).await;
    let mut enrolled = enrolled;
    let mut fresh = Wallet::create(&server.base).unwrap();
    let code = async |w: &mut Wallet| w.registration_code().await.unwrap().code;

    let mut wrong_dob = card(&server, 41);
    wrong_dob.date_of_birth = "1900-01-01".into();
    let nobody = CardDetails {
        id_number: civpass_core::identity::hkid::HkId::from_parts("Z", "999990")
            .unwrap()
            .to_string(),
        name_en: "NOBODY, AT ALL".into(),
        date_of_birth: "1990-01-01".into(),
    };
    let cases: Vec<(ActKind, String, CardDetails, ActOutcome)> = vec![
        (ActKind::Register, code(&mut fresh).await, nobody, ActOutcome::NoSuchPerson),
        (ActKind::Register, code(&mut fresh).await, wrong_dob, ActOutcome::DetailsDiffer),
        (
            ActKind::Register,
            code(&mut fresh).await,
            card(&server, 40),
            ActOutcome::AlreadyRegistered,
        ),
        (
            ActKind::Register,
            code(&mut enrolled).await,
            card(&server, 42),
            ActOutcome::PhoneHasAccount,
        ),
        (
            ActKind::Upgrade,
            code(&mut fresh).await,
            card(&server, 40),
            ActOutcome::NotThisCitizensPhone,
        ),
        (
            ActKind::Upgrade,
            code(&mut enrolled).await,
            card(&server, 43),
            ActOutcome::NotThisCitizensPhone,
        ),
        (ActKind::Register, "ABCD-EFGH".into(), card(&server, 44), ActOutcome::CodeInvalid),
    ];
    for (kind, code, card, expected) in cases {
        let report = act(&server, kind, at, &code, card).await.unwrap();
        assert_eq!(report.outcome, expected, "{kind:?}");
        assert!(report.expires_at.is_none());
    }
    // Every one recorded, and no card detail in the clear.
    let recorded = server.store.list_counter_acts(0).await.unwrap();
    assert_eq!(recorded.len(), 7);
    let name = server.person(44).1;
    for a in &recorded {
        assert!(
            a.sealed_details
                .as_deref()
                .is_none_or(|s| !s.windows(name.len()).any(|w| w == name.as_bytes()))
        );
    }
}

#[tokio::test]
async fn the_attacks_on_the_counter_fail() {
    let server =
        spawn_server_with(&backends()[0], Options { fixed_clock: true, ..Options::default() })
            .await;
    let clock = server.clock.clone().unwrap();
    let counter = &server.services.counter;
    let (point, officer) = counter_with_officer(&server).await;
    let at = (point.as_str(), officer.as_str());

    // An officer at a point they are not assigned to, or after being disabled, or while the
    // point is closed; and an administrator, who does not serve citizens.
    let elsewhere = counter.add_point(always_open(PointKind::Counter)).await.unwrap();
    let mut phone = Wallet::create(&server.base).unwrap();
    let code = phone.registration_code().await.unwrap().code;
    let not_assigned =
        act(&server, ActKind::Register, (&elsewhere.id, &officer), &code, card(&server, 50)).await;
    assert!(matches!(not_assigned, Err(CounterError::NotAssigned)));
    let mut closed = always_open(PointKind::MobileTeam);
    closed.hours = Hours::Schedule {
        visits: vec![Hours::parse_visit("2020-01-01 10:00-16:00 Tai Po Market").unwrap()],
    };
    let closed = counter.add_point(closed).await.unwrap();
    counter.assign(&officer, &closed.id).await.unwrap();
    let shut =
        act(&server, ActKind::Register, (&closed.id, &officer), &code, card(&server, 50)).await;
    assert!(matches!(shut, Err(CounterError::PointClosed { .. })));
    let admin = counter.add_staff("Admin Lee", StaffRole::Admin).await.unwrap();
    counter.assign(&admin.id, &point).await.unwrap();
    let by_admin =
        act(&server, ActKind::Register, (&point, &admin.id), &code, card(&server, 50)).await;
    assert!(matches!(by_admin, Err(CounterError::NotAnOfficer)));
    let gone = counter.add_staff("Officer Ho", StaffRole::Officer).await.unwrap();
    counter.assign(&gone.id, &point).await.unwrap();
    counter.disable_staff(&gone.id).await.unwrap();
    let disabled =
        act(&server, ActKind::Register, (&point, &gone.id), &code, card(&server, 50)).await;
    assert!(matches!(disabled, Err(CounterError::StaffDisabled)));

    // The code still works once: the refusals above did not use it. Replayed, it is invalid.
    let first = act(&server, ActKind::Register, at, &code, card(&server, 50)).await.unwrap();
    assert_eq!(first.outcome, ActOutcome::AwaitingCitizen);
    let replayed = act(&server, ActKind::Register, at, &code, card(&server, 51)).await.unwrap();
    assert_eq!(replayed.outcome, ActOutcome::CodeInvalid);

    // Another device cannot confirm: its signature is not the bound key's.
    let other = Wallet::create(&server.base).unwrap();
    let forged =
        other.sign_message(&confirm_message(&server.base, &first.act_id, "register")).unwrap();
    assert!(matches!(
        counter.confirm(&first.act_id, &forged).await,
        Err(CounterError::InvalidProof)
    ));
    let mut other = other;
    assert!(other.pending().await.unwrap().is_empty(), "nor see it");

    // An expired code, and an act not confirmed in time, do nothing.
    let late_code = phone.registration_code().await.unwrap().code;
    let pending = phone.pending().await.unwrap();
    clock.advance(601);
    let expired = act(&server, ActKind::Register, at, &late_code, card(&server, 52)).await.unwrap();
    assert_eq!(expired.outcome, ActOutcome::CodeInvalid);
    let sig =
        phone.sign_message(&confirm_message(&server.base, &pending[0].id, "register")).unwrap();
    assert!(matches!(counter.confirm(&pending[0].id, &sig).await, Err(CounterError::Expired)));

    // Registry probing through the counter: limited per officer, each act recorded.
    let mut limited = None;
    for _ in 0..70 {
        match act(&server, ActKind::Register, at, "ZZZZ-ZZZZ", card(&server, 53)).await {
            Ok(_) => {}
            Err(e) => {
                limited = Some(e);
                break;
            }
        }
    }
    assert!(matches!(limited, Some(CounterError::TooManyActs { .. })), "{limited:?}");
}

/// The commands an operator scripts, against a running server's data directory, and the
/// wallet's side: staff and points, a registration at the counter, the citizen's confirmation.
#[tokio::test]
async fn the_command_line_runs_a_counter_registration_end_to_end() {
    use std::process::{Command, Stdio};
    let db = civpass_testkit::TestDb::create(&civpass_testkit::Backend::Sqlite).await;
    let dir = db.dir.to_str().unwrap().to_owned();
    let (mut server, base) = support::serve_binary(&["--data-dir", &dir], &[], Stdio::null());
    let civpass = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_civpass")).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let json = |args: &[&str]| {
        let (ok, out, err) = civpass(args);
        assert!(ok, "{args:?}: {err}");
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let point = json(&[
        "points",
        "add",
        "--data-dir",
        &dir,
        "--json",
        "--kind",
        "counter",
        "--name-en",
        "Immigration Tower",
        "--name-zh-hant",
        "入境事務大樓",
        "--name-zh-hans",
        "入境事务大楼",
        "--district",
        "Wan Chai",
        "--hours",
        "mon-sun 00:00-24:00",
    ]);
    let point = point["id"].as_str().unwrap().to_owned();
    let officer = json(&[
        "staff",
        "add",
        "--data-dir",
        &dir,
        "--json",
        "--name",
        "Officer Lam",
        "--role",
        "officer",
    ]);
    assert!(officer["enrolment_link"].as_str().unwrap().contains("/counter/enrol#"));
    let officer = officer["id"].as_str().unwrap().to_owned();
    // Not yet assigned: refused, with a reason, and nothing recorded.
    let wallet = db.dir.join("phone.wallet.json");
    let wallet = wallet.to_str().unwrap();
    let code =
        json(&["wallet", "registration-code", "--wallet", wallet, "--server", &base, "--json"]);
    let code = code["code"].as_str().unwrap().to_owned();
    let registry = civpass_registry::SandboxRegistry::generate(40);
    let person = &registry.people()[33];
    let (hkid, name, dob) =
        (person.hkid.to_string(), person.name_en.clone(), person.date_of_birth.to_string());
    let register = |code: &str| {
        civpass(&[
            "counter",
            "register",
            "--data-dir",
            &dir,
            "--json",
            "--point",
            &point,
            "--officer",
            &officer,
            "--code",
            code,
            "--id-number",
            &hkid,
            "--name-en",
            &name,
            "--dob",
            &dob,
        ])
    };
    let (ok, _, err) = register(&code);
    assert!(!ok && err.contains("not assigned"), "{err}");
    json(&["staff", "assign", "--data-dir", &dir, "--json", &officer, &point]);
    // Piped into a reader that stops early (`| head`), a command ends quietly.
    let mut piped = Command::new(env!("CARGO_BIN_EXE_civpass"))
        .args(["registry", "list", "--limit", "5000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(piped.stdout.take());
    let ended = piped.wait_with_output().unwrap();
    assert!(ended.status.success(), "{}", String::from_utf8_lossy(&ended.stderr));
    assert!(!String::from_utf8_lossy(&ended.stderr).contains("panicked"));
    let staff = json(&["staff", "list", "--data-dir", &dir, "--json"]);
    assert_eq!(staff[0]["points"][0], point.as_str());
    assert_eq!(json(&["points", "list", "--data-dir", &dir, "--json"])[0]["kind"], "counter");

    let (ok, out, err) = register(&code);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["outcome"], "awaiting_citizen");
    let pending = json(&["wallet", "pending", "--wallet", wallet, "--json"]);
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let (ok, _, err) = civpass(&["wallet", "confirm", "nope", "--wallet", wallet]);
    assert!(!ok && err.contains("nothing with id nope"), "{err}");
    let done = json(&["wallet", "confirm", &id, "--wallet", wallet, "--json"]);
    assert_eq!(done["tier"], "plus");
    // The wallet now holds the account: a second code is for an upgrade, refused as plus.
    let code =
        json(&["wallet", "registration-code", "--wallet", wallet, "--server", &base, "--json"]);
    assert_eq!(code["enrolled"], true);
    server.kill().unwrap();
    let _ = server.wait();
}

#[tokio::test]
async fn the_figures_count_registrations_by_channel_and_point() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (point, officer) = counter_with_officer(&server).await;
        // One remote registration, one at the post office, and one upgrade there.
        server.enrolled_wallet(70).await;
        let mut new = Wallet::create(&server.base).unwrap();
        let code = new.registration_code().await.unwrap().code;
        act(&server, ActKind::Register, (&point, &officer), &code, card(&server, 71))
            .await
            .unwrap();
        let pending = new.pending().await.unwrap();
        new.confirm(&pending[0]).await.unwrap();
        let mut basic = server.enrolled_wallet(72).await;
        let code = basic.registration_code().await.unwrap().code;
        act(&server, ActKind::Upgrade, (&point, &officer), &code, card(&server, 72)).await.unwrap();
        let pending = basic.pending().await.unwrap();
        basic.confirm(&pending[0]).await.unwrap();
        // An unconfirmed act counts for nothing.
        let mut waiting = Wallet::create(&server.base).unwrap();
        let code = waiting.registration_code().await.unwrap().code;
        act(&server, ActKind::Register, (&point, &officer), &code, card(&server, 73))
            .await
            .unwrap();

        let figures = server.services.account.figures(7).await.unwrap();
        assert_eq!(figures.days.len(), 7);
        let t = figures.totals;
        assert_eq!((t.accounts, t.plus, t.suspended, t.active_devices), (3, 2, 0, 3));
        // Summed over the days: a run across Hong Kong midnight splits them.
        let sum = |f: &dyn Fn(&civpass_core::account::stats::DayFigures) -> u64| {
            figures.days.iter().map(f).sum::<u64>()
        };
        assert_eq!(sum(&|d| d.remote_registrations), 2, "two enrolled remotely");
        assert_eq!(sum(&|d| d.remote_upgrades), 0);
        assert_eq!(
            sum(&|d| d.registrations_by_point_kind.get("post_office").copied().unwrap_or(0)),
            1
        );
        assert_eq!(sum(&|d| d.upgrades_by_point_kind.get("post_office").copied().unwrap_or(0)), 1);
        assert_eq!(sum(&|d| d.by_point.get(&point).map_or(0, |p| p[0] + p[1])), 2);
        assert!(
            figures.days[..5].iter().all(|d| d.remote_registrations == 0 && d.by_point.is_empty())
        );
    }
}

#[tokio::test]
async fn a_lost_phone_is_replaced_at_the_counter_and_the_old_one_approves_nothing() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (point, officer) = counter_with_officer(&server).await;
        let old = server.enrolled_wallet(75).await;
        let mut new = Wallet::create(&server.base).unwrap();
        let code = new.registration_code().await.unwrap().code;
        // The card of someone without an account: nothing to move.
        let report =
            act(&server, ActKind::ReplaceDevice, (&point, &officer), &code, card(&server, 76))
                .await
                .unwrap();
        assert_eq!(report.outcome, ActOutcome::NoAccount);
        let code = new.registration_code().await.unwrap().code;
        let report =
            act(&server, ActKind::ReplaceDevice, (&point, &officer), &code, card(&server, 75))
                .await
                .unwrap();
        assert_eq!(report.outcome, ActOutcome::AwaitingCitizen);
        let pending = new.pending().await.unwrap();
        assert_eq!(pending[0].kind, "replace_device");
        let done = new.confirm(&pending[0]).await.unwrap();
        assert_eq!(done.account_id, old.file.account_id.clone().unwrap());
        // The new phone logs in; the old one approves nothing.
        assert_eq!(
            plus_login(&server, &new).await,
            Err("unmet_authentication_requirements".into())
        );
        let (id, _) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let waiting =
            support::open_login_page(&support::browser(), &server.base, &req.url(&server.base))
                .await;
        let view = old.fetch(&waiting.link).await.unwrap();
        let verdict = civpass_core::oidc::login::Verdict::Approve;
        let err = old
            .decide(&waiting.link, &view, verdict, &waiting.match_code, &["openid".to_owned()])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, civpass_wallet::WalletError::Problem(p) if p.problem_type.ends_with("unknown-device")),
            "{err}"
        );
        let session = new.open_session().await.unwrap();
        let history = new.history(&session).await.unwrap();
        let replaced = history.iter().find(|h| h.what == "device_replaced").unwrap();
        assert_eq!(
            (replaced.channel.as_str(), replaced.point.as_ref().unwrap()[0].as_str()),
            ("counter", "General Post Office")
        );
    }
}

#[tokio::test]
async fn a_citizen_registers_at_plus_through_a_kiosk_with_the_sandbox_verifier() {
    use civpass_api::signing::kiosk_act_message;
    use civpass_crypto::jws::DeviceKeyPair;
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let counter = &server.services.counter;
        let point = counter.add_point(always_open(PointKind::PostOffice)).await.unwrap();
        let other = counter.add_point(always_open(PointKind::Counter)).await.unwrap();
        let (kiosk, pkcs8) = counter.add_kiosk(&point.id, "GPO kiosk 1").await.unwrap();
        let key = DeviceKeyPair::from_pkcs8(&pkcs8).unwrap();
        let mut phone = Wallet::create(&server.base).unwrap();
        let (hkid, name, dob) = server.person(77);
        let send = |point_id: String,
                    code: String,
                    evidence: &'static str,
                    sign_with: Option<&DeviceKeyPair>| {
            let (base, kiosk_id, hkid, name, dob) =
                (server.base.clone(), kiosk.id.clone(), hkid.clone(), name.clone(), dob.clone());
            let signer = sign_with.unwrap_or(&key);
            let at = time::OffsetDateTime::now_utc().unix_timestamp();
            let id_number = civpass_api::signing::id_number_for_signing(&hkid);
            let signature = signer
                .sign_b64(&kiosk_act_message(
                    &base, &kiosk_id, &point_id, "register", &code, &id_number, at,
                ))
                .unwrap();
            async move {
                let reference = support::identity_check(&base, &hkid).await;
                let res = reqwest::Client::new()
                    .post(format!("{base}/api/v1/kiosk/acts"))
                    .json(&serde_json::json!({
                        "kiosk_id": kiosk_id, "point_id": point_id, "kind": "register", "code": code,
                        "id_number": hkid, "name_en": name, "date_of_birth": dob,
                        "evidence": {"session": evidence, "reference": reference},
                        "at": at, "signature": signature,
                    }))
                    .send()
                    .await
                    .unwrap();
                (res.status().as_u16(), res.json::<serde_json::Value>().await.unwrap())
            }
        };
        // Records sent with another point's name, or signed by another key, or on a weak check,
        // are refused and use nothing up.
        let code = phone.registration_code().await.unwrap().code;
        let (status, body) = send(other.id.clone(), code.clone(), "pass", None).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (403, "https://civpass.dev/problems/not-this-point")
        );
        let (forger, _) = DeviceKeyPair::generate().unwrap();
        let (status, _) = send(point.id.clone(), code.clone(), "pass", Some(&forger)).await;
        assert_eq!(status, 401);
        let (status, body) = send(point.id.clone(), code.clone(), "pass:basic", None).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (422, "https://civpass.dev/problems/evidence-too-weak")
        );
        let (status, body) = send(point.id.clone(), code.clone(), "liveness_failed", None).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (422, "https://civpass.dev/problems/evidence-liveness-failed")
        );
        // The kiosk at its own point, with a strong check: waits for the phone.
        let (status, body) = send(point.id.clone(), code, "pass", None).await;
        assert_eq!(
            (status, body["outcome"].as_str().unwrap()),
            (200, "awaiting_citizen"),
            "{body}"
        );
        let pending = phone.pending().await.unwrap();
        assert_eq!(pending[0].point_name_en, "General Post Office");
        assert_eq!(phone.confirm(&pending[0]).await.unwrap().tier, "plus");
        assert_eq!(plus_login(&server, &phone).await, Ok("plus".to_owned()));
        // The evidence is the kiosk's, and the history says where.
        let session = phone.open_session().await.unwrap();
        let history = phone.history(&session).await.unwrap();
        let registered = history.iter().find(|h| h.what == "registered").unwrap();
        assert_eq!(
            (registered.channel.as_str(), registered.point.as_ref().unwrap()[0].as_str()),
            ("kiosk", "General Post Office")
        );
        let mine = phone.my_data(&session).await.unwrap();
        assert_eq!(mine.evidence[0].method, "kiosk_card_reader_face_match");
        // An officer cannot use the kiosk's endpoint, nor a kiosk the officer's.
        let (_, officer) = counter_with_officer(&server).await;
        let as_officer =
            act(&server, ActKind::Register, (&point.id, &kiosk.id), "ABCD-EFGH", card(&server, 78))
                .await;
        assert!(matches!(as_officer, Err(CounterError::NotAnOfficer)));
        let _ = officer;
    }
}

/// What the officer checked is checked again when the phone confirms: a key that holds an
/// account by then, or an account suspended or lowered since the act, refuses it; and a kiosk
/// cannot be moved to another point.
#[tokio::test]
async fn a_confirmation_is_refused_when_things_changed_since_the_act() {
    for backend in backends() {
        let server = spawn_server_with(&backend, Options::default()).await;
        let (point, officer) = counter_with_officer(&server).await;
        let at = (point.as_str(), officer.as_str());
        // Two registrations on one new phone: the second confirmation finds the key taken.
        let mut phone = Wallet::create(&server.base).unwrap();
        let first = phone.registration_code().await.unwrap().code;
        let second = phone.registration_code().await.unwrap().code;
        act(&server, ActKind::Register, at, &first, card(&server, 80)).await.unwrap();
        act(&server, ActKind::Register, at, &second, card(&server, 81)).await.unwrap();
        let pending = phone.pending().await.unwrap();
        assert_eq!(pending.len(), 2);
        phone.confirm(&pending[0]).await.unwrap();
        let err = phone.confirm(&pending[1]).await.unwrap_err();
        assert!(
            err.to_string().contains("key-enrolled") || format!("{err:?}").contains("key-enrolled"),
            "{err}"
        );

        // An upgrade pending while the account is suspended: refused, and stays basic.
        let mut basic = server.enrolled_wallet(82).await;
        let code = basic.registration_code().await.unwrap().code;
        act(&server, ActKind::Upgrade, at, &code, card(&server, 82)).await.unwrap();
        let pending = basic.pending().await.unwrap();
        server.services.account.suspend(&server.person(82).0, "investigation").await.unwrap();
        let err = basic.confirm(&pending[0]).await.unwrap_err();
        assert!(format!("{err:?}").contains("act-overtaken"), "{err}");
        server.services.account.reinstate(&server.person(82).0, "cleared").await.unwrap();
        let err = basic.confirm(&pending[0]).await.unwrap_err();
        assert!(
            format!("{err:?}").contains("act-overtaken"),
            "an act from before a suspension stays void: {err}"
        );
        assert_eq!(
            plus_login(&server, &basic).await,
            Err("unmet_authentication_requirements".into())
        );

        // A kiosk stays where it was enrolled.
        let counter = &server.services.counter;
        let (kiosk, _) = counter.add_kiosk(&point, "kiosk").await.unwrap();
        let elsewhere = counter.add_point(always_open(PointKind::Counter)).await.unwrap();
        assert!(matches!(
            counter.assign(&kiosk.id, &elsewhere.id).await,
            Err(CounterError::Invalid(_))
        ));
        // Nor can a disabled officer be given a new point.
        counter.disable_staff(&officer).await.unwrap();
        assert!(matches!(
            counter.assign(&officer, &elsewhere.id).await,
            Err(CounterError::StaffDisabled)
        ));
    }
}
