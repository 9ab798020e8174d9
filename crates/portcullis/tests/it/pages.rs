//! The login and consent pages (OIDC Core §3.1.2.3–3.1.2.4) and what they protect:
//! the form contract, CSRF and browser binding, throttling, cookies, sessions (new id
//! at each login, expiry, surviving a restart), remembered and incremental consent.
//! Logout is in `logout.rs`, UserInfo in `userinfo.rs`.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, AuthRequest, BOB, BOB_PASSWORD, Browser, FIRST_PARTY,
    FIRST_PARTY_REDIRECT, SESSION_TTL, STATE, WEB_REDIRECT, location, pkce, redeem_native,
    redirect_params, set_cookies, token_ok, user_id, userinfo,
};
use crate::html::{Form, assert_no_script, assert_page_headers, elements, html_page};
use crate::support::TestApp;
use serde_json::Value;

const SESSION_COOKIE: &str = "portcullis_session";
const BROWSER_COOKIE: &str = "portcullis_browser";
const DEVICE_COOKIE: &str = "portcullis_device";

/// Opens `/authorize` for `native` and returns (the login page HTML, its headers, the
/// pending request id from the URL).
async fn login_page(
    browser: &Browser,
    request: &AuthRequest,
) -> (String, reqwest::header::HeaderMap, String) {
    let r = browser.authorize(request).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with("/login?request="), "{to}");
    let id = url::form_urlencoded::parse(to.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "request")
        .unwrap()
        .1
        .into_owned();
    let page = browser.get(&to).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    (page.text().await.unwrap(), headers, id)
}

fn native() -> AuthRequest {
    AuthRequest::native(&pkce().0)
}

// --- login page -----------------------------------------------------------------------

#[tokio::test]
async fn login_page_has_the_contract_fields_a_csrf_token_and_no_script() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (page, headers, id) = login_page(&browser, &native()).await;
    assert_page_headers(&headers);
    let form = Form::find(&page, "/login").expect("a form posting to /login");
    assert_eq!(form.method, "post");
    assert_eq!(form.hidden("request"), Some(id.as_str()));
    let csrf = form.hidden("csrf_token").expect("a hidden csrf_token");
    assert!(csrf.len() >= 22, "an unguessable token: {csrf}");
    assert!(
        form.inputs
            .iter()
            .any(|(n, t)| n == "username" && (t == "text" || t == "email" || t.is_empty()))
    );
    assert!(
        form.inputs
            .iter()
            .any(|(n, t)| n == "password" && t == "password")
    );
    assert!(page.contains("Native App"), "names the client");
    assert_no_script(&page);
}

#[tokio::test]
async fn login_hint_prefills_the_username() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (page, _, _) = login_page(&browser, &native().set("login_hint", "alice")).await;
    let username = elements(&page)
        .into_iter()
        .find(|(tag, attrs)| tag == "input" && attrs.get("name").is_some_and(|n| n == "username"))
        .unwrap()
        .1;
    assert_eq!(username.get("value").map(String::as_str), Some("alice"));
}

#[tokio::test]
async fn login_hint_is_escaped() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let hint = "\"><script>alert(1)</script><input name=\"x";
    let (page, _, _) = login_page(&browser, &native().set("login_hint", hint)).await;
    assert_no_script(&page);
    let username = elements(&page)
        .into_iter()
        .find(|(tag, attrs)| tag == "input" && attrs.get("name").is_some_and(|n| n == "username"))
        .unwrap()
        .1;
    assert_eq!(username.get("value").map(String::as_str), Some(hint));
    assert!(
        !elements(&page)
            .iter()
            .any(|(_, attrs)| attrs.get("name").is_some_and(|n| n == "x")),
        "no injected input"
    );
}

#[tokio::test]
async fn wrong_password_shows_the_login_page_again_with_a_message() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (page, _, _) = login_page(&browser, &native()).await;
    let r = browser.login(&page, ALICE, "wrong-password").await;
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    let again = html_page(r, 200).await;
    assert!(again.contains("incorrect"), "{again}");
    assert!(
        !again.contains("wrong-password"),
        "the password is never echoed"
    );
    assert!(!browser.has_cookie(SESSION_COOKIE));
    // The page it shows works.
    let r = browser.login(&again, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/consent?"));
}

