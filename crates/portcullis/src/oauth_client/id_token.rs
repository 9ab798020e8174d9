//! OIDC Core §3.1.3.7: the checks a client makes on an id_token it receives from the
//! token endpoint: signed by the issuer, `iss` the issuer, `aud` containing the client,
//! not expired, and (when the request carried one) `nonce` the one sent, which ties the
//! token to this sign-in (OIDC Core §15.5.2: replay).
//!
//! The signature: an asymmetric algorithm with a key the issuer publishes at
//! `jwks_uri`; or HS256/384/512 keyed with the client secret (OIDC Core §10.1), which
//! only a confidential client has: a public client refuses an HS* id_token, since it
//! cannot tell it from a forgery. `none` and unknown algorithms are refused. An
//! id_token that fails any check fails the sign-in (exit status 1); nothing is printed.

use super::Session;
use super::jwt::{self, NumericDate, Signature};
use super::terminal::sanitize;
use super::token_endpoint::TokenResponse;
use anyhow::{Result, bail};
use jsonwebtoken::AlgorithmFamily;
use portcullis_core::Clock;
use portcullis_core::clock::SystemClock;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

/// Checks the id_token of `tokens`, if there is one.
pub async fn check(session: &Session, tokens: &TokenResponse, nonce: Option<&str>) -> Result<()> {
    let Some(token) = tokens.id_token() else {
        return Ok(());
    };
    let claims = verified_claims(session, token).await?;
    check_claims(
        &claims,
        &session.issuer,
        session.auth.client_id(),
        nonce,
        SystemClock.now(),
    )
}

/// Who signed in, for the one-line summary of `portcullis login`: the id_token's
/// `preferred_username` (OIDC Core §5.1), else its `sub`. Call only on tokens that
/// [`check`] accepted (both logins do before returning them), so these claims are
/// verified ones; `None` without an id_token.
pub fn signed_in_as(tokens: &TokenResponse) -> Option<String> {
    let checked_claims = super::jwt::unverified(tokens.id_token()?).ok()?.claims;
    ["preferred_username", "sub"]
        .iter()
        .find_map(|name| checked_claims.get(*name).and_then(Value::as_str))
        .map(sanitize)
}

/// The claims of `token` once its signature is verified (see the module
/// documentation for which algorithms, with which keys).
async fn verified_claims(session: &Session, token: &str) -> Result<Map<String, Value>> {
    let (alg_name, alg) = jwt::header_alg(&jwt::unverified(token)?.header);
    let signature = match alg {
        None => bail!(
            "the id_token is signed with `{}`, which this client does not accept",
            sanitize(&alg_name)
        ),
        Some(alg) if alg.family() == AlgorithmFamily::Hmac => {
            let Some(secret) = session.auth.secret() else {
                bail!(
                    "the id_token is signed with {alg:?}, keyed with a client secret (OIDC Core §10.1), but this is a public client with no secret to verify it with"
                );
            };
            jwt::verify_with_secret(token, secret.expose_secret().as_bytes())?
        }
        Some(_) => {
            let keys = jwt::key_set(&session.http, &session.metadata).await?;
            jwt::verify_signature(token, &keys)?
        }
    };
    match signature {
        Signature::Verified { claims, .. } => Ok(claims),
        Signature::UnsupportedAlgorithm(alg) => bail!(
            "the id_token is signed with `{}`, which this client does not accept",
            sanitize(&alg)
        ),
        Signature::UnknownKey(_) => {
            bail!("the id_token is signed with a key the issuer does not publish")
        }
        Signature::Invalid => bail!("the id_token's signature is invalid"),
    }
}

/// OIDC Core §3.1.3.7 steps 2, 3, 9 and 11 on verified claims, at `now`.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    nonce: Option<&str>,
    now: i64,
) -> Result<()> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(issuer) {
        bail!(
            "the id_token was issued by someone else (iss is not {})",
            sanitize(issuer)
        );
    }
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !for_us {
        bail!(
            "the id_token is not for this client (aud does not contain {})",
            sanitize(client_id)
        );
    }
    match jwt::numeric_date(claims, "exp") {
        NumericDate::At(exp) if now < exp.saturating_add(LEEWAY) => {}
        NumericDate::At(_) => bail!("the id_token has expired"),
        NumericDate::Absent => bail!("the id_token has no exp (OIDC Core §2 requires it)"),
        NumericDate::Invalid => bail!("the id_token's exp is not a number"),
    }
    if let Some(expected) = nonce
        && text("nonce") != Some(expected)
    {
        bail!("the id_token's nonce is not the one this sign-in sent (a replayed token?)");
    }
    Ok(())
}

