//! Wire types of the civpass device API (what the phone app and `civpass wallet` speak) and of
//! RFC 9457 problem details. No logic: a change here is a protocol change.
//!
//! The device API is versioned in its path (`/api/v1/device/...`) and described in the OpenAPI
//! document the server serves at `/openapi.json`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod signing;

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
    /// `civpass-enrol/v2\n{issuer}\n{HKID without brackets}\n{public_key}`.
    pub proof: String,
    /// The identity check; needed for a new registration, not for a transfer.
    #[serde(default)]
    pub evidence: Option<EvidenceSubmission>,
    /// Present to move an existing account to this device.
    #[serde(default)]
    pub transfer: Option<TransferAuthorisation>,
    /// For a citizen aged 11 to 17: a parent's or guardian's identity card number; that adult
    /// approves in their own app before the account can log in.
    #[serde(default)]
    pub guardian_id_number: Option<String>,
    /// The phone was lost: move this identity's account to this key, revoking its other
    /// devices, on a strong identity check (`evidence` at the strong level).
    #[serde(default)]
    pub replace_lost_device: bool,
}

/// The identity check the app ran before registering: a vendor's SDK checked the identity card,
/// the citizen's liveness and their face against the registry's photo, and gave the app a
/// session reference. With the sandbox verifier the session names the outcome to simulate:
/// `pass`, `document_mismatch`, `liveness_failed` or `timeout`.
///
/// The check is opened first (`POST /api/v1/device/identity-checks`): its `reference` is given
/// to the vendor's SDK when the session starts, and sent here with the session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSubmission {
    /// The session the vendor's SDK gave the app.
    pub session: String,
    /// The reference of the identity check civpass opened (`POST
    /// /api/v1/device/identity-checks`), which the app passed to the vendor's SDK.
    pub reference: String,
}

/// Opens an identity check for a registration naming this ID number.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityCheckRequest {
    /// Hong Kong Identity Card number, with or without brackets.
    pub id_number: String,
}

/// An identity check civpass opened: pass `reference` to the vendor's SDK, then send it with the
/// vendor's session in the registration. Single-use; for this ID number only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityCheckResponse {
    pub reference: String,
    /// Unix seconds: the registration must come before.
    pub expires_at: i64,
}

/// How this platform registers citizens, for the app to offer the right steps.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceConfiguration {
    /// The platform's issuer URL. The app works only at its origin, where passkeys are bound
    /// (the WebAuthn relying party id is its host), and devices send everything there.
    #[serde(default)]
    pub issuer: String,
    /// Whether passkeys work on this origin (they need an issuer with a domain name).
    pub passkeys_available: bool,
    /// `sandbox` (the tester picks the identity check's outcome) or `vendor` (a vendor's SDK
    /// runs the check in the app).
    pub evidence_verifier: String,
    /// With the sandbox verifier: the outcomes a tester may pick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_outcomes: Vec<String>,
}

/// An identity check an account rests on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// What it was for: `registration` or `upgrade`.
    pub purpose: String,
    /// What was checked, in the vendor's words.
    pub method: String,
    /// `basic` or `strong`.
    pub level: String,
    /// Unix seconds.
    pub verified_at: i64,
}

/// The current device's consent to hand the account to the new key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferAuthorisation {
    pub device_id: String,
    /// Signature by the current device over `civpass-transfer/v2\n{issuer}\n{device_id}\n{new public_key}`.
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
    /// True for a minor's account, which waits for the guardian's approval (in the guardian's
    /// own app) before it can log in.
    #[serde(default)]
    pub awaiting_guardian: bool,
    /// A lost phone's account moved remotely: when the move takes effect (Unix seconds), unless
    /// a device of the account stops it first. Until then this device approves nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moves_at: Option<i64>,
}

/// A remote upgrade to plus: a strong identity check of the account's own identity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    pub evidence: Option<EvidenceSubmission>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpgradeResponse {
    /// `plus`.
    pub tier: String,
}

/// A self-service kiosk's act at its point: the card reader's details, the identity check
/// (card and face) its camera ran, signed with the kiosk's key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KioskActRequest {
    pub kiosk_id: String,
    pub point_id: String,
    /// `register` or `upgrade`.
    pub kind: String,
    /// The registration code the citizen's app shows.
    pub code: String,
    pub id_number: String,
    pub name_en: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub evidence: EvidenceSubmission,
    /// Unix seconds, within five minutes of the server's clock.
    pub at: i64,
    /// Signature by the kiosk's key over
    /// `civpass-kiosk-act/v2\n{issuer}\n{kiosk_id}\n{point_id}\n{kind}\n{code}\n{id_number}\n{at}`.
    pub signature: String,
}

