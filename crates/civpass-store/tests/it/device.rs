//! Conformance of `DeviceStore` and the kernel's `CeremonyStore` on both databases.

use super::*;

#[tokio::test]
async fn a_device_is_replaced_only_while_it_is_active() {
    for (_db, store) in stores().await {
        let (a, d) = account("a1", "hash1");
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        let new = Device { id: "d-new".into(), ..d.clone() };
        assert!(store.replace_device(&"d-a1".into(), &new, 50).await.unwrap());
        assert_eq!(store.find_device(&"d-a1".into()).await.unwrap().unwrap().revoked_at, Some(50));
        let newer = Device { id: "d-newer".into(), ..d.clone() };
        assert!(!store.replace_device(&"d-a1".into(), &newer, 60).await.unwrap());
        assert!(store.find_device(&"d-newer".into()).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_ceremony_is_taken_once_and_not_after_it_expires() {
    for (_db, store) in stores().await {
        let ceremony = |id: &str, expires_at| Ceremony {
            id: id.into(),
            purpose: "register".into(),
            sealed_state: vec![1, 2, 3],
            expires_at,
        };
        store.insert_ceremony(&ceremony("x1", 200)).await.unwrap();
        store.insert_ceremony(&ceremony("x2", 200)).await.unwrap();
        store.insert_ceremony(&ceremony("x3", 100)).await.unwrap();
        store.insert_ceremony(&ceremony("x4", 100)).await.unwrap();
        assert_eq!(store.take_ceremony("x1", "session:d1", 150).await.unwrap(), None);
        assert_eq!(
            store.take_ceremony("x1", "register", 150).await.unwrap(),
            Some(ceremony("x1", 200)),
            "a take for another purpose left it"
        );
        assert_eq!(
            store.take_ceremony("x1", "register", 150).await.unwrap(),
            None,
            "answered once"
        );
        assert_eq!(store.take_ceremony("x2", "register", 200).await.unwrap(), None, "expired");
        assert_eq!(
            store.take_ceremony("x2", "register", 150).await.unwrap(),
            None,
            "an expired take burns it"
        );
        assert_eq!(store.take_ceremony("nope", "register", 150).await.unwrap(), None);
        // Expired ones go with the purge, and only they.
        assert_eq!(store.delete_ceremonies_expired_before(100).await.unwrap(), 0, "not yet");
        assert_eq!(store.delete_ceremonies_expired_before(150).await.unwrap(), 2, "x3 and x4");
    }
}

#[tokio::test]
async fn a_device_key_is_updated_only_from_the_value_it_had() {
    for (_db, store) in stores().await {
        let (a, d) = account("a1", "hash1");
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        assert!(store.update_device_key(&"d-a1".into(), &d.public_key, "k2").await.unwrap());
        assert!(
            !store.update_device_key(&"d-a1".into(), &d.public_key, "k3").await.unwrap(),
            "stale"
        );
        assert_eq!(store.find_device(&"d-a1".into()).await.unwrap().unwrap().public_key, "k2");
        let new = Device { id: "d-new".into(), ..d.clone() };
        assert!(store.replace_device(&"d-a1".into(), &new, 50).await.unwrap());
        assert!(!store.update_device_key(&"d-a1".into(), "k2", "k4").await.unwrap(), "revoked");
    }
}

#[tokio::test]
async fn passkeys_from_before_the_credential_column_get_their_id_from_the_key_record() {
    use sqlx::Connection;
    for (db, store) in stores().await {
        let (a, d) = account("a1", "hash1");
        let record = r#"{"cred":{"cred_id":"Q3JlZC0x","counter":3}}"#;
        let old = Device { kind: DeviceKind::Passkey, public_key: record.into(), ..d };
        store.insert_account(&a, &old, &evidence(&a.id)).await.unwrap();
        let (b, software) = account("a2", "hash2");
        store.insert_account(&b, &software, &evidence(&b.id)).await.unwrap();
        // Migration 0015 once more, now that there is a passkey without an id to fill in.
        let sql = if db.url.starts_with("sqlite:") {
            include_str!("../../migrations/sqlite/0015_backfill_credential_ids.sql")
        } else {
            include_str!("../../migrations/postgres/0015_backfill_credential_ids.sql")
        };
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        let filled = store.find_device(&"d-a1".into()).await.unwrap().unwrap();
        assert_eq!(filled.credential_id.as_deref(), Some("Q3JlZC0x"));
        assert!(store.credential_registered("Q3JlZC0x").await.unwrap());
        assert_eq!(store.find_device(&"d-a2".into()).await.unwrap().unwrap().credential_id, None);
    }
}

#[tokio::test]
async fn a_passkey_credential_id_belongs_to_one_device() {
    for (_db, store) in stores().await {
        let passkey = |(a, d): (Account, Device)| {
            (a, Device { kind: DeviceKind::Passkey, credential_id: Some("cred-1".into()), ..d })
        };
        let (a, d) = passkey(account("a1", "hash1"));
        store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
        assert_eq!(store.find_device(&"d-a1".into()).await.unwrap(), Some(d));
        assert!(store.credential_registered("cred-1").await.unwrap());
        assert!(!store.credential_registered("cred-2").await.unwrap());
        let (b, e) = passkey(account("a2", "hash2"));
        assert!(matches!(
            store.insert_account(&b, &e, &evidence(&b.id)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.find_account_by_hkid_hash("hash2").await.unwrap().is_none(), "nothing kept");
        // Software devices have no credential id, and any number of them may be stored.
        store
            .insert_account(&account("a3", "hash3").0, &account("a3", "hash3").1, &evidence("a3"))
            .await
            .unwrap();
        store
            .insert_account(&account("a4", "hash4").0, &account("a4", "hash4").1, &evidence("a4"))
            .await
            .unwrap();
    }
}
