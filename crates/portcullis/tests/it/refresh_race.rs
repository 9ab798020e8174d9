//! Rotation under concurrency and crashes (RFC 9700 §4.14.2): twenty refreshes with one
//! token have exactly one winner, on SQLite and on PostgreSQL (when
//! `PORTCULLIS_TEST_POSTGRES_URL` is set); the losers are reuse, which revokes the family
//! unless `refresh_token_reuse_grace` covers them. And a `portcullis serve` process
//! killed with SIGKILL while refreshes are in flight leaves, after a restart, every
//! family with exactly one live token: never two live successors of one token.

use crate::flow::{encode, location, redirect_params, userinfo};
use crate::html::Form;
use crate::lifecycle::{
    self, Auth, WEB_AUTH, access_token_of, config_with_grace, is_active, post_form_to, refresh,
    refresh_token_of, web_tokens,
};
use crate::postgres::with_fresh_database;
use crate::support::{TestApp, binary};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::secret::SecretDigest;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How many requests present the same refresh token at once.
const RACERS: usize = 20;

/// Presents one refresh token [`RACERS`] times at once (a barrier releases the tasks
/// together); asserts one 200 with a new token, `invalid_grant` for every other, no
/// 5xx; then that the family is revoked (`survives == false`: the winner's new tokens
/// are dead) or lives on (`survives == true`: within the reuse grace).
async fn race(app: &TestApp, survives: bool) {
    let first = web_tokens(app).await;
    let rt0 = refresh_token_of(&first);
    let at0 = access_token_of(&first);
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let (http, base, rt0, barrier) = (
            app.http.clone(),
            app.base.clone(),
            rt0.clone(),
            barrier.clone(),
        );
        racers.spawn(async move {
            barrier.wait().await;
            let form = [("grant_type", "refresh_token"), ("refresh_token", &rt0)];
            let r = post_form_to(&http, &base, "/token", &form, WEB_AUTH).await;
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body)
        });
    }
    let outcomes = racers.join_all().await;
    let server_errors: Vec<_> = outcomes.iter().filter(|(s, _)| *s >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "5xx under the race: {server_errors:?}"
    );
    let winners: Vec<&Value> = outcomes
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one successor: {outcomes:?}");
    for (status, body) in outcomes.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
        assert!(body.get("access_token").is_none());
    }
    let winner = winners[0];
    let rt1 = refresh_token_of(winner);
    let at1 = access_token_of(winner);
    assert_ne!(rt1, rt0);

    if survives {
        assert!(is_active(app, WEB_AUTH, &rt1).await, "the family survives");
        assert!(is_active(app, WEB_AUTH, &at1).await);
        assert_eq!(userinfo(app, &at1).await.status(), 200);
        let next = refresh(app, WEB_AUTH, &rt1, None).await;
        assert_eq!(next.status(), 200, "the winner's token still works");
    } else {
        // The losers were reuse of a retired token: the whole family is revoked,
        // the winner's fresh tokens included.
        assert!(!is_active(app, WEB_AUTH, &rt1).await);
        lifecycle::assert_invalid_grant(refresh(app, WEB_AUTH, &rt1, None).await).await;
        for at in [&at0, &at1] {
            assert!(!is_active(app, WEB_AUTH, at).await);
            assert_eq!(userinfo(app, at).await.status(), 401);
        }
    }
}

