//! Validations per second per core with a warm static key store, for ES256 and
//! RS256, each against a bare `jsonwebtoken::decode` of the same token with the
//! same checks as far as its `Validation` expresses them (alg, signature, `iss`,
//! `aud`, `exp` with 60 s leeway) and the same output type.
//!
//! `validate/DPoP-ES256` compares a DPoP-bound ES256 token with its proof (RFC 9449
//! §7.1: proof checks, `cnf.jkt`, the replay cache; a fresh proof per iteration,
//! made outside the timing) with the same token shape as a bearer token.
//!
//! Run: `cargo bench -p portcullis-resource -- --warm-up-time 1 --measurement-time 3`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_resource::dpop::DpopKey;
use portcullis_resource::{Claims, DpopRequest, KeyStore, Validator};
use serde_json::{Value, json};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://api.example.com";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A Portcullis-shaped access token (RFC 9068 claims) signed by `sign`.
fn token(alg: &str, kid: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    token_with(alg, kid, json!({}), sign)
}

/// [`token`] with `extra` claims merged in.
fn token_with(alg: &str, kid: &str, extra: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let header = json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "0192f1c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6",
        "client_id": "notes-web", "exp": 4_000_000_000_i64, "iat": 1_700_000_000_i64,
        "jti": "0192f1c4-5b6a-7c8d-9e0f-a1b2c3d4e5f7", "scope": "openid notes:read notes:write",
        "auth_time": 1_700_000_000_i64,
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let input = format!(
        "{}.{}",
        b64(serde_json::to_vec(&header).unwrap()),
        b64(serde_json::to_vec(&claims).unwrap())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// Polls a future that completes without waiting (a warm static key store never
/// awaits I/O), so the figures measure validation, not an executor.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("validation awaited I/O with a static key store"),
    }
}

fn bare_validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.leeway = 60;
    validation
}

fn compare(c: &mut Criterion, name: &str, alg: Algorithm, jwk: Value, token: &str) {
    let jwk: Jwk = serde_json::from_value(jwk).unwrap();
    let validator = Validator::builder(ISSUER, AUDIENCE)
        .keys(KeyStore::from_jwks(JwkSet {
            keys: vec![jwk.clone()],
        }))
        .build()
        .unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let validation = bare_validation(alg);
    // Both accept the token before anything is timed.
    ready(validator.validate(token)).unwrap();
    jsonwebtoken::decode::<Claims>(token, &key, &validation).unwrap();

    let mut group = c.benchmark_group(format!("validate/{name}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("portcullis_resource::Validator", |b| {
        b.iter(|| ready(validator.validate(black_box(token))).unwrap())
    });
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(token), &key, &validation).unwrap())
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rng = SystemRandom::new();

    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = ec.public_key().as_ref().to_vec();
    let ec_jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "es256-1",
        "x": b64(&point[1..33]), "y": b64(&point[33..]),
    });
    let es256 = token("ES256", "es256-1", |input| {
        ec.sign(&rng, input).unwrap().as_ref().to_vec()
    });
    compare(c, "ES256", Algorithm::ES256, ec_jwk.clone(), &es256);
    dpop(c, ec_jwk, &es256, |extra| {
        token_with("ES256", "es256-1", extra, |input| {
            ec.sign(&rng, input).unwrap().as_ref().to_vec()
        })
    });

    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = rsa.public_key();
    let rsa_jwk = json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rs256-1",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    });
    let rs256 = token("RS256", "rs256-1", |input| {
        let mut signature = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature)
            .unwrap();
        signature
    });
    compare(c, "RS256", Algorithm::RS256, rsa_jwk, &rs256);
}

/// A DPoP-bound ES256 token with a fresh ES256 proof per request, against the same
/// token shape as a bearer token.
fn dpop(c: &mut Criterion, jwk: Value, bearer: &str, bound_token: impl Fn(Value) -> String) {
    let jwk: Jwk = serde_json::from_value(jwk).unwrap();
    let validator = Validator::builder(ISSUER, AUDIENCE)
        .keys(KeyStore::from_jwks(JwkSet { keys: vec![jwk] }))
        .build()
        .unwrap();
    let key = DpopKey::generate().unwrap();
    let bound = bound_token(json!({ "cnf": { "jkt": key.jkt() } }));
    let htu = "https://api.example.com/notes";
    let fresh_proof = || key.proof("GET", htu, Some(&bound), None).unwrap();
    let validate_dpop = |proof: &str| {
        let request = DpopRequest {
            proof,
            htm: "GET",
            htu,
        };
        ready(validator.validate_dpop(black_box(&bound), &request)).unwrap()
    };
    ready(validator.validate(bearer)).unwrap();
    validate_dpop(&fresh_proof());

    let mut group = c.benchmark_group("validate/DPoP-ES256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("Bearer", |b| {
        b.iter(|| ready(validator.validate(black_box(bearer))).unwrap())
    });
    group.bench_function("DPoP", |b| {
        b.iter_batched(
            fresh_proof,
            |proof| validate_dpop(&proof),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(validate, benches);
criterion_main!(validate);
