//! The `orders_api` example tested as an API team tests its own routes, with the
//! test-token kit (`portcullis_resource::testing`): tokens minted in process, the
//! example's real router and layer on `127.0.0.1:0`, no authorization server.

use super::orders_api::{self, Orders};
use portcullis_resource::dpop::DpopKey;
use portcullis_resource::testing::TestIssuer;
use serde_json::{Value, json};
use std::sync::Arc;

/// The example's router with a validator of a [`TestIssuer`].
struct Api {
    issuer: TestIssuer,
    /// `http://127.0.0.1:<port>/orders`: the URL and the resource identifier.
    orders_url: String,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let orders_url = format!("http://{}/orders", listener.local_addr().unwrap());
        let issuer = TestIssuer::new().with_audience(&orders_url);
        let router = orders_api::router(
            issuer.validator(issuer.audience()),
            Arc::new(Orders::default()),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            issuer,
            orders_url,
            http: reqwest::Client::new(),
        }
    }

    /// A token valid for this API (its audience); tests change one thing on it.
    fn token(&self) -> portcullis_resource::testing::TokenBuilder<'_> {
        self.issuer.token()
    }

    async fn get(&self, authorization: &str, dpop: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .get(&self.orders_url)
            .header("authorization", authorization);
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        request.send().await.unwrap()
    }

    async fn post(&self, authorization: &str, dpop: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.orders_url)
            .header("authorization", authorization)
            .json(&json!({"item": "tea", "quantity": 2}));
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        request.send().await.unwrap()
    }
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn orders_api_kit_valid_token_is_200() {
    let api = Api::start().await;
    let token = api.token().scope("read:orders").subject("alice").sign();
    let r = api.get(&bearer(&token), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"orders": []}));
}

#[tokio::test]
async fn orders_api_kit_expired_token_is_401() {
    let api = Api::start().await;
    let token = api.token().scope("read:orders").expired().sign();
    let r = api.get(&bearer(&token), None).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).starts_with(r#"Bearer error="invalid_token""#));
}

#[tokio::test]
async fn orders_api_kit_not_yet_valid_token_is_401() {
    let api = Api::start().await;
    let token = api.token().scope("read:orders").not_yet_valid().sign();
    assert_eq!(api.get(&bearer(&token), None).await.status(), 401);
}

#[tokio::test]
async fn orders_api_kit_wrong_issuer_is_401() {
    let api = Api::start().await;
    let token = api
        .token()
        .scope("read:orders")
        .issuer("https://wrong.test")
        .sign();
    assert_eq!(api.get(&bearer(&token), None).await.status(), 401);
}

#[tokio::test]
async fn orders_api_kit_wrong_audience_is_401() {
    let api = Api::start().await;
    let token = api
        .token()
        .scope("read:orders")
        .audience("https://billing.example.com")
        .sign();
    let r = api.get(&bearer(&token), None).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).starts_with(r#"Bearer error="invalid_token""#));
}

#[tokio::test]
async fn orders_api_kit_missing_scope_is_403() {
    let api = Api::start().await;
    let token = api.token().scope("read:orders").sign();
    assert_eq!(api.get(&bearer(&token), None).await.status(), 200);
    let r = api.post(&bearer(&token), None).await;
    assert_eq!(r.status(), 403);
    assert!(
        challenge(&r).starts_with(r#"Bearer error="insufficient_scope", scope="write:orders""#),
        "{}",
        challenge(&r)
    );
}

#[tokio::test]
async fn orders_api_kit_dpop_bound_token_with_proof_is_200() {
    let api = Api::start().await;
    let key = DpopKey::generate().unwrap();
    let token = api
        .token()
        .scopes(["read:orders", "write:orders"])
        .dpop_bound(&key)
        .sign();
    let authorization = format!("DPoP {token}");
    let proof = key
        .proof("POST", &api.orders_url, Some(&token), None)
        .unwrap();
    let r = api.post(&authorization, Some(&proof)).await;
    assert_eq!(r.status(), 201);
    let proof = key
        .proof("GET", &api.orders_url, Some(&token), None)
        .unwrap();
    let r = api.get(&authorization, Some(&proof)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"orders": [{"id": 1, "item": "tea", "quantity": 2}]})
    );
    // The same proof again is a replay.
    let r = api.get(&authorization, Some(&proof)).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).starts_with(r#"DPoP error="invalid_dpop_proof""#));
}

#[tokio::test]
async fn orders_api_kit_dpop_token_as_bearer_is_401() {
    let api = Api::start().await;
    let key = DpopKey::generate().unwrap();
    let token = api.token().scope("read:orders").dpop_bound(&key).sign();
    let r = api.get(&bearer(&token), None).await;
    assert_eq!(r.status(), 401);
    assert!(
        challenge(&r).starts_with(r#"DPoP error="invalid_token", algs="ES256 PS256 RS256 EdDSA""#),
        "{}",
        challenge(&r)
    );
}
