//! `private_key_jwt` clients whose keys are at a `jwks_uri` (RFC 7591 §2, issue 15 item
//! 1): the key set is fetched through the guarded outbound door from a local https
//! server (the test CA of `cimd::server`), cached, fetched once more for an unknown
//! `kid` (key rotation) at most once per cooldown, and any fetch a guard refuses (too
//! large, a redirect, too slow) makes the assertion fail with 401 `invalid_client`.

use crate::cimd::server::{Canned, DocServer, TestCa};
use crate::flow;
use crate::support::{API, TestApp, pinned};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::clock::Clock;
use portcullis_core::secret::generate_secret;
use portcullis_proto::grant::JWT_BEARER_CLIENT_ASSERTION_TYPE as JWT_BEARER;
use portcullis_resource::dpop::DpopKey;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;

const REMOTE: &str = "remote";
const FAILED: &str = "client authentication failed";

/// A server whose `[outbound]` trusts the test CA and may reach loopback, with the
/// client `remote` registered by `jwks_uri` on the key server.
struct Setup {
    app: TestApp,
    keys: DocServer,
    _ca: TestCa,
}

impl Setup {
    async fn start(answer: Canned) -> Self {
        let ca = TestCa::new();
        let keys = DocServer::start(&ca, answer).await;
        let toml = format!(
            "{}\n[outbound]\nallow_networks = [\"127.0.0.0/8\"]\nca_certificates = [{:?}]\ntimeout = 1\n{}",
            flow::CONFIG,
            ca.ca_file().display().to_string(),
            remote_client(&keys.url("/jwks.json"))
        );
        let app = TestApp::start_in(TempDir::new().unwrap(), &toml).await;
        Self { app, keys, _ca: ca }
    }

    /// A client credentials request of `remote` with an assertion signed by `key` as
    /// `kid`.
    async fn token(&self, key: &DpopKey, kid: &str) -> reqwest::Response {
        let now = self.app.clock.now();
        let jti = generate_secret().unwrap().expose_secret().to_owned();
        let claims = json!({
            "iss": REMOTE, "sub": REMOTE, "aud": self.app.base,
            "iat": now, "exp": now + 60, "jti": jti,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        let assertion = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(key.to_pkcs8_der()),
        )
        .unwrap();
        self.app
            .http
            .post(self.app.url("/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap()
    }
}

fn remote_client(jwks_uri: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "remote"
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "{jwks_uri}"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["{API}"]
"#
    )
}

/// The JWK Set (JSON) of the public halves of `keys`, each under its `kid`.
fn key_set(keys: &[(&DpopKey, &str)]) -> Canned {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(key, kid)| {
            let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
            jwk["kid"] = json!(kid);
            jwk
        })
        .collect();
    Canned::json(&json!({ "keys": keys }).to_string())
}

async fn assert_ok(r: reqwest::Response) {
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
}

/// The one generic refusal: 401 `invalid_client`.
async fn assert_refused(r: reqwest::Response) {
    pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": FAILED}),
    )
    .await;
}

