//! RFC 6749 §4.1.3–4.1.4 authorization code grant, with RFC 7636 §4.6 PKCE and an
//! OpenID Connect id_token (OIDC Core §3.1.3.3).
//!
//! Every check runs before the code is consumed (why: a request with a stolen code but
//! no verifier, or from another client, must not burn the legitimate client's code).
//! Tokens are signed (and the refresh token drawn) before the consume too, which is
//! the commit point: a token is returned only if the store recorded its `jti` against
//! the code. The refresh token (if any), first of the family [`family_of_code`] names,
//! is stored by the consume itself, in the same transaction
//! ([`crate::Store::authorization_code_consume`]): a replay that sees the code consumed
//! always finds it to revoke, a losing racer writes nothing, and a consume that fails
//! (or a crash) leaves neither the code burned nor a refresh token behind, so a retry
//! cannot add a second live token to the family.
//!
//! [`crate::Store::authorization_code_consume`]: crate::store::AuthorizationCodeStore::authorization_code_consume

use super::context::{GrantError, TokenEndpoint, TokenSuccess};
use super::user_tokens::{UserTokenGrant, access_token_audiences, sign_user_tokens};
use crate::UnixTime;
use crate::authorization::code::AuthorizationCode;
use crate::client::authentication::AuthenticatedClient;
use crate::dpop::DpopBinding;
use crate::keys::KeyRing;
use crate::pkce::{self, PkceReason, VerifiedCodeVerifier};
use crate::secret::SecretDigest;
use crate::store::{Store, StoreError};
use crate::tokens::access_token::IssuedAccessToken;
use crate::tokens::refresh_token::public_refresh_binding;
use crate::tokens::refresh_token::{
    RefreshToken, RefreshTokenGrant, family_of_code, issues_refresh_token, mint_refresh_token,
};
use portcullis_proto::grant::GrantType;
use portcullis_proto::token::TokenRequest;
use std::collections::BTreeSet;

/// Why an authorization code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeGrantReason {
    /// No `code` parameter.
    #[error("the code parameter is missing")]
    MissingCode,
    /// No code with this digest was ever issued (or it was purged).
    #[error("the authorization code is invalid")]
    UnknownCode,
    /// RFC 6749 §4.1.2: redeemed before; the tokens issued from it (the access token,
    /// and the refresh token family with every access token minted from it) are revoked.
    #[error("the authorization code was already used; the tokens issued from it are revoked")]
    AlreadyUsed,
    /// `now >= expires_at`.
    #[error("the authorization code has expired")]
    Expired,
    /// RFC 6749 §4.1.3: issued to another client. Checked before anything else about
    /// the code, nothing is written (why: a client must not revoke another's tokens by
    /// replaying its code), and the wire says what it says for an unknown code (why:
    /// a client holding a stolen code must not learn whether it is live, used or
    /// expired; issue 16).
    #[error("the authorization code is invalid")]
    WrongClient,
    /// RFC 6749 §4.1.3: the authorization request had `redirect_uri`, this one not.
    #[error("redirect_uri is required: the authorization request included it")]
    RedirectUriMissing,
    /// RFC 6749 §4.1.3: `redirect_uri` differs from the authorization request's.
    #[error("redirect_uri does not match the one of the authorization request")]
    RedirectUriMismatch,
    /// RFC 7636 §4.5: the code has a challenge, the request no `code_verifier`.
    #[error("code_verifier is required: the authorization request had a code_challenge")]
    VerifierMissing,
    /// A `code_verifier` for a code issued without a challenge (why: accepting it would
    /// let an attacker who injected a PKCE-less code pass as a PKCE client, RFC 9700
    /// §4.8.2 PKCE downgrade).
    #[error("code_verifier was sent, but the authorization request had no code_challenge")]
    UnexpectedVerifier,
    /// The verifier is malformed or does not match.
    #[error(transparent)]
    Pkce(PkceReason),
    /// The user who approved the code no longer exists.
    #[error("the user of this authorization code no longer exists")]
    UnknownUser,
    /// An administrator disabled the user who approved the code.
    #[error("the user of this authorization code is disabled")]
    UserDisabled,
    /// RFC 9449 §10.1: the authorization request bound the code to a DPoP key
    /// (`dpop_jkt`) and the token request has no proof, or a proof of another key.
    #[error(
        "the authorization code is bound to a DPoP key (dpop_jkt); the DPoP proof must use that key"
    )]
    DpopKeyMismatch,
}

