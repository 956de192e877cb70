//! Minors, on both databases: a citizen aged 11 to 17 registers only naming a guardian the
//! population registry names, who holds an adult plus account and approves in their own app;
//! until then the minor's account cannot log in. Under 11 is refused; at a counter, a minor is
//! told apart. And the attacks that must fail: an adult the registry does not name.

use civpass_core::counter::CounterRequest;
use civpass_core::counter::model::{ActKind, ActOutcome, PointKind, StaffRole};
use civpass_core::kernel::clock::Clock;
use civpass_core::store::ports::*;
use civpass_testkit::{Options, TestServer, backends, spawn_server_with};
use civpass_wallet::{Wallet, WalletError};

use crate::counter::{always_open, card};
use crate::support;

fn slug(err: &WalletError) -> String {
    match err {
        WalletError::Problem(p) => p.problem_type.rsplit('/').next().unwrap_or("").to_owned(),
        other => format!("{other}"),
    }
}

/// The first sandbox minor (11 to 17 now) and the index of their first guardian.
fn minor_and_guardian(server: &TestServer) -> (usize, usize) {
    let people = server.registry.people();
    let now = server.clock.as_ref().map_or(0, |c| c.now());
    let minor = people
        .iter()
        .position(|p| {
            let age = civpass_core::identity::guardian::age_on(p.date_of_birth, now);
            (11..18).contains(&age) && !p.guardians.is_empty()
        })
        .expect("the sandbox has minors");
    let guardian =
        people.iter().position(|p| p.hkid == people[minor].guardians[0]).expect("a known guardian");
    (minor, guardian)
}

async fn enrol(server: &TestServer, idx: usize, guardian: Option<&str>) -> Result<Wallet, String> {
    let (hkid, name, dob) = server.person(idx);
    let mut wallet = Wallet::create(&server.base).unwrap();
    match wallet.enrol_with_guardian(&hkid, &name, &dob, Some("pass"), None, guardian).await {
        Ok(_) => Ok(wallet),
        Err(e) => Err(slug(&e)),
    }
}

/// Whether a login by `wallet` reaches the service with a code; else the app's problem.
async fn logs_in(server: &TestServer, wallet: &Wallet) -> Result<(), String> {
    let back = support::try_login(server, wallet).await?;
    support::query(&back, "code").map(|_| ()).ok_or_else(|| "no code".to_owned())
}

#[tokio::test]
async fn a_minor_registers_with_the_approval_of_a_guardian_the_registry_names() {
    for backend in backends() {
        let server = spawn_server_with(
            &backend,
            Options {
                fixed_clock: true,
                identity_attempts_per_hour: Some(0),
                ..Options::default()
            },
        )
        .await;
        let (minor, guardian_idx) = minor_and_guardian(&server);
        let guardian_hkid = server.person(guardian_idx).0;

        // Without a guardian, or with a malformed one: refused, nothing registered.
        assert_eq!(enrol(&server, minor, None).await.err().as_deref(), Some("guardian-required"));
        assert_eq!(
            enrol(&server, minor, Some("not a number")).await.err().as_deref(),
            Some("invalid-guardian")
        );
        // The named guardian without an account, then with a basic one: not eligible.
        assert_eq!(
            enrol(&server, minor, Some(&guardian_hkid)).await.err().as_deref(),
            Some("guardian-not-eligible")
        );
        let mut guardian = server.enrolled_wallet(guardian_idx).await;
        assert_eq!(
            enrol(&server, minor, Some(&guardian_hkid)).await.err().as_deref(),
            Some("guardian-not-eligible")
        );
        // A plus adult the registry does not name: refused.
        let stranger_idx = 0;
        let mut stranger = server.enrolled_wallet(stranger_idx).await;
        stranger.upgrade("pass").await.unwrap();
        assert_eq!(
            enrol(&server, minor, Some(&server.person(stranger_idx).0)).await.err().as_deref(),
            Some("guardian-not-named")
        );

        // The named guardian at plus: registered, waiting.
        guardian.upgrade("pass").await.unwrap();
        let (hkid, name, dob) = server.person(minor);
        let mut child = Wallet::create(&server.base).unwrap();
        let done = child
            .enrol_with_guardian(&hkid, &name, &dob, Some("pass"), None, Some(&guardian_hkid))
            .await
            .unwrap();
        assert!(done.awaiting_guardian);
        assert_eq!(logs_in(&server, &child).await.err().as_deref(), Some("awaiting-guardian"));

        // The stranger sees nothing and cannot approve it; the guardian sees the minor's name.
        assert!(stranger.pending().await.unwrap().is_empty());
        let pending = guardian.pending().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].kind, "guardian_approval");
        assert_eq!(pending[0].name_en, name);
        let err = stranger.confirm(&pending[0]).await.unwrap_err();
        assert_eq!(slug(&err), "invalid-proof");

        // The guardian approves with their key: the minor logs in.
        let approved = guardian.confirm(&pending[0]).await.unwrap();
        assert_eq!(approved.tier, "plus");
        assert!(guardian.pending().await.unwrap().is_empty());
        logs_in(&server, &child).await.unwrap();
        assert_eq!(slug(&guardian.confirm(&pending[0]).await.unwrap_err()), "not-pending");

        // Both see the link in their history.
        let session = child.open_session().await.unwrap();
        let history: Vec<String> =
            child.history(&session).await.unwrap().into_iter().map(|h| h.what).collect();
        assert!(history.contains(&"guardian_requested".to_owned()), "{history:?}");
        assert!(history.contains(&"guardian_approved".to_owned()), "{history:?}");
        let session = guardian.open_session().await.unwrap();
        let history: Vec<String> =
            guardian.history(&session).await.unwrap().into_iter().map(|h| h.what).collect();
        assert!(history.contains(&"approved_as_guardian".to_owned()), "{history:?}");
    }
}

