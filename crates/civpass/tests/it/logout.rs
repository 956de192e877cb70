//! Logout: RP-initiated (the ID token names the session to end) and back-channel (the service
//! hears when a citizen unlinks it in the app). On both databases.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use civpass_core::kernel::clock::Clock;
use civpass_core::kernel::outbox::OutboxKind;
use civpass_core::oidc::clients::ClientSpec;
use civpass_core::oidc::logout::BACKCHANNEL_EVENT;
use civpass_core::oidc::model::LogoutNotice;
use civpass_testkit::{Options, TestServer, backends, spawn_server, spawn_server_with};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, AuthRequest, CALLBACK};

const BYE: &str = "https://rp.example/bye";

/// A service's back-channel logout endpoint on a free loopback port: keeps what it receives.
pub(crate) async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let (url, received, _) = flaky_receiver(0, 503).await;
    (url, received)
}

/// A back-channel logout endpoint that answers `status` to its first `failures` requests; keeps
/// the bodies it accepted, and counts every request.
async fn flaky_receiver(
    failures: usize,
    status: u16,
) -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/backchannel", listener.local_addr().unwrap().port());
    let received = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (keep, count) = (received.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (keep, count) = (keep.clone(), count.clone());
            tokio::spawn(async move {
                let mut accepted = true;
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Read until the body announced by content-length has arrived.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            accepted = count.fetch_add(1, Ordering::SeqCst) >= failures;
                            if accepted {
                                keep.lock().unwrap().push(body.to_owned());
                            }
                            break;
                        }
                    }
                }
                let status = if accepted { "200 OK".to_owned() } else { format!("{status} No") };
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, received, hits)
}

pub(crate) async fn client_with(
    server: &TestServer,
    backchannel: Option<String>,
) -> (String, String) {
    let mut spec = ClientSpec::web("Logout service", &[CALLBACK.to_owned()]);
    spec.post_logout_redirect_uris = vec![BYE.to_owned()];
    spec.backchannel_logout_uri = backchannel;
    let created = server.services.oidc.register_client(spec).await.unwrap();
    (created.client.id.into(), created.secret.unwrap())
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_session_the_id_token_names() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (id, secret) = client_with(&server, None).await;
        let wallet = server.enrolled_wallet(90).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let browser = support::browser();
        let code = support::login_code_in(&browser, &server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        assert!(claims(id_token)["sid"].is_string(), "the ID token names its session");

        let logout = |browser: &reqwest::Client, query: Vec<(&str, &str)>| {
            let mut url = url::Url::parse(&format!("{}/logout", server.base)).unwrap();
            url.query_pairs_mut().extend_pairs(query);
            browser.get(url.to_string()).send()
        };
        let res = logout(
            &browser,
            vec![
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", "https://attacker.example/"),
                ("state", "s1"),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "an unregistered URI gets a page, not a redirect"
        );
        let res =
            logout(&browser, vec![("id_token_hint", "forged"), ("post_logout_redirect_uri", BYE)])
                .await
                .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let (other, _) = client_with(&server, None).await;
        let res = logout(&browser, vec![("id_token_hint", id_token), ("client_id", &other)])
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "client_id must be the token's audience");

        let refresh = |token: String| {
            let (id, secret) = (id.clone(), secret.clone());
            let base = server.base.clone();
            async move {
                support::token(
                    &base,
                    (&id, &secret),
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                )
                .await
            }
        };
        let hint =
            vec![("id_token_hint", id_token), ("post_logout_redirect_uri", BYE), ("state", "s1")];
        // A GET ends nothing: it asks the citizen (a leaked ID token in a link logs no one out).
        let res = logout(&browser, hint.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("form-action 'self' https://rp.example"), "{csp}");
        let page = res.text().await.unwrap();
        assert!(page.contains("Log out of") && page.contains("id=\"logout-confirm\""));
        let (status, body) = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
        assert_eq!(status, StatusCode::OK, "still logged in: {body}");
        let tokens = body;

        // Not even a GET carrying the page's own token and decision: only the form's POST counts.
        let mut sneaky: Vec<(String, String)> = support::logout_form_fields(&page);
        sneaky.push(("decision".into(), "logout".into()));
        let mut url = url::Url::parse(&format!("{}/logout", server.base)).unwrap();
        url.query_pairs_mut().extend_pairs(&sneaky);
        let res = browser.get(url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "asked again");
        let (status, body) = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
        assert_eq!(status, StatusCode::OK, "still logged in: {body}");
        let tokens = body;
        // A form from another site (Fetch Metadata says so) is refused.
        let mut cross = support::logout_form_fields(&page);
        cross.push(("decision".into(), "logout".into()));
        let res = browser
            .post(format!("{}/logout", server.base))
            .header("sec-fetch-site", "cross-site")
            .form(&cross)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // The form posted without its CSRF token, or with another browser's, ends nothing.
        let stranger = support::browser();
        let res = logout(&stranger, hint.clone()).await.unwrap();
        let stranger_page = res.text().await.unwrap();
        let mut forged = support::logout_form_fields(&stranger_page);
        forged.push(("decision".into(), "logout".into()));
        let res =
            browser.post(format!("{}/logout", server.base)).form(&forged).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "another browser's token");
        // The stranger confirms on their own page: sent back to the service, session untouched.
        let res = support::answer_logout(&stranger, &server.base, &stranger_page, "logout").await;
        assert_eq!(support::location(&res), format!("{BYE}?state=s1"));
        let (status, body) = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
        assert_eq!(status, StatusCode::OK, "a leaked ID token ends nothing elsewhere: {body}");
        let tokens = body;

        // "Stay logged in": back to the service, nothing ended.
        let res = support::answer_logout(&browser, &server.base, &page, "stay").await;
        assert_eq!(support::location(&res), format!("{BYE}?state=s1"));
        let (status, body) = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
        assert_eq!(status, StatusCode::OK);
        let tokens = body;

        // The citizen confirms in the browser they logged in with: the session ends.
        let res = support::answer_logout(&browser, &server.base, &page, "logout").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(support::location(&res), format!("{BYE}?state=s1"));
        let (status, body) = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "the session's tokens ended"
        );
        // An expired hint is still accepted (RP-Initiated Logout 1.0 section 4); with the
        // session already over there is nothing to confirm.
        let res = logout(&browser, hint.clone()).await.unwrap();
        assert_eq!(support::location(&res), format!("{BYE}?state=s1"));

        let res = logout(&browser, vec![]).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "a bare logout shows that the citizen is logged out"
        );
        let discovery = support::discovery(&server.base).await;
        assert_eq!(discovery["end_session_endpoint"], format!("{}/logout", server.base));
        assert_eq!(discovery["backchannel_logout_supported"], true);
        assert_eq!(discovery["backchannel_logout_session_supported"], true);
    }
}