/// A refusal by this grant's rules, for `?`.
impl From<CodeGrantReason> for GrantError<CodeGrantReason> {
    fn from(reason: CodeGrantReason) -> Self {
        Self::Refused(reason)
    }
}

/// Exchanges a code for an access token, an id_token when `openid` was granted, and a
/// refresh token when [`issues_refresh_token`] says so.
///
/// Rules, in order: `code` present; a code with its digest exists; issued to this
/// client; not consumed (a
/// replay revokes the tokens issued from it, RFC 6749 §4.1.2, refresh family
/// included, RFC 9700 §4.14.2); not expired; `redirect_uri`
/// repeated exactly if the authorization request had it, and equal if sent anyway;
/// PKCE (verifier required iff the code has a challenge); the user exists. Then the
/// tokens are signed with `keys` (the current signing keys), and the code consumed and the refresh token stored in one
/// transaction; a lost race is a replay.
///
/// The access token: `sub` = the user, `aud` = the code's resources, else the
/// client's first audience, else `{issuer}/userinfo` (a token that only serves
/// UserInfo), `scope` = the granted scopes, extra claims = the client's `claims`
/// overlaid by the user's (claims about the token's subject come from the subject's
/// record). The refresh token (RFC 6749 §6): 256-bit random, stored as its digest,
/// bound to the client, user, scopes, resources and `auth_time`, valid for
/// `refresh_token_ttl`, first of the family [`family_of_code`]`(code digest)`.
///
/// DPoP (RFC 9449): with `dpop` (the key of the request's verified proof) the access
/// token is bound to that key (`cnf.jkt`, `token_type` DPoP), and so is a public
/// client's refresh token (§5); a code issued with `dpop_jkt` needs a proof of that
/// key (§10.1), checked with the other rules before the code is consumed.
///
/// # Errors
/// [`CodeGrantReason`] (as [`GrantError::Refused`]), store, key or CSPRNG failures.
pub async fn issue(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    authenticated: &AuthenticatedClient,
    request: &TokenRequest,
    dpop: Option<&DpopBinding>,
    now: UnixTime,
) -> Result<TokenSuccess, GrantError<CodeGrantReason>> {
    let client = authenticated.client();
    let code = request
        .code
        .as_deref()
        .ok_or(CodeGrantReason::MissingCode)?;
    let digest = SecretDigest::of(code);
    let store = endpoint.store.as_ref();
    let stored = store
        .authorization_code_get(&digest)
        .await?
        .ok_or(CodeGrantReason::UnknownCode)?;
    if stored.client_id != client.client_id {
        return Err(CodeGrantReason::WrongClient.into());
    }
    if stored.consumed_at.is_some() {
        revoke_issued_tokens(store, &digest, now).await?;
        return Err(CodeGrantReason::AlreadyUsed.into());
    }
    if now >= stored.expires_at {
        return Err(CodeGrantReason::Expired.into());
    }
    check_redirect_uri(&stored, request.redirect_uri.as_deref())?;
    let pkce = check_pkce(&stored, request.code_verifier.as_deref())?;
    check_dpop_jkt(&stored, dpop)?;
    let user = store
        .user_get(&stored.user_id)
        .await?
        .ok_or(CodeGrantReason::UnknownUser)?;
    if user.disabled_at.is_some() {
        return Err(CodeGrantReason::UserDisabled.into());
    }

    let scopes: BTreeSet<String> = stored.scopes.iter().cloned().collect();
    let tokens = sign_user_tokens(
        endpoint,
        keys,
        UserTokenGrant {
            client,
            user: &user,
            scopes: &scopes,
            audiences: access_token_audiences(&stored.resources, client, &endpoint.issuer),
            auth_time: stored.auth_time,
            nonce: stored.nonce.as_deref(),
            dpop,
        },
        now,
    )?;
    let access = &tokens.access;
    let refresh_token = if issues_refresh_token(client, &scopes) {
        Some(mint_refresh_token(
            RefreshTokenGrant {
                family_id: &family_of_code(&digest),
                client_id: &client.client_id,
                user_id: &user.user_id,
                scopes: &stored.scopes,
                resources: &stored.resources,
                auth_time: stored.auth_time,
                dpop_jkt: public_refresh_binding(client, dpop),
            },
            endpoint.refresh_token_ttl,
            now,
        )?)
    } else {
        None
    };
    let consumed = consume(
        store,
        &digest,
        pkce,
        refresh_token.as_ref().map(|issued| &issued.record),
        access,
        now,
    )
    .await?;
    if !consumed {
        // Another request redeemed it between our read and now: a replay. Ours wrote
        // nothing; the winner's tokens are revoked.
        revoke_issued_tokens(store, &digest, now).await?;
        return Err(CodeGrantReason::AlreadyUsed.into());
    }
    Ok(tokens.into_success(
        endpoint,
        &client.client_id,
        user.user_id,
        GrantType::AuthorizationCode,
        refresh_token.as_ref().map(|issued| &issued.token),
    ))
}

