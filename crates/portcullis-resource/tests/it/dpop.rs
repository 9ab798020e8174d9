//! RFC 9449 DPoP at the resource: the validator and the layer, one named rejection
//! test per check, with proofs built by hand (header and claims as JSON, signed with
//! aws-lc-rs) so each breaks exactly one rule.

use crate::support::*;
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use portcullis_resource::dpop::{
    DpopKey, DpopProofError, StatelessNonces, access_token_hash, jwk_thumbprint,
};
use portcullis_resource::{AccessToken, DpopRequest, RequireAccessToken, ValidationError};
use serde_json::{Value, json};
use std::sync::LazyLock;
use std::time::Duration;
use tower::ServiceExt;

const ORIGIN: &str = "https://api.example";
const HTU: &str = "https://api.example/notes";

/// The client's DPoP key (a P-256 key pair, like any test key).
static CLIENT: LazyLock<TestKey> = LazyLock::new(|| TestKey::es256("client"));
/// Another client's key.
static OTHER: LazyLock<TestKey> = LazyLock::new(|| TestKey::es256("other"));

fn jkt(key: &TestKey) -> String {
    jwk_thumbprint(&serde_json::from_value(public_jwk(key)).unwrap()).unwrap()
}

fn public_jwk(key: &TestKey) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": key.jwk["x"], "y": key.jwk["y"]})
}

/// An access token bound to `key` (`cnf.jkt`).
fn bound_token(key: &TestKey) -> String {
    ES256.token(&claims_with(json!({ "cnf": { "jkt": jkt(key) } })))
}

fn proof_header(key: &TestKey) -> Value {
    json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key) })
}