#[tokio::test]
async fn unlinking_in_the_app_sends_a_back_channel_logout_to_the_service() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (uri, received) = receiver().await;
        let (id, secret) = client_with(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(91).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let first = claims(tokens["id_token"].as_str().unwrap());
        let sub = first["sub"].as_str().unwrap().to_owned();
        // A second session with the same service.
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let second = claims(tokens["id_token"].as_str().unwrap());

        let session = wallet.open_session().await.unwrap();
        wallet.unlink(&session, &id).await.unwrap();
        for _ in 0..150 {
            if received.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bodies = received.lock().unwrap().clone();
        assert_eq!(bodies.len(), 2, "the service heard of the logout, once per session");
        // Each names its session by the `sid` of its ID tokens.
        let mut sids: Vec<Value> = bodies.iter().map(|b| logout_token(b)["sid"].clone()).collect();
        let mut expected = vec![first["sid"].clone(), second["sid"].clone()];
        sids.sort_by_key(|v| v.to_string());
        expected.sort_by_key(|v| v.to_string());
        assert_eq!(sids, expected);
        let body = bodies[0].clone();
        let token = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .expect("a logout_token form field");
        let header: Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["typ"], "logout+jwt");
        let key = server
            .services
            .keys
            .ring()
            .by_kid(
                header["kid"].as_str().unwrap(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64,
            )
            .expect("signed by a key in our JWKS");
        let logout: Value = key.verify(&token).expect("the signature verifies");
        assert_eq!(logout["iss"], server.base);
        assert_eq!(logout["aud"], id);
        assert_eq!(logout["sub"], sub, "the same subject the service knows");
        assert!(logout["events"][BACKCHANNEL_EVENT].is_object());
        assert!(logout.get("nonce").is_none(), "a logout token never carries a nonce");
        assert!(logout["jti"].is_string() && logout["iat"].is_i64() && logout["exp"].is_i64());
    }
}

/// The logout token in a body a back-channel endpoint received.
pub(crate) fn logout_token(body: &str) -> Value {
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("a logout_token form field");
    claims(&token)
}

