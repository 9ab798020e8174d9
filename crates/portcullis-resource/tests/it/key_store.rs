//! The remote key store against issuers on 127.0.0.1: discovery, rotation, the
//! refetch cooldown, transport and size limits.

use crate::support::*;
use portcullis_resource::{KeyStore, KeyStoreOptions, ValidationError, Validator};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn remote_validator(issuer: &str, options: KeyStoreOptions) -> Validator {
    Validator::builder(issuer, AUDIENCE)
        .keys(KeyStore::remote(issuer, options))
        .clock(FixedClock::at(NOW))
        .build()
        .unwrap()
}

fn garbage_kid_token(kid: &str, iss: &str) -> String {
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid });
    ES256.sign(&header, &claims_with(json!({ "iss": iss })))
}

#[tokio::test]
async fn fetches_keys_lazily_through_rfc8414_discovery() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    assert_eq!(
        v.key_store().fetch_count(),
        0,
        "lazy: nothing fetched before first use"
    );
    let at = v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(at.subject(), Some("alice"));
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(v.key_store().fetch_count(), 1);
    assert_eq!(issuer.metadata_hits.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.jwks_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn falls_back_to_openid_configuration() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    {
        let mut state = issuer.state.lock().unwrap();
        state.oidc_metadata = state.oauth_metadata.take();
    }
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(issuer.metadata_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rejects_metadata_naming_another_issuer() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    issuer.state.lock().unwrap().oauth_metadata = Some(json!({
        "issuer": "https://evil.example", "jwks_uri": format!("{}/jwks", issuer.issuer),
    }));
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    let err = v
        .validate(&ES256.token(&issuer.claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::KeysUnavailable(ref m) if m.contains("RFC 8414 §3.3")),
        "{err:?}"
    );
    assert_eq!(v.key_store().fetch_count(), 0);
    assert_eq!(issuer.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn rejects_unknown_kid() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(v.key_store().fetch_count(), 1);

    let err = v
        .validate(&garbage_kid_token("garbage-1", &issuer.issuer))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ValidationError::UnknownKeyId { unverified_kid } if unverified_kid == "garbage-1"),
        "{err:?}"
    );
    assert_eq!(
        v.key_store().fetch_count(),
        2,
        "exactly one refetch for an unknown kid"
    );

    // A second garbage kid within the cooldown: refused without a fetch.
    let err = v
        .validate(&garbage_kid_token("garbage-2", &issuer.issuer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::UnknownKeyId { .. }),
        "{err:?}"
    );
    assert_eq!(
        v.key_store().fetch_count(),
        2,
        "no refetch within the cooldown"
    );
    assert_eq!(issuer.jwks_hits.load(Ordering::SeqCst), 2);
    assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refetches_again_after_the_cooldown() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let options = KeyStoreOptions {
        cooldown: Duration::from_millis(200),
        ..Default::default()
    };
    let v = remote_validator(&issuer.issuer, options);
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    let _ = v.validate(&garbage_kid_token("g1", &issuer.issuer)).await;
    let _ = v.validate(&garbage_kid_token("g2", &issuer.issuer)).await;
    assert_eq!(v.key_store().fetch_count(), 2);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let _ = v.validate(&garbage_kid_token("g3", &issuer.issuer)).await;
    assert_eq!(v.key_store().fetch_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_an_unknown_kid_share_one_fetch() {
    // A cold store and a slow JWKS: 16 validations of one kid the issuer does not
    // publish all queue behind the first fetch. They share its outcome (the fetch
    // generation changed while they waited) instead of refetching: without that,
    // the second would refetch at once (the first fetch of a cold store starts no
    // cooldown) and the store would fetch twice.
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    issuer.state.lock().unwrap().jwks_delay = Duration::from_millis(300);
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    let token = garbage_kid_token("not-published", &issuer.issuer);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let v = v.clone();
            let token = token.clone();
            tokio::spawn(async move { v.validate(&token).await })
        })
        .collect();
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert!(
            matches!(err, ValidationError::UnknownKeyId { .. }),
            "{err:?}"
        );
    }
    assert_eq!(v.key_store().fetch_count(), 1, "exactly one fetch");
    assert_eq!(issuer.jwks_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_a_new_kid_share_one_fetch() {
    // A published rotation: the first lookup refetches; the others, waiting on the
    // refresh lock, find the new key there.
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    let rotated = TestKey::es256("es-2");
    issuer.set_jwks(jwks_json(&[&ES256, &rotated]));
    issuer.state.lock().unwrap().jwks_delay = Duration::from_millis(300);
    let token = rotated.token(&issuer.claims());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let v = v.clone();
            let token = token.clone();
            tokio::spawn(async move { v.validate(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(v.key_store().fetch_count(), 2);
}

#[tokio::test]
async fn metadata_or_jwks_redirects_are_not_followed() {
    // Another origin serving its own key and metadata naming the real issuer.
    let attacker = TestIssuer::start(jwks_json(&[&EDDSA])).await;
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let (redirecting, redirects) = redirector(&attacker.issuer).await;

    // The JWKS URI answers 307 to the other origin.
    issuer.state.lock().unwrap().oauth_metadata = Some(json!({
        "issuer": issuer.issuer, "jwks_uri": format!("{redirecting}/jwks"),
    }));
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    let err = v
        .validate(&EDDSA.token(&issuer.claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ValidationError::KeysUnavailable(m) if m.contains("307")),
        "{err:?}"
    );
    assert_eq!(redirects.load(Ordering::SeqCst), 1);
    assert_eq!(attacker.jwks_hits.load(Ordering::SeqCst), 0);

    // The metadata URL itself redirects (the issuer is the redirecting server).
    let v = remote_validator(&redirecting, KeyStoreOptions::default());
    let err = v
        .validate(&EDDSA.token(&claims_with(json!({ "iss": redirecting }))))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ValidationError::KeysUnavailable(m) if m.contains("307")),
        "{err:?}"
    );
    assert_eq!(attacker.metadata_hits.load(Ordering::SeqCst), 0);
    assert_eq!(attacker.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn keys_from_another_origin_are_refused_even_with_a_following_client() {
    let attacker = TestIssuer::start(jwks_json(&[&EDDSA])).await;
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let (redirecting, _) = redirector(&attacker.issuer).await;
    issuer.state.lock().unwrap().oauth_metadata = Some(json!({
        "issuer": issuer.issuer, "jwks_uri": format!("{redirecting}/jwks"),
    }));
    let options = KeyStoreOptions {
        http: Some(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .unwrap(),
        ),
        ..Default::default()
    };
    let v = remote_validator(&issuer.issuer, options);
    let err = v
        .validate(&EDDSA.token(&issuer.claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ValidationError::KeysUnavailable(m) if m.contains("another origin")),
        "{err:?}"
    );
    assert!(v.key_store().key_ids().is_empty(), "no key taken");
}

#[tokio::test]
async fn rejects_kid_with_path_characters() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    // Not even a first fetch for such a kid.
    let err = v
        .validate(&garbage_kid_token("../../etc/passwd", &issuer.issuer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::UnknownKeyId { .. }),
        "{err:?}"
    );
    assert_eq!(v.key_store().fetch_count(), 0);

    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(v.key_store().fetch_count(), 1);
    for kid in ["../jwks", "a/b", "a\\b", "%2e%2e", "a b", &"k".repeat(257)] {
        let err = v
            .validate(&garbage_kid_token(kid, &issuer.issuer))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ValidationError::UnknownKeyId { .. }),
            "{kid}: {err:?}"
        );
    }
    assert_eq!(
        v.key_store().fetch_count(),
        1,
        "no refetch for path-like or long kids"
    );
}

#[tokio::test]
async fn picks_up_rotated_key_after_one_refetch() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(v.key_store().fetch_count(), 1);

    // The issuer publishes a new key and signs with it.
    let rotated = TestKey::rs256("rs-2");
    issuer.set_jwks(jwks_json(&[&ES256, &rotated]));
    let at = v.validate(&rotated.token(&issuer.claims())).await.unwrap();
    assert_eq!(at.subject(), Some("alice"));
    assert_eq!(v.key_store().fetch_count(), 2);
    v.validate(&rotated.token(&issuer.claims())).await.unwrap();
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(v.key_store().fetch_count(), 2, "both keys now cached");
}