fn proof_claims(token: &str) -> Value {
    json!({
        "jti": format!("jti-{}", rand_suffix()),
        "htm": "GET",
        "htu": HTU,
        "iat": NOW,
        "ath": access_token_hash(token),
    })
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A proof by `key` for `token`, with `changes` merged into the claims (`null`
/// removes one).
fn proof_with(key: &TestKey, token: &str, changes: Value) -> String {
    let mut claims = proof_claims(token);
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    key.sign(&proof_header(key), &claims)
}

fn proof(key: &TestKey, token: &str) -> String {
    proof_with(key, token, json!({}))
}

async fn notes(token: AccessToken) -> String {
    format!(
        "{} {}",
        token.subject().unwrap_or("-"),
        token.confirmation_jkt().unwrap_or("-")
    )
}

fn layer() -> RequireAccessToken {
    RequireAccessToken::new(validator()).public_origin(ORIGIN)
}

fn app(layer: RequireAccessToken) -> Router {
    Router::new()
        .route("/notes", get(notes).post(notes))
        .route("/other", post(notes))
        .route_layer(layer)
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    nonce: Option<String>,
    body: String,
}

impl Answer {
    fn challenge(&self) -> &str {
        self.challenges.first().map_or("", String::as_str)
    }
}

async fn send(app: Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let header = |name| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let challenges = header(WWW_AUTHENTICATE.as_str());
    let nonce = header("dpop-nonce").into_iter().next();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    Answer {
        status,
        challenges,
        nonce,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// `GET /notes` with `Authorization: DPoP <token>` and these proofs.
async fn call(app: Router, token: &str, proofs: &[&str]) -> Answer {
    let authorization = format!("DPoP {token}");
    let mut headers = vec![(AUTHORIZATION.as_str(), authorization.as_str())];
    headers.extend(proofs.iter().map(|p| ("DPoP", *p)));
    send(app, "GET", "/notes", &headers).await
}

const ALGS: &str = r#"algs="ES256 PS256 RS256 EdDSA""#;

/// Asserts a 401 `invalid_dpop_proof` whose description is `error`'s.
fn assert_invalid_proof(answer: &Answer, error: DpopProofError) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge(),
        format!(r#"DPoP error="invalid_dpop_proof", error_description="{error}", {ALGS}"#)
    );
    assert_eq!(answer.body, "");
}

fn assert_invalid_token(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge(),
        format!(r#"DPoP error="invalid_token", {ALGS}"#)
    );
}

#[tokio::test]
async fn dpop_bound_token_with_valid_proof_reaches_handler() {
    let token = bound_token(&CLIENT);
    let answer = call(app(layer()), &token, &[&proof(&CLIENT, &token)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.challenges);
    assert_eq!(answer.body, format!("alice {}", jkt(&CLIENT)));
    assert_eq!(answer.nonce, None);
}

#[tokio::test]
async fn dpop_key_proofs_are_accepted() {
    let key = DpopKey::generate().unwrap();
    let token = ES256.token(&claims_with(json!({ "cnf": { "jkt": key.jkt() } })));
    let proof = key
        .proof_at(
            NOW as u64,
            "POST",
            "https://api.example/notes?x=1",
            Some(&token),
            None,
        )
        .unwrap();
    let authorization = format!("dpop {token}");
    let answer = send(
        app(layer()),
        "POST",
        "/notes?x=1",
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.challenges);
}

#[tokio::test]
async fn validator_returns_the_verified_proof() {
    let token = bound_token(&CLIENT);
    let proof = proof(&CLIENT, &token);
    let request = DpopRequest {
        proof: &proof,
        htm: "GET",
        htu: HTU,
    };
    let access = validator().validate_dpop(&token, &request).await.unwrap();
    let verified = access.dpop.as_ref().unwrap();
    assert_eq!(verified.jkt, jkt(&CLIENT));
    assert_eq!(verified.htu, HTU);
    assert_eq!(access.confirmation_jkt(), Some(verified.jkt.as_str()));
    // The same token as a bearer token: refused, it is bound.
    assert!(matches!(
        validator().validate(&token).await,
        Err(ValidationError::SenderConstrained)
    ));
}

#[tokio::test]
async fn rejects_replayed_jti() {
    let app = app(layer());
    let token = bound_token(&CLIENT);
    let proof = proof(&CLIENT, &token);
    assert_eq!(
        call(app.clone(), &token, &[&proof]).await.status,
        StatusCode::OK
    );
    let again = call(app.clone(), &token, &[&proof]).await;
    assert_invalid_proof(&again, DpopProofError::Replayed);
    // Another layer on the same validator shares the cache (per validator).
    let v = validator();
    let first = RequireAccessToken::new(v.clone()).public_origin(ORIGIN);
    let second = RequireAccessToken::new(v).public_origin(ORIGIN);
    let proof = proof_with(&CLIENT, &token, json!({}));
    assert_eq!(
        call(self::app(first), &token, &[&proof]).await.status,
        StatusCode::OK
    );
    assert_invalid_proof(
        &call(self::app(second), &token, &[&proof]).await,
        DpopProofError::Replayed,
    );
}

#[tokio::test]
async fn replay_cache_forgets_after_the_window() {
    let clock = FixedClock::at(NOW);
    let v = builder()
        .clock(clock.clone())
        .dpop_max_age(Duration::from_secs(1))
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let token = bound_token(&CLIENT);
    let proof = proof(&CLIENT, &token);
    let request = DpopRequest {
        proof: &proof,
        htm: "GET",
        htu: HTU,
    };
    v.validate_dpop(&token, &request).await.unwrap();
    assert!(matches!(
        v.validate_dpop(&token, &request).await,
        Err(ValidationError::InvalidDpopProof(DpopProofError::Replayed))
    ));
    // Once the proof is too old, it is refused for its age, not kept forever.
    clock.set(NOW + 2);
    assert!(matches!(
        v.validate_dpop(&token, &request).await,
        Err(ValidationError::InvalidDpopProof(DpopProofError::IatTooOld))
    ));
}

#[tokio::test]
async fn rejects_wrong_htm() {
    let token = bound_token(&CLIENT);
    let proof = proof_with(&CLIENT, &token, json!({ "htm": "POST" }));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&proof]).await,
        DpopProofError::HtmMismatch,
    );
}

#[tokio::test]
async fn rejects_wrong_htu() {
    let token = bound_token(&CLIENT);
    for htu in [
        "https://api.example/other",
        "http://api.example/notes",
        "https://evil.example/notes",
    ] {
        let proof = proof_with(&CLIENT, &token, json!({ "htu": htu }));
        assert_invalid_proof(
            &call(app(layer()), &token, &[&proof]).await,
            DpopProofError::HtuMismatch,
        );
    }
}

#[tokio::test]
async fn rejects_stale_iat() {
    let token = bound_token(&CLIENT);
    // Default max age 300 s: exactly 300 s old passes, 301 s does not.
    let ok = proof_with(&CLIENT, &token, json!({ "iat": NOW - 300 }));
    assert_eq!(
        call(app(layer()), &token, &[&ok]).await.status,
        StatusCode::OK
    );
    let stale = proof_with(&CLIENT, &token, json!({ "iat": NOW - 301 }));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&stale]).await,
        DpopProofError::IatTooOld,
    );
}

