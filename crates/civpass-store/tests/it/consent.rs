//! Conformance of the consent ports (`ConsentStore`, `ConsentWrites`) on both databases.

use super::*;

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
            claims: vec!["name".into(), format!("c{at}")],
            purpose: Some(format!("purpose {at}")),
            expires_at: Some(at + 1000),
            approvals: vec![civpass_core::consent::model::Approval {
                claims: vec!["sub".into()],
                purpose: Some("a permit".into()),
                granted_at: at,
                expires_at: Some(at + 1000),
            }],
        };
        assert!(decide(&store, "r1", &approve, Some(&consent(150)), 150).await);
        assert!(decide(&store, "r2", &approve, Some(&consent(170)), 170).await);
        let kept = store.list_consents(&"a1".into()).await.unwrap();
        assert_eq!((kept[0].granted_at, kept[0].linked_at), (170, 150));
        // A renewed consent takes the new terms.
        assert_eq!(kept[0].claims, ["name", "c170"]);
        assert_eq!(kept[0].approvals, consent(170).approvals, "the approvals are stored as given");
        assert_eq!(
            (kept[0].purpose.as_deref(), kept[0].expires_at),
            (Some("purpose 170"), Some(1170))
        );
        assert!(store.list_expired_consents(1169, 10).await.unwrap().is_empty());
        assert_eq!(store.list_expired_consents(1170, 10).await.unwrap(), kept);
        assert_eq!(
            store.find_login_request(&"r1".into()).await.unwrap().unwrap().ui_locales.as_deref(),
            Some("zh-HK en")
        );

        for (r, code, g, rh) in [("r1", "code1", "g1", "rh1"), ("r2", "code2", "g2", "rh2")] {
            assert!(store.complete_login_request(&r.into(), code, 210).await.unwrap());
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
                transact::<OidcWrites, _, _, _>(store, move |tx| {
                    Box::pin(async move {
                        let revoked = tx.revoke_grant(&"g2".into(), at).await?;
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
                transact::<OidcWrites, _, _, _>(store, move |tx| {
                    Box::pin(async move {
                        if !tx.delete_consent(&"a1".into(), &"c1".into()).await? {
                            return Ok(false);
                        }
                        for session in tx.revoke_live_grants(&"a1".into(), &"c1".into(), at).await?
                        {
                            let id = format!("on-unlink.{session}");
                            tx.insert_message(&notice_due(&id, Some(session.into()), 0)).await?;
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
        assert!(store.list_consents(&"a1".into()).await.unwrap().is_empty());
        assert_eq!(store.find_grant(&"g1".into()).await.unwrap().unwrap().revoked_at, Some(180));
        assert_eq!(
            store.find_grant(&"g2".into()).await.unwrap().unwrap().revoked_at,
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
