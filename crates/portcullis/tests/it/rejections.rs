//! One named test per rejection of the token endpoint (RFC 6749 §5.2), pinning the
//! status, the headers that matter and the whole body.

use crate::support::{SVC_SECRET, TestApp, WEB_SECRET, basic_header, pinned};
use serde_json::json;

const CC: (&str, &str) = ("grant_type", "client_credentials");

#[tokio::test]
async fn rejects_unknown_client_with_basic_challenge() {
    let app = TestApp::start().await;
    let r = app.post_token(&[CC], Some(("nobody", SVC_SECRET))).await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="portcullis", charset="UTF-8""#
    );
}

#[tokio::test]
async fn rejects_wrong_secret_with_basic_challenge() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC],
            Some(("svc", "wrong-secret-0123456789abcdefghijklmn")),
        )
        .await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="portcullis", charset="UTF-8""#
    );
}

const CHALLENGE: &str = r#"Basic realm="portcullis", charset="UTF-8""#;

#[tokio::test]
async fn rejects_wrong_secret_in_body_with_a_challenge() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[
                CC,
                ("client_id", "post-svc"),
                ("client_secret", "nope-nope-nope-nope-nope-nope-nope"),
            ],
            None,
        )
        .await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(
        headers["www-authenticate"], CHALLENGE,
        "RFC 9110 section 15.5.2: every 401 has a challenge"
    );
}

#[tokio::test]
async fn rejects_unknown_client_in_body() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC, ("client_id", "nobody"), ("client_secret", SVC_SECRET)],
            None,
        )
        .await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(headers["www-authenticate"], CHALLENGE);
}

#[tokio::test]
async fn rejects_a_confidential_client_that_sends_no_secret() {
    // The downgrade to `none`: same answer as a wrong secret, so it does not reveal
    // that `svc` exists.
    let app = TestApp::start().await;
    let r = app.post_token(&[CC, ("client_id", "svc")], None).await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(headers["www-authenticate"], CHALLENGE);
}

#[tokio::test]
async fn rejects_a_public_client_that_presents_a_secret() {
    let app = TestApp::start().await;
    let registration = portcullis_core::client::ClientRegistration {
        client_id: "spa".into(),
        token_endpoint_auth_method: Some("none".into()),
        redirect_uris: vec!["https://app.example.com/callback".into()],
        scopes: vec!["openid".into()],
        ..Default::default()
    };
    let now = portcullis_core::Clock::now(app.clock.as_ref());
    portcullis_server::app::admin::create_client(
        app.app.state().store().as_ref(),
        registration,
        false,
        now,
        "test",
    )
    .await
    .unwrap();
    let r = app
        .post_token(
            &[
                CC,
                ("client_id", "spa"),
                ("client_secret", "made-up-secret-made-up-secret-made"),
            ],
            None,
        )
        .await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(headers["www-authenticate"], CHALLENGE);
}

#[tokio::test]
async fn rejects_a_body_client_id_that_differs_from_basic() {
    let app = TestApp::start().await;
    let r = app
        .post_token(&[CC, ("client_id", "post-svc")], Some(("svc", SVC_SECRET)))
        .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_request", "error_description": "client_id in the body does not match the client in the Authorization header"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_a_client_secret_without_client_id() {
    let app = TestApp::start().await;
    let r = app
        .post_token(&[CC, ("client_secret", SVC_SECRET)], None)
        .await;
    pinned(r, 400, json!({"error": "invalid_request", "error_description": "client_secret was sent without client_id"})).await;
}

