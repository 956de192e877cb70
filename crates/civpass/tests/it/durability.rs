//! An acknowledged write survives `kill -9` of the server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use civpass_testkit::{Backend, TestDb, backends};
use civpass_wallet::{Wallet, WalletError};

/// Starts `civpass serve` on a free port; returns the process and its base URL.
fn serve(db: &TestDb) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_civpass"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            db.dir.to_str().unwrap(),
            "--database-url",
            &db.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a listening line")
        .to_owned();
    (child, base)
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_of_the_server() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let (mut child, base) = serve(&db);
        let registry = civpass_registry::SandboxRegistry::generate(50);
        let p = &registry.people()[40];
        let mut wallet = Wallet::create(&base).unwrap();
        let done = wallet
            .enrol(
                &p.hkid.to_string(),
                &p.name_en,
                &p.date_of_birth.to_string(),
                Some("pass"),
                None,
            )
            .await
            .unwrap();
        child.kill().unwrap(); // SIGKILL: no shutdown code runs.
        child.wait().unwrap();

        let (mut child, base) = serve(&db);
        let mut again = Wallet::create(&base).unwrap();
        let err = again
            .enrol(
                &p.hkid.to_string(),
                &p.name_en,
                &p.date_of_birth.to_string(),
                Some("pass"),
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, WalletError::Problem(ref problem) if problem.status == 409),
            "{backend:?}: {err}"
        );
        // The device key survived too: it can authorise a move.
        let moved = again
            .enrol(
                &p.hkid.to_string(),
                &p.name_en,
                &p.date_of_birth.to_string(),
                None,
                Some(&wallet),
            )
            .await
            .unwrap();
        assert_eq!(moved.account_id, done.account_id);
        child.kill().unwrap();
        child.wait().unwrap();
        if backend == Backend::Sqlite {
            assert!(db.dir.join("master.key").exists());
        }
    }
}

/// SIGTERM lets a request in flight finish: the server stops accepting, answers the request
/// whose body was still arriving, logs that it stopped, and exits cleanly.
#[tokio::test]
async fn a_request_in_flight_finishes_through_a_sigterm() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Backend::Sqlite;
    let db = TestDb::create(&backend).await;
    let (mut child, base) = serve(&db);
    let address = base.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let body = "grant_type=authorization_code&code=nope";
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    // The request is in flight (its body half sent) when the signal arrives.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "an answer, not a dropped connection: {answer:?}");
    assert!(answer.contains("invalid_"), "the token endpoint's own answer: {answer:?}");
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean exit after SIGTERM: {status:?}");
    // New connections are refused once it has stopped.
    assert!(tokio::net::TcpStream::connect(&address).await.is_err());
}