#[tokio::test]
async fn unknown_user_gets_the_same_message_as_a_wrong_password() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (page, _, _) = login_page(&browser, &native()).await;
    let wrong = html_page(browser.login(&page, ALICE, "wrong-password").await, 200).await;
    let unknown = html_page(browser.login(&page, "mallory", "wrong-password").await, 200).await;
    let message = |page: &str| {
        page.lines()
            .find(|l| l.contains("incorrect"))
            .map(str::trim)
            .map(str::to_owned)
    };
    assert!(message(&unknown).is_some(), "{unknown}");
    assert_eq!(message(&wrong), message(&unknown), "no username oracle");
}

#[tokio::test]
async fn rejects_login_with_a_wrong_csrf_token() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (page, _, id) = login_page(&browser, &native()).await;
    let fields = vec![
        ("request".to_owned(), id),
        (
            "csrf_token".to_owned(),
            "not-the-token-0123456789abcdef".to_owned(),
        ),
        ("username".to_owned(), ALICE.to_owned()),
        ("password".to_owned(), ALICE_PASSWORD.to_owned()),
    ];
    let r = browser.post_form("/login", &fields).await;
    assert!(r.headers().get("location").is_none());
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    html_page(r, 400).await;
    assert!(!browser.has_cookie(SESSION_COOKIE));
    assert!(!browser.is_signed_in().await);
    // Without any token, likewise.
    let form = Form::find(&page, "/login").unwrap();
    let fields = vec![
        (
            "request".to_owned(),
            form.hidden("request").unwrap().to_owned(),
        ),
        ("username".to_owned(), ALICE.to_owned()),
        ("password".to_owned(), ALICE_PASSWORD.to_owned()),
    ];
    let r = browser.post_form("/login", &fields).await;
    html_page(r, 400).await;
    assert!(!browser.is_signed_in().await);
}

#[tokio::test]
async fn rejects_login_form_posted_from_another_browser() {
    // Login CSRF: the form and its token are bound to the browser that started the
    // request (its binding cookie); another browser cannot complete it.
    let app = flow::start().await;
    let victim = Browser::new(&app);
    let (page, _, _) = login_page(&victim, &native()).await;
    let attacker = Browser::new(&app);
    let r = attacker.login(&page, ALICE, ALICE_PASSWORD).await;
    assert!(r.headers().get("location").is_none());
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    html_page(r, 400).await;
    assert!(!attacker.has_cookie(SESSION_COOKIE));
    assert!(!attacker.is_signed_in().await);
    assert!(!victim.is_signed_in().await);
}

#[tokio::test]
async fn throttles_after_ten_failed_attempts_for_an_account() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (mut page, _, _) = login_page(&browser, &native()).await;
    for attempt in 1..=9 {
        let r = browser.login(&page, ALICE, "wrong-password").await;
        assert_eq!(r.status(), 200, "failure {attempt} is not throttled yet");
        page = r.text().await.unwrap();
        assert!(page.contains("incorrect"));
    }
    // The tenth failure may already say so; after it, every attempt is refused.
    let r = browser.login(&page, ALICE, "wrong-password").await;
    assert!(matches!(r.status().as_u16(), 200 | 429), "{}", r.status());
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 429, "even the right password is refused");
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    let body = html_page(r, 429).await;
    assert!(body.contains("Too many failed sign-in attempts"), "{body}");
    assert!(!browser.has_cookie(SESSION_COOKIE));
}

#[tokio::test]
async fn per_address_limit_allows_an_office_of_typos() {
    // Issue 16 item 2: one office behind one address; twenty people each mistype
    // their password twice (40 failures from the address, none locks an account).
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (mut page, _, _) = login_page(&browser, &native()).await;
    for attempt in 0..40 {
        let r = browser
            .login(&page, &format!("colleague-{}", attempt % 20), "typo")
            .await;
        assert_eq!(r.status(), 200, "failure {}", attempt + 1);
        page = r.text().await.unwrap();
    }
    // Someone else in the office signs in.
    let r = browser.login(&page, BOB, BOB_PASSWORD).await;
    assert_eq!(r.status(), 303, "the address is not locked");
}

