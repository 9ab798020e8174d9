//! The HTTP server loop: HTTP/1.1 over TCP, with time limits on every phase a client
//! controls, and a bounded graceful shutdown.
//!
//! `axum::serve` builds hyper without a timer, so hyper's header read timeout never
//! applies and nothing bounds a request body. Here (why: slowloris-style clients that
//! trickle bytes would otherwise hold sockets and tasks forever, and block shutdown):
//!
//! - a request head must arrive within `header_read_timeout` (hyper's
//!   `header_read_timeout` with a [`TokioTimer`]); an idle keep-alive connection is
//!   closed after that long too;
//! - a whole request, body included, must be answered within `request_timeout`, or the
//!   client gets 408 `invalid_request`;
//! - after the shutdown signal, requests in flight get `shutdown_grace`; then every
//!   connection left is closed.
//!
//! And one size limit: a request head (request line and header fields) of more than
//! [`MAX_REQUEST_HEAD_BYTES`] is answered 431 Request Header Fields Too Large (RFC 6585
//! §5) and the connection closed, and no more than [`MAX_READ_BUFFER_BYTES`] are ever
//! buffered while a head is incomplete (why: hyper's default buffer lets one request
//! make the server hold ≈ 400 KB of headers; issue 16).
//!
//! HTTP/1.1 only: HTTP/2 without TLS (prior knowledge) has no request-head deadline in
//! hyper, so an idle HTTP/2 connection could be held open forever. Clients reach
//! Portcullis through a TLS-terminating proxy, which speaks HTTP/2 to them, or through
//! the built-in TLS listener ([`super::tls`]), which speaks HTTP/2 (chosen by ALPN)
//! with deadlines of its own.

use crate::http::error::OAuthError;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Time limits for the HTTP server. Every field is a duration (seconds in the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Longest wait for a complete request head, from the start of a new connection or
    /// the end of the previous response (default 10 s). An idle keep-alive connection
    /// is closed after this long too.
    pub header_read_timeout: Duration,
    /// Longest time for one request from its head to its response, including reading
    /// the body (default 30 s); past it the client gets 408 `invalid_request`.
    pub request_timeout: Duration,
    /// Longest wait for requests in flight after the shutdown signal (default 30 s);
    /// then the remaining connections are closed.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECONDS),
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECONDS),
            shutdown_grace: Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECONDS),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// requests in flight finish for at most `limits.shutdown_grace`, closes every
/// connection left, and returns.
///
/// Connections are HTTP/1.1 (see the module docs for why not HTTP/2), with
/// `TCP_NODELAY` set, under the time limits of [`ServeLimits`].
///
/// # Errors
///
/// None at present: the `io::Result` leaves room for set-up errors. Accept errors (such
/// as `EMFILE`, too many open files) are logged and retried after 50 ms, and errors on
/// one connection end only that connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = with_request_timeout(router, limits.request_timeout);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_REQUEST_HEAD_BYTES)
        .max_buf_size(MAX_READ_BUFFER_BYTES);
    let builder = Arc::new(builder);

    let graceful = GracefulShutdown::new();
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
                    let connection = Connection {
                        stream,
                        remote,
                        builder: builder.clone(),
                        service: TowerToHyperService::new(with_peer(router.clone(), remote)),
                        watcher: graceful.watcher(),
                    };
                    connections.spawn(connection.run());
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
    let open = connections.len();
    tracing::info!(open, "stopped accepting; finishing requests in flight");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = u64::try_from(limits.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
            open = connections.len(),
            "shutdown grace ran out; closing the connections left"
        );
    }
    // Aborting a connection task drops its socket and any request it was serving.
    connections.shutdown().await;
    Ok(())
}

/// Wraps `router` so that a request that is not answered within `limit` (body reading
/// included) gets 408 `invalid_request`.
pub(crate) fn with_request_timeout(router: Router, limit: Duration) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            match tokio::time::timeout(limit, next.run(request)).await {
                Ok(response) => response,
                Err(_elapsed) => {
                    // Outside the router's trace layer, which never sees this response.
                    // Outside the router's request-id layer: give the 408 its own id,
                    // in the log line and the response alike.
                    let request_id = uuid::Uuid::new_v4().to_string();
                    tracing::info!(%method, %path, %request_id, status = 408, "request timed out");
                    let mut response = request_timeout_response(limit);
                    if let Ok(value) = HeaderValue::from_str(&request_id) {
                        response
                            .headers_mut()
                            .insert(crate::http::extract::request_id_header(), value);
                    }
                    response
                }
            }
        },
    ))
}

/// 408 with the OAuth error body (RFC 6749 §5.2) and the router's `nosniff` header.
fn request_timeout_response(limit: Duration) -> Response {
    let mut response = OAuthError::request_timeout(limit).into_response();
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The router with the connection's peer address in each request's extensions, as
/// axum's `ConnectInfo` (login throttling keys on it).
pub(crate) fn with_peer(router: Router, remote: SocketAddr) -> PeerRouter {
    tower::Layer::layer(&axum::Extension(ConnectInfo(remote)), router)
}

pub(crate) type PeerRouter = axum::middleware::AddExtension<Router, ConnectInfo<SocketAddr>>;

/// One accepted connection, before its task starts.
struct Connection {
    stream: TcpStream,
    remote: SocketAddr,
    builder: Arc<http1::Builder>,
    service: TowerToHyperService<PeerRouter>,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Connection {
    /// Serves the connection until the client or the server closes it.
    async fn run(self) {
        let Self {
            stream,
            remote,
            builder,
            service,
            watcher,
        } = self;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%remote, %error, "cannot set TCP_NODELAY");
        }
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        if let Err(error) = watcher.watch(connection).await {
            tracing::debug!(%remote, %error, "connection closed with an error");
        }
    }
}

/// Accept errors that concern one connection only, so accepting can go on at once.
pub(crate) fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Default [`ServeLimits::header_read_timeout`], in seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: u64 = 10;
/// Default [`ServeLimits::request_timeout`], in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;
/// Default [`ServeLimits::shutdown_grace`], in seconds.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 30;

/// Largest request head (request line and header fields, RFC 9112 §2.1) accepted, in
/// bytes: 16 KiB. A larger one gets 431 (RFC 6585 §5). Browsers and proxies send far
/// less (nginx's default is 8 KiB per line); cookies here are a few hundred bytes.
pub const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;

/// Largest read buffer of a connection, in bytes (64 KiB; hyper's minimum is 8 KiB and
/// its default ≈ 400 KB). A head still incomplete when the buffer is full is answered
/// 431 too.
pub const MAX_READ_BUFFER_BYTES: usize = 64 * 1024;

/// Pause after an accept error that is not about one connection (such as `EMFILE`).
pub(crate) const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_10_30_30_seconds() {
        let limits = ServeLimits::default();
        assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(limits.request_timeout, Duration::from_secs(30));
        assert_eq!(limits.shutdown_grace, Duration::from_secs(30));
    }
}
