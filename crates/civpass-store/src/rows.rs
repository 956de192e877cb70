//! Row ↔ record mapping. Lists are stored space-separated (scopes, amr) or as JSON (URIs).

use civpass_core::account::model::AppSession;
use civpass_core::consent::model::{Consent, Release};
use civpass_core::identity::evidence::{EvidenceLevel, EvidenceRecord};
use civpass_core::identity::model::{Account, Tier};
use civpass_core::identity::model::{Device, DeviceKind};
use civpass_core::kernel::ceremony::Ceremony;
use civpass_core::kernel::outbox::OutboxMessage;
use civpass_core::kernel::store::StoreError;
use civpass_core::keys::model::StoredSigningKey;
use civpass_core::oidc::model::{
    AuthMethod, Client, Ending, Grant, GrantType, LoginRequest, LoginStatus,
};
use civpass_crypto::jws::Algorithm;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::backend;

pub(crate) fn split(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} is not valid"))
}

pub(crate) fn client(row: &AnyRow) -> Result<Client, StoreError> {
    let uris: String = row.try_get("redirect_uris").map_err(backend)?;
    let requirements = split(&row.try_get::<String, _>("requirements").map_err(backend)?);
    Ok(Client {
        id: row.try_get("id").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        secret_hash: row.try_get("secret_hash").map_err(backend)?,
        id_token_alg: Algorithm::parse(&row.try_get::<String, _>("id_token_alg").map_err(backend)?)
            .ok_or_else(|| corrupt("id_token_alg"))?,
        redirect_uris: serde_json::from_str(&uris).map_err(|_| corrupt("redirect_uris"))?,
        auth_methods: split(&row.try_get::<String, _>("auth_methods").map_err(backend)?)
            .iter()
            .map(|m| AuthMethod::parse(m).ok_or_else(|| corrupt("auth_methods")))
            .collect::<Result<_, _>>()?,
        grant_types: split(&row.try_get::<String, _>("grant_types").map_err(backend)?)
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant_types")))
            .collect::<Result<_, _>>()?,
        jwks: row.try_get("jwks").map_err(backend)?,
        jwks_uri: row.try_get("jwks_uri").map_err(backend)?,
        scopes: split(&row.try_get::<String, _>("scopes").map_err(backend)?),
        require_par: requirements.iter().any(|r| r == "par"),
        require_signed_request: requirements.iter().any(|r| r == "signed_request"),
        require_dpop: requirements.iter().any(|r| r == "dpop"),
        resource_server: requirements.iter().any(|r| r == "resource_server"),
        native: requirements.iter().any(|r| r == "native"),
        acr_values_voluntary: requirements.iter().any(|r| r == "acr_voluntary"),
        disabled_at: row.try_get("disabled_at").map_err(backend)?,
        registration_token_hash: row.try_get("registration_token_hash").map_err(backend)?,
        post_logout_redirect_uris: serde_json::from_str(
            &row.try_get::<String, _>("post_logout_redirect_uris").map_err(backend)?,
        )
        .map_err(|_| corrupt("post_logout_redirect_uris"))?,
        backchannel_logout_uri: row.try_get("backchannel_logout_uri").map_err(backend)?,
        sector_identifier_uri: row.try_get("sector_identifier_uri").map_err(backend)?,
        sector: row.try_get("sector").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(crate) fn account(row: &AnyRow) -> Result<Account, StoreError> {
    let tier: String = row.try_get("tier").map_err(backend)?;
    Ok(Account {
        id: row.try_get("id").map_err(backend)?,
        hkid_hash: row.try_get("hkid_hash").map_err(backend)?,
        tier: Tier::parse(&tier).ok_or_else(|| corrupt("tier"))?,
        vault: row.try_get("vault").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(crate) fn device(row: &AnyRow) -> Result<Device, StoreError> {
    let kind: String = row.try_get("kind").map_err(backend)?;
    Ok(Device {
        id: row.try_get("id").map_err(backend)?,
        account_id: row.try_get("account_id").map_err(backend)?,
        public_key: row.try_get("public_key").map_err(backend)?,
        kind: DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind"))?,
        credential_id: row.try_get("credential_id").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        revoked_at: row.try_get("revoked_at").map_err(backend)?,
    })
}

pub(crate) fn login_request(row: &AnyRow) -> Result<LoginRequest, StoreError> {
    let status: String = row.try_get("status").map_err(backend)?;
    let get_list = |name: &str| -> Result<Vec<String>, StoreError> {
        let text: String = row.try_get(name).map_err(backend)?;
        Ok(split(&text))
    };
    Ok(LoginRequest {
        id: row.try_get("id").map_err(backend)?,
        client_id: row.try_get("client_id").map_err(backend)?,
        client_name: row.try_get("client_name").map_err(backend)?,
        redirect_uri: row.try_get("redirect_uri").map_err(backend)?,
        oauth_state: row.try_get("oauth_state").map_err(backend)?,
        nonce: row.try_get("nonce").map_err(backend)?,
        scopes: get_list("scopes")?,
        code_challenge: row.try_get("code_challenge").map_err(backend)?,
        browser_hash: row.try_get("browser_hash").map_err(backend)?,
        match_code: row.try_get("match_code").map_err(backend)?,
        challenge: row.try_get("challenge").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        status: LoginStatus::parse(&status).ok_or_else(|| corrupt("login status"))?,
        account_id: row.try_get("account_id").map_err(backend)?,
        device_id: row.try_get("device_id").map_err(backend)?,
        approved_scopes: get_list("approved_scopes")?,
        auth_time: row.try_get("auth_time").map_err(backend)?,
        amr: get_list("amr")?,
        code_hash: row.try_get("code_hash").map_err(backend)?,
        code_expires_at: row.try_get("code_expires_at").map_err(backend)?,
        grant_id: row.try_get("grant_id").map_err(backend)?,
        ui_locales: row.try_get("ui_locales").map_err(backend)?,
        acr_values: get_list("acr_values")?,
        id_token_claims: get_list("id_token_claims")?,
        expected_sub: row.try_get("expected_sub").map_err(backend)?,
        dpop_jkt: row.try_get("dpop_jkt").map_err(backend)?,
        failure: row
            .try_get::<Option<String>, _>("failure")
            .map_err(backend)?
            .as_deref()
            .and_then(Ending::parse),
        sealed_context: row.try_get("sealed_context").map_err(backend)?,
        origin_hash: row.try_get("origin_hash").map_err(backend)?,
    })
}

pub(crate) fn grant(row: &AnyRow) -> Result<Grant, StoreError> {
    let scopes: String = row.try_get("scopes").map_err(backend)?;
    let amr: String = row.try_get("amr").map_err(backend)?;
    Ok(Grant {
        id: row.try_get("id").map_err(backend)?,
        account_id: row.try_get("account_id").map_err(backend)?,
        client_id: row.try_get("client_id").map_err(backend)?,
        login_request_id: row.try_get("login_request_id").map_err(backend)?,
        scopes: split(&scopes),
        auth_time: row.try_get("auth_time").map_err(backend)?,
        acr: row.try_get("acr").map_err(backend)?,
        amr: split(&amr),
        refresh_hash: row.try_get("refresh_hash").map_err(backend)?,
        refresh_expires_at: row.try_get("refresh_expires_at").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        revoked_at: row.try_get("revoked_at").map_err(backend)?,
        dpop_jkt: row.try_get("dpop_jkt").map_err(backend)?,
        browser_hash: row.try_get("browser_hash").map_err(backend)?,
    })
}

pub(crate) fn release(row: &AnyRow) -> Result<Release, StoreError> {
    let claims: String = row.try_get("claims").map_err(backend)?;
    Ok(Release {
        id: row.try_get("id").map_err(backend)?,
        account_id: row.try_get("account_id").map_err(backend)?,
        client_id: row.try_get("client_id").map_err(backend)?,
        grant_id: row.try_get("grant_id").map_err(backend)?,
        claims: split(&claims),
        channel: row.try_get("channel").map_err(backend)?,
        released_at: row.try_get("released_at").map_err(backend)?,
    })
}

pub(crate) fn consent(row: &AnyRow) -> Result<Consent, StoreError> {
    let scopes: String = row.try_get("scopes").map_err(backend)?;
    Ok(Consent {
        account_id: row.try_get("account_id").map_err(backend)?,
        client_id: row.try_get("client_id").map_err(backend)?,
        scopes: split(&scopes),
        granted_at: row.try_get("granted_at").map_err(backend)?,
        linked_at: row.try_get("linked_at").map_err(backend)?,
    })
}

pub(crate) fn signing_key(row: &AnyRow) -> Result<StoredSigningKey, StoreError> {
    Ok(StoredSigningKey {
        kid: row.try_get("kid").map_err(backend)?,
        alg: row.try_get("alg").map_err(backend)?,
        sealed_pkcs8: row.try_get("sealed_pkcs8").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        activates_at: row.try_get("activates_at").map_err(backend)?,
        retires_at: row.try_get("retires_at").map_err(backend)?,
    })
}

pub(crate) fn ceremony(row: &AnyRow) -> Result<Ceremony, StoreError> {
    Ok(Ceremony {
        id: row.try_get("id").map_err(backend)?,
        purpose: row.try_get("purpose").map_err(backend)?,
        sealed_state: row.try_get("sealed_state").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
    })
}

pub(crate) fn outbox_message(row: &AnyRow) -> Result<OutboxMessage, StoreError> {
    Ok(OutboxMessage {
        id: row.try_get("id").map_err(backend)?,
        kind: row.try_get("kind").map_err(backend)?,
        payload: row.try_get("payload").map_err(backend)?,
        attempts: row.try_get("attempts").map_err(backend)?,
        next_attempt_at: row.try_get("next_attempt_at").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(crate) fn app_session(row: &AnyRow) -> Result<AppSession, StoreError> {
    Ok(AppSession {
        token_hash: row.try_get("token_hash").map_err(backend)?,
        account_id: row.try_get("account_id").map_err(backend)?,
        device_id: row.try_get("device_id").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
    })
}

pub(crate) fn evidence(row: &AnyRow) -> Result<EvidenceRecord, StoreError> {
    Ok(EvidenceRecord {
        id: row.try_get("id").map_err(backend)?,
        account_id: row.try_get("account_id").map_err(backend)?,
        purpose: row.try_get("purpose").map_err(backend)?,
        method: row.try_get("method").map_err(backend)?,
        level: EvidenceLevel::parse(&row.try_get::<String, _>("level").map_err(backend)?)
            .ok_or_else(|| corrupt("evidence level"))?,
        sealed_reference: row.try_get("sealed_reference").map_err(backend)?,
        verified_at: row.try_get("verified_at").map_err(backend)?,
    })
}
