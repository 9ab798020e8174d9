//! Test doubles for the client's unit tests: an HTTP server on `127.0.0.1:0` that
//! answers like an authorization server (or a hostile one), scripted answers, and a
//! [`Session`] pointing at it without discovery.

use super::Session;
use super::client_auth::ClientAuth;
use super::http;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::MethodRouter;
use portcullis_core::keys::{SigningAlgorithm, SigningKeyPair};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server on an ephemeral loopback port; stopped when dropped.
pub struct MockServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Serves the router `make` builds from the server's base URL.
    pub async fn start(make: impl FnOnce(&str) -> Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = make(&base);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { base, task }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers given in order, the last one repeated; counts the requests.
#[derive(Clone, Default)]
pub struct Script {
    answers: Arc<Mutex<VecDeque<(StatusCode, Value)>>>,
    requests: Arc<Mutex<usize>>,
}

impl Script {
    /// A script of `answers` (at least one).
    pub fn new(answers: impl IntoIterator<Item = (u16, Value)>) -> Self {
        let answers = answers
            .into_iter()
            .map(|(status, body)| (StatusCode::from_u16(status).unwrap(), body))
            .collect::<VecDeque<_>>();
        assert!(!answers.is_empty());
        Self {
            answers: Arc::new(Mutex::new(answers)),
            requests: Arc::default(),
        }
    }

    /// A route (any method) answering from this script.
    pub fn route(&self) -> MethodRouter {
        axum::routing::any(answer).with_state(self.clone())
    }

    /// How many requests were answered.
    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }
}

async fn answer(State(script): State<Script>) -> (StatusCode, Json<Value>) {
    *script.requests.lock().unwrap() += 1;
    let mut answers = script.answers.lock().unwrap();
    let (status, body) = if answers.len() > 1 {
        answers.pop_front().unwrap()
    } else {
        answers.front().cloned().unwrap()
    };
    (status, Json(body))
}

/// A session for the issuer `issuer` with `metadata` (no discovery), as the public
/// client `cli`, or the confidential one (Basic) with `secret`.
pub fn session(issuer: &str, metadata: Value, secret: Option<&str>) -> Session {
    let mut metadata = metadata;
    metadata["issuer"] = json!(issuer);
    Session {
        http: http::client().unwrap(),
        issuer: issuer.to_owned(),
        metadata: serde_json::from_value(metadata).unwrap(),
        auth: ClientAuth::new(
            "cli".into(),
            secret.map(|s| SecretString::from(s.to_owned())),
            None,
        )
        .unwrap(),
        dpop: None,
    }
}

/// A fresh ES256 key and its JWK Set document.
pub fn es256_key() -> (SigningKeyPair, Value) {
    let (pair, _) = SigningKeyPair::generate(SigningAlgorithm::Es256).unwrap();
    let jwks = json!({ "keys": [serde_json::to_value(pair.public_jwk()).unwrap()] });
    (pair, jwks)
}

/// A JWS with the given header and claims and a meaningless signature (for tokens
/// that must be refused before any key is used).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}
