//! RFC 6749 §6 refresh tokens with rotation and reuse detection (RFC 9700 §4.14.2):
//! 256-bit random, stored as a SHA-256 digest, bound to the client, the user, the
//! granted scopes and resources. Every token belongs to a *family*: all the tokens
//! descended from one authorization. Using a token rotates it (exactly one successor);
//! presenting a rotated token again revokes the whole family.

use crate::UnixTime;
use crate::client::Client;
use crate::secret::{RandomUnavailable, SecretDigest, generate_secret};
use crate::store::StoreError;
use async_trait::async_trait;
use portcullis_proto::grant::GrantType;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeSet;

/// Whether an authorization that granted `scopes` to `client` comes with a refresh
/// token (at code redemption; the device grant will apply the same rule).
///
/// The client must be registered for the `refresh_token` grant, and then:
///
/// - a plain OAuth request (no `openid`) gets one: RFC 6749 §6 leaves it to the server,
///   and the client asked for the grant at registration;
/// - an OpenID request gets one if `offline_access` was granted (OIDC Core §11: that
///   scope is how a relying party asks for access while the user is not present);
/// - or if the client is confidential: it keeps the token server-side and must
///   authenticate to use it, so a leaked token alone is useless (a common OP choice).
///
/// So a public OpenID client (a SPA, a native app) must ask for `offline_access`,
/// which the user sees on the consent page (why: a refresh token in a public client
/// is a bearer credential that outlives the login; the user should agree to it).
pub fn issues_refresh_token(client: &Client, scopes: &BTreeSet<String>) -> bool {
    client.allows_grant(GrantType::RefreshToken)
        && (!scopes.contains(OPENID) || scopes.contains(OFFLINE_ACCESS) || !client.is_public())
}

/// RFC 9449 §5: the DPoP key a new refresh token is bound to: a public client's is
/// bound to the key of the request's proof (it has no other binding: anyone holding
/// the token could use it); a confidential client's stays bound to the client's
/// authentication, as without DPoP.
pub fn public_refresh_binding<'a>(
    client: &Client,
    dpop: Option<&'a crate::dpop::DpopBinding>,
) -> Option<&'a str> {
    if client.is_public() {
        dpop.map(|binding| binding.jkt.as_str())
    } else {
        None
    }
}

/// What a new refresh token is bound to.
#[derive(Debug, Clone, Copy)]
pub struct RefreshTokenGrant<'a> {
    /// The family ([`family_of_code`] for the first token of a code; the predecessor's
    /// family on rotation).
    pub family_id: &'a str,
    /// The client it is issued to.
    pub client_id: &'a str,
    /// The user (`sub`).
    pub user_id: &'a str,
    /// The scopes of the original grant (stored sorted, without repeats).
    pub scopes: &'a [String],
    /// The resources of the original grant (RFC 8707).
    pub resources: &'a [String],
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// RFC 9449 §5: the DPoP key (JWK thumbprint) a public client's token is bound to;
    /// `None` for a confidential client's (bound to the client) or without a proof.
    pub dpop_jkt: Option<&'a str>,
}

/// A new refresh token: the secret for the client, and the record to store.
pub struct IssuedRefreshToken {
    /// The token, returned once in the token response and never stored.
    pub token: SecretString,
    /// What the store keeps: the digest and the binding.
    pub record: RefreshToken,
}

impl std::fmt::Debug for IssuedRefreshToken {
    /// Shows the record only; the token is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedRefreshToken")
            .field("token", &"[redacted]")
            .field("record", &self.record)
            .finish()
    }
}

/// Generates a refresh token for `grant`: 256 bits from the CSPRNG (RFC 6749 §10.10),
/// valid from `now` for `ttl` seconds; only its SHA-256 digest goes to the store (why:
/// a database leak must not yield usable refresh tokens).
///
/// # Errors
/// [`RandomUnavailable`] if the CSPRNG fails.
pub fn mint_refresh_token(
    grant: RefreshTokenGrant<'_>,
    ttl: i64,
    now: UnixTime,
) -> Result<IssuedRefreshToken, RandomUnavailable> {
    let token = generate_secret()?;
    let scopes: BTreeSet<&String> = grant.scopes.iter().collect();
    let record = RefreshToken {
        token_digest: SecretDigest::of(token.expose_secret()),
        family_id: grant.family_id.to_owned(),
        client_id: grant.client_id.to_owned(),
        user_id: grant.user_id.to_owned(),
        scopes: scopes.into_iter().cloned().collect(),
        resources: grant.resources.to_vec(),
        auth_time: grant.auth_time,
        created_at: now,
        expires_at: now.saturating_add(ttl),
        rotated_at: None,
        revoked_at: None,
        dpop_jkt: grant.dpop_jkt.map(str::to_owned),
    };
    Ok(IssuedRefreshToken { token, record })
}

