//! FAPI 2.0 Security Profile (Final, February 2025) as a client profile (issue 15 item
//! 3, `docs/fapi2.md`): a `profile = "fapi2"` client completes PAR + private_key_jwt +
//! DPoP + PKCE end to end, and each relaxation the profile forbids is refused, one
//! named test each. The client side is built here from independent pieces:
//! jsonwebtoken (ES256 assertions), aws-lc-rs (RSA keys, RS256/PS256 signed by hand),
//! `portcullis_resource::dpop::DpopKey` (proofs).

use crate::flow::{self, ALICE, ALICE_PASSWORD, Browser, STATE, location, pkce, redirect_params};
use crate::lifecycle::assert_rejection;
use crate::private_key_jwt::{EC_PEM, pem_der};
use crate::support::{API, TestApp, pinned};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::clock::Clock;
use portcullis_core::secret::generate_secret;
use portcullis_proto::grant::JWT_BEARER_CLIENT_ASSERTION_TYPE as JWT_BEARER;
use portcullis_resource::dpop::DpopKey;
use portcullis_server::app::config::{Config, parse_file};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::OnceLock;
use tempfile::TempDir;

const BANK: &str = "bank";
const BANK_REDIRECT: &str = "https://bank.example.com/callback";
const FAILED: &str = "client authentication failed";

/// The public half of the P-256 key `EC_PEM` (`ec-1`).
const EC_JWK: &str = r#"{ kty = "EC", crv = "P-256", kid = "ec-1", x = "uavdMp3pRz6xoLQTYsKXmluuPjBkyOJaHqk_PtlPeoE", y = "adfOsZCIZM1kneiHz41-KCuJ-swNJICIbp80Pc5OKIw" }"#;

/// One RSA-2048 key pair for every test here (generated once: RSA keygen is slow).
fn rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
}

/// The public RSA key as a TOML inline JWK (`rsa-1`, no `alg`: it may sign PS256).
fn rsa_jwk() -> String {
    let public = rsa_key().public_key();
    let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
    let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
    format!(r#"{{ kty = "RSA", kid = "rsa-1", n = "{n}", e = "{e}" }}"#)
}

/// The `fapi2` client `bank`: keys only (EC and RSA), an https redirect URI.
fn bank_client() -> String {
    format!(
        r#"
[[clients]]
client_id = "bank"
profile = "fapi2"
token_endpoint_auth_method = "private_key_jwt"
jwks = {{ keys = [ {EC_JWK}, {} ] }}
redirect_uris = ["{BANK_REDIRECT}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "read:orders"]
audiences = ["{API}"]
"#,
        rsa_jwk()
    )
}

/// The flow users and clients with 600-second codes (so the 60 s a `fapi2` client
/// gets is the profile's doing), plus `bank`.
fn config() -> String {
    let flow = flow::CONFIG.replace(
        "authorization_code_ttl = 60",
        "authorization_code_ttl = 600",
    );
    format!("{flow}{}", bank_client())
}

async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), &config()).await
}

// --- the client side --------------------------------------------------------------------

/// Claims of a valid assertion of `bank`: `aud` the issuer as a string (§5.3.3.1 item
/// 5), issued at the server's now, a fresh `jti`.
fn claims(app: &TestApp) -> Value {
    let now = app.clock.now();
    let jti = generate_secret().unwrap().expose_secret().to_owned();
    json!({"iss": BANK, "sub": BANK, "aud": app.base, "iat": now, "exp": now + 60, "jti": jti})
}