#[tokio::test]
async fn refuses_http_jwks_uri_except_loopback() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    issuer.state.lock().unwrap().oauth_metadata =
        Some(json!({ "issuer": issuer.issuer, "jwks_uri": "http://as.example/jwks" }));
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    let err = v
        .validate(&ES256.token(&issuer.claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::KeysUnavailable(ref m) if m.contains("https")),
        "{err:?}"
    );
    assert_eq!(v.key_store().fetch_count(), 0);
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn keys_unavailable_when_the_issuer_is_down() {
    // A port that was free a moment ago: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let v = remote_validator(&issuer, KeyStoreOptions::default());
    let err = v
        .validate(&garbage_kid_token("es-1", &issuer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::KeysUnavailable(_)),
        "{err:?}"
    );
    // Within the failure backoff, no new attempt.
    let err = v
        .validate(&garbage_kid_token("es-1", &issuer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::KeysUnavailable(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn caps_jwks_size() {
    // A JWKS over the cap, announced with Content-Length.
    let issuer = TestIssuer::start(jwks_json(&[&ES256])).await;
    let mut big = jwks_json(&[&ES256]);
    big["padding"] = json!("x".repeat(300 * 1024));
    issuer.set_jwks(big);
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    let err = v
        .validate(&ES256.token(&issuer.claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::KeysUnavailable(ref m) if m.contains("262144")),
        "{err:?}"
    );

    // An endless chunked body (no Content-Length): reading stops past the cap.
    let raw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", raw.local_addr().unwrap());
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent_by_server = sent.clone();
    tokio::spawn(async move {
        let (mut socket, _) = raw.accept().await.unwrap();
        let mut request = [0u8; 2048];
        let _ = socket.read(&mut request).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024));
        // At most 4 MiB, then stop on our own (bounded test traffic).
        for _ in 0..256 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            sent_by_server.fetch_add(16 * 1024, Ordering::SeqCst);
        }
    });
    issuer.state.lock().unwrap().oauth_metadata =
        Some(json!({ "issuer": issuer.issuer, "jwks_uri": jwks_uri }));
    let options = KeyStoreOptions {
        max_bytes: 64 * 1024,
        cooldown: Duration::ZERO,
        ..Default::default()
    };
    let v = remote_validator(&issuer.issuer, options);
    let err = v
        .validate(&ES256.token(&issuer.claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::KeysUnavailable(ref m) if m.contains("65536")),
        "{err:?}"
    );
    assert!(
        sent.load(Ordering::SeqCst) < 4 * 1024 * 1024,
        "the client stopped reading"
    );
}

#[tokio::test]
async fn times_out_on_a_silent_issuer() {
    let raw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", raw.local_addr().unwrap());
    tokio::spawn(async move {
        // Accept and never answer.
        let mut held = Vec::new();
        for _ in 0..4 {
            if let Ok((socket, _)) = raw.accept().await {
                held.push(socket);
            }
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let options = KeyStoreOptions {
        timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let v = remote_validator(&issuer, options);
    let started = std::time::Instant::now();
    let err = v
        .validate(&garbage_kid_token("es-1", &issuer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::KeysUnavailable(_)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn skips_keys_that_cannot_verify_access_tokens() {
    let mut enc = ES256.jwk.clone();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    let mut ops = ES256.jwk.clone();
    ops["kid"] = json!("ops");
    ops["key_ops"] = json!(["encrypt"]);
    ops.as_object_mut().unwrap().remove("use");
    let mut no_kid = ES256.jwk.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let set = json!({ "keys": [ES256.jwk, enc, ops, no_kid, { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" }, { "kty": "weird", "kid": "w" }] });
    let issuer = TestIssuer::start(set).await;
    let v = remote_validator(&issuer.issuer, KeyStoreOptions::default());
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(v.key_store().key_ids(), vec!["es-1"]);
}

#[tokio::test]
async fn preload_fetches_at_start_up() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256, &EDDSA])).await;
    let store = KeyStore::remote(issuer.issuer.clone(), KeyStoreOptions::default());
    store.preload().await.unwrap();
    assert_eq!(store.fetch_count(), 1);
    assert_eq!(store.key_ids(), vec!["ed-1", "es-1"]);
    store.preload().await.unwrap();
    assert_eq!(store.fetch_count(), 1);
}

#[tokio::test]
async fn drops_a_withdrawn_key_after_the_refresh_interval() {
    let issuer = TestIssuer::start(jwks_json(&[&ES256, &EDDSA])).await;
    let options = KeyStoreOptions {
        refresh_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let v = remote_validator(&issuer.issuer, options);
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    assert_eq!(v.key_store().fetch_count(), 1);

    // The issuer withdraws ES256's key (say it leaked).
    issuer.set_jwks(jwks_json(&[&EDDSA]));
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Still served from the (stale) cache while the refresh runs in the background.
    v.validate(&ES256.token(&issuer.claims())).await.unwrap();
    for _ in 0..50 {
        if v.key_store().fetch_count() >= 2 && v.key_store().key_ids() == vec!["ed-1"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(v.key_store().key_ids(), vec!["ed-1"]);
    let err = v
        .validate(&ES256.token(&issuer.claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidationError::UnknownKeyId { .. }),
        "{err:?}"
    );
}