/// The commit point: consumes the code, recording the access token's `jti` and `exp`,
/// and stores the refresh token (if any) in the same transaction
/// ([`Store::authorization_code_consume`]); `false` if another request consumed it
/// first. Demands the [`PkceChecked`] proof, so no path can burn a code without having
/// checked its PKCE binding.
async fn consume(
    store: &dyn Store,
    digest: &SecretDigest,
    pkce: PkceChecked,
    refresh_token: Option<&RefreshToken>,
    access: &IssuedAccessToken,
    now: UnixTime,
) -> Result<bool, StoreError> {
    // Spent here: the check it proves ran before the code can be burned.
    let PkceChecked(_verified) = pkce;
    store
        .authorization_code_consume(
            digest,
            now,
            refresh_token,
            &access.claims.jti,
            access.claims.exp,
        )
        .await
}

/// RFC 6749 §4.1.2: "If an authorization code is used more than once, the
/// authorization server … SHOULD revoke (when possible) all tokens previously issued
/// based on that authorization code": its access token, and the refresh token family
/// with every access token rotated out of it (RFC 9700 §4.14.2), in one store
/// transaction (a crash cannot leave one revoked and the other live).
async fn revoke_issued_tokens(
    store: &dyn Store,
    digest: &SecretDigest,
    now: UnixTime,
) -> Result<(), StoreError> {
    store
        .authorization_code_revoke_tokens(digest, &family_of_code(digest), now)
        .await?;
    Ok(())
}

/// RFC 6749 §4.1.3: `redirect_uri` "REQUIRED, if the redirect_uri parameter was
/// included in the authorization request", "and their values MUST be identical"; a
/// value sent when it was not required must still be the one the code went to.
fn check_redirect_uri(
    stored: &AuthorizationCode,
    requested: Option<&str>,
) -> Result<(), CodeGrantReason> {
    match requested {
        None if stored.redirect_uri_sent => Err(CodeGrantReason::RedirectUriMissing),
        None => Ok(()),
        Some(uri) if uri == stored.redirect_uri => Ok(()),
        Some(_) => Err(CodeGrantReason::RedirectUriMismatch),
    }
}

/// RFC 9449 §10.1: a code issued for a request with `dpop_jkt` is redeemed only with a
/// proof of that key (why: the code cannot be redeemed by whoever intercepts it without
/// the client's private key).
fn check_dpop_jkt(
    stored: &AuthorizationCode,
    dpop: Option<&DpopBinding>,
) -> Result<(), CodeGrantReason> {
    match (stored.dpop_jkt.as_deref(), dpop) {
        (None, _) => Ok(()),
        (Some(bound), Some(binding)) if bound == binding.jkt => Ok(()),
        (Some(_), _) => Err(CodeGrantReason::DpopKeyMismatch),
    }
}

/// Proof that the token request fits the code's PKCE binding (RFC 7636 §4.6): the
/// verifier hashed to the code's challenge ([`VerifiedCodeVerifier`]), or the code was
/// issued without a challenge (a confidential client's OpenID request with a nonce)
/// and no verifier was sent (`None`). Only [`check_pkce`] builds it; [`consume`]
/// demands it.
struct PkceChecked(Option<VerifiedCodeVerifier>);

