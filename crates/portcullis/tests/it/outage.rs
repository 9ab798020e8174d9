//! Database outages (README "Database outages"): on a PostgreSQL server that this test
//! starts itself (the shared one is never stopped), a server under load answers 503
//! with `Retry-After` within its time limits while the database is down (stopped) or
//! hung (a paused TCP proxy: connections accepted, nothing answered; or a statement
//! stuck in flight on a connection the pool had just checked), `/health/ready` follows
//! the database, nothing is half-written, the task count comes back to where it was,
//! and the server recovers without a restart.
//!
//! Needs PostgreSQL's `initdb` and `pg_ctl` (in `/usr/local/bin` or
//! `/usr/lib/postgresql/*/bin`); skipped with a visible line without them, unless
//! `PORTCULLIS_TEST_POSTGRES_URL` is set (CI), which makes them required.

use crate::flow::{ALICE, ALICE_PASSWORD, AuthRequest, Browser, WEB, WEB_REDIRECT, pkce};
use crate::lifecycle::{
    self, ORDERS_API, ORDERS_API_SECRET, WEB_AUTH, access_token_of, refresh, refresh_token_of,
    web_tokens,
};
use crate::support::{TestApp, WEB_SECRET};
use portcullis_core::secret::SecretDigest;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// `[database]` for these tests: a 1-second wait for a connection and 1-second
/// statements, so every store call gives up after 2 seconds.
const DATABASE: &str =
    "[database]\nmax_connections = 4\nacquire_timeout = 1\nstatement_timeout = 1\n";
