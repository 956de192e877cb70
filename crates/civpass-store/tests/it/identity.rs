//! Conformance of the identity ports (`AccountStore`, `AttemptStore`) on both databases.

use super::*;

#[tokio::test]
async fn records_round_trip_and_duplicates_are_conflicts() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        assert_eq!(store.find_client(&"c1".into()).await.unwrap(), Some(client("c1")));
        assert!(store.find_client(&"nope".into()).await.unwrap().is_none());
        assert!(matches!(store.insert_client(&client("c1")).await, Err(StoreError::Conflict(_))));

        let (a, d) = account("a1", "hash1");
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        assert_eq!(store.get_account(&"a1".into()).await.unwrap(), a);
        assert_eq!(store.find_account_by_hkid_hash("hash1").await.unwrap(), Some(a.clone()));
        assert_eq!(store.find_device(&"d-a1".into()).await.unwrap(), Some(d));
        assert!(matches!(store.get_account(&"zz".into()).await, Err(StoreError::NotFound)));
        // Same HKID hash: a conflict, and the second account's device is not left behind.
        let (a2, d2) = account("a2", "hash1");
        assert!(matches!(
            store.insert_account(&a2, &d2, &evidence(&a2.id)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.find_device(&"d-a2".into()).await.unwrap().is_none());
        // The account's evidence is stored with it, and the refused one's is not.
        assert_eq!(store.list_evidence(&"a1".into()).await.unwrap(), [evidence("a1")]);
        assert!(store.list_evidence(&"a2".into()).await.unwrap().is_empty());
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
