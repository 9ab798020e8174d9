//! The HTTP/2 protections of the TLS listener, each proven with a raw HTTP/2 client
//! (frames written by hand over rustls, RFC 9113 §4) that misbehaves in one way, as
//! `timeouts.rs` does for HTTP/1.1.

use super::{PATIENCE, SHORT, TlsServer};
use portcullis_server::http::tls::TlsLimits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

type Stream = TlsStream<TcpStream>;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![length[1], length[2], length[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), first byte ORed with `high`.
fn integer(out: &mut Vec<u8>, high: u8, n: u32, mut value: usize) {
    let max = (1_usize << n) - 1;
    if value < max {
        out.push(high | u8::try_from(value).unwrap());
        return;
    }
    out.push(high | u8::try_from(max).unwrap());
    value -= max;
    while value >= 128 {
        out.push(u8::try_from(value % 128).unwrap() | 0x80);
        value /= 128;
    }
    out.push(u8::try_from(value).unwrap());
}

/// A literal header field without indexing, new name (RFC 7541 §6.2.2), no Huffman.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    integer(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    integer(out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// A request header block: `method` (`GET` or `POST`), `path`, and extra fields.
fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    // Static table (RFC 7541 Appendix A): 2 `:method GET`, 3 `:method POST`, 7 `:scheme https`.
    block.push(if method == "GET" { 0x82 } else { 0x83 });
    block.push(0x87);
    literal(&mut block, ":path", path);
    literal(&mut block, ":authority", "localhost");
    for (name, value) in extra {
        literal(&mut block, name, value);
    }
    block
}

/// Handshake with ALPN `h2`, the client preface and an empty SETTINGS.
async fn open(server: &TlsServer) -> Stream {
    let mut stream = server.tls_connect(&[b"h2"]).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    stream
}

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

/// The next frame; `Err(true)` when the connection closed, `Err(false)` on timeout.
async fn next(stream: &mut Stream, deadline: tokio::time::Instant) -> Result<Frame, bool> {
    let mut head = [0_u8; 9];
    match tokio::time::timeout_at(deadline, stream.read_exact(&mut head)).await {
        Err(_) => return Err(false),
        Ok(Err(_)) => return Err(true),
        Ok(Ok(_)) => {}
    }
    let length = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let mut payload = vec![0_u8; length];
    match tokio::time::timeout_at(deadline, stream.read_exact(&mut payload)).await {
        Err(_) => return Err(false),
        Ok(Err(_)) => return Err(true),
        Ok(Ok(_)) => {}
    }
    Ok(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5] & 0x7f, head[6], head[7], head[8]]),
        payload,
    })
}

/// What the server did within `patience`: the kinds of the frames it sent, and
/// whether it closed the connection.
async fn watch(stream: &mut Stream, patience: Duration, ack_pings: bool) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + patience;
    let mut kinds = Vec::new();
    loop {
        match next(stream, deadline).await {
            Ok(frame) => {
                if frame.kind == PING && frame.flags & ACK == 0 && ack_pings {
                    let pong = self::frame(PING, ACK, 0, &frame.payload);
                    let _ = stream.write_all(&pong).await;
                }
                kinds.push(frame.kind);
            }
            Err(closed) => return (kinds, closed),
        }
    }
}