/// Seconds of clock skew allowed on `exp`.
const LEEWAY: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_client::mock::{self, MockServer, Script};
    use axum::Router;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "the-client-secret-0123456789abcdefghij";

    fn tokens(id_token: &str) -> TokenResponse {
        let map = json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token});
        TokenResponse::parse(map.as_object().unwrap().clone()).unwrap()
    }

    fn now() -> i64 {
        SystemClock.now()
    }

    /// Claims that pass every check for `issuer`, the client `cli` and the nonce `n`.
    fn good_claims(issuer: &str) -> Value {
        json!({"iss": issuer, "sub": "alice", "aud": "cli", "exp": now() + 300, "iat": now(), "nonce": "n"})
    }

    fn hs256(claims: &Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    /// An issuer whose `jwks_uri` serves `jwks` (and counts the requests).
    async fn issuer_with_keys(jwks: Value) -> (MockServer, Script) {
        let script = Script::new([(200, jwks)]);
        let route = script.route();
        let server = MockServer::start(|_| Router::new().route("/jwks", route)).await;
        (server, script)
    }

    fn metadata(server: &MockServer) -> Value {
        json!({"jwks_uri": server.url("/jwks"), "token_endpoint": server.url("/token")})
    }

    #[tokio::test]
    async fn none_and_unknown_algorithms_are_refused_before_any_request() {
        let (server, jwks) = issuer_with_keys(json!({"keys": []})).await;
        for secret in [None, Some(SECRET)] {
            let session = mock::session(&server.base, metadata(&server), secret);
            for alg in ["none", "None", "XS512", ""] {
                let token = mock::unsigned(&json!({"alg": alg}), &good_claims(&server.base));
                let e = check(&session, &tokens(&token), Some("n")).await.err();
                let message = format!("{:#}", e.unwrap_or_else(|| panic!("alg {alg:?} accepted")));
                assert!(message.contains("does not accept"), "{message}");
            }
            // No `alg` at all.
            let token = mock::unsigned(&json!({"typ": "JWT"}), &good_claims(&server.base));
            assert!(check(&session, &tokens(&token), Some("n")).await.is_err());
        }
        assert_eq!(jwks.requests(), 0);
    }

    #[tokio::test]
    async fn hs256_is_refused_by_a_public_client() {
        let (server, _) = issuer_with_keys(json!({"keys": []})).await;
        let session = mock::session(&server.base, metadata(&server), None);
        let token = hs256(&good_claims(&server.base), SECRET);
        let message = check(&session, &tokens(&token), Some("n"))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("public client"), "{message}");
    }

    #[tokio::test]
    async fn hs256_is_verified_with_the_client_secret_and_its_claims_checked() {
        let (server, jwks) = issuer_with_keys(json!({"keys": []})).await;
        let session = mock::session(&server.base, metadata(&server), Some(SECRET));
        let good = good_claims(&server.base);
        check(&session, &tokens(&hs256(&good, SECRET)), Some("n"))
            .await
            .unwrap();

        let wrong_secret = hs256(&good, "someone-elses-secret");
        let message = check(&session, &tokens(&wrong_secret), Some("n"))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("signature is invalid"), "{message}");

        // Correctly keyed, but the claims are wrong: each is refused.
        let mut bad = Vec::new();
        for (name, value) in [
            ("iss", json!("https://evil.example.com")),
            ("aud", json!("another-client")),
            ("exp", json!(now() - 3600)),
            ("exp", json!(now().to_string())),
            ("nonce", json!("replayed")),
        ] {
            let mut claims = good.clone();
            claims[name] = value;
            bad.push((name, claims));
        }
        let mut no_exp = good.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        bad.push(("no exp", no_exp));
        for (what, claims) in bad {
            let token = hs256(&claims, SECRET);
            assert!(
                check(&session, &tokens(&token), Some("n")).await.is_err(),
                "{what}: {claims}"
            );
        }
        assert_eq!(jwks.requests(), 0, "HS* never uses the published keys");
    }

    #[tokio::test]
    async fn es256_is_verified_with_the_published_key() {
        let (pair, keys) = mock::es256_key();
        let (server, _) = issuer_with_keys(keys).await;
        let session = mock::session(&server.base, metadata(&server), None);
        let mut claims = good_claims(&server.base);
        // RFC 7519 §2: a NumericDate may have a fraction.
        claims["exp"] = json!(now() as f64 + 300.5);
        let token = pair.sign_jwt("JWT", &claims).unwrap();
        check(&session, &tokens(&token), Some("n")).await.unwrap();

        claims["exp"] = json!((now() - 3600) as f64 + 0.5);
        let token = pair.sign_jwt("JWT", &claims).unwrap();
        let message = check(&session, &tokens(&token), Some("n"))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("expired"), "{message}");

        // Signed by a key the issuer does not publish.
        let (other, _) = mock::es256_key();
        let forged = other.sign_jwt("JWT", &good_claims(&server.base)).unwrap();
        assert!(check(&session, &tokens(&forged), Some("n")).await.is_err());
    }
}
