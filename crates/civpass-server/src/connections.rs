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
//! Past `max_connections_per_client` from one client (an IPv4 address or an IPv6 prefix, see
//! `ClientAddressing`; four times that from one IPv6 /48; trusted proxies exempt, since they
//! carry many clients), a new connection gets a short `503` with `Retry-After` and is closed,
//! and the connections already open go on being served. At `max_connections` overall, the
//! connection that has been idle longest is closed to make room; only when every connection is
//! busy with a request is a newcomer refused.

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
        let phase = Arc::new(Phase::new(limits));
        let Some(slot) = caps.admit(peer.ip(), &phase) else {
            refuse(stream, &refusals);
            continue;
        };
        let router = router.clone();
        let close = close_rx.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, phase, close).await;
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
    phase: Arc<Phase>,
    mut close: tokio::sync::watch::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(TimedIo::new(stream, phase.clone()));
    let evicted = phase.clone();
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
        // Idle (or dawdling): closed at once, there is nothing in flight to finish.
        () = evicted.evicted.notified() => return,
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

/// Open connections, overall, per client key and per IPv6 network, and each connection's
/// phase, to find an idle one to close when the table is full.
struct Caps {
    limits: ConnectionLimits,
    addressing: ClientAddressing,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    /// Per IPv6 /48: a site is routinely given one, and so holds 65,536 /64 client keys.
    per_network: HashMap<IpAddr, usize>,
    /// The connections that may be closed to make room: all but those already asked to go.
    phases: HashMap<u64, Arc<Phase>>,
    next_id: u64,
}

/// How many /64 client keys' worth of connections one IPv6 /48 may hold.
const NETWORK_SHARES: usize = 4;

/// One admitted connection; its place is given back when it is dropped.
struct Slot {
    caps: Arc<Caps>,
    id: u64,
    /// `None` for a trusted proxy, which is not counted per client.
    key: Option<IpAddr>,
    network: Option<IpAddr>,
}

impl Caps {
    fn new(limits: ConnectionLimits, addressing: ClientAddressing) -> Caps {
        Caps { limits, addressing, open: Mutex::new(Open::default()) }
    }

