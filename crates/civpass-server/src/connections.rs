//! The accept loop: HTTP/1.1 connections with the timeouts and caps that keep a few hundred
//! slow or idle connections (slowloris) from taking the server down for everyone.
//!
//! `axum::serve` has no header-read timeout and no connection cap, so civpass serves hyper
//! itself. Per connection:
//! - a new connection, and a kept-alive one once the first byte of its next request arrives,
//!   must deliver the whole request head within `header_read_timeout` (a fixed deadline that
//!   trickled bytes do not extend);
//! - a kept-alive connection may wait `idle_timeout` between requests, and a response that the
//!   client stops reading is abandoned after the same time;
//! - while the router handles a request nothing here times out (the router's own request
//!   timeout does).
//!
//! Past `max_connections` open connections overall, or `max_connections_per_client` from one
//! client (an IPv4 address or an IPv6 prefix, see `ClientAddressing`; trusted proxies exempt,
//! since they carry many clients), a new connection gets a short `503` with `Retry-After` and is
//! closed, and the connections already open go on being served.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::limits::ClientAddressing;

/// Connection timeouts and caps; a zero turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request head, from its first byte (or from
    /// connecting).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections at most from one client address or IPv6 prefix.
    pub max_connections_per_client: usize,
}

impl Default for ConnectionLimits {
    /// A browser opens at most six connections to one host and a login needs one or two for a
    /// couple of minutes, so 256 per address lets over a hundred citizens behind one
    /// carrier-grade NAT address log in at the same moment; an operator who knows of a bigger
    /// NAT raises it, or names a proxy in front as trusted.
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 8192,
            max_connections_per_client: 256,
        }
    }
}

impl ConnectionLimits {
    pub const OFF: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::ZERO,
        idle_timeout: Duration::ZERO,
        max_connections: 0,
        max_connections_per_client: 0,
    };
}

