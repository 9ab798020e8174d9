//! RFC 6749 §6 refresh token grant, with rotation and reuse detection (RFC 9700
//! §4.14.2) and a new id_token for OpenID grants (OIDC Core §12.2).
//!
//! **Rotation.** Every use mints one successor in the same family and retires the
//! presented token, in one conditional store write
//! ([`Store::refresh_token_rotate`]): when requests race with one token, exactly one
//! gets a successor. The tokens are signed before that write, which is the commit
//! point, so a token is returned only if the store recorded it in the family.
//!
//! **Reuse detection.** A retired (rotated) token presented again means two parties
//! hold it, the client and perhaps an attacker; the server cannot tell which is which,
//! so it revokes the whole family: every refresh token of it and every access token
//! minted from it (RFC 9700 §4.14.2). `refresh_token_reuse_grace` seconds after a
//! rotation, a replay is only refused (for clients that race themselves, e.g. two
//! browser tabs); after it, a replay revokes. A request that lost a rotation race is
//! a replay like any other.
//!
//! **Scope.** A `scope` parameter may narrow the grant (RFC 6749 §6: "MUST NOT include
//! any scope not originally granted"); the new access token carries only it, while the
//! successor keeps the original scopes, so a later refresh may ask for any of them
//! again (the user granted them; narrowing one access token gives nothing up). Scopes
//! the client is no longer registered for are dropped from the access token (why: an
//! operator's removal must not be outlived by a 30-day refresh token).
//!
//! [`Store::refresh_token_rotate`]: crate::store::RefreshTokenStore::refresh_token_rotate

use super::context::{GrantError, TokenEndpoint, TokenSuccess};
use super::user_tokens::{UserTokenGrant, access_token_audiences, sign_user_tokens};
use crate::UnixTime;
use crate::client::authentication::AuthenticatedClient;
use crate::client::{Client, check_resource_uri};
use crate::dpop::DpopBinding;
use crate::keys::KeyRing;
use crate::resource::{fits_resources, registered_resources};
use crate::scope::parse_scope;
use crate::secret::SecretDigest;
use crate::store::{Store, StoreError};
use crate::tokens::refresh_token::{RefreshToken, RefreshTokenGrant, mint_refresh_token};
use portcullis_proto::error::echo;
use portcullis_proto::grant::GrantType;
use portcullis_proto::token::TokenRequest;
use std::collections::BTreeSet;

/// Why a refresh token request was refused. Quoted values are bounded with [`echo`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshGrantReason {
    /// No `refresh_token` parameter (RFC 6749 §6: REQUIRED).
    #[error("the refresh_token parameter is missing")]
    MissingRefreshToken,
    /// No refresh token with this digest was ever issued (or it was purged).
    #[error("the refresh token is invalid")]
    UnknownToken,
    /// RFC 6749 §6: "bound to the client to which it was issued". The token is left
    /// untouched (why: a client must not be able to revoke another's family by
    /// presenting its token).
    /// The wire says what it says for an unknown token (why: a client holding another
    /// client's token learns nothing from the answer).
    #[error("the refresh token is invalid")]
    WrongClient,
    /// Its family was revoked (reuse, revocation, code replay).
    #[error("the refresh token has been revoked")]
    Revoked,
    /// A rotated token presented again within `refresh_token_reuse_grace` of its
    /// rotation: refused, the family is kept.
    #[error("the refresh token was already used; use the one issued in its place")]
    ReplayWithinGrace,
    /// RFC 9700 §4.14.2: a rotated token presented again; its family is revoked.
    #[error("the refresh token was already used; it and every token issued from it are revoked")]
    ReuseDetected,
    /// `now >= expires_at`.
    #[error("the refresh token has expired")]
    Expired,
    /// RFC 6749 §3.3: not a scope-token.
    #[error(
        "scope `{0}` is malformed (RFC 6749 section 3.3: visible ASCII, separated by single spaces)"
    )]
    MalformedScope(String),
    /// RFC 6749 §6: a scope the original grant did not include.
    #[error("scope `{0}` was not granted with this refresh token")]
    ScopeNotGranted(String),
    /// RFC 8707 §2: not an absolute URI, or has a fragment.
    #[error("resource `{0}` must be an absolute URI without a fragment (RFC 8707 section 2)")]
    MalformedResource(String),
    /// RFC 8707 §2.2: a resource the original grant did not include.
    #[error("resource `{0}` was not granted with this refresh token")]
    ResourceNotGranted(String),
    /// The user of the grant no longer exists.
    #[error("the user of this refresh token no longer exists")]
    UnknownUser,
    /// An administrator disabled the user of the grant.
    #[error("the user of this refresh token is disabled")]
    UserDisabled,
    /// RFC 9449 §5: the refresh token (of a public client) is bound to a DPoP key and
    /// the request has no proof, or a proof of another key. The token is left
    /// untouched (why: whoever stole it without the key must not be able to revoke the
    /// client's family either).
    #[error("the refresh token is bound to a DPoP key; send a DPoP proof of that key")]
    DpopKeyMismatch,
}

