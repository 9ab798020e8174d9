//! The built-in TLS listener (issue 18): rustls ([`crate::app::tls::server_config`]:
//! TLS 1.2 and 1.3, AEAD suites) with HTTP/2 or HTTP/1.1 chosen by ALPN (RFC 7301;
//! RFC 9113 §3.2), and the protections of the plain loop ([`super::serve`]) on both:
//!
//! - the TLS handshake must finish within [`TlsLimits::handshake_timeout`] (why: a
//!   client that opens a socket and sends nothing, or trickles a ClientHello, would
//!   hold it forever);
//! - HTTP/1.1: the request head within `header_read_timeout`, 431 past
//!   [`super::serve::MAX_REQUEST_HEAD_BYTES`], an idle keep-alive connection closed
//!   after `header_read_timeout` (as on the plain loop);
//! - HTTP/2: a connection with no request in progress (none yet, between requests, or
//!   one whose header block never completes) is sent GOAWAY after
//!   `header_read_timeout` and closed [`GOAWAY_GRACE`] later at the latest (hyper has no
//!   request-head deadline for HTTP/2); PING every [`TlsLimits::keep_alive_interval`],
//!   closed when unanswered within [`TlsLimits::keep_alive_timeout`] (a dead peer with
//!   a request in flight); at most [`TlsLimits::max_concurrent_streams`] streams; a
//!   header list above `MAX_REQUEST_HEAD_BYTES` answered 431 (RFC 9113 §6.5.2
//!   `SETTINGS_MAX_HEADER_LIST_SIZE`);
//! - both: a whole request within `request_timeout` (408), graceful shutdown within
//!   `shutdown_grace`;
//! - a TLS-ALPN-01 validation (ALPN `acme-tls/1`) is closed right after the handshake
//!   (RFC 8737 §3: no application data is exchanged).

use super::serve::{
    ACCEPT_RETRY_DELAY, MAX_READ_BUFFER_BYTES, MAX_REQUEST_HEAD_BYTES, PeerRouter, ServeLimits,
    is_connection_error, with_peer, with_request_timeout,
};
use crate::app::tls::ACME_TLS_ALPN;
use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Limits of the TLS listener: the plain loop's [`ServeLimits`] and the TLS and
/// HTTP/2 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsLimits {
    /// Request-head, request and shutdown limits, as on the plain loop; for HTTP/2,
    /// `header_read_timeout` bounds the time without a request in progress.
    pub serve: ServeLimits,
    /// Longest TLS handshake, from accept (default 10 s).
    pub handshake_timeout: Duration,
    /// HTTP/2: time between two PINGs from the server (default 20 s).
    pub keep_alive_interval: Duration,
    /// HTTP/2: longest wait for a PING's acknowledgement before the connection is
    /// closed (default 20 s).
    pub keep_alive_timeout: Duration,
    /// HTTP/2: most streams a client may have open at once (default 100;
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, RFC 9113 §6.5.2).
    pub max_concurrent_streams: u32,
}

impl Default for TlsLimits {
    fn default() -> Self {
        Self {
            serve: ServeLimits::default(),
            handshake_timeout: Duration::from_secs(DEFAULT_HANDSHAKE_TIMEOUT_SECONDS),
            keep_alive_interval: Duration::from_secs(DEFAULT_KEEP_ALIVE_SECONDS),
            keep_alive_timeout: Duration::from_secs(DEFAULT_KEEP_ALIVE_SECONDS),
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
        }
    }
}

/// Serves `router` over TLS (`tls`: [`crate::app::tls::server_config`]) on `listener`
/// until `shutdown` resolves; then stops accepting, lets requests in flight finish for
/// at most `limits.serve.shutdown_grace` (HTTP/2 connections get GOAWAY), closes every
/// connection left, and returns. Every answer carries `Strict-Transport-Security`.
///
/// # Errors
/// None at present (as [`super::serve::serve`]): accept errors are logged and retried,
/// and errors on one connection end only that connection.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: Arc<ServerConfig>,
    limits: TlsLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router =
        super::router::with_hsts(with_request_timeout(router, limits.serve.request_timeout));
    let shared = Arc::new(Shared::new(TlsAcceptor::from(tls), limits));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = joined {
                    tracing::error!(%error, "connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let service = TowerToHyperService::new(with_peer(router.clone(), remote));
                    connections.spawn(
                        shared.clone().run(stream, remote, service, stopping.clone()),
                    );
                }
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(%error, "accept failed");
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed; retrying in 50 ms");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            }
        }
    }

    drop(listener);
    tracing::info!(
        open = connections.len(),
        "stopped accepting TLS; finishing requests in flight"
    );
    let _ = stop.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.serve.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown grace ran out; closing the TLS connections left"
        );
    }
    connections.shutdown().await;
    Ok(())
}

type Service = TowerToHyperService<PeerRouter>;

