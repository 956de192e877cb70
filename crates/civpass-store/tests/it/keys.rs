//! Conformance of `KeyStore` on both databases.

use super::*;
use civpass_core::kernel::AccountId;
use civpass_core::kernel::envelope::{
    Envelope, FixedMasterKeys, MasterKeys, Rewrapped, WrappedKey, WrappedKeyStore,
};
use civpass_crypto::sealed::SealingKey;
use civpass_crypto::secret::HashKey;

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

fn versions(list: &[(u32, u8)]) -> std::sync::Arc<FixedMasterKeys> {
    let keys = MasterKeys::new(list.iter().map(|(v, b)| (*v, [*b; 32]))).unwrap();
    std::sync::Arc::new(FixedMasterKeys(keys))
}

/// Envelope encryption on both databases: a data key per account, stable across opens; a
/// rotation re-wraps every key (the platform's, the identifier secret and the accounts') and
/// changes none of them; a node without the new master version cannot unwrap.
#[tokio::test]
async fn data_keys_survive_a_master_rotation_unchanged() {
    for (_db, store) in stores().await {
        let store = std::sync::Arc::new(store);
        // A platform key that would not open what the platform sealed before is not stored.
        assert!(Envelope::open(versions(&[(1, 1)]), store.clone(), 5, &|_| false).await.is_err());
        assert!(store.count_wrapped_keys().await.unwrap().is_empty());
        let first =
            Envelope::open(versions(&[(1, 1)]), store.clone(), 10, &|_| true).await.unwrap();
        let (a, b) = (AccountId::from("a"), AccountId::from("b"));
        let sealed_a = first.envelope.account_key(&a, 10).await.unwrap().seal(b"A", b"a").unwrap();
        let sealed_b = first.envelope.account_key(&b, 10).await.unwrap().seal(b"B", b"b").unwrap();
        // Upgrading keeps what civpass derived from the master key before data keys: values
        // sealed then still open, and no pairwise subject or look-up hash changes.
        let old_platform = SealingKey::new(HashKey::derive(&[1; 32], "civpass/seal/v1").bytes())
            .seal(b"P", b"p")
            .unwrap();
        assert_eq!(first.envelope.platform_key().open(&old_platform, b"p").unwrap(), b"P");
        assert_eq!(
            &first.identifiers[..32],
            HashKey::derive(&[1; 32], "civpass/pairwise/v1").bytes()
        );
        assert_eq!(
            &first.identifiers[32..],
            HashKey::derive(&[1; 32], "civpass/lookup/v1").bytes()
        );
        assert_eq!(store.count_wrapped_keys().await.unwrap(), vec![(1, 4)]);
        // Keys are per account: b's key does not open a's data.
        let key_b = first.envelope.account_key(&b, 10).await.unwrap();
        assert!(key_b.open(&sealed_a, b"a").is_err());

        let both = Envelope::open(versions(&[(1, 1), (2, 2)]), store.clone(), 20, &|_| true)
            .await
            .unwrap();
        let done = both.envelope.rewrap_all().await.unwrap();
        assert_eq!(done, Rewrapped { version: 2, rewrapped: 4 });
        assert_eq!(both.envelope.rewrap_all().await.unwrap().rewrapped, 0);
        assert_eq!(store.count_wrapped_keys().await.unwrap(), vec![(2, 4)]);

        let second =
            Envelope::open(versions(&[(2, 2)]), store.clone(), 30, &|_| true).await.unwrap();
        assert_eq!(second.identifiers, first.identifiers);
        assert_eq!(second.envelope.platform_key().open(&old_platform, b"p").unwrap(), b"P");
        let key_a = second.envelope.account_key(&a, 30).await.unwrap();
        assert_eq!(key_a.open(&sealed_a, b"a").unwrap(), b"A");
        // A value sealed with the platform key before data keys still opens with a data key.
        assert_eq!(key_a.open(&old_platform, b"p").unwrap(), b"P");
        let key_b = second.envelope.account_key(&b, 30).await.unwrap();
        assert_eq!(key_b.open(&sealed_b, b"b").unwrap(), b"B");

        // Only version 1 held: the stored keys are out of its reach, and it says which version.
        let Err(err) = Envelope::open(versions(&[(1, 1)]), store.clone(), 40, &|_| true).await
        else {
            panic!("opened without the master version the keys are wrapped under");
        };
        assert!(format!("{err:?}").contains("version 2"), "{err:?}");
        // Another key under a version number the platform knows is refused before it wraps.
        let Err(err) = Envelope::open(versions(&[(2, 9)]), store.clone(), 45, &|_| true).await
        else {
            panic!("opened with another key under version 2");
        };
        assert!(format!("{err:?}").contains("not the platform's version 2"), "{err:?}");
        // A row moved to another owner does not unwrap there.
        let row = store.find_wrapped_key("account/a").await.unwrap().unwrap();
        let moved = WrappedKey { owner: "account/c".into(), ..row };
        store.insert_wrapped_key(&moved).await.unwrap();
        assert!(second.envelope.account_key(&AccountId::from("c"), 50).await.is_err());
    }
}
