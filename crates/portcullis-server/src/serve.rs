//! The HTTP server loop: HTTP/1.1 and HTTP/2 (prior knowledge) over TCP, with time
//! limits on every phase a client controls, and a bounded graceful shutdown.
//!
//! `axum::serve` builds hyper without a timer, so hyper's header read timeout never
//! applies and nothing bounds a request body. Here (why: slowloris-style clients that
//! trickle bytes would otherwise hold sockets and tasks forever, and block shutdown):
//!
//! - the bytes that choose the protocol must arrive within `header_read_timeout`
//!   (hyper-util's version detection has no timer of its own);
//! - an HTTP/1 request head must then arrive within `header_read_timeout` (hyper's
//!   `header_read_timeout` with a [`TokioTimer`]; it also closes idle keep-alive
//!   connections after that long);
//! - a whole request, body included, must be answered within `request_timeout`, or the
//!   client gets 408 `invalid_request`;
//! - after the shutdown signal, requests in flight get `shutdown_grace`; then every
//!   connection left is closed.

use crate::error::OAuthError;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Time limits for the HTTP server. Every field is a duration (seconds in the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Longest wait for a complete HTTP/1 request head, from the first read of a new
    /// connection or the end of the previous response (default 10 s). An idle keep-alive
    /// connection is closed after this long too. The bytes that choose between HTTP/1 and
    /// HTTP/2 get this long as well, so a new connection's head may take up to twice this.
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
/// Connections are HTTP/1.1 or HTTP/2 with prior knowledge (as with `axum::serve`), with
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
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);

    let graceful = GracefulShutdown::new();
    // Dropped at shutdown: connections still choosing their protocol stop waiting.
    let (stop_tx, stop_rx) = watch::channel(());
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
                        service: TowerToHyperService::new(router.clone()),
                        watcher: graceful.watcher(),
                        stop: stop_rx.clone(),
                        header_read_timeout: limits.header_read_timeout,
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
    drop(stop_tx);
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
fn with_request_timeout(router: Router, limit: Duration) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            match tokio::time::timeout(limit, next.run(request)).await {
                Ok(response) => response,
                Err(_elapsed) => {
                    // Outside the router's trace layer, which never sees this response.
                    tracing::info!(%method, %path, status = 408, "request timed out");
                    request_timeout_response(limit)
                }
            }
        },
    ))
}

/// 408 with the OAuth error body (RFC 6749 §5.2) and the router's `nosniff` header.
fn request_timeout_response(limit: Duration) -> Response {
    let description = if limit.subsec_nanos() == 0 {
        let seconds = limit.as_secs();
        let unit = if seconds == 1 { "second" } else { "seconds" };
        format!("the request took longer than {seconds} {unit}")
    } else {
        format!("the request took longer than {} ms", limit.as_millis())
    };
    let mut response = OAuthError::invalid_request(description)
        .with_status(StatusCode::REQUEST_TIMEOUT)
        .into_response();
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// One accepted connection, before its task starts.
struct Connection {
    stream: TcpStream,
    remote: SocketAddr,
    builder: Arc<Builder<TokioExecutor>>,
    service: TowerToHyperService<Router>,
    watcher: hyper_util::server::graceful::Watcher,
    stop: watch::Receiver<()>,
    header_read_timeout: Duration,
}

impl Connection {
    /// Serves the connection until the client or the server closes it.
    async fn run(self) {
        let Self {
            mut stream,
            remote,
            builder,
            service,
            watcher,
            mut stop,
            header_read_timeout,
        } = self;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%remote, %error, "cannot set TCP_NODELAY");
        }
        let prefix = tokio::select! {
            read = tokio::time::timeout(header_read_timeout, read_protocol_prefix(&mut stream)) => {
                match read {
                    Ok(Ok(prefix)) => prefix,
                    Ok(Err(error)) => {
                        tracing::debug!(%remote, %error, "connection failed before a request");
                        return;
                    }
                    Err(_elapsed) => {
                        tracing::debug!(%remote, "no request within the header read timeout");
                        return;
                    }
                }
            }
            _ = stop.changed() => return,
        };
        let io = TokioIo::new(Prefixed::new(prefix, stream));
        let connection = builder.serve_connection_with_upgrades(io, service);
        if let Err(error) = watcher.watch(connection).await {
            tracing::debug!(%remote, %error, "connection closed with an error");
        }
    }
}

/// Reads the first bytes of a connection until they tell HTTP/1 from the HTTP/2
/// preface (RFC 9113 §3.4), or until end of file.
async fn read_protocol_prefix(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut buf = [0_u8; H2_PREFACE.len()];
    let mut filled = 0;
    loop {
        let read = buf.get(..filled).unwrap_or_default();
        if filled == buf.len() || !H2_PREFACE.starts_with(read) {
            return Ok(read.to_vec());
        }
        let Some(unfilled) = buf.get_mut(filled..) else {
            return Ok(Vec::new());
        };
        let n = stream.read(unfilled).await?;
        if n == 0 {
            return Ok(buf.get(..filled).unwrap_or_default().to_vec());
        }
        filled += n;
    }
}

/// A stream that first replays `prefix`, the bytes already read from it.
struct Prefixed {
    prefix: Vec<u8>,
    replayed: usize,
    inner: TcpStream,
}

impl Prefixed {
    fn new(prefix: Vec<u8>, inner: TcpStream) -> Self {
        Self {
            prefix,
            replayed: 0,
            inner,
        }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = this.prefix.get(this.replayed..).unwrap_or_default();
        if rest.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(rest.get(..n).unwrap_or_default());
        this.replayed += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Accept errors that concern one connection only, so accepting can go on at once.
fn is_connection_error(error: &io::Error) -> bool {
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

/// Pause after an accept error that is not about one connection (such as `EMFILE`).
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// The HTTP/2 connection preface a client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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

    #[tokio::test]
    async fn prefixed_replays_the_prefix_then_reads_the_stream() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut client = TcpStream::connect(addr).await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HTTP/1.1\r\n")
                .await
                .unwrap();
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        let prefix = read_protocol_prefix(&mut stream).await.unwrap();
        assert!(!prefix.is_empty() && b"GET / HTTP/1.1\r\n".starts_with(&prefix));
        let mut all = Vec::new();
        Prefixed::new(prefix, stream)
            .read_to_end(&mut all)
            .await
            .unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\n");
        client.await.unwrap();
    }
}
