//! Upgrades: data written at an older schema (`SqlStore::migrate_to`) reads at the newest.

use super::*;

/// An upgrade keeps what an older civpass stored: a client written by the first schema, as the
/// first release wrote it, reads at the newest, every later column at its default.
#[tokio::test]
async fn a_client_stored_by_the_first_schema_reads_at_the_newest() {
    use sqlx::Connection;
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        SqlStore::migrate_to(&db.url, 1).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, redirect_uris, id_token_alg, created_at) \
             VALUES ('c_old', 'Old service', 'hash', '[\"https://old.example/cb\"]', 'ES256', 100)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = SqlStore::connect(&db.url).await.unwrap();
        let client = store.find_client(&"c_old".into()).await.unwrap().expect("the old client");
        assert_eq!(client.name, "Old service");
        assert_eq!(client.redirect_uris, ["https://old.example/cb"]);
        assert_eq!(client.secret_hash.as_deref(), Some("hash"));
        assert_eq!(client.created_at, 100);
        assert_eq!(
            (client.native, client.acr_values_voluntary, client.disabled_at, client.require_par),
            (false, false, None, false),
            "{backend:?}: later columns read as their defaults"
        );
        assert!(!client.auth_methods.is_empty() && !client.grant_types.is_empty(), "{client:?}");
    }
}

/// A client stored in columns before its metadata became one document (migration 25) reads
/// the same after it: lists, switches, keys, URIs and the columns kept apart.
#[tokio::test]
async fn a_client_stored_in_columns_reads_the_same_from_its_metadata_document() {
    use sqlx::Connection;
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        SqlStore::migrate_to(&db.url, 24).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, redirect_uris, id_token_alg, created_at, auth_methods, \
             grant_types, jwks, jwks_uri, scopes, requirements, registration_token_hash, post_logout_redirect_uris, \
             backchannel_logout_uri, sector_identifier_uri, sector, disabled_at) VALUES \
             ('c_full', 'Full service', NULL, '[\"https://full.example/cb\",\"app.example:/cb\"]', 'PS256', 100, \
              'private_key_jwt', 'authorization_code client_credentials', '{\"keys\":[]}', NULL, 'read write', \
              'par dpop native acr_voluntary', 'rth', '[\"https://full.example/out\"]', \
              'https://full.example/bcl', 'https://full.example/sector.json', 'full.example', 150), \
             ('c_bare', 'Bare', 'h', '[\"https://bare.example/cb\"]', 'ES256', 200, '', \
              'authorization_code refresh_token', NULL, 'https://bare.example/jwks', '', '', NULL, '[]', \
              NULL, NULL, NULL, NULL)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = SqlStore::connect(&db.url).await.unwrap();
        let full = store.find_client(&"c_full".into()).await.unwrap().expect("the full client");
        let expected = Client {
            id: "c_full".into(),
            name: "Full service".into(),
            secret_hash: None,
            redirect_uris: vec!["https://full.example/cb".into(), "app.example:/cb".into()],
            id_token_alg: civpass_crypto::jws::Algorithm::PS256,
            auth_methods: vec![AuthMethod::PrivateKeyJwt],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
            jwks: Some("{\"keys\":[]}".into()),
            jwks_uri: None,
            scopes: vec!["read".into(), "write".into()],
            require_par: true,
            require_signed_request: false,
            require_dpop: true,
            resource_server: false,
            registration_token_hash: Some("rth".into()),
            post_logout_redirect_uris: vec!["https://full.example/out".into()],
            backchannel_logout_uri: Some("https://full.example/bcl".into()),
            security_events_push_uri: None,
            sector_identifier_uri: Some("https://full.example/sector.json".into()),
            sector: Some("full.example".into()),
            native: true,
            acr_values_voluntary: true,
            disabled_at: Some(150),
            created_at: 100,
        };
        assert_eq!(full, expected, "{backend:?}");
        let bare = store.find_client(&"c_bare".into()).await.unwrap().expect("the bare client");
        assert_eq!(
            (
                bare.auth_methods.len(),
                bare.scopes.len(),
                bare.jwks_uri.as_deref(),
                bare.require_par
            ),
            (0, 0, Some("https://bare.example/jwks"), false),
            "{backend:?}: empty lists stay empty"
        );
        // And it is written back whole.
        assert!(store.update_client(&full).await.unwrap());
        assert_eq!(store.find_client(&"c_full".into()).await.unwrap(), Some(expected));
    }
}

/// Logout notices waiting when the typed outbox replaced their table (migration 24) move into
/// it as `backchannel_logout` messages, with their attempts, due times and session.
#[tokio::test]
async fn logout_notices_queued_before_the_outbox_are_delivered_from_it() {
    use sqlx::Connection;
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        SqlStore::migrate_to(&db.url, 23).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO logout_notices (id, client_id, subject, session_id, attempts, next_attempt_at, created_at) \
             VALUES ('n1', 'c1', 'sub-1', 'g1', 3, 40, 10), ('n2', 'c2', 'sub-2', NULL, 0, 50, 20)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = SqlStore::connect(&db.url).await.unwrap();
        let mut moved = store.claim_messages(LogoutNotice::KIND, 100, 200, 10).await.unwrap();
        moved.sort_by(|a, b| a.id.cmp(&b.id));
        let read: Vec<_> = moved
            .iter()
            .map(|m| (m.id.as_str(), m.attempts, m.created_at, m.payload::<LogoutNotice>()))
            .collect();
        let notice = |client: &str, subject: &str, session: Option<&str>| LogoutNotice {
            client_id: client.into(),
            subject: subject.into(),
            session_id: session.map(str::to_owned),
        };
        assert_eq!(
            read,
            [
                ("n1", 3, 10, Some(notice("c1", "sub-1", Some("g1")))),
                ("n2", 0, 20, Some(notice("c2", "sub-2", None))),
            ],
            "{backend:?}"
        );
    }
}
