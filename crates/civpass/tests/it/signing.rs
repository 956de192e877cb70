//! Signing requests (issue 14, docs/PKI.md): a service asks, the citizen approves with the
//! device over exactly the digests, civpass signs; `civpass sign hash` and `civpass wallet
//! approve` drive it from the command line and OpenSSL checks the result. Then the attacks
//! docs/SECURITY.md lists: no approval, a reused one, swapped digests, a wrong code, another
//! signer, a basic or suspended citizen, a revoked device.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use base64::Engine;
use civpass_api::signing::Verdict;
use civpass_core::identity::guardian::age_on;
use civpass_testkit::{TestServer, backends, spawn_server};
use civpass_wallet::{LoginLink, WalletError};

fn adults(server: &TestServer, n: usize) -> Vec<usize> {
    let now = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock);
    (140..200)
        .filter(|i| age_on(server.registry.people()[*i].date_of_birth, now) >= 18)
        .take(n)
        .collect()
}

fn problem(e: WalletError) -> String {
    match e {
        WalletError::Problem(p) => p.problem_type.rsplit('/').next().unwrap_or("").to_owned(),
        other => format!("{other}"),
    }
}

/// A signing request made over HTTP as a service would: (link, match code, request id).
async fn request(
    server: &TestServer,
    client: (&str, &str),
    digests: &[[u8; 32]],
    expected_signer: Option<&str>,
) -> (LoginLink, String, String) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let documents: Vec<serde_json::Value> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| serde_json::json!({"name": format!("Synthetic form {i}"), "digest": b64.encode(d)}))
        .collect();
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/signing-requests", server.base))
        .basic_auth(client.0, Some(client.1))
        .json(&serde_json::json!({"documents": documents, "expected_signer": expected_signer}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let made: serde_json::Value = res.json().await.unwrap();
    let link = LoginLink::parse_signing(made["link"].as_str().unwrap()).unwrap();
    let id = made["request_id"].as_str().unwrap().to_owned();
    (link, made["match_code"].as_str().unwrap().to_owned(), id)
}

async fn status(server: &TestServer, client: (&str, &str), id: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}/api/v1/signing-requests/{id}", server.base))
        .basic_auth(client.0, Some(client.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

// Several threads: the test reads the service command's output while the server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_signs_through_the_command_line_and_openssl_verifies_it() {
    let server = spawn_server(&backends()[0]).await;
    let people = adults(&server, 1);
    let wallet = server.enrolled_wallet(people[0]).await;
    wallet.upgrade("pass").await.unwrap();
    server.services.signing.init_pki("civpass test").await.unwrap();
    let (client_id, secret) = server.client(crate::support::CALLBACK).await;

    let dir = server.db.dir.join("sign-test");
    std::fs::create_dir_all(&dir).unwrap();
    let wallet_file = dir.join("wallet.json");
    wallet.save(&wallet_file).unwrap();
    std::fs::write(dir.join("permit.pdf"), b"%PDF-1.7 a synthetic parking permit").unwrap();
    std::fs::write(
        dir.join("root.pem"),
        server.services.signing.root_certificate_pem().await.unwrap(),
    )
    .unwrap();

    let mut service = Command::new(env!("CARGO_BIN_EXE_civpass"))
        .args(["sign", "hash", "permit.pdf", "--output", "permit.p7s", "--server", &server.base])
        .args(["--client-id", &client_id, "--client-secret", &secret, "--wait", "60"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(service.stdout.take().unwrap()).lines();
    let link = lines.next().unwrap().unwrap().trim_start_matches("link: ").to_owned();
    let code = lines.next().unwrap().unwrap().trim_start_matches("matching code: ").to_owned();
    let fingerprint = lines.next().unwrap().unwrap().trim_start_matches("fingerprint: ").to_owned();
    let approve = tokio::task::spawn_blocking({
        let (dir, wallet_file) = (dir.clone(), wallet_file.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_civpass"))
                .args(["wallet", "approve", &link, "--match", &code, "--wallet"])
                .arg(&wallet_file)
                .current_dir(&dir)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&approve.stdout);
    assert!(approve.status.success(), "{shown}{}", String::from_utf8_lossy(&approve.stderr));
    assert!(shown.contains("Synthetic") || shown.contains("permit.pdf"), "{shown}");
    assert!(
        shown.contains(&fingerprint),
        "the app shows the fingerprint the service shows: {shown}"
    );
    let done =
        tokio::task::spawn_blocking(move || service.wait_with_output().unwrap()).await.unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));

    let out = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in", "permit.p7s"])
        .args(["-content", "permit.pdf", "-CAfile", "root.pem", "-out", "/dev/null"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_civpass"))
        .args(["verify", "permit.pdf", "--detached", "permit.p7s", "--root", "root.pem"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let name = &server.registry.people()[people[0]].name_en;
    assert!(String::from_utf8_lossy(&out.stdout).contains(name.as_str()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn signing_without_the_right_approval_fails_every_way() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let people = adults(&server, 3);
        let citizen = server.enrolled_wallet(people[0]).await;
        citizen.upgrade("pass").await.unwrap();
        let other = server.enrolled_wallet(people[1]).await;
        other.upgrade("pass").await.unwrap();
        let basic = server.enrolled_wallet(people[2]).await;
        server.services.signing.init_pki("civpass test").await.unwrap();
        let (id, secret) = server.client(crate::support::CALLBACK).await;
        let client = (id.as_str(), secret.as_str());
        let digest = civpass_crypto::secret::sha256(b"a synthetic tenancy agreement");

        // Nothing is signed without an approval; another service cannot read the request.
        let (link, code, request_id) = request(&server, client, &[digest], None).await;
        assert_eq!(status(&server, client, &request_id).await["status"], "pending");
        // Stored sealed: a document's name can name a person.
        use civpass_core::signing::store::SigningStore;
        let row = server.store.find_signing_request(&request_id).await.unwrap().unwrap();
        assert!(!row.sealed_documents.windows(8).any(|w| w == b"Syntheti"));
        let (id2, secret2) = server.client(crate::support::CALLBACK).await;
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/signing-requests/{request_id}", server.base))
            .basic_auth(&id2, Some(&secret2))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);

        // Digests swapped: the device approved others than the request holds.
        let mut view = citizen.fetch_signing(&link).await.unwrap();
        let honest = view.clone();
        view.documents[0].digest =
            base64::engine::general_purpose::STANDARD.encode(civpass_crypto::secret::sha256(b"x"));
        let err = citizen.decide_signing(&link, &view, Verdict::Approve, &code).await.unwrap_err();
        assert_eq!(problem(err), "bad-signature");
        // Approved as shown, once; the same approval again finds nothing pending.
        citizen.decide_signing(&link, &honest, Verdict::Approve, &code).await.unwrap();
        let done = status(&server, client, &request_id).await;
        assert_eq!(done["status"], "signed");
        assert_eq!(done["signatures"].as_array().unwrap().len(), 1);
        let again =
            citizen.decide_signing(&link, &honest, Verdict::Approve, &code).await.unwrap_err();
        assert_eq!(problem(again), "signing-request-decided");

        // A wrong matching code ends the request (a phishing page shows another).
        let (link, code, request_id) = request(&server, client, &[digest], None).await;
        let view = citizen.fetch_signing(&link).await.unwrap();
        let wrong = if code == "00" { "01" } else { "00" };
        let err = citizen.decide_signing(&link, &view, Verdict::Approve, wrong).await.unwrap_err();
        assert_eq!(problem(err), "wrong-match-code");
        assert_eq!(status(&server, client, &request_id).await["status"], "refused");

        // Another signer than the one the service named; a basic citizen.
        let sub = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock).to_string();
        let (link, code, request_id) = request(&server, client, &[digest], Some(&sub)).await;
        let view = other.fetch_signing(&link).await.unwrap();
        let err = other.decide_signing(&link, &view, Verdict::Approve, &code).await.unwrap_err();
        assert_eq!(problem(err), "signing-refused");
        // Nor can another citizen deny it, or end it with a wrong code: it still waits.
        let err = other.decide_signing(&link, &view, Verdict::Deny, "").await.unwrap_err();
        assert_eq!(problem(err), "signing-refused");
        let err = other.decide_signing(&link, &view, Verdict::Approve, "99").await.unwrap_err();
        assert_eq!(problem(err), "signing-refused");
        assert_eq!(status(&server, client, &request_id).await["status"], "pending");
        let (link, code, _) = request(&server, client, &[digest], None).await;
        let view = basic.fetch_signing(&link).await.unwrap();
        let err = basic.decide_signing(&link, &view, Verdict::Approve, &code).await.unwrap_err();
        assert_eq!(problem(err), "signing-refused");

        // A suspended citizen; a denial signs nothing.
        let hkid = server.registry.people()[people[1]].hkid.to_string();
        server.services.account.suspend(&hkid, "synthetic test suspension").await.unwrap();
        let (link, code, _) = request(&server, client, &[digest], None).await;
        let view = other.fetch_signing(&link).await.unwrap();
        let err = other.decide_signing(&link, &view, Verdict::Approve, &code).await.unwrap_err();
        assert!(["signing-refused", "unknown-device"].contains(&problem(err).as_str()));
        let (link, _, request_id) = request(&server, client, &[digest], None).await;
        let view = citizen.fetch_signing(&link).await.unwrap();
        citizen.decide_signing(&link, &view, Verdict::Deny, "").await.unwrap();
        let denied = status(&server, client, &request_id).await;
        assert_eq!((denied["status"].as_str(), denied.get("signatures")), (Some("denied"), None));

        // A device whose account moved to another phone: revoked, it approves nothing; the
        // new phone signs.
        let person = &server.registry.people()[people[0]];
        let mut moved = civpass_wallet::Wallet::create(&server.base).unwrap();
        let (hkid, dob) = (person.hkid.to_string(), person.date_of_birth.to_string());
        moved.enrol(&hkid, &person.name_en, &dob, None, Some(&citizen)).await.unwrap();
        let (link, code, _) = request(&server, client, &[digest], None).await;
        let view = citizen.fetch_signing(&link).await.unwrap();
        let err = citizen.decide_signing(&link, &view, Verdict::Approve, &code).await.unwrap_err();
        assert_eq!(problem(err), "unknown-device");
        let citizen = moved;

        // Several documents under one approval, each its own signature.
        let digests = [digest, civpass_crypto::secret::sha256(b"a second synthetic form")];
        let (link, code, request_id) = request(&server, client, &digests, None).await;
        let view = citizen.fetch_signing(&link).await.unwrap();
        citizen.decide_signing(&link, &view, Verdict::Approve, &code).await.unwrap();
        let signed = status(&server, client, &request_id).await;
        assert_eq!(signed["signatures"].as_array().unwrap().len(), 2);

        // A service's request with a bad digest or too many documents is refused.
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/signing-requests", server.base))
            .basic_auth(client.0, Some(client.1))
            .json(&serde_json::json!({"documents": [{"name": "x", "digest": "AAAA"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/signing-requests", server.base))
            .basic_auth(client.0, Some("wrong secret"))
            .json(&serde_json::json!({"documents": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
}

#[tokio::test]
async fn an_expired_signing_request_signs_nothing() {
    let server = civpass_testkit::spawn_server_with(
        &backends()[0],
        civpass_testkit::Options { fixed_clock: true, ..Default::default() },
    )
    .await;
    let people = adults(&server, 1);
    let citizen = server.enrolled_wallet(people[0]).await;
    citizen.upgrade("pass").await.unwrap();
    server.services.signing.init_pki("civpass test").await.unwrap();
    let (id, secret) = server.client(crate::support::CALLBACK).await;
    let client = (id.as_str(), secret.as_str());
    let digest = civpass_crypto::secret::sha256(b"a synthetic late form");
    let (link, code, request_id) = request(&server, client, &[digest], None).await;
    let view = citizen.fetch_signing(&link).await.unwrap();
    server.clock.as_ref().unwrap().advance(civpass_core::signing::requests::SIGNING_REQUEST_TTL);
    let err = citizen.decide_signing(&link, &view, Verdict::Approve, &code).await.unwrap_err();
    assert_eq!(problem(err), "signing-request-decided");
    assert_eq!(status(&server, client, &request_id).await["status"], "expired");
    // A day later the housekeeping forgets it.
    server.clock.as_ref().unwrap().advance(86_401);
    server.services.purge_expired().await.unwrap();
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/signing-requests/{request_id}", server.base))
        .basic_auth(client.0, Some(client.1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
