//! The tower layer and axum extractor on the wire (RFC 6750 §3, RFC 9728 §5.1), and
//! the RFC 9728 metadata document.

use crate::support::*;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use portcullis_resource::{
    AccessToken, KeyStore, KeyStoreOptions, PROTECTED_RESOURCE_METADATA_PATH,
    ProtectedResourceMetadata, RequireAccessToken, Validator,
};
use serde_json::json;
use tower::ServiceExt;

async fn notes(token: AccessToken) -> String {
    format!(
        "{} {}",
        token.subject().unwrap_or("-"),
        token.client_id().unwrap_or("-")
    )
}

fn app(layer: RequireAccessToken) -> Router {
    Router::new().route("/notes", get(notes)).route_layer(layer)
}

async fn call(app: Router, authorization: &[&str]) -> (StatusCode, Option<String>, String) {
    let mut request = Request::builder().uri("/notes");
    for value in authorization {
        request = request.header(AUTHORIZATION, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn layer_missing_token_is_401_bare_bearer() {
    let app = app(RequireAccessToken::new(validator()));
    assert_eq!(
        call(app.clone(), &[]).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer".into()),
            String::new()
        )
    );
    // Another scheme is no bearer authentication either (RFC 6750 §3.1).
    assert_eq!(
        call(app, &["Basic YWxpY2U6c2VjcmV0"]).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer".into()),
            String::new()
        )
    );
}

#[tokio::test]
async fn layer_invalid_token_is_401_invalid_token_without_details() {
    let app = app(RequireAccessToken::new(validator()));
    let expired = ES256.token(&claims_with(json!({ "exp": NOW - 3600 })));
    let wrong_aud = ES256.token(&claims_with(json!({ "aud": "https://other.example" })));
    let forged = TestKey::es256("es-1").token(&claims());
    for token in [expired, wrong_aud, forged, "not-a-jwt".to_owned()] {
        let (status, challenge, body) = call(app.clone(), &[&format!("Bearer {token}")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert_eq!(body, "", "no description of the reason");
    }
}

#[tokio::test]
async fn layer_missing_scope_is_403_with_scope() {
    let app = app(RequireAccessToken::new(validator()).scopes(["notes:read", "admin"]));
    let (status, challenge, body) =
        call(app, &[&format!("Bearer {}", ES256.token(&claims()))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="notes:read admin""#)
    );
    assert_eq!(body, "");
}

#[tokio::test]
async fn layer_valid_token_reaches_handler_with_claims() {
    let app = app(RequireAccessToken::new(validator()).scopes(["notes:read"]));
    let (status, challenge, body) =
        call(app, &[&format!("bearer {}", RS256.token(&claims()))]).await;
    assert_eq!(
        (status, challenge, body.as_str()),
        (StatusCode::OK, None, "alice app")
    );
}

#[tokio::test]
async fn layer_malformed_header_is_400_invalid_request() {
    let app = app(RequireAccessToken::new(validator()));
    let token = format!("Bearer {}", ES256.token(&claims()));
    for headers in [
        vec!["Bearer"],
        vec!["Bearer "],
        vec!["Bearer a\"b"],
        vec![token.as_str(), token.as_str()],
    ] {
        let (status, challenge, _) = call(app.clone(), &headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_request""#)
        );
    }
}

#[tokio::test]
async fn layer_adds_resource_metadata() {
    let url = "https://api.example/.well-known/oauth-protected-resource";
    let app = app(RequireAccessToken::new(validator())
        .scopes(["admin"])
        .resource_metadata(url));
    let (_, challenge, _) = call(app.clone(), &[]).await;
    assert_eq!(
        challenge.unwrap(),
        format!(r#"Bearer resource_metadata="{url}""#)
    );
    let (_, challenge, _) = call(app.clone(), &["Bearer x.y.z"]).await;
    assert_eq!(
        challenge.unwrap(),
        format!(r#"Bearer error="invalid_token", resource_metadata="{url}""#)
    );
    let (_, challenge, _) = call(app, &[&format!("Bearer {}", ES256.token(&claims()))]).await;
    assert_eq!(
        challenge.unwrap(),
        format!(r#"Bearer error="insufficient_scope", scope="admin", resource_metadata="{url}""#)
    );
}

#[tokio::test]
async fn layer_401_challenges_carry_the_configured_scopes() {
    let url = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
    let app = app(RequireAccessToken::new(validator())
        .scopes(["tools:call"])
        .challenge_scopes(["tools:read", "tools:call"])
        .resource_metadata(url));
    // RFC 6750 §3 + RFC 9728 §5.1: what to ask for, and where to learn more.
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/notes")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<&str> = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        [
            format!(r#"Bearer scope="tools:read tools:call", resource_metadata="{url}""#),
            format!(
                r#"DPoP algs="ES256 PS256 RS256 EdDSA", scope="tools:read tools:call", resource_metadata="{url}""#
            ),
        ]
    );
    let (status, challenge, _) = call(app.clone(), &["Bearer x.y.z"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.unwrap(),
        format!(
            r#"Bearer error="invalid_token", scope="tools:read tools:call", resource_metadata="{url}""#
        )
    );
    // 403: the scopes the token lacks, not the announced ones.
    let (status, challenge, _) = call(
        app.clone(),
        &[&format!("Bearer {}", ES256.token(&claims()))],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge.unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", scope="tools:call", resource_metadata="{url}""#
        )
    );
    // A malformed header is no request for scopes: invalid_request stays as it was.
    let (status, challenge, _) = call(app, &["Bearer "]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge.unwrap(),
        format!(r#"Bearer error="invalid_request", resource_metadata="{url}""#)
    );
}

#[tokio::test]
async fn layer_challenge_scopes_without_metadata() {
    let app = app(RequireAccessToken::new(validator()).challenge_scopes(["notes:read"]));
    let (status, challenge, _) = call(app, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer scope="notes:read""#));
}

#[tokio::test]
async fn layer_keys_unavailable_is_503_with_retry_after() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let v = Validator::builder(issuer.clone(), AUDIENCE)
        .keys(KeyStore::remote(issuer.clone(), KeyStoreOptions::default()))
        .build()
        .unwrap();
    let token = ES256.token(&claims_with(json!({ "iss": issuer })));
    let response = app(RequireAccessToken::new(v))
        .oneshot(
            Request::builder()
                .uri("/notes")
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn extractor_without_layer_is_500() {
    let app = Router::new().route("/notes", get(notes));
    let (status, _, body) = call(app, &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "layer missing")
    );
}

#[tokio::test]
async fn optional_extractor_sees_no_token_without_layer() {
    let app = Router::new().route(
        "/notes",
        get(|token: Option<AccessToken>| async move { format!("{}", token.is_some()) }),
    );
    let (status, _, body) = call(app, &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "false"));
}

#[tokio::test]
async fn metadata_document_served() {
    let metadata = ProtectedResourceMetadata::new(AUDIENCE, ISSUER)
        .scopes_supported(["notes:read", "notes:write"])
        .resource_name("Notes API");
    let app: Router = app(RequireAccessToken::new(validator())).merge(metadata.router());
    let response = app
        .oneshot(
            Request::builder()
                .uri(PROTECTED_RESOURCE_METADATA_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": AUDIENCE,
            "authorization_servers": [ISSUER],
            "scopes_supported": ["notes:read", "notes:write"],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
            "resource_name": "Notes API",
        })
    );
}