#[tokio::test]
async fn twenty_concurrent_refreshes_have_one_winner_and_revoke_the_family() {
    let app = lifecycle::start().await;
    race(&app, false).await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_have_one_winner_and_revoke_the_family_on_postgres() {
    with_fresh_database(|db| async move {
        let app = TestApp::start_on(TempDir::new().unwrap(), lifecycle::CONFIG, &db.url).await;
        race(&app, false).await;
    })
    .await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_within_the_reuse_grace_have_one_winner_and_keep_the_family() {
    let app = TestApp::start_in(TempDir::new().unwrap(), &config_with_grace(30)).await;
    race(&app, true).await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_within_the_reuse_grace_have_one_winner_and_keep_the_family_on_postgres()
 {
    with_fresh_database(|db| async move {
        let app = TestApp::start_on(TempDir::new().unwrap(), &config_with_grace(30), &db.url).await;
        race(&app, true).await;
    })
    .await;
}

// --- SIGKILL while refreshes are in flight ---------------------------------------------

/// A confidential first-party client (no consent page) of the crash test.
const CRASH_CLIENT: &str = "crash-app";
const CRASH_SECRET: &str = "crash-secret-0123456789abcdefghijklmn";
const CRASH_REDIRECT: &str = "https://crash.example.com/callback";
const CRASH_AUTH: Auth<'static> = Auth::Basic(CRASH_CLIENT, CRASH_SECRET);
/// Families (code redemptions) refreshed at once.
const FAMILIES: usize = 8;
/// Copies of each refresh request sent at once (so rotation races too).
const COPIES: usize = 3;

/// The grace covers the racing copies: a loser is refused without killing its family,
/// so every family keeps rotating until the kill.
const CRASH_CONFIG: &str = r#"
[tokens]
refresh_token_reuse_grace = 60

[[users]]
username = "alice"
password = "alice-password-1"

[[clients]]
client_id = "crash-app"
client_secret = "crash-secret-0123456789abcdefghijklmn"
redirect_uris = ["https://crash.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
skip_consent = true
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `portcullis --config portcullis.toml serve` in `dir` on `port`; logs appended to
/// `dir/serve-<n>.log`.
fn spawn_serve(dir: &Path, port: u16, n: usize) -> Child {
    let log = dir.join(format!("serve-{n}.log"));
    Command::new(binary())
        .current_dir(dir)
        .args(["--config", "portcullis.toml", "serve"])
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("PORTCULLIS_ISSUER")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_MASTER_KEY")
        .env_remove("PORTCULLIS_CONFIG")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err.log")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited early: {status}");
        }
        let ready = reqwest::get(format!("{base}/health/ready")).await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve was not ready within 30 s");
}

/// Through the pages of the server at `base` with a cookie-keeping, non-redirecting
/// `browser`: signs Alice in if needed and returns a code for [`CRASH_CLIENT`].
async fn crash_code(browser: &reqwest::Client, base: &str, challenge: &str) -> String {
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", CRASH_CLIENT),
        ("redirect_uri", CRASH_REDIRECT),
        ("scope", "read:orders"),
        ("state", "crash"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]);
    let mut r = browser
        .get(format!("{base}/authorize?{query}"))
        .send()
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let to = location(&r);
        if to.starts_with("/login?") {
            let page = browser.get(format!("{base}{to}")).send().await.unwrap();
            let page = page.text().await.unwrap();
            let form = Form::find(&page, "/login").expect("a login form");
            let mut fields = form.hidden.clone();
            fields.push(("username".into(), "alice".into()));
            fields.push(("password".into(), "alice-password-1".into()));
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&fields)
                .finish();
            r = browser
                .post(format!("{base}{}", form.action))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
        } else if to.starts_with("/authorize?") {
            r = browser.get(format!("{base}{to}")).send().await.unwrap();
        } else {
            let params = redirect_params(&to, CRASH_REDIRECT);
            assert_eq!(params.get("error"), None, "{to}");
            return params["code"].clone();
        }
    }
    panic!("no code for {CRASH_CLIENT}");
}

/// What the clients saw while the first process ran.
#[derive(Default)]
struct Seen {
    /// Every refresh token a client received: (family index, token), originals first.
    received: Vec<(usize, String)>,
    /// Statuses of the answers that arrived.
    statuses: BTreeMap<u16, usize>,
    /// Bodies of 5xx answers.
    server_errors: Vec<String>,
    /// Requests that got no complete answer: in flight when the process died.
    in_flight_at_kill: usize,
}

