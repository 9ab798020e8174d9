//! Incident response from the CLI (`portcullis revoke`, `session revoke`, `user
//! set-password`): a user with a browser session, two apps holding refresh tokens and
//! live access tokens; after the command every refresh fails with `invalid_grant`,
//! introspection says inactive, UserInfo answers 401, and the browser's session is
//! gone. On SQLite and, when `PORTCULLIS_TEST_POSTGRES_URL` is set, PostgreSQL.

use crate::cli::{cli, json_out};
use crate::flow::{
    ALICE, ALICE_PASSWORD, AuthRequest, BOB, BOB_PASSWORD, Browser, NATIVE_REDIRECT, location,
    pkce, redeem_native, redeem_web, token_ok, userinfo,
};
use crate::lifecycle::{
    self, NATIVE_AUTH, ORDERS_API_AUTH, WEB_AUTH, access_token_of, assert_invalid_grant, is_active,
    refresh, refresh_token_of,
};
use crate::postgres::with_fresh_database;
use crate::support::TestApp;
use portcullis_core::clock::Clock;
use serde_json::{Value, json};

/// What one signed-in browser of `username` holds: tokens of `web` and of `native`.
struct Holdings {
    browser: Browser,
    web: Value,
    native: Value,
}

/// `username` signs in once in a new browser and authorizes `web`, then `native`
/// (`offline_access`, so the public client gets a refresh token too).
async fn sign_in_to_two_apps(app: &TestApp, username: &str, password: &str) -> Holdings {
    let browser = Browser::new(app);
    let web = web_tokens_in(app, &browser, username, password).await;
    let native = native_tokens_in(app, &browser, username, password).await;
    Holdings {
        browser,
        web,
        native,
    }
}

async fn web_tokens_in(app: &TestApp, browser: &Browser, username: &str, password: &str) -> Value {
    let (challenge, verifier) = pkce();
    let request = AuthRequest::web(&challenge).set("scope", "openid read:orders");
    let (code, _) = browser.code(&request, username, password).await;
    token_ok(redeem_web(app, &code, Some(&verifier)).await).await
}

async fn native_tokens_in(
    app: &TestApp,
    browser: &Browser,
    username: &str,
    password: &str,
) -> Value {
    let (challenge, verifier) = pkce();
    let request = AuthRequest::native(&challenge).set("scope", NATIVE_SCOPE);
    let (code, _) = browser.code(&request, username, password).await;
    token_ok(redeem_native(app, &code, &verifier).await).await
}

/// The scope `native` is authorized for here (what the user consented to).
const NATIVE_SCOPE: &str = "openid offline_access read:orders";

/// Whether `browser` is signed in: `/authorize` for `native` with the consented scope
/// goes straight back with a code rather than to the login page.
async fn signed_in(browser: &Browser) -> bool {
    let request = AuthRequest::native(&pkce().0).set("scope", NATIVE_SCOPE);
    let r = browser.authorize(&request).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    if to.starts_with("/login?") {
        return false;
    }
    assert!(to.starts_with(NATIVE_REDIRECT), "{to}");
    true
}

/// Whether `tokens` (of `web` or `native`) still work: the access token is active at
/// introspection and UserInfo answers 200 — or neither.
async fn access_works(app: &TestApp, tokens: &Value) -> bool {
    let access = access_token_of(tokens);
    let active = is_active(app, ORDERS_API_AUTH, &access).await;
    let status = userinfo(app, &access).await.status().as_u16();
    assert_eq!(
        (active, status),
        if active { (true, 200) } else { (false, 401) },
        "introspection and UserInfo agree"
    );
    active
}

/// Refreshes and asserts 200 (then the returned tokens), or asserts `invalid_grant`.
async fn refresh_works(app: &TestApp, web: bool, tokens: &Value) -> bool {
    let auth = if web { WEB_AUTH } else { NATIVE_AUTH };
    let r = refresh(app, auth, &refresh_token_of(tokens), None).await;
    if r.status() == 200 {
        return true;
    }
    assert_invalid_grant(r).await;
    false
}