/// What came of a counter or kiosk act.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActResponse {
    pub act_id: String,
    /// `awaiting_citizen`, or why nothing will happen (`code_invalid`, `no_such_person`,
    /// `details_differ`, `already_registered`, …).
    pub outcome: String,
    /// Unix seconds: the citizen confirms on the phone before this.
    pub expires_at: Option<i64>,
}

/// One of the account's devices.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    /// `software` or `passkey`.
    pub kind: String,
    /// Unix seconds.
    pub added_at: i64,
    pub revoked_at: Option<i64>,
    /// The device this app session was opened with.
    pub current: bool,
}

/// One entry of the account's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    /// Unix seconds.
    pub at: i64,
    /// `registered`, `upgraded`, `device_added`, `device_revoked`, `suspended`, `reinstated`,
    /// `downgraded`.
    pub what: String,
    /// `remote`, `counter`, `app` or `operator`.
    pub channel: String,
    pub device_id: Option<String>,
    /// The registration point's name in English, Traditional and Simplified Chinese.
    pub point: Option<Vec<String>>,
}

/// A request for a registration code to show at a counter.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationCodeRequest {
    /// The device's P-256 public key (base64url of the uncompressed point).
    pub public_key: String,
    /// The enrolled device's id (for an upgrade); absent for a new citizen.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Signature by the key over `civpass-registration-code/v2\n{issuer}\n{public_key}\n{device_id or empty}`.
    pub signature: String,
}

/// A registration code: shown by the app as text and as a QR code, typed or scanned by the
/// officer; single use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegistrationCodeResponse {
    /// `XXXX-XXXX`.
    pub code: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// True when the code is for an enrolled device (an upgrade).
    pub enrolled: bool,
    /// The code as a QR code, an SVG `data:` URI, for the app to show (the app's own
    /// endpoint gives it; a software wallet draws its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
}

/// A device asks what waits for its confirmation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingRequest {
    pub public_key: String,
    /// Unix seconds, within five minutes of the server's clock.
    pub at: i64,
    /// Signature over `civpass-pending/v2\n{issuer}\n{public_key}\n{at}`.
    pub signature: String,
}

/// What an officer did that waits for the citizen's confirmation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PendingView {
    pub id: String,
    /// `register` (a new account at plus on this device) or `upgrade` (this account to plus).
    pub kind: String,
    /// The name on the identity card the officer checked.
    pub name_en: String,
    pub point_name_en: String,
    pub point_name_zh_hant: String,
    pub point_name_zh_hans: String,
    /// Unix seconds.
    pub at: i64,
    /// Unix seconds: confirm before this.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PendingList {
    pub pending: Vec<PendingView>,
}

/// The citizen confirms what the officer did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// Signature by the key the code was bound to, over `civpass-confirm/v2\n{issuer}\n{id}\n{kind}`.
    pub signature: String,
}

/// A registration code bound to a passkey the app made at a counter, and the token the app
/// follows it with (`Authorization: Bearer {token}` on `/api/v1/device/counter-passkeys/pending…`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CounterPasskeyCode {
    /// `XXXX-XXXX`.
    pub code: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The code as a QR code, an SVG `data:` URI.
    pub qr: Option<String>,
    /// Shown once; good until the confirmation's time has passed.
    pub token: String,
}

/// The passkey the app made, as `navigator.credentials.create` gave it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterPasskeyRequest {
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// The citizen confirms what the officer did with the app's passkey: the assertion over the
/// challenge from `POST /api/v1/device/me/pending/{id}/challenge`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyConfirmRequest {
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, binary fields base64url.
    #[schema(value_type = Object)]
    pub passkey: serde_json::Value,
}

/// What the confirmation brought about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfirmResponse {
    pub account_id: String,
    pub device_id: String,
    /// `plus`.
    pub tier: String,
}

/// A data item the service asks for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestedScope {
    pub scope: String,
    pub description: String,
    /// Personal data items may be declined; `openid` may not.
    pub optional: bool,
    /// The service marked a claim of it essential (OIDC Core section 5.5.1): the app marks
    /// it so; the citizen may still decline it.
    #[serde(default)]
    pub essential: bool,
    /// The claims approving it releases, exactly.
    #[serde(default)]
    pub claims: Vec<RequestedClaim>,
}

/// A claim an approval releases.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestedClaim {
    /// e.g. `email`, `address#zh-Hant-HK`.
    pub name: String,
    #[serde(default)]
    pub essential: bool,
    /// Its value as the service would receive it, when the request was read with the
    /// account's app session (`Authorization: Bearer`); absent if the citizen has not filled
    /// the field, in which case nothing is released for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<serde_json::Value>,
}

