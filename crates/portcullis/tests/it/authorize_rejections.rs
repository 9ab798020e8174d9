//! One named test per rejection of the authorization endpoint (RFC 6749 §4.1.2.1,
//! RFC 7636, RFC 8707, RFC 9207, OIDC Core §3.1.2). Two shapes:
//!
//! - the client or the redirect URI cannot be trusted: a 400 HTML page, no `Location`
//!   at all, and the bad URI in no header (never an open redirector);
//! - anything else: 303 to the verified redirect URI with `error`,
//!   `error_description`, `state` unchanged and `iss` (RFC 9207).

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, AuthRequest, Browser, LOOPBACK_WEB, LOOPBACK_WEB_REDIRECT,
    MACHINE, NATIVE, NATIVE_REDIRECT, SPA, SPA_REDIRECT, STATE, TWO_URIS, WEB, WEB_REDIRECT,
    location, pkce, redirect_params, token_ok,
};
use crate::html::{assert_page_headers, elements};
use crate::support::{TestApp, WEB_SECRET};
use std::collections::BTreeMap;

/// Asserts a 303 to `redirect_uri` carrying `error` (no code), with `state` unchanged
/// and `iss`; returns the parameters.
fn assert_redirected_error(
    app: &TestApp,
    response: &reqwest::Response,
    redirect_uri: &str,
    error: &str,
) -> BTreeMap<String, String> {
    assert_eq!(response.status(), 303, "a redirect to the client");
    let params = redirect_params(&location(response), redirect_uri);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(error),
        "{params:?}"
    );
    assert!(
        params
            .get("error_description")
            .is_some_and(|d| !d.is_empty()),
        "{params:?}"
    );
    assert_eq!(
        params.get("state").map(String::as_str),
        Some(STATE),
        "state unchanged"
    );
    assert_eq!(params.get("iss"), Some(&app.base), "RFC 9207 iss");
    assert!(!params.contains_key("code"));
    params
}

/// Asserts the 400 HTML error page: no `Location`, and `bad` (the untrusted redirect
/// URI, if any) in no header and in no link or form of the page.
async fn assert_error_page(response: reqwest::Response, bad: Option<&str>) -> String {
    assert_eq!(response.status(), 400);
    let headers = response.headers().clone();
    assert!(
        headers.get("location").is_none(),
        "never redirect: {:?}",
        headers.get("location")
    );
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_page_headers(&headers);
    if let Some(bad) = bad {
        for (name, value) in &headers {
            let value = value.to_str().unwrap_or_default();
            assert!(
                !value.contains(bad),
                "header {name} points at the bad URI: {value}"
            );
        }
    }
    let body = response.text().await.unwrap();
    assert!(body.to_ascii_lowercase().contains("<html"), "an HTML page");
    if let Some(bad) = bad {
        for (tag, attrs) in elements(&body) {
            for attr in ["href", "action", "src", "content"] {
                assert!(
                    !attrs.get(attr).is_some_and(|v| v.contains(bad)),
                    "<{tag} {attr}> points at the bad URI"
                );
            }
        }
    }
    body
}

/// A valid request for `web` (PKCE), to be spoilt by each test.
fn web() -> AuthRequest {
    AuthRequest::web(&pkce().0)
}

/// A valid request for `native` (PKCE, nonce).
fn native() -> AuthRequest {
    AuthRequest::native(&pkce().0)
}

// --- response_type (OAuth 2.1 §4.1.1: code only) -----------------------------------

#[tokio::test]
async fn rejects_response_type_token() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("response_type", "token"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "unsupported_response_type");
}

#[tokio::test]
async fn rejects_response_type_id_token() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("response_type", "id_token").set("nonce", "n1"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "unsupported_response_type");
}

#[tokio::test]
async fn rejects_hybrid_response_type_code_id_token() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(
            &web()
                .set("response_type", "code id_token")
                .set("nonce", "n1"),
        )
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "unsupported_response_type");
}

#[tokio::test]
async fn rejects_unsupported_response_type_sent_by_post() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize_post(&web().set("response_type", "token"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "unsupported_response_type");
}

#[tokio::test]
async fn rejects_missing_response_type() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().remove("response_type"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "invalid_request");
}

// --- redirect_uri: exact string match, else an error page ---------------------------

async fn refused_redirect_uri(client: &str, bad: &str) {
    let app = flow::start().await;
    let request = web().set("client_id", client).set("redirect_uri", bad);
    let r = Browser::new(&app).authorize(&request).await;
    assert_error_page(r, Some(bad)).await;
}

#[tokio::test]
async fn rejects_redirect_uri_with_extra_path() {
    refused_redirect_uri(WEB, "https://app.example.com/callback/extra").await;
}

#[tokio::test]
async fn rejects_redirect_uri_with_extra_query() {
    refused_redirect_uri(WEB, "https://app.example.com/callback?next=1").await;
    refused_redirect_uri(WEB, "https://app.example.com/callback?").await;
}

#[tokio::test]
async fn rejects_redirect_uri_with_trailing_slash() {
    refused_redirect_uri(WEB, "https://app.example.com/callback/").await;
}

