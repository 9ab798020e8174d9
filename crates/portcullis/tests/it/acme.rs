//! Issue 18 item 2: automatic certificates (RFC 8555) against **Pebble**, Let's
//! Encrypt's ACME test server (Debian package `pebble`), end to end: `portcullis serve`
//! processes with `[tls.acme]` order, answer TLS-ALPN-01 (RFC 8737) on their own TLS
//! listener, serve, renew, share one certificate across two nodes, and keep the old
//! certificate when the CA is gone.
//!
//! The set-up ([`Pebble`]): a test CA made here signs Pebble's own https certificate
//! (the Debian package ships none) and is given to the server as
//! `[tls.acme] ca_certificates`; `pebble-challtestsrv` is Pebble's DNS server and
//! answers 127.0.0.1 for every name, so the test domain reaches the server; Pebble's
//! `tlsPort` is the server's TLS port; `PEBBLE_VA_NOSLEEP=1`. Clients trust only
//! Pebble's issuing root (management endpoint `/roots/0`). Skipped, with a printed
//! reason, when `pebble` is not installed (`.ci/run` installs it).

use crate::postgres::with_fresh_database;
use crate::support::binary;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The name the certificate is for; challtestsrv resolves it to 127.0.0.1.
const DOMAIN: &str = "acme.portcullis.test";

