//! RFC 7662 introspection fallback for opaque tokens.

use crate::support::*;
use base64::Engine;
use portcullis_resource::{IntrospectionClient, KeyStore, TokenSource, ValidationError, Validator};
use secrecy::SecretString;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const OPAQUE: &str = "2YotnFZFEjr1zCsicMWpAA";

fn introspecting(issuer: &TestIssuer, clock: Arc<FixedClock>, ttl: Duration) -> Validator {
    let client = IntrospectionClient::new(
        format!("{}/introspect", issuer.issuer),
        "api resource",
        SecretString::from("s3cr3t:with+chars"),
    )
    .cache_ttl(ttl);
    Validator::builder(issuer.issuer.clone(), AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256])))
        .introspection(client)
        .clock(clock)
        .build()
        .unwrap()
}

fn active(issuer: &TestIssuer, changes: serde_json::Value) -> serde_json::Value {
    let mut answer = json!({
        "active": true, "iss": issuer.issuer, "aud": AUDIENCE, "sub": "alice", "client_id": "app",
        "scope": "notes:read", "exp": NOW + 300, "iat": NOW, "token_type": "Bearer",
    });
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            answer.as_object_mut().unwrap().remove(k);
        } else {
            answer[k] = v.clone();
        }
    }
    answer
}

#[tokio::test]
async fn accepts_active_opaque_token_and_caches_it() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    issuer.state.lock().unwrap().introspection = active(&issuer, json!({}));
    let v = introspecting(&issuer, FixedClock::at(NOW), Duration::from_secs(30));
    let at = v.validate(OPAQUE).await.unwrap();
    assert_eq!(at.source, TokenSource::Introspection);
    assert_eq!(at.subject(), Some("alice"));
    assert!(at.has_scope("notes:read"));
    v.validate(OPAQUE).await.unwrap();
    assert_eq!(
        issuer.introspection_hits.load(Ordering::SeqCst),
        1,
        "second answer from the cache"
    );

    // RFC 7662 §2.1 request with client_secret_basic (RFC 6749 §2.3.1 encoding).
    let (auth, body) = issuer
        .state
        .lock()
        .unwrap()
        .last_introspection
        .clone()
        .unwrap();
    let expected =
        base64::engine::general_purpose::STANDARD.encode("api+resource:s3cr3t%3Awith%2Bchars");
    assert_eq!(auth, format!("Basic {expected}"));
    assert_eq!(body, format!("token={OPAQUE}&token_type_hint=access_token"));

    // The scope check still applies to a cached answer.
    let err = v
        .validate_with_scopes(OPAQUE, &["admin"])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::InsufficientScope { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn accepts_answer_without_iss() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    issuer.state.lock().unwrap().introspection = active(&issuer, json!({ "iss": null }));
    let v = introspecting(&issuer, FixedClock::at(NOW), Duration::from_secs(30));
    let at = v.validate(OPAQUE).await.unwrap();
    assert_eq!(at.claims.iss, issuer.issuer);
}

#[tokio::test]
async fn rejects_inactive_opaque_token_and_does_not_cache_it() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    let v = introspecting(&issuer, FixedClock::at(NOW), Duration::from_secs(30));
    for _ in 0..2 {
        let err = v.validate(OPAQUE).await.unwrap_err();
        assert!(matches!(err, ValidationError::Inactive), "{err:?}");
    }
    assert_eq!(issuer.introspection_hits.load(Ordering::SeqCst), 2);
    // Once active, it is accepted at once (no negative caching).
    issuer.state.lock().unwrap().introspection = active(&issuer, json!({}));
    v.validate(OPAQUE).await.unwrap();
}

