//! The platform's PKI (issue 14, docs/PKI.md): `pki init` makes the CAs and issues every plus
//! citizen a signing certificate; a citizen who becomes plus later gets one at once; the root
//! exports as the trust anchor, its key can leave the platform while issuing goes on; OpenSSL
//! checks the chains; certificates name no ID number and are stored sealed.

use std::process::Command;

use civpass_core::identity::guardian::age_on;
use civpass_core::signing::store::SigningStore;
use civpass_testkit::{TestServer, backends, spawn_server};
use civpass_wallet::Wallet;

fn adults(server: &TestServer, n: usize) -> Vec<usize> {
    let now = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock);
    (120..200)
        .filter(|i| age_on(server.registry.people()[*i].date_of_birth, now) >= 18)
        .take(n)
        .collect()
}

fn account_of(wallet: &Wallet) -> civpass_core::kernel::AccountId {
    wallet.file.account_id.clone().unwrap().into()
}

/// A signature made under a PKI of the test's own (not the platform's), as the verify
/// endpoint's request.
fn foreign_signature() -> serde_json::Value {
    use base64::Engine;
    use civpass_pki::ca::{self, Authority, SignerSubject};
    use civpass_pki::cades::{SignedAttributes, detached_signature};
    let now = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock);
    let root = Authority::new_root("Elsewhere Root", "elsewhere", now - 60, 5).unwrap();
    let issuing = root.new_issuing("Elsewhere CA", "elsewhere", now - 60, 5).unwrap();
    let (key, spki) = ca::new_software_key().unwrap();
    let subject = SignerSubject { common_name: "WONG Mei Ling".into(), pseudonym: "CP-Y".into() };
    let signer = issuing
        .issue_signing_certificate(
            &subject,
            &spki,
            now - 60,
            now + 86_400,
            ca::SANDBOX_SIGNING_POLICY,
        )
        .unwrap();
    let digest = civpass_crypto::secret::sha256(b"a synthetic permit");
    let attributes = SignedAttributes::new(&digest, &signer, Some(now)).unwrap();
    let signature = ca::sign_with_software_key(&key, &attributes.to_be_signed().unwrap()).unwrap();
    let p7s = detached_signature(attributes, &signature, &[issuing.certificate]).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::json!({"signature": b64.encode(p7s), "document_digest": b64.encode(digest)})
}

