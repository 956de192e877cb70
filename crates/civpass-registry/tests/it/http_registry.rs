//! The HTTP adapter against a small axum server on a local port that plays a registry, well and badly.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use civpass_core::identity::hkid::HkId;
use civpass_core::identity::registry::RegistrySource;
use civpass_registry::{HttpRegistry, HttpRegistryError};
use serde_json::json;

const TOKEN: &str = "sandbox-token";

fn record(hkid: &str) -> serde_json::Value {
    json!({
        "hkid": hkid,
        "name_en": "CHAN Tai Man",
        "name_zh": "陳大文",
        "date_of_birth": "1990-05-17",
        "gender": "male",
        "ignored_extra_field": true,
    })
}

fn json_response(body: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Each HKID asks for one behaviour; every number here has a correct check digit.
async fn person(Path(hkid): Path<String>, headers: HeaderMap) -> Response {
    let expected_auth = format!("Bearer {TOKEN}");
    if headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok())
        != Some(expected_auth.as_str())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match hkid.as_str() {
        "A1234563" => json_response(record("A123456(3)")),
        "A1000015" => StatusCode::NOT_FOUND.into_response(),
        "A1000023" => {
            (StatusCode::INTERNAL_SERVER_ERROR, "database A1000023 exploded").into_response()
        }
        "A1000031" => ([(header::CONTENT_TYPE, "application/json")], "{\"hkid\": \"A1000031\", ")
            .into_response(),
        "A100004A" => json_response(record("A100004(0)")),
        "A1000058" => json_response(record("A123456(3)")),
        "A1000066" => json_response(json!({
            "hkid": "A1000066", "name_en": "CHAN Tai Man", "name_zh": "陳大文",
            "date_of_birth": "17/05/1990", "gender": "male",
        })),
        "A1000074" => json_response(json!({
            "hkid": "A1000074", "name_en": "CHAN Tai Man", "name_zh": "陳大文",
            "date_of_birth": "1990-05-17", "gender": "unknown",
        })),
        "A1000082" => {
            (StatusCode::FOUND, [(header::LOCATION, "/v1/people/A1234563")]).into_response()
        }
        "A1000090" => {
            tokio::time::sleep(Duration::from_secs(7)).await;
            json_response(record("A1000090"))
        }
        "A1000104" => "x".repeat(100 * 1024).into_response(),
        "A1000112" => json_response(json!({
            "hkid": "A1000112", "name_en": " ", "name_zh": "陳大文",
            "date_of_birth": "1990-05-17", "gender": "male",
        })),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the fake registry and returns its base URL.
async fn spawn_registry() -> String {
    let app = Router::new()
        .route("/v1/people/{hkid}", get(person))
        .route("/api/v1/people/{hkid}", get(person));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A one-line summary of a lookup, so that each case is one comparison.
async fn lookup(registry: &HttpRegistry, hkid: &str) -> String {
    let hkid = HkId::parse(hkid).unwrap();
    match registry.find_person(&hkid).await {
        Ok(Some(person)) => format!(
            "found {} | {} | {} | {} | {}",
            person.hkid,
            person.name_en,
            person.name_zh,
            person.date_of_birth,
            person.gender.as_str()
        ),
        Ok(None) => "not found".to_owned(),
        Err(err) => format!("error: {err}"),
    }
}

#[track_caller]
fn check(actual: &str, expect: &str) {
    assert_eq!(actual, expect);
}

async fn registry_with_token() -> HttpRegistry {
    HttpRegistry::new(&spawn_registry().await, Some(TOKEN.to_owned())).unwrap()
}

#[tokio::test]
async fn ok_returns_the_person() {
    let registry = registry_with_token().await;
    check(
        &lookup(&registry, "A123456(3)").await,
        "found A123456(3) | CHAN Tai Man | 陳大文 | 1990-05-17 | male",
    );
}

#[tokio::test]
async fn not_found_is_no_person_rather_than_an_error() {
    let registry = registry_with_token().await;
    check(&lookup(&registry, "A100001(5)").await, "not found");
}

#[tokio::test]
async fn server_error_is_unavailable_without_the_body() {
    let registry = registry_with_token().await;
    check(
        &lookup(&registry, "A100002(3)").await,
        "error: the population registry is unavailable: the registry answered with HTTP status 500",
    );
}

#[tokio::test]
async fn malformed_json_is_unavailable() {
    let registry = registry_with_token().await;
    check(
        &lookup(&registry, "A100003(1)").await,
        "error: the population registry is unavailable: the registry returned a malformed person record: \
         the body is not a JSON person record with the expected fields",
    );
}

#[tokio::test]
async fn bad_fields_are_unavailable_and_the_message_names_no_value() {
    let registry = registry_with_token().await;
    let prefix = "error: the population registry is unavailable: the registry returned a malformed person record: ";
    check(
        &lookup(&registry, "A100004(A)").await,
        &format!("{prefix}hkid is not a valid HKID number"),
    );
    check(
        &lookup(&registry, "A100006(6)").await,
        &format!("{prefix}date_of_birth is not a YYYY-MM-DD date"),
    );
    check(
        &lookup(&registry, "A100007(4)").await,
        &format!("{prefix}the body is not a JSON person record with the expected fields"),
    );
    check(&lookup(&registry, "A100011(2)").await, &format!("{prefix}name_en is empty"));
}

#[tokio::test]
async fn a_record_for_another_hkid_is_unavailable() {
    let registry = registry_with_token().await;
    check(
        &lookup(&registry, "A100005(8)").await,
        "error: the population registry is unavailable: \
         the registry returned a different person from the one asked for",
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let registry = registry_with_token().await;
    check(
        &lookup(&registry, "A100008(2)").await,
        "error: the population registry is unavailable: the registry answered with HTTP status 302",
    );
}

#[tokio::test]
async fn an_oversized_body_is_unavailable() {
    let registry = registry_with_token().await;
    check(
        &lookup(&registry, "A100010(4)").await,
        "error: the population registry is unavailable: the registry's response body is too large",
    );
}

#[tokio::test]
async fn a_registry_slower_than_five_seconds_is_unavailable() {
    let registry = registry_with_token().await;
    check(
        &lookup(&registry, "A100009(0)").await,
        "error: the population registry is unavailable: the registry did not answer within 5 seconds",
    );
}

#[tokio::test]
async fn the_bearer_token_is_sent() {
    let base_url = spawn_registry().await;
    let without_token = HttpRegistry::new(&base_url, None).unwrap();
    check(
        &lookup(&without_token, "A123456(3)").await,
        "error: the population registry is unavailable: the registry answered with HTTP status 401",
    );
    let wrong_token = HttpRegistry::new(&base_url, Some("other".to_owned())).unwrap();
    check(
        &lookup(&wrong_token, "A123456(3)").await,
        "error: the population registry is unavailable: the registry answered with HTTP status 401",
    );
}

#[tokio::test]
async fn the_base_url_may_have_a_path_with_or_without_a_trailing_slash() {
    let base_url = spawn_registry().await;
    for base in
        [format!("{base_url}/api"), format!("{base_url}/api/"), format!("{base_url}/api?x=1#y")]
    {
        let registry = HttpRegistry::new(&base, Some(TOKEN.to_owned())).unwrap();
        check(
            &lookup(&registry, "A123456(3)").await,
            "found A123456(3) | CHAN Tai Man | 陳大文 | 1990-05-17 | male",
        );
    }
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable_and_the_message_has_no_hkid() {
    // Binding and dropping a listener yields a local port that nothing listens on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let registry = HttpRegistry::new(&format!("http://{addr}"), None).unwrap();
    let outcome = lookup(&registry, "A123456(3)").await;
    assert!(
        outcome.starts_with(
            "error: the population registry is unavailable: could not reach the registry"
        ),
        "{outcome}"
    );
    assert!(!outcome.contains("123456"), "{outcome}");
}

#[test]
fn base_urls_that_are_not_http_are_rejected() {
    for base_url in
        ["", "registry.example", "mailto:registry@example.com", "ftp://registry.example/"]
    {
        assert!(
            matches!(HttpRegistry::new(base_url, None), Err(HttpRegistryError::InvalidBaseUrl)),
            "{base_url}"
        );
    }
}

#[test]
fn debug_output_hides_the_token() {
    let registry =
        HttpRegistry::new("https://registry.example/api", Some(TOKEN.to_owned())).unwrap();
    let debug = format!("{registry:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert_eq!(
        debug,
        "HttpRegistry { people_url: \"https://registry.example/api/v1/people/\", has_bearer_token: true }"
    );
}
