//! `/metrics` in the Prometheus text format, read by an independent parser (`prometheus-parse`):
//! per-route requests and latency, logins by outcome, grants, token outcomes by error code,
//! rate-limit refusals, and the gauges read at scrape time (outbox, pool, signing key).

use std::process::Stdio;

use civpass_server::RateLimits;
use civpass_testkit::{Backend, Options, TestDb, backends, spawn_server_with};
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::StatusCode;

use crate::support::{self, AuthRequest, CALLBACK};

async fn scrape(url: &str) -> Scrape {
    Scrape::parse(scrape_text(url).await.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

async fn scrape_text(url: &str) -> String {
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    res.text().await.unwrap()
}

fn samples<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

fn value(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("not a single value: {other:?}"),
    }
}

/// The one sample's value, or 0 if there is none yet.
fn one(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, name, labels);
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().map_or(0.0, |s| value(s))
}

#[tokio::test]
async fn metrics_count_what_the_platform_does_in_the_prometheus_format() {
    for backend in backends() {
        let limits = RateLimits { token: 4, ..RateLimits::default() };
        let options = Options { rate_limits: Some(limits), ..Options::default() };
        let server = spawn_server_with(&backend, options).await;
        let url = format!("{}/metrics", server.base);
        // The recorder is the process's, shared by every test server in it: compare before
        // and after.
        let before = scrape(&url).await;

        let (id, secret) = server.client(CALLBACK).await;
        let wallet = server.enrolled_wallet(1).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (status, _) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a code works once");
        // Over the token limit (4 a minute): refused with 429.
        let mut refused = false;
        for _ in 0..4 {
            let (status, _) = support::redeem(&server.base, (&id, &secret), &req, "x").await;
            refused |= status == StatusCode::TOO_MANY_REQUESTS;
        }
        assert!(refused);

        // An act at a registration point (an unknown code: recorded, nothing else).
        let counter = &server.services.counter;
        let point = counter
            .add_point(civpass_core::counter::NewPoint {
                kind: civpass_core::counter::model::PointKind::Counter,
                name_en: "Metrics Counter".into(),
                name_zh_hant: "計數櫃檯".into(),
                name_zh_hans: "计数柜台".into(),
                district: "Central".into(),
                hours: civpass_core::counter::hours::Hours::parse_weekly("mon-sun 00:00-24:00")
                    .unwrap(),
            })
            .await
            .unwrap();
        let officer = counter
            .add_staff("Officer M", civpass_core::counter::model::StaffRole::Officer)
            .await
            .unwrap();
        counter.assign(&officer.id, &point.id).await.unwrap();
        let (id_number, name_en, date_of_birth) = server.person(2);
        counter
            .act(civpass_core::counter::CounterRequest {
                kind: civpass_core::counter::model::ActKind::Register,
                staff_id: &officer.id,
                point_id: &point.id,
                code: "ABCD-EFGH",
                card: civpass_core::counter::model::CardDetails {
                    id_number,
                    name_en,
                    date_of_birth,
                },
            })
            .await
            .unwrap();

        let after = scrape(&url).await;
        let grew = |name: &str, labels: &[(&str, &str)]| {
            one(&after, name, labels) - one(&before, name, labels)
        };
        assert!(grew("civpass_logins_total", &[("outcome", "started")]) >= 1.0);
        assert!(grew("civpass_logins_total", &[("outcome", "approved")]) >= 1.0);
        assert!(grew("civpass_grants_issued_total", &[]) >= 1.0);
        // Counted from the database, so acts run from the command line count too.
        assert!(
            one(
                &after,
                "civpass_counter_acts_last_day",
                &[("kind", "register"), ("outcome", "code_invalid")]
            ) >= 1.0
        );
        let code_grant = [("grant_type", "authorization_code")];
        assert!(grew("civpass_token_requests_total", &[code_grant[0], ("outcome", "ok")]) >= 1.0);
        assert!(
            grew("civpass_token_requests_total", &[code_grant[0], ("outcome", "invalid_grant")])
                >= 1.0
        );
        assert!(grew("civpass_rate_limit_refusals_total", &[("group", "token")]) >= 1.0);
        let token_route = [("route", "/token"), ("method", "POST")];
        assert!(
            grew(
                "civpass_http_requests_total",
                &[token_route[0], token_route[1], ("status", "200")]
            ) >= 1.0
        );
        // Latency is a histogram with buckets, by route pattern, never by path.
        let latency = samples(&after, "civpass_http_request_duration_seconds", &token_route);
        assert!(
            latency.iter().any(|s| matches!(&s.value, Value::Histogram(b) if b.len() > 5)),
            "{latency:?}"
        );
        assert!(
            after.samples.iter().all(|s| !s.labels.get("route").is_some_and(|r| r.contains(&code))),
            "no route label holds a value from a request"
        );
        // prometheus-parse skips samples whose label values hold braces (valid in the format),
        // so the templated routes are read from the text itself.
        let text = scrape_text(&url).await;
        assert!(
            text.lines()
                .any(|l| l.starts_with("civpass_http_requests_total{route=\"/login/{id}\",")),
            "{text}"
        );

        // Gauges, read when scraped.
        assert_eq!(one(&after, "civpass_outbox_depth", &[]), 0.0);
        assert_eq!(one(&after, "civpass_outbox_oldest_age_seconds", &[]), 0.0);
        assert!(one(&after, "civpass_db_pool_max_connections", &[]) >= 1.0);
        assert!(one(&after, "civpass_signing_key_age_seconds", &[]) >= 0.0);
        assert!(after.docs.contains_key("civpass_logins_total"), "series are described");
    }
}

#[tokio::test]
async fn a_metrics_listener_of_its_own_takes_metrics_off_the_public_one() {
    let db = TestDb::create(&Backend::Sqlite).await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (mut child, base) = support::serve_binary(
        &["--metrics-listen", &free.to_string(), "--data-dir", db.dir.to_str().unwrap()],
        &[],
        Stdio::null(),
    );
    let public = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let apart = scrape(&format!("http://{free}/metrics")).await;
    assert!(one(&apart, "civpass_db_pool_max_connections", &[]) >= 1.0);
    child.kill().unwrap();
    let _ = child.wait();
}
