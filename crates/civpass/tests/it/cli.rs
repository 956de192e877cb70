//! The command line: registry listing, client registration, configuration errors, the wallet.

use std::process::Command;

use civpass_core::identity::hkid::HkId;

fn civpass() -> Command {
    Command::new(env!("CARGO_BIN_EXE_civpass"))
}

/// A new, empty platform in a fresh temporary directory, as `civpass init` makes it.
fn new_platform() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("civpass-cli-{}", uuid::Uuid::new_v4().simple()));
    run_ok(civpass().arg("init").arg("--data-dir").arg(&dir));
    dir
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn registry_list_prints_valid_synthetic_people_as_json() {
    let out = run_ok(civpass().args(["registry", "list", "--limit", "5", "--json"]));
    let people: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(people.len(), 5);
    for p in &people {
        assert!(HkId::parse(p["hkid"].as_str().unwrap()).is_ok());
        assert!(p["name_zh"].as_str().unwrap().chars().count() >= 2);
    }
    // Deterministic: the same people every time.
    assert_eq!(out, run_ok(civpass().args(["registry", "list", "--limit", "5", "--json"])));
}

#[test]
fn client_create_prints_credentials_and_stores_only_a_hash() {
    let dir = new_platform();
    let data_dir = dir.to_str().unwrap();
    let out = run_ok(civpass().args([
        "client",
        "create",
        "--data-dir",
        data_dir,
        "--name",
        "Tax",
        "--redirect-uri",
        "https://tax.example/cb",
        "--redirect-uri",
        "https://tax.example/cb2",
        "--json",
    ]));
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(created["client_id"].as_str().unwrap().starts_with("c_"));
    assert_eq!(created["redirect_uris"].as_array().unwrap().len(), 2);
    let db = std::fs::read(dir.join("civpass.db")).unwrap();
    let wal = std::fs::read(dir.join("civpass.db-wal")).unwrap_or_default();
    let needle = secret.as_bytes();
    assert!(
        !db.windows(needle.len()).any(|w| w == needle)
            && !wal.windows(needle.len()).any(|w| w == needle),
        "the secret is stored in clear"
    );

    let out = run_ok(civpass().args([
        "client",
        "create",
        "--data-dir",
        data_dir,
        "--name",
        "App",
        "--redirect-uri",
        "https://app.example/cb",
        "--public",
        "--json",
    ]));
    let public: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(public["client_secret"].is_null());

    // Refused, as by dynamic registration: not a URI, plain http off loopback, credentials in
    // the URI, a name with a bidi override or far too long.
    for (name, uri, says) in [
        ("Bad", "not-a-uri", "redirect URI"),
        ("Bad", "http://app.example/cb", "plain http only on 127.0.0.1"),
        ("Bad", "https://user:pw@app.example/cb", "credentials"),
        // A host the URL standard allows but DNS does not: it would reach a page's CSP.
        ("Bad", "https://x.example;sandbox;a.example/cb", "redirect URI"),
        ("Tax \u{202E}gnorw", "https://app.example/cb", "bidirectional"),
        (&"N".repeat(101), "https://app.example/cb", "longer than 100"),
    ] {
        let out = civpass()
            .args(["client", "create", "--data-dir", data_dir, "--name", name])
            .args(["--redirect-uri", uri])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{uri}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_key_in_the_config_file_is_an_error() {
    let path = std::env::temp_dir().join(format!("civpass-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let out =
        civpass().args(["--config", path.to_str().unwrap(), "registry", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
    // A key of the flat form from before sections names the section it moved to.
    std::fs::write(&path, "require_par = true\n").unwrap();
    let out =
        civpass().args(["--config", path.to_str().unwrap(), "registry", "list"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`require_par` belongs in the [oidc] section"), "{stderr}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_trusted_proxy_that_is_not_an_address_stops_serve_before_it_starts() {
    let dir = std::env::temp_dir().join(format!("civpass-{}", uuid::Uuid::new_v4().simple()));
    let out = civpass()
        .args(["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", "10.0.0.0/8,proxy.local"])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxy.local"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_refuses_the_sandbox_identity_check_in_front_of_a_real_registry() {
    let dir = std::env::temp_dir().join(format!("civpass-{}", uuid::Uuid::new_v4().simple()));
    let out = civpass()
        .args(["serve", "--listen", "127.0.0.1:0", "--registry-url", "http://127.0.0.1:9"])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--evidence-url"), "{stderr}");
    assert!(!dir.join("civpass.db").exists(), "it stops before creating anything");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wallet_lists_and_unlinks_services_and_shows_the_data_held() {
    let server = civpass_testkit::spawn_server(&civpass_testkit::Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("civpass-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wallet.json");
    let wallet_file = file.to_str().unwrap();
    let (hkid, name, dob) = server.person(8);
    run_ok(
        civpass()
            .args(["wallet", "enroll", "--wallet", wallet_file, "--server", &server.base])
            .args(["--id-number", &hkid, "--name-en", &name, "--dob", &dob, "--evidence", "pass"]),
    );
    let wallet = civpass_wallet::Wallet::load(&file).unwrap();
    let (client_id, browser, waiting) =
        crate::support::start_login(&server, "openid profile").await;
    crate::support::approve(&wallet, &waiting).await;
    let _ = crate::support::finish(&browser, &waiting).await;

    let wallet_cmd = |args: &[&str]| {
        let mut cmd = civpass();
        cmd.args(["wallet"]).args(args).args(["--wallet", wallet_file, "--json"]);
        cmd
    };
    let services: serde_json::Value =
        serde_json::from_str(&run_ok(&mut wallet_cmd(&["services"]))).unwrap();
    assert_eq!(services[0]["client_id"], client_id.as_str());
    let data: serde_json::Value =
        serde_json::from_str(&run_ok(&mut wallet_cmd(&["data"]))).unwrap();
    assert_eq!(data["hkid"], hkid.as_str());
    run_ok(&mut wallet_cmd(&["unlink", &client_id]));
    let services: serde_json::Value =
        serde_json::from_str(&run_ok(&mut wallet_cmd(&["services"]))).unwrap();
    assert_eq!(services, serde_json::json!([]));
    let out = wallet_cmd(&["unlink", &client_id]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not linked"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn client_create_registers_a_private_key_jwt_client_for_client_credentials() {
    let dir = new_platform();
    let (key, _) =
        civpass_crypto::jws::SigningKey::generate(civpass_crypto::jws::Algorithm::ES256).unwrap();
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, serde_json::json!({"keys": [key.public_jwk()]}).to_string())
        .unwrap();
    let out = run_ok(civpass().args([
        "client",
        "create",
        "--data-dir",
        dir.to_str().unwrap(),
        "--name",
        "Batch",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        jwks_file.to_str().unwrap(),
        "--grant-type",
        "client_credentials",
        "--scope",
        "api.read",
        "--json",
    ]));
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(created["grant_types"], serde_json::json!(["client_credentials"]));
    assert!(created["client_secret"].is_null());
    assert_eq!(created["scope"], "api.read");

    // Metadata that cannot work is refused with a clear message.
    let out = civpass()
        .args(["client", "create", "--data-dir", dir.to_str().unwrap(), "--name", "No keys"])
        .args(["--auth-method", "private_key_jwt", "--grant-type", "client_credentials"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("need jwks or jwks_uri"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_token_prints_a_token_that_is_stored_only_as_a_hash() {
    use civpass_core::store::ports::*;
    let dir = new_platform();
    let data_dir = dir.to_str().unwrap();
    let out = run_ok(civpass().args([
        "client",
        "registration-token",
        "--data-dir",
        data_dir,
        "--hours",
        "2",
        "--json",
    ]));
    let issued: serde_json::Value = serde_json::from_str(&out).unwrap();
    let token = issued["initial_access_token"].as_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let expires_at = rfc3339(&issued["expires_at"]);
    assert!((now + 7100..=now + 7200).contains(&expires_at), "{issued}");
    let url = format!("sqlite://{}/civpass.db", data_dir);
    let store = civpass_store::SqlStore::connect(&url).await.unwrap();
    let hash = civpass_crypto::secret::hash_secret(token);
    assert_eq!(store.find_registration_token(&hash).await.unwrap(), Some(expires_at));
    assert_eq!(store.find_registration_token(token).await.unwrap(), None, "never in clear");
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn keys_rotate_publishes_a_new_key_and_schedules_the_old_ones_retirement() {
    let dir = new_platform();
    let data_dir = dir.to_str().unwrap();
    let out = run_ok(civpass().args([
        "keys",
        "rotate",
        "--data-dir",
        data_dir,
        "--alg",
        "EdDSA",
        "--json",
    ]));
    let rotated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rotated[0]["alg"], "EdDSA");
    assert_eq!(rotated[0]["retiring"].as_array().unwrap().len(), 1, "the first key retires");
    let activates = rfc3339(&rotated[0]["activates_at"]);
    assert_eq!(rfc3339(&rotated[0]["retiring"][0]["retires_at"]), activates + 600);
    let new_kid = rotated[0]["new_kid"].as_str().unwrap();
    let old_kid = rotated[0]["retiring"][0]["kid"].as_str().unwrap();
    // `keys list` shows each key's place in its life: the old one signs until the new one takes
    // over; every algorithm has one signing key.
    let keys: Vec<serde_json::Value> = serde_json::from_str(&run_ok(civpass().args([
        "keys",
        "list",
        "--data-dir",
        data_dir,
        "--json",
    ])))
    .unwrap();
    let state = |kid: &str| keys.iter().find(|k| k["kid"] == kid).unwrap()["state"].clone();
    assert_eq!((state(new_kid), state(old_kid)), ("next".into(), "signing".into()));
    assert_eq!(keys.iter().filter(|k| k["state"] == "signing").count(), 4, "{keys:?}");
    let text = run_ok(civpass().args(["keys", "list", "--data-dir", data_dir]));
    assert!(text.contains(new_kid) && text.contains("next"), "{text}");
    // A key must be published longer than relying parties cache the JWKS before it signs.
    let out = civpass()
        .args(["keys", "rotate", "--data-dir", data_dir, "--activate-after", "10"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private_and_wider_ones_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let root = std::env::temp_dir().join(format!("civpass-cli-{}", uuid::Uuid::new_v4().simple()));
    let dir = root.join("data");
    let create =
        |dir: &std::path::Path| civpass().arg("init").arg("--data-dir").arg(dir).output().unwrap();
    let out = create(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert!(dir.join("civpass.db").exists() && dir.join("master.key").exists());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("open to other users"));

    // An installation made before (or copied) with wide permissions is reported at start.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("civpass.db"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let out = create(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the data directory is open to other users"), "{stderr}");
    assert!(stderr.contains("a data file is open to other users"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_calls_to_registered_urls_never_go_through_an_environment_proxy() {
    // A "proxy" that records whoever connects to it.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while proxy.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let dir = new_platform();
    let out = tokio::task::spawn_blocking(move || {
        civpass()
            .args([
                "client",
                "create",
                "--name",
                "Proxy test",
                "--redirect-uri",
                "https://app.example/cb",
            ])
            .args(["--sector-identifier-uri", "https://192.88.98.1/sector.json"])
            .arg("--data-dir")
            .arg(&dir)
            .env("HTTPS_PROXY", &proxy_url)
            .env("HTTP_PROXY", &proxy_url)
            .env("ALL_PROXY", &proxy_url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // The sector document cannot be fetched here (no route out), so registration fails; what
    // matters is that the proxy, which would resolve the name again, was never asked.
    assert!(!out.status.success());
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0, "the proxy was used");
}

/// Unix seconds of an RFC 3339 time in the commands' output.
fn rfc3339(value: &serde_json::Value) -> i64 {
    let text = value.as_str().unwrap_or_else(|| panic!("not a time: {value}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

#[test]
fn administrative_commands_refuse_a_platform_that_is_not_there() {
    let dir = std::env::temp_dir().join(format!("civpass-cli-{}", uuid::Uuid::new_v4().simple()));
    for args in [
        &["client", "create", "--name", "Typo", "--redirect-uri", "https://app.example/cb"][..],
        &["client", "list"],
        &["client", "registration-token"],
        &["keys", "list"],
        &["keys", "rotate"],
    ] {
        let out = civpass().args(args).arg("--data-dir").arg(&dir).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no civpass platform here") && stderr.contains("civpass init"),
            "{stderr}"
        );
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
    // A file that is not a platform's database (an empty one here) is refused and left as it
    // was: nothing migrates it.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("civpass.db"), b"").unwrap();
    std::fs::write(dir.join("master.key"), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let out = civpass().args(["client", "list"]).arg("--data-dir").arg(&dir).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no civpass platform here"));
    assert_eq!(std::fs::metadata(dir.join("civpass.db")).unwrap().len(), 0, "untouched");
    std::fs::remove_dir_all(&dir).unwrap();

    // `init` creates it once, and says so; a second `init` changes nothing.
    let out = run_ok(civpass().arg("init").arg("--data-dir").arg(&dir));
    assert!(out.contains("created"), "{out}");
    let key = std::fs::read(dir.join("master.key")).unwrap();
    let out = run_ok(civpass().arg("init").arg("--data-dir").arg(&dir));
    assert!(out.contains("already"), "{out}");
    assert_eq!(std::fs::read(dir.join("master.key")).unwrap(), key);
    run_ok(civpass().args(["client", "list"]).arg("--data-dir").arg(&dir));
    // With the wrong master key an administrative command fails, and adds no key sealed under
    // it, even where an algorithm's key is missing (a platform older than that algorithm).
    let url = format!("sqlite://{}/civpass.db", dir.display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let count = |sql: &'static str| {
        let url = url.clone();
        rt.block_on(async move {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        })
    };
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM signing_keys WHERE alg = 'EdDSA'").execute(&pool).await.unwrap();
        pool.close().await;
    });
    let wrong = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    let out = civpass()
        .args(["client", "list", "--master-key", wrong])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(count("SELECT COUNT(*) FROM signing_keys WHERE alg = 'EdDSA'"), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn operators_list_show_suspend_and_delete_clients_and_rotate_their_secrets() {
    let dir = new_platform();
    let data_dir = dir.to_str().unwrap();
    let client = |args: &[&str]| {
        let mut cmd = civpass();
        cmd.arg("client").args(args).args(["--data-dir", data_dir]);
        cmd
    };
    let created: serde_json::Value = serde_json::from_str(&run_ok(&mut client(&[
        "create",
        "--name",
        "Housing",
        "--redirect-uri",
        "https://housing.example/cb",
        "--json",
    ])))
    .unwrap();
    let id = created["client_id"].as_str().unwrap();
    let old_secret = created["client_secret"].as_str().unwrap();
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&run_ok(&mut client(&["list", "--json"]))).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["client_id"], id);
    assert!(listed[0].get("secret_hash").is_none() && listed[0]["client_secret"].is_null());
    rfc3339(&listed[0]["created_at"]);

    run_ok(&mut client(&["disable", id]));
    let shown: serde_json::Value =
        serde_json::from_str(&run_ok(&mut client(&["show", id, "--json"]))).unwrap();
    rfc3339(&shown["disabled_at"]);
    assert!(run_ok(&mut client(&["list"])).contains("suspended"));
    run_ok(&mut client(&["enable", id]));
    let shown: serde_json::Value =
        serde_json::from_str(&run_ok(&mut client(&["show", id, "--json"]))).unwrap();
    assert!(shown["disabled_at"].is_null());
    let text = run_ok(&mut client(&["show", id]));
    assert!(text.contains("client_name: Housing"), "{text}");

    let rotated: serde_json::Value =
        serde_json::from_str(&run_ok(&mut client(&["rotate-secret", id, "--json"]))).unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);

    run_ok(&mut client(&["delete", id]));
    for args in [&["show", id][..], &["disable", id], &["delete", id], &["rotate-secret", id]] {
        let out = client(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no client") && stderr.contains("client list"), "{stderr}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
