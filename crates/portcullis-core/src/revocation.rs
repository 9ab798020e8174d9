//! RFC 7009 token revocation: a client ends one of its own tokens.
//!
//! - A refresh token revokes its whole family: every refresh token descended from the
//!   same authorization and every access token minted from them (RFC 7009 §2.1: "If
//!   the particular token is a refresh token … the authorization server SHOULD also
//!   invalidate all access tokens based on the same authorization grant").
//! - An access token (RFC 9068 JWT) puts its `jti` on the revocation list until its
//!   `exp`, so introspection and UserInfo refuse it; resource servers that validate
//!   JWTs locally accept it until `exp` (which is why access tokens are short-lived).
//!   Its refresh token family is left alone (§2.1 makes that a MAY; a client that
//!   wants a full logout revokes the refresh token).
//! - Only the client the token was issued to may revoke it (§2.1: "verifies whether
//!   the token was issued to the client making the revocation request"); public
//!   clients may revoke theirs with `client_id` alone, since holding the token is the
//!   proof. Another client's token, an unknown one, an expired access token: nothing
//!   changes, and the answer is the same 200 (§2.2: the client cannot act on the
//!   difference, and an attacker must not learn which tokens exist).
//! - `token_type_hint` only orders the attempts: a wrong hint still revokes (§2.1).

use crate::UnixTime;
use crate::client::authentication::AuthenticatedClient;
use crate::introspection::REFRESH_TOKEN_HINT;
use crate::secret::SecretDigest;
use crate::store::{Store, StoreError};
use crate::tokens::access_token::AccessTokenVerifier;

/// What a revocation request changed, for the audit log. The wire answer is the same
/// for all three (RFC 7009 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationOutcome {
    /// A refresh token of the caller: its family is revoked (idempotent: also when it
    /// was already rotated, revoked or expired).
    RefreshFamilyRevoked,
    /// A live access token of the caller: its `jti` is on the revocation list.
    AccessTokenRevoked,
    /// Unknown, another client's, or an expired access token: nothing changed.
    NothingToRevoke,
}

impl RevocationOutcome {
    /// A short stable name for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefreshFamilyRevoked => "refresh_token_family",
            Self::AccessTokenRevoked => "access_token",
            Self::NothingToRevoke => "nothing",
        }
    }
}

/// RFC 7009 §2.1: revokes `token` if it was issued to `caller`, at `now`. `hint`
/// (`token_type_hint`) only orders the attempts: `refresh_token` tries the refresh
/// token lookup first, anything else the access token first; both are tried.
///
/// # Errors
/// Only store failures (the server answers 503 or 500); every other case is `Ok`.
pub async fn revoke(
    tokens: &dyn AccessTokenVerifier,
    store: &dyn Store,
    issuer: &str,
    caller: &AuthenticatedClient,
    token: &str,
    hint: Option<&str>,
    now: UnixTime,
) -> Result<RevocationOutcome, StoreError> {
    let caller_id = caller.client().client_id.as_str();
    let refresh_first = hint == Some(REFRESH_TOKEN_HINT);
    let attempts = if refresh_first {
        [Kind::Refresh, Kind::Access]
    } else {
        [Kind::Access, Kind::Refresh]
    };
    for kind in attempts {
        let found = match kind {
            Kind::Refresh => as_refresh_token(store, caller_id, token, now).await?,
            Kind::Access => as_access_token(tokens, store, issuer, caller_id, token, now).await?,
        };
        if let Some(outcome) = found {
            return Ok(outcome);
        }
    }
    Ok(RevocationOutcome::NothingToRevoke)
}

/// The two kinds of token a client may hold.
#[derive(Clone, Copy)]
enum Kind {
    Refresh,
    Access,
}

/// `Some` if `token` is a refresh token (then it was ours to look at): its family is
/// revoked if it belongs to the caller, else nothing changes.
async fn as_refresh_token(
    store: &dyn Store,
    caller_id: &str,
    token: &str,
    now: UnixTime,
) -> Result<Option<RevocationOutcome>, StoreError> {
    let Some(stored) = store.refresh_token_get(&SecretDigest::of(token)).await? else {
        return Ok(None);
    };
    if stored.client_id != caller_id {
        // Another client's: found, so no use trying it as an access token.
        return Ok(Some(RevocationOutcome::NothingToRevoke));
    }
    store.refresh_family_revoke(&stored.family_id, now).await?;
    Ok(Some(RevocationOutcome::RefreshFamilyRevoked))
}