/// One family's client: refreshes its latest token with [`COPIES`] requests at once,
/// goes on with the winner's token, until a request fails on the transport (the kill).
async fn keep_refreshing(
    http: reqwest::Client,
    base: String,
    family: usize,
    mut current: String,
    seen: Arc<Mutex<Seen>>,
) {
    loop {
        let mut copies = tokio::task::JoinSet::new();
        for _ in 0..COPIES {
            let (http, base, token) = (http.clone(), base.clone(), current.clone());
            copies.spawn(async move {
                let form = [("grant_type", "refresh_token"), ("refresh_token", &token)];
                let r = post_form_to_fallible(&http, &base, &form).await?;
                let status = r.status().as_u16();
                let body = r.text().await.ok()?;
                Some((status, body))
            });
        }
        let mut next = None;
        let mut transport_failed = false;
        for outcome in copies.join_all().await {
            let mut seen = seen.lock().unwrap();
            let Some((status, body)) = outcome else {
                seen.in_flight_at_kill += 1;
                transport_failed = true;
                continue;
            };
            *seen.statuses.entry(status).or_default() += 1;
            match status {
                200 => {
                    let token: Value = serde_json::from_str(&body).unwrap();
                    let rt = refresh_token_of(&token);
                    assert!(next.is_none(), "two successors of one token");
                    seen.received.push((family, rt.clone()));
                    next = Some(rt);
                }
                400 => {
                    let error: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(error["error"], "invalid_grant", "{body}");
                }
                _ => seen.server_errors.push(format!("{status} {body}")),
            }
        }
        match next {
            Some(rt) if !transport_failed => current = rt,
            _ => return,
        }
    }
}

/// Like [`post_form_to`] with `crash-app`'s credentials, but a transport error (the
/// server was killed) is `None` rather than a panic.
async fn post_form_to_fallible(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, &str)],
) -> Option<reqwest::Response> {
    http.post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            crate::support::basic_header(CRASH_CLIENT, CRASH_SECRET),
        )
        .body(encode(form))
        .send()
        .await
        .ok()
}

/// `token_digest, family_id, rotated_at, revoked_at, expires_at` of `refresh_tokens`.
type StoredRow = (Vec<u8>, String, Option<i64>, Option<i64>, i64);