#[tokio::test]
async fn rejects_redirect_uri_on_another_host() {
    refused_redirect_uri(WEB, "https://evil.example/callback").await;
}

#[tokio::test]
async fn rejects_redirect_uri_on_a_subdomain_lookalike_host() {
    refused_redirect_uri(WEB, "https://app.example.com.evil.example/callback").await;
}

#[tokio::test]
async fn rejects_redirect_uri_on_another_port_for_a_non_loopback_uri() {
    // Confidential and public alike: the port exception is for loopback IPs only.
    refused_redirect_uri(WEB, "https://app.example.com:8443/callback").await;
    refused_redirect_uri(SPA, "https://spa.example.com:8443/callback").await;
}

#[tokio::test]
async fn rejects_redirect_uri_with_user_info_before_another_host() {
    refused_redirect_uri(WEB, "https://app.example.com@evil.example/callback").await;
}

#[tokio::test]
async fn rejects_redirect_uri_with_the_registered_uri_in_its_query() {
    refused_redirect_uri(
        WEB,
        "https://evil.example/callback?https://app.example.com/callback",
    )
    .await;
}

#[tokio::test]
async fn rejects_redirect_uri_with_a_fragment() {
    refused_redirect_uri(WEB, "https://app.example.com/callback#fragment").await;
}

#[tokio::test]
async fn rejects_redirect_uri_differing_in_case() {
    refused_redirect_uri(WEB, "https://app.example.com/CALLBACK").await;
}

#[tokio::test]
async fn rejects_redirect_uri_with_percent_encoding() {
    refused_redirect_uri(WEB, "https://app.example.com/%63allback").await;
}

#[tokio::test]
async fn rejects_redirect_uri_of_another_client() {
    // Registered, but for `spa`: matching is per client.
    refused_redirect_uri(WEB, SPA_REDIRECT).await;
}

#[tokio::test]
async fn rejects_unknown_client() {
    let app = flow::start().await;
    let bad = "https://evil.example/callback";
    let r = Browser::new(&app)
        .authorize(
            &web()
                .set("client_id", "no-such-client")
                .set("redirect_uri", bad),
        )
        .await;
    assert_error_page(r, Some(bad)).await;
}

#[tokio::test]
async fn rejects_unknown_client_even_with_a_redirect_uri_registered_elsewhere() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("client_id", "no-such-client"))
        .await;
    assert_error_page(r, Some(WEB_REDIRECT)).await;
}

#[tokio::test]
async fn rejects_missing_client_id() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().remove("client_id"))
        .await;
    assert_error_page(r, Some(WEB_REDIRECT)).await;
}

#[tokio::test]
async fn rejects_client_without_redirect_uris() {
    let app = flow::start().await;
    let bad = "https://evil.example/callback";
    let r = Browser::new(&app)
        .authorize(&web().set("client_id", MACHINE).set("redirect_uri", bad))
        .await;
    assert_error_page(r, Some(bad)).await;
}

#[tokio::test]
async fn loopback_redirect_uri_port_may_vary_for_a_public_client() {
    // RFC 8252 §7.3: the OS picks the native app's port at run time.
    let app = flow::start().await;
    let with_port = "http://127.0.0.1:53124/callback";
    let (challenge, verifier) = pkce();
    let request = AuthRequest::native(&challenge).set("redirect_uri", with_port);
    let browser = Browser::new(&app);
    let r = browser.authorize(&request).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?"), "{}", location(&r));
    let (to, _) = browser.complete(r, ALICE, ALICE_PASSWORD).await;
    // The code goes to the port the app asked for.
    let params = redirect_params(&to, with_port);
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], app.base);
    // …and is bound to that exact URI.
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", with_port),
                ("code_verifier", &verifier),
                ("client_id", NATIVE),
            ],
            None,
        )
        .await;
    token_ok(r).await;
}

#[tokio::test]
async fn rejects_loopback_port_change_for_a_confidential_client() {
    refused_redirect_uri(LOOPBACK_WEB, "http://127.0.0.1:9400/callback").await;
    // Its own URI is fine.
    let app = flow::start().await;
    let request = web()
        .set("client_id", LOOPBACK_WEB)
        .set("redirect_uri", LOOPBACK_WEB_REDIRECT)
        .set("scope", "openid");
    let r = Browser::new(&app).authorize(&request).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?"));
}

#[tokio::test]
async fn rejects_loopback_redirect_uri_with_user_info_for_a_public_client() {
    let app = flow::start().await;
    let bad = "http://127.0.0.1:1234@evil.example/callback";
    let r = Browser::new(&app)
        .authorize(&native().set("redirect_uri", bad))
        .await;
    assert_error_page(r, Some("evil.example")).await;
}

#[tokio::test]
async fn rejects_loopback_redirect_uri_with_another_path_for_a_public_client() {
    let app = flow::start().await;
    let bad = "http://127.0.0.1:1234/elsewhere";
    let r = Browser::new(&app)
        .authorize(&native().set("redirect_uri", bad))
        .await;
    assert_error_page(r, Some(bad)).await;
}