#[tokio::test]
async fn rejects_future_iat() {
    let token = bound_token(&CLIENT);
    // The validator's leeway (60 s) applies.
    let ok = proof_with(&CLIENT, &token, json!({ "iat": NOW + 60 }));
    assert_eq!(
        call(app(layer()), &token, &[&ok]).await.status,
        StatusCode::OK
    );
    let future = proof_with(&CLIENT, &token, json!({ "iat": NOW + 61 }));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&future]).await,
        DpopProofError::IatInFuture,
    );
}

#[tokio::test]
async fn rejects_alg_none() {
    let token = bound_token(&CLIENT);
    let mut header = proof_header(&CLIENT);
    header["alg"] = json!("none");
    let unsigned = format!(
        "{}.{}.",
        b64(header.to_string()),
        b64(proof_claims(&token).to_string())
    );
    assert_invalid_proof(
        &call(app(layer()), &token, &[&unsigned]).await,
        DpopProofError::AlgNotAllowed,
    );
}

#[tokio::test]
async fn rejects_hs256() {
    let token = bound_token(&CLIENT);
    let mut header = proof_header(&CLIENT);
    header["alg"] = json!("HS256");
    let input = format!(
        "{}.{}",
        b64(header.to_string()),
        b64(proof_claims(&token).to_string())
    );
    // Keyed with the public JWK text, as an attacker would.
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        public_jwk(&CLIENT).to_string().as_bytes(),
    );
    let proof = format!(
        "{input}.{}",
        b64(aws_lc_rs::hmac::sign(&key, input.as_bytes()))
    );
    assert_invalid_proof(
        &call(app(layer()), &token, &[&proof]).await,
        DpopProofError::AlgNotAllowed,
    );
}

#[tokio::test]
async fn rejects_private_key_in_jwk() {
    let token = bound_token(&CLIENT);
    let mut header = proof_header(&CLIENT);
    header["jwk"]["d"] = json!(b64([1_u8; 32]));
    let proof = CLIENT.sign(&header, &proof_claims(&token));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&proof]).await,
        DpopProofError::PrivateKeyInJwk,
    );
}

#[tokio::test]
async fn rejects_bad_proof_signature() {
    let token = bound_token(&CLIENT);
    // Header names CLIENT's key, OTHER signed.
    let proof = OTHER.sign(&proof_header(&CLIENT), &proof_claims(&token));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&proof]).await,
        DpopProofError::BadSignature,
    );
}

#[tokio::test]
async fn rejects_wrong_proof_typ() {
    let token = bound_token(&CLIENT);
    let mut header = proof_header(&CLIENT);
    header["typ"] = json!("JWT");
    let proof = CLIENT.sign(&header, &proof_claims(&token));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&proof]).await,
        DpopProofError::WrongTyp,
    );
}

