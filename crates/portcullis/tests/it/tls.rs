//! Built-in TLS (issue 18): real clients (reqwest over rustls, curl, openssl s_client)
//! over HTTP/1.1 and HTTP/2 chosen by ALPN, certificate reload mid-traffic, HSTS, the
//! protocol versions and suites, the TLS-ALPN-01 seam and the `redirect_http`
//! listener. The HTTP/2 deadlines are in [`h2`].

mod h2;

use crate::support::{BASE_CONFIG, config_for, database_url};
use portcullis_core::clock::{Clock, ManualClock, SystemClock};
use portcullis_server::App;
use portcullis_server::app::config::{AcmeSettings, CertificateSource, TlsSettings};
use portcullis_server::app::tls::TlsCertificates;
use portcullis_server::app::tls::reload::CertificateFiles;
use portcullis_server::http::listeners::{TlsSetup, serve_with_tls};
use portcullis_server::http::serve::ServeLimits;
use portcullis_server::http::tls::TlsLimits;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SerialNumber};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

/// Short limits so each deadline test takes a second or two.
pub const SHORT: TlsLimits = TlsLimits {
    serve: ServeLimits {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(1),
    },
    handshake_timeout: Duration::from_secs(1),
    keep_alive_interval: Duration::from_secs(1),
    keep_alive_timeout: Duration::from_secs(1),
    max_concurrent_streams: 100,
};

/// How long a test waits for the server to act on a 1 s limit.
pub const PATIENCE: Duration = Duration::from_secs(4);

/// A test certificate authority and the leaf certificates it signs for `localhost`.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate: PEM chain, PEM key, DER of the certificate.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Portcullis test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    pub fn ca_der(&self) -> Vec<u8> {
        self.ca.der().to_vec()
    }

    /// A leaf for `localhost` with this serial number.
    pub fn leaf(&self, serial: u64) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        let cert = params.signed_by(&key, &*self.ca).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// What a test server is started with besides its limits.
#[derive(Default)]
pub struct Options {
    /// Poll interval of the certificate files (default 1 h: only SIGHUP reloads).
    pub poll_interval: Option<Duration>,
    /// `[tls.acme]` instead of files (ALPN then offers `acme-tls/1`).
    pub acme: bool,
    /// Start a `redirect_http` listener.
    pub redirect: bool,
}

/// The real router behind the TLS listener, on `127.0.0.1:0` with the issuer
/// `https://localhost:{port}`.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub issuer: String,
    pub certificates: TlsCertificates,
    pub pki: Pki,
    pub leaf: Leaf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub redirect_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _app: App,
    _dir: TempDir,
}

impl TlsServer {
    pub async fn start(limits: TlsLimits) -> Self {
        Self::start_with(limits, Options::default()).await
    }