/// RFC 7636 §4.6: with a challenge, the verifier must hash to it; without one, no
/// verifier may be sent ([`CodeGrantReason::UnexpectedVerifier`]).
fn check_pkce(
    stored: &AuthorizationCode,
    verifier: Option<&str>,
) -> Result<PkceChecked, CodeGrantReason> {
    match (stored.code_challenge.as_ref(), verifier) {
        (Some(challenge), Some(verifier)) => pkce::verify(challenge, verifier)
            .map(|verified| PkceChecked(Some(verified)))
            .map_err(CodeGrantReason::Pkce),
        (Some(_), None) => Err(CodeGrantReason::VerifierMissing),
        (None, Some(_)) => Err(CodeGrantReason::UnexpectedVerifier),
        (None, None) => Ok(PkceChecked(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::request::StoredAuthorizationRequest;
    use crate::grants::fixture::*;
    use crate::pkce::CodeChallenge;
    use crate::tokens::access_token::verify;
    use crate::tokens::id_token::{at_hash, verify_id_token_hint};
    use portcullis_proto::ErrorCode;
    use portcullis_proto::claims::Audience;
    use serde_json::json;

    fn reason(result: Result<TokenSuccess, TokenError>) -> (CodeGrantReason, ErrorCode) {
        let error = result.unwrap_err();
        let code = ErrorCode::from(&error);
        match error.reason {
            TokenErrorReason::AuthorizationCode(reason) => (reason, code),
            other => panic!("expected a code grant reason, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn issue_code_stores_only_the_digest() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        assert_eq!(code.len(), 43);
        let stored = f.store.code(&SecretDigest::of(&code)).unwrap();
        assert_eq!(stored.client_id, "native");
        assert_eq!(stored.user_id, SUB);
        assert_eq!(stored.scopes, ["openid", "profile"]);
        assert_eq!(
            stored.code_challenge.as_ref().map(CodeChallenge::as_str),
            Some(CHALLENGE)
        );
        assert_eq!(
            (stored.auth_time, stored.created_at, stored.expires_at),
            (NOW - 30, NOW, NOW + TTL)
        );
        assert_eq!(stored.consumed_at, None);
    }

    #[tokio::test]
    async fn exchanges_a_code_for_an_access_token_and_an_id_token() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        let issued = f.redeem(exchange(&code), NOW + 1).await.unwrap();
        let response = &issued.response;
        assert_eq!(response.token_type, "Bearer");
        assert_eq!(response.expires_in, 900);
        assert_eq!(response.scope.as_deref(), Some("openid profile"));
        assert_eq!(response.refresh_token, None);
        assert_eq!(
            (issued.subject.as_str(), issued.client_id.as_str()),
            (SUB, "native")
        );
        assert_eq!(issued.grant_type, GrantType::AuthorizationCode);

        let access = verify(&f.ring, ISS, &response.access_token, NOW + 1).unwrap();
        assert_eq!(access.sub, SUB);
        assert_eq!(access.client_id, "native");
        assert_eq!(access.jti, issued.jti);
        assert_eq!(access.aud, Audience::One("https://api.example".into()));
        // Client claims, overlaid by the user's.
        assert_eq!(access.extra.get("tier"), Some(&json!("user")));
        assert_eq!(access.extra.get("app"), Some(&json!("native")));

        let id = verify_id_token_hint(&f.ring, ISS, response.id_token.as_deref().unwrap()).unwrap();
        assert_eq!((id.sub.as_str(), id.aud.as_str()), (SUB, "native"));
        assert_eq!(
            (id.iat, id.exp, id.auth_time),
            (NOW + 1, NOW + 301, NOW - 30)
        );
        assert_eq!(id.nonce.as_deref(), Some("n-0S6"));
        assert_eq!(id.at_hash, Some(at_hash(&response.access_token)));
        assert_eq!(id.extra.get("preferred_username"), Some(&json!("alice")));

        let stored = f.store.code(&SecretDigest::of(&code)).unwrap();
        assert_eq!(stored.consumed_at, Some(NOW + 1));
        assert_eq!(
            stored.access_token_jti.as_deref(),
            Some(issued.jti.as_str())
        );
        assert_eq!(stored.access_token_expires_at, Some(NOW + 901));
    }

    #[tokio::test]
    async fn a_confidential_openid_client_with_nonce_needs_no_pkce() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let issued = f
            .redeem_web(TokenRequest {
                code: Some(code),
                ..Default::default()
            })
            .await
            .unwrap();
        let access = verify(&f.ring, ISS, &issued.response.access_token, NOW).unwrap();
        // No resources and no audiences: the token is for UserInfo.
        assert_eq!(access.aud, Audience::One(format!("{ISS}/userinfo")));
        let header = jsonwebtoken::decode_header(issued.response.id_token.unwrap()).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    }

    #[tokio::test]
    async fn resources_become_the_audience_and_no_openid_means_no_id_token() {
        let f = Fixture::new().await;
        let request = validated(StoredAuthorizationRequest {
            scopes: ["read"].map(String::from).into(),
            resources: vec!["https://b.example".into(), "https://api.example".into()],
            ..native_stored()
        });
        let issued = f
            .redeem(exchange(&f.code(&request).await), NOW)
            .await
            .unwrap();
        assert_eq!(issued.response.id_token, None);
        let access = verify(&f.ring, ISS, &issued.response.access_token, NOW).unwrap();
        assert_eq!(
            access.aud,
            Audience::Many(vec![
                "https://b.example".into(),
                "https://api.example".into()
            ])
        );
    }

    #[tokio::test]
    async fn rejects_a_missing_code() {
        let f = Fixture::new().await;
        let (reason, code) = reason(f.redeem(TokenRequest::default(), NOW).await);
        assert_eq!(
            (reason, code),
            (CodeGrantReason::MissingCode, ErrorCode::InvalidRequest)
        );
    }

    #[tokio::test]
    async fn rejects_an_unknown_code() {
        let f = Fixture::new().await;
        let (reason, code) = reason(f.redeem(exchange("no-such-code"), NOW).await);
        assert_eq!(
            (reason, code),
            (CodeGrantReason::UnknownCode, ErrorCode::InvalidGrant)
        );
    }

    #[tokio::test]
    async fn rejects_a_replayed_code_and_revokes_its_tokens() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        let first = f.redeem(exchange(&code), NOW).await.unwrap();
        assert!(!f.store.access_token_is_revoked(&first.jti).await.unwrap());
        let (reason, wire) = reason(f.redeem(exchange(&code), NOW + 1).await);
        assert_eq!(
            (reason, wire),
            (CodeGrantReason::AlreadyUsed, ErrorCode::InvalidGrant)
        );
        assert!(f.store.access_token_is_revoked(&first.jti).await.unwrap());
    }

    #[tokio::test]
    async fn rejects_an_expired_code() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        for now in [NOW + TTL, NOW + TTL + 1] {
            let (reason, wire) = reason(f.redeem(exchange(&code), now).await);
            assert_eq!(
                (reason, wire),
                (CodeGrantReason::Expired, ErrorCode::InvalidGrant)
            );
        }
        assert!(f.redeem(exchange(&code), NOW + TTL - 1).await.is_ok());
    }

    #[tokio::test]
    async fn rejects_a_code_of_another_client_without_consuming_it() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let (reason, wire) = reason(
            f.redeem(
                TokenRequest {
                    code: Some(code.clone()),
                    ..Default::default()
                },
                NOW,
            )
            .await,
        );
        assert_eq!(
            (reason, wire),
            (CodeGrantReason::WrongClient, ErrorCode::InvalidGrant)
        );
        assert!(
            f.redeem_web(TokenRequest {
                code: Some(code),
                ..Default::default()
            })
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn rejects_a_missing_redirect_uri() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        let request = TokenRequest {
            redirect_uri: None,
            ..exchange(&code)
        };
        let (reason, wire) = reason(f.redeem(request, NOW).await);
        assert_eq!(
            (reason, wire),
            (CodeGrantReason::RedirectUriMissing, ErrorCode::InvalidGrant)
        );
    }

    #[tokio::test]
    async fn rejects_a_different_redirect_uri() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        for uri in [
            "http://127.0.0.1:51001/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51000/cb/",
        ] {
            let request = TokenRequest {
                redirect_uri: Some(uri.into()),
                ..exchange(&code)
            };
            let (reason, wire) = reason(f.redeem(request, NOW).await);
            assert_eq!(
                (reason, wire),
                (
                    CodeGrantReason::RedirectUriMismatch,
                    ErrorCode::InvalidGrant
                )
            );
        }
        assert!(f.redeem(exchange(&code), NOW).await.is_ok());
    }

    #[tokio::test]
    async fn rejects_a_different_redirect_uri_even_when_it_was_not_required() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let request = TokenRequest {
            code: Some(code),
            redirect_uri: Some("https://app.example/other".into()),
            ..Default::default()
        };
        let (reason, _) = reason(f.redeem_web(request).await);
        assert_eq!(reason, CodeGrantReason::RedirectUriMismatch);
    }

    #[tokio::test]
    async fn rejects_a_missing_code_verifier() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        let request = TokenRequest {
            code_verifier: None,
            ..exchange(&code)
        };
        let (reason, wire) = reason(f.redeem(request, NOW).await);
        assert_eq!(
            (reason, wire),
            (CodeGrantReason::VerifierMissing, ErrorCode::InvalidGrant)
        );
    }

    #[tokio::test]
    async fn rejects_a_wrong_code_verifier_without_consuming_the_code() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        let wrong = "x".repeat(43);
        let request = TokenRequest {
            code_verifier: Some(wrong),
            ..exchange(&code)
        };
        let (reason, wire) = reason(f.redeem(request, NOW).await);
        assert_eq!(
            (reason, wire),
            (
                CodeGrantReason::Pkce(PkceReason::VerifierMismatch),
                ErrorCode::InvalidGrant
            )
        );
        assert!(f.redeem(exchange(&code), NOW).await.is_ok());
    }

    #[tokio::test]
    async fn rejects_a_malformed_code_verifier() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        let request = TokenRequest {
            code_verifier: Some("short".into()),
            ..exchange(&code)
        };
        let (reason, wire) = reason(f.redeem(request, NOW).await);
        assert_eq!(
            (reason, wire),
            (
                CodeGrantReason::Pkce(PkceReason::MalformedVerifier),
                ErrorCode::InvalidGrant
            )
        );
    }

    #[tokio::test]
    async fn rejects_a_code_verifier_when_no_challenge_was_sent() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let request = TokenRequest {
            code: Some(code),
            code_verifier: Some(VERIFIER.into()),
            ..Default::default()
        };
        let (reason, wire) = reason(f.redeem_web(request).await);
        assert_eq!(
            (reason, wire),
            (CodeGrantReason::UnexpectedVerifier, ErrorCode::InvalidGrant)
        );
    }

    #[tokio::test]
    async fn rejects_a_code_of_a_deleted_user() {
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        f.store.user_delete("alice").await.unwrap();
        let (reason, wire) = reason(f.redeem(exchange(&code), NOW).await);
        assert_eq!(
            (reason, wire),
            (CodeGrantReason::UnknownUser, ErrorCode::InvalidGrant)
        );
    }

    #[tokio::test]
    async fn rejects_a_code_consumed_by_a_concurrent_request() {
        // The read saw it unused, but the conditional consume lost the race: the stored
        // row is marked used by "another node" just before ours commits.
        let f = Fixture::new().await;
        let code = f.code(&native_request()).await;
        let digest = SecretDigest::of(&code);
        f.store.consume_after_next_get("other-node-jti", NOW + 900);
        let (reason, _) = reason(f.redeem(exchange(&code), NOW).await);
        assert_eq!(reason, CodeGrantReason::AlreadyUsed);
        let stored = f.store.code(&digest).unwrap();
        let other_jti = stored.access_token_jti.unwrap();
        assert_eq!(other_jti, "other-node-jti");
        assert!(f.store.access_token_is_revoked(&other_jti).await.unwrap());
    }

    #[tokio::test]
    async fn unsupported_grant_types_list_the_supported_ones() {
        let f = Fixture::new().await;
        let request = TokenRequest {
            grant_type: Some("urn:ietf:params:oauth:grant-type:jwt-bearer".into()),
            client_id: Some("native".into()),
            ..Default::default()
        };
        let error = token_request(&f.endpoint(), &f.ring, None, None, request, None, NOW)
            .await
            .unwrap_err();
        assert_eq!(
            error.description(),
            "grant_type `urn:ietf:params:oauth:grant-type:jwt-bearer` is not supported; supported: authorization_code, client_credentials, refresh_token, urn:ietf:params:oauth:grant-type:device_code"
        );
    }

    #[tokio::test]
    async fn issues_a_refresh_token_to_a_confidential_openid_client() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let issued = f
            .redeem_web(TokenRequest {
                code: Some(code.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        let token = issued.response.refresh_token.unwrap();
        let code_digest = SecretDigest::of(&code);
        let stored = f
            .store
            .refresh_token_get(&SecretDigest::of(&token))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.family_id, family_of_code(&code_digest));
        assert_eq!(
            (stored.client_id.as_str(), stored.user_id.as_str()),
            ("web", SUB)
        );
        assert_eq!(stored.scopes, ["email", "openid"]);
        assert_eq!(
            (stored.auth_time, stored.created_at, stored.expires_at),
            (NOW - 30, NOW, NOW + REFRESH_TTL)
        );
        assert_eq!((stored.rotated_at, stored.revoked_at), (None, None));
        // The access token is recorded in the family.
        assert_eq!(
            f.store.access_token_family(&issued.jti).await.unwrap(),
            Some(stored.family_id)
        );
    }

    #[tokio::test]
    async fn a_public_openid_client_gets_a_refresh_token_only_with_offline_access() {
        let f = Fixture::new().await;
        let without = f.login_cli(&["openid", "profile"], &[]).await;
        assert_eq!(without.response.refresh_token, None);
        let with = f.login_cli(&["openid", "offline_access"], &[]).await;
        assert!(with.response.refresh_token.is_some());
        // A plain OAuth request needs no offline_access.
        let plain = f.login_cli(&["read"], &[API]).await;
        assert!(plain.response.refresh_token.is_some());
    }

    #[tokio::test]
    async fn no_refresh_token_without_the_refresh_token_grant() {
        let f = Fixture::new().await;
        let request = validated(StoredAuthorizationRequest {
            scopes: ["read"].map(String::from).into(),
            ..native_stored()
        });
        let code = f.code(&request).await;
        let issued = f.redeem(exchange(&code), NOW).await.unwrap();
        assert_eq!(issued.response.refresh_token, None);
    }

    #[tokio::test]
    async fn rejects_a_replayed_code_and_revokes_its_refresh_family() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let redeem = || {
            f.redeem_web(TokenRequest {
                code: Some(code.clone()),
                ..Default::default()
            })
        };
        let first = redeem().await.unwrap();
        let token = first.response.refresh_token.unwrap();
        // A rotation before the replay: the replay revokes the successor too.
        let second = f.refresh_web(&token, NOW + 1).await.unwrap();
        let (reason, wire) = reason(redeem().await);
        assert_eq!(
            (reason, wire),
            (CodeGrantReason::AlreadyUsed, ErrorCode::InvalidGrant)
        );
        let successor = second.response.refresh_token.unwrap();
        let stored = f
            .store
            .refresh_token_get(&SecretDigest::of(&successor))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.revoked_at, Some(NOW));
        assert!(f.store.access_token_is_revoked(&first.jti).await.unwrap());
        assert!(f.store.access_token_is_revoked(&second.jti).await.unwrap());
    }

    #[tokio::test]
    async fn a_lost_redemption_race_writes_no_refresh_token() {
        let f = Fixture::new().await;
        let request = validated(StoredAuthorizationRequest {
            client_id: "cli".into(),
            scopes: ["read"].map(String::from).into(),
            ..native_stored()
        });
        let code = f.code(&request).await;
        let family = family_of_code(&SecretDigest::of(&code));
        f.store.consume_after_next_get("other-node-jti", NOW + 900);
        let request = TokenRequest {
            client_id: Some("cli".into()),
            ..exchange(&code)
        };
        let (reason, _) = reason(f.redeem(request, NOW).await);
        assert_eq!(reason, CodeGrantReason::AlreadyUsed);
        // The losing request stored no refresh token: nothing in the family to revoke.
        assert_eq!(
            f.store
                .refresh_family_revoke(&family, NOW + 1)
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_refresh_token_that_cannot_be_stored_does_not_burn_the_code() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let digest = SecretDigest::of(&code);
        let redeem = || {
            f.redeem_web(TokenRequest {
                code: Some(code.clone()),
                ..Default::default()
            })
        };
        f.store.conflict_on_next_refresh_insert();
        let error = redeem().await.unwrap_err();
        assert!(
            matches!(error.reason, TokenErrorReason::Store(_)),
            "{:?}",
            error.reason
        );
        // The consume and the insert are one transaction: nothing was consumed, and
        // the family is empty ...
        let stored = f.store.code(&digest).unwrap();
        assert_eq!((stored.consumed_at, stored.access_token_jti), (None, None));
        assert_eq!(
            f.store
                .refresh_family_revoke(&family_of_code(&digest), NOW)
                .await
                .unwrap(),
            0
        );
        // ... so the retry gets its tokens, and its refresh token is the only one of
        // the family.
        let issued = redeem().await.unwrap();
        assert!(issued.response.refresh_token.is_some());
        assert_eq!(
            f.store
                .refresh_family_revoke(&family_of_code(&digest), NOW + 1)
                .await
                .unwrap(),
            1
        );
    }
}
