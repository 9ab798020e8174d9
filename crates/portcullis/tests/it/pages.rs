//! The pages people see (login, consent, logout, errors) and what they protect:
//! the form contract, CSRF and browser binding, throttling, cookies, sessions that
//! survive a restart, remembered and incremental consent, RP-initiated logout, and the
//! RFC 6750 errors of UserInfo.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, AuthRequest, BOB, BOB_PASSWORD, Browser, FIRST_PARTY,
    FIRST_PARTY_REDIRECT, Form, NATIVE, NATIVE_LOGOUT, NATIVE_REDIRECT, STATE, WEB_LOGOUT,
    WEB_REDIRECT, assert_page_headers, elements, location, pkce, redeem_native, redirect_params,
    set_cookies, token_ok, user_id, userinfo,
};
use crate::support::{SVC_SECRET, TestApp};
use serde_json::Value;

const SESSION_COOKIE: &str = "portcullis_session";
const BROWSER_COOKIE: &str = "portcullis_browser";

/// Opens `/authorize` for `native` and returns (the login page HTML, its headers, the
/// pending request id from the URL).
async fn login_page(browser: &Browser, request: &AuthRequest) -> (String, reqwest::header::HeaderMap, String) {
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

/// Asserts there is no script on the page: no `<script>`, no `on…=` handler, no
/// `javascript:` URL.
fn assert_no_script(html: &str) {
    for (tag, attrs) in elements(html) {
        assert_ne!(tag, "script", "no script element");
        for (name, value) in &attrs {
            assert!(!name.starts_with("on"), "<{tag} {name}=…> runs script");
            assert!(
                !value.trim_start().to_ascii_lowercase().starts_with("javascript:"),
                "<{tag} {name}={value}>"
            );
        }
    }
}

/// Asserts `response` is an HTML page with the security headers; returns its body.
async fn html(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_page_headers(response.headers());
    response.text().await.unwrap()
}

/// Whether this browser goes straight back to `native` with a code (signed in and
/// consented), rather than to the login page.
async fn is_signed_in(browser: &Browser) -> bool {
    let r = browser.authorize(&native()).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    if to.starts_with("/login?") {
        return false;
    }
    assert!(to.starts_with(NATIVE_REDIRECT), "{to}");
    true
}

/// Signs `username` in for `native` (consenting) and returns an id_token for them.
async fn id_token_for(app: &TestApp, browser: &Browser, username: &str, password: &str) -> String {
    let (challenge, verifier) = pkce();
    let (code, _) = browser
        .code(&AuthRequest::native(&challenge), username, password)
        .await;
    let token = token_ok(redeem_native(app, &code, &verifier).await).await;
    token["id_token"].as_str().unwrap().to_owned()
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
    assert!(form.inputs.iter().any(|(n, t)| n == "password" && t == "password"));
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
async fn wrong_password_shows_the_login_page_again_with_a_message() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (page, _, _) = login_page(&browser, &native()).await;
    let r = browser.login(&page, ALICE, "wrong-password").await;
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    let again = html(r, 200).await;
    assert!(again.contains("incorrect"), "{again}");
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
    let wrong = html(browser.login(&page, ALICE, "wrong-password").await, 200).await;
    let unknown = html(browser.login(&page, "mallory", "wrong-password").await, 200).await;
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
        ("csrf_token".to_owned(), "not-the-token-0123456789abcdef".to_owned()),
        ("username".to_owned(), ALICE.to_owned()),
        ("password".to_owned(), ALICE_PASSWORD.to_owned()),
    ];
    let r = browser.post_form("/login", &fields).await;
    assert!(r.headers().get("location").is_none());
    assert!(set_cookies(r.headers(), SESSION_COOKIE).is_empty());
    html(r, 400).await;
    assert!(!browser.has_cookie(SESSION_COOKIE));
    assert!(!is_signed_in(&browser).await);
    // Without any token, likewise.
    let form = Form::find(&page, "/login").unwrap();
    let fields = vec![
        ("request".to_owned(), form.hidden("request").unwrap().to_owned()),
        ("username".to_owned(), ALICE.to_owned()),
        ("password".to_owned(), ALICE_PASSWORD.to_owned()),
    ];
    let r = browser.post_form("/login", &fields).await;
    html(r, 400).await;
    assert!(!is_signed_in(&browser).await);
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
    html(r, 400).await;
    assert!(!attacker.has_cookie(SESSION_COOKIE));
    assert!(!is_signed_in(&attacker).await);
    assert!(!is_signed_in(&victim).await);
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
    let body = html(r, 429).await;
    assert!(body.contains("Too many failed sign-in attempts"), "{body}");
    assert!(!browser.has_cookie(SESSION_COOKIE));
}