/// Every token of `h` is dead and its browser is signed out.
async fn assert_all_ended(app: &TestApp, h: &Holdings) {
    assert!(!access_works(app, &h.web).await, "web's access token");
    assert!(!access_works(app, &h.native).await, "native's access token");
    assert!(
        !refresh_works(app, true, &h.web).await,
        "web's refresh token"
    );
    assert!(
        !refresh_works(app, false, &h.native).await,
        "native's refresh token"
    );
    assert!(
        !signed_in(&h.browser).await,
        "the browser cookie no longer signs in"
    );
}

async fn revoke_user_case(app: TestApp) {
    let alice = sign_in_to_two_apps(&app, ALICE, ALICE_PASSWORD).await;
    let bob = sign_in_to_two_apps(&app, BOB, BOB_PASSWORD).await;
    assert!(access_works(&app, &alice.web).await);
    assert!(access_works(&app, &alice.native).await);
    assert!(signed_in(&alice.browser).await);

    let out = json_out(&cli(
        &app,
        &["revoke", "--user", ALICE, "--output", "json"],
        None,
    ));
    assert_eq!(out["sessions"], 1, "{out}");
    assert_eq!(out["refresh_families"], 2, "{out}");
    assert_eq!(out["access_tokens"], 2, "{out}");
    let ended = out["ended_sessions"].as_array().unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["client_ids"], json!(["native", "web"]));
    assert_eq!(ended[0]["session_id"].as_str().unwrap().len(), 64);

    assert_all_ended(&app, &alice).await;
    // Bob keeps everything.
    assert!(access_works(&app, &bob.web).await);
    assert!(refresh_works(&app, true, &bob.web).await);
    assert!(refresh_works(&app, false, &bob.native).await);
    assert!(signed_in(&bob.browser).await);
}

#[tokio::test]
async fn revoke_user_ends_the_session_and_every_token_of_both_apps() {
    revoke_user_case(lifecycle::start().await).await;
}

#[tokio::test]
async fn revoke_user_ends_the_session_and_every_token_on_postgres() {
    with_fresh_database(|db| async move {
        let app = TestApp::start_on(
            tempfile::TempDir::new().unwrap(),
            lifecycle::CONFIG,
            &db.url,
        )
        .await;
        revoke_user_case(app).await;
    })
    .await;
}

#[tokio::test]
async fn revoke_client_ends_only_that_clients_tokens() {
    let app = lifecycle::start().await;
    let alice = sign_in_to_two_apps(&app, ALICE, ALICE_PASSWORD).await;
    let out = json_out(&cli(
        &app,
        &["revoke", "--client", "web", "--output", "json"],
        None,
    ));
    assert_eq!(
        (
            &out["sessions"],
            &out["refresh_families"],
            &out["access_tokens"]
        ),
        (&json!(0), &json!(1), &json!(1)),
        "{out}"
    );
    assert!(!access_works(&app, &alice.web).await);
    assert!(!refresh_works(&app, true, &alice.web).await);
    assert!(access_works(&app, &alice.native).await);
    assert!(refresh_works(&app, false, &alice.native).await);
    assert!(signed_in(&alice.browser).await, "sessions are users'");
}

#[tokio::test]
async fn revoke_issued_after_keeps_what_was_issued_before() {
    let app = lifecycle::start().await;
    let t0 = app.clock.now();
    let browser = Browser::new(&app);
    let before = web_tokens_in(&app, &browser, ALICE, ALICE_PASSWORD).await;
    app.clock.advance(100);
    let after = native_tokens_in(&app, &browser, ALICE, ALICE_PASSWORD).await;
    let t = (t0 + 50).to_string();
    let out = json_out(&cli(
        &app,
        &[
            "revoke",
            "--user",
            ALICE,
            "--issued-after",
            &t,
            "--output",
            "json",
        ],
        None,
    ));
    assert_eq!(
        (&out["sessions"], &out["refresh_families"]),
        (&json!(0), &json!(1)),
        "the session began before T: {out}"
    );
    assert!(!access_works(&app, &after).await);
    assert!(!refresh_works(&app, false, &after).await);
    assert!(access_works(&app, &before).await);
    assert!(refresh_works(&app, true, &before).await);
    assert!(signed_in(&browser).await);
}

