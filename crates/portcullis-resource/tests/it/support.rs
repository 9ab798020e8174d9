//! Test keys, handcrafted tokens, a fixed clock, and tiny issuers on 127.0.0.1.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use axum::Router;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_resource::{Clock, JwkSet, KeyStore, Validator, ValidatorBuilder};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

pub const ISSUER: &str = "https://as.example";
pub const AUDIENCE: &str = "https://api.example";
pub const NOW: i64 = 1_800_000_000;

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at(now: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(now)))
    }
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

enum Signer {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A key pair generated for the test run, with its public JWK.
pub struct TestKey {
    pub kid: String,
    signer: Signer,
    pub jwk: Value,
}

impl TestKey {
    pub fn es256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..]),
        });
        Self {
            kid: kid.into(),
            signer: Signer::Es256(pair),
            jwk,
        }
    }

    pub fn rs256(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        });
        Self {
            kid: kid.into(),
            signer: Signer::Rs256(pair),
            jwk,
        }
    }

    pub fn eddsa(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().unwrap();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key().as_ref()),
        });
        Self {
            kid: kid.into(),
            signer: Signer::EdDsa(pair),
            jwk,
        }
    }

    pub fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Es256(_) => "ES256",
            Signer::Rs256(_) => "RS256",
            Signer::EdDsa(_) => "EdDSA",
        }
    }

    /// The public key bytes an attacker could find (the EC point / the JWK text).
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Es256(pair) => pair.public_key().as_ref().to_vec(),
            Signer::Rs256(pair) => pair.public_key().as_ref().to_vec(),
            Signer::EdDsa(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    /// The signature over `input` (raw bytes).
    pub fn signature(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Es256(pair) => pair.sign(&rng, input).unwrap().as_ref().to_vec(),
            Signer::Rs256(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input, &mut sig).unwrap();
                sig
            }
            Signer::EdDsa(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }

    /// A compact JWS with exactly this header and these claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(serde_json::to_vec(header).unwrap()),
            b64(serde_json::to_vec(claims).unwrap())
        );
        let sig = self.signature(input.as_bytes());
        format!("{input}.{}", b64(sig))
    }

    /// The RFC 9068 header `{alg, typ: at+jwt, kid}`.
    pub fn header(&self) -> Value {
        json!({ "alg": self.alg(), "typ": "at+jwt", "kid": self.kid })
    }

    /// A valid access token with `claims`.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

pub static ES256: LazyLock<TestKey> = LazyLock::new(|| TestKey::es256("es-1"));
pub static RS256: LazyLock<TestKey> = LazyLock::new(|| TestKey::rs256("rs-1"));
pub static EDDSA: LazyLock<TestKey> = LazyLock::new(|| TestKey::eddsa("ed-1"));

pub fn jwks_json(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    serde_json::from_value(jwks_json(keys)).unwrap()
}

/// The claims of a valid access token at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "client_id": "app",
        "exp": NOW + 300, "iat": NOW, "jti": "jti-1", "scope": "notes:read notes:write",
    })
}

/// `claims()` with `changes` merged in (`null` removes a claim).
pub fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// A validator for [`ISSUER`]/[`AUDIENCE`] on the static keys ES256, RS256, EdDSA
/// at [`NOW`].
pub fn builder() -> ValidatorBuilder {
    Validator::builder(ISSUER, AUDIENCE)
        .keys(KeyStore::from_jwks(jwks(&[&ES256, &RS256, &EDDSA])))
        .clock(FixedClock::at(NOW))
}

pub fn validator() -> Validator {
    builder().build().unwrap()
}

/// What a [`TestIssuer`] serves; tests change it while it runs.
pub struct IssuerState {
    /// RFC 8414 document; `None`: 404.
    pub oauth_metadata: Option<Value>,
    /// OIDC discovery document; `None`: 404.
    pub oidc_metadata: Option<Value>,
    pub jwks_body: Vec<u8>,
    pub introspection: Value,
    pub last_introspection: Option<(String, String)>,
    /// How long the JWKS endpoint waits before answering.
    pub jwks_delay: Duration,
    /// How long the introspection endpoint waits before answering.
    pub introspection_delay: Duration,
}