#[tokio::test]
async fn h2_closes_a_connection_that_never_sends_a_request() {
    let server = TlsServer::start(SHORT).await;
    let mut stream = open(&server).await;
    let started = Instant::now();
    let (kinds, closed) = watch(&mut stream, PATIENCE, true).await;
    assert!(closed, "still open; frames {kinds:?}");
    assert!(kinds.contains(&GOAWAY), "{kinds:?}");
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn h2_closes_a_connection_whose_header_block_never_finishes() {
    let server = TlsServer::start(SHORT).await;
    let mut stream = open(&server).await;
    // HEADERS without END_HEADERS: a CONTINUATION must follow, and never does.
    let block = request_block("GET", "/health/live", &[]);
    stream
        .write_all(&frame(HEADERS, END_STREAM, 1, &block))
        .await
        .unwrap();
    let (kinds, closed) = watch(&mut stream, PATIENCE, true).await;
    assert!(closed, "still open; frames {kinds:?}");
    assert!(
        !kinds.contains(&HEADERS),
        "answered an unfinished request: {kinds:?}"
    );
}

#[tokio::test]
async fn h2_closes_an_idle_connection_after_its_request() {
    let server = TlsServer::start(SHORT).await;
    let mut stream = open(&server).await;
    let block = request_block("GET", "/health/live", &[]);
    stream
        .write_all(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let answered = loop {
        let frame = next(&mut stream, deadline).await.unwrap_or_else(|closed| {
            panic!("no answer (closed: {closed})");
        });
        if frame.kind == HEADERS && frame.stream == 1 {
            break Instant::now();
        }
    };
    let (kinds, closed) = watch(&mut stream, PATIENCE, true).await;
    assert!(closed, "idle connection still open; frames {kinds:?}");
    assert!(kinds.contains(&GOAWAY), "{kinds:?}");
    assert!(answered.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn h2_closes_a_connection_whose_peer_ignores_pings() {
    // A request in flight (its body never comes) keeps the idle deadline away; the
    // request deadline is long, so only the unanswered PING can close the connection.
    let limits = TlsLimits {
        serve: portcullis_server::http::serve::ServeLimits {
            request_timeout: Duration::from_secs(30),
            ..SHORT.serve
        },
        ..SHORT
    };
    let server = TlsServer::start(limits).await;
    let mut stream = open(&server).await;
    let block = request_block(
        "POST",
        "/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "100"),
        ],
    );
    stream
        .write_all(&frame(HEADERS, END_HEADERS, 1, &block))
        .await
        .unwrap();
    stream
        .write_all(&frame(DATA, 0, 1, b"grant_type="))
        .await
        .unwrap();
    let started = Instant::now();
    let (kinds, closed) = watch(&mut stream, Duration::from_secs(6), false).await;
    assert!(kinds.contains(&PING), "no PING: {kinds:?}");
    assert!(closed, "still open; frames {kinds:?}");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(
        !kinds.contains(&HEADERS),
        "the request was answered: {kinds:?}"
    );
}

#[tokio::test]
async fn h2_answers_pinging_peers_with_a_request_in_flight_until_the_request_deadline() {
    // The control of the test above: the same stuck request from a peer that answers
    // PINGs gets its 408 at the request deadline instead of a closed connection.
    let limits = TlsLimits {
        serve: portcullis_server::http::serve::ServeLimits {
            request_timeout: Duration::from_secs(3),
            ..SHORT.serve
        },
        ..SHORT
    };
    let server = TlsServer::start(limits).await;
    let mut stream = open(&server).await;
    let block = request_block(
        "POST",
        "/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "100"),
        ],
    );
    stream
        .write_all(&frame(HEADERS, END_HEADERS, 1, &block))
        .await
        .unwrap();
    let (kinds, _) = watch(&mut stream, Duration::from_millis(3500), true).await;
    assert!(kinds.contains(&PING), "{kinds:?}");
    assert!(kinds.contains(&HEADERS), "no 408 answer: {kinds:?}");
}

#[tokio::test]
async fn h2_advertises_and_enforces_the_stream_and_header_limits() {
    let server = TlsServer::start(TlsLimits::default()).await;
    let mut stream = open(&server).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let settings = loop {
        let frame = next(&mut stream, deadline)
            .await
            .unwrap_or_else(|c| panic!("{c}"));
        if frame.kind == SETTINGS && frame.flags & ACK == 0 {
            break frame.payload;
        }
    };
    let values: Vec<(u16, u32)> = settings
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    // RFC 9113 §6.5.2: 0x3 MAX_CONCURRENT_STREAMS, 0x6 MAX_HEADER_LIST_SIZE.
    assert!(values.contains(&(0x3, 100)), "{values:?}");
    assert!(values.contains(&(0x6, 16 * 1024)), "{values:?}");
    stream
        .write_all(&frame(SETTINGS, ACK, 0, &[]))
        .await
        .unwrap();
    // 101 requests whose bodies never come: the 101st stream is refused.
    let block = request_block(
        "POST",
        "/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "100"),
        ],
    );
    for i in 0..101_u32 {
        stream
            .write_all(&frame(HEADERS, END_HEADERS, 2 * i + 1, &block))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = next(&mut stream, deadline)
            .await
            .unwrap_or_else(|c| panic!("{c}"));
        if frame.kind == RST_STREAM {
            assert_eq!(frame.stream, 201);
            // REFUSED_STREAM (RFC 9113 §7).
            assert_eq!(frame.payload, 0x7_u32.to_be_bytes());
            break;
        }
        assert!(
            frame.kind != GOAWAY,
            "connection refused instead of the stream"
        );
    }
}

#[tokio::test]
async fn h2_shutdown_sends_goaway_and_ends_within_the_grace() {
    let mut server = TlsServer::start(SHORT).await;
    let mut idle = open(&server).await;
    let mut busy = open(&server).await;
    let block = request_block(
        "POST",
        "/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "100"),
        ],
    );
    busy.write_all(&frame(HEADERS, END_HEADERS, 1, &block))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(async move {
        let elapsed = server.stop(Duration::from_secs(4)).await;
        (server, elapsed)
    });
    let (kinds, closed) = watch(&mut idle, PATIENCE, true).await;
    assert!(kinds.contains(&GOAWAY), "{kinds:?}");
    assert!(closed);
    let (kinds, closed) = watch(&mut busy, PATIENCE, true).await;
    assert!(closed, "{kinds:?}");
    let (_server, elapsed) = stopping.await.unwrap();
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}
