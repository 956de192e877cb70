//! Store behaviour that the use cases rely on, on SQLite and (with `CIVPASS_TEST_DATABASE_URL`)
//! PostgreSQL: conflicts, single-use transitions, atomic multi-row changes.

#![allow(clippy::unwrap_used)]

use civpass_core::account::model::AppSession;
use civpass_core::consent::model::{Consent, Release};
use civpass_core::identity::evidence::{EvidenceLevel, EvidenceRecord};
use civpass_core::identity::model::{Account, Tier};
use civpass_core::identity::model::{Device, DeviceKind};
use civpass_core::kernel::ceremony::Ceremony;
use civpass_core::kernel::outbox::{OutboxKind, OutboxMessage};
use civpass_core::kernel::store::{StoreError, transact};
use civpass_core::keys::model::StoredSigningKey;
use civpass_core::oidc::model::{
    AuthMethod, Client, Decision, Ending, Grant, GrantType, LoginRequest, LoginStatus, LogoutNotice,
};
use civpass_core::oidc::store::{PendingKey, Redemption};
use civpass_core::store::Store;
use civpass_core::store::ports::*;
use civpass_store::SqlStore;
use civpass_testkit::{TestDb, backends};

async fn stores() -> Vec<(TestDb, SqlStore)> {
    let mut out = Vec::new();
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let store = SqlStore::connect(&db.url).await.unwrap();
        out.push((db, store));
    }
    out
}

/// A decision with its consent, as `login::decide` writes it through the transaction seam.
async fn decide(
    store: &SqlStore,
    id: &str,
    decision: &Decision,
    consent: Option<&Consent>,
    now: i64,
) -> bool {
    let (id, decision, consent) = (id.to_owned(), decision.clone(), consent.cloned());
    transact(store, move |tx| {
        Box::pin(async move {
            if !tx.decide_login_request(&id, &decision, now).await? {
                return Ok(false);
            }
            if let Some(consent) = &consent {
                tx.upsert_consent(consent).await?;
            }
            Ok(true)
        })
    })
    .await
    .unwrap()
}

/// A code redeemed with its grant and release, as `token::redeem_code` writes it.
async fn redeem(store: &SqlStore, code_hash: &str, grant: &Grant, release: &Release) -> Redemption {
    let (code_hash, grant, release) = (code_hash.to_owned(), grant.clone(), release.clone());
    transact(store, move |tx| {
        Box::pin(async move {
            let redemption = tx.redeem_code(&code_hash, &grant.id).await?;
            if redemption == Redemption::Redeemed {
                tx.insert_grant(&grant).await?;
                tx.insert_release(&release).await?;
            }
            Ok(redemption)
        })
    })
    .await
    .unwrap()
}

/// A back-channel logout message for client `c1` (the outbox's first kind), due at `due`.
fn notice_due(id: &str, session_id: Option<String>, due: i64) -> OutboxMessage {
    let notice = LogoutNotice { client_id: "c1".into(), subject: "sub".into(), session_id };
    OutboxMessage { next_attempt_at: due, ..OutboxMessage::new(id.into(), &notice, 1).unwrap() }
}

/// A back-channel logout message for client `c1`, due at once.
fn notice(id: &str) -> OutboxMessage {
    notice_due(id, None, 0)
}

fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: "Service".into(),
        secret_hash: Some("h".into()),
        id_token_alg: civpass_crypto::jws::Algorithm::ES256,
        redirect_uris: vec!["https://rp.example/cb".into()],
        auth_methods: vec![AuthMethod::ClientSecretBasic, AuthMethod::PrivateKeyJwt],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
        jwks: Some(r#"{"keys":[]}"#.into()),
        jwks_uri: None,
        scopes: vec!["api.read".into()],
        require_par: true,
        require_signed_request: false,
        require_dpop: true,
        resource_server: true,
        registration_token_hash: Some("rat".into()),
        post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
        backchannel_logout_uri: Some("https://rp.example/logout".into()),
        sector_identifier_uri: Some("https://rp.example/sector.json".into()),
        sector: Some("rp.example".into()),
        native: true,
        acr_values_voluntary: true,
        disabled_at: None,
        created_at: 1,
    }
}

fn account(id: &str, hkid_hash: &str) -> (Account, Device) {
    (
        Account {
            id: id.into(),
            hkid_hash: hkid_hash.into(),
            tier: Tier::Basic,
            vault: vec![1, 2, 3, 0, 255],
            created_at: 1,
        },
        Device {
            id: format!("d-{id}"),
            account_id: id.into(),
            public_key: "pk".into(),
            kind: DeviceKind::Software,
            credential_id: None,
            created_at: 1,
            revoked_at: None,
        },
    )
}

fn evidence(account_id: &str) -> EvidenceRecord {
    EvidenceRecord {
        id: format!("e-{account_id}"),
        account_id: account_id.into(),
        purpose: "registration".into(),
        method: "document_liveness_face_match".into(),
        level: EvidenceLevel::Strong,
        sealed_reference: vec![9, 8, 7],
        verified_at: 5,
    }
}

fn request(id: &str, client_id: &str) -> LoginRequest {
    LoginRequest {
        id: id.into(),
        client_id: client_id.into(),
        client_name: "Service".into(),
        redirect_uri: "https://rp.example/cb".into(),
        oauth_state: Some("s".into()),
        nonce: None,
        scopes: vec!["openid".into(), "profile".into()],
        code_challenge: "c".into(),
        browser_hash: "b".into(),
        match_code: "07".into(),
        challenge: "ch".into(),
        created_at: 100,
        expires_at: 400,
        status: LoginStatus::Pending,
        account_id: None,
        device_id: None,
        approved_scopes: vec![],
        auth_time: None,
        amr: vec![],
        code_hash: None,
        code_expires_at: None,
        grant_id: None,
        ui_locales: Some("zh-HK en".into()),
        acr_values: vec!["plus".into()],
        id_token_claims: vec!["name".into()],
        expected_sub: Some("sub-1".into()),
        failure: None,
        dpop_jkt: Some("jkt".into()),
        sealed_context: Some(vec![7, 7]),
        origin_hash: Some("origin-1".into()),
    }
}

