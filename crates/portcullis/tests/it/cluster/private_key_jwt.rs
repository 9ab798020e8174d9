//! `private_key_jwt` across two nodes (issue 15, RFC 7523 §3): an assertion's `jti` is
//! recorded in the shared database, so an assertion used on node A is refused on node
//! B. Its `aud` is the one issuer (the "load balancer" in front of both nodes).

use super::*;
use crate::private_key_jwt::{EC_PEM, KEYED_CLIENT, pem_der};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::Clock;
use portcullis_core::clock::SystemClock;

/// An assertion of `keyed` to the issuer, signed by its key `ec-1`, with `jti`.
fn assertion(c: &Cluster, jti: &str) -> String {
    let now = SystemClock.now();
    let claims = serde_json::json!({
        "iss": "keyed", "sub": "keyed", "aud": c.issuer,
        "iat": now, "exp": now + 60, "jti": jti,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let key = EncodingKey::from_ec_der(&pem_der(EC_PEM));
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// Client credentials with `assertion` on `node`.
async fn token(c: &Cluster, node: usize, assertion: &str) -> reqwest::Response {
    c.http
        .post(format!("{}/token", c.base(node)))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_jti_used_on_node_a_is_refused_on_node_b() {
    with_cluster(KEYED_CLIENT, |c| async move {
        let used = assertion(&c, "cluster-once");
        let r = token(&c, 0, &used).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = token(&c, 1, &used).await;
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "invalid_client",
                "error_description": "client authentication failed"
            })
        );
        // A new jti works on B.
        let r = token(&c, 1, &assertion(&c, "cluster-fresh")).await;
        assert_eq!(r.status(), 200);
    })
    .await;
}