/// `Some` if `token` is a live access token of ours (signature, `typ`, `iss`, `exp`):
/// its `jti` is revoked until `exp` if it belongs to the caller, else nothing changes.
/// An expired one is `None`: it is dead already.
async fn as_access_token(
    tokens: &dyn AccessTokenVerifier,
    store: &dyn Store,
    issuer: &str,
    caller_id: &str,
    token: &str,
    now: UnixTime,
) -> Result<Option<RevocationOutcome>, StoreError> {
    let Ok(claims) = tokens.verify(issuer, token, now) else {
        return Ok(None);
    };
    if claims.client_id != caller_id {
        return Ok(Some(RevocationOutcome::NothingToRevoke));
    }
    store.access_token_revoke(&claims.jti, claims.exp).await?;
    Ok(Some(RevocationOutcome::AccessTokenRevoked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::fixture::*;
    use crate::introspection::introspect;
    use crate::userinfo::{UserInfoReason, userinfo};
    use portcullis_proto::introspection::IntrospectionResponse;

    async fn revoke_as(
        f: &Fixture,
        caller: &str,
        token: &str,
        hint: Option<&str>,
        now: UnixTime,
    ) -> RevocationOutcome {
        let caller = f.authenticated(caller).await;
        revoke(&f.ring, &*f.store, ISS, &caller, token, hint, now)
            .await
            .unwrap()
    }

    async fn active(f: &Fixture, caller: &str, token: &str, now: UnixTime) -> bool {
        let caller = f.authenticated(caller).await;
        introspect(&f.ring, &*f.store, ISS, &caller, token, None, now)
            .await
            .unwrap()
            .active
    }

    #[tokio::test]
    async fn revoking_a_refresh_token_revokes_its_family() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let first = issued.response.refresh_token.unwrap();
        let second = f.refresh_web(&first, NOW + 1).await.unwrap();
        let successor = second.response.refresh_token.unwrap();
        // The rotated first token still names the family; a wrong hint still revokes.
        for hint in [Some("access_token"), Some("refresh_token"), None] {
            let outcome = revoke_as(&f, "web", &first, hint, NOW + 2).await;
            assert_eq!(outcome, RevocationOutcome::RefreshFamilyRevoked);
        }
        for token in [
            &successor,
            &issued.response.access_token,
            &second.response.access_token,
        ] {
            assert!(!active(&f, "web", token, NOW + 2).await);
        }
        let reason = f.refresh_web(&successor, NOW + 3).await.unwrap_err();
        assert_eq!(
            portcullis_proto::ErrorCode::from(&reason),
            portcullis_proto::ErrorCode::InvalidGrant
        );
    }

    #[tokio::test]
    async fn a_public_client_revokes_its_own_refresh_token() {
        let f = Fixture::new().await;
        let issued = f.login_cli(&["read"], &[API]).await;
        let refresh = issued.response.refresh_token.unwrap();
        assert_eq!(
            revoke_as(&f, "cli", &refresh, None, NOW).await,
            RevocationOutcome::RefreshFamilyRevoked
        );
        assert!(!active(&f, "api", &issued.response.access_token, NOW).await);
    }

    #[tokio::test]
    async fn revoking_an_access_token_records_its_jti_until_exp() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let access = issued.response.access_token;
        for hint in [Some("refresh_token"), Some("access_token"), None] {
            assert_eq!(
                revoke_as(&f, "web", &access, hint, NOW).await,
                RevocationOutcome::AccessTokenRevoked
            );
        }
        assert!(f.store.access_token_is_revoked(&issued.jti).await.unwrap());
        assert!(!active(&f, "web", &access, NOW).await);
        let e = userinfo(&f.ring, &*f.store, ISS, &access, None, None, NOW)
            .await
            .unwrap_err();
        assert!(matches!(e, UserInfoReason::Revoked));
        // The refresh token lives on (RFC 7009 §2.1 makes revoking it a MAY).
        let refresh = issued.response.refresh_token.unwrap();
        assert!(active(&f, "web", &refresh, NOW).await);
    }

    #[tokio::test]
    async fn an_expired_access_token_needs_no_revocation() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let access = issued.response.access_token;
        let exp = NOW + ACCESS_TTL;
        for now in [exp, exp + 1] {
            assert_eq!(
                revoke_as(&f, "web", &access, None, now).await,
                RevocationOutcome::NothingToRevoke
            );
        }
        assert!(!f.store.access_token_is_revoked(&issued.jti).await.unwrap());
        assert_eq!(
            revoke_as(&f, "web", &access, None, exp - 1).await,
            RevocationOutcome::AccessTokenRevoked
        );
    }

    #[tokio::test]
    async fn an_unknown_token_changes_nothing() {
        let f = Fixture::new().await;
        for token in ["", "garbage", "a.b.c"] {
            for hint in [None, Some("refresh_token")] {
                assert_eq!(
                    revoke_as(&f, "web", token, hint, NOW).await,
                    RevocationOutcome::NothingToRevoke
                );
            }
        }
    }

    #[tokio::test]
    async fn another_clients_tokens_change_nothing() {
        let f = Fixture::new().await;
        let issued = f.login_cli(&["read"], &[API]).await;
        let refresh = issued.response.refresh_token.unwrap();
        let access = issued.response.access_token;
        // Not even a resource server of the token's audience may revoke it.
        for caller in ["web", "api"] {
            for token in [&refresh, &access] {
                assert_eq!(
                    revoke_as(&f, caller, token, None, NOW).await,
                    RevocationOutcome::NothingToRevoke
                );
            }
        }
        assert!(!f.store.access_token_is_revoked(&issued.jti).await.unwrap());
        assert!(f.refresh("cli", &refresh, None, NOW + 1).await.is_ok());
    }

    #[tokio::test]
    async fn userinfo_refuses_an_access_token_of_a_revoked_family() {
        // Family revocation copies the family's jtis to the revocation list, which
        // UserInfo already checks.
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let access = issued.response.access_token;
        assert!(
            userinfo(&f.ring, &*f.store, ISS, &access, None, None, NOW)
                .await
                .is_ok()
        );
        let refresh = issued.response.refresh_token.unwrap();
        revoke_as(&f, "web", &refresh, None, NOW).await;
        let e = userinfo(&f.ring, &*f.store, ISS, &access, None, None, NOW)
            .await
            .unwrap_err();
        assert!(matches!(e, UserInfoReason::Revoked));
        assert_eq!(
            introspect(
                &f.ring,
                &*f.store,
                ISS,
                &f.authenticated("web").await,
                &access,
                None,
                NOW
            )
            .await
            .unwrap(),
            IntrospectionResponse::inactive()
        );
    }
}