#[tokio::test]
async fn introspection_answers_pass_the_same_checks() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    let v = introspecting(&issuer, FixedClock::at(NOW), Duration::ZERO);
    let cases = [
        (json!({ "iss": "https://evil.example" }), "WrongIssuer"),
        (json!({ "aud": "https://other.example" }), "WrongAudience"),
        (json!({ "aud": null }), "WrongAudience"),
        (json!({ "exp": NOW - 61 }), "Expired"),
        (json!({ "exp": null }), "MissingClaim"),
        (json!({ "nbf": NOW + 61 }), "NotYetValid"),
        (json!({ "token_type": "refresh_token" }), "NotAnAccessToken"),
        (json!({ "cnf": { "jkt": "x" } }), "SenderConstrained"),
    ];
    for (changes, expected) in cases {
        issuer.state.lock().unwrap().introspection = active(&issuer, changes.clone());
        let err = v.validate(OPAQUE).await.unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expected),
            "{changes}: {err:?}"
        );
    }
}

#[tokio::test]
async fn cache_is_bounded_by_the_token_exp() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    issuer.state.lock().unwrap().introspection = active(&issuer, json!({ "exp": NOW + 5 }));
    let clock = FixedClock::at(NOW);
    let v = introspecting(&issuer, clock.clone(), Duration::from_secs(30));
    v.validate(OPAQUE).await.unwrap();
    clock.set(NOW + 4);
    v.validate(OPAQUE).await.unwrap();
    assert_eq!(issuer.introspection_hits.load(Ordering::SeqCst), 1);
    clock.set(NOW + 5);
    v.validate(OPAQUE).await.unwrap(); // the AS is asked again (exp reached)
    assert_eq!(issuer.introspection_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn introspection_outage_is_unavailable_not_invalid() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/introspect", listener.local_addr().unwrap());
    drop(listener);
    let v = Validator::builder(ISSUER, AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256])))
        .introspection(IntrospectionClient::new(
            dead,
            "api",
            SecretString::from("s"),
        ))
        .build()
        .unwrap();
    let err = v.validate(OPAQUE).await.unwrap_err();
    assert!(
        matches!(err, ValidationError::IntrospectionUnavailable(_)),
        "{err:?}"
    );
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn refuses_http_introspection_endpoint() {
    let err = Validator::builder(ISSUER, AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256])))
        .introspection(IntrospectionClient::new(
            "http://as.example/introspect",
            "api",
            SecretString::from("s"),
        ))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            portcullis_resource::BuildError::InvalidIntrospectionEndpoint(_)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn jwts_are_never_sent_to_introspection() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    issuer.state.lock().unwrap().introspection = active(&issuer, json!({}));
    let v = introspecting(&issuer, FixedClock::at(NOW), Duration::from_secs(30));
    let forged = TestKey::es256("unknown").token(&issuer.claims());
    assert!(matches!(
        v.validate(&forged).await,
        Err(ValidationError::UnknownKeyId { .. })
    ));
    assert_eq!(issuer.introspection_hits.load(Ordering::SeqCst), 0);
}

/// A validator introspecting at `endpoint` for `issuer`'s tokens, through `http` when
/// given.
fn introspecting_at(
    issuer: &TestIssuer,
    endpoint: String,
    http: Option<reqwest::Client>,
) -> Validator {
    let mut client = IntrospectionClient::new(endpoint, "api", SecretString::from("s"));
    if let Some(http) = http {
        client = client.http_client(http);
    }
    Validator::builder(issuer.issuer.clone(), AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256])))
        .introspection(client)
        .clock(FixedClock::at(NOW))
        .build()
        .unwrap()
}

#[tokio::test]
async fn redirect_from_the_introspection_endpoint_is_refused() {
    // The endpoint answers 307 (which keeps method and body) to another port that
    // would say the token is active.
    let elsewhere = TestIssuer::start(jwks_json(&[])).await;
    elsewhere.state.lock().unwrap().introspection = active(&elsewhere, json!({}));
    let (redirecting, redirects) = redirector(&elsewhere.issuer).await;
    let v = introspecting_at(&elsewhere, format!("{redirecting}/introspect"), None);

    let err = v.validate(OPAQUE).await.unwrap_err();
    assert!(
        matches!(&err, ValidationError::IntrospectionUnavailable(m) if m.contains("307")),
        "{err:?}"
    );
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(redirects.load(Ordering::SeqCst), 1);
    assert_eq!(
        elsewhere.introspection_hits.load(Ordering::SeqCst),
        0,
        "the token was not sent on"
    );
}

