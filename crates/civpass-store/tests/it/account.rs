//! Conformance of `AppSessionStore` on both databases.

use super::*;

#[tokio::test]
async fn an_app_session_is_found_by_its_hash_until_it_expires() {
    for (_db, store) in stores().await {
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
        assert_eq!(store.delete_app_sessions_expired_before(700).await.unwrap(), 0, "not yet");
        assert_eq!(store.delete_app_sessions_expired_before(800).await.unwrap(), 1, "the session");
        assert_eq!(store.find_app_session("th").await.unwrap(), None);
    }
}