#[tokio::test]
async fn throttles_after_a_hundred_failed_attempts_from_one_address() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (mut page, _, _) = login_page(&browser, &native()).await;
    for attempt in 1..=100 {
        let r = browser
            .login(&page, &format!("nobody-{attempt}"), "wrong-password")
            .await;
        assert!(
            attempt == 100 || r.status() == 200,
            "failure {attempt}: {}",
            r.status()
        );
        if r.status() == 200 {
            page = r.text().await.unwrap();
        }
    }
    // A different account, from the same address.
    let r = browser.login(&page, BOB, BOB_PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body = html_page(r, 429).await;
    assert!(body.contains("Too many failed sign-in attempts"), "{body}");
}

/// A stranger's browser fails ten times on `username`: its anonymous bucket is spent.
async fn lock_out(app: &crate::support::TestApp, username: &str) -> (Browser, String) {
    let stranger = Browser::new(app);
    let (mut page, _, _) = login_page(&stranger, &native()).await;
    for _ in 0..10 {
        let r = stranger.login(&page, username, "a-guess").await;
        if r.status() == 200 {
            page = r.text().await.unwrap();
        }
    }
    (stranger, page)
}

#[tokio::test]
async fn device_cookie_user_signs_in_while_account_is_locked_for_strangers() {
    // Issue 16 item 2 (OWASP device cookies): the user signed in on this browser
    // before, so it carries a device cookie for them.
    let app = flow::start().await;
    let user = Browser::new(&app);
    user.code(&native(), ALICE, ALICE_PASSWORD).await;
    assert!(user.has_cookie(DEVICE_COOKIE));

    let (stranger, page) = lock_out(&app, ALICE).await;
    let r = stranger.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 429, "locked for a browser without the cookie");

    // The user, on their own browser, signs in again (prompt=login): not throttled.
    let (page, _, _) = login_page(&user, &native().set("prompt", "login")).await;
    let r = user.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303, "the user still gets in");
    // And their typos count in their own bucket, not the spent anonymous one.
    let (page, _, _) = login_page(&user, &native().set("prompt", "login")).await;
    let r = user.login(&page, ALICE, "a-typo").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn device_cookie_user_signs_in_while_strangers_hold_the_account_queue() {
    // Attempts on one account queue one at a time on a node. A stranger's attempt
    // holding that queue (as thousands queued by a script would) must not delay the
    // user on a browser with their device cookie: it queues on its own.
    let app = flow::start().await;
    let user = Browser::new(&app);
    user.code(&native(), ALICE, ALICE_PASSWORD).await;
    assert!(user.has_cookie(DEVICE_COOKIE));
    let account = portcullis_core::user::username_key(ALICE);
    let held = app.app.state().throttle().serialize_account(&account).await;

    let (page, _, _) = login_page(&user, &native().set("prompt", "login")).await;
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        user.login(&page, ALICE, ALICE_PASSWORD),
    )
    .await
    .expect("the device-cookie browser does not wait behind the account's queue");
    assert_eq!(r.status(), 303, "the user gets in");

    // A browser without the cookie does wait behind the holder.
    let stranger = Browser::new(&app);
    let (page, _, _) = login_page(&stranger, &native()).await;
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        stranger.login(&page, ALICE, ALICE_PASSWORD),
    )
    .await;
    assert!(
        waiting.is_err(),
        "an anonymous attempt queues on the account"
    );
    drop(held);
}

#[tokio::test]
async fn forged_device_cookie_counts_as_anonymous() {
    let app = flow::start().await;
    let owner = Browser::new(&app);
    owner.code(&native(), BOB, BOB_PASSWORD).await;
    let bobs = owner.cookie(DEVICE_COOKIE).unwrap();
    let (stranger, page) = lock_out(&app, ALICE).await;
    let parts: Vec<&str> = bobs.split('.').collect();
    assert_eq!(parts.len(), 4, "{bobs}");
    // A tag changed in its first character, a later expiry, another user's cookie,
    // nonsense: each leaves the attempt anonymous, so it is throttled.
    let flipped_tag = format!(
        "{}.{}.{}.{}{}",
        parts[0],
        parts[1],
        parts[2],
        if parts[3].starts_with('A') { 'B' } else { 'A' },
        &parts[3][1..]
    );
    let later = format!("{}.{}.9999999999.{}", parts[0], parts[1], parts[3]);
    for forged in [flipped_tag, later, bobs.clone(), "v1.x.1.y".into()] {
        stranger.set_cookie(DEVICE_COOKIE, &forged);
        let r = stranger.login(&page, ALICE, ALICE_PASSWORD).await;
        assert_eq!(r.status(), 429, "{forged}");
    }
}