#[tokio::test]
async fn missing_redirect_uri_uses_the_only_registered_one() {
    let app = flow::start().await;
    let (challenge, verifier) = pkce();
    let browser = Browser::new(&app);
    let r = browser
        .authorize(&AuthRequest::web(&challenge).remove("redirect_uri"))
        .await;
    let (to, _) = browser.complete(r, ALICE, ALICE_PASSWORD).await;
    let params = redirect_params(&to, WEB_REDIRECT);
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], app.base);
    // RFC 6749 §4.1.3: redirect_uri is required at the token endpoint only if it was
    // in the authorization request.
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("code_verifier", &verifier),
            ],
            Some((WEB, WEB_SECRET)),
        )
        .await;
    token_ok(r).await;
}

#[tokio::test]
async fn rejects_missing_redirect_uri_with_two_registered() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(
            &web()
                .set("client_id", TWO_URIS)
                .remove("redirect_uri")
                .set("scope", "openid"),
        )
        .await;
    let body = assert_error_page(r, None).await;
    assert!(!body.contains("https://two.example.com/a\""), "no link");
}

#[tokio::test]
async fn rejects_repeated_client_id_with_a_page() {
    // The client is ambiguous: nothing to trust the redirect URI with.
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().add("client_id", SPA))
        .await;
    assert_error_page(r, Some(WEB_REDIRECT)).await;
}

#[tokio::test]
async fn rejects_repeated_redirect_uri_with_a_page() {
    let app = flow::start().await;
    let bad = "https://evil.example/callback";
    let r = Browser::new(&app)
        .authorize(&web().add("redirect_uri", bad))
        .await;
    assert_error_page(r, Some(bad)).await;
}

// --- errors sent to the verified redirect URI --------------------------------------

#[tokio::test]
async fn rejects_repeated_parameter() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().add("scope", "openid"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "invalid_request");
}

#[tokio::test]
async fn rejects_repeated_code_challenge() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().add("code_challenge", &pkce().0))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "invalid_request");
}

#[tokio::test]
async fn rejects_plain_pkce() {
    let app = flow::start().await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let r = Browser::new(&app)
        .authorize(
            &native()
                .set("code_challenge", verifier)
                .set("code_challenge_method", "plain"),
        )
        .await;
    assert_redirected_error(&app, &r, NATIVE_REDIRECT, "invalid_request");
}

#[tokio::test]
async fn rejects_public_client_without_code_challenge() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(
            &native()
                .remove("code_challenge")
                .remove("code_challenge_method"),
        )
        .await;
    assert_redirected_error(&app, &r, NATIVE_REDIRECT, "invalid_request");
}

#[tokio::test]
async fn rejects_scope_not_allowed() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("scope", "openid admin"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "invalid_scope");
}

#[tokio::test]
async fn rejects_missing_scope() {
    // An empty request would get a code (and the user's `sub`) without consent.
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let r = browser.authorize(&web().remove("scope")).await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "invalid_scope");
    let r = browser.authorize(&web().set("scope", "")).await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "invalid_scope");
}

#[tokio::test]
async fn rejects_resource_not_allowed() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("resource", "https://evil.example/api"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "invalid_target");
}

#[tokio::test]
async fn rejects_request_object() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("request", "eyJhbGciOiJub25lIn0.e30."))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "request_not_supported");
}

#[tokio::test]
async fn rejects_request_uri() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("request_uri", "https://app.example.com/request.jwt"))
        .await;
    assert_redirected_error(&app, &r, WEB_REDIRECT, "request_uri_not_supported");
}

#[tokio::test]
async fn rejects_malformed_max_age() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    for bad in ["-1", "abc", "1.5", " 10", "99999999999999999999999"] {
        let r = browser.authorize(&native().set("max_age", bad)).await;
        assert_redirected_error(&app, &r, NATIVE_REDIRECT, "invalid_request");
    }
}

#[tokio::test]
async fn rejects_prompt_none_with_login() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&native().set("prompt", "none login"))
        .await;
    assert_redirected_error(&app, &r, NATIVE_REDIRECT, "invalid_request");
}

#[tokio::test]
async fn error_redirect_without_state_has_no_state() {
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("response_type", "token").remove("state"))
        .await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), WEB_REDIRECT);
    assert_eq!(params["error"], "unsupported_response_type");
    assert_eq!(params["iss"], app.base);
    assert!(!params.contains_key("state"));
}

#[tokio::test]
async fn error_description_uses_only_the_characters_rfc_6749_allows() {
    // RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E, even when echoing input.
    let app = flow::start().await;
    let r = Browser::new(&app)
        .authorize(&web().set("response_type", "tøken\"\\\u{7}<x>"))
        .await;
    let params = assert_redirected_error(&app, &r, WEB_REDIRECT, "unsupported_response_type");
    let description = &params["error_description"];
    assert!(
        description
            .chars()
            .all(|c| matches!(c, '\u{20}'..='\u{21}' | '\u{23}'..='\u{5B}' | '\u{5D}'..='\u{7E}')),
        "{description:?}"
    );
}