/// Client c1, account a1 with device d-a1, and a pending login request r1.
async fn seed(store: &SqlStore) {
    store.insert_client(&client("c1")).await.unwrap();
    let (a, d) = account("a1", "hash1");
    store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
    store.insert_login_request(&request("r1", "c1")).await.unwrap();
}

fn grant(id: &str, account_id: &str, client_id: &str, refresh_hash: &str) -> Grant {
    Grant {
        id: id.into(),
        account_id: account_id.into(),
        client_id: client_id.into(),
        login_request_id: "r1".into(),
        scopes: vec!["openid".into()],
        auth_time: 150,
        acr: "basic".into(),
        amr: vec!["swk".into()],
        refresh_hash: refresh_hash.into(),
        refresh_expires_at: 10_000,
        created_at: 150,
        revoked_at: None,
        dpop_jkt: Some(format!("jkt-{id}")),
        browser_hash: Some(format!("browser-{id}")),
    }
}

fn release(id: &str, grant_id: &str) -> Release {
    Release {
        id: id.into(),
        account_id: "a1".into(),
        client_id: "c1".into(),
        grant_id: grant_id.into(),
        claims: vec!["sub".into(), "name#zh-Hant-HK".into()],
        channel: "id_token".into(),
        released_at: 160,
    }
}

#[tokio::test]
async fn records_round_trip_and_duplicates_are_conflicts() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        assert_eq!(store.find_client("c1").await.unwrap(), Some(client("c1")));
        assert!(store.find_client("nope").await.unwrap().is_none());
        assert!(matches!(store.insert_client(&client("c1")).await, Err(StoreError::Conflict(_))));

        let (a, d) = account("a1", "hash1");
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        assert_eq!(store.get_account("a1").await.unwrap(), a);
        assert_eq!(store.find_account_by_hkid_hash("hash1").await.unwrap(), Some(a.clone()));
        assert_eq!(store.find_device("d-a1").await.unwrap(), Some(d));
        assert!(matches!(store.get_account("zz").await, Err(StoreError::NotFound)));
        // Same HKID hash: a conflict, and the second account's device is not left behind.
        let (a2, d2) = account("a2", "hash1");
        assert!(matches!(
            store.insert_account(&a2, &d2, &evidence(&a2.id)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.find_device("d-a2").await.unwrap().is_none());
        // The account's evidence is stored with it, and the refused one's is not.
        assert_eq!(store.list_evidence("a1").await.unwrap(), [evidence("a1")]);
        assert!(store.list_evidence("a2").await.unwrap().is_empty());

        let key = StoredSigningKey {
            kid: "k1".into(),
            alg: "ES256".into(),
            sealed_pkcs8: vec![9; 40],
            created_at: 5,
            activates_at: 5,
            retires_at: None,
        };
        store.insert_signing_key(&key).await.unwrap();
        assert!(matches!(store.insert_signing_key(&key).await, Err(StoreError::Conflict(_))));
        assert_eq!(store.list_signing_keys().await.unwrap(), vec![key]);
    }
}

