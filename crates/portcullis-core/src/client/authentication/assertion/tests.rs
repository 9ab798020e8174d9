//! `private_key_jwt`: each check of [`UnverifiedAssertion`] with its reason.

use super::*;
use crate::client::authentication::{PresentedCredentials, PublicClients, authenticate};
use crate::client::{Client, ClientRegistration, ClientStore, RecordSource};
use crate::testing::MemoryStore;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://id.example";
const TOKEN_ENDPOINT: &str = "https://id.example/token";
const PAR_ENDPOINT: &str = "https://id.example/par";
const NOW: i64 = 1_800_000_000;
const SKEW: i64 = 5;

struct Directory {
    store: Arc<MemoryStore>,
    verifier: ClientAssertionVerifier,
}

#[async_trait]
impl ClientDirectory for Directory {
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        Ok(self.store.client_get(client_id).await?.map(Arc::new))
    }
    async fn find_resource(
        &self,
        identifier: &str,
    ) -> Result<Option<Arc<crate::resource::Resource>>, StoreError> {
        self.store.find_resource(identifier).await
    }
    fn client_assertions(&self) -> Option<&ClientAssertionVerifier> {
        Some(&self.verifier)
    }
}

struct Fixture {
    directory: Directory,
    key: EncodingKey,
}

async fn fixture(policy: AudiencePolicy) -> Fixture {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common = Default::default();
    jwk.common.key_id = Some("k1".into());
    let store = Arc::new(MemoryStore::new());
    for registration in [
        ClientRegistration {
            client_id: "svc".into(),
            jwks: Some(json!({ "keys": [jwk] })),
            grant_types: Some(vec!["client_credentials".into()]),
            audiences: vec!["https://api.example".into()],
            ..Default::default()
        },
        ClientRegistration {
            client_id: "secret-client".into(),
            client_secret: Some("0123456789abcdef0123456789abcdef".to_owned().into()),
            grant_types: Some(vec!["client_credentials".into()]),
            audiences: vec!["https://api.example".into()],
            ..Default::default()
        },
    ] {
        let client = registration.validate(RecordSource::Config, 0).unwrap();
        store.client_insert(&client).await.unwrap();
    }
    let verifier = ClientAssertionVerifier {
        issuer: ISSUER.into(),
        token_endpoint: TOKEN_ENDPOINT.into(),
        pushed_authorization_request_endpoint: PAR_ENDPOINT.into(),
        audience_policy: policy,
        max_lifetime: MAX_ASSERTION_LIFETIME_SECONDS,
        clock_skew: SKEW,
        replay: Arc::clone(&store) as Arc<dyn ClientAssertionStore>,
        remote_keys: None,
    };
    Fixture {
        directory: Directory { store, verifier },
        key,
    }
}

fn claims(jti: &str) -> Value {
    json!({
        "iss": "svc", "sub": "svc", "aud": ISSUER,
        "exp": NOW + 60, "iat": NOW, "jti": jti,
    })
}

impl Fixture {
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    async fn auth(&self, assertion: &str) -> Result<AuthenticatedClient, ClientAuthReason> {
        let presented = PresentedCredentials {
            client_assertion_type: Some(JWT_BEARER),
            client_assertion: Some(assertion),
            ..Default::default()
        };
        authenticate(&self.directory, presented, PublicClients::Refused, NOW)
            .await
            .map_err(|e| match e.failure {
                super::super::ClientAuthFailure::Rejected(reason) => reason,
                other => panic!("{other}"),
            })
    }

    async fn refused(&self, claims: &Value) -> ClientAssertionReason {
        match self.auth(&self.sign(claims)).await {
            Err(ClientAuthReason::Assertion(reason)) => reason,
            other => panic!("{other:?}"),
        }
    }
}

const JWT_BEARER: &str = portcullis_proto::grant::JWT_BEARER_CLIENT_ASSERTION_TYPE;

#[tokio::test]
async fn accepts_a_valid_assertion_once() {
    let f = fixture(AudiencePolicy::IssuerOrTokenEndpoint).await;
    let assertion = f.sign(&claims("one"));
    let client = f.auth(&assertion).await.unwrap();
    assert_eq!(client.client().client_id, "svc");
    assert_eq!(client.method(), TokenEndpointAuthMethod::PrivateKeyJwt);
    assert_eq!(
        f.auth(&assertion).await.unwrap_err(),
        ClientAuthReason::Assertion(ClientAssertionReason::Replayed)
    );
}