#[tokio::test]
async fn answer_from_another_origin_is_refused_even_with_a_following_client() {
    // A caller's client that follows redirects (against the documented advice): the
    // token does reach the other origin, but its answer is not trusted.
    let elsewhere = TestIssuer::start(jwks_json(&[])).await;
    elsewhere.state.lock().unwrap().introspection = active(&elsewhere, json!({}));
    let (redirecting, _) = redirector(&elsewhere.issuer).await;
    let following = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let v = introspecting_at(
        &elsewhere,
        format!("{redirecting}/introspect"),
        Some(following),
    );

    let err = v.validate(OPAQUE).await.unwrap_err();
    assert!(
        matches!(&err, ValidationError::IntrospectionUnavailable(m) if m.contains("another origin")),
        "{err:?}"
    );
    assert_eq!(elsewhere.introspection_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_introspections_are_bounded() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    {
        let mut state = issuer.state.lock().unwrap();
        state.introspection = active(&issuer, json!({}));
        state.introspection_delay = Duration::from_millis(100);
    }
    let client = IntrospectionClient::new(
        format!("{}/introspect", issuer.issuer),
        "api",
        SecretString::from("s"),
    )
    .max_concurrent(4)
    .queue_timeout(Duration::from_secs(30));
    let v = Validator::builder(issuer.issuer.clone(), AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256])))
        .introspection(client)
        .clock(FixedClock::at(NOW))
        .build()
        .unwrap();

    // 20 distinct opaque tokens at once: at most 4 requests in flight, all answered.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let v = v.clone();
            tokio::spawn(async move { v.validate(&format!("opaque-token-{i}")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(issuer.introspection_hits.load(Ordering::SeqCst), 20);
    let most = issuer.introspection_max_in_flight.load(Ordering::SeqCst);
    assert!((1..=4).contains(&most), "{most} in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_too_long_for_an_introspection_slot_is_unavailable() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    {
        let mut state = issuer.state.lock().unwrap();
        state.introspection = active(&issuer, json!({}));
        state.introspection_delay = Duration::from_millis(600);
    }
    let client = IntrospectionClient::new(
        format!("{}/introspect", issuer.issuer),
        "api",
        SecretString::from("s"),
    )
    .max_concurrent(1)
    .queue_timeout(Duration::from_millis(100));
    let v = Validator::builder(issuer.issuer.clone(), AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256])))
        .introspection(client)
        .clock(FixedClock::at(NOW))
        .build()
        .unwrap();

    let first = {
        let v = v.clone();
        tokio::spawn(async move { v.validate("opaque-first").await })
    };
    // Until the first request holds the only slot.
    while issuer.introspection_hits.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = v.validate("opaque-second").await.unwrap_err();
    assert!(
        matches!(&err, ValidationError::IntrospectionUnavailable(m) if m.contains("in flight")),
        "{err:?}"
    );
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    first.await.unwrap().unwrap();
    assert_eq!(issuer.introspection_hits.load(Ordering::SeqCst), 1);
    // The slot is free again.
    v.validate("opaque-second").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_tokens_waiting_for_a_slot_share_the_answer() {
    let issuer = TestIssuer::start(jwks_json(&[])).await;
    {
        let mut state = issuer.state.lock().unwrap();
        state.introspection = active(&issuer, json!({}));
        state.introspection_delay = Duration::from_millis(200);
    }
    let client = IntrospectionClient::new(
        format!("{}/introspect", issuer.issuer),
        "api",
        SecretString::from("s"),
    )
    .max_concurrent(1)
    .queue_timeout(Duration::from_secs(30));
    let v = Validator::builder(issuer.issuer.clone(), AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256])))
        .introspection(client)
        .clock(FixedClock::at(NOW))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let v = v.clone();
            tokio::spawn(async move { v.validate(OPAQUE).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(issuer.introspection_hits.load(Ordering::SeqCst), 1);
}
