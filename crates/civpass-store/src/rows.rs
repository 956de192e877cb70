//! Row ↔ record mapping. Lists are stored space-separated (scopes, amr) or as JSON (URIs).

use civpass_core::account::model::AppSession;
use civpass_core::consent::model::{Consent, Release, ReleaseChannel};
use civpass_core::identity::evidence::{EvidenceLevel, EvidenceRecord};
use civpass_core::identity::model::{Account, Tier};
use civpass_core::identity::model::{Device, DeviceKind};
use civpass_core::kernel::ceremony::Ceremony;
use civpass_core::kernel::outbox::OutboxMessage;
use civpass_core::kernel::store::StoreError;
use civpass_core::keys::model::StoredSigningKey;
use civpass_core::oidc::model::{Client, Ending, Grant, LoginRequest, LoginStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::backend;
use crate::sql::col;

pub(crate) fn split(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(format!("stored {what} is not valid"))
}

pub(crate) fn client(row: &AnyRow) -> Result<Client, StoreError> {
    let metadata: String = col(row, "metadata")?;
    let mut client: Client =
        serde_json::from_str(&metadata).map_err(|_| corrupt("client metadata"))?;
    client.id = col::<String>(row, "id")?.into();
    client.secret_hash = col(row, "secret_hash")?;
    client.registration_token_hash = col(row, "registration_token_hash")?;
    client.sector = col(row, "sector")?;
    client.created_at = col(row, "created_at")?;
    client.disabled_at = col(row, "disabled_at")?;
    Ok(client)
}

pub(crate) fn account(row: &AnyRow) -> Result<Account, StoreError> {
    let tier: String = col(row, "tier")?;
    Ok(Account {
        id: col::<String>(row, "id")?.into(),
        hkid_hash: col(row, "hkid_hash")?,
        tier: Tier::parse(&tier).ok_or_else(|| corrupt("tier"))?,
        vault: col(row, "vault")?,
        created_at: col(row, "created_at")?,
        suspended_at: col(row, "suspended_at")?,
        awaiting_guardian_since: col(row, "awaiting_guardian_since")?,
    })
}

pub(crate) fn device(row: &AnyRow) -> Result<Device, StoreError> {
    let kind: String = col(row, "kind")?;
    Ok(Device {
        id: col::<String>(row, "id")?.into(),
        account_id: col::<String>(row, "account_id")?.into(),
        public_key: col(row, "public_key")?,
        kind: DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind"))?,
        credential_id: col(row, "credential_id")?,
        created_at: col(row, "created_at")?,
        revoked_at: col(row, "revoked_at")?,
    })
}

pub(crate) fn login_request(row: &AnyRow) -> Result<LoginRequest, StoreError> {
    let status: String = col(row, "status")?;
    let get_list = |name: &str| -> Result<Vec<String>, StoreError> {
        let text: String = col(row, name)?;
        Ok(split(&text))
    };
    Ok(LoginRequest {
        id: col::<String>(row, "id")?.into(),
        client_id: col::<String>(row, "client_id")?.into(),
        client_name: col(row, "client_name")?,
        redirect_uri: col(row, "redirect_uri")?,
        oauth_state: col(row, "oauth_state")?,
        nonce: col(row, "nonce")?,
        scopes: get_list("scopes")?,
        code_challenge: col(row, "code_challenge")?,
        browser_hash: col(row, "browser_hash")?,
        match_code: col(row, "match_code")?,
        challenge: col(row, "challenge")?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        status: LoginStatus::parse(&status).ok_or_else(|| corrupt("login status"))?,
        account_id: col::<Option<String>>(row, "account_id")?.map(Into::into),
        device_id: col::<Option<String>>(row, "device_id")?.map(Into::into),
        approved_scopes: get_list("approved_scopes")?,
        auth_time: col(row, "auth_time")?,
        amr: get_list("amr")?,
        code_hash: col(row, "code_hash")?,
        code_expires_at: col(row, "code_expires_at")?,
        grant_id: col::<Option<String>>(row, "grant_id")?.map(Into::into),
        ui_locales: col(row, "ui_locales")?,
        acr_values: get_list("acr_values")?,
        id_token_claims: get_list("id_token_claims")?,
        claims_filter: get_list("claims_filter")?,
        essential_claims: get_list("essential_claims")?,
        verified_claims: get_list("verified_claims")?,
        purpose: col(row, "purpose")?,
        authorization_details: col(row, "authorization_details")?,
        expected_sub: col(row, "expected_sub")?,
        dpop_jkt: col(row, "dpop_jkt")?,
        failure: row
            .try_get::<Option<String>, _>("failure")
            .map_err(backend)?
            .as_deref()
            .and_then(Ending::parse),
        sealed_context: col(row, "sealed_context")?,
        origin_hash: col(row, "origin_hash")?,
    })
}

pub(crate) fn grant(row: &AnyRow) -> Result<Grant, StoreError> {
    let scopes: String = col(row, "scopes")?;
    let amr: String = col(row, "amr")?;
    Ok(Grant {
        id: col::<String>(row, "id")?.into(),
        account_id: col::<String>(row, "account_id")?.into(),
        client_id: col::<String>(row, "client_id")?.into(),
        login_request_id: col::<String>(row, "login_request_id")?.into(),
        scopes: split(&scopes),
        auth_time: col(row, "auth_time")?,
        acr: col(row, "acr")?,
        amr: split(&amr),
        refresh_hash: col(row, "refresh_hash")?,
        refresh_expires_at: col(row, "refresh_expires_at")?,
        created_at: col(row, "created_at")?,
        revoked_at: col(row, "revoked_at")?,
        dpop_jkt: col(row, "dpop_jkt")?,
        browser_hash: col(row, "browser_hash")?,
        claims_filter: split(&col::<String>(row, "claims_filter")?),
        verified_claims: split(&col::<String>(row, "verified_claims")?),
        authorization_details: col(row, "authorization_details")?,
    })
}

pub(crate) fn release(row: &AnyRow) -> Result<Release, StoreError> {
    let claims: String = col(row, "claims")?;
    Ok(Release {
        id: col(row, "id")?,
        account_id: col::<String>(row, "account_id")?.into(),
        client_id: col::<String>(row, "client_id")?.into(),
        grant_id: col::<String>(row, "grant_id")?.into(),
        claims: split(&claims),
        channel: ReleaseChannel::parse(&col::<String>(row, "channel")?)
            .ok_or_else(|| corrupt("release channel"))?,
        released_at: col(row, "released_at")?,
    })
}

pub(crate) fn consent(row: &AnyRow) -> Result<Consent, StoreError> {
    let scopes: String = col(row, "scopes")?;
    Ok(Consent {
        account_id: col::<String>(row, "account_id")?.into(),
        client_id: col::<String>(row, "client_id")?.into(),
        scopes: split(&scopes),
        granted_at: col(row, "granted_at")?,
        linked_at: col(row, "linked_at")?,
        claims: split(&col::<String>(row, "claims")?),
        purpose: col(row, "purpose")?,
        expires_at: col(row, "expires_at")?,
        approvals: serde_json::from_str(&col::<String>(row, "approvals")?)
            .map_err(|e| StoreError::backend(format!("a consent's approvals: {e}")))?,
    })
}

pub(crate) fn signing_key(row: &AnyRow) -> Result<StoredSigningKey, StoreError> {
    Ok(StoredSigningKey {
        kid: col(row, "kid")?,
        alg: col(row, "alg")?,
        sealed_pkcs8: col(row, "sealed_pkcs8")?,
        created_at: col(row, "created_at")?,
        activates_at: col(row, "activates_at")?,
        retires_at: col(row, "retires_at")?,
    })
}

pub(crate) fn ceremony(row: &AnyRow) -> Result<Ceremony, StoreError> {
    Ok(Ceremony {
        id: col(row, "id")?,
        purpose: col(row, "purpose")?,
        sealed_state: col(row, "sealed_state")?,
        expires_at: col(row, "expires_at")?,
    })
}

pub(crate) fn outbox_message(row: &AnyRow) -> Result<OutboxMessage, StoreError> {
    Ok(OutboxMessage {
        id: col(row, "id")?,
        kind: col(row, "kind")?,
        payload: col(row, "payload")?,
        attempts: col(row, "attempts")?,
        next_attempt_at: col(row, "next_attempt_at")?,
        created_at: col(row, "created_at")?,
    })
}

pub(crate) fn app_session(row: &AnyRow) -> Result<AppSession, StoreError> {
    Ok(AppSession {
        token_hash: col(row, "token_hash")?,
        account_id: col::<String>(row, "account_id")?.into(),
        device_id: col::<String>(row, "device_id")?.into(),
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

pub(crate) fn evidence(row: &AnyRow) -> Result<EvidenceRecord, StoreError> {
    Ok(EvidenceRecord {
        id: col(row, "id")?,
        account_id: col::<String>(row, "account_id")?.into(),
        purpose: col(row, "purpose")?,
        method: col(row, "method")?,
        level: EvidenceLevel::parse(&col::<String>(row, "level")?)
            .ok_or_else(|| corrupt("evidence level"))?,
        sealed_reference: col(row, "sealed_reference")?,
        verified_at: col(row, "verified_at")?,
    })
}