/// Every refresh token in the database: digest → (family, live now).
async fn stored_tokens(db: &Path) -> BTreeMap<Vec<u8>, (String, bool)> {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<StoredRow> = sqlx::query_as(
        "SELECT token_digest, family_id, rotated_at, revoked_at, expires_at FROM refresh_tokens",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let now = SystemClock.now();
    rows.into_iter()
        .map(|(digest, family, rotated, revoked, expires)| {
            let live = rotated.is_none() && revoked.is_none() && expires > now;
            (digest, (family, live))
        })
        .collect()
}

/// Asserts every family in `stored` has a number of live tokens in `allowed`; returns
/// the families.
fn assert_live_per_family(
    stored: &BTreeMap<Vec<u8>, (String, bool)>,
    allowed: std::ops::RangeInclusive<usize>,
) -> BTreeSet<String> {
    let mut live: BTreeMap<&str, usize> = BTreeMap::new();
    for (family, is_live) in stored.values() {
        *live.entry(family.as_str()).or_default() += usize::from(*is_live);
    }
    for (family, count) in &live {
        assert!(
            allowed.contains(count),
            "family {family} has {count} live refresh tokens, expected {allowed:?}"
        );
    }
    live.keys().map(|f| (*f).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_refreshes_leaves_no_token_with_two_live_successors() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("portcullis.toml"), CRASH_CONFIG).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let db = dir.path().join("portcullis-data/portcullis.db");
    let mut child = spawn_serve(dir.path(), port, 1);
    wait_ready(&base, &mut child).await;

    // Eight families: one sign-in, then a code per family from the browser session.
    let browser = reqwest::Client::builder()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut originals = Vec::new();
    for family in 0..FAMILIES {
        let (challenge, verifier) = crate::flow::pkce();
        let code = crash_code(&browser, &base, &challenge).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CRASH_REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let r = post_form_to(&http, &base, "/token", &form, CRASH_AUTH).await;
        let token = crate::flow::token_ok(r).await;
        let rt = refresh_token_of(&token);
        seen.lock().unwrap().received.push((family, rt.clone()));
        originals.push(rt);
    }

    // Every family rotates as fast as it can, each step raced by COPIES requests …
    let clients: Vec<_> = originals
        .iter()
        .enumerate()
        .map(|(family, rt)| {
            tokio::spawn(keep_refreshing(
                http.clone(),
                base.clone(),
                family,
                rt.clone(),
                seen.clone(),
            ))
        })
        .collect();
    // … until enough rotations have happened, then SIGKILL mid-flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().received.len() < FAMILIES + 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    for client in clients {
        tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("a client hung after the kill")
            .unwrap();
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert!(
        seen.server_errors.is_empty(),
        "5xx before the kill: {:?}",
        seen.server_errors
    );
    assert!(
        seen.received.len() > FAMILIES,
        "no rotation before the kill: {:?}",
        seen.statuses
    );
    assert!(
        seen.in_flight_at_kill > 0,
        "the kill must hit requests in flight"
    );

    // Restart on the same data directory (same port: same issuer).
    let mut child = spawn_serve(dir.path(), port, 2);
    wait_ready(&base, &mut child).await;

    // The store: every token a client received is there (a 200 is sent only after the
    // commit), in its family, and each family has exactly one live token.
    let stored = stored_tokens(&db).await;
    // Rotation is atomic (retire + insert the successor in one transaction), and no
    // family was revoked (the grace covers the racing copies): exactly one live each.
    let families = assert_live_per_family(&stored, 1..=1);
    assert_eq!(families.len(), FAMILIES);
    let mut family_of: BTreeMap<usize, &str> = BTreeMap::new();
    for (family, rt) in &seen.received {
        let digest = SecretDigest::of(rt).as_bytes().to_vec();
        let (stored_family, _) = stored
            .get(&digest)
            .unwrap_or_else(|| panic!("a refresh token family {family} received is not stored"));
        let known = family_of.entry(*family).or_insert(stored_family);
        assert_eq!(*known, stored_family, "one family per authorization");
    }

    // Over HTTP, as the client: each received token is active or not, the same when
    // asked twice; at most one active per family, and it is the stored live one.
    let app_view = ProcessApp {
        http: http.clone(),
        base: base.clone(),
    };
    let mut active: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let mut inactive = Vec::new();
    for (family, rt) in &seen.received {
        let first = app_view.is_active(rt).await;
        assert_eq!(first, app_view.is_active(rt).await, "consistent");
        let digest = SecretDigest::of(rt).as_bytes().to_vec();
        assert_eq!(
            first, stored[&digest].1,
            "introspection agrees with the store"
        );
        if first {
            active.entry(*family).or_default().push(rt);
        } else {
            inactive.push(rt.as_str());
        }
    }
    for (family, tokens) in &active {
        assert_eq!(tokens.len(), 1, "family {family}: two live tokens");
    }
    // The live ones work now; the others are refused, every time.
    for tokens in active.values() {
        let r = app_view.refresh(tokens[0]).await;
        assert_eq!(r.status(), 200, "a live token works after the restart");
    }
    for rt in &inactive {
        for _ in 0..2 {
            lifecycle::assert_invalid_grant(app_view.refresh(rt).await).await;
        }
    }
    // Presenting the retired ones again may have revoked a family (if the reuse grace
    // ran out meanwhile), never made a second token live.
    assert_live_per_family(&stored_tokens(&db).await, 0..=1);

    child.kill().unwrap();
    child.wait().unwrap();
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "crash test: {} refresh tokens received before the kill, answers {:?}, {} requests in flight at the kill; {} of {FAMILIES} families' live token never reached the client",
        seen.received.len(),
        seen.statuses,
        seen.in_flight_at_kill,
        FAMILIES - active.len(),
    );
}

/// The restarted process, as `crash-app` sees it.
struct ProcessApp {
    http: reqwest::Client,
    base: String,
}

impl ProcessApp {
    async fn is_active(&self, token: &str) -> bool {
        let r = post_form_to(
            &self.http,
            &self.base,
            "/introspect",
            &[("token", token)],
            CRASH_AUTH,
        )
        .await;
        let body = lifecycle::introspection_body(r).await;
        if body["active"] == Value::Bool(true) {
            assert_eq!(body["client_id"], CRASH_CLIENT);
            assert_eq!(body["token_type"], "refresh_token");
            return true;
        }
        assert_eq!(body, serde_json::json!({"active": false}));
        false
    }

    async fn refresh(&self, token: &str) -> reqwest::Response {
        post_form_to(
            &self.http,
            &self.base,
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            CRASH_AUTH,
        )
        .await
    }
}