#[tokio::test]
async fn a_login_request_is_decided_completed_and_redeemed_once() {
    for (_db, store) in stores().await {
        seed(&store).await;
        let approve = Decision::Approve {
            account_id: "a1".into(),
            device_id: "d-a1".into(),
            approved_scopes: vec!["openid".into()],
            amr: vec!["swk".into()],
        };
        let consent = Consent {
            account_id: "a1".into(),
            client_id: "c1".into(),
            scopes: vec!["openid".into()],
            granted_at: 150,
            linked_at: 150,
        };
        // Expired at the decision time: nothing changes.
        assert!(!decide(&store, "r1", &approve, Some(&consent), 400).await);
        assert!(decide(&store, "r1", &approve, Some(&consent), 150).await);
        assert!(
            !decide(&store, "r1", &Decision::End(Ending::Denied), None, 151).await,
            "decided once"
        );
        let r = store.find_login_request("r1").await.unwrap().unwrap();
        assert_eq!(
            (r.status, r.account_id.as_deref(), r.auth_time),
            (LoginStatus::Approved, Some("a1"), Some(150))
        );
        assert_eq!(store.list_consents("a1").await.unwrap(), vec![consent]);

        assert!(store.complete_login_request("r1", "code1", 210).await.unwrap());
        assert!(!store.complete_login_request("r1", "code2", 210).await.unwrap(), "completed once");
        assert_eq!(store.find_login_request_by_code("code1").await.unwrap().unwrap().id, "r1");

        let g = grant("g1", "a1", "c1", "rh1");
        assert_eq!(redeem(&store, "code1", &g, &release("rel1", "g1")).await, Redemption::Redeemed);
        let again =
            redeem(&store, "code1", &grant("g2", "a1", "c1", "rh2"), &release("rel2", "g2")).await;
        assert_eq!(again, Redemption::AlreadyRedeemed { grant_id: Some("g1".into()) });
        assert!(store.find_grant("g2").await.unwrap().is_none(), "the replay created nothing");
        assert_eq!(
            redeem(&store, "unknown", &grant("g3", "a1", "c1", "rh3"), &release("rel3", "g3"))
                .await,
            Redemption::Unknown
        );
        assert_eq!(store.find_grant("g1").await.unwrap(), Some(g));
        assert_eq!(store.list_releases("a1").await.unwrap(), vec![release("rel1", "g1")]);
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_revocation_sticks() {
    for (_db, store) in stores().await {
        seed(&store).await;
        let approve = Decision::Approve {
            account_id: "a1".into(),
            device_id: "d-a1".into(),
            approved_scopes: vec!["openid".into()],
            amr: vec![],
        };
        decide(&store, "r1", &approve, None, 150).await;
        store.complete_login_request("r1", "code1", 210).await.unwrap();
        redeem(&store, "code1", &grant("g1", "a1", "c1", "rh1"), &release("rel1", "g1")).await;

        assert!(rotate(&store, "rh1", "rh2", "rel2", 300).await);
        assert!(!rotate(&store, "rh1", "rh3", "rel3", 310).await);
        let rotated = store.find_grant_by_refresh_hash("rh2").await.unwrap().unwrap();
        assert_eq!((rotated.id.as_str(), rotated.refresh_expires_at), ("g1", 300 + 1000));
        assert_eq!(rotated.dpop_jkt.as_deref(), Some("jkt-g1"), "the DPoP binding is kept");
        assert!(store.find_grant_by_refresh_hash("rh1").await.unwrap().is_none());
        assert_eq!(
            store.find_grant_by_retired_refresh_hash("rh1").await.unwrap().unwrap().id,
            "g1",
            "the replaced token is remembered"
        );
        assert!(store.find_grant_by_retired_refresh_hash("rh3").await.unwrap().is_none());
        assert_eq!(
            store.list_releases("a1").await.unwrap().len(),
            2,
            "a failed rotation records no release"
        );

        store.revoke_grant("g1", 500).await.unwrap();
        store.revoke_grant("g1", 900).await.unwrap();
        assert_eq!(
            store.find_grant("g1").await.unwrap().unwrap().revoked_at,
            Some(500),
            "the first revocation time stays"
        );
        assert!(!rotate(&store, "rh2", "rh4", "rel4", 320).await);
        assert_eq!(store.delete_retired_refresh_tokens_before(300).await.unwrap(), 0);
        assert_eq!(store.delete_retired_refresh_tokens_before(301).await.unwrap(), 1);
        assert!(store.find_grant_by_retired_refresh_hash("rh1").await.unwrap().is_none());
    }
}

/// A refresh token replaced, the old one retired and a release recorded, as
/// `token::refresh` writes them through the transaction seam; false if `old` was not current.
async fn rotate(store: &SqlStore, old: &str, new: &str, release_id: &str, now: i64) -> bool {
    let (old, new, release) = (old.to_owned(), new.to_owned(), release(release_id, "g1"));
    transact(store, move |tx| {
        Box::pin(async move {
            if !tx.replace_refresh_token("g1", &old, &new, now + 1000).await? {
                return Ok(false);
            }
            tx.retire_refresh_token(&old, "g1", now).await?;
            tx.insert_release(&release).await?;
            Ok(true)
        })
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_device_is_replaced_only_while_it_is_active() {
    for (_db, store) in stores().await {
        let (a, d) = account("a1", "hash1");
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        let new = Device { id: "d-new".into(), ..d.clone() };
        assert!(store.replace_device("d-a1", &new, 50).await.unwrap());
        assert_eq!(store.find_device("d-a1").await.unwrap().unwrap().revoked_at, Some(50));
        let newer = Device { id: "d-newer".into(), ..d.clone() };
        assert!(!store.replace_device("d-a1", &newer, 60).await.unwrap());
        assert!(store.find_device("d-newer").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn concurrent_writes_commit_together_and_a_failing_one_fails_alone() {
    for (_db, store) in stores().await {
        let mut tasks = Vec::new();
        for n in 0..60 {
            let store = store.clone();
            // Client 7 is inserted twice: exactly one of the two must fail.
            let id = if n == 59 { "c7".to_owned() } else { format!("c{n}") };
            tasks.push(tokio::spawn(async move { store.insert_client(&client(&id)).await }));
        }
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(conflicts, 1);
        for n in 0..59 {
            assert!(store.find_client(&format!("c{n}")).await.unwrap().is_some(), "c{n}");
        }
    }
}

#[tokio::test]
async fn only_login_requests_expired_before_the_cutoff_are_deleted() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        store
            .insert_login_request(&LoginRequest { expires_at: 100, ..request("old", "c1") })
            .await
            .unwrap();
        store
            .insert_login_request(&LoginRequest { expires_at: 200, ..request("new", "c1") })
            .await
            .unwrap();
        assert_eq!(store.delete_login_requests_expired_before(150, 150).await.unwrap(), 1);
        assert!(store.find_login_request("old").await.unwrap().is_none());
        assert!(store.find_login_request("new").await.unwrap().is_some());
        assert_eq!(store.delete_login_requests_expired_before(150, 150).await.unwrap(), 0);
        // Unfinished requests go sooner than those that issued a code.
        for (id, status) in [("pending", LoginStatus::Pending), ("redeemed", LoginStatus::Redeemed)]
        {
            let r = LoginRequest { expires_at: 300, status, ..request(id, "c1") };
            store.insert_login_request(&r).await.unwrap();
        }
        // "new" is past the first cutoff, "pending" past the second, "redeemed" past neither.
        assert_eq!(store.delete_login_requests_expired_before(250, 350).await.unwrap(), 2);
        assert!(store.find_login_request("pending").await.unwrap().is_none());
        assert!(store.find_login_request("redeemed").await.unwrap().is_some());
    }
}

#[tokio::test]
async fn pending_login_requests_are_counted_per_browser_and_per_origin() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        let mut insert = Vec::new();
        for (id, browser, origin, expires_at, status) in [
            ("a", "b1", Some("o1"), 200, LoginStatus::Pending),
            ("b", "b1", Some("o1"), 200, LoginStatus::Pending),
            ("c", "b2", Some("o1"), 200, LoginStatus::Pending),
            ("d", "b1", Some("o2"), 200, LoginStatus::Denied),
            ("e", "b1", Some("o1"), 90, LoginStatus::Pending),
            ("f", "b1", None, 200, LoginStatus::Pending),
        ] {
            insert.push(LoginRequest {
                browser_hash: browser.into(),
                origin_hash: origin.map(str::to_owned),
                expires_at,
                status,
                ..request(id, "c1")
            });
        }
        for r in &insert {
            store.insert_login_request(r).await.unwrap();
        }
        // Pending and unexpired at 100: b1 holds a, b, f; o1 holds a, b, c.
        let count = |key| store.count_pending_login_requests(key, 100);
        assert_eq!(count(PendingKey::Browser("b1")).await.unwrap(), 3);
        assert_eq!(count(PendingKey::Origin("o1")).await.unwrap(), 3);
        assert_eq!(count(PendingKey::Browser("b2")).await.unwrap(), 1);
        assert_eq!(count(PendingKey::Origin("o9")).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_database_url_of_another_kind_is_refused() {
    assert!(SqlStore::connect("mysql://localhost/x").await.is_err());
}

#[tokio::test]
async fn a_consent_keeps_its_first_link_time_and_unlinking_revokes_the_grants() {
    for (_db, store) in stores().await {
        seed(&store).await;
        store.insert_login_request(&request("r2", "c1")).await.unwrap();
        let approve = Decision::Approve {
            account_id: "a1".into(),
            device_id: "d-a1".into(),
            approved_scopes: vec!["openid".into()],
            amr: vec!["swk".into()],
        };
        let consent = |at: i64| Consent {
            account_id: "a1".into(),
            client_id: "c1".into(),
            scopes: vec!["openid".into()],
            granted_at: at,
            linked_at: at,
        };
        assert!(decide(&store, "r1", &approve, Some(&consent(150)), 150).await);
        assert!(decide(&store, "r2", &approve, Some(&consent(170)), 170).await);
        let kept = store.list_consents("a1").await.unwrap();
        assert_eq!((kept[0].granted_at, kept[0].linked_at), (170, 150));
        assert_eq!(
            store.find_login_request("r1").await.unwrap().unwrap().ui_locales.as_deref(),
            Some("zh-HK en")
        );

        for (r, code, g, rh) in [("r1", "code1", "g1", "rh1"), ("r2", "code2", "g2", "rh2")] {
            assert!(store.complete_login_request(r, code, 210).await.unwrap());
            let redeemed =
                redeem(&store, code, &grant(g, "a1", "c1", rh), &release(&format!("rel-{g}"), g))
                    .await;
            assert_eq!(redeemed, Redemption::Redeemed);
        }
        // A logout notice is queued with a revocation that happened, and with an unlink.
        // The use cases' transactions, as core writes them (`account::unlink_service`,
        // `token::revoke_on_reuse`): a notice only with a revocation that happened.
        let revoke = |at: i64, id: &'static str| {
            let store: &dyn Store = &store;
            async move {
                transact(store, move |tx| {
                    Box::pin(async move {
                        let revoked = tx.revoke_grant("g2", at).await?;
                        if revoked {
                            tx.insert_message(&notice(id)).await?;
                        }
                        Ok(revoked)
                    })
                })
                .await
                .unwrap()
            }
        };
        assert!(revoke(160, "on-revoke").await);
        assert!(!revoke(170, "on-second-revoke").await);
        let unlink = |at: i64| {
            let store: &dyn Store = &store;
            async move {
                transact(store, move |tx| {
                    Box::pin(async move {
                        if !tx.delete_consent("a1", "c1").await? {
                            return Ok(false);
                        }
                        for session in tx.revoke_live_grants("a1", "c1", at).await? {
                            let id = format!("on-unlink.{session}");
                            tx.insert_message(&notice_due(&id, Some(session), 0)).await?;
                        }
                        Ok(true)
                    })
                })
                .await
                .unwrap()
            }
        };
        assert!(unlink(180).await);
        let mut queued: Vec<(String, Option<String>)> = store
            .claim_messages(LogoutNotice::KIND, 200, 300, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|n| (n.id.clone(), n.payload::<LogoutNotice>().unwrap().session_id))
            .collect();
        queued.sort();
        assert_eq!(
            queued,
            [("on-revoke".to_owned(), None), ("on-unlink.g1".to_owned(), Some("g1".to_owned()))],
            "not for a grant already revoked; the unlink's one per session it ended"
        );
        assert!(store.list_consents("a1").await.unwrap().is_empty());
        assert_eq!(store.find_grant("g1").await.unwrap().unwrap().revoked_at, Some(180));
        assert_eq!(
            store.find_grant("g2").await.unwrap().unwrap().revoked_at,
            Some(160),
            "an earlier revocation stays"
        );
        assert!(!unlink(190).await, "nothing left to unlink");
        assert!(
            store.claim_messages(LogoutNotice::KIND, 400, 500, 10).await.unwrap().len() == 2,
            "nor then"
        );
    }
}

#[tokio::test]
async fn a_ceremony_is_taken_once_and_not_after_it_expires() {
    for (_db, store) in stores().await {
        let ceremony = |id: &str, expires_at| Ceremony {
            id: id.into(),
            purpose: "register".into(),
            sealed_state: vec![1, 2, 3],
            expires_at,
        };
        store.insert_ceremony(&ceremony("x1", 200)).await.unwrap();
        store.insert_ceremony(&ceremony("x2", 200)).await.unwrap();
        store.insert_ceremony(&ceremony("x3", 100)).await.unwrap();
        assert_eq!(store.take_ceremony("x1", 150).await.unwrap(), Some(ceremony("x1", 200)));
        assert_eq!(store.take_ceremony("x1", 150).await.unwrap(), None, "answered once");
        assert_eq!(store.take_ceremony("x2", 200).await.unwrap(), None, "expired");
        assert_eq!(store.take_ceremony("x2", 150).await.unwrap(), None, "an expired take burns it");
        assert_eq!(store.take_ceremony("nope", 150).await.unwrap(), None);

        let (a, d) = account("a1", "hash1");
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        let session = AppSession {
            token_hash: "th".into(),
            account_id: "a1".into(),
            device_id: "d-a1".into(),
            created_at: 100,
            expires_at: 700,
        };
        store.insert_app_session(&session).await.unwrap();
        assert_eq!(store.find_app_session("th").await.unwrap(), Some(session));
        assert_eq!(store.delete_ceremonies_expired_before(150).await.unwrap(), 1, "x3");
        assert_eq!(store.delete_app_sessions_expired_before(700).await.unwrap(), 0, "not yet");
        assert_eq!(store.delete_ceremonies_expired_before(800).await.unwrap(), 0, "each its own");
        assert_eq!(store.delete_app_sessions_expired_before(800).await.unwrap(), 1, "the session");
        assert_eq!(store.find_app_session("th").await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_device_key_is_updated_only_from_the_value_it_had() {
    for (_db, store) in stores().await {
        let (a, d) = account("a1", "hash1");
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        assert!(store.update_device_key("d-a1", &d.public_key, "k2").await.unwrap());
        assert!(!store.update_device_key("d-a1", &d.public_key, "k3").await.unwrap(), "stale");
        assert_eq!(store.find_device("d-a1").await.unwrap().unwrap().public_key, "k2");
        let new = Device { id: "d-new".into(), ..d.clone() };
        assert!(store.replace_device("d-a1", &new, 50).await.unwrap());
        assert!(!store.update_device_key("d-a1", "k2", "k4").await.unwrap(), "revoked");
    }
}

#[tokio::test]
async fn outbox_messages_are_claimed_once_per_lease_in_order_and_by_kind() {
    for (_db, store) in stores().await {
        let notice = |id: &str, due: i64| notice_due(id, Some(format!("session-{id}")), due);
        for (id, due) in [("n2", 20), ("n1", 10), ("n3", 30), ("later", 500)] {
            store.insert_message(&notice(id, due)).await.unwrap();
        }
        // Another kind waits beside them, due first, and is not claimed with them.
        let other = OutboxMessage { kind: "webhook".into(), ..notice("w1", 5) };
        store.insert_message(&other).await.unwrap();
        let claim = |now, lease, limit| store.claim_messages(LogoutNotice::KIND, now, lease, limit);
        let ids = |list: Vec<OutboxMessage>| list.into_iter().map(|n| n.id).collect::<Vec<_>>();
        let mut first = ids(claim(100, 220, 2).await.unwrap());
        first.sort();
        assert_eq!(first, ["n1", "n2"], "the most overdue first, at most the limit");
        assert_eq!(ids(claim(100, 220, 10).await.unwrap()), ["n3"]);
        assert!(claim(200, 320, 10).await.unwrap().is_empty(), "leased");
        // Writes count only under the lease the claim set.
        store.reschedule_message("n1", 219, 5, 1).await.unwrap();
        store.delete_message("n2", 219).await.unwrap();
        store.reschedule_message("n1", 220, 1, 250).await.unwrap();
        store.delete_message("n2", 220).await.unwrap();
        let mut again = claim(300, 420, 10).await.unwrap();
        again.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(again.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["n1", "n3"]);
        assert_eq!((again[0].attempts, again[0].next_attempt_at), (1, 420));
        assert_eq!(
            again[0].payload::<LogoutNotice>().unwrap().session_id.as_deref(),
            Some("session-n1")
        );
        let webhooks = store.claim_messages("webhook", 300, 420, 10).await.unwrap();
        assert_eq!(webhooks, [OutboxMessage { next_attempt_at: 420, ..other }]);
    }
}

#[tokio::test]
async fn passkeys_from_before_the_credential_column_get_their_id_from_the_key_record() {
    use sqlx::Connection;
    for (db, store) in stores().await {
        let (a, d) = account("a1", "hash1");
        let record = r#"{"cred":{"cred_id":"Q3JlZC0x","counter":3}}"#;
        let old = Device { kind: DeviceKind::Passkey, public_key: record.into(), ..d };
        store.insert_account(&a, &old, &evidence(&a.id)).await.unwrap();
        let (b, software) = account("a2", "hash2");
        store.insert_account(&b, &software, &evidence(&b.id)).await.unwrap();
        // Migration 0015 once more, now that there is a passkey without an id to fill in.
        let sql = if db.url.starts_with("sqlite:") {
            include_str!("../../migrations/sqlite/0015_backfill_credential_ids.sql")
        } else {
            include_str!("../../migrations/postgres/0015_backfill_credential_ids.sql")
        };
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        let filled = store.find_device("d-a1").await.unwrap().unwrap();
        assert_eq!(filled.credential_id.as_deref(), Some("Q3JlZC0x"));
        assert!(store.credential_registered("Q3JlZC0x").await.unwrap());
        assert_eq!(store.find_device("d-a2").await.unwrap().unwrap().credential_id, None);
    }
}

#[tokio::test]
async fn a_passkey_credential_id_belongs_to_one_device() {
    for (_db, store) in stores().await {
        let passkey = |(a, d): (Account, Device)| {
            (a, Device { kind: DeviceKind::Passkey, credential_id: Some("cred-1".into()), ..d })
        };
        let (a, d) = passkey(account("a1", "hash1"));
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        assert_eq!(store.find_device("d-a1").await.unwrap(), Some(d));
        assert!(store.credential_registered("cred-1").await.unwrap());
        assert!(!store.credential_registered("cred-2").await.unwrap());
        let (b, e) = passkey(account("a2", "hash2"));
        assert!(matches!(
            store.insert_account(&b, &e, &evidence(&b.id)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.find_account_by_hkid_hash("hash2").await.unwrap().is_none(), "nothing kept");
        // Software devices have no credential id, and any number of them may be stored.
        store
            .insert_account(&account("a3", "hash3").0, &account("a3", "hash3").1, &evidence("a3"))
            .await
            .unwrap();
        store
            .insert_account(&account("a4", "hash4").0, &account("a4", "hash4").1, &evidence("a4"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_client_keeps_its_metadata_and_each_assertion_id_is_used_once() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        assert_eq!(store.find_client("c1").await.unwrap(), Some(client("c1")));
        assert!(store.use_client_assertion("c1", "j1", 100).await.unwrap());
        assert!(!store.use_client_assertion("c1", "j1", 100).await.unwrap(), "a replay");
        store.insert_client(&client("c2")).await.unwrap();
        assert!(store.use_client_assertion("c2", "j1", 100).await.unwrap(), "per client");
        assert_eq!(store.delete_client_assertions_expired_before(100).await.unwrap(), 0);
        assert_eq!(store.delete_client_assertions_expired_before(101).await.unwrap(), 2);
    }
}

#[tokio::test]
async fn a_pushed_request_is_taken_once_and_not_after_it_expires() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        store.insert_pushed_request("p1", "c1", "{}", 200, Some("o1")).await.unwrap();
        store.insert_pushed_request("p2", "c1", "{}", 200, Some("o1")).await.unwrap();
        assert_eq!(store.count_pending_pushed_requests("o1", 150).await.unwrap(), 2);
        assert_eq!(store.count_pending_pushed_requests("o2", 150).await.unwrap(), 0);
        assert_eq!(
            store.take_pushed_request("p1", "c2", 150).await.unwrap(),
            None,
            "not another's"
        );
        assert_eq!(
            store.take_pushed_request("p1", "c1", 150).await.unwrap(),
            Some("{}".to_owned())
        );
        assert_eq!(store.take_pushed_request("p1", "c1", 150).await.unwrap(), None, "used once");
        assert_eq!(store.take_pushed_request("p2", "c1", 200).await.unwrap(), None, "expired");
        // The expired one was taken (and so deleted) above; of these, only what expired goes.
        store.insert_pushed_request("p3", "c1", "{}", 100, None).await.unwrap();
        store.insert_pushed_request("p4", "c1", "{}", 300, None).await.unwrap();
        assert_eq!(store.delete_pushed_requests_expired_before(150).await.unwrap(), 1);
        assert_eq!(store.delete_pushed_requests_expired_before(250).await.unwrap(), 0);
        assert_eq!(store.take_pushed_request("p4", "c1", 250).await.unwrap(), Some("{}".into()));
    }
}

#[tokio::test]
async fn a_dpop_proof_id_is_used_once_and_a_grant_keeps_its_key() {
    for (_db, store) in stores().await {
        assert!(store.use_dpop_proof("p1", 100).await.unwrap());
        assert!(!store.use_dpop_proof("p1", 100).await.unwrap(), "a replay");
        assert_eq!(store.delete_dpop_proofs_expired_before(100).await.unwrap(), 0);
        assert_eq!(store.delete_dpop_proofs_expired_before(101).await.unwrap(), 1);
        assert!(store.use_dpop_proof("p1", 300).await.unwrap(), "forgotten once expired");
    }
}

#[tokio::test]
async fn a_client_is_updated_and_deleted_with_its_grants_revoked() {
    for (_db, store) in stores().await {
        seed(&store).await;
        let approve = Decision::Approve {
            account_id: "a1".into(),
            device_id: "d-a1".into(),
            approved_scopes: vec!["openid".into()],
            amr: vec![],
        };
        decide(&store, "r1", &approve, None, 150).await;
        store.complete_login_request("r1", "code1", 210).await.unwrap();
        redeem(&store, "code1", &grant("g1", "a1", "c1", "rh1"), &release("rel1", "g1")).await;
        let changed = Client { name: "Renamed".into(), require_par: false, ..client("c1") };
        assert!(store.update_client(&changed).await.unwrap());
        assert_eq!(store.find_client("c1").await.unwrap(), Some(changed.clone()));

        // The operator's suspension is its own column: a metadata update leaves it alone.
        assert!(store.set_client_disabled("c1", Some(250)).await.unwrap());
        assert!(store.update_client(&changed).await.unwrap());
        assert_eq!(store.find_client("c1").await.unwrap().unwrap().disabled_at, Some(250));
        assert!(store.set_client_disabled("c1", None).await.unwrap());
        assert_eq!(store.find_client("c1").await.unwrap(), Some(changed.clone()));
        assert!(!store.set_client_disabled("nope", Some(1)).await.unwrap());
        assert!(store.set_client_secret("c1", "h2").await.unwrap());
        assert_eq!(
            store.find_client("c1").await.unwrap().unwrap().secret_hash.as_deref(),
            Some("h2")
        );
        let public = Client { id: "p1".into(), secret_hash: None, created_at: 5, ..client("p1") };
        store.insert_client(&public).await.unwrap();
        assert!(
            !store.set_client_secret("p1", "h3").await.unwrap(),
            "a public client has no secret"
        );
        let listed: Vec<String> =
            store.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(listed, ["c1", "p1"].map(String::from), "oldest first");

        // Deleting a client with its grants, as core's `remove_client` does: one transaction.
        let delete = |at: i64| {
            let store: &dyn Store = &store;
            async move {
                transact(store, move |tx| {
                    Box::pin(async move {
                        if !tx.delete_client("c1", at).await? {
                            return Ok(false);
                        }
                        tx.revoke_client_grants("c1", at).await?;
                        Ok(true)
                    })
                })
                .await
                .unwrap()
            }
        };
        assert!(delete(300).await);
        assert_eq!(store.list_clients().await.unwrap().len(), 1, "deleted clients are not listed");
        assert!(!store.set_client_disabled("c1", Some(1)).await.unwrap());
        assert!(!store.set_client_secret("c1", "h4").await.unwrap());
        assert_eq!(store.find_client("c1").await.unwrap(), None, "deleted clients are not found");
        assert_eq!(store.find_grant("g1").await.unwrap().unwrap().revoked_at, Some(300));
        assert!(!delete(400).await);
        assert!(!store.update_client(&changed).await.unwrap(), "no updates after deletion");

        store.insert_registration_token("t1", 100, 200).await.unwrap();
        assert_eq!(store.find_registration_token("t1").await.unwrap(), Some(200));
        assert_eq!(store.find_registration_token("t2").await.unwrap(), None);
    }
}

#[tokio::test]
async fn an_unmet_request_is_denied_with_its_reason_and_keeps_what_it_asked() {
    for (_db, store) in stores().await {
        seed(&store).await;
        let stored = store.find_login_request("r1").await.unwrap().unwrap();
        assert_eq!(stored, request("r1", "c1"));
        let unmet = Decision::End(Ending::LevelTooLow);
        assert!(decide(&store, "r1", &unmet, None, 150).await);
        let ended = store.find_login_request("r1").await.unwrap().unwrap();
        assert_eq!(ended.status, LoginStatus::Denied);
        assert_eq!(ended.failure, Some(Ending::LevelTooLow));
    }
}

#[tokio::test]
async fn a_write_whose_caller_goes_away_commits_whole_and_leaves_no_transaction_open() {
    for (db, store) in stores().await {
        // Each insert_account is two statements in one transaction; the caller's future is
        // dropped at a different point each time, as a client hanging up cancels its request.
        let n = 120;
        for i in 0..n {
            let (account, device) = account(&format!("gone{i}"), &format!("gone-h{i}"));
            let evidence = evidence(&account.id);
            let write = store.insert_account(&account, &device, &evidence);
            let _ =
                tokio::time::timeout(std::time::Duration::from_micros(i * 37 % 900), write).await;
        }
        // The writes finish on their own; then every account has its device, and no
        // connection sits in a transaction.
        let (mut complete, mut open) = (0, 0);
        for _ in 0..100 {
            complete = 0;
            for i in 0..n {
                // The device is read after the account: a write committing between the two
                // reads shows a device without its account, never the other way round.
                let account = store.find_account_by_hkid_hash(&format!("gone-h{i}")).await.unwrap();
                let device = store.find_device(&format!("d-gone{i}")).await.unwrap();
                assert!(account.is_none() || device.is_some(), "account {i} is half written");
                complete += u64::from(account.is_some());
            }
            open = db.idle_in_transaction().await;
            if complete == n && open == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!((complete, open), (n, 0), "every write completes and no transaction stays open");
        // The pool still works for the next caller.
        let (account, device) = account("after", "after-h");
        store.insert_account(&account, &device, &evidence(&account.id)).await.unwrap();
    }
}

#[tokio::test]
async fn attempts_are_counted_per_key_in_windows_that_start_again() {
    for (_db, store) in stores().await {
        // A window of 100 s beginning at 1000.
        for expected in 1..=3 {
            assert_eq!(store.count_attempt("k", 1000 + expected, 900).await.unwrap(), expected);
        }
        assert_eq!(store.count_attempt("other", 1010, 910).await.unwrap(), 1, "per key");
        // Still inside the window that began at 1001: counting on.
        assert_eq!(store.count_attempt("k", 1100, 1000).await.unwrap(), 4);
        // The window that began at 1001 is over once the cutoff reaches it.
        assert_eq!(store.count_attempt("k", 1101, 1001).await.unwrap(), 1);
        assert_eq!(store.count_attempt("k", 1102, 1002).await.unwrap(), 2);
        // Concurrent attempts are each counted once.
        let counts = futures_util::future::join_all(
            (0..20).map(|_| store.count_attempt("busy", 5000, 4000)),
        )
        .await;
        let mut counts: Vec<i64> = counts.into_iter().map(Result::unwrap).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=20).collect::<Vec<_>>());
        assert_eq!(
            store.delete_attempts_before(1101).await.unwrap(),
            1,
            "only the window of other"
        );
        assert_eq!(store.count_attempt("other", 1200, 1100).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn a_revoked_access_token_is_remembered_until_it_expires() {
    for (_db, store) in stores().await {
        assert!(!store.access_token_revoked("j1").await.unwrap());
        store.revoke_access_token("j1", 100).await.unwrap();
        store.revoke_access_token("j1", 100).await.unwrap();
        store.revoke_access_token("j2", 300).await.unwrap();
        assert!(store.access_token_revoked("j1").await.unwrap());
        assert_eq!(store.delete_revoked_access_tokens_before(200).await.unwrap(), 1);
        assert!(!store.access_token_revoked("j1").await.unwrap());
        assert!(store.access_token_revoked("j2").await.unwrap());
    }
}

#[tokio::test]
async fn a_transaction_is_all_or_nothing() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        // The work writes, then fails: none of its writes stays.
        let failed: Result<(), StoreError> = transact(&store, move |tx| {
            Box::pin(async move {
                tx.insert_message(&notice("n1")).await?;
                Err(StoreError::Conflict("the rule said no".into()))
            })
        })
        .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))));
        assert!(store.claim_messages(LogoutNotice::KIND, 10, 20, 10).await.unwrap().is_empty());
        // The same work that succeeds keeps both writes, and says what it returned.
        let kept = transact(&store, move |tx| {
            Box::pin(async move {
                tx.insert_message(&notice("n1")).await?;
                tx.insert_message(&notice("n2")).await?;
                Ok("both")
            })
        })
        .await
        .unwrap();
        assert_eq!(kept, "both");
        assert_eq!(store.claim_messages(LogoutNotice::KIND, 10, 20, 10).await.unwrap().len(), 2);
    }
}

/// An upgrade keeps what an older civpass stored: a client written by the first schema, as the
/// first release wrote it, reads at the newest, every later column at its default.
#[tokio::test]
async fn a_client_stored_by_the_first_schema_reads_at_the_newest() {
    use sqlx::Connection;
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        SqlStore::migrate_to(&db.url, 1).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, redirect_uris, id_token_alg, created_at) \
             VALUES ('c_old', 'Old service', 'hash', '[\"https://old.example/cb\"]', 'ES256', 100)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = SqlStore::connect(&db.url).await.unwrap();
        let client = store.find_client("c_old").await.unwrap().expect("the old client");
        assert_eq!(client.name, "Old service");
        assert_eq!(client.redirect_uris, ["https://old.example/cb"]);
        assert_eq!(client.secret_hash.as_deref(), Some("hash"));
        assert_eq!(client.created_at, 100);
        assert_eq!(
            (client.native, client.acr_values_voluntary, client.disabled_at, client.require_par),
            (false, false, None, false),
            "{backend:?}: later columns read as their defaults"
        );
        assert!(!client.auth_methods.is_empty() && !client.grant_types.is_empty(), "{client:?}");
    }
}

/// A client stored in columns before its metadata became one document (migration 25) reads
/// the same after it: lists, switches, keys, URIs and the columns kept apart.
#[tokio::test]
async fn a_client_stored_in_columns_reads_the_same_from_its_metadata_document() {
    use sqlx::Connection;
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        SqlStore::migrate_to(&db.url, 24).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, redirect_uris, id_token_alg, created_at, auth_methods, \
             grant_types, jwks, jwks_uri, scopes, requirements, registration_token_hash, post_logout_redirect_uris, \
             backchannel_logout_uri, sector_identifier_uri, sector, disabled_at) VALUES \
             ('c_full', 'Full service', NULL, '[\"https://full.example/cb\",\"app.example:/cb\"]', 'PS256', 100, \
              'private_key_jwt', 'authorization_code client_credentials', '{\"keys\":[]}', NULL, 'read write', \
              'par dpop native acr_voluntary', 'rth', '[\"https://full.example/out\"]', \
              'https://full.example/bcl', 'https://full.example/sector.json', 'full.example', 150), \
             ('c_bare', 'Bare', 'h', '[\"https://bare.example/cb\"]', 'ES256', 200, '', \
              'authorization_code refresh_token', NULL, 'https://bare.example/jwks', '', '', NULL, '[]', \
              NULL, NULL, NULL, NULL)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = SqlStore::connect(&db.url).await.unwrap();
        let full = store.find_client("c_full").await.unwrap().expect("the full client");
        let expected = Client {
            id: "c_full".into(),
            name: "Full service".into(),
            secret_hash: None,
            redirect_uris: vec!["https://full.example/cb".into(), "app.example:/cb".into()],
            id_token_alg: civpass_crypto::jws::Algorithm::PS256,
            auth_methods: vec![AuthMethod::PrivateKeyJwt],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
            jwks: Some("{\"keys\":[]}".into()),
            jwks_uri: None,
            scopes: vec!["read".into(), "write".into()],
            require_par: true,
            require_signed_request: false,
            require_dpop: true,
            resource_server: false,
            registration_token_hash: Some("rth".into()),
            post_logout_redirect_uris: vec!["https://full.example/out".into()],
            backchannel_logout_uri: Some("https://full.example/bcl".into()),
            sector_identifier_uri: Some("https://full.example/sector.json".into()),
            sector: Some("full.example".into()),
            native: true,
            acr_values_voluntary: true,
            disabled_at: Some(150),
            created_at: 100,
        };
        assert_eq!(full, expected, "{backend:?}");
        let bare = store.find_client("c_bare").await.unwrap().expect("the bare client");
        assert_eq!(
            (
                bare.auth_methods.len(),
                bare.scopes.len(),
                bare.jwks_uri.as_deref(),
                bare.require_par
            ),
            (0, 0, Some("https://bare.example/jwks"), false),
            "{backend:?}: empty lists stay empty"
        );
        // And it is written back whole.
        assert!(store.update_client(&full).await.unwrap());
        assert_eq!(store.find_client("c_full").await.unwrap(), Some(expected));
    }
}

/// Logout notices waiting when the typed outbox replaced their table (migration 24) move into
/// it as `backchannel_logout` messages, with their attempts, due times and session.
#[tokio::test]
async fn logout_notices_queued_before_the_outbox_are_delivered_from_it() {
    use sqlx::Connection;
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        SqlStore::migrate_to(&db.url, 23).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO logout_notices (id, client_id, subject, session_id, attempts, next_attempt_at, created_at) \
             VALUES ('n1', 'c1', 'sub-1', 'g1', 3, 40, 10), ('n2', 'c2', 'sub-2', NULL, 0, 50, 20)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = SqlStore::connect(&db.url).await.unwrap();
        let mut moved = store.claim_messages(LogoutNotice::KIND, 100, 200, 10).await.unwrap();
        moved.sort_by(|a, b| a.id.cmp(&b.id));
        let read: Vec<_> = moved
            .iter()
            .map(|m| (m.id.as_str(), m.attempts, m.created_at, m.payload::<LogoutNotice>()))
            .collect();
        let notice = |client: &str, subject: &str, session: Option<&str>| LogoutNotice {
            client_id: client.into(),
            subject: subject.into(),
            session_id: session.map(str::to_owned),
        };
        assert_eq!(
            read,
            [
                ("n1", 3, 10, Some(notice("c1", "sub-1", Some("g1")))),
                ("n2", 0, 20, Some(notice("c2", "sub-2", None))),
            ],
            "{backend:?}"
        );
    }
}

/// A transaction's work that writes through the store itself (it must use its `Transaction`)
/// is refused rather than left waiting on the transaction it runs in, and a work that panics
/// fails alone: the store keeps writing.
#[tokio::test]
async fn a_work_cannot_deadlock_or_stop_the_store() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        let inner = store.clone();
        let nested = transact(&store, move |_tx| {
            Box::pin(async move { inner.insert_message(&notice("n1")).await })
        })
        .await;
        assert!(
            matches!(nested, Err(StoreError::Backend(ref why)) if why.contains("instead of its Transaction"))
        );
        let panicked: Result<(), StoreError> = transact(&store, |tx| {
            Box::pin(async move {
                tx.insert_message(&notice("n2")).await?;
                panic!("a bug in a use case")
            })
        })
        .await;
        assert!(panicked.is_err());
        store.insert_message(&notice("n3")).await.expect("the store still writes");
        let left: Vec<String> = store
            .claim_messages(LogoutNotice::KIND, 10, 20, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(left, ["n3"], "nothing of the refused or panicked works stays");
    }
}
