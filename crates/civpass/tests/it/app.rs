//! The app's side of the device API with passkeys (a software WebAuthn authenticator), app
//! sessions, linked services and unlinking, and the pages' languages; on both databases.

use civpass_core::oidc::login::Verdict;
use civpass_core::store::ports::*;
use civpass_testkit::{Options, SoftPasskey, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, AuthRequest, CALLBACK, Waiting};

/// A phone running the app: a passkey and the device id it was registered as.
pub(crate) struct Phone {
    pub(crate) passkey: SoftPasskey,
    pub(crate) device_id: String,
}

pub(crate) async fn post(http: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let res = http.post(url).json(&body).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) fn problem(body: &Value) -> &str {
    body["type"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("")
}

pub(crate) async fn localhost_server(backend: &civpass_testkit::Backend) -> TestServer {
    spawn_server_with(backend, Options { localhost: true, ..Options::default() }).await
}

async fn start_registration(server: &TestServer, idx: usize) -> (StatusCode, Value) {
    let (hkid, name, dob) = server.person(idx);
    post(
        &reqwest::Client::new(),
        format!("{}/api/v1/device/passkey-registrations", server.base),
        json!({"id_number": hkid, "name_en": name, "date_of_birth": dob,
            "evidence": {"session": "pass", "reference": support::identity_check(&server.base, &hkid).await}}),
    )
    .await
}

pub(crate) async fn register(server: &TestServer, idx: usize) -> Phone {
    register_with(server, idx, SoftPasskey::new(&server.base)).await
}

async fn register_with(server: &TestServer, idx: usize, mut passkey: SoftPasskey) -> Phone {
    let (status, started) = start_registration(server, idx).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let options = &started["passkey"];
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["authenticatorAttachment"],
        "platform"
    );
    assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(options["publicKey"]["attestation"], "none");
    let credential = passkey.create(options);
    let (status, done) = post(
        &reqwest::Client::new(),
        format!(
            "{}/api/v1/device/passkey-registrations/{}",
            server.base,
            started["ceremony_id"].as_str().unwrap()
        ),
        json!({ "credential": credential }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let device_id = done["device_id"].as_str().unwrap().to_owned();
    // The credential id column holds what the key record holds (migration 0015 relies on it).
    let device = server
        .store
        .find_device(&civpass_core::kernel::DeviceId::from(&device_id))
        .await
        .unwrap()
        .unwrap();
    let record: Value = serde_json::from_str(&device.public_key).unwrap();
    assert_eq!(device.credential_id.as_deref(), record["cred"]["cred_id"].as_str());
    Phone { passkey, device_id }
}

impl Phone {
    /// Asks for a login challenge and answers it; `http` is the client whose cookies go with the
    /// decision (the login's own browser for a same-device login).
    async fn decide(
        &mut self,
        http: &reqwest::Client,
        waiting: &Waiting,
        verdict: Verdict,
        match_code: &str,
        scopes: &[&str],
    ) -> (StatusCode, Value) {
        let base = format!(
            "{}/api/v1/device/login-requests/{}",
            waiting.link.server, waiting.link.request_id
        );
        let (status, challenge) =
            post(http, format!("{base}/passkey-challenge"), json!({"device_id": self.device_id}))
                .await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        let assertion = self.passkey.get(&challenge["passkey"]);
        post(
            http,
            format!("{base}/decision"),
            json!({
                "device_id": self.device_id,
                "decision": verdict.as_str(),
                "match_code": match_code,
                "approved_scopes": scopes,
                "ceremony_id": challenge["ceremony_id"],
                "passkey": assertion,
            }),
        )
        .await
    }

    pub(crate) async fn session(&mut self, base: &str) -> String {
        let http = reqwest::Client::new();
        let (_, challenge) = post(
            &http,
            format!("{base}/api/v1/device/sessions/challenge"),
            json!({"device_id": self.device_id}),
        )
        .await;
        let assertion = self.passkey.get(&challenge["passkey"]);
        let (status, opened) = post(
            &http,
            format!("{base}/api/v1/device/sessions"),
            json!({"device_id": self.device_id, "ceremony_id": challenge["ceremony_id"], "passkey": assertion}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{opened}");
        opened["token"].as_str().unwrap().to_owned()
    }
}

async fn me(base: &str, token: &str, path: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .get(format!("{base}/api/v1/device/me{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(res.headers()["cache-control"], "no-store", "personal data is never cached");
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_passkey_registers_approves_a_login_and_unlinks_the_service() {
    for backend in backends() {
        let server = localhost_server(&backend).await;
        let mut phone = register(&server, 3).await;
        let (client_id, secret) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&client_id, CALLBACK, "openid profile birthdate");
        let browser = support::browser();
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;

        // Cross-device: the app's requests carry no cookie of the login's browser.
        let view: Value = reqwest::get(format!(
            "{}/api/v1/device/login-requests/{}",
            server.base, waiting.link.request_id
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(view["match_code_required"], true);
        let (status, body) = phone
            .decide(
                &reqwest::Client::new(),
                &waiting,
                Verdict::Approve,
                &waiting.match_code,
                &["openid", "profile"],
            )
            .await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("approved")));
        let back = support::finish(&browser, &waiting).await;
        let code = support::query(&back, "code").unwrap();
        let (status, tokens) =
            support::redeem(&server.base, (&client_id, &secret), &req, &code).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let (_, info) =
            support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
        assert!(info["name"].is_string() && info["birthdate"].is_null());

        let token = phone.session(&server.base).await;
        let (status, data) = me(&server.base, &token, "").await;
        let (hkid, name, dob) = server.person(3);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (data["hkid"].as_str(), data["name_en"].as_str()),
            (Some(hkid.as_str()), Some(name.as_str()))
        );
        assert_eq!(data["date_of_birth"].as_str(), Some(dob.as_str()));
        let (_, services) = me(&server.base, &token, "/services").await;
        let service = &services[0];
        assert_eq!(service["client_id"], client_id.as_str());
        assert_eq!(service["scopes"], json!(["openid", "profile"]));
        let channels: Vec<&str> = service["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["channel"].as_str().unwrap())
            .collect();
        assert_eq!(channels, ["userinfo", "id_token"], "newest first: every release is listed");

        let unlink = reqwest::Client::new()
            .delete(format!("{}/api/v1/device/me/services/{client_id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(unlink.status(), StatusCode::NO_CONTENT);
        let (_, services) = me(&server.base, &token, "/services").await;
        assert_eq!(services, json!([]));
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, body) = support::token(
            &server.base,
            (&client_id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        let (status, _) =
            support::userinfo(&server.base, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "access tokens of an unlinked service stop working"
        );
        let again = reqwest::Client::new()
            .delete(format!("{}/api/v1/device/me/services/{client_id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn in_the_browser_that_started_the_login_the_matching_code_is_not_needed() {
    for backend in backends() {
        let server = localhost_server(&backend).await;
        let mut phone = register(&server, 4).await;
        let (client_id, _) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&client_id, CALLBACK, "openid");
        let browser = support::browser();
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        let view: Value = browser
            .get(format!(
                "{}/api/v1/device/login-requests/{}",
                server.base, waiting.link.request_id
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["match_code_required"], false);
        let (status, body) =
            phone.decide(&browser, &waiting, Verdict::Approve, "", &["openid"]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let back = support::finish(&browser, &waiting).await;
        assert!(support::query(&back, "code").is_some());

        // Another browser (no cookie, or someone else's) still has to give the right code.
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        let stranger = support::browser();
        let _ = support::open_login_page(&stranger, &server.base, &req.url(&server.base)).await;
        let (status, body) =
            phone.decide(&stranger, &waiting, Verdict::Approve, "", &["openid"]).await;
        assert_eq!((status, problem(&body)), (StatusCode::FORBIDDEN, "wrong-match-code"));
    }
}

#[tokio::test]
async fn over_https_the_browser_cookie_is_host_only() {
    for backend in backends() {
        let https = Options { issuer: Some("https://id.example.gov.hk"), ..Options::default() };
        let server = spawn_server_with(&backend, https).await;
        let (client_id, _) = server.client(CALLBACK).await;
        let req = AuthRequest::new(&client_id, CALLBACK, "openid");
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = http.get(req.url(&server.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.contains("civpass_browser"))
            .expect("a browser cookie");
        // The __Host- prefix makes browsers refuse one set by a sibling domain (cookie tossing).
        assert!(cookie.starts_with("__Host-civpass_browser="), "{cookie}");
        for part in ["Secure", "HttpOnly", "Path=/"] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        // Over https every answer tells browsers to keep to https (RFC 6797).
        for path in ["/.well-known/openid-configuration", "/app/", "/nope"] {
            let res = http.get(format!("{}{path}", server.base)).send().await.unwrap();
            assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000", "{path}");
        }
    }
}

#[tokio::test]
async fn plain_http_sends_no_hsts() {
    let server = civpass_testkit::spawn_server(&backends()[0]).await;
    let res = reqwest::get(format!("{}/app/", server.base)).await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
}

/// Opens two app-session ceremonies at once and answers the first with the phone's key and the
/// second with a clone of it (changed by `tweak`) carrying the same counter: the clone is refused.
async fn clone_races_its_key(
    server: &TestServer,
    phone: &mut Phone,
    tweak: impl Fn(&mut SoftPasskey),
) {
    let http = reqwest::Client::new();
    let sessions = format!("{}/api/v1/device/sessions", server.base);
    let begin =
        || post(&http, format!("{sessions}/challenge"), json!({"device_id": phone.device_id}));
    let (_, first) = begin().await;
    let (_, second) = begin().await;
    let mut clone = phone.passkey.cloned();
    tweak(&mut clone);
    let answer = |challenge: &Value, assertion: Value| json!({"device_id": phone.device_id, "ceremony_id": challenge["ceremony_id"], "passkey": assertion});
    let original = phone.passkey.get(&first["passkey"]);
    let cloned = clone.get(&second["passkey"]);
    let (status, body) = post(&http, sessions.clone(), answer(&first, original)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(&http, sessions, answer(&second, cloned)).await;
    assert_eq!((status, problem(&body)), (StatusCode::FORBIDDEN, "bad-signature"));
}

#[tokio::test]
async fn passkey_answers_are_checked_and_used_once() {
    for backend in backends() {
        let server = localhost_server(&backend).await;
        let http = reqwest::Client::new();

        // A registration answered for another origin is refused and stores nothing; the
        // ceremony is used up.
        let (_, started) = start_registration(&server, 5).await;
        let ceremony = started["ceremony_id"].as_str().unwrap();
        let finish_url = format!("{}/api/v1/device/passkey-registrations/{ceremony}", server.base);
        let mut phishing = SoftPasskey::new("http://localhost.evil.example:1");
        phishing.rp_id = "localhost".into();
        let (status, body) = post(
            &http,
            finish_url.clone(),
            json!({"credential": phishing.create(&started["passkey"])}),
        )
        .await;
        assert_eq!((status, problem(&body)), (StatusCode::BAD_REQUEST, "passkey-rejected"));
        let mut honest = SoftPasskey::new(&server.base);
        let (status, body) =
            post(&http, finish_url, json!({"credential": honest.create(&started["passkey"])}))
                .await;
        assert_eq!((status, problem(&body)), (StatusCode::GONE, "registration-expired"));

        // Without user verification, no account.
        let (_, started) = start_registration(&server, 5).await;
        let mut careless = SoftPasskey::new(&server.base);
        careless.user_verified = false;
        let url = format!(
            "{}/api/v1/device/passkey-registrations/{}",
            server.base,
            started["ceremony_id"].as_str().unwrap()
        );
        let (status, body) =
            post(&http, url, json!({"credential": careless.create(&started["passkey"])})).await;
        assert_eq!((status, problem(&body)), (StatusCode::BAD_REQUEST, "passkey-rejected"));
        let (status, body) = post(
            &http,
            "x".replace('x', &format!("{}/api/v1/device/passkey-registrations/nope", server.base)),
            json!({"credential": {"id": 1}}),
        )
        .await;
        assert_eq!((status, problem(&body)), (StatusCode::BAD_REQUEST, "invalid-credential"));

        // Details that do not match (told once the identity check passed) get the same answer
        // as for enrolment, before any passkey.
        let (hkid, _, dob) = server.person(5);
        let (status, body) = post(
            &http,
            format!("{}/api/v1/device/passkey-registrations", server.base),
            json!({"id_number": hkid, "name_en": "SOMEONE Else", "date_of_birth": dob,
                "evidence": {"session": "pass", "reference": support::identity_check(&server.base, &hkid).await}}),
        )
        .await;
        assert_eq!(
            (status, problem(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "identity-mismatch")
        );

        let mut phone = register(&server, 5).await;
        let (status, body) = start_registration(&server, 5).await;
        assert_eq!((status, problem(&body)), (StatusCode::CONFLICT, "account-exists"));

        // A credential id already registered, here offered for someone else, fails the
        // ceremony (WebAuthn L3 section 7.1 step 26); that person can still register.
        let (_, started) = start_registration(&server, 7).await;
        let url = format!(
            "{}/api/v1/device/passkey-registrations/{}",
            server.base,
            started["ceremony_id"].as_str().unwrap()
        );
        let (status, body) =
            post(&http, url, json!({"credential": phone.passkey.create(&started["passkey"])}))
                .await;
        assert_eq!((status, problem(&body)), (StatusCode::BAD_REQUEST, "passkey-rejected"));
        register(&server, 7).await;

        let (client_id, _) = server.client(CALLBACK).await;
        let browser = support::browser();
        let req = AuthRequest::new(&client_id, CALLBACK, "openid");
        let waiting =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        let request =
            format!("{}/api/v1/device/login-requests/{}", server.base, waiting.link.request_id);
        let decision = |challenge: &Value, assertion: Value| {
            json!({
                "device_id": phone.device_id, "decision": "approve", "match_code": waiting.match_code,
                "approved_scopes": ["openid"], "ceremony_id": challenge["ceremony_id"], "passkey": assertion,
            })
        };

        // An assertion made for an app session does not approve a login.
        let (_, session_challenge) = post(
            &http,
            format!("{}/api/v1/device/sessions/challenge", server.base),
            json!({"device_id": phone.device_id}),
        )
        .await;
        let assertion = phone.passkey.get(&session_challenge["passkey"]);
        let (status, body) =
            post(&http, format!("{request}/decision"), decision(&session_challenge, assertion))
                .await;
        assert_eq!((status, problem(&body)), (StatusCode::GONE, "challenge-expired"));

        // A counter that goes backwards means a cloned key: refused.
        let (_, challenge) = post(
            &http,
            format!("{request}/passkey-challenge"),
            json!({"device_id": phone.device_id}),
        )
        .await;
        phone.passkey.counter = 100;
        let _ = phone.passkey.get(&challenge["passkey"]);
        let fresh = phone.passkey.get(&challenge["passkey"]);
        let (status, body) =
            post(&http, format!("{request}/decision"), decision(&challenge, fresh.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The same assertion again: its ceremony is gone.
        let (status, body) =
            post(&http, format!("{request}/decision"), decision(&challenge, fresh)).await;
        assert_eq!((status, problem(&body)), (StatusCode::CONFLICT, "login-request-decided"));

        let waiting2 =
            support::open_login_page(&browser, &server.base, &req.url(&server.base)).await;
        let request2 =
            format!("{}/api/v1/device/login-requests/{}", server.base, waiting2.link.request_id);
        let (_, challenge) = post(
            &http,
            format!("{request2}/passkey-challenge"),
            json!({"device_id": phone.device_id}),
        )
        .await;
        phone.passkey.counter = 10;
        let stale = phone.passkey.get(&challenge["passkey"]);
        let body = json!({
            "device_id": phone.device_id, "decision": "approve", "match_code": waiting2.match_code,
            "approved_scopes": ["openid"], "ceremony_id": challenge["ceremony_id"], "passkey": stale,
        });
        let (status, answer) = post(&http, format!("{request2}/decision"), body).await;
        assert_eq!((status, problem(&answer)), (StatusCode::FORBIDDEN, "bad-signature"));
        let view: Value = reqwest::get(&request2).await.unwrap().json().await.unwrap();
        assert_eq!(
            view["request_id"],
            waiting2.link.request_id.as_str(),
            "a refused answer changes nothing"
        );

        // A passkey device cannot use the software-key signature instead.
        let body = json!({
            "device_id": phone.device_id, "decision": "deny", "signature": "AAAA",
        });
        let (status, answer) = post(&http, format!("{request2}/decision"), body).await;
        assert_eq!((status, problem(&answer)), (StatusCode::FORBIDDEN, "bad-signature"));

        // Two ceremonies begun together, answered by a key and its clone with the same counter:
        // each is newer than the record the ceremonies began from, but only the first counts.
        phone.passkey.counter = 200;
        clone_races_its_key(&server, &mut phone, |_| {}).await;

        // The same with a synced passkey whose clone also flips the backed-up flag, which the
        // WebAuthn library counts as a change of its own: the counter still decides.
        let mut synced = SoftPasskey::new(&server.base);
        (synced.backup_eligible, synced.backed_up) = (true, true);
        let mut phone = register_with(&server, 8, synced).await;
        phone.passkey.counter = 50;
        clone_races_its_key(&server, &mut phone, |clone| clone.backed_up = false).await;
    }
}

#[tokio::test]
async fn app_sessions_are_needed_short_and_tied_to_an_active_device() {
    for backend in backends() {
        let server =
            spawn_server_with(&backend, Options { fixed_clock: true, ..Options::default() }).await;
        // A software wallet opens app sessions too, by signing the challenge.
        let wallet = server.enrolled_wallet(6).await;
        let session = wallet.open_session().await.unwrap();
        let data = wallet.my_data(&session).await.unwrap();
        assert_eq!(data.hkid, server.person(6).0);
        assert!(wallet.services(&session).await.unwrap().is_empty());

        for token in ["", "not-a-token"] {
            let (status, body) = me(&server.base, token, "").await;
            assert_eq!((status, problem(&body)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
        }
        // The authorization scheme is case-insensitive (RFC 9110 section 11.1); others are not Bearer.
        for (scheme, expected) in [
            ("bearer", StatusCode::OK),
            ("BEARER", StatusCode::OK),
            ("Basic", StatusCode::UNAUTHORIZED),
        ] {
            let res = reqwest::Client::new()
                .get(format!("{}/api/v1/device/me", server.base))
                .header("authorization", format!("{scheme} {}", session.token))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), expected, "{scheme}");
        }
        // A challenge is answered once.
        let http = reqwest::Client::new();
        let device_id = wallet.file.device_id.clone().unwrap();
        let (_, challenge) = post(
            &http,
            format!("{}/api/v1/device/sessions/challenge", server.base),
            json!({"device_id": device_id}),
        )
        .await;
        let body = json!({"device_id": device_id, "ceremony_id": challenge["ceremony_id"], "signature": "AAAA"});
        let (status, answer) =
            post(&http, format!("{}/api/v1/device/sessions", server.base), body.clone()).await;
        assert_eq!((status, problem(&answer)), (StatusCode::FORBIDDEN, "bad-signature"));
        let (status, answer) =
            post(&http, format!("{}/api/v1/device/sessions", server.base), body).await;
        assert_eq!((status, problem(&answer)), (StatusCode::GONE, "challenge-expired"));

        // Ten minutes later the session is over.
        server.clock.as_ref().unwrap().advance(601);
        let (status, _) = me(&server.base, &session.token, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // A session ends with its device: after a move to a new phone, the old one's is dead.
        let session = wallet.open_session().await.unwrap();
        let (hkid, name, dob) = server.person(6);
        let mut moved = civpass_wallet::Wallet::create(&server.base).unwrap();
        moved.enrol(&hkid, &name, &dob, None, Some(&wallet)).await.unwrap();
        let (status, _) = me(&server.base, &session.token, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(moved.open_session().await.is_ok());
    }
}

/// The login page's HTML for a browser that sends `accept` as Accept-Language.
async fn login_page(server: &TestServer, req: &AuthRequest, accept: &str, extra: &str) -> String {
    let browser = support::browser();
    let url = format!("{}{extra}", req.url(&server.base));
    let res = browser.get(url).header("accept-language", accept).send().await.unwrap();
    let page_url = format!("{}{}", server.base, support::location(&res));
    let res = browser.get(page_url).header("accept-language", accept).send().await.unwrap();
    res.text().await.unwrap()
}

#[tokio::test]
async fn pages_speak_the_citizens_language() {
    let server = civpass_testkit::spawn_server(&backends()[0]).await;
    let (client_id, _) = server.client(CALLBACK).await;
    let req = AuthRequest::new(&client_id, CALLBACK, "openid profile");
    let html = login_page(&server, &req, "zh-TW,zh;q=0.9,en;q=0.8", "").await;
    assert!(html.contains("<html lang=\"zh-HK\">") && html.contains("登入"), "{html}");
    assert!(html.contains("你的英文及中文姓名"));
    let html = login_page(&server, &req, "en-GB", "&ui_locales=zh-CN").await;
    assert!(html.contains("<html lang=\"zh-CN\">"), "ui_locales wins over Accept-Language");
    let html = login_page(&server, &req, "fr", "").await;
    assert!(
        html.contains("<html lang=\"en\">")
            && html.contains("Log in to \u{2068}Test service\u{2069}")
    );

    // ?lang= is remembered in a cookie, and error pages are translated too.
    let browser = support::browser();
    let res = browser.get(format!("{}/authorize?lang=zh-CN", server.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("civpass_lang=zh-CN"))
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<html lang=\"zh-CN\">") && html.contains("client_id is missing"),
        "{html}"
    );
    let html = browser
        .get(format!("{}/login/nope", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"zh-CN\">"));

    for tag in ["en", "zh-HK", "zh-CN"] {
        let res = reqwest::get(format!("{}/app/i18n/{tag}.json", server.base)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let catalog: Value = res.json().await.unwrap();
        assert!(catalog["approve.approve"].is_string());
    }
    assert_eq!(
        reqwest::get(format!("{}/app/i18n/fr.json", server.base)).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let shell = reqwest::get(format!("{}/app/login?request=x", server.base)).await.unwrap();
    assert!(
        shell.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'")
    );
    assert!(shell.text().await.unwrap().contains("manifest.webmanifest"));
    let worker =
        reqwest::get(format!("{}/app/sw.js", server.base)).await.unwrap().text().await.unwrap();
    assert!(!worker.contains("__CIVPASS_CACHE_VERSION__"), "the cache is named after the build");
}
