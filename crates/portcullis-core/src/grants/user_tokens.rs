//! What the grants that act for a user (authorization code, refresh token, device
//! code) share when they sign tokens: the access token's `aud` and extra claims, the
//! id_token for `openid`, and the token response.

use super::context::{TokenEndpoint, TokenSuccess};
use crate::UnixTime;
use crate::client::Client;
use crate::dpop::DpopBinding;
use crate::keys::{KeyRing, KeyRingError};
use crate::scope::join_scope;
use crate::tokens::access_token::{AccessTokenGrant, IssuedAccessToken, mint};
use crate::tokens::id_token::{IdTokenGrant, mint_id_token};
use crate::user::User;
use portcullis_proto::grant::GrantType;
use portcullis_proto::routes;
use portcullis_proto::token::TokenResponse;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// `aud` of a user's access token: the granted resources (RFC 8707 §2.2), else the
/// client's first audience, else our UserInfo endpoint (a token that only serves
/// UserInfo, RFC 9068 §2.2 requires an `aud`).
pub(crate) fn access_token_audiences(
    resources: &[String],
    client: &Client,
    issuer: &str,
) -> Vec<String> {
    if !resources.is_empty() {
        return resources.to_vec();
    }
    match client.audiences.first() {
        Some(first) => vec![first.clone()],
        None => vec![format!("{issuer}{}", routes::USERINFO)],
    }
}

/// Extra claims of a user's access token: the client's `claims`, then the user's on
/// top (claims about the token's subject come from the subject's record, so the user
/// wins a name both set).
pub(crate) fn user_extra_claims(client: &Client, user: &User) -> Map<String, Value> {
    let mut extra = client.claims.clone();
    extra.extend(user.claims.clone());
    extra
}

/// What a grant acting for a user signs: for which client and user, which scopes and
/// audiences, and the login it rests on.
pub(crate) struct UserTokenGrant<'a> {
    /// The client the tokens are issued to.
    pub client: &'a Client,
    /// The user (`sub`).
    pub user: &'a User,
    /// The scopes of the access token; `openid` among them adds an id_token.
    pub scopes: &'a BTreeSet<String>,
    /// `aud` of the access token (see [`access_token_audiences`]).
    pub audiences: Vec<String>,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// The id_token's `nonce`: the authorization request's, or `None` (refresh, device).
    pub nonce: Option<&'a str>,
    /// RFC 9449 §6.1: the DPoP key of the request's proof; the access token is bound to
    /// it (`cnf.jkt`, `token_type` DPoP).
    pub dpop: Option<&'a DpopBinding>,
}

/// The signed tokens of a [`UserTokenGrant`], not yet returned.
pub(crate) struct SignedUserTokens {
    /// The access token and its claims (`jti`, `exp` go to the store).
    pub access: IssuedAccessToken,
    /// The space-delimited `scope` of the response.
    pub scope: Option<String>,
    /// The id_token, when `openid` is among the scopes.
    pub id_token: Option<String>,
}

/// Signs the access token (RFC 9068: `sub` = the user, extra claims from
/// [`user_extra_claims`]) and, for `openid`, the id_token (OIDC Core §3.1.3.3, with
/// `auth_time`, the grant's `nonce` and `at_hash`), both signed with `keys` and valid
/// from `now` for the endpoint's lifetimes. Writes nothing.
///
/// # Errors
/// [`KeyRingError`] if signing fails.
pub(crate) fn sign_user_tokens(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    grant: UserTokenGrant<'_>,
    now: UnixTime,
) -> Result<SignedUserTokens, KeyRingError> {
    let scope = join_scope(grant.scopes);
    let access = mint(
        keys,
        &endpoint.issuer,
        endpoint.access_token_ttl,
        now,
        AccessTokenGrant {
            subject: &grant.user.user_id,
            client_id: &grant.client.client_id,
            audiences: grant.audiences,
            scope: scope.clone(),
            extra: user_extra_claims(grant.client, grant.user),
            dpop_jkt: grant.dpop.map(|binding| binding.jkt.as_str()),
        },
    )?;
    let id_token = if grant.scopes.contains(OPENID) {
        Some(mint_id_token(
            keys,
            &endpoint.issuer,
            endpoint.id_token_ttl,
            now,
            IdTokenGrant {
                client: grant.client,
                user: grant.user,
                auth_time: grant.auth_time,
                nonce: grant.nonce,
                access_token: Some(&access.token),
                scopes: grant.scopes,
            },
        )?)
    } else {
        None
    };
    Ok(SignedUserTokens {
        access,
        scope,
        id_token,
    })
}

impl SignedUserTokens {
    /// The RFC 6749 §5.1 success: `token_type` Bearer, or DPoP for a DPoP-bound access
    /// token (RFC 9449 §5), `expires_in` the access token lifetime in seconds,
    /// `refresh_token` if one was issued.
    pub(crate) fn into_success(
        self,
        endpoint: &TokenEndpoint,
        client_id: &str,
        subject: String,
        grant_type: GrantType,
        refresh_token: Option<&SecretString>,
    ) -> TokenSuccess {
        TokenSuccess {
            response: TokenResponse {
                token_type: token_type(self.access.claims.cnf.is_some()).to_owned(),
                access_token: self.access.token,
                expires_in: u64::try_from(endpoint.access_token_ttl).unwrap_or(0),
                scope: self.scope,
                refresh_token: refresh_token.map(|t| t.expose_secret().to_owned()),
                id_token: self.id_token,
            },
            client_id: client_id.to_owned(),
            subject,
            grant_type,
            jti: self.access.claims.jti,
        }
    }
}

/// RFC 9449 §5 / RFC 6750 §6.1.1 `token_type` of a token response: `DPoP` for an
/// access token bound to a DPoP key, `Bearer` otherwise.
pub(crate) fn token_type(dpop_bound: bool) -> &'static str {
    if dpop_bound { "DPoP" } else { "Bearer" }
}

/// The OpenID Connect scope (OIDC Core §3.1.2.1): asks for an id_token.
const OPENID: &str = "openid";