// --- cookies and sessions ---------------------------------------------------------------

#[tokio::test]
async fn session_and_binding_cookies_are_httponly_samesite_lax() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let r = browser.authorize(&native()).await;
    let binding = set_cookies(r.headers(), BROWSER_COOKIE);
    assert_eq!(binding.len(), 1, "the browser-binding cookie");
    assert_cookie_attributes(binding[0]);

    let to = location(&r);
    let page = browser.get(&to).await.text().await.unwrap();
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303);
    let session = set_cookies(r.headers(), SESSION_COOKIE);
    assert_eq!(session.len(), 1, "{:?}", r.headers());
    assert_cookie_attributes(session[0]);
    let device = set_cookies(r.headers(), DEVICE_COOKIE);
    assert_eq!(device.len(), 1, "{:?}", r.headers());
    assert_cookie_attributes(device[0]);
    assert!(
        device[0].contains("Max-Age=7776000"),
        "90 days: {}",
        device[0]
    );
    let value = session[0]
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    assert!(value.len() >= 43, "256 bits of randomness: {value}");
}

fn assert_cookie_attributes(set_cookie: &str) {
    let attrs: Vec<String> = set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.iter().any(|a| a == "httponly"), "{set_cookie}");
    assert!(attrs.iter().any(|a| a == "samesite=lax"), "{set_cookie}");
    assert!(attrs.iter().any(|a| a == "path=/"), "{set_cookie}");
    assert!(
        !attrs.iter().any(|a| a == "secure"),
        "not Secure on an http issuer: {set_cookie}"
    );
    assert!(
        !attrs.iter().any(|a| a.starts_with("domain=")),
        "host-only: {set_cookie}"
    );
}

#[tokio::test]
async fn every_login_starts_a_new_session() {
    // Session fixation (OWASP): a login never keeps a session id from before it.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    let first = browser.cookie(SESSION_COOKIE).unwrap();

    let (_, shown) = browser
        .code(&native().set("prompt", "login"), ALICE, ALICE_PASSWORD)
        .await;
    assert_eq!(shown, ["login"]);
    let second = browser.cookie(SESSION_COOKIE).unwrap();
    assert_ne!(first, second);

    // The old id no longer signs anyone in.
    let other = Browser::new(&app);
    other.set_cookie(SESSION_COOKIE, &first);
    assert!(!other.is_signed_in().await);
    // The new one does (the check above can tell).
    let other = Browser::new(&app);
    other.set_cookie(SESSION_COOKIE, &second);
    assert!(other.is_signed_in().await);
}

#[tokio::test]
async fn session_survives_a_server_restart() {
    let app = flow::start().await;
    let mut browser = Browser::new(&app);
    let (_, shown) = browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    let alice = user_id(&app, ALICE).await;

    let dir = app.stop().await;
    let app = TestApp::start_in(dir, flow::CONFIG).await;
    browser.rebase(&app);
    assert_eq!(user_id(&app, ALICE).await, alice, "user ids are stable");

    // Single sign-on and the remembered consent still work: no page at all.
    let (challenge, verifier) = pkce();
    let (code, shown) = browser
        .code(&AuthRequest::native(&challenge), ALICE, "not-needed")
        .await;
    assert!(shown.is_empty(), "{shown:?}");
    let token = token_ok(redeem_native(&app, &code, &verifier).await).await;
    let r = userinfo(&app, token["access_token"].as_str().unwrap()).await;
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], alice);
}

#[tokio::test]
async fn session_ends_after_session_ttl() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    app.clock.advance(SESSION_TTL - 1);
    assert!(browser.is_signed_in().await, "one second before the end");
    app.clock.advance(1);
    assert!(
        !browser.is_signed_in().await,
        "at session_ttl: log in again"
    );
}

#[tokio::test]
async fn rejects_login_after_the_pending_request_expired() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (page, _, _) = login_page(&browser, &native()).await;
    app.clock.advance(86_400);
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    assert!(r.headers().get("location").is_none());
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    html_page(r, 400).await;
}

