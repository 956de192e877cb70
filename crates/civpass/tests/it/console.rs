//! The counter console's sign-in and API, on both databases: staff make their passkey through
//! a one-time link, administrators also give a TOTP code (each accepted once), officers act at
//! their points through the console, and the app's passkey device shows a registration code
//! and confirms the officer's upgrade with its passkey. And the attacks that must fail.

use civpass_core::counter::model::{PointKind, StaffRole};
use civpass_core::kernel::clock::Clock;
use civpass_testkit::{Options, SoftPasskey, TestServer, backends, spawn_server_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::TOTP;

use crate::app::{post, problem, register};
use crate::counter::{always_open, card};

/// A browser at the console: its cookies, the passkey it holds, and the origin it runs on.
struct Desk {
    http: reqwest::Client,
    base: String,
    passkey: SoftPasskey,
}

impl Desk {
    fn new(server: &TestServer) -> Desk {
        Desk {
            http: reqwest::Client::builder().cookie_store(true).build().unwrap(),
            base: server.base.clone(),
            passkey: SoftPasskey::new(&server.base),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}/counter/api/{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).header("origin", &self.base),
        };
        let req = match body {
            Some(body) => req.json(&body),
            None => req,
        };
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Follows an enrolment link: returns the staff id and, for an administrator, the TOTP.
    async fn enrol(&mut self, link: &str) -> (String, Option<TOTP>) {
        let token = link.rsplit_once('#').unwrap().1;
        let (status, start) = self.call("POST", "enrolment", Some(json!({"token": token}))).await;
        assert_eq!(status, StatusCode::OK, "{start}");
        assert_eq!(
            start["passkey"]["publicKey"]["authenticatorSelection"]["userVerification"],
            "required"
        );
        let credential = self.passkey.create(&start["passkey"]);
        let staff_id = start["staff"]["id"].as_str().unwrap().to_owned();
        let (status, done) = self
            .call(
                "POST",
                "enrolment/finish",
                Some(json!({"staff_id": staff_id, "ceremony_id": start["ceremony_id"], "credential": credential})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        let totp = done["totp"]["uri"].as_str().map(|uri| TOTP::from_url(uri).unwrap());
        (staff_id, totp)
    }

    async fn sign_in(&mut self, staff_id: &str, totp: Option<String>) -> (StatusCode, Value) {
        let (status, start) =
            self.call("POST", "sign-in", Some(json!({"staff_id": staff_id}))).await;
        if status != StatusCode::OK {
            return (status, start);
        }
        let credential = self.passkey.get(&start["passkey"]);
        self.call(
            "POST",
            "sign-in/finish",
            Some(json!({"staff_id": staff_id, "ceremony_id": start["ceremony_id"], "credential": credential, "totp": totp})),
        )
        .await
    }
}

fn code_at(totp: &TOTP, server: &TestServer) -> String {
    let now = server.clock.as_ref().unwrap().now();
    totp.generate(u64::try_from(now).unwrap())
}

async fn console_server(backend: &civpass_testkit::Backend) -> TestServer {
    spawn_server_with(backend, Options { localhost: true, fixed_clock: true, ..Options::default() })
        .await
}

#[tokio::test]
async fn an_administrator_enrols_with_a_passkey_and_signs_in_with_a_totp_code_used_once() {
    for backend in backends() {
        let server = console_server(&backend).await;
        let counter = &server.services.counter;
        let admin = counter.add_staff("Admin Chan", StaffRole::Admin).await.unwrap();
        let link = counter.enrolment_link(&admin.id).await.unwrap();
        let url = civpass_core::counter::console::enrolment_url(&server.base, &link.token);
        let mut desk = Desk::new(&server);
        let (id, totp) = desk.enrol(&url).await;
        assert_eq!(id, admin.id);
        let totp = totp.expect("an administrator is given a TOTP secret");

        // The link is used once.
        let other = Desk::new(&server);
        let (status, body) =
            other.call("POST", "enrolment", Some(json!({"token": link.token}))).await;
        assert_eq!((status, problem(&body)), (StatusCode::GONE, "enrolment-link-invalid"));

        // No code, a wrong code: no session.
        let (status, body) = desk.sign_in(&admin.id, None).await;
        assert_eq!((status, problem(&body)), (StatusCode::UNAUTHORIZED, "totp-required"), "{body}");
        let (status, body) = desk.sign_in(&admin.id, Some("000000".into())).await;
        let wrong = code_at(&totp, &server) == "000000";
        if !wrong {
            assert_eq!((status, problem(&body)), (StatusCode::FORBIDDEN, "totp-invalid"));
        }
        let (status, _) = desk.call("GET", "session", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // The right code signs in; the same code again does not (RFC 6238 section 5.2).
        let code = code_at(&totp, &server);
        let (status, body) = desk.sign_in(&admin.id, Some(code.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, session) = desk.call("GET", "session", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(session["staff"]["role"], "admin");
        let mut third = Desk { passkey: desk.passkey.cloned(), ..Desk::new(&server) };
        let (status, body) = third.sign_in(&admin.id, Some(code)).await;
        assert_eq!((status, problem(&body)), (StatusCode::FORBIDDEN, "totp-invalid"));
        // The next step's code works.
        server.clock.as_ref().unwrap().advance(30);
        let (status, _) = third.sign_in(&admin.id, Some(code_at(&totp, &server))).await;
        assert_eq!(status, StatusCode::OK);

        // A new link (a lost or stolen passkey) ends the sessions and the old passkey at once.
        counter.enrolment_link(&admin.id).await.unwrap();
        let (status, _) = third.call("GET", "session", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        server.clock.as_ref().unwrap().advance(30);
        let (status, body) = third.sign_in(&admin.id, Some(code_at(&totp, &server))).await;
        assert_eq!((status, problem(&body)), (StatusCode::FORBIDDEN, "sign-in-failed"));
    }
}

#[tokio::test]
async fn officers_work_through_the_console_and_the_app_confirms_an_upgrade_with_its_passkey() {
    for backend in backends() {
        let server = console_server(&backend).await;
        let counter = &server.services.counter;
        let admin = counter.add_staff("Admin Chan", StaffRole::Admin).await.unwrap();
        let link = counter.enrolment_link(&admin.id).await.unwrap();
        let mut admin_desk = Desk::new(&server);
        let (_, totp) = admin_desk
            .enrol(&civpass_core::counter::console::enrolment_url(&server.base, &link.token))
            .await;
        let (status, _) =
            admin_desk.sign_in(&admin.id, Some(code_at(&totp.unwrap(), &server))).await;
        assert_eq!(status, StatusCode::OK);

        // The administrator adds a point and an officer, and assigns them.
        let point = counter.add_point(always_open(PointKind::Counter)).await.unwrap();
        let (status, added) = admin_desk
            .call("POST", "staff", Some(json!({"name": "Officer Wong", "role": "officer"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        let officer_id = added["staff"]["id"].as_str().unwrap().to_owned();
        let (status, _) = admin_desk
            .call(
                "POST",
                &format!("staff/{officer_id}/assign"),
                Some(json!({"point_id": point.id})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        // The officer enrols and signs in without a TOTP code; an officer cannot administer.
        let mut desk = Desk::new(&server);
        let (_, no_totp) = desk.enrol(added["enrolment_link"].as_str().unwrap()).await;
        assert!(no_totp.is_none());
        let (status, body) = desk.sign_in(&officer_id, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, session) = desk.call("GET", "session", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(session["points"][0]["id"], point.id.as_str());
        assert_eq!(session["points"][0]["open_now"], true);

        // The administrator changes the point's hours: closed now, then open again; a counter
        // is not given a mobile team's schedule.
        let hours = format!("points/{}/hours", point.id);
        let (status, body) = admin_desk
            .call("POST", &hours, Some(json!({"hours": "2026-12-01 09:00-10:00 Tai Po"})))
            .await;
        assert_eq!((status, problem(&body)), (StatusCode::BAD_REQUEST, "invalid-request"));
        let closed =
            if civpass_core::counter::hours::hong_kong_time(server.clock.as_ref().unwrap().now())
                .starts_with("Sun")
            {
                "mon 00:00-00:01"
            } else {
                "sun 00:00-00:01"
            };
        let (status, changed) =
            admin_desk.call("POST", &hours, Some(json!({"hours": closed}))).await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        let (_, session) = desk.call("GET", "session", None).await;
        assert_eq!(session["points"][0]["open_now"], false);
        let (status, _) =
            admin_desk.call("POST", &hours, Some(json!({"hours": "mon-sun 00:00-24:00"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = desk.call("GET", "staff", None).await;
        assert_eq!((status, problem(&body)), (StatusCode::FORBIDDEN, "forbidden"));

        // A basic citizen in the app, with a passkey, shows a registration code.
        let mut phone = register(&server, 3).await;
        let token = phone.session(&server.base).await;
        let http = reqwest::Client::new();
        let res = http
            .post(format!("{}/api/v1/device/me/registration-code", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let issued: Value = res.json().await.unwrap();
        assert!(issued["qr"].as_str().unwrap().starts_with("data:image/svg+xml;base64,"));
        let code = issued["code"].as_str().unwrap();

        // Distinct outcomes for the officer: details that differ first (the code survives).
        let mut wrong = card(&server, 3);
        wrong.name_en = "SOMEONE ELSE".into();
        let act = |code: &str, card: &civpass_core::counter::model::CardDetails| {
            json!({"kind": "upgrade", "point_id": point.id, "code": code,
                "id_number": card.id_number, "name_en": card.name_en, "date_of_birth": card.date_of_birth})
        };
        let (status, report) = desk.call("POST", "acts", Some(act(code, &wrong))).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["outcome"], "details_differ");
        // A request from another origin changes nothing.
        let res = desk
            .http
            .post(format!("{}/counter/api/acts", server.base))
            .header("origin", "https://phishing.example")
            .json(&act(code, &card(&server, 3)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // The code was used by the first act: a new one.
        let res = http
            .post(format!("{}/api/v1/device/me/registration-code", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let issued: Value = res.json().await.unwrap();
        let code = issued["code"].as_str().unwrap();
        let (status, report) = desk.call("POST", "acts", Some(act(code, &card(&server, 3)))).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["outcome"], "awaiting_citizen");
        let act_id = report["act_id"].as_str().unwrap();

        // The app sees it waiting, and confirms with its passkey.
        let res = http
            .get(format!("{}/api/v1/device/me/pending", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let pending: Value = res.json().await.unwrap();
        assert_eq!(pending["pending"][0]["id"], act_id);
        assert_eq!(pending["pending"][0]["kind"], "upgrade");
        let challenge: Value = http
            .post(format!("{}/api/v1/device/me/pending/{act_id}/challenge", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // An assertion for a session does not confirm an act.
        let (_, session_challenge) = post(
            &http,
            format!("{}/api/v1/device/sessions/challenge", server.base),
            json!({"device_id": phone.device_id}),
        )
        .await;
        let stray = phone.passkey.get(&session_challenge["passkey"]);
        let res = http
            .post(format!("{}/api/v1/device/me/pending/{act_id}/confirm", server.base))
            .bearer_auth(&token)
            .json(&json!({"ceremony_id": session_challenge["ceremony_id"], "passkey": stray}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let assertion = phone.passkey.get(&challenge["passkey"]);
        let res = http
            .post(format!("{}/api/v1/device/me/pending/{act_id}/confirm", server.base))
            .bearer_auth(&token)
            .json(&json!({"ceremony_id": challenge["ceremony_id"], "passkey": assertion}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let done: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["tier"], "plus");

        // A disabled officer's session ends at once.
        let (status, _) =
            admin_desk.call("POST", &format!("staff/{officer_id}/disable"), None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = desk.call("GET", "session", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = desk.sign_in(&officer_id, None).await;
        assert_eq!((status, problem(&body)), (StatusCode::FORBIDDEN, "sign-in-failed"));
    }
}

#[tokio::test]
async fn a_new_citizen_registers_at_plus_at_a_counter_with_the_apps_passkey() {
    for backend in backends() {
        let server = console_server(&backend).await;
        let counter = &server.services.counter;
        let point = counter.add_point(always_open(PointKind::Counter)).await.unwrap();
        let officer = counter.add_staff("Officer Ng", StaffRole::Officer).await.unwrap();
        counter.assign(&officer.id, &point.id).await.unwrap();
        let http = reqwest::Client::new();

        // The app makes a passkey; the code is bound to it, and a token follows it.
        let (status, options) =
            post(&http, format!("{}/api/v1/device/counter-passkeys", server.base), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{options}");
        let mut passkey = SoftPasskey::new(&server.base);
        let credential = passkey.create(&options["passkey"]);
        let (status, made) = post(
            &http,
            format!(
                "{}/api/v1/device/counter-passkeys/{}",
                server.base,
                options["ceremony_id"].as_str().unwrap()
            ),
            json!({ "credential": credential }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let token = made["token"].as_str().unwrap();
        assert!(made["qr"].as_str().unwrap().starts_with("data:image/svg+xml;base64,"));

        // The officer registers the card's holder on it.
        let report = counter
            .act(civpass_core::counter::CounterRequest {
                kind: civpass_core::counter::model::ActKind::Register,
                staff_id: &officer.id,
                point_id: &point.id,
                code: made["code"].as_str().unwrap(),
                card: card(&server, 41),
            })
            .await
            .unwrap();
        assert_eq!(report.outcome.as_str(), "awaiting_citizen");

        // The app sees it with its token (another token sees nothing) and confirms.
        let base = format!("{}/api/v1/device/counter-passkey-pending", server.base);
        let res = http.get(&base).bearer_auth("not-the-token").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let pending: Value =
            http.get(&base).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        let act_id = pending["pending"][0]["id"].as_str().unwrap();
        assert_eq!(pending["pending"][0]["kind"], "register");
        let challenge: Value = http
            .post(format!("{base}/{act_id}/challenge"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let assertion = passkey.get(&challenge["passkey"]);
        let res = http
            .post(format!("{base}/{act_id}/confirm"))
            .bearer_auth(token)
            .json(&json!({"ceremony_id": challenge["ceremony_id"], "passkey": assertion}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let done: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["tier"], "plus");

        // The passkey is the account's device now: it opens the app's session.
        let mut phone =
            crate::app::Phone { passkey, device_id: done["device_id"].as_str().unwrap().into() };
        let session = phone.session(&server.base).await;
        let me: Value = http
            .get(format!("{}/api/v1/device/me", server.base))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["tier"], "plus");
        // The token is used up.
        let res = http.get(&base).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}