#[tokio::test]
async fn rejects_missing_ath() {
    let token = bound_token(&CLIENT);
    let proof = proof_with(&CLIENT, &token, json!({ "ath": null }));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&proof]).await,
        DpopProofError::AthMissing,
    );
}

#[tokio::test]
async fn rejects_mismatched_ath() {
    let token = bound_token(&CLIENT);
    let other_token = bound_token(&OTHER);
    let proof = proof_with(
        &CLIENT,
        &token,
        json!({ "ath": access_token_hash(&other_token) }),
    );
    assert_invalid_proof(
        &call(app(layer()), &token, &[&proof]).await,
        DpopProofError::AthMismatch,
    );
}

#[tokio::test]
async fn rejects_jkt_not_matching_cnf_jkt() {
    // The token is bound to OTHER; the proof is CLIENT's (valid in itself).
    let token = bound_token(&OTHER);
    let answer = call(app(layer()), &token, &[&proof(&CLIENT, &token)]).await;
    assert_invalid_token(&answer);
    let request_proof = proof(&CLIENT, &token);
    let request = DpopRequest {
        proof: &request_proof,
        htm: "GET",
        htu: HTU,
    };
    assert!(matches!(
        validator().validate_dpop(&token, &request).await,
        Err(ValidationError::DpopKeyMismatch)
    ));
}

#[tokio::test]
async fn rejects_unbound_token_with_dpop_scheme() {
    let token = ES256.token(&claims());
    let answer = call(app(layer()), &token, &[&proof(&CLIENT, &token)]).await;
    assert_invalid_token(&answer);
    let request_proof = proof(&CLIENT, &token);
    let request = DpopRequest {
        proof: &request_proof,
        htm: "GET",
        htu: HTU,
    };
    assert!(matches!(
        validator().validate_dpop(&token, &request).await,
        Err(ValidationError::NotDpopBound)
    ));
}