#[tokio::test]
async fn under_eleven_is_refused_and_a_counter_tells_a_minor_apart() {
    for backend in backends() {
        let server = spawn_server_with(
            &backend,
            Options {
                fixed_clock: true,
                identity_attempts_per_hour: Some(0),
                ..Options::default()
            },
        )
        .await;
        let (minor, guardian_idx) = minor_and_guardian(&server);
        let guardian = server.enrolled_wallet(guardian_idx).await;
        guardian.upgrade("pass").await.unwrap();

        // At a counter, registering a minor is told apart and creates nothing.
        let counter = &server.services.counter;
        let point = counter.add_point(always_open(PointKind::Counter)).await.unwrap();
        let officer = counter.add_staff("Officer Ho", StaffRole::Officer).await.unwrap();
        counter.assign(&officer.id, &point.id).await.unwrap();
        let mut phone = Wallet::create(&server.base).unwrap();
        let code = phone.registration_code().await.unwrap().code;
        let report = counter
            .act(CounterRequest {
                kind: ActKind::Register,
                staff_id: &officer.id,
                point_id: &point.id,
                code: &code,
                card: card(&server, minor),
            })
            .await
            .unwrap();
        assert_eq!(report.outcome, ActOutcome::Minor);
        assert!(phone.pending().await.unwrap().is_empty());

        // The youngest sandbox people are 11 now; ten years ago everyone born since 2005 was
        // under 11, this minor included.
        let clock = server.clock.as_ref().unwrap();
        clock.advance(-10 * 365 * 86_400);
        let guardian_hkid = server.person(guardian_idx).0;
        assert_eq!(
            enrol(&server, minor, Some(&guardian_hkid)).await.err().as_deref(),
            Some("too-young")
        );
    }
}

#[tokio::test]
async fn a_minor_whose_guardian_did_not_approve_registers_again_and_comes_of_age() {
    for backend in backends() {
        let server = spawn_server_with(
            &backend,
            Options {
                fixed_clock: true,
                identity_attempts_per_hour: Some(0),
                ..Options::default()
            },
        )
        .await;
        let (minor, guardian_idx) = minor_and_guardian(&server);
        let guardian = server.enrolled_wallet(guardian_idx).await;
        guardian.upgrade("pass").await.unwrap();
        let guardian_hkid = server.person(guardian_idx).0;
        let first = enrol(&server, minor, Some(&guardian_hkid)).await.unwrap();

        // The week passes: the request is gone from the guardian's list; the minor registers
        // again (not `account-exists`), the first wallet revoked, and a new request waits.
        let clock = server.clock.as_ref().unwrap();
        clock.advance(8 * 86_400);
        // (The wallet signs its pending list with its own clock: the store is asked instead.)
        let guardian_account =
            civpass_core::kernel::AccountId::from(guardian.file.account_id.clone().unwrap());
        let waiting = |now| server.store.guardian_links_awaiting(&guardian_account, now);
        assert!(waiting(clock.now()).await.unwrap().is_empty());
        let second = enrol(&server, minor, Some(&guardian_hkid)).await.unwrap();
        assert_eq!(logs_in(&server, &first).await.err().as_deref(), Some("unknown-device"));
        assert_eq!(logs_in(&server, &second).await.err().as_deref(), Some("awaiting-guardian"));
        assert_eq!(waiting(clock.now()).await.unwrap().len(), 1);

        // Come of age without an approval: no guardian is needed any more.
        let born = server.registry.people()[minor].date_of_birth;
        let now = clock.now();
        let years = 18 - civpass_core::identity::guardian::age_on(born, now);
        clock.advance(i64::from(years) * 366 * 86_400);
        logs_in(&server, &second).await.unwrap();
    }
}