/// A form a service asks to fill (RFC 9396 `authorization_details`, type `form_filling`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FormView {
    pub form_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The claims the form's fields are.
    pub fields: Vec<String>,
    /// The service gets the data with no link to the citizen (a one-time subject).
    pub anonymous: bool,
}

/// The citizen's own record of an anonymous form filling (the service has none).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FillingView {
    pub client_name: String,
    pub form_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_number: Option<String>,
    pub claims: Vec<String>,
    /// Unix seconds.
    pub filled_at: i64,
}

/// A login request as the app shows it before the citizen decides.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequestView {
    pub request_id: String,
    pub client_id: String,
    pub client_name: String,
    /// What the service wants the data for, in its words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The form the service asks to fill, if it asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormView>,
    pub scopes: Vec<RequestedScope>,
    /// What the device signs (see `DecisionRequest.signature`).
    pub challenge: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The two-digit code shown on the login page must be entered. False when the app runs in
    /// the browser that started the login (same-device login, recognised by its cookie).
    pub match_code_required: bool,
    /// Unix seconds: when the login began.
    pub started_at: i64,
    /// Where it began, for the citizen to recognise the login as theirs.
    pub context: LoginContextView,
}

/// The browser, system and approximate place a login began in; each may be unknown (absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LoginContextView {
    /// `Chrome`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// `Windows 10`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// `Kowloon, Hong Kong`, from the operator's IP location database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The place in Chinese (Simplified characters), where the database has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_zh_hans: Option<String>,
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
    /// Software keys: base64url ECDSA P-256 SHA-256 signature (r || s) over
    /// `civpass-login/v2\nissuer={issuer}\nrequest={request_id}\nchallenge={challenge}\ndecision={decision}\nmatch={match_code}\nscopes={approved scopes, sorted, space-separated}`.
    #[serde(default)]
    pub signature: String,
    /// Passkeys: the ceremony from `POST .../passkey-challenge`.
    #[serde(default)]
    pub ceremony_id: Option<String>,
    /// Passkeys: the WebAuthn assertion (`PublicKeyCredential` as JSON, binary fields base64url).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub passkey: Option<serde_json::Value>,
}

/// Asks for a WebAuthn challenge for one device.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceChallengeRequest {
    pub device_id: String,
}

/// A challenge for the device to answer within five minutes, once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceChallenge {
    pub ceremony_id: String,
    /// For a passkey: `{"publicKey": PublicKeyCredentialRequestOptions}` for
    /// `navigator.credentials.get`, binary fields base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub passkey: Option<serde_json::Value>,
    /// For a software key: sign `civpass-session/v2\nissuer={issuer}\nceremony={ceremony_id}\nchallenge={challenge}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// Registration in the app, step one: the details on the identity card.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistrationRequest {
    /// Hong Kong Identity Card number, with or without brackets: `A123456(3)`.
    pub id_number: String,
    /// English name as on the card, surname first.
    pub name_en: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// The identity check (required).
    #[serde(default)]
    pub evidence: Option<EvidenceSubmission>,
    /// For a citizen aged 11 to 17: a parent's or guardian's identity card number.
    #[serde(default)]
    pub guardian_id_number: Option<String>,
    /// The phone was lost: move this identity's account to the new passkey, revoking its other
    /// devices, on a strong identity check.
    #[serde(default)]
    pub replace_lost_device: bool,
}

/// The options for `navigator.credentials.create`, and the ceremony that will check the answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasskeyRegistrationChallenge {
    pub ceremony_id: String,
    /// `{"publicKey": PublicKeyCredentialCreationOptions}`, binary fields base64url.
    #[schema(value_type = Object)]
    pub passkey: serde_json::Value,
}

/// Registration in the app, step two: the new passkey.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistrationFinish {
    /// The `PublicKeyCredential` from `navigator.credentials.create` as JSON (binary fields
    /// base64url): `id`, `rawId`, `type`, `response.attestationObject`,
    /// `response.clientDataJSON`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Opens an app session with the device key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub device_id: String,
    pub ceremony_id: String,
    /// Software keys: the signature over the challenge's message.
    #[serde(default)]
    pub signature: Option<String>,
    /// Passkeys: the WebAuthn assertion.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub passkey: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    /// Send as `Authorization: Bearer {token}` to the `/me` endpoints.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The verified identity data civpass holds for the citizen.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyData {
    pub hkid: String,
    pub name_en: String,
    pub name_zh: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// `female` or `male`.
    pub gender: String,
    /// `basic` or `plus`.
    pub tier: String,
    /// Unix seconds.
    pub registered_at: i64,
    /// How the identity was checked, oldest first.
    #[serde(default)]
    pub evidence: Vec<EvidenceView>,
}

/// One release of personal data to a service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    /// Claim names, e.g. `name`, `birthdate`.
    pub claims: Vec<String>,
    /// `id_token` (at login) or `userinfo` (fetched by the service).
    pub channel: String,
    /// Unix seconds.
    pub released_at: i64,
}

