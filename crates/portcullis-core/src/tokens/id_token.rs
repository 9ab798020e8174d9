//! OpenID Connect id_tokens (OIDC Core §2, §3.1.3.6–3.1.3.7): minting them at the
//! token endpoint, and checking an `id_token_hint` at logout (RP-Initiated Logout §2).

use super::verify::{SignatureReason, verify_signature};
use crate::UnixTime;
use crate::client::Client;
use crate::keys::{KeyRing, KeyRingError};
use crate::user::User;
use crate::userinfo::user_claims;
use aws_lc_rs::digest;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use portcullis_proto::claims::{ID_TOKEN_TYP, IdTokenClaims};
use std::collections::BTreeSet;

/// What an id_token says: for which client, about which user, and how they logged in.
#[derive(Debug)]
pub struct IdTokenGrant<'a> {
    /// The relying party (`aud`); its `id_token_signed_response_alg` picks the key.
    pub client: &'a Client,
    /// The user (`sub` and the scope-driven claims).
    pub user: &'a User,
    /// When the user authenticated (`auth_time`, OIDC Core §2).
    pub auth_time: UnixTime,
    /// The authorization request's `nonce`, copied unchanged (OIDC Core §3.1.2.1).
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash` (OIDC Core §3.1.3.6).
    pub access_token: Option<&'a str>,
    /// Granted scopes: decide the user claims ([`user_claims`]).
    pub scopes: &'a BTreeSet<String>,
}

/// Signs an id_token valid from `now` for `ttl` seconds, with the client's
/// `id_token_signed_response_alg` (RS256 unless it registered ES256; OIDC Core §15.1
/// requires RS256 support).
///
/// Claims: `iss`, `sub` (the user's UUID, never the username), `aud` (the client_id),
/// `exp`, `iat`, `auth_time`, `nonce` if the request had one, `at_hash` when an access
/// token is issued with it, and [`user_claims`] for the granted scopes.
///
/// # Errors
/// [`KeyRingError`] if signing fails.
pub fn mint_id_token(
    ring: &KeyRing,
    issuer: &str,
    ttl: i64,
    now: UnixTime,
    grant: IdTokenGrant<'_>,
) -> Result<String, KeyRingError> {
    let claims = IdTokenClaims {
        iss: issuer.to_owned(),
        sub: grant.user.user_id.clone(),
        aud: grant.client.client_id.clone(),
        exp: now.saturating_add(ttl),
        iat: now,
        auth_time: grant.auth_time,
        nonce: grant.nonce.map(str::to_owned),
        at_hash: grant.access_token.map(at_hash),
        extra: user_claims(grant.user, grant.scopes),
    };
    ring.signer(grant.client.id_token_signed_response_alg, now)?
        .sign_jwt(ID_TOKEN_TYP, &claims)
}

/// OIDC Core §3.1.3.6 `at_hash`: base64url of the left half of the hash of the ASCII
/// access token, the hash being the one of the id_token's `alg` — SHA-256 for both
/// RS256 and ES256.
pub fn at_hash(access_token: &str) -> String {
    let hash = digest::digest(&digest::SHA256, access_token.as_bytes());
    let (left, _) = hash.as_ref().split_at(hash.as_ref().len() / 2);
    URL_SAFE_NO_PAD.encode(left)
}

/// Why an `id_token_hint` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenHintReason {
    /// Malformed, not signed by one of our published keys, not an id_token, or a bad
    /// signature.
    #[error(transparent)]
    Signature(#[from] SignatureReason),
    /// `iss` is not this server.
    #[error("the id_token_hint was issued by another issuer")]
    WrongIssuer,
}

/// RP-Initiated Logout 1.0 §2: checks an `id_token_hint`: signed by one of our
/// published keys, `typ: JWT`, and `iss` is us. Expiry is not checked: §2 says the OP
/// should accept a hint whose `exp` has passed (a user often logs out long after
/// logging in). The caller uses `aud` (the client) and `sub`.
///
/// # Errors
/// An [`IdTokenHintReason`].
pub fn verify_id_token_hint(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
) -> Result<IdTokenClaims, IdTokenHintReason> {
    let claims: IdTokenClaims = verify_signature(ring, token, ID_TOKEN_TYP)?;
    if claims.iss != issuer {
        return Err(IdTokenHintReason::WrongIssuer);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientRegistration, RecordSource};
    use crate::testing::key_ring;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    use portcullis_proto::ErrorCode;
    use serde_json::{Map, Value, json};

    const ISS: &str = "https://id.example";
    const NOW: UnixTime = 1_800_000_000;

    fn client(alg: Option<&str>) -> Client {
        ClientRegistration {
            client_id: "app".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            id_token_signed_response_alg: alg.map(Into::into),
            ..Default::default()
        }
        .validate(RecordSource::Config, 0)
        .unwrap()
    }

    fn user() -> User {
        let mut claims = Map::new();
        claims.insert("tenant_id".into(), json!("abc-tenant"));
        User {
            user_id: "0190f5c2-7a4e-7b3c-9d2e-1f2a3b4c5d6e".into(),
            username: "alice".into(),
            password_hash: "$argon2id$unused".into(),
            email: Some("alice@example.com".into()),
            name: Some("Alice Liddell".into()),
            claims,
            source: RecordSource::Config,
            disabled_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn scopes(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn mint(ring: &KeyRing, client: &Client, scopes: &BTreeSet<String>) -> String {
        let user = user();
        mint_id_token(
            ring,
            ISS,
            300,
            NOW,
            IdTokenGrant {
                client,
                user: &user,
                auth_time: NOW - 60,
                nonce: Some("n-0S6_WzA2Mj"),
                access_token: Some("an-access-token"),
                scopes,
            },
        )
        .unwrap()
    }

    /// Verifies with jsonwebtoken directly (an independent check of our signing).
    fn decode_independently(ring: &KeyRing, token: &str, alg: Algorithm) -> Value {
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, alg);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let jwk = ring
            .jwks()
            .keys
            .iter()
            .find(|k| Some(&k.kid) == header.kid.as_ref())
            .unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_audience(&["app"]);
        validation.set_issuer(&[ISS]);
        validation.validate_exp = false;
        decode::<Value>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn rs256_by_default_with_every_claim() {
        let ring = key_ring(NOW).unwrap();
        let token = mint(
            &ring,
            &client(None),
            &scopes(&["openid", "profile", "email"]),
        );
        let claims = decode_independently(&ring, &token, Algorithm::RS256);
        assert_eq!(
            claims,
            json!({
                "iss": ISS,
                "sub": "0190f5c2-7a4e-7b3c-9d2e-1f2a3b4c5d6e",
                "aud": "app",
                "exp": NOW + 300,
                "iat": NOW,
                "auth_time": NOW - 60,
                "nonce": "n-0S6_WzA2Mj",
                "at_hash": at_hash("an-access-token"),
                "name": "Alice Liddell",
                "preferred_username": "alice",
                "email": "alice@example.com",
                "email_verified": false,
                "tenant_id": "abc-tenant",
            })
        );
    }

    #[test]
    fn es256_when_the_client_registered_it() {
        let ring = key_ring(NOW).unwrap();
        let token = mint(&ring, &client(Some("ES256")), &scopes(&["openid"]));
        let claims = decode_independently(&ring, &token, Algorithm::ES256);
        assert!(claims.get("email").is_none());
        assert!(claims.get("preferred_username").is_none());
        assert_eq!(claims["tenant_id"], "abc-tenant");
    }

    #[test]
    fn at_hash_known_answer() {
        // OIDC Core Appendix A.3 (RS256): access token and at_hash of the example.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn hint_verifies_even_when_expired() {
        let ring = key_ring(NOW).unwrap();
        let token = mint(&ring, &client(None), &scopes(&["openid"]));
        let claims = verify_id_token_hint(&ring, ISS, &token).unwrap();
        assert_eq!(claims.aud, "app");
        assert_eq!(claims.sub, user().user_id);
        assert!(claims.exp < NOW + 10_000);
    }

    #[test]
    fn rejects_a_hint_from_another_issuer() {
        let ring = key_ring(NOW).unwrap();
        let token = mint(&ring, &client(None), &scopes(&["openid"]));
        let e = verify_id_token_hint(&ring, "https://other.example", &token).unwrap_err();
        assert_eq!(e, IdTokenHintReason::WrongIssuer);
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidRequest);
    }

    #[test]
    fn rejects_a_hint_signed_by_another_server() {
        let ring = key_ring(NOW).unwrap();
        let other = key_ring(NOW).unwrap();
        let token = mint(&other, &client(None), &scopes(&["openid"]));
        assert_eq!(
            verify_id_token_hint(&ring, ISS, &token).unwrap_err(),
            SignatureReason::UnknownKey.into()
        );
    }

    #[test]
    fn rejects_an_access_token_as_hint() {
        let ring = key_ring(NOW).unwrap();
        let access = crate::tokens::access_token::mint(
            &ring,
            ISS,
            900,
            NOW,
            crate::tokens::access_token::AccessTokenGrant {
                subject: "u1",
                client_id: "app",
                audiences: vec!["https://api.example".into()],
                scope: None,
                extra: Map::new(),
                dpop_jkt: None,
            },
        )
        .unwrap();
        assert!(matches!(
            verify_id_token_hint(&ring, ISS, &access.token).unwrap_err(),
            IdTokenHintReason::Signature(SignatureReason::WrongType { .. })
        ));
    }
}
