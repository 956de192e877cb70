//! Store behaviour that the use cases rely on, on SQLite and (with `CIVPASS_TEST_DATABASE_URL`)
//! PostgreSQL: conflicts, single-use transitions, atomic multi-row changes.
//! One file per port (conformance), plus the writer and the migrations.

#![allow(clippy::unwrap_used)]

mod account;
mod clients;
mod consent;
mod counter;
mod device;
mod grants;
mod identity;
mod keys;
mod login;
mod migrations;
mod outbox;
mod replay;
mod transactions;

use civpass_core::account::model::AppSession;
use civpass_core::consent::model::{Consent, Release, ReleaseChannel};
use civpass_core::identity::evidence::{EvidenceLevel, EvidenceRecord};
use civpass_core::identity::model::{Account, Tier};
use civpass_core::identity::model::{Device, DeviceKind};
use civpass_core::kernel::ceremony::Ceremony;
use civpass_core::kernel::outbox::{OutboxKind, OutboxMessage};
use civpass_core::kernel::store::{StoreError, transact};
use civpass_core::keys::model::StoredSigningKey;
use civpass_core::oidc::model::{
    AuthMethod, Client, Decision, Ending, Grant, GrantType, LoginRequest, LoginStatus, LogoutNotice,
};
use civpass_core::oidc::store::{OidcWrites, PendingKey, Redemption};
use civpass_core::store::Store;
use civpass_core::store::ports::*;
use civpass_store::SqlStore;
use civpass_testkit::{TestDb, backends};

async fn stores() -> Vec<(TestDb, SqlStore)> {
    let mut out = Vec::new();
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let store = SqlStore::connect(&db.url).await.unwrap();
        out.push((db, store));
    }
    out
}

/// A decision with its consent, as `login::decide` writes it through the transaction seam.
async fn decide(
    store: &SqlStore,
    id: &str,
    decision: &Decision,
    consent: Option<&Consent>,
    now: i64,
) -> bool {
    let (id, decision, consent) = (id.to_owned(), decision.clone(), consent.cloned());
    transact::<OidcWrites, _, _, _>(store, move |tx| {
        Box::pin(async move {
            if !tx.decide_login_request(&id.as_str().into(), &decision, now).await? {
                return Ok(false);
            }
            if let Some(consent) = &consent {
                tx.upsert_consent(consent).await?;
            }
            Ok(true)
        })
    })
    .await
    .unwrap()
}

/// A code redeemed with its grant and release, as `token::redeem_code` writes it.
async fn redeem(store: &SqlStore, code_hash: &str, grant: &Grant, release: &Release) -> Redemption {
    let (code_hash, grant, release) = (code_hash.to_owned(), grant.clone(), release.clone());
    transact::<OidcWrites, _, _, _>(store, move |tx| {
        Box::pin(async move {
            let redemption = tx.redeem_code(&code_hash, &grant.id).await?;
            if redemption == Redemption::Redeemed {
                tx.insert_grant(&grant).await?;
                tx.insert_release(&release).await?;
            }
            Ok(redemption)
        })
    })
    .await
    .unwrap()
}

/// A back-channel logout message for client `c1` (the outbox's first kind), due at `due`.
fn notice_due(id: &str, session_id: Option<String>, due: i64) -> OutboxMessage {
    let notice = LogoutNotice { client_id: "c1".into(), subject: "sub".into(), session_id };
    OutboxMessage { next_attempt_at: due, ..OutboxMessage::new(id.into(), &notice, 1).unwrap() }
}

/// A back-channel logout message for client `c1`, due at once.
fn notice(id: &str) -> OutboxMessage {
    notice_due(id, None, 0)
}

fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: "Service".into(),
        secret_hash: Some("h".into()),
        id_token_alg: civpass_crypto::jws::Algorithm::ES256,
        redirect_uris: vec!["https://rp.example/cb".into()],
        auth_methods: vec![AuthMethod::ClientSecretBasic, AuthMethod::PrivateKeyJwt],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
        jwks: Some(r#"{"keys":[]}"#.into()),
        jwks_uri: None,
        scopes: vec!["api.read".into()],
        require_par: true,
        require_signed_request: false,
        require_dpop: true,
        resource_server: true,
        registration_token_hash: Some("rat".into()),
        post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
        backchannel_logout_uri: Some("https://rp.example/logout".into()),
        security_events_push_uri: Some("https://rp.example/events".into()),
        sector_identifier_uri: Some("https://rp.example/sector.json".into()),
        sector: Some("rp.example".into()),
        native: true,
        acr_values_voluntary: true,
        disabled_at: None,
        created_at: 1,
    }
}