#[tokio::test]
async fn rejects_an_issued_after_that_is_not_a_time() {
    let app = lifecycle::start().await;
    let out = cli(
        &app,
        &["revoke", "--user", ALICE, "--issued-after", "yesterday"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`yesterday` is not a time: give RFC 3339"),
        "{stderr}"
    );
}

#[tokio::test]
async fn rejects_revoke_of_an_unknown_user() {
    let app = lifecycle::start().await;
    let out = cli(&app, &["revoke", "--user", "nobody"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no user `nobody`"), "{stderr}");
}

#[tokio::test]
async fn session_list_and_revoke_by_id_prefix() {
    let app = lifecycle::start().await;
    let alice = sign_in_to_two_apps(&app, ALICE, ALICE_PASSWORD).await;
    let bob = sign_in_to_two_apps(&app, BOB, BOB_PASSWORD).await;
    let listed = json_out(&cli(
        &app,
        &["session", "list", "--user", ALICE, "--output", "json"],
        None,
    ));
    let sessions = listed.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{listed}");
    let s = &sessions[0];
    assert_eq!(s["username"], ALICE);
    assert_eq!(s["client_ids"], json!(["native", "web"]));
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "auth_time",
            "client_ids",
            "created_at",
            "expires_at",
            "session_id",
            "user_id",
            "username"
        ],
        "the JSON shape"
    );
    let all = json_out(&cli(&app, &["session", "list", "--output", "json"], None));
    assert_eq!(all.as_array().unwrap().len(), 2);

    let prefix: String = s["session_id"].as_str().unwrap().chars().take(12).collect();
    let out = json_out(&cli(
        &app,
        &["session", "revoke", &prefix, "--output", "json"],
        None,
    ));
    assert_eq!(
        (&out["sessions"], &out["refresh_families"]),
        (&json!(1), &json!(2)),
        "{out}"
    );
    assert_all_ended(&app, &alice).await;
    assert!(signed_in(&bob.browser).await);
}

#[tokio::test]
async fn rejects_a_session_id_prefix_shorter_than_eight() {
    let app = lifecycle::start().await;
    let out = cli(&app, &["session", "revoke", "abc"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a session id needs at least 8 characters"),
        "{stderr}"
    );
}

#[tokio::test]
async fn set_password_ends_sessions_and_refresh_tokens() {
    let app = lifecycle::start().await;
    json_out(&cli(
        &app,
        &["user", "create", "--username", "dora", "--password-stdin"],
        Some("dora-password-1\n"),
    ));
    let dora = sign_in_to_two_apps(&app, "dora", "dora-password-1").await;
    let out = json_out(&cli(
        &app,
        &[
            "user",
            "set-password",
            "dora",
            "--password-stdin",
            "--output",
            "json",
        ],
        Some("a-brand-new-password\n"),
    ));
    assert_eq!(out["sessions"], 1, "{out}");
    assert_eq!(out["refresh_families"], 2, "{out}");
    assert_all_ended(&app, &dora).await;
    // The new password signs in; the old one does not.
    let fresh = Browser::new(&app);
    let (challenge, _) = pkce();
    let page = fresh
        .page(fresh.authorize(&AuthRequest::native(&challenge)).await)
        .await;
    let r = fresh.login(&page, "dora", "dora-password-1").await;
    assert_eq!(r.status(), 200, "the old password is refused");
    let page = r.text().await.unwrap();
    let r = fresh.login(&page, "dora", "a-brand-new-password").await;
    assert_eq!(r.status(), 303, "the new password signs in");
}

/// A reviewer finding: a password set here for a `[[users]]` entry came undone at the
/// next restart (start-up writes the file's password back). Such users are changed in
/// the file; the CLI refuses and says so, and changes nothing.
#[tokio::test]
async fn rejects_set_password_and_update_of_a_configured_user() {
    let app = lifecycle::start().await;
    for (args, stdin) in [
        (
            &["user", "set-password", ALICE, "--password-stdin"][..],
            Some("a-brand-new-password\n"),
        ),
        (&["user", "update", ALICE, "--name", "Mallory"][..], None),
    ] {
        let out = cli(&app, args, stdin);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("declared in the configuration file"),
            "{stderr}"
        );
    }
    let browser = Browser::new(&app);
    let (challenge, _) = pkce();
    let page = browser
        .page(browser.authorize(&AuthRequest::native(&challenge)).await)
        .await;
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303, "the file's password still signs in");
}