/// The largest request head accepted (request line and headers): room for a long signed
/// request object in the query, far less than hyper's default buffer of 400 KB.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Refusals being written at once; past this a refused connection is closed without a word.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish (for at most 30 seconds) and returns. Each request carries `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    addressing: ClientAddressing,
    shutdown: impl Future<Output = ()>,
) {
    let caps = Arc::new(Caps::new(limits, addressing));
    let refusals = Arc::new(AtomicUsize::new(0));
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // go on after a pause rather than spin.
                    tracing::warn!(cause = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = caps.admit(peer.ip()) else {
            refuse(stream, &refusals);
            continue;
        };
        let router = router.clone();
        let close = close_rx.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, close).await;
            drop(slot);
        });
    }
    drop(close_rx);
    // Every connection task holds a receiver: this waits for them to finish.
    let _ = close_tx.send(());
    if tokio::time::timeout(SHUTDOWN_GRACE, close_tx.closed()).await.is_err() {
        tracing::warn!("requests still running after the shutdown grace period were cut off");
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut close: tokio::sync::watch::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let phase = Arc::new(Phase::new(limits));
    let io = TokioIo::new(TimedIo::new(stream, phase.clone()));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let busy = phase.start_request();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = close.changed() => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

/// Answers a connection over the caps with a 503 and closes it, without reading its request;
/// past `MAX_REFUSALS_IN_FLIGHT` simply closes it.
fn refuse(mut stream: TcpStream, in_flight: &Arc<AtomicUsize>) {
    if in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSALS_IN_FLIGHT {
        in_flight.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let in_flight = in_flight.clone();
    tokio::spawn(async move {
        const BUSY: &[u8] =
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n\
            Content-Type: text/plain; charset=utf-8\r\nContent-Length: 41\r\n\r\n\
            Too many connections; try again shortly.\n";
        let write = async {
            stream.write_all(BUSY).await?;
            stream.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
        in_flight.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Open connections, overall and per client key.
struct Caps {
    limits: ConnectionLimits,
    addressing: ClientAddressing,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; its place is given back when it is dropped.
struct Slot {
    caps: Arc<Caps>,
    /// `None` for a trusted proxy, which is not counted per client.
    key: Option<IpAddr>,
}

impl Caps {
    fn new(limits: ConnectionLimits, addressing: ClientAddressing) -> Caps {
        Caps { limits, addressing, open: Mutex::new((0, HashMap::new())) }
    }

    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let key = (!self.addressing.is_trusted_proxy(peer)).then(|| self.addressing.key(peer));
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_client) = &mut *open;
        if self.limits.max_connections > 0 && *total >= self.limits.max_connections {
            return None;
        }
        if let Some(key) = key {
            let count = per_client.entry(key).or_insert(0);
            if self.limits.max_connections_per_client > 0
                && *count >= self.limits.max_connections_per_client
            {
                return None;
            }
            *count += 1;
        }
        *total += 1;
        Some(Slot { caps: self.clone(), key })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.caps.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_client) = &mut *open;
        *total -= 1;
        if let Some(key) = self.key
            && let Some(count) = per_client.get_mut(&key)
        {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&key);
            }
        }
    }
}

/// Where a connection stands, for its deadlines.
struct Phase {
    limits: ConnectionLimits,
    state: Mutex<State>,
    /// The connection's task, parked on a read while a request was busy: hyper does not read
    /// again on its own once the response is out, so the end of a request wakes it to arm the
    /// idle timer.
    parked: Mutex<Option<Waker>>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for a request head that began (or a connection that opened) at `since`.
    ReadingHead { since: Instant },
    /// Requests inside the router.
    Busy { requests: usize },
    /// Between requests since `since` (the last response's head, or its last written byte).
    Idle { since: Instant },
}

/// A request inside the router: the connection is busy until it is dropped.
struct BusyGuard(Arc<Phase>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.update(|state| match state {
            State::Busy { requests } if requests > 1 => State::Busy { requests: requests - 1 },
            _ => State::Idle { since: Instant::now() },
        });
        if let Some(waker) = self.0.parked.lock().unwrap_or_else(|e| e.into_inner()).take() {
            waker.wake();
        }
    }
}

impl Phase {
    fn new(limits: ConnectionLimits) -> Phase {
        Phase {
            limits,
            state: Mutex::new(State::ReadingHead { since: Instant::now() }),
            parked: Mutex::new(None),
        }
    }

    fn update(&self, change: impl FnOnce(State) -> State) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = change(*state);
    }

    fn start_request(self: &Arc<Self>) -> BusyGuard {
        self.update(|state| match state {
            State::Busy { requests } => State::Busy { requests: requests + 1 },
            _ => State::Busy { requests: 1 },
        });
        BusyGuard(self.clone())
    }

    /// Bytes arrived: an idle connection has begun its next request head.
    fn read_some(&self) {
        self.update(|state| match state {
            State::Idle { .. } => State::ReadingHead { since: Instant::now() },
            other => other,
        });
    }

    /// Bytes of a response left: a slow reader is not idle while it reads.
    fn wrote_some(&self) {
        self.update(|state| match state {
            State::Idle { .. } => State::Idle { since: Instant::now() },
            other => other,
        });
    }

    fn deadline(&self) -> Option<Instant> {
        let state = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        let after = |since: Instant, limit: Duration| (!limit.is_zero()).then(|| since + limit);
        match state {
            State::ReadingHead { since } => after(since, self.limits.header_read_timeout),
            State::Idle { since } => after(since, self.limits.idle_timeout),
            State::Busy { .. } => None,
        }
    }
}

/// The TCP stream with the connection's deadlines: a read or write that waits past the
/// current deadline fails with `TimedOut`, which makes hyper close the connection.
struct TimedIo {
    stream: TcpStream,
    phase: Arc<Phase>,
    timer: Pin<Box<Sleep>>,
    armed_for: Option<Instant>,
}

impl TimedIo {
    fn new(stream: TcpStream, phase: Arc<Phase>) -> TimedIo {
        TimedIo {
            stream,
            phase,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed_for: None,
        }
    }

    /// Called when the stream would wait: `Ready` with an error once the deadline has passed,
    /// else `Pending` with the timer armed to wake the task at the deadline.
    fn wait_or_time_out(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let Some(deadline) = self.phase.deadline() else {
            *self.phase.parked.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            return Poll::Pending;
        };
        if self.armed_for != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.armed_for = Some(deadline);
        }
        ready!(self.timer.as_mut().poll(cx));
        Poll::Ready(std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.phase.read_some();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.wait_or_time_out(cx).map(Err),
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.phase.wrote_some();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.wait_or_time_out(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.phase.wrote_some();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.wait_or_time_out(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