#[tokio::test]
async fn accepts_the_token_endpoint_as_audience_unless_the_policy_is_issuer_only() {
    let mut c = claims("aud");
    c["aud"] = json!(TOKEN_ENDPOINT);
    let f = fixture(AudiencePolicy::IssuerOrTokenEndpoint).await;
    assert!(f.auth(&f.sign(&c)).await.is_ok());
    let mut c = claims("aud-array");
    c["aud"] = json!(["https://other.example", TOKEN_ENDPOINT]);
    assert!(f.auth(&f.sign(&c)).await.is_ok());
    // RFC 9126 §2: the pushed authorization request endpoint URL too.
    let mut c = claims("aud-par");
    c["aud"] = json!(PAR_ENDPOINT);
    assert!(f.auth(&f.sign(&c)).await.is_ok());
    let f = fixture(AudiencePolicy::IssuerOnly).await;
    let mut c = claims("aud2");
    c["aud"] = json!(TOKEN_ENDPOINT);
    assert_eq!(f.refused(&c).await, ClientAssertionReason::WrongAudience);
    let mut c = claims("aud3");
    c["aud"] = json!([ISSUER]);
    assert_eq!(f.refused(&c).await, ClientAssertionReason::WrongAudience);
    assert!(f.auth(&f.sign(&claims("aud4"))).await.is_ok());
}

#[tokio::test]
async fn each_claim_check_has_its_reason() {
    let f = fixture(AudiencePolicy::IssuerOrTokenEndpoint).await;
    let cases: [(&str, Value, ClientAssertionReason); 7] = [
        ("iss", json!("other"), ClientAssertionReason::IssuerMismatch),
        (
            "aud",
            json!("https://elsewhere"),
            ClientAssertionReason::WrongAudience,
        ),
        ("exp", Value::Null, ClientAssertionReason::MissingExpiry),
        ("exp", json!(NOW - SKEW), ClientAssertionReason::Expired),
        (
            "exp",
            json!(NOW + MAX_ASSERTION_LIFETIME_SECONDS + SKEW + 1),
            ClientAssertionReason::LifetimeTooLong,
        ),
        (
            "nbf",
            json!(NOW + SKEW + 1),
            ClientAssertionReason::NotYetValid,
        ),
        (
            "iat",
            json!(NOW + SKEW + 1),
            ClientAssertionReason::IssuedInFuture,
        ),
    ];
    for (i, (claim, value, reason)) in cases.into_iter().enumerate() {
        let mut c = claims(&format!("case-{i}"));
        if value.is_null() {
            c.as_object_mut().unwrap().remove(claim);
        } else {
            c[claim] = value;
        }
        assert_eq!(f.refused(&c).await, reason, "{claim}");
    }
    let mut c = claims("");
    c.as_object_mut().unwrap().remove("jti");
    assert_eq!(f.refused(&c).await, ClientAssertionReason::MissingJti);
}

#[tokio::test]
async fn expiry_boundaries_step_over_exp_plus_skew() {
    let f = fixture(AudiencePolicy::IssuerOrTokenEndpoint).await;
    let mut c = claims("edge-1");
    c["exp"] = json!(NOW - SKEW + 1);
    assert!(f.auth(&f.sign(&c)).await.is_ok(), "exp + skew - 1 s");
    let mut c = claims("edge-2");
    c["exp"] = json!(NOW - SKEW);
    assert_eq!(f.refused(&c).await, ClientAssertionReason::Expired);
    let mut c = claims("edge-3");
    c["exp"] = json!(NOW + MAX_ASSERTION_LIFETIME_SECONDS + SKEW);
    assert!(f.auth(&f.sign(&c)).await.is_ok(), "the longest lifetime");
}

#[tokio::test]
async fn refuses_none_hmac_and_a_foreign_signature() {
    let f = fixture(AudiencePolicy::IssuerOrTokenEndpoint).await;
    let body = URL_SAFE_NO_PAD.encode(claims("none").to_string());
    let none = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    assert_eq!(
        f.auth(&none).await.unwrap_err(),
        ClientAuthReason::Assertion(ClientAssertionReason::AlgorithmNotAllowed)
    );
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("hs"),
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    assert_eq!(
        f.auth(&hs).await.unwrap_err(),
        ClientAuthReason::Assertion(ClientAssertionReason::AlgorithmNotAllowed)
    );
    let other = fixture(AudiencePolicy::IssuerOrTokenEndpoint).await;
    assert_eq!(
        f.auth(&other.sign(&claims("foreign"))).await.unwrap_err(),
        ClientAuthReason::Assertion(ClientAssertionReason::BadSignature)
    );
    assert_eq!(
        f.auth("not.a-jwt").await.unwrap_err(),
        ClientAuthReason::Assertion(ClientAssertionReason::Malformed)
    );
}

#[tokio::test]
async fn a_secret_client_cannot_use_an_assertion() {
    let f = fixture(AudiencePolicy::IssuerOrTokenEndpoint).await;
    let mut c = claims("x");
    c["iss"] = json!("secret-client");
    c["sub"] = json!("secret-client");
    assert!(matches!(
        f.auth(&f.sign(&c)).await.unwrap_err(),
        ClientAuthReason::MethodNotRegistered { .. }
    ));
}

#[test]
fn the_assertion_digest_separates_client_and_jti() {
    assert_eq!(assertion_digest("a", "b"), assertion_digest("a", "b"));
    assert_ne!(assertion_digest("a", "b"), assertion_digest("b", "a"));
    assert_ne!(
        assertion_digest("a\",\"b", ""),
        assertion_digest("a", "b\",\"")
    );
}