#[tokio::test]
async fn rejects_bound_token_as_bearer() {
    let token = bound_token(&CLIENT);
    let authorization = format!("Bearer {token}");
    // Even with a valid proof alongside: the Bearer scheme ignores it (RFC 9449 §7.2).
    let proof = proof(&CLIENT, &token);
    let answer = send(
        app(layer()),
        "GET",
        "/notes",
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_invalid_token(&answer);
}

#[tokio::test]
async fn rejects_dpop_scheme_without_proof() {
    let token = bound_token(&CLIENT);
    assert_invalid_proof(
        &call(app(layer()), &token, &[]).await,
        DpopProofError::MissingProof,
    );
}

#[tokio::test]
async fn rejects_two_dpop_headers() {
    let token = bound_token(&CLIENT);
    let (a, b) = (proof(&CLIENT, &token), proof(&CLIENT, &token));
    assert_invalid_proof(
        &call(app(layer()), &token, &[&a, &b]).await,
        DpopProofError::NotSingleHeader,
    );
}

#[tokio::test]
async fn rejects_missing_scope_with_dpop_challenge() {
    let token = bound_token(&CLIENT);
    let answer = call(
        app(layer().scopes(["admin"])),
        &token,
        &[&proof(&CLIENT, &token)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge(),
        format!(r#"DPoP error="insufficient_scope", scope="admin", {ALGS}"#)
    );
}

#[tokio::test]
async fn rejects_empty_dpop_credentials_as_invalid_request() {
    let answer = send(app(layer()), "GET", "/notes", &[("authorization", "DPoP ")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.challenge(),
        format!(r#"DPoP error="invalid_request", {ALGS}"#)
    );
}

#[tokio::test]
async fn missing_token_offers_bearer_and_dpop() {
    let url = "https://api.example/.well-known/oauth-protected-resource";
    let answer = send(app(layer().resource_metadata(url)), "GET", "/notes", &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenges,
        [
            format!(r#"Bearer resource_metadata="{url}""#),
            format!(r#"DPoP {ALGS}, resource_metadata="{url}""#),
        ]
    );
}

#[tokio::test]
async fn rejects_missing_nonce_with_use_dpop_nonce() {
    let v = builder()
        .dpop_nonces(StatelessNonces::new(&[7; 32], Duration::from_secs(60)))
        .build()
        .unwrap();
    let app = app(RequireAccessToken::new(v).public_origin(ORIGIN));
    let token = bound_token(&CLIENT);
    let answer = call(app.clone(), &token, &[&proof(&CLIENT, &token)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge(),
        format!(
            r#"DPoP error="use_dpop_nonce", error_description="{}", {ALGS}"#,
            DpopProofError::NonceMissing
        )
    );
    let nonce = answer.nonce.expect("a DPoP-Nonce header");
    // The retry with the nonce passes, and the answer carries the current nonce.
    let retry = proof_with(&CLIENT, &token, json!({ "nonce": nonce }));
    let answer = call(app.clone(), &token, &[&retry]).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.challenges);
    assert_eq!(answer.nonce.as_deref(), Some(nonce.as_str()));
}

#[tokio::test]
async fn rejects_wrong_nonce_with_use_dpop_nonce() {
    let v = builder()
        .dpop_nonces(StatelessNonces::new(&[7; 32], Duration::from_secs(60)))
        .build()
        .unwrap();
    let foreign = StatelessNonces::new(&[8; 32], Duration::from_secs(60)).current(NOW as u64);
    let app = app(RequireAccessToken::new(v).public_origin(ORIGIN));
    let token = bound_token(&CLIENT);
    let proof = proof_with(&CLIENT, &token, json!({ "nonce": foreign }));
    let answer = call(app, &token, &[&proof]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer
            .challenge()
            .starts_with(r#"DPoP error="use_dpop_nonce""#)
    );
    assert!(answer.nonce.is_some());
}

#[tokio::test]
async fn htu_without_public_origin_comes_from_host() {
    let token = bound_token(&CLIENT);
    let app = app(RequireAccessToken::new(validator()));
    let authorization = format!("DPoP {token}");
    // A non-loopback Host is taken as https.
    let proof = proof(&CLIENT, &token);
    let answer = send(
        app.clone(),
        "GET",
        "/notes",
        &[
            ("authorization", &authorization),
            ("dpop", &proof),
            ("host", "api.example"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.challenges);
    // A loopback Host as http.
    let local = proof_with(
        &CLIENT,
        &token,
        json!({ "htu": "http://127.0.0.1:8080/notes" }),
    );
    let answer = send(
        app,
        "GET",
        "/notes",
        &[
            ("authorization", &authorization),
            ("dpop", &local),
            ("host", "127.0.0.1:8080"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.challenges);
}

#[tokio::test]
async fn public_origin_with_a_path_prefix_and_nested_routes() {
    let token = bound_token(&CLIENT);
    let app = Router::new().nest(
        "/v1",
        app(RequireAccessToken::new(validator()).public_origin("https://gateway.example/api/")),
    );
    let authorization = format!("DPoP {token}");
    let proof = proof_with(
        &CLIENT,
        &token,
        json!({ "htu": "https://gateway.example/api/v1/notes" }),
    );
    let answer = send(
        app.clone(),
        "GET",
        "/v1/notes",
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.challenges);
    // The internal URL is not what the client addressed.
    let internal = proof_with(
        &CLIENT,
        &token,
        json!({ "htu": "http://localhost/v1/notes" }),
    );
    let answer = send(
        app,
        "GET",
        "/v1/notes",
        &[
            ("authorization", &authorization),
            ("dpop", &internal),
            ("host", "localhost"),
        ],
    )
    .await;
    assert_invalid_proof(&answer, DpopProofError::HtuMismatch);
}
