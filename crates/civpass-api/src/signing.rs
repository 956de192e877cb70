//! What a software device signs (ES256 over these bytes, the signature base64url): the formats
//! of the device API's proofs, here so that a wallet needs only this crate and a P-256 key.
//! Every format names the platform's issuer (version 2), so a signature counts only at the
//! platform the device belongs to; version 1, without it, is refused.
//!
//! The provider verifies with these same functions (`civpass_core` re-exports them).

/// A device's answer to a login request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    /// `approve` or `deny`, as `DecisionRequest.decision` and the signed message spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

/// An identity card number as the enrolment proof names it: without white space or brackets,
/// in capitals (`A123456(3)` is `A1234563`). It only normalises; the provider checks the
/// number itself.
pub fn id_number_for_signing(id_number: &str) -> String {
    id_number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The bytes a device signs to approve or deny a login request. Binding the request id, the
/// server's challenge, the verdict, the matching code and the released scopes (sorted) means
/// that a signature cannot be replayed onto another request or turned into another decision.
pub fn decision_message(
    issuer: &str,
    request_id: &str,
    challenge: &str,
    verdict: Verdict,
    match_code: &str,
    approved_scopes: &[String],
) -> Vec<u8> {
    let mut sorted = approved_scopes.to_vec();
    sorted.sort();
    format!(
        "civpass-login/v2\nissuer={issuer}\nrequest={request_id}\nchallenge={challenge}\ndecision={}\nmatch={match_code}\nscopes={}",
        verdict.as_str(),
        sorted.join(" ")
    )
    .into_bytes()
}

/// The bytes a device signs to approve or deny a signing request: the signature activation
/// data (docs/PKI.md). `documents` is `documents_binding` of the request's digests, so the
/// approval counts for exactly those documents, in that order, and nothing else.
pub fn signing_message(
    issuer: &str,
    request_id: &str,
    documents: &str,
    verdict: Verdict,
    match_code: &str,
) -> Vec<u8> {
    format!(
        "civpass-sign/v1\nissuer={issuer}\nrequest={request_id}\ndocuments={documents}\ndecision={}\nmatch={match_code}",
        verdict.as_str()
    )
    .into_bytes()
}

/// What an approval binds of a request's documents: SHA-256 over their SHA-256 digests in
/// order, base64url. Its first 16 characters, in groups of four, are the fingerprint the app
/// shows beside the service's page.
pub fn documents_binding(digests: &[[u8; 32]]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for digest in digests {
        hasher.update(digest);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// The fingerprint people compare between the service's page and the app: the first 16
/// characters of `documents_binding`, in groups of four.
pub fn fingerprint(binding: &str) -> String {
    let head: Vec<char> = binding.chars().take(16).collect();
    head.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// The bytes a new device signs at enrolment, proving it holds the key it registers;
/// `id_number` as `id_number_for_signing` gives it.
pub fn enrol_message(issuer: &str, id_number: &str, public_key: &str) -> Vec<u8> {
    format!("civpass-enrol/v2\n{issuer}\n{id_number}\n{public_key}").into_bytes()
}

/// The bytes the current device signs to hand the account to a new key.
pub fn transfer_message(issuer: &str, current_device_id: &str, new_public_key: &str) -> Vec<u8> {
    format!("civpass-transfer/v2\n{issuer}\n{current_device_id}\n{new_public_key}").into_bytes()
}

/// The bytes a software device signs to open an app session.
pub fn session_message(issuer: &str, ceremony_id: &str, challenge: &str) -> Vec<u8> {
    format!("civpass-session/v2\nissuer={issuer}\nceremony={ceremony_id}\nchallenge={challenge}")
        .into_bytes()
}

/// The bytes a device signs to ask for a registration code to show at a counter: its key,
/// and its device id if it is enrolled already (an upgrade), empty if not (a new citizen).
pub fn registration_code_message(
    issuer: &str,
    public_key: &str,
    device_id: Option<&str>,
) -> Vec<u8> {
    format!("civpass-registration-code/v2\n{issuer}\n{public_key}\n{}", device_id.unwrap_or(""))
        .into_bytes()
}

/// The bytes a device signs to list what waits for its confirmation; `at` (Unix seconds)
/// must be within five minutes of the server's clock.
pub fn pending_message(issuer: &str, public_key: &str, at: i64) -> Vec<u8> {
    format!("civpass-pending/v2\n{issuer}\n{public_key}\n{at}").into_bytes()
}

/// The bytes a device signs to confirm what an officer did for it at a counter (`kind`:
/// `register` or `upgrade`): the act takes effect only with this signature.
pub fn confirm_message(issuer: &str, act_id: &str, kind: &str) -> Vec<u8> {
    format!("civpass-confirm/v2\n{issuer}\n{act_id}\n{kind}").into_bytes()
}

/// The bytes a kiosk signs with its own key for an act at its point (`kind`: `register` or
/// `upgrade`; `id_number` as `id_number_for_signing` gives it; `at` Unix seconds, within five
/// minutes of the server's clock).
pub fn kiosk_act_message(
    issuer: &str,
    kiosk_id: &str,
    point_id: &str,
    kind: &str,
    code: &str,
    id_number: &str,
    at: i64,
) -> Vec<u8> {
    format!(
        "civpass-kiosk-act/v2\n{issuer}\n{kiosk_id}\n{point_id}\n{kind}\n{code}\n{id_number}\n{at}"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_are_what_the_device_api_documents() {
        let scopes = ["profile".to_owned(), "openid".to_owned()];
        assert_eq!(
            decision_message("https://id.example", "r1", "c1", Verdict::Approve, "07", &scopes),
            b"civpass-login/v2\nissuer=https://id.example\nrequest=r1\nchallenge=c1\ndecision=approve\nmatch=07\nscopes=openid profile"
        );
        assert_eq!(
            enrol_message("https://id.example", &id_number_for_signing(" a123456 (3)"), "K"),
            b"civpass-enrol/v2\nhttps://id.example\nA1234563\nK"
        );
        assert_eq!(
            transfer_message("https://id.example", "d1", "K"),
            b"civpass-transfer/v2\nhttps://id.example\nd1\nK"
        );
        assert_eq!(
            session_message("https://id.example", "c1", "x"),
            b"civpass-session/v2\nissuer=https://id.example\nceremony=c1\nchallenge=x"
        );
    }
}
