//! Benchmark peer: the least a client credentials endpoint can do on axum — parse the
//! form, check a SHA-256 client secret in constant time, sign one ES256 JWT with a held
//! key pair. No client lookup, no scope or resource rules, no logging, no middleware.
//! `bench/client_credentials.sh` measures Portcullis against it in the same run.
//!
//! Run: `cargo run --release -p portcullis --example bare_client_credentials -- 127.0.0.1:18182`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use portcullis_core::keys::{SigningAlgorithm, SigningKeyPair};
use portcullis_core::secret::SecretDigest;
use std::sync::Arc;

struct Peer {
    digest: SecretDigest,
    key: SigningKeyPair,
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18182".into());
    let secret = std::env::var("PEER_CLIENT_SECRET")
        .unwrap_or_else(|_| "bench-secret-0123456789abcdefghijklmnop".into());
    let (key, _) = SigningKeyPair::generate(SigningAlgorithm::Es256).unwrap();
    let peer = Arc::new(Peer {
        digest: SecretDigest::of(&secret),
        key,
    });
    let app = Router::new().route("/token", post(token)).with_state(peer);
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

async fn token(State(peer): State<Arc<Peer>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut grant_type = None;
    let mut scope = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "grant_type" => grant_type = Some(v.into_owned()),
            "scope" => scope = Some(v.into_owned()),
            _ => {}
        }
    }
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some((client_id, secret)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if grant_type.as_deref() != Some("client_credentials") || !peer.digest.matches(secret) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:18182", "sub": client_id, "aud": "https://api.example.com",
        "exp": 1_900_000_000, "iat": 1_800_000_000, "jti": uuid_like(), "client_id": client_id,
        "scope": scope,
    });
    let token = peer.key.sign_jwt("at+jwt", &claims).unwrap();
    let body =
        serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 900});
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

fn uuid_like() -> String {
    let mut b = [0u8; 16];
    portcullis_core::secret::random_bytes(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
