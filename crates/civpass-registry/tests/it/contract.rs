//! The registry contract, one suite that every `RegistrySource` passes: the sandbox registry,
//! and the HTTP adapter against a stub server speaking the documented wire format (backed by the
//! same synthetic people). Then the adapter's own resilience: retries, and the circuit breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use civpass_core::identity::hkid::HkId;
use civpass_core::identity::registry::{RegistryRecord, RegistrySource};
use civpass_registry::{HttpRegistry, SandboxRegistry};
use serde_json::json;

/// What every registry must do: find each person as the registry holds them, by any form of
/// their number, and say there is no such person for a valid number it does not hold.
async fn contract(registry: &dyn RegistrySource, people: &[RegistryRecord]) {
    for person in people.iter().take(25) {
        let found = registry.find_person(&person.hkid).await.unwrap();
        assert!(found.as_ref() == Some(person), "{}", person.hkid);
    }
    let bracketed = HkId::parse(&people[3].hkid.to_string()).unwrap();
    assert!(registry.find_person(&bracketed).await.unwrap().as_ref() == Some(&people[3]));
    let stranger = HkId::from_parts("Z", "999990").unwrap();
    assert!(people.iter().all(|p| p.hkid != stranger));
    assert!(registry.find_person(&stranger).await.unwrap().is_none());
}

#[derive(Clone)]
struct Stub {
    registry: Arc<SandboxRegistry>,
    hits: Arc<AtomicUsize>,
    /// Answer this status to the first `fail_first` requests (0: never).
    fail_status: u16,
    fail_first: usize,
}

/// The documented wire format (crate documentation of `civpass_registry`).
async fn person(State(stub): State<Stub>, Path(hkid): Path<String>) -> Response {
    let n = stub.hits.fetch_add(1, Ordering::SeqCst);
    if n < stub.fail_first {
        return StatusCode::from_u16(stub.fail_status).unwrap().into_response();
    }
    let Ok(hkid) = HkId::parse(&hkid) else { return StatusCode::NOT_FOUND.into_response() };
    match stub.registry.find(&hkid) {
        Some(p) => axum::Json(json!({
            "hkid": p.hkid.to_string(),
            "name_en": p.name_en,
            "name_zh": p.name_zh,
            "date_of_birth": p.date_of_birth.to_string(),
            "gender": p.gender.as_str(),
            "guardians": p.guardians.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn stub(fail_status: u16, fail_first: usize) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let state = Stub {
        registry: Arc::new(SandboxRegistry::generate(100)),
        hits: hits.clone(),
        fail_status,
        fail_first,
    };
    let app = Router::new().route("/v1/people/{hkid}", get(person)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn the_sandbox_registry_keeps_the_contract() {
    let sandbox = SandboxRegistry::generate(100);
    contract(&sandbox, sandbox.people()).await;
}

#[tokio::test]
async fn the_http_adapter_keeps_the_contract_against_the_documented_wire_format() {
    let (base, _) = stub(200, 0).await;
    let http = HttpRegistry::new(&base, None).unwrap();
    contract(&http, SandboxRegistry::generate(100).people()).await;
}

#[tokio::test]
async fn a_registry_that_is_briefly_unavailable_is_tried_again() {
    let (base, hits) = stub(503, 2).await;
    let http = HttpRegistry::new(&base, None).unwrap();
    let people = SandboxRegistry::generate(1);
    let found = http.find_person(&people.people()[0].hkid).await.unwrap();
    assert!(found.is_some());
    assert_eq!(hits.load(Ordering::SeqCst), 3, "two 503s, then the answer");
}

#[tokio::test]
async fn a_failing_registry_is_left_alone_for_a_while() {
    let (base, hits) = stub(500, usize::MAX).await;
    let http = HttpRegistry::new(&base, None).unwrap();
    let person = SandboxRegistry::generate(1).people()[0].hkid.clone();
    for _ in 0..civpass_registry::breaker::THRESHOLD {
        let err = http.find_person(&person).await.unwrap_err();
        assert!(err.to_string().contains("HTTP status 500"), "{err}");
    }
    let threshold = usize::try_from(civpass_registry::breaker::THRESHOLD).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), threshold, "a 500 is not tried again");
    let err = http.find_person(&person).await.unwrap_err();
    assert!(err.to_string().contains("circuit open"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), threshold, "not asked while the circuit is open");
}