#[tokio::test]
async fn rejects_a_password_that_is_too_short() {
    let app = lifecycle::start().await;
    json_out(&cli(
        &app,
        &["user", "create", "--username", "dora", "--password-stdin"],
        Some("dora-password-1\n"),
    ));
    let out = cli(
        &app,
        &["user", "set-password", "dora", "--password-stdin"],
        Some("short\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least"), "{stderr}");
}

#[tokio::test]
async fn unlock_lets_a_throttled_user_sign_in_again() {
    let app = lifecycle::start().await;
    let browser = Browser::new(&app);
    let (challenge, _) = pkce();
    let mut page = browser
        .page(browser.authorize(&AuthRequest::native(&challenge)).await)
        .await;
    for _ in 0..10 {
        let r = browser.login(&page, ALICE, "wrong-password").await;
        if r.status() == 429 {
            break;
        }
        page = r.text().await.unwrap();
    }
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 429, "throttled");
    let out = json_out(&cli(&app, &["user", "unlock", ALICE], None));
    assert_eq!(out, json!({"unlocked": ALICE, "was_throttled": true}));
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303, "unlocked");
}

#[tokio::test]
async fn disable_ends_everything_and_enable_lets_the_user_back_in() {
    let app = lifecycle::start().await;
    let alice = sign_in_to_two_apps(&app, ALICE, ALICE_PASSWORD).await;
    let out = json_out(&cli(
        &app,
        &["user", "disable", ALICE, "--output", "json"],
        None,
    ));
    assert_eq!(
        (&out["sessions"], &out["refresh_families"]),
        (&json!(1), &json!(2)),
        "{out}"
    );
    assert_all_ended(&app, &alice).await;
    let listed = json_out(&cli(&app, &["user", "list"], None));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == ALICE)
        .unwrap();
    assert!(row["disabled_at"].is_i64(), "{row}");

    json_out(&cli(
        &app,
        &["user", "enable", ALICE, "--output", "json"],
        None,
    ));
    let fresh = Browser::new(&app);
    let (challenge, _) = pkce();
    let page = fresh
        .page(fresh.authorize(&AuthRequest::native(&challenge)).await)
        .await;
    let r = fresh.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303, "enabled again");
}

#[tokio::test]
async fn rejects_sign_in_of_a_disabled_user() {
    let app = lifecycle::start().await;
    json_out(&cli(&app, &["user", "disable", ALICE], None));
    let browser = Browser::new(&app);
    let (challenge, _) = pkce();
    let page = browser
        .page(browser.authorize(&AuthRequest::native(&challenge)).await)
        .await;
    // The right password: refused with the page's usual words (no session).
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("incorrect"), "{body}");
    assert!(!signed_in(&browser).await);
}

#[tokio::test]
async fn rejects_the_code_of_a_user_disabled_before_redemption() {
    let app = lifecycle::start().await;
    let browser = Browser::new(&app);
    let (challenge, verifier) = pkce();
    let request = AuthRequest::web(&challenge).set("scope", "openid read:orders");
    let (code, _) = browser.code(&request, ALICE, ALICE_PASSWORD).await;
    // The grant's own check, as when a code is issued while `user disable` runs
    // (`user disable` itself also withdraws unredeemed codes: the next test): the
    // account is marked disabled in the store, and nothing else is done.
    let store = app.app.state().store().clone();
    let alice = store.user_get_by_username(ALICE).await.unwrap().unwrap();
    assert!(
        store
            .user_set_disabled(&alice.user_id, Some(app.clock.now()))
            .await
            .unwrap()
    );
    lifecycle::assert_rejection(
        redeem_web(&app, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
        "the user of this authorization code is disabled",
    )
    .await;
}

/// A reviewer finding: a code issued just before `revoke --user` could still be
/// redeemed afterwards (codes live 60 s), giving the attacker a fresh refresh family.
#[tokio::test]
async fn rejects_a_code_issued_before_revoke_user() {
    let app = lifecycle::start().await;
    let browser = Browser::new(&app);
    let (challenge, verifier) = pkce();
    let (code, _) = browser
        .code(&AuthRequest::native(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    let out = json_out(&cli(
        &app,
        &["revoke", "--user", ALICE, "--output", "json"],
        None,
    ));
    assert_eq!(out["pending_grants"], 1, "{out}");
    assert_invalid_grant(redeem_native(&app, &code, &verifier).await).await;
}
