//! OIDC Core §5.3 UserInfo errors (RFC 6750 §3): no token, a bad or expired one, one
//! without `openid`; POST with a Bearer header, and the token in a form body (RFC 6750
//! §2.2), never with a header as well and never from the query string.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, AuthRequest, Browser, pkce, redeem_native, token_ok, user_id,
    userinfo,
};
use crate::support::SVC_SECRET;
use serde_json::Value;

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
    // Credentials of another scheme are no bearer token either.
    let r = app
        .http
        .get(app.url("/userinfo"))
        .header(
            "authorization",
            crate::support::basic_header("svc", SVC_SECRET),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn rejects_userinfo_with_an_expired_token() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    let (challenge, verifier) = pkce();
    let (code, _) = browser
        .code(&AuthRequest::native(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    let token = token_ok(redeem_native(&app, &code, &verifier).await).await;
    let access_token = token["access_token"].as_str().unwrap();
    let ttl = token["expires_in"].as_i64().unwrap();
    app.clock.advance(ttl - 1);
    assert_eq!(userinfo(&app, access_token).await.status(), 200);
    app.clock.advance(1);
    let r = userinfo(&app, access_token).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn rejects_userinfo_with_an_invalid_token() {
    let app = flow::start().await;
    for token in ["not-a-jwt", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"] {
        let r = userinfo(&app, token).await;
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
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
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
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

/// An access token for alice from `native` (openid profile email).
async fn alice_access_token(app: &crate::support::TestApp) -> String {
    let browser = Browser::new(app);
    let (challenge, verifier) = pkce();
    let (code, _) = browser
        .code(&AuthRequest::native(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    let token = token_ok(redeem_native(app, &code, &verifier).await).await;
    token["access_token"].as_str().unwrap().to_owned()
}

/// `POST /userinfo` with `body` as a form, and `authorization` if given.
async fn post_form(
    app: &crate::support::TestApp,
    body: &str,
    authorization: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/userinfo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn userinfo_accepts_the_token_in_a_form_body() {
    let app = flow::start().await;
    let access_token = alice_access_token(&app).await;
    // RFC 6750 §2.2; other parameters are ignored.
    let body = format!("access_token={access_token}&other=1");
    let r = post_form(&app, &body, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], user_id(&app, ALICE).await);
    // An invalid token in the body is refused as in the header.
    let r = post_form(&app, "access_token=not-a-jwt", None).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn rejects_userinfo_with_the_token_in_the_header_and_the_body() {
    let app = flow::start().await;
    let access_token = alice_access_token(&app).await;
    let body = format!("access_token={access_token}");
    let header = format!("Bearer {access_token}");
    let r = post_form(&app, &body, Some(&header)).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not both (RFC 6750 section 2)"),
        "{body}"
    );
}

#[tokio::test]
async fn rejects_userinfo_with_a_repeated_access_token_parameter() {
    let app = flow::start().await;
    let access_token = alice_access_token(&app).await;
    let body = format!("access_token={access_token}&access_token={access_token}");
    let r = post_form(&app, &body, None).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("`access_token` is repeated"),
        "{body}"
    );
}

#[tokio::test]
async fn userinfo_never_reads_the_token_from_the_query_string_or_a_get_body() {
    let app = flow::start().await;
    let access_token = alice_access_token(&app).await;
    let query = app.url(&format!("/userinfo?access_token={access_token}"));
    // RFC 6750 §2.3 (URI query parameter) is not supported, on GET or POST.
    let r = app.http.get(&query).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = app.http.post(&query).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // §2.2: GET has no body semantics.
    let r = app
        .http
        .get(app.url("/userinfo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={access_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // §2.2: only a form-encoded body.
    let r = app
        .http
        .post(app.url("/userinfo"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"access_token":"{access_token}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
}