fn account(id: &str, hkid_hash: &str) -> (Account, Device) {
    (
        Account {
            id: id.into(),
            hkid_hash: hkid_hash.into(),
            tier: Tier::Basic,
            vault: vec![1, 2, 3, 0, 255],
            created_at: 1,
            suspended_at: None,
            awaiting_guardian_since: None,
        },
        Device {
            id: format!("d-{id}").into(),
            account_id: id.into(),
            public_key: "pk".into(),
            kind: DeviceKind::Software,
            credential_id: None,
            created_at: 1,
            revoked_at: None,
        },
    )
}

fn evidence(account_id: &str) -> EvidenceRecord {
    EvidenceRecord {
        id: format!("e-{account_id}"),
        account_id: account_id.into(),
        purpose: "registration".into(),
        method: "document_liveness_face_match".into(),
        level: EvidenceLevel::Strong,
        sealed_reference: vec![9, 8, 7],
        verified_at: 5,
    }
}

fn request(id: &str, client_id: &str) -> LoginRequest {
    LoginRequest {
        id: id.into(),
        client_id: client_id.into(),
        client_name: "Service".into(),
        redirect_uri: "https://rp.example/cb".into(),
        oauth_state: Some("s".into()),
        nonce: None,
        scopes: vec!["openid".into(), "profile".into()],
        code_challenge: "c".into(),
        browser_hash: "b".into(),
        match_code: "07".into(),
        challenge: "ch".into(),
        created_at: 100,
        expires_at: 400,
        status: LoginStatus::Pending,
        account_id: None,
        device_id: None,
        approved_scopes: vec![],
        auth_time: None,
        amr: vec![],
        code_hash: None,
        code_expires_at: None,
        grant_id: None,
        ui_locales: Some("zh-HK en".into()),
        acr_values: vec!["plus".into()],
        id_token_claims: vec!["name".into()],
        claims_filter: vec!["email".into()],
        essential_claims: vec!["name".into()],
        verified_claims: vec!["userinfo:birthdate".into()],
        purpose: Some("a purpose".into()),
        authorization_details: None,
        expected_sub: Some("sub-1".into()),
        failure: None,
        dpop_jkt: Some("jkt".into()),
        sealed_context: Some(vec![7, 7]),
        origin_hash: Some("origin-1".into()),
    }
}

/// Client c1, account a1 with device d-a1, and a pending login request r1.
async fn seed(store: &SqlStore) {
    store.insert_client(&client("c1")).await.unwrap();
    let (a, d) = account("a1", "hash1");
    store.insert_account(&a, &d, &evidence(&a.id)).await.unwrap();
    store.insert_login_request(&request("r1", "c1")).await.unwrap();
}

/// `seed`, then request r1 approved for a1, completed with code1 at 210 and redeemed at once
/// for grant g1 (refresh hash rh1, release rel1).
async fn seed_with_grant(store: &SqlStore) {
    seed(store).await;
    let approve = Decision::Approve {
        account_id: "a1".into(),
        device_id: "d-a1".into(),
        approved_scopes: vec!["openid".into()],
        amr: vec![],
    };
    decide(store, "r1", &approve, None, 150).await;
    store.complete_login_request(&"r1".into(), "code1", 210).await.unwrap();
    redeem(store, "code1", &grant("g1", "a1", "c1", "rh1"), &release("rel1", "g1")).await;
}

fn grant(id: &str, account_id: &str, client_id: &str, refresh_hash: &str) -> Grant {
    Grant {
        id: id.into(),
        account_id: account_id.into(),
        client_id: client_id.into(),
        login_request_id: "r1".into(),
        scopes: vec!["openid".into()],
        claims_filter: vec!["given_name".into()],
        verified_claims: vec!["only:given_name".into()],
        authorization_details: Some("{}".into()),
        auth_time: 150,
        acr: "basic".into(),
        amr: vec!["swk".into()],
        refresh_hash: refresh_hash.into(),
        refresh_expires_at: 10_000,
        created_at: 150,
        revoked_at: None,
        dpop_jkt: Some(format!("jkt-{id}")),
        browser_hash: Some(format!("browser-{id}")),
    }
}

fn release(id: &str, grant_id: &str) -> Release {
    Release {
        id: id.into(),
        account_id: "a1".into(),
        client_id: "c1".into(),
        grant_id: grant_id.into(),
        claims: vec!["sub".into(), "name#zh-Hant-HK".into()],
        channel: ReleaseChannel::IdToken,
        released_at: 160,
    }
}
