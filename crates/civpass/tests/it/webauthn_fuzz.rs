//! Property tests of the passkey verifier as the server uses it: WebAuthn answers with random
//! bytes where the authenticator's structures go are refused with the expected error, never a
//! panic or an internal error, and change nothing.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use civpass_core::device::passkey::{AssertionOptions, DeviceProof};
use civpass_core::identity::registration::EnrolError;
use civpass_core::oidc::login::{DecisionRequest, DeviceError, Verdict};
use civpass_testkit::{Backend, Options, SoftPasskey, TestServer, spawn_server_with};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    device_id: String,
    client_id: String,
}

/// One server for all cases, with a passkey account registered.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (server, device_id, client_id) = runtime.block_on(async {
            // One person is registered again and again: no per-identity limit here.
            let options = Options {
                localhost: true,
                identity_attempts_per_hour: Some(0),
                ..Options::default()
            };
            let server = spawn_server_with(&Backend::Sqlite, options).await;
            let (hkid, name, dob) = server.person(9);
            let check = server.services.identity.start_identity_check(&hkid).await.unwrap();
            let claim = civpass_core::identity::registration::IdentityClaim {
                id_number: &hkid,
                name_en: &name,
                date_of_birth: &dob,
                evidence: Some(civpass_core::identity::registration::EvidenceSubmission {
                    session: "pass",
                    reference: &check.reference,
                }),
                guardian: None,
                replace_lost_device: false,
            };
            let started = server.services.device.start_passkey_registration(&claim).await.unwrap();
            let mut passkey = SoftPasskey::new(&server.base);
            let credential = passkey.create(&serde_json::to_value(&started.options).unwrap());
            let done = server
                .services
                .device
                .finish_passkey_registration(
                    &started.ceremony_id,
                    &serde_json::from_value(credential).unwrap(),
                )
                .await
                .unwrap();
            let (client_id, _) = server.client(CALLBACK).await;
            (server, done.device_id, client_id)
        });
        Fixture { runtime, server, device_id, client_id }
    })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_registration_answers_are_refused(attestation in bytes(), client_data in bytes(), keep_client_data: bool) {
        let f = fixture();
        f.runtime.block_on(async {
            let (hkid, name, dob) = f.server.person(10);
            let check = f.server.services.identity.start_identity_check(&hkid).await.unwrap();
            let claim = civpass_core::identity::registration::IdentityClaim {
                id_number: &hkid,
                name_en: &name,
                date_of_birth: &dob,
                evidence: Some(civpass_core::identity::registration::EvidenceSubmission {
                    session: "pass",
                    reference: &check.reference,
                }),
                guardian: None,
                replace_lost_device: false,
            };
            let started = f.server.services.device.start_passkey_registration(&claim).await.unwrap();
            let options = serde_json::to_value(&started.options).unwrap();
            let honest = SoftPasskey::new(&f.server.base).create(&options);
            let client_data = if keep_client_data {
                honest["response"]["clientDataJSON"].clone()
            } else {
                Value::String(B64.encode(&client_data))
            };
            let credential = json!({
                "id": honest["id"], "rawId": honest["rawId"], "type": "public-key",
                "response": {"attestationObject": B64.encode(&attestation), "clientDataJSON": client_data},
                "extensions": {},
            });
            let credential = serde_json::from_value(credential).unwrap();
            let outcome = f.server.services.device.finish_passkey_registration(&started.ceremony_id, &credential).await;
            assert!(matches!(outcome, Err(EnrolError::PasskeyRejected)), "{outcome:?}");
        });
    }

    #[test]
    fn random_assertions_are_refused_and_the_request_stays_pending(auth_data in bytes(), signature in bytes(), client_data in bytes()) {
        let f = fixture();
        f.runtime.block_on(async {
            let browser = support::browser();
            let req = AuthRequest::new(&f.client_id, CALLBACK, "openid");
            let waiting = support::open_login_page(&browser, &f.server.base, &req.url(&f.server.base)).await;
            let id = &waiting.link.request_id;
            let challenge = f.server.services.oidc.start_decision_assertion(id, &f.device_id).await.unwrap();
            let AssertionOptions::Passkey(options) = challenge.options else { panic!("a passkey device") };
            let credential_id: &[u8] = options.public_key.allow_credentials[0].id.as_ref();
            let credential = json!({
                "id": B64.encode(credential_id), "rawId": B64.encode(credential_id), "type": "public-key",
                "response": {
                    "authenticatorData": B64.encode(&auth_data),
                    "clientDataJSON": B64.encode(&client_data),
                    "signature": B64.encode(&signature),
                },
                "extensions": {},
            });
            let credential = serde_json::from_value(credential).unwrap();
            let outcome = f.server.services.oidc.decide(id, DecisionRequest {
                device_id: &f.device_id,
                verdict: Verdict::Approve,
                match_code: &waiting.match_code,
                approved_scopes: &["openid".to_owned()],
                proof: DeviceProof::Passkey(&credential),
                ceremony_id: Some(&challenge.ceremony_id),
                browser_id: None,
            }).await;
            assert_eq!(outcome, Err(DeviceError::BadSignature));
            assert!(f.server.services.oidc.device_view(id, None).await.is_ok(), "still pending");
        });
    }
}