#[tokio::test]
async fn throttles_after_ten_failed_attempts_from_one_address() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (mut page, _, _) = login_page(&browser, &native()).await;
    for attempt in 1..=10 {
        let r = browser
            .login(&page, &format!("nobody-{attempt}"), "wrong-password")
            .await;
        assert!(
            attempt == 10 || r.status() == 200,
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
    let body = html(r, 429).await;
    assert!(body.contains("Too many failed sign-in attempts"), "{body}");
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
    assert!(!attrs.iter().any(|a| a.starts_with("domain=")), "host-only: {set_cookie}");
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
async fn login_page_without_a_pending_request_is_an_error_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let body = html(browser.get("/login").await, 400).await;
    assert_no_script(&body);
    html(browser.get("/login?request=made-up-id").await, 400).await;
    html(browser.get("/consent?request=made-up-id").await, 400).await;
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

/// The scope tokens listed on a consent page (`<code>scope</code>` items).
fn listed_scopes(page: &str, candidates: &[&str]) -> Vec<String> {
    candidates
        .iter()
        .filter(|s| page.contains(&format!("<code>{s}</code>")))
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
    assert!(form.buttons.contains(&("decision".into(), "approve".into())));
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
        ("request".to_owned(), form.hidden("request").unwrap().to_owned()),
        ("csrf_token".to_owned(), "forged-0123456789abcdefghijklmnop".to_owned()),
        ("decision".to_owned(), "approve".to_owned()),
    ];
    let r = browser.post_form("/consent", &fields).await;
    assert!(r.headers().get("location").is_none());
    html(r, 400).await;
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
async fn consent_is_per_user() {
    let app = flow::start().await;
    let alice = Browser::new(&app);
    let page = consent_page(&alice, "openid").await;
    alice.approve(&page).await;

    let bob = Browser::new(&app);
    let r = bob.authorize(&AuthRequest::web(&pkce().0).set("scope", "openid")).await;
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

// --- logout ------------------------------------------------------------------------------

#[tokio::test]
async fn logout_with_a_hint_and_a_registered_uri_redirects_with_state() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let id_token = id_token_for(&app, &browser, ALICE, ALICE_PASSWORD).await;
    assert!(is_signed_in(&browser).await);

    let query = form(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", NATIVE_LOGOUT),
        ("state", STATE),
    ]);
    let r = browser.get(&format!("/logout?{query}")).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), NATIVE_LOGOUT);
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(!browser.has_cookie(SESSION_COOKIE), "the cookie is cleared");
    assert!(!is_signed_in(&browser).await, "the session is over");
}

#[tokio::test]
async fn logout_by_post_works_like_get() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let id_token = id_token_for(&app, &browser, ALICE, ALICE_PASSWORD).await;
    let fields = vec![
        ("id_token_hint".to_owned(), id_token),
        ("post_logout_redirect_uri".to_owned(), NATIVE_LOGOUT.to_owned()),
        ("state".to_owned(), STATE.to_owned()),
    ];
    let r = browser.post_form("/logout", &fields).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), NATIVE_LOGOUT);
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(!is_signed_in(&browser).await);
}

#[tokio::test]
async fn logout_to_an_unregistered_uri_shows_the_signed_out_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let id_token = id_token_for(&app, &browser, ALICE, ALICE_PASSWORD).await;
    let bad = "https://evil.example/after-logout";
    for target in [bad, WEB_LOGOUT, "http://127.0.0.1/signed-out/"] {
        let query = form(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", target),
            ("state", STATE),
        ]);
        let r = browser.get(&format!("/logout?{query}")).await;
        assert!(r.headers().get("location").is_none(), "{target}");
        for (name, value) in r.headers() {
            assert!(
                !value.to_str().unwrap_or_default().contains(target),
                "{name} carries {target}"
            );
        }
        let page = html(r, 200).await;
        assert!(page.to_lowercase().contains("signed out"), "{page}");
        assert!(!is_signed_in(&browser).await);
        // Sign in again for the next case.
        browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    }
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation_first() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;

    let r = browser.get("/logout").await;
    let page = html(r, 200).await;
    assert_no_script(&page);
    assert!(is_signed_in(&browser).await, "not signed out before confirming");
    let form = Form::find(&page, "/logout").expect("a confirmation form posting to /logout");
    assert_eq!(form.method, "post");
    assert!(form.hidden("csrf_token").is_some_and(|t| !t.is_empty()));

    let r = browser.post_form("/logout", &form.hidden).await;
    assert!(r.headers().get("location").is_none());
    let page = html(r, 200).await;
    assert!(page.to_lowercase().contains("signed out"), "{page}");
    assert!(!is_signed_in(&browser).await);
}