/// An issuer on 127.0.0.1: metadata, JWKS, introspection.
pub struct TestIssuer {
    pub issuer: String,
    pub state: Arc<Mutex<IssuerState>>,
    pub metadata_hits: Arc<AtomicUsize>,
    pub jwks_hits: Arc<AtomicUsize>,
    pub introspection_hits: Arc<AtomicUsize>,
    /// Most introspection requests seen in flight at once.
    pub introspection_max_in_flight: Arc<AtomicUsize>,
}

impl TestIssuer {
    pub async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let metadata = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "introspection_endpoint": format!("{issuer}/introspect"),
        });
        let state = Arc::new(Mutex::new(IssuerState {
            oauth_metadata: Some(metadata),
            oidc_metadata: None,
            jwks_body: serde_json::to_vec(&jwks).unwrap(),
            introspection: json!({ "active": false }),
            last_introspection: None,
            jwks_delay: Duration::ZERO,
            introspection_delay: Duration::ZERO,
        }));
        let metadata_hits = Arc::new(AtomicUsize::new(0));
        let jwks_hits = Arc::new(AtomicUsize::new(0));
        let introspection_hits = Arc::new(AtomicUsize::new(0));
        let introspection_max_in_flight = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = introspection_max_in_flight.clone();
        let (s1, s2, s3, s4) = (state.clone(), state.clone(), state.clone(), state.clone());
        let (m1, m2, j, i) = (
            metadata_hits.clone(),
            metadata_hits.clone(),
            jwks_hits.clone(),
            introspection_hits.clone(),
        );
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move {
                    m1.fetch_add(1, Ordering::SeqCst);
                    document(s1.lock().unwrap().oauth_metadata.clone())
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                get(move || async move {
                    m2.fetch_add(1, Ordering::SeqCst);
                    document(s2.lock().unwrap().oidc_metadata.clone())
                }),
            )
            .route(
                "/jwks",
                get(move || async move {
                    j.fetch_add(1, Ordering::SeqCst);
                    let delay = s3.lock().unwrap().jwks_delay;
                    tokio::time::sleep(delay).await;
                    let body = s3.lock().unwrap().jwks_body.clone();
                    ([(http::header::CONTENT_TYPE, "application/json")], body)
                }),
            )
            .route(
                "/introspect",
                post(move |headers: http::HeaderMap, body: String| async move {
                    i.fetch_add(1, Ordering::SeqCst);
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let delay = s4.lock().unwrap().introspection_delay;
                    tokio::time::sleep(delay).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    let auth = headers
                        .get(http::header::AUTHORIZATION)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let mut state = s4.lock().unwrap();
                    state.last_introspection = Some((auth, body));
                    axum::Json(state.introspection.clone())
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            issuer,
            state,
            metadata_hits,
            jwks_hits,
            introspection_hits,
            introspection_max_in_flight,
        }
    }

    pub fn set_jwks(&self, jwks: Value) {
        self.state.lock().unwrap().jwks_body = serde_json::to_vec(&jwks).unwrap();
    }

    pub fn claims(&self) -> Value {
        claims_with(json!({ "iss": self.issuer }))
    }
}

/// A server on 127.0.0.1 answering every request with `307 Temporary Redirect` to
/// `to` + the request's path (307 keeps the method and the body). Returns its base URL
/// and how many requests it got.
pub async fn redirector(to: &str) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let to = to.to_owned();
    let app = Router::new().fallback(move |uri: http::Uri| async move {
        counted.fetch_add(1, Ordering::SeqCst);
        (
            http::StatusCode::TEMPORARY_REDIRECT,
            [(http::header::LOCATION, format!("{to}{}", uri.path()))],
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

fn document(doc: Option<Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match doc {
        Some(doc) => axum::Json(doc).into_response(),
        None => http::StatusCode::NOT_FOUND.into_response(),
    }
}