    /// A place for a connection from `peer` with this phase, or `None` if its client (or its
    /// IPv6 network) holds its share. When the whole table is full, the connection idle (or
    /// dawdling over its request head) longest is closed to make room: a stranger cannot hold
    /// the table with connections that do nothing, only with ones kept busy, which costs them
    /// far more.
    fn admit(self: &Arc<Self>, peer: IpAddr, phase: &Arc<Phase>) -> Option<Slot> {
        let trusted = self.addressing.is_trusted_proxy(peer);
        let key = (!trusted).then(|| self.addressing.key(peer));
        let network = key.and_then(|_| match peer.to_canonical() {
            IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, 48).ok().map(|n| IpAddr::V6(n.network())),
            IpAddr::V4(_) => None,
        });
        let per_client = self.limits.max_connections_per_client;
        let mut guard = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let open = &mut *guard;
        let count = |map: &HashMap<IpAddr, usize>, at: Option<IpAddr>| {
            at.and_then(|k| map.get(&k).copied()).unwrap_or(0)
        };
        if per_client > 0
            && (count(&open.per_client, key) >= per_client
                || count(&open.per_network, network) >= per_client * NETWORK_SHARES)
        {
            return None;
        }
        if self.limits.max_connections > 0 && open.total >= self.limits.max_connections {
            let victim = open
                .phases
                .iter()
                .filter_map(|(id, phase)| phase.idle_since().map(|since| (since, *id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some(phase) = open.phases.remove(&victim) {
                phase.evict();
            }
        }
        for (map, at) in [(&mut open.per_client, key), (&mut open.per_network, network)] {
            if let Some(at) = at {
                *map.entry(at).or_insert(0) += 1;
            }
        }
        open.total += 1;
        open.next_id += 1;
        let id = open.next_id;
        open.phases.insert(id, phase.clone());
        Some(Slot { caps: self.clone(), id, key, network })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.caps.open.lock().unwrap_or_else(|e| e.into_inner());
        let open = &mut *guard;
        open.total -= 1;
        open.phases.remove(&self.id);
        for (map, at) in [(&mut open.per_client, self.key), (&mut open.per_network, self.network)] {
            if let Some(at) = at
                && let Some(count) = map.get_mut(&at)
            {
                *count -= 1;
                if *count == 0 {
                    map.remove(&at);
                }
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
    /// Told when the connection is closed to make room for a new one.
    evicted: tokio::sync::Notify,
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
            evicted: tokio::sync::Notify::new(),
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

    /// Since when the connection has done nothing but wait for a request (or for the rest of
    /// one's head); `None` while a request is inside the router.
    fn idle_since(&self) -> Option<Instant> {
        match *self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::ReadingHead { since } | State::Idle { since } => Some(since),
            State::Busy { .. } => None,
        }
    }

    fn evict(&self) {
        self.evicted.notify_one();
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

impl TimedIo {
    /// A write's result as the connection sees it: progress keeps an idle connection alive,
    /// and a write that waits past the deadline times out.
    fn after_write(
        &mut self,
        written: Poll<std::io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.phase.wrote_some();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.wait_or_time_out(cx).map(Err),
        }
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
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(written, cx)
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
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(written, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps_of(total: usize, per_client: usize) -> Arc<Caps> {
        let limits = ConnectionLimits {
            max_connections: total,
            max_connections_per_client: per_client,
            ..ConnectionLimits::default()
        };
        Arc::new(Caps::new(limits, ClientAddressing::default()))
    }

    fn phase() -> Arc<Phase> {
        Arc::new(Phase::new(ConnectionLimits::default()))
    }

    #[tokio::test]
    async fn one_ipv6_network_holds_four_client_shares_whatever_its_prefixes() {
        let caps = caps_of(0, 2);
        let mut held = Vec::new();
        // Four /64s of one /48, two connections each: eight.
        for net in 0..4 {
            for host in 1..=2 {
                let peer: IpAddr = format!("2001:db8:7:{net}::{host}").parse().unwrap();
                held.push(caps.admit(peer, &phase()).expect("within its shares"));
            }
        }
        assert!(
            caps.admit("2001:db8:7:9::1".parse().unwrap(), &phase()).is_none(),
            "the /48 is full"
        );
        assert!(caps.admit("2001:db8:8::1".parse().unwrap(), &phase()).is_some(), "another /48");
        assert!(caps.admit("2001:db8:7:0::3".parse().unwrap(), &phase()).is_none(), "that /64 too");
        drop(held.pop());
        assert!(caps.admit("2001:db8:7:9::1".parse().unwrap(), &phase()).is_some());
    }

    #[tokio::test]
    async fn a_full_table_closes_the_connection_idle_longest_never_a_busy_one() {
        let caps = caps_of(3, 0);
        let (oldest, busy, newer) = (phase(), phase(), phase());
        let _a = caps.admit("192.0.2.1".parse().unwrap(), &oldest).unwrap();
        let _b = caps.admit("192.0.2.2".parse().unwrap(), &busy).unwrap();
        let _busy_request = busy.start_request();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let _c = caps.admit("192.0.2.3".parse().unwrap(), &newer).unwrap();
        let told = oldest.evicted.notified();
        let _d = caps.admit("192.0.2.4".parse().unwrap(), &phase()).expect("room is made");
        tokio::time::timeout(Duration::from_secs(1), told).await.expect("the oldest idle is told");
        // With every connection busy, a newcomer is refused.
        let all_busy = caps_of(1, 0);
        let only = phase();
        let _e = all_busy.admit("192.0.2.5".parse().unwrap(), &only).unwrap();
        let _request = only.start_request();
        assert!(all_busy.admit("192.0.2.6".parse().unwrap(), &phase()).is_none());
    }
}
