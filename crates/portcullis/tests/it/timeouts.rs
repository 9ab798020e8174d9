//! `portcullis_server::http::serve::serve`: time limits on clients that stall, and a
//! shutdown that finishes within its grace. Raw TCP clients play the slow peers.

use crate::support::{BASE_CONFIG, SVC_SECRET, basic_header, config_for, database_url};
use portcullis_core::clock::{Clock, ManualClock, SystemClock};
use portcullis_server::App;
use portcullis_server::http::serve::{ServeLimits, serve};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Short limits so each test takes about a second.
const SHORT: ServeLimits = ServeLimits {
    header_read_timeout: Duration::from_secs(1),
    request_timeout: Duration::from_secs(1),
    shutdown_grace: Duration::from_secs(1),
};

/// How long a test waits for the server to act on a 1 s limit.
const PATIENCE: Duration = Duration::from_secs(3);

/// A token request body whose `Content-Length` promises 100 bytes; 11 are sent.
const STUCK_BODY_REQUEST: &str = "POST /token HTTP/1.1\r\nHost: x\r\n\
    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
    grant_type=";

struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _app: App,
    _dir: TempDir,
}

impl Server {
    async fn start(limits: ServeLimits) -> Self {
        let dir = TempDir::new().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let config = config_for(dir.path(), &base, BASE_CONFIG, &database_url(dir.path()));
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let app = App::start(config, clock).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(serve(listener, app.router(), limits, shutdown));
        Self {
            addr,
            shutdown: Some(tx),
            task,
            _app: app,
            _dir: dir,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// Sends the shutdown signal and returns how long `serve` took to return.
    async fn stop(&mut self, within: Duration) -> Duration {
        let started = Instant::now();
        self.shutdown.take().unwrap().send(()).unwrap();
        tokio::time::timeout(within, &mut self.task)
            .await
            .expect("serve did not return in time")
            .unwrap()
            .unwrap();
        started.elapsed()
    }
}

/// What a raw client saw.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The server closed the connection (end of file or reset) after these bytes.
    Closed(Vec<u8>),
    /// A complete response: status and body.
    Response(u16, Vec<u8>),
    /// Nothing decisive within the patience.
    StillOpen,
}

/// Reads until a complete response (by `Content-Length`), the connection closes, or
/// `patience` runs out.
async fn read_outcome(stream: &mut TcpStream, patience: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + patience;
    let mut bytes = Vec::new();
    loop {
        if let Some((status, body)) = complete_response(&bytes) {
            return Outcome::Response(status, body);
        }
        let mut chunk = [0_u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Outcome::StillOpen,
            Ok(Ok(0) | Err(_)) => return Outcome::Closed(bytes),
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

fn complete_response(bytes: &[u8]) -> Option<(u16, Vec<u8>)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    (body.len() >= length).then(|| (status, body.as_bytes()[..length].to_vec()))
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn closes_a_connection_whose_headers_never_finish() {
    let server = Server::start(SHORT).await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /token HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let outcome = read_outcome(&mut stream, PATIENCE).await;
    assert!(
        matches!(outcome, Outcome::Closed(_) | Outcome::Response(408, _)),
        "{outcome:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn closes_a_connection_that_sends_nothing() {
    let server = Server::start(SHORT).await;
    let mut stream = server.connect().await;
    let outcome = read_outcome(&mut stream, PATIENCE).await;
    assert_eq!(outcome, Outcome::Closed(Vec::new()));
}

#[tokio::test]
async fn refuses_http2_prior_knowledge_and_closes() {
    // HTTP/1.1 only (an idle HTTP/2 connection would have no deadline): the preface of
    // an HTTP/2 client is answered 400 and the connection is closed, not held open.
    for preface in [
        &b"PRI * HTTP/2.0\r\n"[..],
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
    ] {
        let server = Server::start(SHORT).await;
        let mut stream = server.connect().await;
        stream.write_all(preface).await.unwrap();
        let outcome = read_outcome(&mut stream, PATIENCE).await;
        assert!(
            matches!(outcome, Outcome::Response(400, _) | Outcome::Closed(_)),
            "{outcome:?}"
        );
        if matches!(outcome, Outcome::Response(..)) {
            assert!(matches!(
                read_outcome(&mut stream, PATIENCE).await,
                Outcome::Closed(_)
            ));
        }
    }
}

#[tokio::test]
async fn times_out_a_request_whose_body_never_arrives() {
    let server = Server::start(SHORT).await;
    let mut stream = server.connect().await;
    stream
        .write_all(STUCK_BODY_REQUEST.as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let outcome = read_outcome(&mut stream, PATIENCE).await;
    let Outcome::Response(status, body) = outcome else {
        panic!("expected a 408 response, got {outcome:?}");
    };
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(status, 408);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "error": "invalid_request",
            "error_description": "the request took longer than 1 second",
        })
    );
}

#[tokio::test]
async fn request_timeout_response_is_json_and_not_cached() {
    let server = Server::start(SHORT).await;
    let mut stream = server.connect().await;
    stream
        .write_all(STUCK_BODY_REQUEST.as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw)).await;
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{raw}");
    assert_eq!(header(&raw, "content-type"), Some("application/json"));
    assert_eq!(header(&raw, "cache-control"), Some("no-store"));
    assert_eq!(header(&raw, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        header(&raw, "x-request-id").map(str::len),
        Some(36),
        "a request id like every response"
    );
}

#[tokio::test]
async fn shutdown_finishes_within_the_grace_even_with_a_stuck_client() {
    // Long request and header limits: only the grace can end these clients.
    let mut server = Server::start(ServeLimits {
        header_read_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(1),
    })
    .await;
    let mut stuck_body = server.connect().await;
    stuck_body
        .write_all(STUCK_BODY_REQUEST.as_bytes())
        .await
        .unwrap();
    let mut stuck_head = server.connect().await;
    stuck_head
        .write_all(b"POST /token HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = server.connect().await;
    // Let the server accept them and start the request.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let took = server.stop(Duration::from_secs(3)).await;
    assert!(
        took >= Duration::from_millis(900),
        "the request in flight got no grace: {took:?}"
    );
    for stream in [&mut stuck_body, &mut stuck_head, &mut silent] {
        let outcome = read_outcome(stream, Duration::from_millis(500)).await;
        assert!(matches!(outcome, Outcome::Closed(_)), "{outcome:?}");
    }
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut server = Server::start(ServeLimits {
        shutdown_grace: Duration::from_secs(3),
        ..SHORT
    })
    .await;
    let body = "grant_type=client_credentials";
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        basic_header("svc", SVC_SECRET),
        body.len()
    );
    let mut stream = server.connect().await;
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let shutdown = server.shutdown.take().unwrap();
    shutdown.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let outcome = read_outcome(&mut stream, PATIENCE).await;
    let Outcome::Response(status, body) = outcome else {
        panic!("expected a response, got {outcome:?}");
    };
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["access_token"].is_string());
    // The server returns once the last request is done, well before the grace ends.
    tokio::time::timeout(Duration::from_secs(2), &mut server.task)
        .await
        .expect("serve did not return after the last request")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_normal_token_request_still_works() {
    let mut server = Server::start(SHORT).await;
    let http = reqwest::Client::new();
    // Twice on one keep-alive connection.
    for _ in 0..2 {
        let response = http
            .post(format!("http://{}/token", server.addr))
            .header("authorization", basic_header("svc", SVC_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "the router's own middleware still runs"
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["access_token"].is_string());
    }
    let took = server.stop(Duration::from_secs(3)).await;
    assert!(
        took < Duration::from_millis(500),
        "idle connections must not hold the shutdown: {took:?}"
    );
}
