//! The writer and the transaction seam: group commit, atomicity, cancellation, refused nesting.

use super::*;

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
            assert!(store.find_client(&format!("c{n}").into()).await.unwrap().is_some(), "c{n}");
        }
    }
}

#[tokio::test]
async fn a_database_url_of_another_kind_is_refused() {
    assert!(SqlStore::connect("mysql://localhost/x").await.is_err());
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
                let device = store.find_device(&format!("d-gone{i}").into()).await.unwrap();
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
async fn a_transaction_is_all_or_nothing() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        // The work writes, then fails: none of its writes stays.
        let failed: Result<(), StoreError> = transact::<OidcWrites, _, _, _>(&store, move |tx| {
            Box::pin(async move {
                tx.insert_message(&notice("n1")).await?;
                Err(StoreError::Conflict("the rule said no".into()))
            })
        })
        .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))));
        assert!(store.claim_messages(LogoutNotice::KIND, 10, 20, 10).await.unwrap().is_empty());
        // The same work that succeeds keeps both writes, and says what it returned.
        let kept = transact::<OidcWrites, _, _, _>(&store, move |tx| {
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

/// A transaction's work that writes through the store itself (it must use its transaction)
/// is refused rather than left waiting on the transaction it runs in, and a work that panics
/// fails alone: the store keeps writing.
#[tokio::test]
async fn a_work_cannot_deadlock_or_stop_the_store() {
    for (_db, store) in stores().await {
        store.insert_client(&client("c1")).await.unwrap();
        let inner = store.clone();
        let nested = transact::<OidcWrites, _, _, _>(&store, move |_tx| {
            Box::pin(async move { inner.insert_message(&notice("n1")).await })
        })
        .await;
        assert!(
            matches!(nested, Err(StoreError::Backend(ref why)) if why.to_string().contains("instead of its transaction"))
        );
        let panicked: Result<(), StoreError> = transact::<OidcWrites, _, _, _>(&store, |tx| {
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