#[tokio::test]
async fn login_page_without_a_pending_request_is_an_error_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let body = html_page(browser.get("/login").await, 400).await;
    assert_no_script(&body);
    html_page(browser.get("/login?request=made-up-id").await, 400).await;
    html_page(browser.get("/consent?request=made-up-id").await, 400).await;
}

// --- consent page -----------------------------------------------------------------------

/// Signs Alice in for `web` with `scope` and returns the consent page.
async fn consent_page(browser: &Browser, scope: &str) -> String {
    let request = AuthRequest::web(&pkce().0).set("scope", scope);
    let r = browser.authorize(&request).await;
    let r = if location(&r).starts_with("/login?") {
        let page = browser.page(r).await;
        browser.login(&page, ALICE, ALICE_PASSWORD).await
    } else {
        r
    };
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/consent?"), "{}", location(&r));
    browser.page(r).await
}

/// Which of `candidates` the consent page shows: scope tokens that appear as words in
/// the page's text (markup, attributes and the form's hidden values left out).
fn listed_scopes(page: &str, candidates: &[&str]) -> Vec<String> {
    let body = page.split_once("<body").map_or(page, |(_, b)| b);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '(' | ')' | '"'))
        .collect();
    candidates
        .iter()
        .filter(|s| words.contains(s))
        .map(|s| (*s).to_owned())
        .collect()
}

#[tokio::test]
async fn consent_page_names_the_client_and_each_scope() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let r = browser
        .authorize(&AuthRequest::web(&pkce().0).set("scope", "openid email read:orders"))
        .await;
    let page = browser.page(r).await;
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    let to = location(&r);
    let page = browser.get(&to).await;
    assert_page_headers(page.headers());
    let page = page.text().await.unwrap();
    assert!(page.contains("Web App"), "the client's name");
    for scope in ["openid", "email", "read:orders"] {
        assert!(page.contains(scope), "{scope} listed");
    }
    let form = Form::find(&page, "/consent").expect("a form posting to /consent");
    assert_eq!(form.method, "post");
    assert!(form.hidden("request").is_some());
    assert!(form.hidden("csrf_token").is_some_and(|t| t.len() >= 22));
    assert!(
        form.buttons
            .contains(&("decision".into(), "approve".into()))
    );
    assert!(form.buttons.contains(&("decision".into(), "deny".into())));
    assert_no_script(&page);
}

#[tokio::test]
async fn consent_deny_sends_access_denied() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let page = consent_page(&browser, "openid read:orders").await;
    let r = browser.deny(&page).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), WEB_REDIRECT);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], app.base);
    assert!(!params.contains_key("code"));
    // Nothing was remembered: the next request asks again.
    consent_page(&browser, "openid read:orders").await;
}

#[tokio::test]
async fn rejects_consent_with_a_wrong_csrf_token() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let page = consent_page(&browser, "openid").await;
    let form = Form::find(&page, "/consent").unwrap();
    let fields = vec![
        (
            "request".to_owned(),
            form.hidden("request").unwrap().to_owned(),
        ),
        (
            "csrf_token".to_owned(),
            "forged-0123456789abcdefghijklmnop".to_owned(),
        ),
        ("decision".to_owned(), "approve".to_owned()),
    ];
    let r = browser.post_form("/consent", &fields).await;
    assert!(r.headers().get("location").is_none());
    html_page(r, 400).await;
    // Not approved: the next request shows the consent page again.
    consent_page(&browser, "openid").await;
}

#[tokio::test]
async fn consent_is_remembered_and_a_wider_request_shows_only_the_new_scopes() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let all = ["openid", "profile", "email", "read:orders"];

    let page = consent_page(&browser, "openid profile").await;
    assert_eq!(listed_scopes(&page, &all), ["openid", "profile"]);
    let r = browser.approve(&page).await;
    assert!(redirect_params(&location(&r), WEB_REDIRECT).contains_key("code"));

    // The same scopes again: straight back with a code.
    let (_, shown) = browser
        .code(
            &AuthRequest::web(&pkce().0).set("scope", "openid profile"),
            ALICE,
            ALICE_PASSWORD,
        )
        .await;
    assert!(shown.is_empty(), "{shown:?}");

    // More scopes: only the new one is asked for.
    let page = consent_page(&browser, "openid profile email").await;
    assert_eq!(listed_scopes(&page, &all), ["email"]);
    browser.approve(&page).await;

    // A subset of what was approved: no page.
    let (_, shown) = browser
        .code(
            &AuthRequest::web(&pkce().0).set("scope", "openid email"),
            ALICE,
            ALICE_PASSWORD,
        )
        .await;
    assert!(shown.is_empty(), "{shown:?}");
}

