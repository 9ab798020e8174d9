//! RFC 7662 token introspection: whether a token is active, and what it says, for an
//! authenticated client.
//!
//! **Who may see what** (RFC 7662 §4 leaves it to the server; RFC 7662 §2.2 says the
//! server may answer `active: false` for a token the caller may not see):
//!
//! - a client sees the tokens issued **to it** (`client_id`), access and refresh;
//! - a client registered as a resource server sees the **access tokens** whose `aud`
//!   includes one of its `introspection_audiences` (the APIs it serves);
//! - refresh tokens are seen only by their own client (why: they are credentials of
//!   that client alone; no resource server ever receives one);
//! - the caller must be confidential (the server authenticates it with
//!   [`crate::client::authentication::PublicClients::Refused`]); a public caller that
//!   got here anyway sees nothing (why: a public client's id is no credential, and
//!   RFC 7662 §4 warns against letting anyone scan for tokens).
//!
//! Everything else — garbage, a token of another issuer, expired, revoked, rotated,
//! of a deleted user, or not visible to the caller — is exactly `{"active": false}`,
//! with no reason on the wire (why: RFC 7662 §2.2 and §4: the answer must not help
//! an attacker tell an invalid token from one it may not see).

use crate::UnixTime;
use crate::client::Client;
use crate::client::authentication::AuthenticatedClient;
use crate::grants::user_tokens::access_token_audiences;
use crate::scope::join_scope;
use crate::secret::SecretDigest;
use crate::store::{Store, StoreError};
use crate::tokens::access_token::AccessTokenVerifier;
use portcullis_proto::claims::{AccessTokenClaims, Audience, Confirmation};
use portcullis_proto::introspection::IntrospectionResponse;

/// RFC 7662 §2.1–2.2: introspects `token` for `caller` at `now`. `hint`
/// (`token_type_hint`) only orders the attempts: `refresh_token` tries the refresh
/// token lookup first, anything else the access token first; both are always tried
/// (§2.1: "MUST extend its search across all of its supported token types").
///
/// An access token (RFC 9068 JWT) is active when its signature, `typ: at+jwt`, `iss`
/// and `exp` verify (`tokens`: [`AccessTokenVerifier`], which also refuses `crit`, and
/// `nbf` or `iat` in the future), its `jti` is not revoked, and its user (for a user's
/// token) exists; the answer has `scope`, `client_id`, `sub`, `aud`, `iss`, `exp`,
/// `iat`, `jti` and `token_type: Bearer`. A refresh token is active when it is live
/// (not rotated, not revoked, `now < expires_at`) and its user exists; the answer has
/// `scope` (the original grant), `client_id`, `sub`, `aud` (its resources, omitted if
/// none), `iss`, `exp`, `iat` (when it was issued) and `token_type: refresh_token`.
/// Visibility: see the module documentation.
///
/// # Errors
/// Only store failures; every refusal is [`IntrospectionResponse::inactive`].
pub async fn introspect(
    tokens: &dyn AccessTokenVerifier,
    store: &dyn Store,
    issuer: &str,
    caller: &AuthenticatedClient,
    token: &str,
    hint: Option<&str>,
    now: UnixTime,
) -> Result<IntrospectionResponse, StoreError> {
    let caller = caller.client();
    if caller.is_public() {
        return Ok(IntrospectionResponse::inactive());
    }
    let refresh_first = hint == Some(REFRESH_TOKEN_HINT);
    let answer = if refresh_first {
        match as_refresh_token(store, issuer, caller, token, now).await? {
            Some(answer) => Some(answer),
            None => as_access_token(tokens, store, issuer, caller, token, now).await?,
        }
    } else {
        match as_access_token(tokens, store, issuer, caller, token, now).await? {
            Some(answer) => Some(answer),
            None => as_refresh_token(store, issuer, caller, token, now).await?,
        }
    };
    Ok(answer.unwrap_or_else(IntrospectionResponse::inactive))
}

