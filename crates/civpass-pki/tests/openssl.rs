//! What civpass-pki makes, checked by an independent implementation: the OpenSSL command line
//! (`openssl cms -verify`, `openssl x509`, `openssl verify`), as issue 14 asks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use civpass_pki::ca::{self, Authority, SignerSubject};
use civpass_pki::cades::{SignedAttributes, detached_signature};
use sha2::{Digest, Sha256};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn temp_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("civpass-pki-{}-{}-{n}", std::process::id(), now()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (the command line tool) must be installed");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

struct Pki {
    root: Authority,
    issuing: Authority,
}

fn pki() -> Pki {
    let root =
        Authority::new_root("civpass Sandbox Root CA", "civpass sandbox", now() - 60, 20).unwrap();
    let issuing = root
        .new_issuing("civpass Sandbox Citizen Signing CA", "civpass sandbox", now() - 60, 10)
        .unwrap();
    Pki { root, issuing }
}

#[test]
fn openssl_verifies_a_cades_detached_signature_against_the_exported_root() {
    let Pki { root, issuing } = pki();
    // The root's key goes to cold storage: issuing works from the issuing CA's key alone.
    let issuing = Authority::from_der(
        &issuing.key_pkcs8().unwrap(),
        &ca::to_der(&issuing.certificate).unwrap(),
    )
    .unwrap();
    let (pkcs8, spki) = ca::new_software_key().unwrap();
    let subject =
        SignerSubject { common_name: "CHAN Tai Man".into(), pseudonym: "CP-7Q2M8K4D1F".into() };
    let signer = issuing
        .issue_signing_certificate(
            &subject,
            &spki,
            now() - 60,
            now() + 2 * 365 * 86_400,
            ca::SANDBOX_SIGNING_POLICY,
        )
        .unwrap();

    let document = b"%PDF-1.7 a synthetic application form\n".repeat(50);
    let digest = Sha256::digest(&document);
    let attributes = SignedAttributes::new(&digest, &signer, Some(now())).unwrap();
    let signature =
        ca::sign_with_software_key(&pkcs8, &attributes.to_be_signed().unwrap()).unwrap();
    let p7s =
        detached_signature(attributes, &signature, std::slice::from_ref(&issuing.certificate))
            .unwrap();

    let dir = temp_dir();
    std::fs::write(dir.join("root.pem"), ca::to_pem(&root.certificate).unwrap()).unwrap();
    std::fs::write(dir.join("signer.pem"), ca::to_pem(&signer).unwrap()).unwrap();
    std::fs::write(dir.join("issuing.pem"), ca::to_pem(&issuing.certificate).unwrap()).unwrap();
    std::fs::write(dir.join("document.pdf"), &document).unwrap();
    std::fs::write(dir.join("document.p7s"), &p7s).unwrap();

    // The signature, its chain to the root and the content (S/MIME signing purpose, the
    // default, which wants non-repudiation or digital signature in the key usage).
    let verify = [
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        "document.p7s",
        "-content",
        "document.pdf",
        "-CAfile",
        "root.pem",
        "-out",
        "/dev/null",
    ];
    let (ok, text) = openssl(&verify, &dir);
    assert!(ok && text.contains("Verification successful"), "{text}");

    // A changed byte is caught.
    let mut changed = document.clone();
    changed[10] ^= 1;
    std::fs::write(dir.join("document.pdf"), &changed).unwrap();
    let (ok, text) = openssl(&verify, &dir);
    assert!(!ok, "a changed document verified: {text}");
    std::fs::write(dir.join("document.pdf"), &document).unwrap();

    // Another root does not anchor it.
    let other = Authority::new_root("Another Root", "elsewhere", now() - 60, 20).unwrap();
    std::fs::write(dir.join("other.pem"), ca::to_pem(&other.certificate).unwrap()).unwrap();
    let mut elsewhere = verify;
    elsewhere[10] = "other.pem";
    let (ok, _) = openssl(&elsewhere, &dir);
    assert!(!ok, "verified against another root");

    // The CAdES B-B signed attributes are there (ETSI EN 319 122-1 section 5.2).
    let (ok, printed) =
        openssl(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", "document.p7s"], &dir);
    assert!(ok, "{printed}");
    for attribute in
        ["contentType", "messageDigest", "signingTime", "id-smime-aa-signingCertificateV2"]
    {
        assert!(printed.contains(attribute), "{attribute} missing:\n{printed}");
    }

    // The certificate's profile (docs/PKI.md).
    let (ok, text) = openssl(
        &[
            "x509",
            "-in",
            "signer.pem",
            "-noout",
            "-subject",
            "-ext",
            "keyUsage,basicConstraints,certificatePolicies,extendedKeyUsage",
        ],
        &dir,
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("CN = CHAN Tai Man") && text.contains("serialNumber = CP-7Q2M8K4D1F"),
        "{text}"
    );
    assert!(text.contains("Non Repudiation") && !text.contains("Digital Signature"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains(ca::SANDBOX_SIGNING_POLICY), "{text}");
    assert!(!text.contains("Extended Key Usage"), "{text}");
    let (ok, text) = openssl(
        &["verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "signer.pem"],
        &dir,
    );
    assert!(ok, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn names_are_text_and_bad_input_is_refused() {
    let Pki { issuing, .. } = pki();
    let (_, spki) = ca::new_software_key().unwrap();
    // A comma or plus in a name is text, not syntax.
    let subject = SignerSubject { common_name: "CHAN, Tai+Man".into(), pseudonym: "CP-1".into() };
    let cert = issuing
        .issue_signing_certificate(
            &subject,
            &spki,
            now(),
            now() + 86_400,
            ca::SANDBOX_SIGNING_POLICY,
        )
        .unwrap();
    assert!(ca::describe_name(&cert.tbs_certificate.subject).contains("CHAN"));
    // The pseudonym is a PrintableString; a key must be P-256; a digest is 32 bytes.
    let bad = SignerSubject { common_name: "CHAN Tai Man".into(), pseudonym: "陳".into() };
    assert!(
        issuing
            .issue_signing_certificate(
                &bad,
                &spki,
                now(),
                now() + 86_400,
                ca::SANDBOX_SIGNING_POLICY
            )
            .is_err()
    );
    assert!(
        issuing
            .issue_signing_certificate(
                &subject,
                b"not a key",
                now(),
                now() + 86_400,
                ca::SANDBOX_SIGNING_POLICY
            )
            .is_err()
    );
    assert!(SignedAttributes::new(&[0; 20], &cert, None).is_err());
    assert!(civpass_pki::cades::signed_data(b"\x30\x03\x02\x01\x01").is_err());
    // A policy identifier that the ASN.1 crate cannot hold is an error, not a panic.
    for policy in ["2.25.255139574466361342426658436093717913473", "", "1..2", "x"] {
        assert!(ca::parse_oid(policy).is_err(), "{policy}");
        assert!(
            issuing
                .issue_signing_certificate(&subject, &spki, now(), now() + 86_400, policy)
                .is_err()
        );
    }
    // A key that is not the certificate's is refused.
    let (other_key, _) = ca::new_software_key().unwrap();
    assert!(Authority::from_der(&other_key, &ca::to_der(&issuing.certificate).unwrap()).is_err());
}

proptest::proptest! {
    /// An operator's policy identifier is parsed, never panicked on (the ASN.1 crate's own
    /// parser overflows on arcs past 32 bits).
    #[test]
    fn parsing_an_object_identifier_never_panics(text in "[0-9.]{0,60}") {
        let _ = ca::parse_oid(&text);
    }
}

#[test]
fn our_verifier_reports_each_fault_and_accepts_what_openssl_signs() {
    use civpass_pki::cades::verify_detached;
    let Pki { root, issuing } = pki();
    let (pkcs8, spki) = ca::new_software_key().unwrap();
    let subject = SignerSubject { common_name: "LEE Siu Ming".into(), pseudonym: "CP-3".into() };
    let signer = issuing
        .issue_signing_certificate(
            &subject,
            &spki,
            now() - 60,
            now() + 86_400,
            ca::SANDBOX_SIGNING_POLICY,
        )
        .unwrap();
    let document = b"a synthetic tax return".to_vec();
    let digest = Sha256::digest(&document);
    let sign = |digest: &[u8]| {
        let attributes = SignedAttributes::new(digest, &signer, Some(now())).unwrap();
        let signature =
            ca::sign_with_software_key(&pkcs8, &attributes.to_be_signed().unwrap()).unwrap();
        detached_signature(attributes, &signature, std::slice::from_ref(&issuing.certificate))
            .unwrap()
    };
    let p7s = sign(&digest);
    let anchors = [root.certificate.clone()];
    let report = verify_detached(&p7s, &digest, &anchors, now()).unwrap();
    assert!(report.valid(), "{report:?}");
    assert!(report.signer.contains("CN=LEE Siu Ming"), "{}", report.signer);
    assert_eq!(report.chain.len(), 3);
    assert!(report.signing_time.is_some_and(|t| (t - now()).abs() < 5));

    // A changed document, another root, a changed signature byte: each said, none valid.
    let other_digest = Sha256::digest(b"another document");
    let changed = verify_detached(&p7s, &other_digest, &anchors, now()).unwrap();
    assert!(!changed.content_matches && changed.signature_valid && !changed.valid());
    let other = Authority::new_root("Another Root", "elsewhere", now() - 60, 20).unwrap();
    let untrusted = verify_detached(&p7s, &digest, &[other.certificate], now()).unwrap();
    assert!(!untrusted.trusted && !untrusted.valid(), "{untrusted:?}");
    let mut forged = p7s.clone();
    let at = forged.len() - 5;
    forged[at] ^= 0x01;
    if let Ok(report) = verify_detached(&forged, &digest, &anchors, now()) {
        assert!(!report.valid(), "a changed byte verified");
    }
    assert!(verify_detached(b"not cms", &digest, &anchors, now()).is_err());

    // Interoperability the other way: OpenSSL signs (CAdES, detached) with the citizen's key
    // and certificate; civpass verifies.
    let dir = temp_dir();
    std::fs::write(dir.join("doc"), &document).unwrap();
    std::fs::write(dir.join("key.der"), &pkcs8).unwrap();
    std::fs::write(dir.join("signer.pem"), ca::to_pem(&signer).unwrap()).unwrap();
    std::fs::write(dir.join("issuing.pem"), ca::to_pem(&issuing.certificate).unwrap()).unwrap();
    let (ok, text) = openssl(
        &[
            "cms",
            "-sign",
            "-binary",
            "-cades",
            "-md",
            "sha256",
            "-in",
            "doc",
            "-signer",
            "signer.pem",
            "-inkey",
            "key.der",
            "-keyform",
            "DER",
            "-certfile",
            "issuing.pem",
            "-outform",
            "DER",
            "-out",
            "openssl.p7s",
        ],
        &dir,
    );
    assert!(ok, "{text}");
    let theirs = std::fs::read(dir.join("openssl.p7s")).unwrap();
    let report = verify_detached(&theirs, &digest, &anchors, now()).unwrap();
    assert!(report.valid(), "{report:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unsigned_fields_and_look_alike_certificates_are_judged_right() {
    use civpass_pki::cades::verify_detached;
    let Pki { root, issuing } = pki();
    let (pkcs8, spki) = ca::new_software_key().unwrap();
    let subject = SignerSubject { common_name: "HO Ka Yan".into(), pseudonym: "CP-9".into() };
    let signer = issuing
        .issue_signing_certificate(
            &subject,
            &spki,
            now() - 60,
            now() + 86_400,
            ca::SANDBOX_SIGNING_POLICY,
        )
        .unwrap();
    let digest = Sha256::digest(b"a synthetic deed");
    let sign = |chain: &[x509_cert::Certificate]| {
        let attributes = SignedAttributes::new(&digest, &signer, Some(now())).unwrap();
        let signature =
            ca::sign_with_software_key(&pkcs8, &attributes.to_be_signed().unwrap()).unwrap();
        detached_signature(attributes, &signature, chain).unwrap()
    };
    let anchors = [root.certificate.clone()];
    // A self-made CA bearing the issuing CA's name, put first: the genuine chain still holds.
    let look_alike =
        Authority::new_root("civpass Sandbox Citizen Signing CA", "civpass sandbox", now() - 60, 5)
            .unwrap();
    let p7s = sign(&[look_alike.certificate.clone(), issuing.certificate.clone()]);
    let report = verify_detached(&p7s, &digest, &anchors, now()).unwrap();
    assert!(report.valid(), "{report:?}");
    // With only the look-alike, it is not trusted.
    let p7s = sign(std::slice::from_ref(&look_alike.certificate));
    assert!(!verify_detached(&p7s, &digest, &anchors, now()).unwrap().trusted);

    // The encapsulated content type is not signed: changed, the signature no longer counts.
    let p7s = sign(std::slice::from_ref(&issuing.certificate));
    let id_data = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
    let at = p7s.windows(id_data.len()).position(|w| w == id_data).unwrap();
    let mut changed = p7s.clone();
    changed[at + id_data.len() - 1] = 0x03;
    let report = verify_detached(&changed, &digest, &anchors, now()).unwrap();
    assert!(!report.valid() && !report.problems.is_empty(), "{report:?}");
}