#[tokio::test]
async fn rejects_consent_submitted_twice() {
    // A double click or a second tab: one code, then an error page, not a second code.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let page = consent_page(&browser, "openid").await;
    let r = browser.approve(&page).await;
    assert!(redirect_params(&location(&r), WEB_REDIRECT).contains_key("code"));
    let r = browser.approve(&page).await;
    assert!(r.headers().get("location").is_none());
    html_page(r, 400).await;
}

#[tokio::test]
async fn rejects_consent_posted_from_another_browser() {
    // Bob, signed in in his own browser, posts Alice's consent form: the form is
    // bound to Alice's browser.
    let app = flow::start().await;
    let alice = Browser::new(&app);
    let page = consent_page(&alice, "openid").await;
    let bob = Browser::new(&app);
    let r = bob
        .authorize(&AuthRequest::web(&pkce().0).set("scope", "openid"))
        .await;
    bob.complete(r, BOB, BOB_PASSWORD).await;
    let r = bob.approve(&page).await;
    assert!(r.headers().get("location").is_none());
    html_page(r, 400).await;
    // Alice's request is still hers to approve.
    let r = alice.approve(&page).await;
    assert!(redirect_params(&location(&r), WEB_REDIRECT).contains_key("code"));
}

#[tokio::test]
async fn rejects_skipping_a_forced_login_through_the_consent_page() {
    // prompt=login while signed in: the consent page must not stand in for the login.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    let request = AuthRequest::web(&pkce().0).set("prompt", "login");
    let (page, _, id) = login_page(&browser, &request).await;

    let r = browser.get(&format!("/consent?request={id}")).await;
    assert_not_a_code(&r);
    let form = Form::find(&page, "/login").unwrap();
    let fields = vec![
        ("request".to_owned(), id),
        (
            "csrf_token".to_owned(),
            form.hidden("csrf_token").unwrap().to_owned(),
        ),
        ("decision".to_owned(), "approve".to_owned()),
    ];
    let r = browser.post_form("/consent", &fields).await;
    assert_not_a_code(&r);
}

/// Asserts that `r` sends the browser back to the login page or shows an error, and
/// does not redirect to a client.
fn assert_not_a_code(r: &reqwest::Response) {
    match r.headers().get("location") {
        Some(to) => {
            let to = to.to_str().unwrap();
            assert!(to.starts_with("/login?"), "{to}");
        }
        None => assert!(r.status().is_client_error(), "{}", r.status()),
    }
}

#[tokio::test]
async fn consent_is_per_user() {
    let app = flow::start().await;
    let alice = Browser::new(&app);
    let page = consent_page(&alice, "openid").await;
    alice.approve(&page).await;

    let bob = Browser::new(&app);
    let r = bob
        .authorize(&AuthRequest::web(&pkce().0).set("scope", "openid"))
        .await;
    let (_, shown) = bob.complete(r, BOB, BOB_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
}

#[tokio::test]
async fn skip_consent_client_never_sees_the_consent_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let request = AuthRequest::new(FIRST_PARTY, FIRST_PARTY_REDIRECT)
        .set("scope", "openid profile email")
        .set("code_challenge", &pkce().0)
        .set("code_challenge_method", "S256");
    let (_, shown) = browser.code(&request, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login"]);
    let (_, shown) = browser.code(&request, ALICE, ALICE_PASSWORD).await;
    assert!(shown.is_empty(), "{shown:?}");
}

#[tokio::test]
async fn a_password_change_in_the_configuration_ends_the_users_sessions() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    assert!(browser.is_signed_in().await);
    let dir = app.stop().await;
    let changed = flow::CONFIG.replace(
        &format!("password = \"{ALICE_PASSWORD}\""),
        "password = \"a-brand-new-password\"",
    );
    assert_ne!(
        changed,
        flow::CONFIG,
        "the test must change alice's password"
    );
    let app = TestApp::start_in(dir, &changed).await;
    let mut browser = browser;
    browser.rebase(&app);
    assert!(
        !browser.is_signed_in().await,
        "the old session must be gone"
    );
}

