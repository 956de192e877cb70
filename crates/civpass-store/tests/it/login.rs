//! Conformance of `LoginStore` (login and pushed requests) on both databases.

use super::*;

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
            claims: Vec::new(),
            purpose: None,
            expires_at: None,
            approvals: Vec::new(),
        };
        // Expired at the decision time: nothing changes.
        assert!(!decide(&store, "r1", &approve, Some(&consent), 400).await);
        assert!(decide(&store, "r1", &approve, Some(&consent), 150).await);
        assert!(
            !decide(&store, "r1", &Decision::End(Ending::Denied), None, 151).await,
            "decided once"
        );
        let r = store.find_login_request(&"r1".into()).await.unwrap().unwrap();
        assert_eq!(
            (r.status, r.account_id.as_deref(), r.auth_time),
            (LoginStatus::Approved, Some("a1"), Some(150))
        );
        assert_eq!(store.list_consents(&"a1".into()).await.unwrap(), vec![consent]);

        assert!(store.complete_login_request(&"r1".into(), "code1", 210).await.unwrap());
        assert!(
            !store.complete_login_request(&"r1".into(), "code2", 210).await.unwrap(),
            "completed once"
        );
        assert_eq!(store.find_login_request_by_code("code1").await.unwrap().unwrap().id, "r1");

        let g = grant("g1", "a1", "c1", "rh1");
        assert_eq!(redeem(&store, "code1", &g, &release("rel1", "g1")).await, Redemption::Redeemed);
        let again =
            redeem(&store, "code1", &grant("g2", "a1", "c1", "rh2"), &release("rel2", "g2")).await;
        assert_eq!(again, Redemption::AlreadyRedeemed { grant_id: Some("g1".into()) });
        assert!(
            store.find_grant(&"g2".into()).await.unwrap().is_none(),
            "the replay created nothing"
        );
        assert_eq!(
            redeem(&store, "unknown", &grant("g3", "a1", "c1", "rh3"), &release("rel3", "g3"))
                .await,
            Redemption::Unknown
        );
        assert_eq!(store.find_grant(&"g1".into()).await.unwrap(), Some(g));
        assert_eq!(store.list_releases(&"a1".into()).await.unwrap(), vec![release("rel1", "g1")]);
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
        let purged = store.delete_login_requests_expired_before(150, 150).await.unwrap();
        assert_eq!((purged.deleted, purged.never_decided), (1, 1));
        assert!(store.find_login_request(&"old".into()).await.unwrap().is_none());
        assert!(store.find_login_request(&"new".into()).await.unwrap().is_some());
        assert_eq!(store.delete_login_requests_expired_before(150, 150).await.unwrap().deleted, 0);
        // Unfinished requests go sooner than those that issued a code.
        for (id, status) in [("pending", LoginStatus::Pending), ("redeemed", LoginStatus::Redeemed)]
        {
            let r = LoginRequest { expires_at: 300, status, ..request(id, "c1") };
            store.insert_login_request(&r).await.unwrap();
        }
        // "new" is past the first cutoff, "pending" past the second, "redeemed" past neither.
        let purged = store.delete_login_requests_expired_before(250, 350).await.unwrap();
        assert_eq!((purged.deleted, purged.never_decided), (2, 2));
        assert!(store.find_login_request(&"pending".into()).await.unwrap().is_none());
        assert!(store.find_login_request(&"redeemed".into()).await.unwrap().is_some());
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
async fn a_pushed_request_is_taken_once_and_not_after_it_expires() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        store.insert_pushed_request("p1", &"c1".into(), "{}", 200, Some("o1")).await.unwrap();
        store.insert_pushed_request("p2", &"c1".into(), "{}", 200, Some("o1")).await.unwrap();
        assert_eq!(store.count_pending_pushed_requests("o1", 150).await.unwrap(), 2);
        assert_eq!(store.count_pending_pushed_requests("o2", 150).await.unwrap(), 0);
        assert_eq!(
            store.take_pushed_request("p1", &"c2".into(), 150).await.unwrap(),
            None,
            "not another's"
        );
        assert_eq!(
            store.take_pushed_request("p1", &"c1".into(), 150).await.unwrap(),
            Some("{}".to_owned())
        );
        assert_eq!(
            store.take_pushed_request("p1", &"c1".into(), 150).await.unwrap(),
            None,
            "used once"
        );
        assert_eq!(
            store.take_pushed_request("p2", &"c1".into(), 200).await.unwrap(),
            None,
            "expired"
        );
        // The expired one was taken (and so deleted) above; of these, only what expired goes.
        store.insert_pushed_request("p3", &"c1".into(), "{}", 100, None).await.unwrap();
        store.insert_pushed_request("p4", &"c1".into(), "{}", 300, None).await.unwrap();
        assert_eq!(store.delete_pushed_requests_expired_before(150).await.unwrap(), 1);
        assert_eq!(store.delete_pushed_requests_expired_before(250).await.unwrap(), 0);
        assert_eq!(
            store.take_pushed_request("p4", &"c1".into(), 250).await.unwrap(),
            Some("{}".into())
        );
    }
}

#[tokio::test]
async fn an_unmet_request_is_denied_with_its_reason_and_keeps_what_it_asked() {
    for (_db, store) in stores().await {
        seed(&store).await;
        let stored = store.find_login_request(&"r1".into()).await.unwrap().unwrap();
        assert_eq!(stored, request("r1", "c1"));
        let unmet = Decision::End(Ending::LevelTooLow);
        assert!(decide(&store, "r1", &unmet, None, 150).await);
        let ended = store.find_login_request(&"r1".into()).await.unwrap().unwrap();
        assert_eq!(ended.status, LoginStatus::Denied);
        assert_eq!(ended.failure, Some(Ending::LevelTooLow));
    }
}
