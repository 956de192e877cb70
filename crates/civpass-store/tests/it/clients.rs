//! Conformance of `ClientStore` on both databases.

use super::*;

#[tokio::test]
async fn a_client_keeps_its_metadata_and_each_assertion_id_is_used_once() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        assert_eq!(store.find_client(&"c1".into()).await.unwrap(), Some(client("c1")));
        assert!(store.use_client_assertion(&"c1".into(), "j1", 100).await.unwrap());
        assert!(!store.use_client_assertion(&"c1".into(), "j1", 100).await.unwrap(), "a replay");
        store.insert_client(&client("c2")).await.unwrap();
        assert!(store.use_client_assertion(&"c2".into(), "j1", 100).await.unwrap(), "per client");
        assert_eq!(store.delete_client_assertions_expired_before(100).await.unwrap(), 0);
        assert_eq!(store.delete_client_assertions_expired_before(101).await.unwrap(), 2);
    }
}

#[tokio::test]
async fn a_client_is_updated_and_deleted_with_its_grants_revoked() {
    for (_db, store) in stores().await {
        seed_with_grant(&store).await;
        let changed = Client { name: "Renamed".into(), require_par: false, ..client("c1") };
        assert!(store.update_client(&changed).await.unwrap());
        assert_eq!(store.find_client(&"c1".into()).await.unwrap(), Some(changed.clone()));

        // The operator's suspension is its own column: a metadata update leaves it alone.
        assert!(store.set_client_disabled(&"c1".into(), Some(250)).await.unwrap());
        assert!(store.update_client(&changed).await.unwrap());
        assert_eq!(store.find_client(&"c1".into()).await.unwrap().unwrap().disabled_at, Some(250));
        assert!(store.set_client_disabled(&"c1".into(), None).await.unwrap());
        assert_eq!(store.find_client(&"c1".into()).await.unwrap(), Some(changed.clone()));
        assert!(!store.set_client_disabled(&"nope".into(), Some(1)).await.unwrap());
        assert!(store.set_client_secret(&"c1".into(), "h2").await.unwrap());
        assert_eq!(
            store.find_client(&"c1".into()).await.unwrap().unwrap().secret_hash.as_deref(),
            Some("h2")
        );
        let public = Client { id: "p1".into(), secret_hash: None, created_at: 5, ..client("p1") };
        store.insert_client(&public).await.unwrap();
        assert!(
            !store.set_client_secret(&"p1".into(), "h3").await.unwrap(),
            "a public client has no secret"
        );
        let listed: Vec<String> =
            store.list_clients().await.unwrap().into_iter().map(|c| c.id.into()).collect();
        assert_eq!(listed, ["c1", "p1"].map(String::from), "oldest first");

        // Deleting a client with its grants, as core's `remove_client` does: one transaction.
        let delete = |at: i64| {
            let store: &dyn Store = &store;
            async move {
                transact::<OidcWrites, _, _, _>(store, move |tx| {
                    Box::pin(async move {
                        if !tx.delete_client(&"c1".into(), at).await? {
                            return Ok(false);
                        }
                        tx.revoke_client_grants(&"c1".into(), at).await?;
                        Ok(true)
                    })
                })
                .await
                .unwrap()
            }
        };
        assert!(delete(300).await);
        assert_eq!(store.list_clients().await.unwrap().len(), 1, "deleted clients are not listed");
        assert!(!store.set_client_disabled(&"c1".into(), Some(1)).await.unwrap());
        assert!(!store.set_client_secret(&"c1".into(), "h4").await.unwrap());
        assert_eq!(
            store.find_client(&"c1".into()).await.unwrap(),
            None,
            "deleted clients are not found"
        );
        assert_eq!(store.find_grant(&"g1".into()).await.unwrap().unwrap().revoked_at, Some(300));
        assert!(!delete(400).await);
        assert!(!store.update_client(&changed).await.unwrap(), "no updates after deletion");

        store.insert_registration_token("t1", 100, 200).await.unwrap();
        assert_eq!(store.find_registration_token("t1").await.unwrap(), Some(200));
        assert_eq!(store.find_registration_token("t2").await.unwrap(), None);
    }
}