#[tokio::test]
async fn logout_confirmation_carries_the_registered_uri_and_state() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    let query = form(&[
        ("client_id", NATIVE),
        ("post_logout_redirect_uri", NATIVE_LOGOUT),
        ("state", STATE),
    ]);
    let page = html(browser.get(&format!("/logout?{query}")).await, 200).await;
    let form = Form::find(&page, "/logout").unwrap();
    let r = browser.post_form("/logout", &form.hidden).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), NATIVE_LOGOUT);
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(!is_signed_in(&browser).await);
}

#[tokio::test]
async fn logout_with_another_users_hint_asks_for_confirmation() {
    let app = flow::start().await;
    let bobs_browser = Browser::new(&app);
    let bobs_token = id_token_for(&app, &bobs_browser, BOB, BOB_PASSWORD).await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;

    let query = form(&[
        ("id_token_hint", &bobs_token),
        ("post_logout_redirect_uri", NATIVE_LOGOUT),
    ]);
    let r = browser.get(&format!("/logout?{query}")).await;
    assert!(r.headers().get("location").is_none());
    let page = html(r, 200).await;
    assert!(Form::find(&page, "/logout").is_some(), "a confirmation form");
    assert!(is_signed_in(&browser).await);
}

#[tokio::test]
async fn rejects_logout_confirmation_with_a_wrong_csrf_token() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    let fields = vec![("csrf_token".to_owned(), "forged-token".to_owned())];
    let r = browser.post_form("/logout", &fields).await;
    assert!(r.headers().get("location").is_none());
    assert!(is_signed_in(&browser).await, "a forged form signs nobody out");
}

#[tokio::test]
async fn logout_without_a_session_shows_the_signed_out_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let page = html(browser.get("/logout").await, 200).await;
    assert!(page.to_lowercase().contains("signed out"), "{page}");
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

// --- UserInfo errors (RFC 6750 §3) ------------------------------------------------------

#[tokio::test]
async fn rejects_userinfo_without_a_token_with_a_bare_challenge() {
    let app = flow::start().await;
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let r = app
            .http
            .request(method.clone(), app.url("/userinfo"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{method}");
    }
}

#[tokio::test]
async fn rejects_userinfo_with_an_invalid_token() {
    let app = flow::start().await;
    for token in ["not-a-jwt", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"] {
        let r = userinfo(&app, token).await;
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn rejects_userinfo_with_a_token_without_openid() {
    let app = flow::start().await;
    // A user's token granted only `read:orders`.
    let browser = Browser::new(&app);
    let (challenge, verifier) = pkce();
    let request = AuthRequest::web(&challenge).set("scope", "read:orders");
    let (code, _) = browser.code(&request, ALICE, ALICE_PASSWORD).await;
    let token = token_ok(flow::redeem_web(&app, &code, Some(&verifier)).await).await;
    assert!(token.get("id_token").is_none(), "no openid, no id_token");
    let r = userinfo(&app, token["access_token"].as_str().unwrap()).await;
    assert_insufficient_scope(r).await;

    // A client credentials token.
    let r = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    let token = token_ok(r).await;
    let r = userinfo(&app, token["access_token"].as_str().unwrap()).await;
    assert_insufficient_scope(r).await;
}

async fn assert_insufficient_scope(r: reqwest::Response) {
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn userinfo_answers_post_with_a_bearer_header() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (challenge, verifier) = pkce();
    let (code, _) = browser
        .code(&AuthRequest::native(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    let token = token_ok(redeem_native(&app, &code, &verifier).await).await;
    let r = app
        .http
        .post(app.url("/userinfo"))
        .header(
            "authorization",
            format!("Bearer {}", token["access_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], user_id(&app, ALICE).await);
    assert_eq!(info["email"], "alice@example.com");
}