/// A refusal by this grant's rules, for `?`.
impl From<RefreshGrantReason> for GrantError<RefreshGrantReason> {
    fn from(reason: RefreshGrantReason) -> Self {
        Self::Refused(reason)
    }
}

/// Exchanges a refresh token for a new access token and its successor refresh token
/// (and a new id_token when the scope includes `openid`).
///
/// Rules, in order: `refresh_token` present; a token with its digest exists; issued to
/// this client (else refused, the token untouched); not revoked; not rotated (a
/// replay: within the grace window refused, after it the family is revoked; checked
/// before expiry, since the successors of an expired token may be live); not expired
/// (`now >= expires_at`); `scope` ⊆ the original scopes; `resource` ⊆ the original
/// resources (RFC 8707 §2.2); the user exists. Then the tokens are signed with `keys`
/// (the current signing keys) and the
/// rotation committed; a lost race is handled as a replay.
///
/// The access token: `sub` = the user, `aud` = the requested resources, else the
/// grant's, else the client's first audience, else UserInfo (as at code redemption),
/// `scope` = the requested or original scopes that the client may still use (and, when
/// `resource` names only registered resources, that they define:
/// [`crate::resource::fits_resources`]). The
/// id_token (OIDC Core §12.2): same `sub` and `aud`, the original `auth_time`, a new
/// `iat`, no `nonce`. The successor: same family, user, original scopes, resources and
/// `auth_time`; valid for `refresh_token_ttl` from now (so a family lives as long as
/// it is used at least once per `refresh_token_ttl`).
///
/// DPoP (RFC 9449 §5): a token bound to a DPoP key (a public client's, issued with a
/// proof) is refused without a proof of that key, checked right after the client and
/// before anything is revoked; the successor keeps the binding. With `dpop` the access
/// token is bound to its key (`cnf.jkt`, `token_type` DPoP), for any client.
///
/// # Errors
/// [`RefreshGrantReason`] (as [`GrantError::Refused`]); store, key or CSPRNG
/// failures.
pub async fn issue(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    authenticated: &AuthenticatedClient,
    request: &TokenRequest,
    dpop: Option<&DpopBinding>,
    now: UnixTime,
) -> Result<TokenSuccess, GrantError<RefreshGrantReason>> {
    let client = authenticated.client();
    let presented = request
        .refresh_token
        .as_deref()
        .ok_or(RefreshGrantReason::MissingRefreshToken)?;
    let digest = SecretDigest::of(presented);
    let store = endpoint.store.as_ref();
    let stored = store
        .refresh_token_get(&digest)
        .await?
        .ok_or(RefreshGrantReason::UnknownToken)?;
    if stored.client_id != client.client_id {
        return Err(RefreshGrantReason::WrongClient.into());
    }
    if let Some(bound) = stored.dpop_jkt.as_deref()
        && dpop.is_none_or(|binding| binding.jkt != bound)
    {
        return Err(RefreshGrantReason::DpopKeyMismatch.into());
    }
    let grace = endpoint.refresh_token_reuse_grace;
    if let Some(reason) = refusal(store, &stored, grace, now).await? {
        return Err(reason.into());
    }
    let mut scopes = granted_scopes(&stored, client, request.scope.as_deref())?;
    let audiences = granted_audiences(&stored, client, &endpoint.issuer, &request.resource)?;
    // Narrowed to registered resources (RFC 8707 §2.2): only the scopes they define
    // (and OpenID Connect scopes) go into this access token; the response says so.
    let registered = registered_resources(endpoint.clients.as_ref(), &request.resource).await?;
    scopes.retain(|s| fits_resources(s, &request.resource, &registered));
    let user = store
        .user_get(&stored.user_id)
        .await?
        .ok_or(RefreshGrantReason::UnknownUser)?;
    if user.disabled_at.is_some() {
        return Err(RefreshGrantReason::UserDisabled.into());
    }

    let tokens = sign_user_tokens(
        endpoint,
        keys,
        UserTokenGrant {
            client,
            user: &user,
            scopes: &scopes,
            audiences,
            auth_time: stored.auth_time,
            // OIDC Core §12.2: "it SHOULD NOT have a nonce Claim".
            nonce: None,
            dpop,
        },
        now,
    )?;
    let access = &tokens.access;
    let successor = mint_refresh_token(
        RefreshTokenGrant {
            family_id: &stored.family_id,
            client_id: &client.client_id,
            user_id: &user.user_id,
            scopes: &stored.scopes,
            resources: &stored.resources,
            auth_time: stored.auth_time,
            // The family keeps its binding (RFC 9449 §5): checked above.
            dpop_jkt: stored.dpop_jkt.as_deref(),
        },
        endpoint.refresh_token_ttl,
        now,
    )?;
    let rotated = store
        .refresh_token_rotate(
            &digest,
            &successor.record,
            now,
            &access.claims.jti,
            access.claims.exp,
        )
        .await?;
    if !rotated {
        return Err(after_lost_rotation(store, &digest, grace, now)
            .await?
            .into());
    }
    Ok(tokens.into_success(
        endpoint,
        &client.client_id,
        user.user_id,
        GrantType::RefreshToken,
        Some(&successor.token),
    ))
}

