//! Conformance of the typed outbox (`OutboxStore`) on both databases.

use super::*;

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