#[tokio::test]
async fn a_user_removed_from_the_configuration_can_no_longer_sign_in() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    let dir = app.stop().await;
    let start = flow::CONFIG
        .find("[[users]]\nusername = \"alice\"")
        .expect("alice's table in flow::CONFIG");
    let end = flow::CONFIG[start + 1..]
        .find("[[")
        .map_or(flow::CONFIG.len(), |i| start + 1 + i);
    let without_alice = format!("{}{}", &flow::CONFIG[..start], &flow::CONFIG[end..]);
    let app = TestApp::start_in(dir, &without_alice).await;
    let mut browser = browser;
    browser.rebase(&app);
    assert!(!browser.is_signed_in().await, "her session went with her");
    let found = app
        .app
        .state()
        .store()
        .user_get_by_username(ALICE)
        .await
        .unwrap();
    assert!(found.is_none(), "alice must be deleted");
}

// --- switch account -----------------------------------------------------------------------

/// The consent page's "Switch account" form (the second form posting to `/consent`).
fn switch_account_form(page: &str) -> Form {
    let (_, rest) = page.split_once("</form>").expect("the consent form");
    let form = Form::find(rest, "/consent").expect("a switch-account form posting to /consent");
    assert_eq!(form.method, "post");
    assert!(
        form.buttons
            .contains(&("decision".into(), "switch_account".into())),
        "{:?}",
        form.buttons
    );
    form
}

#[tokio::test]
async fn consent_switch_account_signs_out_and_returns_to_the_same_request() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (challenge, verifier) = pkce();
    let request = AuthRequest::web(&challenge).set("scope", "openid read:orders");
    let r = browser.authorize(&request).await;
    let page = browser.page(r).await;
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    let page = browser.page(r).await;
    assert!(page.contains("Not alice?"), "{page}");
    let form = switch_account_form(&page);
    let mut fields = form.hidden.clone();
    fields.push(("decision".into(), "switch_account".into()));
    let r = browser.post_form("/consent", &fields).await;
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).starts_with("/login?request="),
        "{}",
        location(&r)
    );
    let cleared = set_cookies(r.headers(), SESSION_COOKIE);
    assert!(
        cleared.iter().any(|c| c.contains("Max-Age=0")),
        "the session cookie is cleared: {cleared:?}"
    );
    // The same request, answered by Bob: the code is Bob's.
    let (to, shown) = browser.complete(r, BOB, BOB_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    let params = redirect_params(&to, WEB_REDIRECT);
    assert_eq!(params["state"], STATE);
    let token = token_ok(flow::redeem_web(&app, &params["code"], Some(&verifier)).await).await;
    let info: Value = userinfo(&app, token["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], user_id(&app, BOB).await);
}

#[tokio::test]
async fn rejects_switch_account_with_a_wrong_csrf_token() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let page = consent_page(&browser, "openid").await;
    let form = switch_account_form(&page);
    let fields = vec![
        (
            "request".to_owned(),
            form.hidden("request").unwrap().to_owned(),
        ),
        (
            "csrf_token".to_owned(),
            "forged-0123456789abcdefghijklmnop".to_owned(),
        ),
        ("decision".to_owned(), "switch_account".to_owned()),
    ];
    let r = browser.post_form("/consent", &fields).await;
    assert!(r.headers().get("location").is_none());
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    html_page(r, 400).await;
    // Still signed in: the next request goes straight to the consent page.
    let r = browser
        .authorize(&AuthRequest::web(&pkce().0).set("scope", "openid"))
        .await;
    assert!(location(&r).starts_with("/consent?"), "{}", location(&r));
}

// --- landing page -------------------------------------------------------------------------

#[tokio::test]
async fn landing_page_for_a_browser_names_the_issuer_and_links_the_metadata() {
    let app = flow::start().await;
    let r = app
        .http
        .get(app.url("/"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    let page = html_page(r, 200).await;
    assert_no_script(&page);
    assert!(page.contains(&app.base), "the issuer");
    let links: Vec<String> = elements(&page)
        .into_iter()
        .filter(|(tag, _)| tag == "a")
        .filter_map(|(_, attrs)| attrs.get("href").cloned())
        .collect();
    for href in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks",
    ] {
        assert!(links.iter().any(|l| l == href), "{href} in {links:?}");
    }
}

#[tokio::test]
async fn rejects_a_client_that_is_not_a_browser_at_the_root_with_json() {
    let app = flow::start().await;
    for accept in [None, Some("application/json")] {
        let mut request = app.http.get(app.url("/"));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "invalid_request",
                "error_description": "no such endpoint; see /.well-known/oauth-authorization-server"
            })
        );
    }
}