/// Why this client's `token` cannot be used at `now`, if it cannot: revoked; rotated
/// (a replay: refused within `grace` seconds of the rotation, else the family is
/// revoked, RFC 9700 §4.14.2); expired. `None` if it is live.
async fn refusal(
    store: &dyn Store,
    token: &RefreshToken,
    grace: i64,
    now: UnixTime,
) -> Result<Option<RefreshGrantReason>, StoreError> {
    if token.revoked_at.is_some() {
        return Ok(Some(RefreshGrantReason::Revoked));
    }
    if let Some(rotated_at) = token.rotated_at {
        // Without a grace window every replay revokes, also when this request read its
        // clock before the winner rotated (`now < rotated_at`: a race across a second
        // boundary, or nodes whose clocks differ); with one, that counts as 0 s elapsed.
        if grace > 0 && now.saturating_sub(rotated_at).max(0) < grace {
            return Ok(Some(RefreshGrantReason::ReplayWithinGrace));
        }
        store.refresh_family_revoke(&token.family_id, now).await?;
        return Ok(Some(RefreshGrantReason::ReuseDetected));
    }
    if now >= token.expires_at {
        return Ok(Some(RefreshGrantReason::Expired));
    }
    Ok(None)
}

/// The rotation found the token no longer live although our read said it was:
/// another request rotated it (or revoked its family) in between. Reads it again and
/// refuses as [`refusal`] would, so a lost race is a replay (RFC 9700 §4.14.2: of two
/// parties using one token, at most one may go on).
///
/// # Errors
/// A store failure, or [`StoreError::Other`] if the token reads as live though the
/// store refused to rotate it (a broken store contract).
pub(crate) async fn after_lost_rotation(
    store: &dyn Store,
    digest: &SecretDigest,
    grace: i64,
    now: UnixTime,
) -> Result<RefreshGrantReason, StoreError> {
    let Some(current) = store.refresh_token_get(digest).await? else {
        return Ok(RefreshGrantReason::UnknownToken);
    };
    refusal(store, &current, grace, now).await?.ok_or_else(|| {
        StoreError::Other("refresh_token_rotate refused a token that reads as live".into())
    })
}

/// The scopes of the new access token: the `scope` parameter if sent (each in the
/// original grant, RFC 6749 §6), else the original scopes; then only those the client
/// is still registered for.
fn granted_scopes(
    token: &RefreshToken,
    client: &Client,
    requested: Option<&str>,
) -> Result<BTreeSet<String>, RefreshGrantReason> {
    let wanted = match requested {
        None => token.scopes.iter().cloned().collect(),
        Some(value) => {
            let requested =
                parse_scope(value).map_err(|bad| RefreshGrantReason::MalformedScope(echo(&bad)))?;
            if let Some(extra) = requested.iter().find(|s| !token.scopes.contains(s)) {
                return Err(RefreshGrantReason::ScopeNotGranted(echo(extra)));
            }
            requested
        }
    };
    Ok(wanted
        .into_iter()
        .filter(|s| client.scopes.contains(s))
        .collect())
}

/// `aud` of the new access token: the `resource` parameters if sent (RFC 8707 §2.2:
/// each an absolute URI among the original grant's resources), else as at code
/// redemption.
fn granted_audiences(
    token: &RefreshToken,
    client: &Client,
    issuer: &str,
    requested: &[String],
) -> Result<Vec<String>, RefreshGrantReason> {
    if requested.is_empty() {
        return Ok(access_token_audiences(&token.resources, client, issuer));
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for resource in requested {
        check_resource_uri(resource)
            .map_err(|_| RefreshGrantReason::MalformedResource(echo(resource)))?;
        if !token.resources.contains(resource) {
            return Err(RefreshGrantReason::ResourceNotGranted(echo(resource)));
        }
        if !out.contains(resource) {
            out.push(resource.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
