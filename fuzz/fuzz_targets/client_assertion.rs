//! `private_key_jwt` client assertions (RFC 7523 §2.2 and §3, RFC 7521 §4.2) as the
//! token, introspection, revocation, device authorization and PAR endpoints check them:
//! core's `authenticate` with `client_assertion_type` and `client_assertion` — the
//! unverified header and `sub` that select the client and key, the algorithm/key fit,
//! the signature, then `iss`/`sub`/`aud`/`exp`/`nbf`/`iat`/`jti` and the replay record.
//!
//! Selector byte 0: the rest is an assertion as presented. Otherwise the rest is a JSON
//! header object `\0` a JSON claims object; the header gets `alg: ES256` and the
//! client's `kid` unless it names them, and the assertion is signed with the client's
//! key, so the checks behind the signature are reached. Bit 1 of the selector picks the
//! issuer-only audience policy (the FAPI 2.0 hook). An accepted assertion is asserted
//! to name the registered client, to be within its lifetime bound, and to be refused
//! when presented a second time (single use).
#![no_main]

use async_trait::async_trait;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use portcullis_core::client::authentication::assertion::{
    AudiencePolicy, ClientAssertionStore, ClientAssertionVerifier, MAX_ASSERTION_LIFETIME_SECONDS,
};
use portcullis_core::client::authentication::{
    ClientDirectory, PresentedCredentials, PublicClients, authenticate,
};
use portcullis_core::client::{Client, ClientRegistration, RecordSource};
use portcullis_core::resource::Resource;
use portcullis_core::store::StoreError;
use portcullis_core::testing::MemoryStore;
use portcullis_fuzz::{block_on, split_nul};
use portcullis_proto::grant::JWT_BEARER_CLIENT_ASSERTION_TYPE;
use portcullis_resource::dpop::DpopKey;
use serde_json::{Map, Value, json};
use std::sync::{Arc, OnceLock};

const NOW: i64 = 1_800_000_000;
const CLIENT_ID: &str = "svc";
const KID: &str = "k1";
const ISSUER: &str = "https://id.example";

/// The `svc` client (ES256 key `k1`), and one verifier per audience policy sharing
/// the replay record.
struct Fixture {
    client: Arc<Client>,
    key: EncodingKey,
    verifiers: [ClientAssertionVerifier; 2],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // A P-256 key pair (the resource crate's DPoP key generator, aws-lc-rs).
        let pair = DpopKey::generate().unwrap_or_else(|e| panic!("an ES256 key: {e}"));
        let key = EncodingKey::from_ec_der(pair.to_pkcs8_der());
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)
            .unwrap_or_else(|e| panic!("its JWK: {e}"));
        jwk.common = Default::default();
        jwk.common.key_id = Some(KID.into());
        let client = ClientRegistration {
            client_id: CLIENT_ID.into(),
            jwks: Some(json!({ "keys": [jwk] })),
            grant_types: Some(vec!["client_credentials".into()]),
            audiences: vec!["https://api.example".into()],
            ..Default::default()
        }
        .validate(RecordSource::Config, 0)
        .unwrap_or_else(|e| panic!("fixture client: {e}"));
        let replay: Arc<dyn ClientAssertionStore> = Arc::new(MemoryStore::new());
        let verifier = |audience_policy| ClientAssertionVerifier {
            issuer: ISSUER.into(),
            token_endpoint: format!("{ISSUER}/token"),
            pushed_authorization_request_endpoint: format!("{ISSUER}/par"),
            audience_policy,
            max_lifetime: MAX_ASSERTION_LIFETIME_SECONDS,
            clock_skew: 5,
            replay: Arc::clone(&replay),
            // Inline keys only: no fetches from a fuzz target.
            remote_keys: None,
        };
        Fixture {
            client: Arc::new(client),
            key,
            verifiers: [
                verifier(AudiencePolicy::IssuerOrTokenEndpoint),
                verifier(AudiencePolicy::IssuerOnly),
            ],
        }
    })
}

/// The fixture's one client, checked under one audience policy.
struct Directory(&'static Fixture, usize);

#[async_trait]
impl ClientDirectory for Directory {
    async fn find_client(&self, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        Ok((id == CLIENT_ID).then(|| Arc::clone(&self.0.client)))
    }

    async fn find_resource(&self, _identifier: &str) -> Result<Option<Arc<Resource>>, StoreError> {
        Ok(None)
    }

    fn client_assertions(&self) -> Option<&ClientAssertionVerifier> {
        self.0.verifiers.get(self.1)
    }
}

fn check(assertion: &str, selector: u8) {
    let directory = Directory(fixture(), usize::from(selector & 2 != 0));
    let presented = PresentedCredentials {
        client_assertion_type: Some(JWT_BEARER_CLIENT_ASSERTION_TYPE),
        client_assertion: Some(assertion),
        ..Default::default()
    };
    let run = || {
        block_on(authenticate(
            &directory,
            presented,
            PublicClients::Refused,
            NOW,
        ))
    };
    if let Ok(client) = run() {
        assert_eq!(client.client().client_id, CLIENT_ID);
        // Single use (RFC 7523 §3 item 7): the same assertion again is a replay.
        assert!(run().is_err(), "an assertion was accepted twice");
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    if *selector == 0 {
        if let Ok(assertion) = std::str::from_utf8(rest) {
            check(assertion, 0);
        }
        return;
    }
    let (header, claims) = split_nul(rest);
    let mut header: Map<String, Value> = serde_json::from_slice(header).unwrap_or_default();
    header.entry("alg").or_insert_with(|| "ES256".into());
    header.entry("kid").or_insert_with(|| KID.into());
    let header = Value::Object(header).to_string();
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims));
    if let Ok(signature) =
        jsonwebtoken::crypto::sign(input.as_bytes(), &fixture().key, Algorithm::ES256)
    {
        check(&format!("{input}.{signature}"), *selector);
    }
});
