//! Serving connections within bounds, so a stranger's connection costs nothing unbounded
//! before its request is authenticated: at most `max_connections` open at once (more are
//! closed as soon as they are accepted), the request head due within `header_read_timeout`
//! (from the connection's start, or from the first byte of a later request: Go's
//! `ReadHeaderTimeout`), and a keep-alive connection closed once it has waited
//! `idle_timeout` between requests. Bodies are bounded by the handlers ([`super::body`]).
//!
//! Each connection is served by hyper's HTTP/1 connection; a small state word shared by its
//! I/O, its service and a watcher says whether it waits for a head, handles a request, or
//! idles, and since when. Per request that is two atomic stores and a clock read; the watcher
//! wakes only at deadlines. On shutdown, connections stop taking requests and finish those
//! in flight.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::config::HttpLimits;

/// What a connection is doing, and since when (milliseconds since its start), in one word.
#[derive(Debug)]
struct Activity {
    start: Instant,
    word: AtomicU64,
}

/// Waiting for a request head (new connection, or first bytes of a later request).
const HEAD: u64 = 0;
/// Handling a request.
const BUSY: u64 = 1;
/// Idle between requests.
const IDLE: u64 = 2;
/// The state sits in the top two bits, the time in the rest.
const SHIFT: u32 = 62;

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            word: AtomicU64::new(HEAD << SHIFT),
        }
    }

    fn set(&self, state: u64) {
        let ms = self.start.elapsed().as_millis() as u64 & ((1 << SHIFT) - 1);
        self.word.store(state << SHIFT | ms, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, Instant) {
        let word = self.word.load(Ordering::Relaxed);
        let since = self.start + Duration::from_millis(word & ((1 << SHIFT) - 1));
        (word >> SHIFT, since)
    }

    /// Bytes arrived: an idle connection now waits for the rest of a head.
    fn read(&self) {
        if self.word.load(Ordering::Relaxed) >> SHIFT == IDLE {
            self.set(HEAD);
        }
    }

    /// Completes when the connection has waited too long for a head or between requests.
    async fn expired(&self, limits: &HttpLimits) {
        loop {
            let (state, since) = self.get();
            let due = match state {
                HEAD => since + limits.header_read_timeout,
                IDLE => since + limits.idle_timeout,
                // A request in progress is bounded by its handler; look again later.
                _ => Instant::now() + limits.header_read_timeout,
            };
            if state != BUSY && Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
            // The state may have moved meanwhile: look again.
            if self.get() == (state, since) && state != BUSY {
                return;
            }
        }
    }
}

/// A request being handled on a connection: the connection idles from its end.
struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.set(IDLE);
    }
}

/// The connection's socket, telling its activity when bytes arrive.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Accepts connections until `shutdown` is cancelled, then waits for the open ones to finish
/// their requests.
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: too many open connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, limits, shutdown) = (router.clone(), limits.clone(), shutdown.clone());
        connections.spawn(async move {
            connection(stream, peer, router, &limits, shutdown).await;
            drop(slot);
        });
    }
    connections.close();
    connections.wait().await;
}

/// Waits after an accept error that is not the peer's (too many open files, say), so the
/// loop does not spin.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it ends, expires, or has finished after a shutdown.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &HttpLimits,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let inner = TowerToHyperService::new(router);
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            activity.set(BUSY);
            let handling = Handling(activity.clone());
            let answer = hyper::service::Service::call(&inner, request.map(Body::new));
            async move {
                let answer = answer.await;
                drop(handling);
                answer
            }
        }
    });
    let io = TokioIo::new(Watched {
        io: stream,
        activity: activity.clone(),
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::trace!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.expired(limits) => {
                tracing::debug!(%peer, "connection closed: it waited too long for a request");
                return;
            }
        }
    }
}