// --- the tests ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_a_certificate_serves_it_and_serves_it_at_once_after_a_restart() {
    let port = free_port();
    let Some(pebble) = Pebble::start(port, 3600).await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let config = server_config(&dir, &pebble, port, &sqlite_url(&dir));
    let mut server = Server::start(&dir, &config, port, "only");
    let first = server
        .first_https_answer(&pebble, Duration::from_secs(60))
        .await;
    assert_eq!(first.status, 200);
    assert!(server.log().contains("ordering a certificate"));
    // Stored: a restart serves the same certificate at once, without ordering.
    server.stop();
    let mut again = Server::start(&dir, &config, port, "again");
    let second = again
        .first_https_answer(&pebble, Duration::from_secs(20))
        .await;
    assert_eq!(
        second.serial, first.serial,
        "the stored certificate is served"
    );
    assert!(
        !again.log().contains("ordering a certificate"),
        "{}",
        again.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renews_a_short_lived_certificate_without_a_failed_request() {
    let port = free_port();
    // 30 s certificates: renewed when 10 s remain (a third of the lifetime), up to
    // 2.5 s sooner.
    let Some(pebble) = Pebble::start(port, 30).await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let config = server_config(&dir, &pebble, port, &sqlite_url(&dir));
    let mut server = Server::start(&dir, &config, port, "only");
    let first = server
        .first_https_answer(&pebble, Duration::from_secs(60))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut requests = 0;
    let renewed = loop {
        assert!(
            Instant::now() < deadline,
            "not renewed in 60 s: {}",
            server.log()
        );
        let answer = get(&pebble, port)
            .await
            .unwrap_or_else(|e| panic!("request {requests} failed: {e}; {}", server.log()));
        requests += 1;
        assert_eq!(answer.status, 200);
        if answer.serial != first.serial {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(renewed.not_after > first.not_after);
    assert!(
        requests > 20,
        "requests went on through the renewal ({requests})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_renewal_keeps_the_old_certificate() {
    let port = free_port();
    let Some(mut pebble) = Pebble::start(port, 30).await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let config = server_config(&dir, &pebble, port, &sqlite_url(&dir));
    let mut server = Server::start(&dir, &config, port, "only");
    let first = server
        .first_https_answer(&pebble, Duration::from_secs(60))
        .await;
    pebble.stop();
    // Past the renewal moment (10–12.5 s before expiry): the order fails...
    let deadline = Instant::now() + Duration::from_secs(40);
    while !server.log().contains("the ACME order failed") {
        assert!(
            Instant::now() < deadline,
            "no failed order: {}",
            server.log()
        );
        let answer = get(&pebble, port).await.unwrap();
        assert_eq!(answer.serial, first.serial);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // ...and the old certificate is still served (with the CA's test root, until it
    // expires), never nothing.
    let answer = get(&pebble, port).await.unwrap();
    assert_eq!((answer.status, answer.serial), (200, first.serial));
    assert!(
        server
            .log()
            .contains("still serving the current certificate"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_certificate_and_only_one_orders() {
    // Pebble validates on one port: node A's. Whichever node takes the lease orders;
    // when it is B, A answers the challenge B published in the store.
    let ports = [free_port(), free_port()];
    let Some(pebble) = Pebble::start(ports[0], 3600).await else {
        return;
    };
    with_fresh_database(move |db| async move {
        let dir = TempDir::new().unwrap();
        let config = server_config(&dir, &pebble, ports[0], &db.url);
        let mut a = Server::start(&dir, &config, ports[0], "a");
        let mut b = Server::start(&dir, &config, ports[1], "b");
        let on_a = a.first_https_answer(&pebble, Duration::from_secs(60)).await;
        let on_b = b.first_https_answer(&pebble, Duration::from_secs(30)).await;
        assert_eq!(on_a.serial, on_b.serial, "both serve the one certificate");
        let orders = [&a, &b]
            .iter()
            .filter(|s| s.log().contains("ordering a certificate"))
            .count();
        assert_eq!(orders, 1, "A: {}\nB: {}", a.log(), b.log());
        a.stop();
        b.stop();
        drop(pebble);
    })
    .await;
}

// --- the harness -------------------------------------------------------------------------

/// What one https request saw: the status and the served leaf certificate.
struct Answer {
    status: u16,
    serial: Vec<u8>,
    not_after: i64,
}

/// `GET /health/live` over https on a new connection (a new client each time: a new
/// handshake, so the certificate served now is the one seen).
async fn get(pebble: &Pebble, port: u16) -> Result<Answer, reqwest::Error> {
    let response = pebble
        .client(port)
        .get(format!("https://{DOMAIN}:{port}/health/live"))
        .send()
        .await?;
    let leaf = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info")
        .to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).unwrap();
    Ok(Answer {
        status: response.status().as_u16(),
        serial: cert.raw_serial().to_vec(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// The `[tls.acme]` server config: an https issuer on the test domain, Pebble's
/// directory and test CA.
fn server_config(dir: &TempDir, pebble: &Pebble, port: u16, database_url: &str) -> PathBuf {
    let path = dir.path().join("portcullis.toml");
    let config = format!(
        r#"issuer = "https://{DOMAIN}:{port}"
database_url = "{database_url}"

[tls.acme]
directory = "{directory}"
contact = ["mailto:ops@portcullis.test"]
ca_certificates = "{ca}"
"#,
        directory = pebble.directory,
        ca = pebble.ca_file.display(),
    );
    std::fs::write(&path, config).unwrap();
    path
}

fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}/portcullis.db", dir.path().display())
}

/// A `portcullis serve` process with its log.
struct Server {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &TempDir, config: &Path, port: u16, name: &str) -> Self {
        let log = dir.path().join(format!("server-{name}.log"));
        let child = Command::new(binary())
            .current_dir(dir.path())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "PORTCULLIS_MASTER_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .env("RUST_LOG", "info")
            .env_remove("PORTCULLIS_ISSUER")
            .env_remove("PORTCULLIS_DATABASE_URL")
            .env_remove("PORTCULLIS_CONFIG")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child: Some(child),
            port,
            log,
        }
    }

    /// Its output so far (stdout and stderr).
    fn log(&self) -> String {
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        format!("{out}{err}")
    }

    /// Retries until an https request succeeds (the first certificate may still be on
    /// its way), then returns it.
    async fn first_https_answer(&mut self, pebble: &Pebble, within: Duration) -> Answer {
        let port = self.port;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the server exited ({status}): {}", self.log());
            }
            match get(pebble, port).await {
                Ok(answer) => return answer,
                Err(e) if Instant::now() >= deadline => {
                    panic!("no https answer within {within:?}: {e:?}\n{}", self.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pebble and its DNS server (`pebble-challtestsrv`), stopped when dropped.
struct Pebble {
    pebble: Option<Child>,
    challtestsrv: Option<Child>,
    _dir: TempDir,
    /// The ACME directory URL.
    directory: String,
    /// The test CA that signed Pebble's https certificate (PEM file).
    ca_file: PathBuf,
    /// Pebble's issuing root, which the server's certificates chain to.
    root: reqwest::Certificate,
}

impl Pebble {
    /// Starts Pebble validating TLS-ALPN-01 on `tls_port` and issuing certificates
    /// valid for `validity_seconds`; `None` (with a printed reason) if Pebble is not
    /// installed.
    async fn start(tls_port: u16, validity_seconds: u64) -> Option<Self> {
        let (Some(pebble_bin), Some(challtestsrv_bin)) =
            (on_path("pebble"), on_path("pebble-challtestsrv"))
        else {
            // CI installs Pebble and sets this: there a missing Pebble is a failure,
            // not a skip (the ACME tests must not pass without running).
            assert!(
                std::env::var_os("PORTCULLIS_REQUIRE_PEBBLE").is_none(),
                "PORTCULLIS_REQUIRE_PEBBLE is set but `pebble` / `pebble-challtestsrv` are not on PATH"
            );
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "acme: skipped: `pebble` and `pebble-challtestsrv` are not installed \
                 (apt-get install -y pebble)"
            );
            return None;
        };
        let dir = TempDir::new().unwrap();
        let (ca_pem, cert_pem, key_pem) = pebble_https_certificate();
        let ca_file = dir.path().join("pebble-ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), key_pem).unwrap();
        let [
            acme_port,
            management_port,
            dns_port,
            dns_management_port,
            http_port,
        ] = [(); 5].map(|()| free_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{acme_port}"),
                "managementListenAddress": format!("127.0.0.1:{management_port}"),
                "certificate": "cert.pem",
                "privateKey": "key.pem",
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": validity_seconds,
            }
        });
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let challtestsrv = Command::new(challtestsrv_bin)
            .current_dir(dir.path())
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management_port}")])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .unwrap();
        let pebble = Command::new(pebble_bin)
            .current_dir(dir.path())
            .args(["-config", "pebble.json"])
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .unwrap();
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
        let management = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        let directory = format!("https://localhost:{acme_port}/dir");
        let deadline = Instant::now() + Duration::from_secs(20);
        let root_pem = loop {
            let root = management
                .get(format!("https://localhost:{management_port}/roots/0"))
                .send()
                .await;
            let directory_up = management.get(&directory).send().await;
            if let (Ok(root), Ok(up)) = (root, directory_up)
                && root.status() == 200
                && up.status() == 200
            {
                break root.text().await.unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "pebble did not start: {}",
                std::fs::read_to_string(dir.path().join("pebble.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Some(Self {
            pebble: Some(pebble),
            challtestsrv: Some(challtestsrv),
            _dir: dir,
            directory,
            ca_file,
            root: reqwest::Certificate::from_pem(root_pem.as_bytes()).unwrap(),
        })
    }

    /// A client for the server on `port` (reached as [`DOMAIN`]) that trusts only
    /// Pebble's issuing root and reports the served certificate.
    fn client(&self, port: u16) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([self.root.clone()])
            .tls_info(true)
            .pool_max_idle_per_host(0)
            .resolve(DOMAIN, SocketAddr::from(([127, 0, 0, 1], port)))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// Stops Pebble (the CA is gone); its DNS server too.
    fn stop(&mut self) {
        for child in [self.pebble.take(), self.challtestsrv.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A test CA and, signed by it, Pebble's https certificate for `localhost` and
/// 127.0.0.1: `(ca_pem, cert_pem, key_pem)`.
fn pebble_https_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Portcullis test CA for Pebble");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// The executable `name` on `PATH`, if any.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
