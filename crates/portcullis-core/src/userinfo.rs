//! OIDC Core §5.3 UserInfo: claims about the user an access token was issued for,
//! and the scope → claims mapping (§5.4) that id_tokens share.

use crate::UnixTime;
use crate::client::origin::{OriginNotAllowed, check_request_origin};
use crate::dpop::DpopBinding;
use crate::store::{Store, StoreError};
use crate::tokens::access_token::{AccessTokenReason, AccessTokenVerifier};
use crate::user::User;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Answers a UserInfo request (GET or POST, RFC 6750 Bearer) at `now`: verifies the
/// access token with `tokens` ([`AccessTokenVerifier`]), requires the [`REQUIRED_SCOPE`] scope, refuses a revoked
/// `jti` (e.g. after a code replay), a request from a browser `origin` (the `Origin`
/// header, if any) that the token's client does not allow
/// ([`crate::client::origin`]), and a user who no longer exists, and returns `sub`
/// with [`user_claims`] for the token's scopes.
///
/// The token's `aud` is not checked: every access token we issue with `openid` was
/// granted for the user's identity, whichever API it also serves (as at other OPs).
///
/// DPoP (RFC 9449 §7): `dpop` is the key of the request's verified proof when the token
/// came with the `DPoP` scheme (`None` for `Bearer`). A DPoP-bound token (`cnf.jkt`)
/// needs a proof of exactly its key; a bound token presented as a bearer token is
/// refused (why: a stolen bound token must be useless without the key), and so is an
/// unbound token presented with the DPoP scheme.
///
/// # Errors
/// A [`UserInfoReason`]; `ErrorCode::from` it gives the RFC 6750 §3.1 code
/// ([`crate::error_code`]).
pub async fn userinfo(
    tokens: &dyn AccessTokenVerifier,
    store: &dyn Store,
    issuer: &str,
    access_token: &str,
    dpop: Option<&DpopBinding>,
    origin: Option<&str>,
    now: UnixTime,
) -> Result<Map<String, Value>, UserInfoReason> {
    let claims = tokens.verify(issuer, access_token, now)?;
    match (claims.cnf.as_ref(), dpop) {
        (None, None) => {}
        (Some(_), None) => return Err(UserInfoReason::DpopBoundAsBearer),
        (None, Some(_)) => return Err(UserInfoReason::NotDpopBound),
        (Some(cnf), Some(binding)) if cnf.jkt == binding.jkt => {}
        (Some(_), Some(_)) => return Err(UserInfoReason::DpopKeyMismatch),
    }
    let scopes: BTreeSet<String> = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.contains(REQUIRED_SCOPE) {
        return Err(UserInfoReason::MissingOpenidScope);
    }
    if store.access_token_is_revoked(&claims.jti).await? {
        return Err(UserInfoReason::Revoked);
    }
    // A deleted client's tokens die with it (its refresh tokens are already gone).
    let client = store
        .client_get(&claims.client_id)
        .await?
        .ok_or(UserInfoReason::UnknownClient)?;
    check_request_origin(&client, origin)?;
    let user = store
        .user_get(&claims.sub)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(UserInfoReason::UnknownUser)?;
    let mut out = Map::new();
    out.insert("sub".to_owned(), Value::String(user.user_id.clone()));
    out.extend(user_claims(&user, &scopes));
    Ok(out)
}

/// OIDC Core §5.4: the claims the granted `scopes` release about `user`, plus the
/// user's configured `claims` (always: the operator attached them to the user's
/// tokens). `sub` is not included (the caller sets it).
///
/// - `profile` → `name` (if set) and `preferred_username` (the username).
/// - `email` → `email` and `email_verified: false` (if an address is set). Portcullis
///   never verifies addresses; claiming `true` would let a relying party link accounts
///   by an unproven address (an account takeover path).
///
/// Configured claims cannot collide with these: their names are reserved at load.
pub fn user_claims(user: &User, scopes: &BTreeSet<String>) -> Map<String, Value> {
    let mut out = user.claims.clone();
    if scopes.contains("profile") {
        if let Some(name) = &user.name {
            out.insert("name".to_owned(), Value::String(name.clone()));
        }
        out.insert(
            "preferred_username".to_owned(),
            Value::String(user.username.clone()),
        );
    }
    if scopes.contains("email")
        && let Some(email) = &user.email
    {
        out.insert("email".to_owned(), Value::String(email.clone()));
        out.insert("email_verified".to_owned(), Value::Bool(false));
    }
    out
}

