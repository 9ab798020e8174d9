//! Issue 7: two `portcullis serve` processes on one PostgreSQL database, the way a
//! load balancer runs them. Each test attacks a rule that must hold across nodes
//! (DESIGN "Storage"): single-use codes, refresh rotation and reuse detection, the
//! device polling interval, revocation, all of them through a SIGKILL, and a key
//! rotation.
//!
//! The [`Cluster`] creates a fresh database on `PORTCULLIS_TEST_POSTGRES_URL` (skipped,
//! with a visible line, when unset), writes one config with one issuer (a loopback
//! address no node listens on: the "load balancer"), gives both processes the same
//! master key through `PORTCULLIS_MASTER_KEY`, starts both at once on an empty
//! database, and waits for `/health/ready`. The clock is the wall clock of both
//! processes: interval- and TTL-dependent checks stay short.
//!
//! The browser is one cookie jar for host `127.0.0.1`: cookies ignore ports and the
//! cookie names on an http loopback issuer have no `__Host-` prefix, so a session made
//! on one node is sent to the other.

use crate::flow::{encode, location, pkce, redirect_params};
use crate::html::Form;
use crate::lifecycle::{self, Auth, access_token_of, post_form_to, refresh_token_of};
use crate::postgres::{FreshDatabase, with_fresh_database};
use crate::support::{API, binary, verify_access_token};
use base64::Engine;
use portcullis_core::secret::SecretDigest;
use portcullis_server::app::clients::CLIENT_CACHE_TTL;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

mod crash;
mod dpop;
mod keys;
mod par;
mod private_key_jwt;
mod round_trips;
mod rules;

// --- the harness ------------------------------------------------------------------------

/// One `portcullis serve` process.
pub struct Node {
    pub base: String,
    port: u16,
    child: Option<Child>,
    /// How many processes this node has had (log file names).
    starts: usize,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Two nodes (A = 0, B = 1) on one fresh PostgreSQL database, one issuer, one master key.
pub struct Cluster {
    pub nodes: [Node; 2],
    pub issuer: String,
    pub database_url: String,
    /// Client for the OAuth endpoints (no cookies).
    pub http: reqwest::Client,
    dir: TempDir,
    master_key: String,
    /// `RUST_LOG` for the nodes' processes, if set (else inherited).
    rust_log: Option<String>,
}

impl Cluster {
    /// Starts both nodes at once on `db` with [`CONFIG`] plus `extra_tokens` lines in
    /// `[tokens]`.
    pub async fn start(db: &FreshDatabase, extra_tokens: &str) -> Self {
        let mut cluster = Self::configure(&db.url, extra_tokens);
        // Both at once on the empty database: migrations, the first signing keys and the
        // configured clients and users are raced by two processes.
        cluster.spawn(0);
        cluster.spawn(1);
        cluster.wait_ready(0).await;
        cluster.wait_ready(1).await;
        cluster
    }

    /// Node A alone on `database_url` (node B is never started), with [`CONFIG`] plus
    /// `extra_tokens`, and `RUST_LOG` = `rust_log` when given.
    pub async fn start_node_a(
        database_url: &str,
        extra_tokens: &str,
        rust_log: Option<&str>,
    ) -> Self {
        let mut cluster = Self::configure(database_url, extra_tokens);
        cluster.rust_log = rust_log.map(str::to_owned);
        cluster.spawn(0);
        cluster.wait_ready(0).await;
        cluster
    }

    /// The config file, master key and ports; no process yet.
    fn configure(database_url: &str, extra_tokens: &str) -> Self {
        let dir = TempDir::new().unwrap();
        // The issuer is what a load balancer in front of both nodes would be: a loopback
        // port nobody listens on. Nothing in a flow may need to reach it.
        let issuer = format!("http://127.0.0.1:{}", free_port());
        let config = CONFIG
            .replace("{issuer}", &issuer)
            .replace("{database_url}", database_url)
            .replace("{extra_tokens}", extra_tokens);
        std::fs::write(dir.path().join("portcullis.toml"), config).unwrap();
        let mut key = [0u8; 32];
        portcullis_core::secret::random_bytes(&mut key).unwrap();
        let master_key = base64::engine::general_purpose::STANDARD.encode(key);
        let nodes = [0, 1].map(|_| {
            let port = free_port();
            Node {
                base: format!("http://127.0.0.1:{port}"),
                port,
                child: None,
                starts: 0,
            }
        });
        Self {
            nodes,
            issuer,
            database_url: database_url.to_owned(),
            http: reqwest::Client::new(),
            dir,
            master_key,
            rust_log: None,
        }
    }

    pub fn base(&self, node: usize) -> &str {
        &self.nodes[node].base
    }