/// A service the citizen has used.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkedServiceView {
    pub client_id: String,
    pub client_name: String,
    /// The scopes the citizen last agreed to share.
    pub scopes: Vec<String>,
    /// Unix seconds: the first login.
    pub linked_at: i64,
    /// Unix seconds: the latest agreement.
    pub last_consent_at: i64,
    /// The claims the standing consent releases.
    #[serde(default)]
    pub claims: Vec<String>,
    /// What the service said it wants the data for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Unix seconds: when the standing consent ends by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Newest first.
    pub releases: Vec<ReleaseView>,
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
    /// For refused input, each refused field with why (an RFC 9457 section 3.2 extension
    /// member, as in its section 3's example).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One refused field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field as the request named it, e.g. `phone_number` or `address.district`.
    pub pointer: String,
    pub detail: String,
}

/// The citizen's e-ME vault: registry-verified identity and stored fields, in display order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VaultView {
    pub fields: Vec<VaultFieldView>,
}

/// One field of the e-ME vault.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VaultFieldView {
    /// The claim it is released as, e.g. `phone_number`, `address#zh-Hant-HK`.
    pub name: String,
    /// A string, or for an address an object of its parts as the `address` claim carries them.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// `registry`, `verified` or `self_declared`.
    pub source: String,
    /// How a `verified` field was checked: `email_link`, `sms_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// When the value last changed, Unix seconds.
    pub updated_at: i64,
}

/// A verification message was sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerificationStarted {
    /// For an SMS code: the id to send back with the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_id: Option<String>,
    /// Unix seconds after which the link or code no longer works.
    pub expires_at: i64,
}

/// The code the citizen received by SMS.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerificationCode {
    pub code: String,
}

/// The token of an e-mail verification link (after `#` in the link).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmailVerificationToken {
    pub token: String,
}

/// Changes to the e-ME vault, applied together or not at all.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VaultChange {
    /// Field (or `field.part` of an address) to its new value; `null` deletes it.
    #[schema(value_type = Object)]
    pub changes: std::collections::BTreeMap<String, Option<String>>,
}

/// A detached signature to check (`POST /api/v1/signatures/verify`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignatureVerifyRequest {
    /// The detached CMS (CAdES) signature, DER, in base64.
    pub signature: String,
    /// The SHA-256 digest of the signed document, in base64 (as the CSC API's
    /// `documentDigests`).
    pub document_digest: String,
}

/// What a signature check found; `valid` only if every check passed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignatureReport {
    pub valid: bool,
    /// The signer's certificate subject: English name and pseudonym.
    pub signer: String,
    /// Unix seconds, from the signed attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<i64>,
    /// The digest given is the one signed.
    pub content_matches: bool,
    pub signature_valid: bool,
    /// The chain reaches the platform's root CA, valid at the signing time.
    pub trusted: bool,
    /// Subjects from the signer up to the root.
    pub chain: Vec<String>,
    /// What failed, in words.
    pub problems: Vec<String>,
}

/// One document to sign: its name as the citizen will see it, and its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DocumentDigest {
    /// 1 to 200 characters of plain text.
    pub name: String,
    /// The SHA-256 digest of the document, base64.
    pub digest: String,
}

/// A service's request to have a citizen sign documents (`POST /api/v1/signing-requests`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SigningRequestCreate {
    /// 1 to 20 documents, signed under one approval.
    pub documents: Vec<DocumentDigest>,
    /// Only this citizen may sign: the `sub` the service knows them by (as iAM Smart's
    /// expected signer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_signer: Option<String>,
}

/// A signing request made: where the citizen opens it, and the code the service shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SigningRequestCreated {
    pub request_id: String,
    /// The link the citizen's app opens (show it as a QR code).
    pub link: String,
    /// Two digits: show them; the citizen types them in the app.
    pub match_code: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Where a signing request stands (`GET /api/v1/signing-requests/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SigningRequestStatus {
    /// `pending`, `signed`, `denied`, `refused` (the citizen could not sign) or `expired`.
    pub status: String,
    /// With `signed`: a detached CAdES signature (DER, base64) per document, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// With `refused`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A signing request as the app shows it before the citizen decides.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SigningRequestView {
    pub request_id: String,
    pub client_id: String,
    pub client_name: String,
    pub documents: Vec<DocumentDigest>,
    /// `documents_binding` of the digests, as the app computes it too.
    pub documents_binding: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The app's signed answer to a signing request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SigningDecisionRequest {
    pub device_id: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// The two digits shown on the service's page.
    pub match_code: String,
    /// ES256 over `signing_message`, base64url.
    pub signature: String,
}