/// `acquire_timeout`, as configured in [`DATABASE`].
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// `acquire_timeout + statement_timeout`: the longest any store call takes.
const CALL_DEADLINE: Duration = Duration::from_secs(2);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);
/// `Retry-After` of every 503.
const RETRY_AFTER: &str = "5";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_answers_503_with_retry_after_and_recovers() {
    let Some(pg) = PrivatePostgres::create().await else {
        return;
    };
    let app = start_app(&pg.url()).await;
    let tokens = web_tokens(&app).await;
    let old_refresh = refresh_token_of(&tokens);
    let access = access_token_of(&tokens);
    // A sign-in under way: its login page is shown before the outage.
    let browser = Browser::new(&app);
    let (challenge, _) = pkce();
    let login_page = browser
        .page(browser.authorize(&AuthRequest::web(&challenge)).await)
        .await;
    let tasks_before = alive_tasks();
    let load = Load::start(&app, &access);
    tokio::time::sleep(Duration::from_millis(300)).await;

    pg.stop().await;
    // Signing in needs the database: the HTML error page, 503, Retry-After.
    let started = Instant::now();
    let r = browser.login(&login_page, ALICE, ALICE_PASSWORD).await;
    assert_unavailable_page(r, started.elapsed()).await;
    sweep_endpoints(&app, &access, &old_refresh).await;
    // The refresh grant needs the database: 503 temporarily_unavailable, fast.
    for _ in 0..3 {
        let started = Instant::now();
        let r = refresh(&app, WEB_AUTH, &old_refresh, None).await;
        let took = started.elapsed();
        assert_unavailable_json(r).await;
        assert!(
            took < ACQUIRE_TIMEOUT + SLACK,
            "a refresh took {took:?} with the database stopped"
        );
        note(&format!(
            "stopped database: refresh answered 503 in {took:?}"
        ));
    }
    let took = assert_not_ready(&app).await;
    note(&format!(
        "stopped database: /health/ready answered 503 in {took:?}"
    ));
    // A new authorization request needs the database too.
    let started = Instant::now();
    let (challenge, _) = pkce();
    let r = Browser::new(&app)
        .authorize(&AuthRequest::web(&challenge))
        .await;
    assert_unavailable_page(r, started.elapsed()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    pg.start().await;
    let took = wait_until_ready(&app).await;
    note(&format!("restarted database: ready again after {took:?}"));
    // Nothing was half-written: the refresh token refused during the outage was never
    // rotated, and works now.
    let r = refresh(&app, WEB_AUTH, &old_refresh, None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outcomes = load.stop().await;
    outcomes.assert_clean(ACQUIRE_TIMEOUT + SLACK);
    assert_tasks_settle(tasks_before).await;
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_database_fails_fast_and_recovers() {
    let Some(pg) = PrivatePostgres::create().await else {
        return;
    };
    let proxy = PausableProxy::start(pg.addr()).await;
    let app = start_app(&proxy.url()).await;
    let tokens = web_tokens(&app).await;
    let access = access_token_of(&tokens);
    // A refresh chain that races the pause: never neither the old token nor its
    // successor usable.
    let chain = RefreshChain::start(&app, refresh_token_of(&tokens));
    let hung_refresh = refresh_token_of(&web_tokens(&app).await);
    let tasks_before = alive_tasks();
    let load = Load::start(&app, &access);
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.pause();
    for _ in 0..3 {
        let started = Instant::now();
        let r = refresh(&app, WEB_AUTH, &hung_refresh, None).await;
        let took = started.elapsed();
        assert_unavailable_json(r).await;
        assert!(
            took < CALL_DEADLINE + SLACK,
            "a refresh took {took:?} with the database hung"
        );
        note(&format!("hung database: refresh answered 503 in {took:?}"));
    }
    let took = assert_not_ready(&app).await;
    note(&format!(
        "hung database: /health/ready answered 503 in {took:?}"
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    proxy.resume();
    let took = wait_until_ready(&app).await;
    note(&format!("resumed database: ready again after {took:?}"));
    let r = refresh(&app, WEB_AUTH, &hung_refresh, None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let hung_refresh = refresh_token_of(&r.json::<Value>().await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outcomes = load.stop().await;
    outcomes.assert_clean(CALL_DEADLINE + SLACK);
    chain.stop_and_check(&app).await;

    // A statement in flight when the server hangs: the pool's check of the connection
    // passed, so only the call's own deadline (acquire + statement timeout) ends it.
    proxy.hang_at_next_statement();
    let started = Instant::now();
    let r = refresh(&app, WEB_AUTH, &hung_refresh, None).await;
    let took = started.elapsed();
    assert_unavailable_json(r).await;
    assert!(
        took < CALL_DEADLINE + SLACK,
        "a refresh took {took:?} with its statement hung"
    );
    note(&format!("hung statement: refresh answered 503 in {took:?}"));
    proxy.resume();
    wait_until_ready(&app).await;
    let r = refresh(&app, WEB_AUTH, &hung_refresh, None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_tasks_settle(tasks_before).await;
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_follows_the_database() {
    let Some(pg) = PrivatePostgres::create().await else {
        return;
    };
    let proxy = PausableProxy::start(pg.addr()).await;
    let app = start_app(&proxy.url()).await;
    wait_until_ready(&app).await;

    pg.stop().await;
    assert_not_ready(&app).await;
    let live = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200, "live stays 200");
    pg.start().await;
    wait_until_ready(&app).await;

    proxy.pause();
    assert_not_ready(&app).await;
    proxy.resume();
    wait_until_ready(&app).await;
    drop(app);
}

async fn start_app(database_url: &str) -> TestApp {
    let config = format!("{DATABASE}{}", lifecycle::CONFIG);
    TestApp::start_on(TempDir::new().unwrap(), &config, database_url).await
}

/// Asserts 503 `temporarily_unavailable` with `Retry-After` and `no-store`.
async fn assert_unavailable_json(r: reqwest::Response) {
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], RETRY_AFTER);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
}

/// Asserts the HTML error page with 503 and `Retry-After`, answered within the
/// acquire timeout (plus slack).
async fn assert_unavailable_page(r: reqwest::Response, took: Duration) {
    assert_eq!(r.status(), 503, "{}", r.url());
    assert_eq!(r.headers()["retry-after"], RETRY_AFTER);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(took < ACQUIRE_TIMEOUT + SLACK, "{} took {took:?}", r.url());
}

/// Every endpoint, with the database stopped, answers without it (metadata, keys,
/// tokens from cached clients) or with 503 and `Retry-After` (JSON
/// `temporarily_unavailable` for OAuth endpoints): never a 500, never a hang.
async fn sweep_endpoints(app: &TestApp, access: &str, refresh_token: &str) {
    let bearer = format!("Bearer {access}");
    let requests: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "discovery",
            app.http.get(app.url("/.well-known/openid-configuration")),
        ),
        ("jwks", app.http.get(app.url("/jwks"))),
        (
            "client_credentials",
            app.http
                .post(app.url("/token"))
                .basic_auth(ORDERS_API, Some(ORDERS_API_SECRET))
                .form(&[("grant_type", "client_credentials")]),
        ),
        (
            "authorization_code",
            app.http
                .post(app.url("/token"))
                .basic_auth(WEB, Some(WEB_SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", "not-a-code"),
                    ("redirect_uri", WEB_REDIRECT),
                    ("code_verifier", &"v".repeat(43)),
                ]),
        ),
        (
            "introspection",
            app.http
                .post(app.url("/introspect"))
                .basic_auth(ORDERS_API, Some(ORDERS_API_SECRET))
                .form(&[("token", access)]),
        ),
        (
            "revocation",
            app.http
                .post(app.url("/revoke"))
                .basic_auth(WEB, Some(WEB_SECRET))
                .form(&[("token", refresh_token)]),
        ),
        (
            "userinfo",
            app.http
                .get(app.url("/userinfo"))
                .header("authorization", &bearer),
        ),
        ("logout", app.http.get(app.url("/logout"))),
        ("device page", app.http.get(app.url("/device"))),
    ];
    for (name, request) in requests {
        let started = Instant::now();
        let r = request.send().await.unwrap();
        let took = started.elapsed();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        note(&format!(
            "stopped database: {name} answered {status} in {took:?}"
        ));
        assert!(status < 500 || status == 503, "{name}: {status} {body}");
        assert!(took < ACQUIRE_TIMEOUT + SLACK, "{name} took {took:?}");
        if status == 503 {
            assert_eq!(headers["retry-after"], RETRY_AFTER, "{name}");
            let content_type = headers["content-type"].to_str().unwrap();
            if content_type.starts_with("application/json") {
                let body: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(body["error"], "temporarily_unavailable", "{name}: {body}");
            } else {
                assert!(
                    content_type.starts_with("text/html"),
                    "{name}: {content_type}"
                );
            }
        }
    }
}

/// Asserts `/health/ready` is 503 with `Retry-After` (within its 2-second ping plus
/// slack), and returns how long it took.
async fn assert_not_ready(app: &TestApp) -> Duration {
    let started = Instant::now();
    let r = app.http.get(app.url("/health/ready")).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], RETRY_AFTER);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(took < CALL_DEADLINE + SLACK, "/health/ready took {took:?}");
    took
}

/// Polls `/health/ready` until 200 (at most 15 s); returns how long that took.
async fn wait_until_ready(app: &TestApp) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        let r = app.http.get(app.url("/health/ready")).send().await.unwrap();
        if r.status() == 200 {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not ready 15 s after the database came back: a restart would be needed");
}

/// Tasks alive on this runtime (the server's and the test's).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// After the outage and the load, the task count comes back to what it was (a few
/// more for connections being closed): nothing piled up or leaked.
async fn assert_tasks_settle(before: usize) {
    let started = Instant::now();
    loop {
        let now = alive_tasks();
        if now <= before + 8 {
            note(&format!("tasks: {before} before the outage, {now} after"));
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{now} tasks alive 10 s after recovery, {before} before the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints a measurement to the process's stderr (libtest captures `eprintln!`).
fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "outage: {line}");
}

/// What load workers saw: (status, had `Retry-After`, how long it took).
struct Outcomes(Vec<(u16, bool, Duration)>);

impl Outcomes {
    /// Every answer is 200 or 503 (never 500, never a hang), every 503 carries
    /// `Retry-After`, none took longer than `bound`, and the load succeeded again at
    /// the end.
    fn assert_clean(&self, bound: Duration) {
        let Self(outcomes) = self;
        assert!(!outcomes.is_empty());
        for (status, retry_after, took) in outcomes {
            assert!(
                matches!(status, 200 | 503),
                "load got {status}: {outcomes:?}"
            );
            assert!(*status == 200 || *retry_after, "a 503 without Retry-After");
            assert!(*took < bound, "a load request took {took:?}");
        }
        let unavailable = outcomes.iter().filter(|(s, ..)| *s == 503).count();
        let slowest = outcomes.iter().map(|(.., t)| *t).max().unwrap_or_default();
        note(&format!(
            "load: {} requests, {unavailable} answered 503, slowest {slowest:?}",
            outcomes.len()
        ));
        assert!(unavailable > 0, "the load never met the outage");
        let tail = outcomes.iter().rev().take(4);
        assert!(
            tail.clone().all(|(s, ..)| *s == 200),
            "the load did not recover: {:?}",
            tail.collect::<Vec<_>>()
        );
    }
}

/// Two workers, each alternating client credentials (`orders-api`, its client read
/// through the cache) and introspection of an access token (a database read).
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<(u16, bool, Duration)>>>,
    workers: tokio::task::JoinSet<()>,
}

impl Load {
    fn start(app: &TestApp, access_token: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..2 {
            let (http, base, token) = (app.http.clone(), app.base.clone(), access_token.to_owned());
            let (stop, outcomes) = (stop.clone(), outcomes.clone());
            workers.spawn(async move {
                let mut n = worker;
                while !stop.load(Ordering::Relaxed) {
                    let form: Vec<(&str, &str)> = if n % 2 == 0 {
                        vec![("grant_type", "client_credentials")]
                    } else {
                        vec![("token", token.as_str())]
                    };
                    let path = if n % 2 == 0 { "/token" } else { "/introspect" };
                    n += 1;
                    let started = Instant::now();
                    let r = http
                        .post(format!("{base}{path}"))
                        .basic_auth(ORDERS_API, Some(ORDERS_API_SECRET))
                        .form(&form)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let retry_after = r.headers().get("retry-after").is_some();
                    let _ = r.bytes().await;
                    outcomes
                        .lock()
                        .unwrap()
                        .push((status, retry_after, started.elapsed()));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
        Self {
            stop,
            outcomes,
            workers,
        }
    }

    async fn stop(self) -> Outcomes {
        self.stop.store(true, Ordering::Relaxed);
        self.workers.join_all().await;
        Outcomes(std::mem::take(&mut *self.outcomes.lock().unwrap()))
    }
}

/// A client refreshing its token again and again through the outage, keeping the
/// newest token it received; it stops early if that token is refused (`true`).
struct RefreshChain {
    stop: Arc<AtomicBool>,
    worker: tokio::task::JoinHandle<(String, bool)>,
}

impl RefreshChain {
    fn start(app: &TestApp, first: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (http, base) = (app.http.clone(), app.base.clone());
        let flag = stop.clone();
        let worker = tokio::spawn(async move {
            let mut current = first;
            while !flag.load(Ordering::Relaxed) {
                let form = [("grant_type", "refresh_token"), ("refresh_token", &current)];
                let r = lifecycle::post_form_to(&http, &base, "/token", &form, WEB_AUTH).await;
                match r.status().as_u16() {
                    200 => current = refresh_token_of(&r.json::<Value>().await.unwrap()),
                    503 => assert_eq!(r.headers()["retry-after"], RETRY_AFTER),
                    400 => {
                        let body: Value = r.json().await.unwrap();
                        assert_eq!(body["error"], "invalid_grant", "{body}");
                        return (current, true);
                    }
                    other => panic!("refresh chain got {other}: {}", r.text().await.unwrap()),
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            (current, false)
        });
        Self { stop, worker }
    }

    /// The newest token the client holds either still works (every refresh the
    /// outage refused left it untouched), or was refused because a rotation committed
    /// and only its answer was lost with the connection (the one case no client can
    /// tell from a failure; presenting the token again is then reuse, RFC 9700
    /// §4.14.2): never consumed without a committed rotation.
    async fn stop_and_check(self, app: &TestApp) {
        self.stop.store(true, Ordering::Relaxed);
        let (current, refused) = self.worker.await.unwrap();
        let stored = app
            .app
            .state()
            .store()
            .refresh_token_get(&SecretDigest::of(&current))
            .await
            .unwrap()
            .expect("the client's newest refresh token is stored");
        if refused || stored.rotated_at.is_some() {
            assert!(
                stored.rotated_at.is_some(),
                "refused, yet never rotated: {stored:?}"
            );
            note("refresh chain: the outage swallowed the answer to a committed rotation");
            return;
        }
        assert!(stored.revoked_at.is_none(), "the family was revoked");
        let r = refresh(app, WEB_AUTH, &current, None).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// A TCP proxy to PostgreSQL that can stop forwarding: while paused it accepts
/// connections and reads nothing, like a hung server. Or it can hang at the next
/// statement: the pool's 5-byte liveness check (a `Sync` message) still passes, and
/// the first longer message from the client pauses everything before it is forwarded,
/// so a statement is in flight on a connection the pool just checked.
struct PausableProxy {
    addr: SocketAddr,
    paused: Arc<watch::Sender<bool>>,
    hang_at_statement: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// The length of a PostgreSQL `Sync` message, which is how sqlx checks a pooled
/// connection before lending it.
const SYNC_MESSAGE_LEN: usize = 5;

impl PausableProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let paused = Arc::new(watch::channel(false).0);
        let hang_at_statement = Arc::new(AtomicBool::new(false));
        let (pause, hang) = (paused.clone(), hang_at_statement.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(Self::pipe(inbound, target, pause.clone(), hang.clone()));
            }
        });
        Self {
            addr,
            paused,
            hang_at_statement,
            task,
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.addr)
    }

    fn pause(&self) {
        self.paused.send_replace(true);
    }

    fn resume(&self) {
        self.hang_at_statement.store(false, Ordering::SeqCst);
        self.paused.send_replace(false);
    }

    /// Pauses when the next statement (anything longer than a `Sync`) comes by.
    fn hang_at_next_statement(&self) {
        self.hang_at_statement.store(true, Ordering::SeqCst);
    }

    async fn pipe(
        inbound: TcpStream,
        target: SocketAddr,
        paused: Arc<watch::Sender<bool>>,
        hang_at_statement: Arc<AtomicBool>,
    ) {
        if paused.subscribe().wait_for(|p| !*p).await.is_err() {
            return;
        }
        let Ok(outbound) = TcpStream::connect(target).await else {
            return;
        };
        let (from_client, to_client) = inbound.into_split();
        let (from_server, to_server) = outbound.into_split();
        let trip = Some((paused.clone(), hang_at_statement));
        tokio::select! {
            () = Self::copy(from_client, to_server, paused.subscribe(), trip) => {}
            () = Self::copy(from_server, to_client, paused.subscribe(), None) => {}
        }
    }

    async fn copy(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut paused: watch::Receiver<bool>,
        trip: Option<(Arc<watch::Sender<bool>>, Arc<AtomicBool>)>,
    ) {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            if paused.wait_for(|p| !*p).await.is_err() {
                return;
            }
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some((pause, hang)) = &trip
                && n > SYNC_MESSAGE_LEN
                && hang.swap(false, Ordering::SeqCst)
            {
                pause.send_replace(true);
            }
            if paused.wait_for(|p| !*p).await.is_err() {
                return;
            }
            if to.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for PausableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A PostgreSQL server of the test's own: `initdb` in a temporary directory, `pg_ctl`
/// to start and stop it, listening on 127.0.0.1 only, trust authentication. As root
/// (initdb refuses root), every command runs as the `postgres` user via `runuser`.
struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Starts one, or returns `None` (with a visible line) when PostgreSQL's programs
    /// are missing and `PORTCULLIS_TEST_POSTGRES_URL` is unset.
    async fn create() -> Option<Self> {
        let Some(bin) = find_postgres_bin() else {
            if std::env::var("PORTCULLIS_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
                panic!(
                    "PORTCULLIS_TEST_POSTGRES_URL is set but initdb/pg_ctl were not found in /usr/local/bin or /usr/lib/postgresql/*/bin"
                );
            }
            note("skipping: PostgreSQL's initdb and pg_ctl are not installed");
            return None;
        };
        let dir = TempDir::new().unwrap();
        let as_postgres = is_root().await;
        if as_postgres {
            run(
                "chown",
                &["-R", "postgres:postgres", path_str(dir.path())],
                false,
            )
            .await;
        }
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let pg = Self {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = pg.data();
        run(
            &pg.program("initdb"),
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "--no-instructions",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ],
            pg.as_postgres,
        )
        .await;
        pg.start().await;
        Some(pg)
    }

    fn data(&self) -> String {
        format!("{}/data", path_str(self.dir.path()))
    }

    fn program(&self, name: &str) -> String {
        path_str(&self.bin.join(name)).to_owned()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.addr())
    }

    async fn start(&self) {
        let server_options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            path_str(self.dir.path())
        );
        let log = format!("{}/postgres.log", path_str(self.dir.path()));
        run(
            &self.program("pg_ctl"),
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &server_options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            self.as_postgres,
        )
        .await;
    }

    /// `pg_ctl stop -m immediate`: every backend killed at once, no checkpoint.
    async fn stop(&self) {
        run(
            &self.program("pg_ctl"),
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
            self.as_postgres,
        )
        .await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let pg_ctl = self.program("pg_ctl");
        let _ = if self.as_postgres {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--", &pg_ctl])
                .args(args)
                .output()
        } else {
            std::process::Command::new(&pg_ctl).args(args).output()
        };
    }
}

/// The directory holding both `initdb` and `pg_ctl`.
fn find_postgres_bin() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").exists() && dir.join("pg_ctl").exists();
    let mut candidates = vec![PathBuf::from("/usr/local/bin")];
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut found: Vec<PathBuf> = versions
            .filter_map(Result::ok)
            .map(|v| v.path().join("bin"))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates.into_iter().find(|dir| has_both(dir))
}

async fn is_root() -> bool {
    let out = tokio::process::Command::new("id")
        .arg("-u")
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Runs `program` (as the `postgres` user when `as_postgres`); panics with its output
/// if it fails.
async fn run(program: &str, args: &[&str], as_postgres: bool) {
    let mut command = if as_postgres {
        let mut c = tokio::process::Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        tokio::process::Command::new(program)
    };
    let out = command.args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
