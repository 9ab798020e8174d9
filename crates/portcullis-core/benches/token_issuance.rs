//! In-process cost of issuing a client credentials token, and of the signature alone,
//! against `jsonwebtoken::encode` (which re-parses the private key on every call).
//!
//! Run: `cargo bench -p portcullis-core --bench token_issuance`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::{Client, ClientRegistration, RecordSource};
use portcullis_core::grants::token_endpoint::{TokenEndpoint, token_request};
use portcullis_core::keys::{KeyRing, MasterKey, SigningAlgorithm, SigningKeyPair, generate};
use portcullis_core::store::StoreError;
use portcullis_core::testing::MemoryStore;
use portcullis_proto::token::TokenRequest;
use secrecy::SecretString;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

const SECRET: &str = "bench-secret-0123456789abcdefghijklmnop";

struct Directory(HashMap<String, Arc<Client>>);

#[async_trait]
impl ClientDirectory for Directory {
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        Ok(self.0.get(client_id).cloned())
    }

    async fn find_resource(
        &self,
        _identifier: &str,
    ) -> Result<Option<Arc<portcullis_core::resource::Resource>>, StoreError> {
        Ok(None)
    }
}

fn client() -> Client {
    ClientRegistration {
        client_id: "svc".into(),
        client_secret: Some(SecretString::from(SECRET)),
        grant_types: Some(vec!["client_credentials".into()]),
        scopes: vec!["read:orders".into(), "write:orders".into()],
        audiences: vec!["https://api.example.com".into()],
        ..Default::default()
    }
    .validate(RecordSource::Config, 0)
    .unwrap()
}

fn ring() -> KeyRing {
    let (master, _) = MasterKey::generate().unwrap();
    let keys: Vec<_> = SigningAlgorithm::ALL
        .into_iter()
        .map(|a| generate(a, &master, 0).unwrap().0)
        .collect();
    KeyRing::build(&keys, &master, 0, None).unwrap()
}

fn issuance(c: &mut Criterion) {
    let ring = ring();
    let directory = Directory(HashMap::from([("svc".to_owned(), Arc::new(client()))]));
    // Client credentials never touches the store.
    let endpoint = TokenEndpoint {
        issuer: "http://127.0.0.1:8080".to_owned(),
        access_token_ttl: 900,
        id_token_ttl: 300,
        refresh_token_ttl: 86_400,
        refresh_token_reuse_grace: 0,
        clients: Arc::new(directory),
        store: Arc::new(MemoryStore::new()),
    };
    let basic = format!("Basic {}", base64_basic("svc", SECRET));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function(
        "client_credentials/token_request (auth + scope + ES256 sign)",
        |b| {
            b.iter(|| {
                let request = TokenRequest {
                    grant_type: Some("client_credentials".into()),
                    scope: Some("read:orders".into()),
                    ..Default::default()
                };
                let issued = rt
                    .block_on(token_request(
                        &endpoint,
                        &ring,
                        Some(&basic),
                        None,
                        request,
                        None,
                        1_800_000_000,
                    ))
                    .unwrap();
                black_box(issued);
            });
        },
    );
}

fn signing(c: &mut Criterion) {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: &'a str,
        exp: i64,
        iat: i64,
        scope: &'a str,
    }
    let claims = Claims {
        iss: "http://127.0.0.1:8080",
        sub: "svc",
        aud: "https://api.example.com",
        exp: 1_800_000_900,
        iat: 1_800_000_000,
        scope: "read:orders",
    };
    for (alg, jwt_alg) in [
        (SigningAlgorithm::Es256, jsonwebtoken::Algorithm::ES256),
        (SigningAlgorithm::Rs256, jsonwebtoken::Algorithm::RS256),
    ] {
        let (pair, pkcs8) = SigningKeyPair::generate(alg).unwrap();
        c.bench_function(
            &format!("sign/{} held key pair (ours)", alg.as_str()),
            |b| {
                b.iter(|| black_box(pair.sign_jwt("at+jwt", &claims).unwrap()));
            },
        );
        let key = match alg {
            SigningAlgorithm::Es256 => jsonwebtoken::EncodingKey::from_ec_der(&pkcs8),
            SigningAlgorithm::Rs256 => jsonwebtoken::EncodingKey::from_rsa_der(&pkcs8),
        };
        let mut header = jsonwebtoken::Header::new(jwt_alg);
        header.typ = Some("at+jwt".into());
        if jsonwebtoken::encode(&header, &claims, &key).is_ok() {
            c.bench_function(
                &format!(
                    "sign/{} jsonwebtoken::encode (re-parses the key)",
                    alg.as_str()
                ),
                |b| {
                    b.iter(|| black_box(jsonwebtoken::encode(&header, &claims, &key).unwrap()));
                },
            );
        }
    }
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

criterion_group!(benches, issuance, signing);
criterion_main!(benches);
