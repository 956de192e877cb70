//! Conformance of `GrantStore` (grants, refresh tokens, revoked access tokens) on both databases.

use super::*;

#[tokio::test]
async fn refresh_tokens_rotate_once_and_revocation_sticks() {
    for (_db, store) in stores().await {
        seed_with_grant(&store).await;

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
            store.list_releases(&"a1".into()).await.unwrap().len(),
            2,
            "a failed rotation records no release"
        );

        store.revoke_grant(&"g1".into(), 500).await.unwrap();
        store.revoke_grant(&"g1".into(), 900).await.unwrap();
        assert_eq!(
            store.find_grant(&"g1".into()).await.unwrap().unwrap().revoked_at,
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
    transact::<OidcWrites, _, _, _>(store, move |tx| {
        Box::pin(async move {
            if !tx.replace_refresh_token(&"g1".into(), &old, &new, now + 1000).await? {
                return Ok(false);
            }
            tx.retire_refresh_token(&old, &"g1".into(), now).await?;
            tx.insert_release(&release).await?;
            Ok(true)
        })
    })
    .await
    .unwrap()
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