/// What every connection of one listener shares.
struct Shared {
    acceptor: TlsAcceptor,
    limits: TlsLimits,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Shared {
    fn new(acceptor: TlsAcceptor, limits: TlsLimits) -> Self {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(limits.serve.header_read_timeout)
            .max_header_size(MAX_REQUEST_HEAD_BYTES)
            .max_buf_size(MAX_READ_BUFFER_BYTES);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .keep_alive_interval(limits.keep_alive_interval)
            .keep_alive_timeout(limits.keep_alive_timeout)
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(u32::try_from(MAX_REQUEST_HEAD_BYTES).unwrap_or(u32::MAX));
        Self {
            acceptor,
            limits,
            http1: h1,
            http2: h2,
        }
    }

    /// One connection: handshake under its deadline, then HTTP/2 or HTTP/1.1 by ALPN,
    /// until the client or the server closes it.
    async fn run(
        self: Arc<Self>,
        stream: TcpStream,
        remote: SocketAddr,
        service: Service,
        mut stopping: watch::Receiver<bool>,
    ) {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%remote, %error, "cannot set TCP_NODELAY");
        }
        let handshake =
            tokio::time::timeout(self.limits.handshake_timeout, self.acceptor.accept(stream));
        let stream = tokio::select! {
            result = handshake => match result {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%remote, %error, "TLS handshake failed");
                    return;
                }
                Err(_elapsed) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            },
            () = until_stopped(&mut stopping) => return,
        };
        let protocol = match stream.get_ref().1.alpn_protocol() {
            Some(ACME_TLS_ALPN) => Protocol::AcmeTls,
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        };
        let result = match protocol {
            Protocol::AcmeTls => {
                // RFC 8737 §3: the validation ends with the handshake.
                let mut stream = stream;
                let _ = stream.shutdown().await;
                return;
            }
            Protocol::Http2 => self.serve_h2(stream, service, stopping).await,
            Protocol::Http1 => self.serve_h1(stream, service, stopping).await,
        };
        if let Err(error) = result {
            tracing::debug!(%remote, %error, "connection closed with an error");
        }
    }

    async fn serve_h1(
        &self,
        stream: TlsStream<TcpStream>,
        service: Service,
        mut stopping: watch::Receiver<bool>,
    ) -> Result<(), hyper::Error> {
        let mut connection = pin!(self.http1.serve_connection(TokioIo::new(stream), service));
        tokio::select! {
            result = connection.as_mut() => return result,
            () = until_stopped(&mut stopping) => {}
        }
        connection.as_mut().graceful_shutdown();
        connection.await
    }

    async fn serve_h2(
        &self,
        stream: TlsStream<TcpStream>,
        service: Service,
        mut stopping: watch::Receiver<bool>,
    ) -> Result<(), hyper::Error> {
        let activity = Activity::default();
        let service = Tracked {
            inner: service,
            activity: activity.clone(),
        };
        let mut connection = pin!(self.http2.serve_connection(TokioIo::new(stream), service));
        let idle = activity.idle_for(self.limits.serve.header_read_timeout);
        tokio::select! {
            result = connection.as_mut() => return result,
            () = until_stopped(&mut stopping) => {
                // Requests in flight finish; the listener bounds the wait.
                connection.as_mut().graceful_shutdown();
                return connection.await;
            }
            () = idle => {}
        }
        // GOAWAY; a header block still arriving does not hold the connection open.
        connection.as_mut().graceful_shutdown();
        match tokio::time::timeout(GOAWAY_GRACE, connection).await {
            Ok(result) => result,
            Err(_elapsed) => Ok(()),
        }
    }
}

/// Resolves once the listener stops (or is gone).
async fn until_stopped(stopping: &mut watch::Receiver<bool>) {
    // `is_ok` drops the borrow of the value at once (it must not be held across awaits).
    let _stopped = stopping.wait_for(|stop| *stop).await.is_ok();
}

/// What ALPN chose (RFC 7301); no ALPN at all is HTTP/1.1.
enum Protocol {
    AcmeTls,
    Http2,
    Http1,
}

/// Requests in progress on one HTTP/2 connection.
#[derive(Clone, Default)]
struct Activity {
    inner: Arc<ActivityInner>,
}

#[derive(Default)]
struct ActivityInner {
    in_flight: AtomicUsize,
    changed: Notify,
}

impl Activity {
    /// Resolves once no request has been in progress for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let mut changed = pin!(self.inner.changed.notified());
            changed.as_mut().enable();
            if self.inner.in_flight.load(Ordering::Acquire) == 0 {
                tokio::select! {
                    () = tokio::time::sleep(limit) => return,
                    () = changed => {}
                }
            } else {
                changed.await;
            }
        }
    }

    fn start(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        self.inner.changed.notify_waiters();
        InFlight(self.clone())
    }
}

/// One request in progress; its drop ends it.
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.inner.changed.notify_waiters();
    }
}

/// The connection's service, counting requests in progress.
#[derive(Clone)]
struct Tracked {
    inner: Service,
    activity: Activity,
}

impl<B> hyper::service::Service<http::Request<B>> for Tracked
where
    Service: hyper::service::Service<http::Request<B>>,
    <Service as hyper::service::Service<http::Request<B>>>::Future: Send + 'static,
{
    type Response = <Service as hyper::service::Service<http::Request<B>>>::Response;
    type Error = <Service as hyper::service::Service<http::Request<B>>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: http::Request<B>) -> Self::Future {
        let in_flight = self.activity.start();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

/// Default [`TlsLimits::handshake_timeout`], in seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECONDS: u64 = 10;
/// Default [`TlsLimits::keep_alive_interval`] and [`TlsLimits::keep_alive_timeout`],
/// in seconds.
pub const DEFAULT_KEEP_ALIVE_SECONDS: u64 = 20;
/// Default [`TlsLimits::max_concurrent_streams`].
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Longest wait for an idle HTTP/2 connection to close after its GOAWAY.
pub const GOAWAY_GRACE: Duration = Duration::from_secs(1);