#[tokio::test]
async fn rejects_two_authorization_headers() {
    let app = TestApp::start().await;
    let r = app
        .http
        .post(app.url("/token"))
        .header("authorization", basic_header("svc", SVC_SECRET))
        .header("authorization", basic_header("svc", "bogus"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    pinned(r, 400, json!({"error": "invalid_request", "error_description": "send one Authorization header, not several"})).await;
}

/// Issue 12: the form is checked before the `Authorization` headers are counted, as
/// before the extractor existed (a request with both faults gets the form's answer).
#[tokio::test]
async fn rejects_the_wrong_content_type_before_two_authorization_headers() {
    let app = TestApp::start().await;
    let r = app
        .http
        .post(app.url("/token"))
        .header("authorization", basic_header("svc", SVC_SECRET))
        .header("authorization", basic_header("svc", "bogus"))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    pinned(
        r,
        400,
        json!({"error": "invalid_request", "error_description": "the request body must be application/x-www-form-urlencoded (RFC 6749 section 3.2)"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_a_malformed_scope() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC, ("scope", "read:orders  write:orders")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_scope", "error_description": "scope `` is malformed (RFC 6749 section 3.3: visible ASCII, separated by single spaces)"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_with_descriptions_limited_to_the_rfc6749_character_set() {
    let app = TestApp::start().await;
    let long = format!("é\"<script>\\{}", "x".repeat(500));
    let r = app
        .post_token(&[("grant_type", &long)], Some(("svc", SVC_SECRET)))
        .await;
    let expected = format!(
        "grant_type `??<script>?{}...` is not supported; supported: authorization_code, client_credentials, refresh_token, urn:ietf:params:oauth:grant-type:device_code",
        "x".repeat(53)
    );
    let headers = pinned(
        r,
        400,
        json!({"error": "unsupported_grant_type", "error_description": expected}),
    )
    .await;
    drop(headers);
}

#[tokio::test]
async fn rejects_missing_client_authentication() {
    let app = TestApp::start().await;
    let r = app.post_token(&[CC], None).await;
    pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication is required: use HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_two_authentication_methods_at_once() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC, ("client_secret", SVC_SECRET)],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_request", "error_description": "use one client authentication method: an Authorization header, client_secret or client_assertion, not several"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_a_scope_the_client_may_not_request() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC, ("scope", "read:orders admin")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    pinned(r, 400, json!({"error": "invalid_scope", "error_description": "scope `admin` is not allowed for this client"})).await;
}

#[tokio::test]
async fn rejects_a_user_scope_in_client_credentials() {
    let app = TestApp::start().await;
    let r = app
        .post_token(&[CC, ("scope", "openid")], Some(("svc", SVC_SECRET)))
        .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_scope", "error_description": "scope `openid` describes a user, and the client credentials grant has none"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_a_resource_that_is_not_an_audience_of_the_client() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC, ("resource", "https://evil.example.com")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_target", "error_description": "resource `https://evil.example.com` is not an audience this client may request"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_a_malformed_resource() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC, ("resource", "https://api.example.com#frag")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_target", "error_description": "resource `https://api.example.com#frag` must be an absolute URI without a fragment (RFC 8707 section 2)"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_a_grant_the_client_is_not_registered_for() {
    let app = TestApp::start().await;
    let r = app.post_token(&[CC], Some(("web", WEB_SECRET))).await;
    pinned(
        r,
        400,
        json!({"error": "unauthorized_client", "error_description": "this client is not registered for the client_credentials grant"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_the_password_grant() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    pinned(
        r,
        400,
        json!({"error": "unsupported_grant_type", "error_description": "the password grant is not supported (OAuth 2.1 removed it); use authorization_code with PKCE, or the device grant"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_implicit_style_and_unknown_grant_types() {
    let app = TestApp::start().await;
    for grant in ["implicit", "token", "urn:example:made-up"] {
        let r = app
            .post_token(&[("grant_type", grant)], Some(("svc", SVC_SECRET)))
            .await;
        pinned(
            r,
            400,
            json!({"error": "unsupported_grant_type", "error_description": format!("grant_type `{grant}` is not supported; supported: authorization_code, client_credentials, refresh_token, urn:ietf:params:oauth:grant-type:device_code")}),
        )
        .await;
    }
}

#[tokio::test]
async fn rejects_a_missing_grant_type() {
    let app = TestApp::start().await;
    let r = app
        .post_token(&[("scope", "read:orders")], Some(("svc", SVC_SECRET)))
        .await;
    pinned(r, 400, json!({"error": "invalid_request", "error_description": "the grant_type parameter is missing"})).await;
}

#[tokio::test]
async fn rejects_a_repeated_parameter() {
    let app = TestApp::start().await;
    let r = app
        .post_token(
            &[CC, ("scope", "read:orders"), ("scope", "write:orders")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_request", "error_description": "parameter `scope` is repeated; it may appear only once (RFC 6749 section 3.1)"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_the_wrong_content_type() {
    let app = TestApp::start().await;
    let r = app
        .http
        .post(app.url("/token"))
        .header("authorization", basic_header("svc", SVC_SECRET))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    pinned(
        r,
        400,
        json!({"error": "invalid_request", "error_description": "the request body must be application/x-www-form-urlencoded (RFC 6749 section 3.2)"}),
    )
    .await;
}

#[tokio::test]
async fn rejects_get_with_405() {
    let app = TestApp::start().await;
    let r = app
        .http
        .get(app.url("/token?grant_type=client_credentials"))
        .send()
        .await
        .unwrap();
    let headers = pinned(
        r,
        405,
        json!({"error": "invalid_request", "error_description": "the token endpoint accepts only POST (RFC 6749 section 3.2)"}),
    )
    .await;
    assert_eq!(headers["allow"], "POST");
}

#[tokio::test]
async fn rejects_a_body_over_64_kib_with_413() {
    let app = TestApp::start().await;
    let padding = "x".repeat(64 * 1024);
    let r = app
        .post_token(&[CC, ("padding", &padding)], Some(("svc", SVC_SECRET)))
        .await;
    pinned(r, 413, json!({"error": "invalid_request", "error_description": "the request body is larger than 65536 bytes"})).await;
}

#[tokio::test]
async fn rejects_a_malformed_basic_header() {
    let app = TestApp::start().await;
    let r = app
        .http
        .post(app.url("/token"))
        .header("authorization", "Basic not-base64!")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "the Authorization header is not valid HTTP Basic credentials (RFC 6749 section 2.3.1)"}),
    )
    .await;
    assert!(headers.contains_key("www-authenticate"));
}