#[tokio::test]
async fn the_pki_issues_plus_citizens_certificates_that_chain_to_the_exported_root() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let people = adults(&server, 4);
        let signing = &server.services.signing;
        // Plus before the PKI exists: nothing to issue with yet.
        let early = server.enrolled_wallet(people[0]).await;
        assert_eq!(early.upgrade("pass").await.unwrap().tier, "plus");
        let basic = server.enrolled_wallet(people[1]).await;
        assert!(signing.live_credential(&account_of(&early)).await.unwrap().is_none());
        assert!(signing.root_certificate_pem().await.is_err(), "no PKI yet");
        let foreign = foreign_signature();
        let check = |body: serde_json::Value| {
            let base = server.base.clone();
            async move {
                let res = reqwest::Client::new()
                    .post(format!("{base}/api/v1/signatures/verify"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                (status, res.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (status, body) = check(foreign.clone()).await;
        assert_eq!(
            (status, body["type"].as_str().map(|t| t.ends_with("/no-pki"))),
            (409, Some(true))
        );

        let made = signing.init_pki("civpass test").await.unwrap();
        assert_eq!((made.created, made.issued), (true, 1), "the plus citizen, not the basic one");
        let again = signing.init_pki("civpass test").await.unwrap();
        assert_eq!((again.created, again.issued), (false, 0));
        assert!(signing.live_credential(&account_of(&basic)).await.unwrap().is_none());

        // The endpoint checks against the platform's root: a signature under another root is
        // read, its content matches, and it is not trusted; what is not a request is a 400.
        let (status, report) = check(foreign.clone()).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(
            (report["valid"].as_bool(), report["trusted"].as_bool()),
            (Some(false), Some(false))
        );
        assert_eq!(report["content_matches"], true);
        assert!(report["signer"].as_str().unwrap().contains("WONG Mei Ling"));
        for bad in [
            serde_json::json!({"signature": "***", "document_digest": foreign["document_digest"]}),
            serde_json::json!({"signature": foreign["signature"], "document_digest": "AAAA"}),
            serde_json::json!({"signature": "AAAA", "document_digest": foreign["document_digest"]}),
        ] {
            let (status, body) = check(bad).await;
            assert_eq!(status, 400, "{body}");
        }

        // Becoming plus afterwards issues one at once.
        let later = server.enrolled_wallet(people[2]).await;
        later.upgrade("pass").await.unwrap();
        let later_cert = signing.live_credential(&account_of(&later)).await.unwrap().unwrap();

        // The root leaves for cold storage; issuing goes on.
        let root_key = signing.root_key_pem().await.unwrap();
        assert!(root_key.starts_with("-----BEGIN PRIVATE KEY-----"));
        signing.remove_root_key().await.unwrap();
        assert!(signing.root_key_pem().await.is_err());
        assert!(signing.remove_root_key().await.is_err());
        let last = server.enrolled_wallet(people[3]).await;
        last.upgrade("pass").await.unwrap();
        let last_cert = signing.live_credential(&account_of(&last)).await.unwrap().unwrap();

        // OpenSSL: each chains to the exported root through the issuing CA.
        let dir = server.db.dir.join("pki-test");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("root.pem"), signing.root_certificate_pem().await.unwrap())
            .unwrap();
        let issuing = server.store.find_authority("issuing").await.unwrap().unwrap();
        let issuing = civpass_pki::ca::from_der(&issuing.certificate).unwrap();
        std::fs::write(dir.join("issuing.pem"), civpass_pki::ca::to_pem(&issuing).unwrap())
            .unwrap();
        let early_cert = signing.live_credential(&account_of(&early)).await.unwrap().unwrap();
        for (name, der, idx) in [
            ("early", early_cert, people[0]),
            ("later", later_cert, people[2]),
            ("last", last_cert, people[3]),
        ] {
            let cert = civpass_pki::ca::from_der(&der).unwrap();
            let file = dir.join(format!("{name}.pem"));
            std::fs::write(&file, civpass_pki::ca::to_pem(&cert).unwrap()).unwrap();
            let out = Command::new("openssl")
                .args(["verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem"])
                .arg(&file)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let subject = civpass_pki::ca::describe_name(&cert.tbs_certificate.subject);
            let person = &server.registry.people()[idx];
            assert!(subject.contains(&format!("CN={}", person.name_en)), "{subject}");
            assert!(subject.to_lowercase().contains("serialnumber=cp-"), "{subject}");
            let hkid = person.hkid.to_string();
            let digits: String = hkid.chars().filter(char::is_ascii_alphanumeric).collect();
            assert!(!subject.contains(&digits[1..7]), "the certificate names no ID number");
        }
        // A platform-made signature: openssl cms -verify accepts it against the exported root,
        // and so does the verify endpoint; a basic citizen gets none.
        let document = b"%PDF-1.7 a synthetic rental agreement".to_vec();
        let digest = civpass_crypto::secret::sha256(&document);
        let p7s = signing.sign_digests_for(&account_of(&early), &[digest]).await.unwrap().remove(0);
        std::fs::write(dir.join("agreement.pdf"), &document).unwrap();
        std::fs::write(dir.join("agreement.p7s"), &p7s).unwrap();
        let out = Command::new("openssl")
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-in", "agreement.p7s"])
            .args(["-content", "agreement.pdf", "-CAfile", "root.pem", "-out", "/dev/null"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let b64 = |bytes: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let (status, report) =
            check(serde_json::json!({"signature": b64(&p7s), "document_digest": b64(&digest)}))
                .await;
        assert_eq!(status, 200);
        assert_eq!(report["valid"], true, "{report}");
        assert!(matches!(
            signing.sign_digests_for(&account_of(&basic), &[digest]).await,
            Err(civpass_core::signing::SignError::NoCredential)
        ));

        // Stored sealed: no row holds the citizen's name.
        let rows = server.store.credentials_of(&account_of(&later)).await.unwrap();
        let name = server.registry.people()[people[2]].name_en.as_bytes().to_vec();
        for row in rows {
            for sealed in [&row.sealed_certificate, &row.sealed_key] {
                assert!(!sealed.windows(name.len()).any(|w| w == name.as_slice()));
            }
        }

        // Certificates end with the plus tier, and with a suspension; reinstatement issues a
        // new one (another serial), the old one staying revoked.
        let account = &server.services.account;
        let hkid = |idx: usize| server.registry.people()[idx].hkid.to_string();
        account.downgrade(&hkid(people[2]), "synthetic test downgrade").await.unwrap();
        assert!(signing.live_credential(&account_of(&later)).await.unwrap().is_none());
        let ended = server.store.credentials_of(&account_of(&later)).await.unwrap();
        assert_eq!(ended[0].revocation_reason.as_deref(), Some("downgraded"));
        assert!(matches!(
            signing.sign_digests_for(&account_of(&later), &[digest]).await,
            Err(civpass_core::signing::SignError::NoCredential)
        ));
        let before = server.store.credentials_of(&account_of(&last)).await.unwrap();
        account.suspend(&hkid(people[3]), "synthetic test suspension").await.unwrap();
        assert!(signing.live_credential(&account_of(&last)).await.unwrap().is_none());
        account.reinstate(&hkid(people[3]), "synthetic test reinstatement").await.unwrap();
        assert!(signing.live_credential(&account_of(&last)).await.unwrap().is_some());
        let after = server.store.credentials_of(&account_of(&last)).await.unwrap();
        assert_eq!(after.len(), before.len() + 1);
        let live: Vec<_> = after.iter().filter(|c| c.revoked_at.is_none()).collect();
        assert_eq!(live.len(), 1);
        assert_ne!(live[0].serial, before[0].serial);
        let old = after.iter().find(|c| c.serial == before[0].serial).unwrap();
        assert_eq!(old.revocation_reason.as_deref(), Some("suspended"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_pki_commands_make_export_and_remove_as_they_say() {
    let dir =
        std::env::temp_dir().join(format!("civpass-pki-cli-{}", uuid::Uuid::new_v4().simple()));
    let data = dir.to_str().unwrap().to_owned();
    let civpass = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_civpass"))
            .args(args)
            .args(["--data-dir", &data])
            .env_remove("CIVPASS_MASTER_KEY")
            .env_remove("CIVPASS_DATABASE_URL")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    assert!(civpass(&["init"]).0);
    let (ok, text) = civpass(&["pki", "export-root", "--output", &format!("{data}/root.pem")]);
    assert!(!ok && text.contains("pki init"), "{text}");
    let (ok, text) = civpass(&["pki", "init", "--json"]);
    assert!(ok && text.contains("\"created\": true"), "{text}");
    let root = format!("{data}/root.pem");
    assert!(civpass(&["pki", "export-root", "--output", &root]).0);
    let (ok, text) = civpass(&["pki", "export-root", "--output", &root]);
    assert!(!ok && text.contains("must not exist"), "{text}");
    let pem = std::fs::read_to_string(&root).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let key = format!("{data}/root-key.pem");
    assert!(civpass(&["pki", "export-root-key", "--output", &key]).0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o077, 0);
    }
    let (ok, text) = civpass(&["pki", "remove-root-key"]);
    assert!(!ok && text.contains("--yes"), "{text}");
    assert!(civpass(&["pki", "remove-root-key", "--yes"]).0);
    let (ok, text) = civpass(&["pki", "export-root-key", "--output", &format!("{data}/again.pem")]);
    assert!(!ok && text.contains("cold storage"), "{text}");
    // The exported key is the root's: OpenSSL pairs it with the certificate.
    let key_pub = Command::new("openssl").args(["pkey", "-in", &key, "-pubout"]).output().unwrap();
    let cert_pub =
        Command::new("openssl").args(["x509", "-in", &root, "-noout", "-pubkey"]).output().unwrap();
    assert!(key_pub.status.success() && key_pub.stdout == cert_pub.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn civpass_verify_reports_signer_time_chain_and_a_changed_byte() {
    use civpass_pki::ca::{self, Authority, SignerSubject};
    use civpass_pki::cades::{SignedAttributes, detached_signature};
    let now = civpass_core::kernel::Clock::now(&civpass_driver::SystemClock);
    let root = Authority::new_root("Test Root", "civpass test", now - 60, 5).unwrap();
    let issuing = root.new_issuing("Test Signing CA", "civpass test", now - 60, 5).unwrap();
    let (key, spki) = ca::new_software_key().unwrap();
    let subject = SignerSubject { common_name: "WONG Mei Ling".into(), pseudonym: "CP-X".into() };
    let signer = issuing
        .issue_signing_certificate(
            &subject,
            &spki,
            now - 60,
            now + 86_400,
            ca::SANDBOX_SIGNING_POLICY,
        )
        .unwrap();
    let document = b"a synthetic lease".to_vec();
    let attributes =
        SignedAttributes::new(&civpass_crypto::secret::sha256(&document), &signer, Some(now))
            .unwrap();
    let signature = ca::sign_with_software_key(&key, &attributes.to_be_signed().unwrap()).unwrap();
    let p7s =
        detached_signature(attributes, &signature, std::slice::from_ref(&issuing.certificate))
            .unwrap();

    let dir =
        std::env::temp_dir().join(format!("civpass-verify-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("root.pem"), ca::to_pem(&root.certificate).unwrap()).unwrap();
    std::fs::write(dir.join("lease.txt"), &document).unwrap();
    std::fs::write(dir.join("lease.p7s"), &p7s).unwrap();
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_civpass"))
            .args([
                "verify",
                "lease.txt",
                "--detached",
                "lease.p7s",
                "--root",
                "root.pem",
                "--json",
            ])
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert!(report["signer"].as_str().unwrap().contains("WONG Mei Ling"));
    assert_eq!(report["chain"].as_array().unwrap().len(), 3);
    assert!(report["signing_time"].as_str().unwrap().ends_with('Z'));

    let mut changed = document.clone();
    changed[0] ^= 0x20;
    std::fs::write(dir.join("lease.txt"), &changed).unwrap();
    let out = verify();
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["content_matches"].as_bool(), report["valid"].as_bool()),
        (Some(false), Some(false))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