/// A refresh token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_digest: SecretDigest,
    /// The family: every token descended from one authorization shares it. For a
    /// family started by an authorization code it is [`family_of_code`] of that code.
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user (`sub`).
    pub user_id: String,
    /// Scopes of the original grant, sorted: the most any refresh may ask for.
    pub scopes: Vec<String>,
    /// Resources of the original grant (RFC 8707), the access tokens' `aud`.
    pub resources: Vec<String>,
    /// When the user authenticated (OIDC `auth_time`, kept in refreshed id_tokens).
    pub auth_time: UnixTime,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch; using it at or after this time fails.
    pub expires_at: UnixTime,
    /// When it was used and replaced by its successor; `None` while it is live.
    pub rotated_at: Option<UnixTime>,
    /// When its family was revoked (reuse, revocation, code replay); `None` otherwise.
    pub revoked_at: Option<UnixTime>,
    /// RFC 9449 §5: the DPoP key (base64url JWK SHA-256 thumbprint) it is bound to:
    /// using it needs a proof of that key. `None`: bound to the client only.
    pub dpop_jkt: Option<String>,
}

/// The family id of the refresh tokens issued from an authorization code: the hex
/// SHA-256 digest of the code, so a replay of the code (RFC 6749 §4.1.2) finds and
/// revokes them without storing anything more on the code.
pub fn family_of_code(code_digest: &SecretDigest) -> String {
    code_digest
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RefreshToken {
    /// Whether it can be used at `now`: not rotated, not revoked, `now < expires_at`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.rotated_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

/// The `refresh_tokens` table, and `family_access_tokens`: the access tokens issued
/// in each family, revoked with it.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores the first refresh token of a family on its own (the grants store theirs
    /// with the consume of their code,
    /// [`AuthorizationCodeStore::authorization_code_consume`] and
    /// [`DeviceAuthorizationStore::device_authorization_consume`]), and records
    /// `access_token_jti` (valid until `access_token_expires_at`) as issued in that
    /// family, so revoking the family revokes it. One transaction.
    /// [`StoreError::Conflict`] if the digest exists.
    ///
    /// [`AuthorizationCodeStore::authorization_code_consume`]: crate::authorization::code::AuthorizationCodeStore::authorization_code_consume
    /// [`DeviceAuthorizationStore::device_authorization_consume`]: crate::device::DeviceAuthorizationStore::device_authorization_consume
    async fn refresh_token_insert(
        &self,
        token: &RefreshToken,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The refresh token with this digest, whatever its state.
    async fn refresh_token_get(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<RefreshToken>, StoreError>;
    /// Rotation, in one transaction: marks `old` rotated (`rotated_at = now`) only if it
    /// is live (`rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now`, one
    /// conditional UPDATE), then inserts `successor` (same family) and records
    /// `access_token_jti` in the family. `true` for exactly one of racing callers;
    /// `false` (nothing written) when `old` was not live. [`StoreError::Other`]
    /// (nothing written) if `successor` is not in the family of `old`. Serialised with
    /// [`RefreshTokenStore::refresh_family_revoke`] of the same family, so a revoke
    /// never misses a successor committed while it runs.
    async fn refresh_token_rotate(
        &self,
        old: &SecretDigest,
        successor: &RefreshToken,
        now: UnixTime,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Revokes a family in one transaction: every refresh token of it gets
    /// `revoked_at = now` (those already revoked keep theirs), and every access token
    /// recorded in it goes on the revocation list until its `exp`. Returns how many
    /// refresh tokens were newly revoked. Idempotent.
    async fn refresh_family_revoke(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// The family an access token was issued in, if it was recorded in one.
    async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError>;
    /// The live families (those with a refresh token not revoked and `now <
    /// expires_at`), of `user_id` and of `client_id` when given, oldest first: what an
    /// administrator sees and what incident response revokes.
    async fn refresh_family_list(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<RefreshFamily>, StoreError>;
}

/// A live refresh token family, summarised ([`RefreshTokenStore::refresh_family_list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    /// The family id (for a family started by a code, the code's hex digest).
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user (`sub`).
    pub user_id: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// When the user authenticated (OIDC `auth_time`), seconds since the epoch: the
    /// same as the browser session's that authorized it.
    pub auth_time: UnixTime,
    /// When its first refresh token was issued, seconds since the epoch.
    pub created_at: UnixTime,
    /// When its newest refresh token was issued (its last use), seconds since the epoch.
    pub last_used_at: UnixTime,
    /// How many access tokens recorded in it are not yet expired at `now`.
    pub live_access_tokens: u64,
}

/// The OpenID Connect scope (OIDC Core §3.1.2.1).
const OPENID: &str = "openid";
/// OIDC Core §11: the scope that asks for a refresh token in an OpenID request.
const OFFLINE_ACCESS: &str = "offline_access";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientRegistration, RecordSource};

    const NOW: UnixTime = 1_800_000_000;

    fn client(confidential: bool, grants: &[&str]) -> Client {
        ClientRegistration {
            client_id: "app".into(),
            client_secret: confidential
                .then(|| SecretString::from("0123456789abcdef0123456789abcdef")),
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: Some(grants.iter().map(|g| (*g).to_owned()).collect()),
            scopes: vec!["openid".into()],
            ..Default::default()
        }
        .validate(RecordSource::Config, 0)
        .unwrap()
    }

    fn scopes(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn issuance_rule() {
        let both = ["authorization_code", "refresh_token"];
        let public = client(false, &both);
        let confidential = client(true, &both);
        // Plain OAuth: any client with the grant.
        assert!(issues_refresh_token(&public, &scopes(&["read"])));
        assert!(issues_refresh_token(&confidential, &scopes(&["read"])));
        // OpenID: offline_access, or a confidential client.
        assert!(!issues_refresh_token(&public, &scopes(&["openid", "read"])));
        assert!(issues_refresh_token(
            &public,
            &scopes(&["openid", "offline_access"])
        ));
        assert!(issues_refresh_token(&confidential, &scopes(&["openid"])));
        // Never without the grant.
        let no_grant = client(true, &["authorization_code"]);
        assert!(!issues_refresh_token(
            &no_grant,
            &scopes(&["openid", "offline_access"])
        ));
        assert!(!issues_refresh_token(&no_grant, &scopes(&["read"])));
    }

    #[test]
    fn minted_tokens_are_random_stored_as_digests_and_sorted() {
        let scopes = ["read".to_owned(), "openid".to_owned(), "read".to_owned()];
        let grant = RefreshTokenGrant {
            family_id: "f1",
            client_id: "app",
            user_id: "u1",
            scopes: &scopes,
            resources: &["https://api.example".to_owned()],
            auth_time: NOW - 5,
            dpop_jkt: None,
        };
        let a = mint_refresh_token(grant, 100, NOW).unwrap();
        let b = mint_refresh_token(grant, 100, NOW).unwrap();
        assert_eq!(a.token.expose_secret().len(), 43);
        assert_ne!(a.token.expose_secret(), b.token.expose_secret());
        assert!(a.record.token_digest.matches(a.token.expose_secret()));
        assert_eq!(a.record.scopes, ["openid", "read"]);
        assert_eq!(
            (a.record.created_at, a.record.expires_at, a.record.auth_time),
            (NOW, NOW + 100, NOW - 5)
        );
        assert!(!format!("{a:?}").contains(a.token.expose_secret()));
    }

    #[test]
    fn liveness_steps_over_expiry() {
        let grant = RefreshTokenGrant {
            family_id: "f1",
            client_id: "app",
            user_id: "u1",
            scopes: &[],
            resources: &[],
            auth_time: NOW,
            dpop_jkt: None,
        };
        let mut token = mint_refresh_token(grant, 100, NOW).unwrap().record;
        assert!(token.is_live(NOW + 99));
        assert!(!token.is_live(NOW + 100));
        assert!(!token.is_live(NOW + 101));
        token.rotated_at = Some(NOW);
        assert!(!token.is_live(NOW));
        token.rotated_at = None;
        token.revoked_at = Some(NOW);
        assert!(!token.is_live(NOW));
    }
}