/// The answer for a live access token `caller` may see; `None` otherwise.
async fn as_access_token(
    tokens: &dyn AccessTokenVerifier,
    store: &dyn Store,
    issuer: &str,
    caller: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Option<IntrospectionResponse>, StoreError> {
    let Ok(claims) = tokens.verify(issuer, token, now) else {
        return Ok(None);
    };
    if !may_see_access_token(caller, &claims) || store.access_token_is_revoked(&claims.jti).await? {
        return Ok(None);
    }
    // A client credentials token has the client as `sub` (RFC 9068 §2.2); client ids
    // are never UUIDs, so no user can share it. A user's token dies with the user.
    let is_user_token = claims.sub != claims.client_id;
    // A disabled user's tokens are inactive too.
    if is_user_token && !enabled_user(store, &claims.sub).await? {
        return Ok(None);
    }
    // A deleted client's tokens die with it (the caller itself exists: it authenticated).
    if claims.client_id != caller.client_id && store.client_get(&claims.client_id).await?.is_none()
    {
        return Ok(None);
    }
    Ok(Some(IntrospectionResponse {
        active: true,
        scope: claims.scope,
        client_id: Some(claims.client_id),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        token_type: Some(if claims.cnf.is_some() { DPOP } else { BEARER }.to_owned()),
        jti: Some(claims.jti),
        cnf: claims.cnf,
    }))
}

/// The answer for a live refresh token of `caller`; `None` otherwise.
async fn as_refresh_token(
    store: &dyn Store,
    issuer: &str,
    caller: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Option<IntrospectionResponse>, StoreError> {
    let Some(stored) = store.refresh_token_get(&SecretDigest::of(token)).await? else {
        return Ok(None);
    };
    if stored.client_id != caller.client_id || !stored.is_live(now) {
        return Ok(None);
    }
    if !enabled_user(store, &stored.user_id).await? {
        return Ok(None);
    }
    // The audience of the access tokens this refresh token mints (same rule as the
    // grants: its resources, else the client's first audience, else UserInfo).
    let aud = Some(Audience::from_list(access_token_audiences(
        &stored.resources,
        caller,
        issuer,
    )));
    Ok(Some(IntrospectionResponse {
        active: true,
        scope: join_scope(&stored.scopes),
        client_id: Some(stored.client_id),
        sub: Some(stored.user_id),
        aud,
        iss: Some(issuer.to_owned()),
        exp: Some(stored.expires_at),
        iat: Some(stored.created_at),
        token_type: Some(REFRESH_TOKEN_TYPE.to_owned()),
        jti: None,
        cnf: stored.dpop_jkt.map(|jkt| Confirmation { jkt }),
    }))
}

/// Whether `caller` may see this access token: it was issued to the caller, or its
/// `aud` names an API the caller serves (`introspection_audiences`).
fn may_see_access_token(caller: &Client, claims: &AccessTokenClaims) -> bool {
    if claims.client_id == caller.client_id {
        return true;
    }
    let audiences: &[String] = match &claims.aud {
        Audience::One(one) => std::slice::from_ref(one),
        Audience::Many(many) => many,
    };
    audiences
        .iter()
        .any(|aud| caller.introspection_audiences.contains(aud))
}

/// RFC 7009 §2.1 / RFC 7662 §2.1 `token_type_hint` value for refresh tokens.
pub(crate) const REFRESH_TOKEN_HINT: &str = "refresh_token";
/// `token_type` of an access token (RFC 6750).
const BEARER: &str = "Bearer";
/// `token_type` of a DPoP-bound access token (RFC 9449 §6.2).
const DPOP: &str = "DPoP";
/// `token_type` of a refresh token (RFC 7662 §2.2 leaves the value to the server;
/// RFC 7009 §2.1 names the type `refresh_token`).
const REFRESH_TOKEN_TYPE: &str = "refresh_token";

/// Whether `user_id` exists and is not disabled.
async fn enabled_user(store: &dyn Store, user_id: &str) -> Result<bool, StoreError> {
    Ok(store
        .user_get(user_id)
        .await?
        .is_some_and(|u| u.disabled_at.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::request::StoredAuthorizationRequest;
    use crate::grants::fixture::*;
    use crate::tokens::access_token::{AccessTokenGrant, mint};
    use portcullis_proto::token::TokenRequest;
    use serde_json::{Map, json};

    /// The `aud` of a JWT, read without verification (the test minted it).
    fn unverified_aud(jwt: &str) -> Audience {
        use base64::Engine;
        let payload = jwt.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        serde_json::from_value(claims["aud"].clone()).unwrap()
    }

    /// `cli` logged in with offline_access and the API as resource: (access token,
    /// its jti, refresh token).
    async fn cli_tokens(f: &Fixture) -> (String, String, String) {
        let issued = f
            .login_cli(&["openid", "offline_access", "read"], &[API])
            .await;
        (
            issued.response.access_token,
            issued.jti,
            issued.response.refresh_token.unwrap(),
        )
    }

    async fn ask(
        f: &Fixture,
        caller: &str,
        token: &str,
        hint: Option<&str>,
        now: UnixTime,
    ) -> IntrospectionResponse {
        let caller = f.authenticated(caller).await;
        introspect(&f.ring, &*f.store, ISS, &caller, token, hint, now)
            .await
            .unwrap()
    }

    fn wire(answer: &IntrospectionResponse) -> serde_json::Value {
        serde_json::to_value(answer).unwrap()
    }

    #[tokio::test]
    async fn a_live_access_token_is_active_for_its_own_client() {
        let f = Fixture::new().await;
        let code = f.code(&web_request()).await;
        let issued = f
            .redeem_web(TokenRequest {
                code: Some(code),
                ..Default::default()
            })
            .await
            .unwrap();
        let answer = ask(&f, "web", &issued.response.access_token, None, NOW + 1).await;
        assert_eq!(
            wire(&answer),
            json!({
                "active": true,
                "scope": "email openid",
                "client_id": "web",
                "sub": SUB,
                "aud": format!("{ISS}/userinfo"),
                "iss": ISS,
                "exp": NOW + ACCESS_TTL,
                "iat": NOW,
                "token_type": "Bearer",
                "jti": issued.jti,
            })
        );
    }

    #[tokio::test]
    async fn a_resource_server_sees_access_tokens_for_its_audience() {
        let f = Fixture::new().await;
        let (access, jti, _) = cli_tokens(&f).await;
        let answer = ask(&f, "api", &access, Some("access_token"), NOW).await;
        assert!(answer.active);
        assert_eq!(answer.client_id.as_deref(), Some("cli"));
        assert_eq!(answer.aud, Some(Audience::One(API.into())));
        assert_eq!(answer.jti, Some(jti));
    }

    #[tokio::test]
    async fn a_client_credentials_token_is_active() {
        let f = Fixture::new().await;
        let issued = mint(
            &f.ring,
            ISS,
            ACCESS_TTL,
            NOW,
            AccessTokenGrant {
                subject: "svc",
                client_id: "svc",
                audiences: vec![API.into()],
                scope: Some("read".into()),
                extra: Map::new(),
                dpop_jkt: None,
            },
        )
        .unwrap();
        for caller in ["svc", "api"] {
            let answer = ask(&f, caller, &issued.token, None, NOW).await;
            assert_eq!(answer.sub.as_deref(), Some("svc"), "{caller}");
        }
    }

    #[tokio::test]
    async fn a_live_refresh_token_is_active_for_its_own_client() {
        let f = Fixture::new().await;
        let request = validated(StoredAuthorizationRequest {
            resources: vec![API.into()],
            ..web_stored()
        });
        let code = f.code(&request).await;
        let issued = f
            .redeem_web(TokenRequest {
                code: Some(code),
                ..Default::default()
            })
            .await
            .unwrap();
        let refresh = issued.response.refresh_token.unwrap();
        let expected = json!({
            "active": true,
            "scope": "email openid",
            "client_id": "web",
            "sub": SUB,
            "aud": API,
            "iss": ISS,
            "exp": NOW + REFRESH_TTL,
            "iat": NOW,
            "token_type": "refresh_token",
        });
        // The hint only orders the attempts: any hint finds it.
        for hint in [None, Some("refresh_token"), Some("access_token"), Some("x")] {
            let answer = ask(&f, "web", &refresh, hint, NOW + 1).await;
            assert_eq!(wire(&answer), expected, "{hint:?}");
        }
    }

    #[tokio::test]
    async fn a_refresh_token_without_resources_names_the_audience_of_its_access_tokens() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let refresh = issued.response.refresh_token.unwrap();
        for hint in [None, Some("refresh_token"), Some("access_token")] {
            let answer = ask(&f, "web", &refresh, hint, NOW).await;
            assert!(answer.active);
            let access = unverified_aud(&issued.response.access_token);
            assert_eq!(answer.aud, Some(access));
            assert_eq!(answer.token_type.as_deref(), Some("refresh_token"));
            assert_eq!(answer.scope.as_deref(), Some("email openid"));
        }
    }

    #[tokio::test]
    async fn rejects_garbage() {
        let f = Fixture::new().await;
        for garbage in ["", "abc", "a.b.c", "e30.e30.e30"] {
            let answer = ask(&f, "web", garbage, None, NOW).await;
            assert_eq!(wire(&answer), json!({"active": false}), "{garbage}");
        }
    }

    #[tokio::test]
    async fn rejects_an_expired_access_token() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let token = issued.response.access_token;
        let exp = NOW + ACCESS_TTL;
        assert!(ask(&f, "web", &token, None, exp - 1).await.active);
        for now in [exp, exp + 1] {
            let answer = ask(&f, "web", &token, None, now).await;
            assert_eq!(wire(&answer), json!({"active": false}));
        }
    }

    #[tokio::test]
    async fn rejects_a_revoked_access_token() {
        let f = Fixture::new().await;
        let (access, jti, _) = cli_tokens(&f).await;
        f.store
            .access_token_revoke(&jti, NOW + ACCESS_TTL)
            .await
            .unwrap();
        assert_eq!(
            ask(&f, "api", &access, None, NOW).await,
            IntrospectionResponse::inactive()
        );
    }

    #[tokio::test]
    async fn rejects_an_access_token_for_another_audience() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        // `web`'s token is for UserInfo; `api` serves only the API.
        let answer = ask(&f, "api", &issued.response.access_token, None, NOW).await;
        assert_eq!(answer, IntrospectionResponse::inactive());
        // Nor may a client see another client's token.
        let (access, _, _) = cli_tokens(&f).await;
        assert_eq!(
            ask(&f, "web", &access, None, NOW).await,
            IntrospectionResponse::inactive()
        );
    }

    #[tokio::test]
    async fn rejects_an_access_token_of_a_deleted_user() {
        let f = Fixture::new().await;
        let (access, _, _) = cli_tokens(&f).await;
        f.store.user_delete("alice").await.unwrap();
        assert_eq!(
            ask(&f, "api", &access, None, NOW).await,
            IntrospectionResponse::inactive()
        );
    }

    #[tokio::test]
    async fn rejects_an_access_token_of_a_deleted_client() {
        let f = Fixture::new().await;
        let (access, _, _) = cli_tokens(&f).await;
        assert!(ask(&f, "api", &access, None, NOW).await.active);
        f.store.client_delete("cli").await.unwrap();
        assert_eq!(
            ask(&f, "api", &access, None, NOW).await,
            IntrospectionResponse::inactive()
        );
    }

    #[tokio::test]
    async fn rejects_an_access_token_of_another_issuer() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let caller = f.authenticated("web").await;
        let answer = introspect(
            &f.ring,
            &*f.store,
            "https://other.example",
            &caller,
            &issued.response.access_token,
            None,
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(answer, IntrospectionResponse::inactive());
    }

    #[tokio::test]
    async fn rejects_a_refresh_token_of_another_client() {
        let f = Fixture::new().await;
        let (_, _, refresh) = cli_tokens(&f).await;
        // Not even a resource server for its audience may see a refresh token.
        for caller in ["api", "web"] {
            let answer = ask(&f, caller, &refresh, Some("refresh_token"), NOW).await;
            assert_eq!(answer, IntrospectionResponse::inactive(), "{caller}");
        }
    }

    #[tokio::test]
    async fn rejects_an_expired_refresh_token() {
        let f = Fixture::new().await;
        let refresh = f.login_web().await.response.refresh_token.unwrap();
        let exp = NOW + REFRESH_TTL;
        assert!(ask(&f, "web", &refresh, None, exp - 1).await.active);
        for now in [exp, exp + 1] {
            let answer = ask(&f, "web", &refresh, None, now).await;
            assert_eq!(wire(&answer), json!({"active": false}));
        }
    }

    #[tokio::test]
    async fn rejects_a_rotated_refresh_token() {
        let f = Fixture::new().await;
        let refresh = f.login_web().await.response.refresh_token.unwrap();
        let successor = f.refresh_web(&refresh, NOW + 1).await.unwrap();
        assert_eq!(
            ask(&f, "web", &refresh, Some("refresh_token"), NOW + 1).await,
            IntrospectionResponse::inactive()
        );
        let successor = successor.response.refresh_token.unwrap();
        assert!(ask(&f, "web", &successor, None, NOW + 1).await.active);
    }

    #[tokio::test]
    async fn rejects_a_revoked_refresh_token_and_the_access_tokens_of_its_family() {
        let f = Fixture::new().await;
        let issued = f.login_web().await;
        let refresh = issued.response.refresh_token.unwrap();
        let family = f
            .store
            .refresh_token_get(&SecretDigest::of(&refresh))
            .await
            .unwrap()
            .unwrap()
            .family_id;
        f.store.refresh_family_revoke(&family, NOW).await.unwrap();
        for token in [&refresh, &issued.response.access_token] {
            assert_eq!(
                ask(&f, "web", token, None, NOW).await,
                IntrospectionResponse::inactive()
            );
        }
    }

    #[tokio::test]
    async fn rejects_a_refresh_token_of_a_deleted_user() {
        let f = Fixture::new().await;
        let refresh = f.login_web().await.response.refresh_token.unwrap();
        f.store.user_delete("alice").await.unwrap();
        assert_eq!(
            ask(&f, "web", &refresh, None, NOW).await,
            IntrospectionResponse::inactive()
        );
    }

    #[tokio::test]
    async fn rejects_a_public_caller() {
        let f = Fixture::new().await;
        let (access, _, _) = cli_tokens(&f).await;
        // Its own token: still inactive, a public client may not introspect.
        assert_eq!(
            ask(&f, "cli", &access, None, NOW).await,
            IntrospectionResponse::inactive()
        );
    }
}
