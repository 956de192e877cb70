//! The identity evidence verifiers: the sandbox's picks the outcome the tester names; the HTTP
//! adapter against a local axum server that plays a vendor, well and badly.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use civpass_core::identity::evidence::{
    EvidenceCheck, EvidenceError, EvidenceLevel, EvidenceOutcome, EvidenceVerifier,
};
use civpass_core::identity::hkid::HkId;
use civpass_registry::evidence::{HttpEvidenceVerifier, SandboxEvidenceVerifier};
use serde_json::{Value, json};

const TOKEN: &str = "vendor-token";

fn check<'a>(session: &'a str, hkid: &'a HkId) -> EvidenceCheck<'a> {
    EvidenceCheck {
        session,
        reference: "ref-1",
        hkid,
        name_en: "CHAN Tai Man",
        date_of_birth: "1990-05-17",
    }
}

/// Each session asks for one behaviour.
async fn verifications(headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The vendor is told what to compare the document with.
    if body["id_number"] != "A123456(3)"
        || body["name_en"] != "CHAN Tai Man"
        || body["date_of_birth"] != "1990-05-17"
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    // The vendor echoes the reference the session was started with.
    let reference = body["reference"].as_str().unwrap_or("").to_owned();
    let verdict = |outcome: &str, level: &str| {
        Json(json!({
            "reference": reference, "outcome": outcome, "method": "nfc_chip_liveness_face_match",
            "level": level, "vendor_reference": "chk_8842", "extra": "ignored",
        }))
        .into_response()
    };
    match body["session"].as_str().unwrap_or("") {
        "s-pass" => verdict("pass", "strong"),
        "s-basic" => verdict("pass", "basic"),
        "s-liveness" => verdict("liveness_failed", "basic"),
        "s-unknown-outcome" => verdict("maybe", "basic"),
        "s-unknown-level" => verdict("pass", "platinum"),
        "s-broken" => (StatusCode::OK, "{\"outcome\": ").into_response(),
        "s-huge" => "x".repeat(100 * 1024).into_response(),
        "s-error" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "s-slow" => {
            tokio::time::sleep(Duration::from_secs(12)).await;
            verdict("pass", "strong")
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn spawn_vendor() -> String {
    let app = Router::new().route("/v1/verifications", post(verifications));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_sandbox_verifier_gives_the_outcome_the_tester_names() {
    let hkid = HkId::parse("A123456(3)").unwrap();
    let sandbox = SandboxEvidenceVerifier;
    assert!(sandbox.is_sandbox());
    for outcome in EvidenceOutcome::ALL {
        let result = sandbox.verify(&check(outcome.as_str(), &hkid)).await.unwrap();
        assert_eq!(result.outcome, outcome);
        assert_eq!(result.level, EvidenceLevel::Strong);
        assert!(result.vendor_reference.starts_with("sandbox-"));
        assert_eq!(result.reference, "ref-1");
    }
    assert_eq!(
        sandbox.verify(&check("yes please", &hkid)).await,
        Err(EvidenceError::UnknownSession)
    );
}

#[tokio::test]
async fn the_http_verifier_reads_a_vendors_verdicts_and_refuses_bad_answers() {
    let base = spawn_vendor().await;
    let hkid = HkId::parse("A123456(3)").unwrap();
    let vendor = HttpEvidenceVerifier::new(&base, Some(TOKEN.into())).unwrap();
    assert!(!vendor.is_sandbox());

    let pass = vendor.verify(&check("s-pass", &hkid)).await.unwrap();
    assert_eq!(pass.outcome, EvidenceOutcome::Pass);
    assert_eq!(pass.level, EvidenceLevel::Strong);
    assert_eq!(pass.method, "nfc_chip_liveness_face_match");
    assert_eq!(pass.vendor_reference, "chk_8842");
    assert_eq!(pass.reference, "ref-1", "the check it was run for");
    assert_eq!(vendor.verify(&check("s-basic", &hkid)).await.unwrap().level, EvidenceLevel::Basic);
    assert_eq!(
        vendor.verify(&check("s-liveness", &hkid)).await.unwrap().outcome,
        EvidenceOutcome::LivenessFailed
    );
    assert_eq!(
        vendor.verify(&check("s-nobody-knows", &hkid)).await,
        Err(EvidenceError::UnknownSession)
    );
    for bad in ["s-unknown-outcome", "s-unknown-level", "s-broken", "s-huge", "s-error"] {
        match vendor.verify(&check(bad, &hkid)).await {
            Err(EvidenceError::Unavailable(message)) => {
                assert!(!message.contains("A123456"), "no personal data in {message:?}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Without the token the vendor refuses, and that is no verdict either.
    let anonymous = HttpEvidenceVerifier::new(&base, None).unwrap();
    assert!(matches!(
        anonymous.verify(&check("s-pass", &hkid)).await,
        Err(EvidenceError::Unavailable(_))
    ));
    assert!(HttpEvidenceVerifier::new("ftp://vendor.example", None).is_err());
}

#[tokio::test]
async fn a_vendor_that_does_not_answer_is_unavailable_after_ten_seconds() {
    let base = spawn_vendor().await;
    let hkid = HkId::parse("A123456(3)").unwrap();
    let vendor = HttpEvidenceVerifier::new(&base, Some(TOKEN.into())).unwrap();
    match vendor.verify(&check("s-slow", &hkid)).await {
        Err(EvidenceError::Unavailable(message)) => assert!(message.contains("10 seconds")),
        other => panic!("{other:?}"),
    }
}
