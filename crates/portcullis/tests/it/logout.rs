//! OIDC RP-Initiated Logout 1.0 at `/logout`: the redirect to an exact registered
//! `post_logout_redirect_uri` with `state`, the signed-out page otherwise, the
//! confirmation asked when the request does not prove who sent it, and the session
//! ended on the server.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, AuthRequest, BOB, BOB_PASSWORD, Browser, NATIVE, NATIVE_LOGOUT,
    STATE, WEB_LOGOUT, encode, location, pkce, redirect_params,
};
use crate::html::{Form, assert_no_script, html_page};

const SESSION_COOKIE: &str = "portcullis_session";

fn native() -> AuthRequest {
    AuthRequest::native(&pkce().0)
}

#[tokio::test]
async fn logout_with_a_hint_and_a_registered_uri_redirects_with_state() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let id_token = browser.id_token(&app, ALICE, ALICE_PASSWORD).await;
    assert!(browser.is_signed_in().await);

    let query = encode(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", NATIVE_LOGOUT),
        ("state", STATE),
    ]);
    let r = browser.get(&format!("/logout?{query}")).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), NATIVE_LOGOUT);
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(!browser.has_cookie(SESSION_COOKIE), "the cookie is cleared");
    assert!(!browser.is_signed_in().await, "the session is over");
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    // Not only the cookie: a copy of the session id is worthless afterwards.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let id_token = browser.id_token(&app, ALICE, ALICE_PASSWORD).await;
    let session = browser.cookie(SESSION_COOKIE).unwrap();
    let copy = Browser::new(&app);
    copy.set_cookie(SESSION_COOKIE, &session);
    assert!(copy.is_signed_in().await);

    let query = encode(&[("id_token_hint", &id_token)]);
    let r = browser.get(&format!("/logout?{query}")).await;
    html_page(r, 200).await;
    let copy = Browser::new(&app);
    copy.set_cookie(SESSION_COOKIE, &session);
    assert!(!copy.is_signed_in().await);
}

#[tokio::test]
async fn logout_by_post_works_like_get() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let id_token = browser.id_token(&app, ALICE, ALICE_PASSWORD).await;
    let fields = vec![
        ("id_token_hint".to_owned(), id_token),
        (
            "post_logout_redirect_uri".to_owned(),
            NATIVE_LOGOUT.to_owned(),
        ),
        ("state".to_owned(), STATE.to_owned()),
    ];
    let r = browser.post_form("/logout", &fields).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), NATIVE_LOGOUT);
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(!browser.is_signed_in().await);
}

#[tokio::test]
async fn logout_to_an_unregistered_uri_shows_the_signed_out_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let id_token = browser.id_token(&app, ALICE, ALICE_PASSWORD).await;
    let bad = "https://evil.example/after-logout";
    for target in [bad, WEB_LOGOUT, "http://127.0.0.1/signed-out/"] {
        let query = encode(&[
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
        let page = html_page(r, 200).await;
        assert!(page.to_lowercase().contains("signed out"), "{page}");
        assert!(!browser.is_signed_in().await);
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
    let page = html_page(r, 200).await;
    assert_no_script(&page);
    assert!(
        browser.is_signed_in().await,
        "not signed out before confirming"
    );
    let form = Form::find(&page, "/logout").expect("a confirmation form posting to /logout");
    assert_eq!(form.method, "post");
    assert!(form.hidden("csrf_token").is_some_and(|t| !t.is_empty()));
    // Cancel: a plain link to the landing page, no form (nothing is posted).
    let cancel: Vec<_> = crate::html::elements(&page)
        .into_iter()
        .filter(|(tag, attrs)| {
            tag == "a" && attrs.get("class").is_some_and(|c| c.contains("button"))
        })
        .collect();
    assert_eq!(cancel.len(), 1, "one Cancel link");
    assert_eq!(cancel[0].1["href"], "/");
    assert!(page.contains(">Cancel</a>"));
    let home = browser.get("/").await;
    assert_eq!(home.status(), 404, "a non-browser Accept gets JSON at /");
    assert!(browser.is_signed_in().await, "Cancel signed nobody out");

    let r = browser.post_form("/logout", &form.hidden).await;
    assert!(r.headers().get("location").is_none());
    let page = html_page(r, 200).await;
    assert!(page.to_lowercase().contains("signed out"), "{page}");
    assert!(!browser.is_signed_in().await);
}

#[tokio::test]
async fn logout_confirmation_carries_the_registered_uri_and_state() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    let query = encode(&[
        ("client_id", NATIVE),
        ("post_logout_redirect_uri", NATIVE_LOGOUT),
        ("state", STATE),
    ]);
    let page = html_page(browser.get(&format!("/logout?{query}")).await, 200).await;
    let form = Form::find(&page, "/logout").unwrap();
    let r = browser.post_form("/logout", &form.hidden).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), NATIVE_LOGOUT);
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(!browser.is_signed_in().await);
}

#[tokio::test]
async fn logout_with_another_users_hint_asks_for_confirmation() {
    let app = flow::start().await;
    let bobs_browser = Browser::new(&app);
    let bobs_token = bobs_browser.id_token(&app, BOB, BOB_PASSWORD).await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;

    let query = encode(&[
        ("id_token_hint", &bobs_token),
        ("post_logout_redirect_uri", NATIVE_LOGOUT),
    ]);
    let r = browser.get(&format!("/logout?{query}")).await;
    assert!(r.headers().get("location").is_none());
    let page = html_page(r, 200).await;
    assert!(
        Form::find(&page, "/logout").is_some(),
        "a confirmation form"
    );
    assert!(browser.is_signed_in().await);
}

#[tokio::test]
async fn rejects_logout_confirmation_with_a_wrong_csrf_token() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    browser.code(&native(), ALICE, ALICE_PASSWORD).await;
    let fields = vec![("csrf_token".to_owned(), "forged-token".to_owned())];
    let r = browser.post_form("/logout", &fields).await;
    assert!(r.headers().get("location").is_none());
    assert!(
        browser.is_signed_in().await,
        "a forged form signs nobody out"
    );
}

#[tokio::test]
async fn logout_without_a_session_shows_the_signed_out_page() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let page = html_page(browser.get("/logout").await, 200).await;
    assert!(page.to_lowercase().contains("signed out"), "{page}");
}
