//! Wire types of the civpass device API (what the phone app and `civpass wallet` speak) and of
//! RFC 9457 problem details. No logic: a change here is a protocol change.
//!
//! The device API is versioned in its path (`/api/v1/device/...`) and described in the OpenAPI
//! document the server serves at `/openapi.json`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Remote registration at the basic tier.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRequest {
    /// Hong Kong Identity Card number, with or without brackets: `A123456(3)`.
    pub id_number: String,
    /// English name as on the card, surname first: `CHAN Tai Man`.
    pub name_en: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// The device key: base64url of the uncompressed P-256 point (65 bytes).
    pub public_key: String,
    /// Base64url ECDSA P-256 SHA-256 signature (r || s) by the device key over
    /// `civpass-enrol/v1\n{HKID without brackets}\n{public_key}`.
    pub proof: String,
    /// Present to move an existing account to this device.
    #[serde(default)]
    pub transfer: Option<TransferAuthorisation>,
}

/// The current device's consent to hand the account to the new key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferAuthorisation {
    pub device_id: String,
    /// Signature by the current device over `civpass-transfer/v1\n{device_id}\n{new public_key}`.
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentResponse {
    pub account_id: String,
    pub device_id: String,
    /// `basic` or `plus`.
    pub tier: String,
    /// True when an existing account moved to this device.
    pub transferred: bool,
}

/// A data item the service asks for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestedScope {
    pub scope: String,
    pub description: String,
    /// Personal data items may be declined; `openid` may not.
    pub optional: bool,
}

/// A login request as the app shows it before the citizen decides.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequestView {
    pub request_id: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<RequestedScope>,
    /// What the device signs (see `DecisionRequest.signature`).
    pub challenge: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The two-digit code shown on the login page must be entered.
    pub match_code_required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub device_id: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// The two-digit code from the login page (required to approve).
    #[serde(default)]
    pub match_code: String,
    /// The scopes the citizen agrees to release: `openid` plus any of those requested.
    #[serde(default)]
    pub approved_scopes: Vec<String>,
    /// Base64url ECDSA P-256 SHA-256 signature (r || s) over
    /// `civpass-login/v1\nrequest={request_id}\nchallenge={challenge}\ndecision={decision}\nmatch={match_code}\nscopes={approved scopes, sorted, space-separated}`.
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionResponse {
    /// `approved` or `denied`.
    pub status: String,
}

/// RFC 9457 problem details. The request's id is in the `x-request-id` response header.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type, e.g. `https://civpass.dev/problems/identity-mismatch`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