/// `claims` signed ES256 with `ec-1`.
fn es256(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let key = EncodingKey::from_ec_der(&pem_der(EC_PEM));
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// `claims` signed with the RSA key `rsa-1`, by hand: `alg` RS256 (PKCS#1 v1.5) or
/// PS256 (PSS).
fn rsa_signed(alg: &str, claims: &Value) -> String {
    let header = json!({"alg": alg, "kid": "rsa-1", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let padding = match alg {
        "RS256" => &RSA_PKCS1_SHA256,
        _ => &RSA_PSS_SHA256,
    };
    let key = rsa_key();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        padding,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// `bank`'s pushed authorization request (PKCE S256, `redirect_uri`), authenticated by
/// `assertion`; `edit` may change the parameters.
async fn push(
    app: &TestApp,
    assertion: &str,
    challenge: &str,
    edit: impl FnOnce(&mut Vec<(&'static str, String)>),
) -> reqwest::Response {
    let mut form: Vec<(&'static str, String)> = vec![
        ("response_type", "code".into()),
        ("redirect_uri", BANK_REDIRECT.into()),
        ("scope", "openid read:orders".into()),
        ("state", STATE.into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
        ("client_assertion_type", JWT_BEARER.into()),
        ("client_assertion", assertion.into()),
    ];
    edit(&mut form);
    app.http
        .post(app.url("/par"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Pushes, signs Alice in through `/authorize?request_uri=…`, and returns the code
/// and the PKCE verifier.
async fn bank_code(app: &TestApp) -> (String, String) {
    let (challenge, verifier) = pkce();
    let r = push(app, &es256(&claims(app)), &challenge, |_| {}).await;
    let body: Value = r.json().await.unwrap();
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    let browser = Browser::new(app);
    let query = flow::encode(&[("client_id", BANK), ("request_uri", &request_uri)]);
    let r = browser.get(&format!("/authorize?{query}")).await;
    let (to, _) = browser.complete(r, ALICE, ALICE_PASSWORD).await;
    let params = redirect_params(&to, BANK_REDIRECT);
    assert_eq!(
        params["iss"], app.base,
        "RFC 9207, FAPI 2.0 §5.3.2.2 item 7"
    );
    (params["code"].clone(), verifier)
}

/// Redeems `code` with an ES256 assertion and the given DPoP proofs.
async fn redeem(app: &TestApp, code: &str, verifier: &str, proofs: &[&str]) -> reqwest::Response {
    let assertion = es256(&claims(app));
    let mut request = app.http.post(app.url("/token")).form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", BANK_REDIRECT),
        ("code_verifier", verifier),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &assertion),
    ]);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.send().await.unwrap()
}

/// A DPoP proof by `key` for `htm` on our `path` (with `ath` for `access_token`).
fn proof(
    app: &TestApp,
    key: &DpopKey,
    htm: &str,
    path: &str,
    access_token: Option<&str>,
) -> String {
    let now = u64::try_from(app.clock.now()).unwrap();
    key.proof_at(now, htm, &app.url(path), access_token, None)
        .unwrap()
}

/// Client credentials are not in `bank`'s grants, so an assertion is checked at `/par`:
/// 201 for a good one, 401 `invalid_client` for each refused one.
async fn assert_assertion_refused_at_par(app: &TestApp, assertion: &str) {
    let r = push(app, assertion, &pkce().0, |_| {}).await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": FAILED}),
    )
    .await;
    assert!(headers.get("location").is_none());
}

// --- the whole flow ---------------------------------------------------------------------

#[tokio::test]
async fn fapi2_client_completes_par_private_key_jwt_dpop_and_pkce_end_to_end() {
    let app = start().await;
    let (code, verifier) = bank_code(&app).await;
    let key = DpopKey::generate().unwrap();
    let r = redeem(
        &app,
        &code,
        &verifier,
        &[&proof(&app, &key, "POST", "/token", None)],
    )
    .await;
    let status = r.status();
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP", "FAPI 2.0 §5.3.2.1 item 4");
    let access = tokens["access_token"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let access_claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(access_claims["cnf"]["jkt"], key.jkt(), "RFC 9449 §6.1");
    assert_eq!(access_claims["client_id"], BANK);
    // The id_token is signed ES256 (FAPI 2.0 §5.4.1: no RS256).
    let id_header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(id_header.alg, Algorithm::ES256);
    // UserInfo takes the bound token with a proof of the key.
    let r = app
        .http
        .get(app.url("/userinfo"))
        .header("authorization", format!("DPoP {access}"))
        .header("DPoP", proof(&app, &key, "GET", "/userinfo", Some(access)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], access_claims["sub"]);
    // ... and refuses it as a Bearer token.
    let r = app
        .http
        .get(app.url("/userinfo"))
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// The profile's PS256 path, so `rejects_an_rs256_assertion` tests the algorithm alone.
#[tokio::test]
async fn a_ps256_assertion_by_the_registered_rsa_key_is_accepted() {
    let app = start().await;
    let r = push(&app, &rsa_signed("PS256", &claims(&app)), &pkce().0, |_| {}).await;
    assert_eq!(r.status(), 201);
}

/// FAPI 2.0 §5.3.2.1 item 13: `iat`/`nbf` up to 10 s in the future are accepted.
#[tokio::test]
async fn accepts_an_assertion_issued_10_seconds_ahead() {
    let app = start().await;
    let mut c = claims(&app);
    c["iat"] = json!(app.clock.now() + 10);
    c["nbf"] = json!(app.clock.now() + 10);
    let r = push(&app, &es256(&c), &pkce().0, |_| {}).await;
    assert_eq!(r.status(), 201);
}

// --- each relaxation refused ------------------------------------------------------------

/// FAPI 2.0 §5.3.2.2 item 3: "shall reject authorization requests sent without
/// [RFC9126]".
#[tokio::test]
async fn rejects_a_plain_authorization_request_without_par() {
    let app = start().await;
    let browser = Browser::new(&app);
    let challenge = pkce().0;
    let plain = [
        ("response_type", "code"),
        ("client_id", BANK),
        ("redirect_uri", BANK_REDIRECT),
        ("scope", "openid"),
        ("state", STATE),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = browser
        .get(&format!("/authorize?{}", flow::encode(&plain)))
        .await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), BANK_REDIRECT);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert!(
        params["error_description"].contains("RFC 9126"),
        "{params:?}"
    );
    assert!(!params.contains_key("code"));
}

/// FAPI 2.0 §5.3.2.1 item 6: `private_key_jwt` only, so a secret is a start-up error
/// naming the client and the rule.
#[test]
fn rejects_a_client_secret_at_config() {
    let toml = bank_client().replace(
        "token_endpoint_auth_method = \"private_key_jwt\"\njwks",
        "client_secret = \"bank-secret-0123456789abcdefghijklmnop\"\n#jwks",
    );
    let e = config_error(&toml);
    assert!(
        e.contains("client `bank`: `client_secret` is set, but profile `fapi2` authenticates clients with private_key_jwt only (FAPI 2.0 §5.3.2.1 item 6; mTLS is not supported by Portcullis)"),
        "{e}"
    );
}

/// FAPI 2.0 §5.3.2.2 item 8: a plain-http redirect URI (even loopback, which other
/// clients may use) is a start-up error naming the client and the rule.
#[test]
fn rejects_an_http_redirect_uri_at_config() {
    let toml = bank_client().replace(BANK_REDIRECT, "http://127.0.0.1/callback");
    let e = config_error(&toml);
    assert!(
        e.contains("client `bank`: `redirect_uris` has `http://127.0.0.1/callback`, but profile `fapi2` allows only https redirect URIs (FAPI 2.0 §5.3.2.2 item 8"),
        "{e}"
    );
}

/// FAPI 2.0 §5.3.2.1 items 4–5: sender-constrained tokens only; a token request
/// without a DPoP proof (a Bearer token) is refused.
#[tokio::test]
async fn rejects_a_bearer_token_request_without_a_dpop_proof() {
    let app = start().await;
    let (code, verifier) = bank_code(&app).await;
    let r = redeem(&app, &code, &verifier, &[]).await;
    assert_rejection(
        r,
        400,
        "invalid_dpop_proof",
        "this client is registered with dpop_bound_access_tokens: every token request needs a DPoP proof header",
    )
    .await;
}

/// FAPI 2.0 §5.3.2.2 item 5: PKCE with S256; `plain` is refused at PAR.
#[tokio::test]
async fn rejects_plain_pkce() {
    let app = start().await;
    let r = push(
        &app,
        &es256(&claims(&app)),
        "x".repeat(43).as_str(),
        |form| {
            form.retain(|(k, _)| *k != "code_challenge_method");
            form.push(("code_challenge_method", "plain".into()));
        },
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
}

/// FAPI 2.0 §5.3.2.2 item 5: a `fapi2` client has no OpenID nonce in place of PKCE.
#[tokio::test]
async fn rejects_a_pushed_request_without_pkce_even_with_a_nonce() {
    let app = start().await;
    let r = push(&app, &es256(&claims(&app)), "", |form| {
        form.retain(|(k, _)| !k.starts_with("code_challenge"));
        form.push(("nonce", "n-0S6_WzA2Mj".into()));
    })
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert_eq!(
        body["error_description"],
        "code_challenge is required (PKCE with code_challenge_method=S256)"
    );
}

/// FAPI 2.0 §5.3.2.2 item 6: `redirect_uri` is required in the pushed request (though
/// `bank` registered only one).
#[tokio::test]
async fn rejects_a_pushed_request_without_redirect_uri() {
    let app = start().await;
    let r = push(&app, &es256(&claims(&app)), &pkce().0, |form| {
        form.retain(|(k, _)| *k != "redirect_uri");
    })
    .await;
    assert_rejection(
        r,
        400,
        "invalid_request",
        "redirect_uri is required in this client's pushed authorization requests (FAPI 2.0)",
    )
    .await;
}

/// FAPI 2.0 §5.4.1 item 1.2: PS256, ES256, EdDSA only; RS256 by a registered key is
/// refused (the same key signing PS256 is accepted above).
#[tokio::test]
async fn rejects_an_rs256_assertion() {
    let app = start().await;
    assert_assertion_refused_at_par(&app, &rsa_signed("RS256", &claims(&app))).await;
}

/// FAPI 2.0 §5.3.2.1 item 8: only the issuer identifier as `aud`; the token endpoint
/// URL (which other clients may use) and an array holding the issuer are refused.
#[tokio::test]
async fn rejects_an_assertion_whose_aud_is_the_token_endpoint() {
    let app = start().await;
    let mut c = claims(&app);
    c["aud"] = json!(app.url("/token"));
    assert_assertion_refused_at_par(&app, &es256(&c)).await;
    let mut c = claims(&app);
    c["aud"] = json!([app.base]);
    assert_assertion_refused_at_par(&app, &es256(&c)).await;
}

/// FAPI 2.0 §5.3.2.1 item 13: an `iat` more than 60 s ahead is refused.
#[tokio::test]
async fn rejects_an_assertion_issued_61_seconds_ahead() {
    let app = start().await;
    let mut c = claims(&app);
    c["iat"] = json!(app.clock.now() + 61);
    assert_assertion_refused_at_par(&app, &es256(&c)).await;
}

/// FAPI 2.0 §5.3.2.1 item 11: codes live at most 60 s, though `[tokens]
/// authorization_code_ttl` is 600 here: redeemable at 59 s, refused at 60 s.
#[tokio::test]
async fn rejects_a_code_older_than_60_seconds() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let (code, verifier) = bank_code(&app).await;
    app.clock.advance(59);
    let r = redeem(
        &app,
        &code,
        &verifier,
        &[&proof(&app, &key, "POST", "/token", None)],
    )
    .await;
    assert_eq!(r.status(), 200, "exp - 1 s");
    let (code, verifier) = bank_code(&app).await;
    app.clock.advance(60);
    let r = redeem(
        &app,
        &code,
        &verifier,
        &[&proof(&app, &key, "POST", "/token", None)],
    )
    .await;
    assert_eq!(r.status(), 400, "at exp");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// `client create --profile fapi2` registers the profile (shown by `client list`) and
/// forces PAR and DPoP; an http redirect URI is refused naming the rule.
#[tokio::test]
async fn cli_client_create_with_profile_fapi2() {
    use crate::cli::{cli, json_out};
    let app = start().await;
    let dir = TempDir::new().unwrap();
    let jwks = dir.path().join("keys.json");
    let public = json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "ec-1",
        "x": "uavdMp3pRz6xoLQTYsKXmluuPjBkyOJaHqk_PtlPeoE",
        "y": "adfOsZCIZM1kneiHz41-KCuJ-swNJICIbp80Pc5OKIw"
    }]});
    std::fs::write(&jwks, public.to_string()).unwrap();
    let args = |id: &'static str, redirect: &'static str| {
        vec![
            "client",
            "create",
            "--client-id",
            id,
            "--profile",
            "fapi2",
            "--auth-method",
            "private-key-jwt",
            "--jwks-file",
            jwks.to_str().unwrap(),
            "--grant-type",
            "authorization_code",
            "--scope",
            "openid",
            "--redirect-uri",
            redirect,
        ]
    };
    let created = json_out(&cli(
        &app,
        &args("cli-bank", "https://cli-bank.example/cb"),
        None,
    ));
    assert_eq!(created["profile"], "fapi2");
    assert_eq!(created["dpop_bound_access_tokens"], true);
    assert_eq!(created["require_pushed_authorization_requests"], true);
    assert_eq!(created["id_token_signed_response_alg"], "ES256");
    let listed = json_out(&cli(&app, &["client", "list"], None));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == "cli-bank")
        .unwrap();
    assert_eq!(row["profile"], "fapi2");
    let bank = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == BANK)
        .unwrap();
    assert_eq!(bank["profile"], "fapi2", "the config client");

    let out = cli(&app, &args("cli-http", "http://127.0.0.1/cb"), None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client `cli-http`: `redirect_uris` has `http://127.0.0.1/cb`, but profile `fapi2` allows only https"),
        "{stderr}"
    );
}

/// `[authorization] default_profile = "fapi2"` holds a client that names no profile to
/// the profile: `web` (a secret client) is then a start-up error.
#[test]
fn default_profile_applies_to_clients_without_one() {
    let toml = format!(
        "[authorization]\ndefault_profile = \"fapi2\"\n{}",
        flow::CONFIG
    );
    let e = config_error(&toml);
    assert!(e.contains("profile `fapi2`"), "{e}");
}

/// The start-up error of `toml`, resolved as a test's config file is.
fn config_error(toml: &str) -> String {
    let file = parse_file(Path::new("test.toml"), toml).unwrap();
    let env = |name: &str| match name {
        "PORTCULLIS_ISSUER" => Some("http://127.0.0.1:1".to_owned()),
        "PORTCULLIS_LISTEN" => Some("127.0.0.1:1".to_owned()),
        "PORTCULLIS_DATABASE_URL" => Some("sqlite::memory:".to_owned()),
        _ => None,
    };
    match Config::resolve(Some(("test.toml".into(), file)), &env) {
        Ok(_) => panic!("the config was accepted"),
        Err(e) => e.to_string(),
    }
}