#[tokio::test]
async fn a_service_that_is_down_hears_of_the_logout_when_it_is_back() {
    for backend in backends() {
        let options = Options { fixed_clock: true, manual_outbox: true, ..Options::default() };
        let server = spawn_server_with(&backend, options).await;
        let clock = server.clock.clone().unwrap();
        let (uri, received, hits) = flaky_receiver(2, 503).await;
        let (id, secret) = client_with(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(92).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let sub = claims(tokens["id_token"].as_str().unwrap())["sub"].clone();
        let session = wallet.open_session().await.unwrap();
        wallet.unlink(&session, &id).await.unwrap();

        let round = || async { server.services.oidc.deliver_logout_notices().await.unwrap() };
        assert_eq!(round().await, 1, "the notice is queued and due at once");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(round().await, 0, "after a failure, not again at once");
        clock.advance(30);
        assert_eq!(round().await, 1, "30 s later");
        clock.advance(59);
        assert_eq!(round().await, 0, "then the wait doubles");
        clock.advance(1);
        assert_eq!(round().await, 1);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        let bodies = received.lock().unwrap().clone();
        assert_eq!(bodies.len(), 1, "delivered once it was back");
        let logout = logout_token(&bodies[0]);
        assert_eq!(logout["sub"], sub);
        assert!(logout["exp"].as_i64().unwrap() > clock.now(), "signed afresh for the attempt");
        clock.advance(7200);
        assert_eq!(round().await, 0, "and then it is done");
    }
}

#[tokio::test]
async fn a_notice_nobody_accepts_is_given_up_after_its_last_attempt() {
    for backend in backends() {
        let options = Options { fixed_clock: true, manual_outbox: true, ..Options::default() };
        let server = spawn_server_with(&backend, options).await;
        let clock = server.clock.clone().unwrap();
        let (uri, received, hits) = flaky_receiver(usize::MAX, 503).await;
        let (id, _) = client_with(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(93).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        support::login_code(&server, &wallet, &req).await;
        let session = wallet.open_session().await.unwrap();
        wallet.unlink(&session, &id).await.unwrap();
        for _ in 0..LogoutNotice::RETRY.max_attempts {
            assert_eq!(server.services.oidc.deliver_logout_notices().await.unwrap(), 1);
            clock.advance(3600);
        }
        assert_eq!(server.services.oidc.deliver_logout_notices().await.unwrap(), 0);
        assert_eq!(hits.load(Ordering::SeqCst), LogoutNotice::RETRY.max_attempts as usize);
        assert!(received.lock().unwrap().is_empty());

        // A service that refuses the token itself (400, Back-Channel Logout section 2.8) is
        // not asked again.
        let (uri, _, hits) = flaky_receiver(usize::MAX, 400).await;
        let (id, _) = client_with(&server, Some(uri)).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        support::login_code(&server, &wallet, &req).await;
        let session = wallet.open_session().await.unwrap();
        wallet.unlink(&session, &id).await.unwrap();
        assert_eq!(server.services.oidc.deliver_logout_notices().await.unwrap(), 1);
        clock.advance(3600);
        assert_eq!(server.services.oidc.deliver_logout_notices().await.unwrap(), 0);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_replayed_refresh_token_ends_the_session_and_the_service_hears_so() {
    for backend in backends() {
        let options = Options { manual_outbox: true, ..Options::default() };
        let server = spawn_server_with(&backend, options).await;
        let (uri, received, _) = flaky_receiver(0, 503).await;
        let (id, secret) = client_with(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(94).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (_, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        let id_token = claims(tokens["id_token"].as_str().unwrap());
        let sub = id_token["sub"].clone();
        let old = tokens["refresh_token"].as_str().unwrap();
        let form = [("grant_type", "refresh_token"), ("refresh_token", old)];
        let (status, _) = support::token(&server.base, (&id, &secret), &form).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.services.oidc.deliver_logout_notices().await.unwrap(), 0, "nothing yet");
        let (status, _) = support::token(&server.base, (&id, &secret), &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(server.services.oidc.deliver_logout_notices().await.unwrap(), 1);
        let bodies = received.lock().unwrap().clone();
        let logout = logout_token(&bodies[0]);
        assert_eq!((&logout["sub"], &logout["sid"]), (&sub, &id_token["sid"]), "this session");
    }
}

#[tokio::test]
async fn a_replayed_code_ends_the_session_it_began_and_the_service_hears_so() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (uri, received) = receiver().await;
        let (id, secret) = client_with(&server, Some(uri)).await;
        let wallet = server.enrolled_wallet(93).await;
        let req = AuthRequest::new(&id, CALLBACK, "openid");
        let code = support::login_code(&server, &wallet, &req).await;
        let (status, tokens) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK);
        let first = claims(tokens["id_token"].as_str().unwrap());
        // RFC 6749 section 4.1.2: the replay revokes what the code produced, and the service,
        // whose session rests on it, is told which one ended.
        let (status, _) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        for _ in 0..150 {
            if !received.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bodies = received.lock().unwrap().clone();
        assert_eq!(bodies.len(), 1, "{backend:?}: one logout, for the one session");
        let logout = logout_token(&bodies[0]);
        assert_eq!((&logout["sub"], &logout["sid"]), (&first["sub"], &first["sid"]));
        // A third try revokes nothing more and tells nothing more.
        let (status, _) = support::redeem(&server.base, (&id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(received.lock().unwrap().len(), 1);
    }
}