#[tokio::test]
async fn a_key_at_the_jwks_uri_is_fetched_once_and_verifies_the_assertion() {
    let k1 = DpopKey::generate().unwrap();
    let setup = Setup::start(key_set(&[(&k1, "k1")])).await;
    assert_ok(setup.token(&k1, "k1").await).await;
    assert_ok(setup.token(&k1, "k1").await).await;
    assert_eq!(
        setup.keys.hits(),
        1,
        "the second assertion used the cached set"
    );
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_jwks_uri_once_more_after_a_rotation() {
    let (k1, k2) = (DpopKey::generate().unwrap(), DpopKey::generate().unwrap());
    let setup = Setup::start(key_set(&[(&k1, "k1")])).await;
    assert_ok(setup.token(&k1, "k1").await).await;
    // The client rotates: the URL now serves k2 only.
    setup.keys.answer("/", key_set(&[(&k2, "k2")]));
    assert_ok(setup.token(&k2, "k2").await).await;
    assert_eq!(setup.keys.hits(), 2);
}

#[tokio::test]
async fn rejects_a_second_unknown_kid_within_the_cooldown_without_a_fetch() {
    let (k1, k2) = (DpopKey::generate().unwrap(), DpopKey::generate().unwrap());
    let setup = Setup::start(key_set(&[(&k1, "k1")])).await;
    assert_ok(setup.token(&k1, "k1").await).await;
    assert_refused(setup.token(&k2, "k2").await).await;
    assert_eq!(setup.keys.hits(), 2, "the unknown kid fetched once more");
    // k2 is published now, but the cooldown (60 s) holds: refused, nothing fetched.
    setup.keys.answer("/", key_set(&[(&k1, "k1"), (&k2, "k2")]));
    setup.app.clock.advance(59);
    assert_refused(setup.token(&k2, "k2").await).await;
    assert_eq!(setup.keys.hits(), 2, "no fetch within the cooldown");
    // After it, the unknown kid fetches again and the rotated key works.
    setup.app.clock.advance(1);
    assert_ok(setup.token(&k2, "k2").await).await;
    assert_eq!(setup.keys.hits(), 3);
}

#[tokio::test]
async fn rejects_an_oversize_key_set() {
    let k1 = DpopKey::generate().unwrap();
    let mut answer = key_set(&[(&k1, "k1")]);
    answer.body.extend(std::iter::repeat_n(b' ', 65 * 1024));
    let setup = Setup::start(answer).await;
    assert_refused(setup.token(&k1, "k1").await).await;
}

#[tokio::test]
async fn rejects_a_redirecting_jwks_uri() {
    let k1 = DpopKey::generate().unwrap();
    let setup = Setup::start(
        key_set(&[(&k1, "k1")])
            .status(302)
            .header("Location", "https://127.0.0.1:1/elsewhere"),
    )
    .await;
    assert_refused(setup.token(&k1, "k1").await).await;
    assert_eq!(setup.keys.hits(), 1, "the Location is never requested");
}

#[tokio::test]
async fn rejects_a_jwks_uri_that_answers_too_slowly() {
    let k1 = DpopKey::generate().unwrap();
    let mut answer = key_set(&[(&k1, "k1")]);
    answer.delay = Duration::from_secs(3);
    let setup = Setup::start(answer).await;
    assert_refused(setup.token(&k1, "k1").await).await;
}

#[tokio::test]
async fn rejects_a_key_set_with_a_private_key() {
    let k1 = DpopKey::generate().unwrap();
    let mut jwk = serde_json::to_value(k1.public_jwk()).unwrap();
    jwk["kid"] = json!("k1");
    jwk["d"] = json!("W_oiZSAx4qngv0FEY69Rp0Y1ffj6YvHzW63qWPjHb5E");
    let setup = Setup::start(Canned::json(&json!({"keys": [jwk]}).to_string())).await;
    assert_refused(setup.token(&k1, "k1").await).await;
}

#[test]
fn rejects_jwks_and_jwks_uri_together_and_an_http_jwks_uri_at_config() {
    use portcullis_server::app::config::{Config, parse_file};
    let resolve = |toml: &str| {
        let file = parse_file(std::path::Path::new("test.toml"), toml).unwrap();
        let env = |name: &str| match name {
            "PORTCULLIS_ISSUER" => Some("http://127.0.0.1:1".to_owned()),
            "PORTCULLIS_LISTEN" => Some("127.0.0.1:1".to_owned()),
            "PORTCULLIS_DATABASE_URL" => Some("sqlite::memory:".to_owned()),
            _ => None,
        };
        match Config::resolve(Some(("test.toml".into(), file)), &env) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    let both = remote_client("https://keys.example.com/jwks.json").replace(
        "jwks_uri",
        "jwks = { keys = [ { kty = \"OKP\", crv = \"Ed25519\", x = \"pseaLSB7YmozmgsYCW29d5HRBDantAnLHL-coNEQO4U\" } ] }\njwks_uri",
    );
    let e = resolve(&both);
    assert!(
        e.contains("client `remote`: `jwks_uri` is set together with jwks"),
        "{e}"
    );
    let e = resolve(&remote_client("http://keys.example.com/jwks.json"));
    assert!(
        e.contains("client `remote`: `jwks_uri` is `http://keys.example.com/jwks.json`; a client's keys are fetched over https only"),
        "{e}"
    );
    assert_eq!(
        resolve(&remote_client("https://keys.example.com/jwks.json")),
        ""
    );
}

#[tokio::test]
async fn cli_client_create_registers_a_jwks_uri_client() {
    use crate::cli::{cli, json_out};
    let k1 = DpopKey::generate().unwrap();
    let setup = Setup::start(key_set(&[(&k1, "k1")])).await;
    let uri = setup.keys.url("/cli/jwks.json");
    let created = json_out(&cli(
        &setup.app,
        &[
            "client",
            "create",
            "--client-id",
            "cli-remote",
            "--auth-method",
            "private-key-jwt",
            "--jwks-uri",
            &uri,
            "--grant-type",
            "client_credentials",
            "--audience",
            API,
        ],
        None,
    ));
    assert_eq!(created["jwks_uri"], uri);
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert!(created.get("client_secret").is_none());
}
