//! Issue 16 item 1: an authorization request costs the server no storage until the
//! user acts. The browser carries the validated request sealed (AES-256-GCM under a
//! key derived from the master key) in the pages' `request` parameter; the store
//! records only that a request has ended (single use), when it ends.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, AuthRequest, Browser, WEB_REDIRECT, location, pkce,
    redirect_params,
};
use crate::html::html_page;
use crate::support::TestApp;
use portcullis_core::clock::Clock;
use portcullis_server::app::interaction::USED_RECORD_GRACE;
use sqlx::{AssertSqlSafe, Connection, SqliteConnection};

/// Rows in every table of the server's SQLite database, read behind its back.
async fn rows(app: &TestApp) -> i64 {
    let mut conn = SqliteConnection::connect(&app.database_url())
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut total = 0;
    for table in tables {
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        total += n;
    }
    total
}

/// Rows of `used_authorization_requests`.
async fn used_requests(app: &TestApp) -> i64 {
    let mut conn = SqliteConnection::connect(&app.database_url())
        .await
        .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM used_authorization_requests")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// The sealed request in a `/login?request=…` or `/consent?request=…` location.
fn sealed_request(to: &str) -> String {
    url::form_urlencoded::parse(to.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "request")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn anonymous_authorize_writes_nothing_to_the_store() {
    let app = flow::start().await;
    let before = rows(&app).await;
    for _ in 0..50 {
        // A new browser each time, as an anonymous script would be.
        let browser = Browser::new(&app);
        let r = browser.authorize(&AuthRequest::native(&pkce().0)).await;
        assert_eq!(r.status(), 303);
        let to = location(&r);
        assert!(to.starts_with("/login?request="), "{to}");
        assert_eq!(browser.get(&to).await.status(), 200, "the login page opens");
    }
    assert_eq!(rows(&app).await, before, "no row was written");
}

#[tokio::test]
async fn a_finished_request_records_its_use_once_and_housekeeping_purges_it() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let request = AuthRequest::web(&pkce().0).set("scope", "openid");
    let login = browser.page(browser.authorize(&request).await).await;
    let r = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    let consent = browser.page(r).await;
    assert_eq!(
        used_requests(&app).await,
        0,
        "nothing until the user decides"
    );
    let r = browser.approve(&consent).await;
    assert!(redirect_params(&location(&r), WEB_REDIRECT).contains_key("code"));
    assert_eq!(used_requests(&app).await, 1);
    // Kept while the sealed request could still be presented (600 s) and a grace
    // after it (a page opened just before the expiry, a node whose clock is behind),
    // then purged.
    let store = app.app.state().store();
    let kept_until = app.clock.now() + 600 + USED_RECORD_GRACE;
    store.purge_expired(kept_until - 1, 100).await.unwrap();
    assert_eq!(used_requests(&app).await, 1);
    store.purge_expired(kept_until, 100).await.unwrap();
    assert_eq!(used_requests(&app).await, 0);
}

#[tokio::test]
async fn rejects_a_login_form_replayed_into_a_second_code() {
    // The login form carries the sealed request; after the code, posting it again
    // (the password is right, so it signs in) must not end in a second code.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let request = AuthRequest::web(&pkce().0).set("scope", "openid");
    let login = browser.page(browser.authorize(&request).await).await;
    let r = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    let consent = browser.page(r).await;
    let r = browser.approve(&consent).await;
    assert!(redirect_params(&location(&r), WEB_REDIRECT).contains_key("code"));
    // The consent is remembered now: the replay would go straight to a code.
    let r = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    assert!(r.headers().get("location").is_none(), "no second redirect");
    html_page(r, 400).await;
}

#[tokio::test]
async fn rejects_a_consent_form_of_the_login_replay() {
    // Replaying the login form before the consent was given: the second consent page
    // carries the same request; only one of the two consent forms ends in a code.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let request = AuthRequest::web(&pkce().0).set("scope", "openid");
    let login = browser.page(browser.authorize(&request).await).await;
    let first = browser
        .page(browser.login(&login, ALICE, ALICE_PASSWORD).await)
        .await;
    let second = browser
        .page(browser.login(&login, ALICE, ALICE_PASSWORD).await)
        .await;
    let r = browser.approve(&second).await;
    assert!(redirect_params(&location(&r), WEB_REDIRECT).contains_key("code"));
    let r = browser.approve(&first).await;
    assert!(r.headers().get("location").is_none());
    html_page(r, 400).await;
}

#[tokio::test]
async fn rejects_a_sealed_request_that_was_changed() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let r = browser.authorize(&AuthRequest::native(&pkce().0)).await;
    let sealed = sealed_request(&location(&r));
    let mut bytes = sealed.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(bytes).unwrap();
    html_page(browser.get(&format!("/login?request={changed}")).await, 400).await;
}

#[tokio::test]
async fn rejects_a_sealed_request_lifted_into_another_browser() {
    let app = flow::start().await;
    let victim = Browser::new(&app);
    let r = victim.authorize(&AuthRequest::native(&pkce().0)).await;
    let to = location(&r);
    let thief = Browser::new(&app);
    html_page(thief.get(&to).await, 400).await;
    // Even with a binding cookie of its own.
    let _ = thief.authorize(&AuthRequest::native(&pkce().0)).await;
    html_page(thief.get(&to).await, 400).await;
    assert_eq!(victim.get(&to).await.status(), 200, "still the victim's");
}

#[tokio::test]
async fn rejects_a_sealed_request_at_its_expiry() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let r = browser.authorize(&AuthRequest::native(&pkce().0)).await;
    let to = location(&r);
    app.clock.advance(599);
    assert_eq!(browser.get(&to).await.status(), 200, "expires_at - 1");
    app.clock.advance(1);
    html_page(browser.get(&to).await, 400).await;
}

#[tokio::test]
async fn rejects_taking_a_request_at_its_expiry_even_if_it_opened_a_second_before() {
    // The page was opened a second before the expiry and the form answered at it:
    // `take` checks the expiry again, so the use is refused and nothing is written.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let request = AuthRequest::web(&pkce().0).set("scope", "openid");
    let r = browser.authorize(&request).await;
    let sealed = sealed_request(&location(&r));
    let server_browser = portcullis_server::app::browser::Browser {
        session: None,
        binding: browser.cookie("portcullis_browser"),
        device: None,
    };
    let state = app.app.state();
    let expires_at = app.clock.now() + 600;
    app.clock.set(expires_at - 1);
    let pending = portcullis_server::app::interaction::Pending::load(
        state,
        &server_browser,
        Some(&sealed),
        app.clock.now(),
    )
    .unwrap_or_else(|_| panic!("it opens a second before its expiry"));
    assert_eq!(pending.row.expires_at, expires_at);
    app.clock.set(expires_at);
    assert!(!pending.take(state).await.unwrap(), "refused at the expiry");
    assert_eq!(used_requests(&app).await, 0, "and nothing was recorded");
    app.clock.set(expires_at - 1);
    assert!(pending.take(state).await.unwrap(), "a second before, taken");
    assert_eq!(used_requests(&app).await, 1);
}
