//! A local https server for the outbound fetcher's tests: a test certificate authority
//! (rcgen), a certificate for `127.0.0.1`, `localhost` and [`TEST_HOST`], and canned
//! answers written byte by byte, so a test can answer a redirect, an endless body, a
//! slow answer or a wrong content type. It counts the requests it received.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A name the tests make resolve to 127.0.0.1 (`[outbound]` test override).
pub const TEST_HOST: &str = "cimd.test";

/// The test CA (its PEM in a file, for `[outbound] ca_certificates`) and a TLS
/// acceptor with a certificate it issued.
pub struct TestCa {
    pub dir: TempDir,
    acceptor: TlsAcceptor,
}

impl TestCa {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            TEST_HOST.to_owned(),
        ])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Self {
            dir,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// The CA's PEM file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// One canned answer.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send `Content-Length` (else the body ends when the connection closes).
    pub with_length: bool,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Canned {
    /// 200, `application/json`, `body`.
    pub fn json(body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            with_length: true,
            delay: Duration::ZERO,
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A running test server on 127.0.0.1: the answer for a path is looked up by prefix
/// (the longest wins), falling back to the default answer.
pub struct DocServer {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    answers: Arc<Mutex<Vec<(String, Canned)>>>,
    task: JoinHandle<()>,
}

impl DocServer {
    pub async fn start(ca: &TestCa, answer: Canned) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(vec![(String::from("/"), answer)]));
        let acceptor = ca.acceptor.clone();
        let task = {
            let (hits, answers) = (hits.clone(), answers.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let (acceptor, hits, answers) =
                        (acceptor.clone(), hits.clone(), answers.clone());
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match tls.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        hits.fetch_add(1, Ordering::SeqCst);
                        let text = String::from_utf8_lossy(&request);
                        let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                        let canned = {
                            let answers = answers.lock().unwrap();
                            answers
                                .iter()
                                .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
                                .max_by_key(|(prefix, _)| prefix.len())
                                .map(|(_, c)| c.clone())
                                .unwrap()
                        };
                        tokio::time::sleep(canned.delay).await;
                        let mut head =
                            format!("HTTP/1.1 {} Canned\r\nConnection: close\r\n", canned.status);
                        for (name, value) in &canned.headers {
                            head.push_str(&format!("{name}: {value}\r\n"));
                        }
                        if canned.with_length {
                            head.push_str(&format!("Content-Length: {}\r\n", canned.body.len()));
                        }
                        head.push_str("\r\n");
                        let _ = tls.write_all(head.as_bytes()).await;
                        let _ = tls.write_all(&canned.body).await;
                        let _ = tls.shutdown().await;
                    });
                }
            })
        };
        Self {
            addr,
            hits,
            answers,
            task,
        }
    }

    /// Answers requests for paths starting with `prefix` with `answer`.
    pub fn answer(&self, prefix: &str, answer: Canned) {
        let mut answers = self.answers.lock().unwrap();
        answers.retain(|(p, _)| p != prefix);
        answers.push((prefix.to_owned(), answer));
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
