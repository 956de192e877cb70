//! Connections: slow or idle clients cannot take the server down for everyone (slowloris), and
//! a client that hangs up mid-request leaves nothing half-done behind.

use std::net::SocketAddr;
use std::time::Duration;

use civpass_server::ConnectionLimits;
use civpass_testkit::{Options, backends, spawn_server, spawn_server_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::AuthRequest;

/// A TCP connection to `server` from the loopback address `from` (127.0.0.0/8 is all loopback).
async fn connect_from(from: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(server).await
}

fn address(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// Reads what the server sends until it closes the connection or `wait` passes; `None` if it
/// was still open then.
async fn read_until_closed(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    wait: Duration,
) -> Option<String> {
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok()?;
    Some(String::from_utf8_lossy(&seen).into_owned())
}

/// One whole response on a kept-alive connection: its head, and as many body bytes as its
/// `Content-Length` says.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0_u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed in the middle of a response: {text:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn half_open_connections_from_one_address_leave_other_clients_served() {
    // The defaults `serve` runs with.
    let server = spawn_server(&backends()[0]).await;
    let target = address(&server.base);
    let per_client = ConnectionLimits::default().max_connections_per_client;
    // An attacker at 127.0.0.2 opens more connections than its share and never finishes a
    // request head.
    let mut held = Vec::new();
    for _ in 0..per_client + 40 {
        let mut stream = connect_from("127.0.0.2", target).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        held.push(stream);
    }
    // Past its share it was told so and shut out.
    let mut refused = held.split_off(per_client);
    for stream in &mut refused {
        let answer = read_until_closed(stream, Duration::from_secs(5)).await.expect("closed");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
        assert!(answer.contains("Retry-After: 5"), "{answer:?}");
    }
    // Meanwhile a citizen at another address gets an answer at once.
    let res = reqwest::Client::new()
        .get(format!("{}/.well-known/openid-configuration", server.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The held connections are still open (their header timeout has not run out), and they
    // are counted per address, not against the other client.
    let mut stream = connect_from("127.0.0.3", target).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[tokio::test]
async fn a_full_table_makes_room_by_closing_the_connection_idle_longest() {
    let limits = ConnectionLimits {
        max_connections: 12,
        max_connections_per_client: 4,
        ..ConnectionLimits::default()
    };
    let server = spawn_server_with(
        &backends()[0],
        Options { connections: Some(limits), ..Options::default() },
    )
    .await;
    let target = address(&server.base);
    // Twelve kept-alive connections from three addresses, each after one request: full.
    let mut held = Vec::new();
    for from in ["127.0.0.10", "127.0.0.11", "127.0.0.12"] {
        for _ in 0..4 {
            let mut stream = connect_from(from, target).await.unwrap();
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
            held.push(stream);
        }
    }
    // A newcomer is served, not refused: the oldest idle connection made room.
    let mut newcomer = connect_from("127.0.0.99", target).await.unwrap();
    newcomer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut newcomer, Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let closed = read_until_closed(&mut held[0], Duration::from_secs(5)).await;
    assert_eq!(closed.as_deref(), Some(""), "the first connection, idle longest, was closed");
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off_and_an_idle_connection_closed() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
        ..ConnectionLimits::default()
    };
    let server = spawn_server_with(
        &backends()[0],
        Options { connections: Some(limits), ..Options::default() },
    )
    .await;
    let target = address(&server.base);

    // A byte every 200 ms never completes the head: the deadline is fixed, not renewed by
    // each byte, and the connection is closed without an answer.
    let (mut reader, mut writer) = TcpStream::connect(target).await.unwrap().into_split();
    writer.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            if writer.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let said = read_until_closed(&mut reader, Duration::from_secs(8)).await;
    assert_eq!(said.as_deref(), Some(""), "closed without an answer while still trickling");
    trickle.abort();

    // A connection that says nothing at all is closed too.
    let mut silent = TcpStream::connect(target).await.unwrap();
    let said = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert_eq!(said.as_deref(), Some(""), "closed without a word");

    // A kept-alive connection may wait longer than the header timeout between requests...
    let mut kept = TcpStream::connect(target).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    kept.write_all(request).await.unwrap();
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kept.write_all(request).await.unwrap();
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"), "still served");
    // ...but not for ever.
    let rest = read_until_closed(&mut kept, Duration::from_secs(10)).await;
    assert_eq!(rest.as_deref(), Some(""), "closed after the idle timeout");
}

#[tokio::test]
async fn clients_that_hang_up_mid_request_leave_no_transaction_open() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let (client_id, _) = server.client("https://rp.example/cb").await;
        let target = address(&server.base);
        // Each request starts a login (a write) and its client is gone before the answer.
        for _ in 0..150 {
            let url =
                AuthRequest::new(&client_id, "https://rp.example/cb", "openid").url(&server.base);
            let path = url.strip_prefix(&server.base).unwrap();
            let mut stream = TcpStream::connect(target).await.unwrap();
            let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            stream.write_all(head.as_bytes()).await.unwrap();
            drop(stream);
        }
        let mut open = 0;
        for _ in 0..50 {
            open = server.db.idle_in_transaction().await;
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(open, 0, "no connection is left in a transaction ({:?})", server.backend);
        // And the server goes on answering writes.
        let url = AuthRequest::new(&client_id, "https://rp.example/cb", "openid").url(&server.base);
        let res = crate::support::browser().get(url).send().await.unwrap();
        assert_eq!(res.status(), 303);
    }
}

/// `/readyz` answers 200 while the database answers; on PostgreSQL, with the database cut off,
/// 503 with `Retry-After` and the reason, and 200 again once it is back. `/healthz` stays 200:
/// the process lives throughout.
#[tokio::test]
async fn readiness_follows_the_database_and_health_the_process() {
    for backend in backends() {
        let server = spawn_server(&backend).await;
        let get = |path: &'static str| {
            let base = server.base.clone();
            async move { reqwest::get(format!("{base}{path}")).await.unwrap() }
        };
        let ready = get("/readyz").await;
        assert_eq!(ready.status(), reqwest::StatusCode::OK, "{backend:?}");
        assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");
        if !server.db.set_reachable(false).await {
            continue;
        }
        let cut_off = get("/readyz").await;
        assert_eq!(cut_off.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
        assert!(cut_off.headers().contains_key("retry-after"));
        let problem: serde_json::Value = cut_off.json().await.unwrap();
        assert_eq!(problem["type"], "https://civpass.dev/problems/not-ready");
        assert_eq!(problem["detail"], "the database does not answer");
        assert_eq!(get("/healthz").await.status(), reqwest::StatusCode::OK);
        server.db.set_reachable(true).await;
        let mut back = get("/readyz").await.status();
        for _ in 0..50 {
            if back == reqwest::StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            back = get("/readyz").await.status();
        }
        assert_eq!(back, reqwest::StatusCode::OK, "ready again once the database is back");
    }
}