// --- serve --dev callback -----------------------------------------------------------------

/// The curl the dev callback page shows, as the form fields it would post.
fn curl_fields(page: &str) -> (Vec<(String, String)>, String) {
    let (_, rest) = page
        .split_once("<pre class=\"copy\">")
        .expect("a curl on the page");
    let (curl, _) = rest.split_once("</pre>").unwrap();
    let curl = curl.replace("&#x2f;", "/").replace("&#47;", "/");
    let words: Vec<&str> = curl.split_whitespace().collect();
    assert_eq!(words[0], "curl");
    let mut fields = Vec::new();
    for pair in words.windows(2) {
        if pair[0] == "-d" || pair[0] == "--data-urlencode" {
            let (k, v) = pair[1].split_once('=').unwrap();
            fields.push((k.to_owned(), v.to_owned()));
        }
    }
    (fields, (*words.last().unwrap()).to_owned())
}

#[tokio::test]
async fn dev_callback_shows_the_code_and_a_curl_that_redeems_it() {
    let pkce = portcullis_server::app::admin::dev::DemoPkce::generate().unwrap();
    let (app, password) = TestApp::start_dev(pkce.clone()).await;
    let browser = Browser::new(&app);
    let redirect_uri = format!("{}/dev/callback", app.base);
    let request = AuthRequest::new("demo-app", &redirect_uri)
        .set("scope", "openid profile")
        .set("state", "demo-state")
        .set("code_challenge", &pkce.challenge())
        .set("code_challenge_method", "S256");
    let r = browser.authorize(&request).await;
    let (to, _) = browser.complete(r, "demo", &password).await;
    let params = redirect_params(&to, &redirect_uri);
    let page = html_page(browser.get(&to).await, 200).await;
    assert_no_script(&page);
    assert!(page.contains(params["code"].as_str()), "the code is shown");
    assert!(page.contains("demo-state"), "the state is shown");
    assert!(page.contains("(this server)"), "iss checked: {page}");
    let (fields, endpoint) = curl_fields(&page);
    assert_eq!(endpoint, app.url("/token"));
    let find = |name: &str| fields.iter().find(|(k, _)| k == name).unwrap().1.clone();
    assert_eq!(find("code"), params["code"]);
    assert_eq!(find("code_verifier"), pkce.verifier);
    assert_eq!(find("redirect_uri"), redirect_uri);
    // Run it: the page's command redeems the code.
    let r = app.http.post(endpoint).form(&fields).send().await.unwrap();
    let token = token_ok(r).await;
    assert!(token["id_token"].is_string(), "{token}");
}

#[tokio::test]
async fn dev_callback_shows_an_error_response_escaped_and_no_command() {
    let pkce = portcullis_server::app::admin::dev::DemoPkce::generate().unwrap();
    let (app, _) = TestApp::start_dev(pkce).await;
    let r = app
        .http
        .get(app.url(
            "/dev/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=s&iss=https%3A%2F%2Fevil.example",
        ))
        .send()
        .await
        .unwrap();
    let page = html_page(r, 200).await;
    assert_no_script(&page);
    assert!(page.contains("access_denied"));
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;"),
        "escaped: {page}"
    );
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("not this server"), "a foreign iss is flagged");
    assert!(!page.contains("<pre"), "no command without a code");
}

#[tokio::test]
async fn rejects_the_dev_callback_without_dev_as_an_unknown_path() {
    let app = flow::start().await;
    let r = app
        .http
        .get(app.url("/dev/callback?code=abc&state=demo-state"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