    pub async fn start_with(limits: TlsLimits, options: Options) -> Self {
        let dir = TempDir::new().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = config_for(
            dir.path(),
            &format!("http://{addr}"),
            BASE_CONFIG,
            &database_url(dir.path()),
        );
        let issuer = format!("https://localhost:{}", addr.port());
        config.issuer = issuer.clone();
        let pki = Pki::new();
        let leaf = pki.leaf(1);
        let (cert_path, key_path) = (dir.path().join("fullchain.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, &leaf.cert_pem).unwrap();
        std::fs::write(&key_path, &leaf.key_pem).unwrap();
        let redirect_addr = options.redirect.then(|| {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        });
        let files = CertificateFiles {
            certificate: cert_path.clone(),
            private_key: key_path.clone(),
            poll_interval: options.poll_interval.unwrap_or(Duration::from_secs(3600)),
        };
        let source = if options.acme {
            CertificateSource::Acme(AcmeSettings {
                directory: "https://acme.invalid/directory".parse().unwrap(),
                contact: Vec::new(),
                domains: vec!["localhost".to_owned()],
                ca_certificates: None,
                renew_before_days: 30,
            })
        } else {
            CertificateSource::Files {
                certificate: cert_path.clone(),
                private_key: key_path.clone(),
            }
        };
        let settings = TlsSettings {
            source,
            redirect_http: redirect_addr,
        };
        let certificates = files.load().unwrap();
        let setup = TlsSetup {
            certificates: certificates.clone(),
            files: (!options.acme).then_some(files),
        };
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let app = App::start(config, clock).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let router = app.router();
        let issuer_for_task = issuer.clone();
        let task = tokio::spawn(async move {
            serve_with_tls(
                listener,
                router,
                &issuer_for_task,
                &settings,
                setup,
                limits,
                async move {
                    let _ = rx.await;
                },
            )
            .await
        });
        if let Some(plain) = redirect_addr {
            let deadline = Instant::now() + PATIENCE;
            while TcpStream::connect(plain).await.is_err() {
                assert!(Instant::now() < deadline, "redirect listener never came up");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Self {
            addr,
            issuer,
            certificates,
            pki,
            leaf,
            cert_path,
            key_path,
            redirect_addr,
            shutdown: Some(tx),
            task,
            _app: app,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// reqwest (rustls) trusting only the test CA, `localhost` pinned to the listener.
    pub fn client(&self, builder: reqwest::ClientBuilder) -> reqwest::Client {
        builder
            .tls_certs_only([reqwest::Certificate::from_pem(self.pki.ca_pem().as_bytes()).unwrap()])
            .resolve("localhost", self.addr)
            .tls_info(true)
            .build()
            .unwrap()
    }

    /// A TLS connection offering `alpn`, with SNI `localhost`.
    pub async fn tls_connect(
        &self,
        alpn: &[&[u8]],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.pki.ca_der().into()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(self.addr).await?;
        connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
    }

    /// Sends the shutdown signal and returns how long serving took to stop.
    pub async fn stop(&mut self, within: Duration) -> Duration {
        let started = Instant::now();
        self.shutdown.take().unwrap().send(()).unwrap();
        tokio::time::timeout(within, &mut self.task)
            .await
            .expect("serve_with_tls did not return in time")
            .unwrap()
            .unwrap();
        started.elapsed()
    }
}

/// The certificate a new client (no TLS session to resume, which would report the
/// certificate of the first session) is served now, after a successful request.
async fn served_der(server: &TlsServer) -> Vec<u8> {
    let client = server.client(reqwest::Client::builder().http1_only());
    let response = client.get(server.url("/health/live")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    peer_der(&response)
}

/// The DER of the certificate a response came with.
fn peer_der(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn serves_http2_and_http1_1_by_alpn_to_reqwest_with_hsts() {
    let server = TlsServer::start(TlsLimits::default()).await;
    let h2 = server.client(reqwest::Client::builder());
    let response = h2.get(server.url("/health/live")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(peer_der(&response), server.leaf.der);
    let h1 = server.client(reqwest::Client::builder().http1_only());
    let response = h1
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let metadata: serde_json::Value = response.json().await.unwrap();
    assert_eq!(metadata["issuer"], server.issuer);
    // Errors carry it too.
    let response = h2.get(server.url("/no-such-page")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

/// Runs `curl` with the test CA; `None` (and a message) when curl is missing.
fn curl(server: &TlsServer, args: &[&str]) -> Option<String> {
    let dir = TempDir::new().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.pki.ca_pem()).unwrap();
    let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
    let output = match Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .args(["--resolve", &resolve])
        .args(args)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            eprintln!("SKIPPED: curl is not available ({error})");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

// curl and openssl block this thread: the server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_speaks_http2_and_http1_1() {
    let server = TlsServer::start(TlsLimits::default()).await;
    let url = server.url("/health/live");
    let format = "%{http_version} %{http_code}";
    let Some(h2) = curl(&server, &["--http2", "-o", "/dev/null", "-w", format, &url]) else {
        return;
    };
    assert_eq!(h2, "2 200");
    let h1 = curl(
        &server,
        &["--http1.1", "-o", "/dev/null", "-w", format, &url],
    )
    .unwrap();
    assert_eq!(h1, "1.1 200");
    let headers = curl(&server, &["--http2", "-D", "-", "-o", "/dev/null", &url]).unwrap();
    assert!(
        headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );
}

// curl and openssl block this thread: the server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_an_oversized_header_list_with_431_over_both_protocols() {
    let server = TlsServer::start(TlsLimits::default()).await;
    let url = server.url("/health/live");
    let big = format!("X-Big: {}", "a".repeat(20 * 1024));
    for protocol in ["--http2", "--http1.1"] {
        let Some(status) = curl(
            &server,
            &[
                protocol,
                "-H",
                &big,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &url,
            ],
        ) else {
            return;
        };
        assert_eq!(status, "431", "{protocol}");
    }
}

/// `openssl s_client` against the server with `args`; whether the handshake succeeded,
/// and the output. `None` when openssl is missing.
fn s_client(server: &TlsServer, args: &[&str]) -> Option<(bool, String)> {
    let connect = format!("127.0.0.1:{}", server.addr.port());
    let output = match Command::new("timeout")
        .args([
            "10",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            "localhost",
        ])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            eprintln!("SKIPPED: openssl is not available ({error})");
            return None;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // A completed handshake prints the negotiated protocol and suite.
    let established = text.contains("New, TLSv1.");
    Some((established, text))
}

// curl and openssl block this thread: the server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_tls_1_0_and_1_1_and_accepts_1_2_and_1_3() {
    let server = TlsServer::start(TlsLimits::default()).await;
    // SECLEVEL=0 so that the client itself is willing to speak TLS 1.0/1.1: the refusal
    // must come from the server.
    for old in ["-tls1", "-tls1_1"] {
        let Some((established, text)) = s_client(&server, &[old, "-cipher", "DEFAULT:@SECLEVEL=0"])
        else {
            return;
        };
        assert!(!established, "{old}: {text}");
        assert!(
            text.contains("no peer certificate available"),
            "{old}: {text}"
        );
    }
    let (established, text) = s_client(&server, &["-tls1_2"]).unwrap();
    assert!(established, "{text}");
    assert!(text.contains("ECDHE-ECDSA-AES256-GCM-SHA384"), "{text}");
    let (established, text) = s_client(&server, &["-tls1_3"]).unwrap();
    assert!(established, "{text}");
    assert!(text.contains("TLS_AES_256_GCM_SHA384"), "{text}");
}

// curl and openssl block this thread: the server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_tls_1_2_suites_without_ecdhe_and_aead() {
    let server = TlsServer::start(TlsLimits::default()).await;
    for suite in [
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-ECDSA-AES256-SHA",
        "AES128-GCM-SHA256",
    ] {
        let Some((established, text)) = s_client(&server, &["-tls1_2", "-cipher", suite]) else {
            return;
        };
        assert!(!established, "{suite}: {text}");
    }
    let (established, text) = s_client(
        &server,
        &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
    )
    .unwrap();
    assert!(!established, "{text}");
    let (established, text) = s_client(
        &server,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    )
    .unwrap();
    assert!(established, "{text}");
}

/// Replaces the certificate files with `leaf`'s, key first (a reader between the two
/// writes sees a mismatched pair).
fn write_pair(server: &TlsServer, leaf: &Leaf) {
    std::fs::write(&server.key_path, &leaf.key_pem).unwrap();
    std::fs::write(&server.cert_path, &leaf.cert_pem).unwrap();
}

#[tokio::test]
async fn reloads_a_changed_certificate_mid_traffic_without_a_failed_request() {
    let server = TlsServer::start_with(
        TlsLimits::default(),
        Options {
            poll_interval: Some(Duration::from_millis(100)),
            ..Options::default()
        },
    )
    .await;
    // Clients that keep no idle connection: every request is a new handshake.
    let client = server.client(
        reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(0),
    );
    let keep_going = Arc::new(AtomicBool::new(true));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (client, url) = (client.clone(), server.url("/health/live"));
        let (keep_going, ok, failed) = (keep_going.clone(), ok.clone(), failed.clone());
        loops.push(tokio::spawn(async move {
            while keep_going.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new = server.pki.leaf(2);
    write_pair(&server, &new);
    let deadline = Instant::now() + PATIENCE;
    loop {
        if served_der(&server).await == new.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    keep_going.store(false, Ordering::Relaxed);
    for task in loops {
        task.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 10, "{ok:?}");
    // Serial 2 is what new handshakes get from now on.
    let stream = server.tls_connect(&[b"http/1.1"]).await.unwrap();
    let served = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    assert_eq!(served, new.der);
}

#[tokio::test]
async fn keeps_the_old_certificate_when_the_new_files_are_bad() {
    let server = TlsServer::start_with(
        TlsLimits::default(),
        Options {
            poll_interval: Some(Duration::from_millis(100)),
            ..Options::default()
        },
    )
    .await;
    // Not PEM at all, then a key that is not the certificate's.
    std::fs::write(&server.cert_path, "garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_der(&server).await, server.leaf.der);
    let (a, b) = (server.pki.leaf(3), server.pki.leaf(4));
    std::fs::write(&server.cert_path, &a.cert_pem).unwrap();
    std::fs::write(&server.key_path, &b.key_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_der(&server).await, server.leaf.der);
    // Fixing the key file is picked up.
    std::fs::write(&server.key_path, &a.key_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_der(&server).await, a.der);
}

#[tokio::test]
async fn sighup_reloads_the_certificate() {
    // Files polled once an hour: only the signal can explain a reload.
    let server = TlsServer::start(TlsLimits::default()).await;
    let new = server.pki.leaf(5);
    write_pair(&server, &new);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(served_der(&server).await, server.leaf.der);
    let status = Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + PATIENCE;
    loop {
        if served_der(&server).await == new.der {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn closes_a_connection_whose_handshake_never_finishes() {
    let server = TlsServer::start(SHORT).await;
    for first_bytes in [
        &b""[..],
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(first_bytes).await.unwrap();
        let started = Instant::now();
        let mut buf = [0_u8; 64];
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "still open after {:?}: {read:?}",
            started.elapsed()
        );
        assert!(started.elapsed() >= Duration::from_millis(800));
    }
}

#[tokio::test]
async fn answers_tls_alpn_01_with_the_challenge_certificate_and_closes() {
    let server = TlsServer::start_with(
        TlsLimits::default(),
        Options {
            acme: true,
            ..Options::default()
        },
    )
    .await;
    // No challenge pending: no certificate, the handshake fails.
    assert!(server.tls_connect(&[b"acme-tls/1"]).await.is_err());
    let challenge = server.pki.leaf(7);
    let key = portcullis_server::app::tls::certified_key_from_pem(
        challenge.cert_pem.as_bytes(),
        challenge.key_pem.as_bytes(),
    )
    .unwrap();
    server.certificates.set_challenge("localhost", key);
    let mut stream = server.tls_connect(&[b"acme-tls/1"]).await.unwrap();
    let (_, connection) = stream.get_ref();
    assert_eq!(connection.alpn_protocol(), Some(&b"acme-tls/1"[..]));
    assert_eq!(
        connection.peer_certificates().unwrap()[0].to_vec(),
        challenge.der
    );
    let mut buf = [0_u8; 16];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    // Ordinary clients still get the served certificate.
    let stream = server.tls_connect(&[b"h2", b"http/1.1"]).await.unwrap();
    assert_eq!(
        stream.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        server.leaf.der
    );
    server.certificates.clear_challenge("localhost");
    assert!(server.tls_connect(&[b"acme-tls/1"]).await.is_err());
}

#[tokio::test]
async fn redirect_http_sends_get_to_the_https_issuer_and_refuses_post() {
    let server = TlsServer::start_with(
        TlsLimits::default(),
        Options {
            redirect: true,
            ..Options::default()
        },
    )
    .await;
    let plain = format!("http://{}", server.redirect_addr.unwrap());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("{plain}/authorize?client_id=web&state=x"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("{}/authorize?client_id=web&state=x", server.issuer).as_str()
    );
    let response = client.head(format!("{plain}/")).send().await.unwrap();
    assert_eq!(response.status(), 308);
    let response = client
        .post(format!("{plain}/token"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    // ACME HTTP-01 (RFC 8555 §8.3): the key authorization of a pending token only.
    let challenge = format!("{plain}/.well-known/acme-challenge/tok123");
    assert_eq!(client.get(&challenge).send().await.unwrap().status(), 404);
    server
        .certificates
        .set_http_challenge("tok123", "tok123.thumbprint");
    let response = client.get(&challenge).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "tok123.thumbprint");
}

#[tokio::test]
async fn hsts_on_an_https_issuer_behind_a_proxy_and_not_on_http() {
    use crate::support::TestApp;
    let app = TestApp::start().await;
    let response = reqwest::get(app.url("/health/live")).await.unwrap();
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    // The plain loop with an https issuer (TLS at a proxy): every answer has it.
    let dir = TempDir::new().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = config_for(
        dir.path(),
        &format!("http://{addr}"),
        BASE_CONFIG,
        &database_url(dir.path()),
    );
    config.issuer = "https://id.example.com".to_owned();
    let app = App::start(config, Arc::new(SystemClock)).await.unwrap();
    let router = app.router();
    let task = tokio::spawn(portcullis_server::http::serve::serve(
        listener,
        router,
        ServeLimits::default(),
        std::future::pending(),
    ));
    for path in ["/health/live", "/missing", "/token"] {
        let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }
    task.abort();
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_bounds_requests_in_flight() {
    let mut server = TlsServer::start(SHORT).await;
    let client = server.client(reqwest::Client::builder());
    let response = client.get(server.url("/health/live")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let elapsed = server.stop(Duration::from_secs(3)).await;
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}
