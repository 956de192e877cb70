//! Conformance of `KeyStore` on both databases.

use super::*;

#[tokio::test]
async fn signing_keys_are_listed_in_order_and_retired_once() {
    for (_db, store) in stores().await {
        let key = |kid: &str, created_at| StoredSigningKey {
            kid: kid.into(),
            alg: "ES256".into(),
            sealed_pkcs8: vec![9; 40],
            created_at,
            activates_at: created_at,
            retires_at: None,
        };
        store.insert_signing_key(&key("k2", 7)).await.unwrap();
        store.insert_signing_key(&key("k1", 5)).await.unwrap();
        assert!(matches!(
            store.insert_signing_key(&key("k1", 5)).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.list_signing_keys().await.unwrap(), vec![key("k1", 5), key("k2", 7)]);
        // A retirement time is set once: a second rotation does not move it.
        store.retire_signing_key("k1", 100).await.unwrap();
        store.retire_signing_key("k1", 200).await.unwrap();
        store.retire_signing_key("nope", 200).await.unwrap();
        let listed = store.list_signing_keys().await.unwrap();
        assert_eq!(listed[0].retires_at, Some(100));
        assert_eq!(listed[1].retires_at, None);
    }
}