/// Why a UserInfo request was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserInfoReason {
    /// The access token is malformed, not ours, or expired.
    #[error(transparent)]
    Token(#[from] AccessTokenReason),
    /// The token was not granted `openid` (OIDC Core §5.3.1).
    #[error("the access token was not granted the openid scope")]
    MissingOpenidScope,
    /// The token's `jti` is on the revocation list.
    #[error("the access token has been revoked")]
    Revoked,
    /// The user (`sub`) no longer exists, or is disabled.
    #[error("the access token's user no longer exists or is disabled")]
    UnknownUser,
    /// The client the token was issued to no longer exists.
    #[error("the access token's client no longer exists")]
    UnknownClient,
    /// RFC 9449 §7.1: a DPoP-bound token presented with the Bearer scheme.
    #[error("the access token is DPoP-bound; present it with the DPoP scheme and a proof")]
    DpopBoundAsBearer,
    /// RFC 9449 §7.1: a token without `cnf.jkt` presented with the DPoP scheme.
    #[error("the access token is not DPoP-bound; present it with the Bearer scheme")]
    NotDpopBound,
    /// RFC 9449 §7.1: the proof's key is not the one the token is bound to.
    #[error("the DPoP proof's key does not match the access token's cnf.jkt")]
    DpopKeyMismatch,
    /// A browser page at an origin the token's client does not allow sent the request
    /// ([`crate::client::origin`]).
    #[error(transparent)]
    OriginNotAllowed(#[from] OriginNotAllowed),
    /// The store failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

/// The scope a token needs at UserInfo (OIDC Core §5.3).
pub const REQUIRED_SCOPE: &str = "openid";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RecordSource;
    use crate::keys::KeyRing;
    use crate::store::{ClientStore, RefreshTokenStore, RevokedAccessTokenStore, UserStore};
    use crate::testing::{MemoryStore, key_ring};
    use crate::tokens::access_token::{AccessTokenGrant, mint};
    use crate::tokens::refresh_token::{RefreshTokenGrant, mint_refresh_token};
    use portcullis_proto::ErrorCode;
    use serde_json::json;

    const ISS: &str = "https://id.example";
    const NOW: UnixTime = 1_800_000_000;
    const SUB: &str = "0190f5c2-7a4e-7b3c-9d2e-1f2a3b4c5d6e";

    fn user() -> User {
        User {
            user_id: SUB.into(),
            username: "alice".into(),
            password_hash: "$argon2id$unused".into(),
            email: Some("alice@example.com".into()),
            name: None,
            claims: Map::from_iter([("tenant_id".to_owned(), json!("t1"))]),
            source: RecordSource::Admin,
            disabled_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn scopes(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    async fn store() -> MemoryStore {
        let store = MemoryStore::new();
        store.user_insert(&user()).await.unwrap();
        let app = crate::client::ClientRegistration {
            client_id: "app".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["openid".into()],
            ..Default::default()
        }
        .validate(crate::client::RecordSource::Config, NOW)
        .unwrap();
        store.client_insert(&app).await.unwrap();
        store
    }

    fn token(ring: &KeyRing, scope: Option<&str>, subject: &str) -> (String, String) {
        let issued = mint(
            ring,
            ISS,
            900,
            NOW,
            AccessTokenGrant {
                subject,
                client_id: "app",
                audiences: vec![format!("{ISS}/userinfo")],
                scope: scope.map(Into::into),
                extra: Map::new(),
                dpop_jkt: None,
            },
        )
        .unwrap();
        (issued.token, issued.claims.jti)
    }

    #[test]
    fn scopes_release_claims() {
        let u = user();
        assert_eq!(
            Value::Object(user_claims(&u, &scopes(&["openid"]))),
            json!({"tenant_id": "t1"})
        );
        assert_eq!(
            Value::Object(user_claims(&u, &scopes(&["openid", "profile", "email"]))),
            json!({
                "tenant_id": "t1",
                "preferred_username": "alice",
                "email": "alice@example.com",
                "email_verified": false,
            })
        );
    }

    #[tokio::test]
    async fn answers_with_sub_and_claims() {
        let ring = key_ring(NOW).unwrap();
        let store = store().await;
        let (token, _) = token(&ring, Some("openid email"), SUB);
        let answer = userinfo(&ring, &store, ISS, &token, None, None, NOW + 1)
            .await
            .unwrap();
        assert_eq!(
            Value::Object(answer),
            json!({"sub": SUB, "tenant_id": "t1", "email": "alice@example.com", "email_verified": false})
        );
    }

    #[tokio::test]
    async fn rejects_a_token_without_openid() {
        let ring = key_ring(NOW).unwrap();
        let store = store().await;
        for scope in [None, Some("profile email")] {
            let (token, _) = token(&ring, scope, SUB);
            let e = userinfo(&ring, &store, ISS, &token, None, None, NOW)
                .await
                .unwrap_err();
            assert!(matches!(e, UserInfoReason::MissingOpenidScope));
            assert_eq!(ErrorCode::from(&e), ErrorCode::InsufficientScope);
        }
    }

    #[tokio::test]
    async fn rejects_a_revoked_token() {
        let ring = key_ring(NOW).unwrap();
        let store = store().await;
        let (token, jti) = token(&ring, Some("openid"), SUB);
        store.access_token_revoke(&jti, NOW + 900).await.unwrap();
        let e = userinfo(&ring, &store, ISS, &token, None, None, NOW)
            .await
            .unwrap_err();
        assert!(matches!(e, UserInfoReason::Revoked));
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidToken);
    }

    #[tokio::test]
    async fn rejects_a_token_whose_refresh_family_was_revoked() {
        // Revoking a family (reuse detection, revocation, code replay) puts the jtis
        // recorded in it on the revocation list, which this endpoint checks.
        let ring = key_ring(NOW).unwrap();
        let store = store().await;
        let (token, jti) = token(&ring, Some("openid"), SUB);
        let refresh = mint_refresh_token(
            RefreshTokenGrant {
                family_id: "family-1",
                client_id: "app",
                user_id: SUB,
                scopes: &["openid".to_owned()],
                resources: &[],
                auth_time: NOW,
                dpop_jkt: None,
            },
            3600,
            NOW,
        )
        .unwrap();
        store
            .refresh_token_insert(&refresh.record, &jti, NOW + 900)
            .await
            .unwrap();
        assert!(
            userinfo(&ring, &store, ISS, &token, None, None, NOW)
                .await
                .is_ok()
        );
        store.refresh_family_revoke("family-1", NOW).await.unwrap();
        let e = userinfo(&ring, &store, ISS, &token, None, None, NOW)
            .await
            .unwrap_err();
        assert!(matches!(e, UserInfoReason::Revoked));
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidToken);
    }

    #[tokio::test]
    async fn rejects_a_token_of_a_deleted_client() {
        let ring = key_ring(NOW).unwrap();
        let store = store().await;
        let (token, _) = token(&ring, Some("openid"), SUB);
        assert!(
            userinfo(&ring, &store, ISS, &token, None, None, NOW)
                .await
                .is_ok()
        );
        store.client_delete("app").await.unwrap();
        let e = userinfo(&ring, &store, ISS, &token, None, None, NOW)
            .await
            .unwrap_err();
        assert!(matches!(e, UserInfoReason::UnknownClient));
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidToken);
    }

    #[tokio::test]
    async fn rejects_a_token_of_a_deleted_user() {
        let ring = key_ring(NOW).unwrap();
        let store = store().await;
        let (token, _) = token(&ring, Some("openid"), SUB);
        store.user_delete("alice").await.unwrap();
        let e = userinfo(&ring, &store, ISS, &token, None, None, NOW)
            .await
            .unwrap_err();
        assert!(matches!(e, UserInfoReason::UnknownUser));
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidToken);
    }

    #[tokio::test]
    async fn rejects_an_expired_token() {
        let ring = key_ring(NOW).unwrap();
        let store = store().await;
        let (token, _) = token(&ring, Some("openid"), SUB);
        let e = userinfo(&ring, &store, ISS, &token, None, None, NOW + 900)
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            UserInfoReason::Token(AccessTokenReason::Expired)
        ));
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidToken);
    }
}