    fn spawn(&mut self, node: usize) {
        let dir = self.dir.path();
        let n = &mut self.nodes[node];
        n.starts += 1;
        let log = dir.join(format!("node-{node}-{}.log", n.starts));
        let mut command = Command::new(binary());
        if let Some(filter) = &self.rust_log {
            command.env("RUST_LOG", filter);
        }
        let child = command
            .current_dir(dir)
            .args(["--config", "portcullis.toml", "serve"])
            .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{}", n.port))
            .env("PORTCULLIS_MASTER_KEY", &self.master_key)
            .env_remove("PORTCULLIS_ISSUER")
            .env_remove("PORTCULLIS_DATABASE_URL")
            .env_remove("PORTCULLIS_CONFIG")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err.log")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        n.child = Some(child);
    }

    async fn wait_ready(&mut self, node: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/health/ready", self.nodes[node].base);
        while Instant::now() < deadline {
            let child = self.nodes[node].child.as_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                panic!("node {node} exited early ({status}): {}", self.logs(node));
            }
            if self
                .http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node {node} not ready within 60 s: {}", self.logs(node));
    }

    /// The stderr of `node`'s latest process.
    fn logs(&self, node: usize) -> String {
        let n = &self.nodes[node];
        let path = self
            .dir
            .path()
            .join(format!("node-{node}-{}.err.log", n.starts));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The stdout (the log) of `node`'s latest process so far.
    pub fn stdout_log(&self, node: usize) -> String {
        let n = &self.nodes[node];
        let path = self
            .dir
            .path()
            .join(format!("node-{node}-{}.log", n.starts));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// SIGKILL `node` and reap it.
    pub fn kill(&mut self, node: usize) {
        let mut child = self.nodes[node].child.take().unwrap();
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
    }

    /// A new process for `node` on the same port; waits until it is ready.
    pub async fn restart(&mut self, node: usize) {
        self.spawn(node);
        self.wait_ready(node).await;
    }

    /// POSTs `form` to `path` on `node` with `auth`.
    pub async fn post(
        &self,
        node: usize,
        path: &str,
        form: &[(&str, &str)],
        auth: Auth<'_>,
    ) -> reqwest::Response {
        post_form_to(&self.http, self.base(node), path, form, auth).await
    }

    /// Whether `token` is active at `node`'s introspection for `auth` (an inactive
    /// answer must be exactly `{"active": false}`).
    pub async fn is_active(&self, node: usize, auth: Auth<'_>, token: &str) -> bool {
        let r = self
            .post(node, "/introspect", &[("token", token)], auth)
            .await;
        let body = lifecycle::introspection_body(r).await;
        if body["active"] == Value::Bool(true) {
            return true;
        }
        assert_eq!(body, serde_json::json!({"active": false}));
        false
    }

    /// `token`'s introspection on both nodes; asserts they agree.
    pub async fn is_active_on_both(&self, auth: Auth<'_>, token: &str) -> bool {
        let a = self.is_active(0, auth, token).await;
        let b = self.is_active(1, auth, token).await;
        assert_eq!(a, b, "node A says active={a}, node B says active={b}");
        a
    }

    pub async fn refresh(&self, node: usize, auth: Auth<'_>, token: &str) -> reqwest::Response {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
        self.post(node, "/token", &form, auth).await
    }

    /// A browser for this cluster: one cookie jar for `127.0.0.1` (any port), never
    /// follows redirects.
    pub fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Alice, through the pages with `browser`, gets a code for `client`: each browser
    /// request goes to the next node of `hops` in turn (so `[0, 1]` alternates A and B
    /// between the authorization request, the login page, the login POST, the consent
    /// page and the consent POST). Checks `state` and RFC 9207 `iss` on the redirect.
    pub async fn code(
        &self,
        browser: &reqwest::Client,
        hops: &[usize],
        client: (&str, &str),
        challenge: &str,
    ) -> String {
        let (client_id, redirect_uri) = client;
        let query = encode(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid read:orders"),
            ("state", "cluster-state"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]);
        let mut hop = 0;
        let mut next = || {
            let base = self.base(hops[hop % hops.len()]).to_owned();
            hop += 1;
            base
        };
        let mut r = browser
            .get(format!("{}/authorize?{query}", next()))
            .send()
            .await
            .unwrap();
        for _ in 0..8 {
            let status = r.status();
            assert_eq!(status, 303, "{}", r.text().await.unwrap());
            let to = location(&r);
            if to.starts_with("/authorize?") {
                r = browser.get(format!("{}{to}", next())).send().await.unwrap();
            } else if to.starts_with("/login?") || to.starts_with("/consent?") {
                let (action, extra) = if to.starts_with("/login?") {
                    (
                        "/login",
                        [("username", ALICE), ("password", ALICE_PASSWORD)].to_vec(),
                    )
                } else {
                    ("/consent", [("decision", "approve")].to_vec())
                };
                let page = browser.get(format!("{}{to}", next())).send().await.unwrap();
                assert_eq!(page.status(), 200, "GET {to}");
                let page = page.text().await.unwrap();
                let form = Form::find(&page, action)
                    .unwrap_or_else(|| panic!("no form posting to {action}: {page}"));
                let mut fields = form.hidden.clone();
                fields.extend(
                    extra
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                );
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&fields)
                    .finish();
                r = browser
                    .post(format!("{}{}", next(), form.action))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
            } else {
                let params = redirect_params(&to, redirect_uri);
                assert_eq!(params.get("error"), None, "{to}");
                assert_eq!(params["state"], "cluster-state");
                assert_eq!(params["iss"], self.issuer, "RFC 9207 iss: the one issuer");
                return params["code"].clone();
            }
        }
        panic!("no code for {client_id}");
    }

    /// Alice, with `browser`, enters `user_code` on the verification page, signs in and
    /// approves; each browser request goes to the next node of `hops` in turn. Asserts
    /// the success page.
    pub async fn approve_device(&self, browser: &reqwest::Client, hops: &[usize], user_code: &str) {
        let mut hop = 0;
        let mut next = || {
            let base = self.base(hops[hop % hops.len()]).to_owned();
            hop += 1;
            base
        };
        let post = |url: String, fields: Vec<(String, String)>| {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&fields)
                .finish();
            browser
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        let page = browser
            .get(format!("{}/device", next()))
            .send()
            .await
            .unwrap();
        let page = page.text().await.unwrap();
        let form = Form::find(&page, "/device").expect("the verification form");
        let mut fields = form.hidden.clone();
        fields.push(("user_code".into(), user_code.into()));
        let mut r = post(format!("{}{}", next(), form.action), fields)
            .await
            .unwrap();
        for _ in 0..4 {
            if r.status() == 200 {
                let done = r.text().await.unwrap();
                assert!(done.contains("Device connected"), "{done}");
                return;
            }
            assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
            let to = location(&r);
            let (action, extra) = if to.starts_with("/login?") {
                (
                    "/login",
                    [("username", ALICE), ("password", ALICE_PASSWORD)].to_vec(),
                )
            } else {
                assert!(to.starts_with("/consent?"), "{to}");
                ("/consent", [("decision", "approve")].to_vec())
            };
            let page = browser.get(format!("{}{to}", next())).send().await.unwrap();
            assert_eq!(page.status(), 200, "GET {to}");
            let page = page.text().await.unwrap();
            let form = Form::find(&page, action)
                .unwrap_or_else(|| panic!("no form posting to {action}: {page}"));
            let mut fields = form.hidden.clone();
            fields.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            r = post(format!("{}{}", next(), form.action), fields)
                .await
                .unwrap();
        }
        panic!("the device was not approved");
    }

    /// The admin CLI (`portcullis --config portcullis.toml <args>`) on the cluster's
    /// database; asserts success and returns standard output as JSON.
    pub fn admin(&self, args: &[&str]) -> Value {
        let out = Command::new(binary())
            .current_dir(self.dir.path())
            .args(["--config", "portcullis.toml"])
            .args(args)
            .env("PORTCULLIS_MASTER_KEY", &self.master_key)
            .env_remove("PORTCULLIS_ISSUER")
            .env_remove("PORTCULLIS_DATABASE_URL")
            .env_remove("PORTCULLIS_CONFIG")
            .env_remove("PORTCULLIS_LISTEN")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "portcullis {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Redeems `code` for `client` on `node` (the raw answer).
    pub async fn redeem(
        &self,
        node: usize,
        client: Auth<'_>,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        self.post(node, "/token", &form, client).await
    }

    /// A connection to the cluster's database, for checks in SQL.
    pub async fn sql(&self) -> PgConnection {
        PgConnection::connect(&self.database_url).await.unwrap()
    }

    /// Families with more than one live refresh token (rotated_at and revoked_at NULL).
    pub async fn families_with_two_live_tokens(&self) -> Vec<(String, i64)> {
        let mut conn = self.sql().await;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT family_id, count(*) FROM refresh_tokens \
             WHERE rotated_at IS NULL AND revoked_at IS NULL \
             GROUP BY family_id HAVING count(*) > 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        rows
    }
}

/// Runs `case` on a two-node cluster on a fresh database (dropped afterwards); skipped
/// when `PORTCULLIS_TEST_POSTGRES_URL` is unset.
async fn with_cluster<F, Fut>(extra_tokens: &'static str, case: F)
where
    F: FnOnce(Cluster) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_fresh_database(move |db| async move {
        let cluster = Cluster::start(&db, extra_tokens).await;
        case(cluster).await;
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The claims of a JWT, unverified (to read `jti`; signatures are checked elsewhere).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn jti_of(jwt: &str) -> String {
    claims_of(jwt)["jti"].as_str().unwrap().to_owned()
}

/// Straight to the process's stderr (libtest captures `eprintln!`): measured figures.
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "cluster: {line}");
}

/// Sends `n` copies of a request at once (a barrier releases them together), copy `i`
/// to node `i % 2`; returns `(node, status, body)` of each.
/// [`RACERS`] copies of one token request (`form`, with HTTP Basic `basic` if given),
/// alternating node A and B, released at once: see [`race_on_both`].
async fn race_token_on_both(
    c: &Cluster,
    form: &str,
    basic: Option<(&str, &str)>,
) -> Vec<(usize, u16, Value)> {
    let authorization = basic.map(|(id, secret)| crate::support::basic_header(id, secret));
    race_on_both(RACERS, |node| {
        let mut request = c
            .http
            .post(format!("{}/token", c.base(node)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        async move { request.send().await.unwrap() }
    })
    .await
}

async fn race_on_both<F, Fut>(n: usize, request: F) -> Vec<(usize, u16, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..n {
        let barrier = barrier.clone();
        let node = i % 2;
        // Build the request future before the barrier; it sends only when polled.
        let send = request(node);
        racers.spawn(async move {
            barrier.wait().await;
            let r = send.await;
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            (node, status, body)
        });
    }
    racers.join_all().await
}

/// Asserts one 200 and `invalid_grant` for every other answer, no 5xx; returns the
/// winner's body.
fn one_winner(outcomes: &[(usize, u16, Value)]) -> Value {
    let server_errors: Vec<_> = outcomes.iter().filter(|(_, s, _)| *s >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "5xx under the race: {server_errors:?}"
    );
    let winners: Vec<_> = outcomes.iter().filter(|(_, s, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {outcomes:?}");
    for (node, status, body) in outcomes.iter().filter(|(_, s, _)| *s != 200) {
        assert_eq!(*status, 400, "node {node}: {body}");
        assert_eq!(body["error"], "invalid_grant", "node {node}: {body}");
    }
    let by_node = |n: usize| outcomes.iter().filter(|(node, _, _)| *node == n).count();
    report(&format!(
        "race of {}: winner on node {}, {} requests on A, {} on B",
        outcomes.len(),
        if winners[0].0 == 0 { "A" } else { "B" },
        by_node(0),
        by_node(1)
    ));
    winners[0].2.clone()
}

// --- constants ----------------------------------------------------------------------------

/// Requests in each concurrent race.
const RACERS: usize = 50;
/// Refresh families in the crash test.
const FAMILIES: usize = 6;
/// Codes redeemed during the crash test's load.
const CODES: usize = 60;
/// Polls in the slow_down test.
const POLLS: usize = 6;
/// `[tokens] device_poll_interval`: 2 s so that a second boundary between two back-to-back
/// polls (timestamps are whole seconds) still leaves them within the interval.
const POLL_INTERVAL: i64 = 2;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice-password-1";
/// A confidential client with the consent page.
const WEB: &str = "web";
const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnopq";
const WEB_REDIRECT: &str = "https://app.example.com/callback";
const WEB_CLIENT: (&str, &str) = (WEB, WEB_REDIRECT);
const WEB_AUTH: Auth<'static> = Auth::Basic(WEB, WEB_SECRET);
/// A first-party client (no consent page) for the load.
const APP: &str = "app";
const APP_SECRET: &str = "app-secret-0123456789abcdefghijklmnopq";
const APP_REDIRECT: &str = "https://first.example.com/callback";
const APP_CLIENT: (&str, &str) = (APP, APP_REDIRECT);
const APP_AUTH: Auth<'static> = Auth::Basic(APP, APP_SECRET);
const SVC: &str = "svc";
const SVC_SECRET: &str = "svc-secret-0123456789abcdefghijklmnop";
const SVC_AUTH: Auth<'static> = Auth::Basic(SVC, SVC_SECRET);
/// A public device client.
const TV: &str = "tv";

/// The one config of both nodes (`{…}` filled in by [`Cluster::start`]).
const CONFIG: &str = r#"
issuer = "{issuer}"
database_url = "{database_url}"

[tokens]
access_token_ttl = 900
authorization_code_ttl = 300
session_ttl = 3600
device_poll_interval = 2
{extra_tokens}

[[users]]
username = "alice"
password = "alice-password-1"

[[clients]]
client_id = "web"
client_secret = "web-secret-0123456789abcdefghijklmnopq"
redirect_uris = ["https://app.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "app"
client_secret = "app-secret-0123456789abcdefghijklmnopq"
redirect_uris = ["https://first.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]
skip_consent = true

[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "tv"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
"#;
