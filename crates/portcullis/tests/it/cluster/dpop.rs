//! DPoP across two nodes (issue 13, RFC 9449): a proof's `jti` is recorded in the shared
//! database, so a proof used on node A is refused on node B (§11.1); nonces are a MAC
//! under a key derived from the shared master key, so a nonce handed out by A is
//! accepted by B (§8). Proofs name the one issuer (the "load balancer" in front of
//! both nodes), not a node: `htu` is the external URL.

use super::*;
use portcullis_resource::dpop::DpopKey;

/// `[dpop]`, appended after the `[tokens]` lines of [`CONFIG`].
const NONCES: &str = "\n[dpop]\nrequire_nonce = true";

/// A proof by `key` for `POST {issuer}/token`, with `nonce`.
fn proof(c: &Cluster, key: &DpopKey, nonce: Option<&str>) -> String {
    key.proof("POST", &format!("{}/token", c.issuer), None, nonce)
        .unwrap()
}

/// Client credentials for `svc` on `node` with `proof`.
async fn svc_token(c: &Cluster, node: usize, proof: &str) -> reqwest::Response {
    c.http
        .post(format!("{}/token", c.base(node)))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            crate::support::basic_header(SVC, SVC_SECRET),
        )
        .header("DPoP", proof)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_used_on_node_a_is_refused_on_node_b_and_a_nonce_from_a_works_on_b() {
    with_cluster(NONCES, |c| async move {
        let key = DpopKey::generate().unwrap();
        // Node A asks for a nonce.
        let r = svc_token(&c, 0, &proof(&c, &key, None)).await;
        assert_eq!(r.status(), 400);
        let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "use_dpop_nonce", "{body}");

        // A proof with A's nonce, used on A.
        let used = proof(&c, &key, Some(&nonce));
        let r = svc_token(&c, 0, &used).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{body}");

        // The same proof on B: a replay, whichever node saw it first.
        let r = svc_token(&c, 1, &used).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "invalid_dpop_proof",
                "error_description": "the DPoP proof was already used (jti)"
            })
        );

        // A fresh proof with A's nonce works on B.
        let r = svc_token(&c, 1, &proof(&c, &key, Some(&nonce))).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{body}");
        let claims = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(claims["cnf"]["jkt"], key.jkt());
    })
    .await;
}
