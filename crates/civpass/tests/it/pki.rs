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

        let made = signing.init_pki("civpass test").await.unwrap();
        assert_eq!((made.created, made.issued), (true, 1), "the plus citizen, not the basic one");
        let again = signing.init_pki("civpass test").await.unwrap();
        assert_eq!((again.created, again.issued), (false, 0));
        assert!(signing.live_credential(&account_of(&basic)).await.unwrap().is_none());

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
