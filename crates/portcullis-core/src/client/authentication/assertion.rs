//! RFC 7523 §2.2 and §3, RFC 7521 §4.2, OIDC Core §9: `private_key_jwt` client
//! authentication. The client sends `client_assertion_type =
//! urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion`, a
//! JWT it signed with one of its registered keys ([`ClientJwks`]); the server checks
//! the signature, `iss` = `sub` = `client_id`, `aud`, `exp` (required, bounded), `nbf`
//! and `iat` (with skew), and records `jti` so that it is accepted once across every
//! node ([`ClientAssertionStore`]).
//!
//! Every failure has its own [`ClientAssertionReason`] (audit log); on the wire all of
//! them are one generic 401 `invalid_client` (RFC 7521 §4.2.1), so that no answer tells
//! a caller which check it failed.

use super::{AuthenticatedClient, ClientAuthReason, ClientDirectory};
use crate::UnixTime;
use crate::client::ClientProfile;
use crate::client::jwks::{
    ASSERTION_SIGNING_ALGORITHMS, KeyRefresh, RemoteClientKeys, key_permits,
};
use crate::client::{Client, ClientJwks};
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_proto::grant::TokenEndpointAuthMethod;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Default bound on how far ahead an assertion's `exp` may lie, in seconds: one hour
/// (authlib, a common client, signs one-hour assertions by default). A short bound
/// keeps the `jti` replay record small and a stolen assertion short-lived; a FAPI 2.0
/// profile may narrow it.
pub const MAX_ASSERTION_LIFETIME_SECONDS: i64 = 3600;

/// Which `aud` values an assertion may carry.
///
/// RFC 7523 §3 asked for the authorization server's identity and allowed the token
/// endpoint URL, and OIDC Core §9 recommended the token endpoint URL; the audience
/// injection attack (an assertion a client made for one server is replayed at another
/// that shares the same endpoint value) led draft-ietf-oauth-rfc7523bis to require
/// the issuer identifier as the sole value. The issuer is what clients should send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudiencePolicy {
    /// The issuer identifier, the token endpoint URL, or the pushed authorization
    /// request endpoint URL (RFC 9126 §2: "MUST accept its issuer identifier, token
    /// endpoint URL, or pushed authorization request endpoint URL"), as the value or one
    /// member of an array (compatibility with clients written to RFC 7523 / OIDC Core
    /// §9; the default).
    IssuerOrTokenEndpoint,
    /// The issuer identifier as the sole value (draft-ietf-oauth-rfc7523bis): the hook
    /// for a FAPI 2.0 profile, which narrows to the issuer.
    IssuerOnly,
}

/// What checking an assertion needs besides the client: the server's identifiers, the
/// policy, and the replay record. Built once at start-up; a [`ClientDirectory`] that has
/// none refuses every assertion (fail closed).
pub struct ClientAssertionVerifier {
    /// The issuer identifier (RFC 8414 §2), an accepted `aud`.
    pub issuer: String,
    /// The token endpoint URL, an accepted `aud` under
    /// [`AudiencePolicy::IssuerOrTokenEndpoint`].
    pub token_endpoint: String,
    /// The pushed authorization request endpoint URL (RFC 9126 §2), an accepted `aud`
    /// under [`AudiencePolicy::IssuerOrTokenEndpoint`].
    pub pushed_authorization_request_endpoint: String,
    /// Which audiences are accepted.
    pub audience_policy: AudiencePolicy,
    /// Most seconds `exp` may lie after `now` ([`MAX_ASSERTION_LIFETIME_SECONDS`]).
    pub max_lifetime: i64,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    pub clock_skew: i64,
    /// The `client_assertions` table.
    pub replay: Arc<dyn ClientAssertionStore>,
    /// Where the keys of `jwks_uri` clients come from; `None` refuses their assertions
    /// ([`ClientAssertionReason::KeysUnavailable`]: fail closed).
    pub remote_keys: Option<Arc<dyn RemoteClientKeys>>,
}

/// The `client_assertions` table: assertions already used, by [`assertion_digest`],
/// each kept until it could no longer be accepted anyway (`exp` + skew).
#[async_trait]
pub trait ClientAssertionStore: Send + Sync {
    /// Records an assertion as used until `expires_at`, in one statement (`INSERT … ON
    /// CONFLICT DO NOTHING`). `true` for exactly one caller across every node: the
    /// first; `false` if it was already recorded (a replay, RFC 7523 §3 item 7).
    async fn client_assertion_record(
        &self,
        digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
}

/// The replay key of an assertion: SHA-256 over the JSON array `[client_id, jti]`
/// (unambiguous whatever the values hold; a `jti` is unique per issuer, RFC 7519
/// §4.1.7), so the table keeps fixed-size keys and no request data.
pub fn assertion_digest(client_id: &str, jti: &str) -> SecretDigest {
    SecretDigest::of(&serde_json::json!([client_id, jti]).to_string())
}

/// Why a client assertion was refused: each check its own reason, for the audit log
/// (the wire shows one generic `invalid_client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAssertionReason {
    /// `client_assertion_type` is missing or is not exactly
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (RFC 7523 §2.2).
    #[error("client_assertion_type is not urn:ietf:params:oauth:client-assertion-type:jwt-bearer")]
    UnsupportedType,
    /// `client_assertion_type` without `client_assertion`.
    #[error("client_assertion_type was sent without client_assertion")]
    Missing,
    /// This server was started without assertion checks (a directory without a
    /// [`ClientAssertionVerifier`]).
    #[error("client assertions are not accepted here")]
    NotAccepted,
    /// Not a JWS in compact form, or its header or claims are not JSON of the expected
    /// shape.
    #[error("the client assertion is not a well-formed JWT")]
    Malformed,
    /// No `sub` (RFC 7523 §3 item 2: it names the client).
    #[error("the client assertion has no sub")]
    MissingSubject,
    /// The body's `client_id` differs from the assertion's `sub`.
    #[error("client_id differs from the client assertion's sub")]
    ClientIdMismatch,
    /// `alg` is `none`, an HMAC algorithm or anything not in
    /// [`ASSERTION_SIGNING_ALGORITHMS`].
    #[error("the client assertion's alg is not accepted")]
    AlgorithmNotAllowed,
    /// No key of the client has the assertion's `kid`, or (without `kid`) none fits
    /// its `alg`.
    #[error("no key of the client matches the client assertion")]
    UnknownKey,
    /// The client's profile does not allow `alg` (FAPI 2.0 §5.4.1: PS256, ES256 or
    /// EdDSA; RS256 is refused for a `fapi2` client).
    #[error("the client assertion's alg is not accepted for this client's profile")]
    AlgorithmNotAllowedByProfile,
    /// The client's `jwks_uri` gave no usable key set (a fetch guard refused it: not
    /// https, a redirect, too large, too slow, not JSON; or not a valid JWK Set).
    #[error("the client's keys could not be fetched from its jwks_uri")]
    KeysUnavailable,
    /// The key named by `kid` does not fit `alg` (its type, curve or own `alg`; RFC
    /// 8725 §3.1).
    #[error("the client assertion's alg does not fit the key")]
    AlgorithmKeyMismatch,
    /// The signature does not verify with the client's key.
    #[error("the client assertion's signature does not verify")]
    BadSignature,
    /// `iss` is not the client's id (RFC 7523 §3 item 1).
    #[error("the client assertion's iss is not the client_id")]
    IssuerMismatch,
    /// `sub` is not the client's id (RFC 7523 §3 item 2.B).
    #[error("the client assertion's sub is not the client_id")]
    SubjectMismatch,
    /// `aud` does not identify this server ([`AudiencePolicy`]; RFC 7523 §3 item 3).
    #[error("the client assertion's aud does not identify this server")]
    WrongAudience,
    /// No `exp` (RFC 7523 §3 item 4).
    #[error("the client assertion has no exp")]
    MissingExpiry,
    /// `exp` + skew is not after `now`.
    #[error("the client assertion has expired")]
    Expired,
    /// `exp` lies further ahead than the bounded lifetime allows.
    #[error("the client assertion's exp is too far ahead")]
    LifetimeTooLong,
    /// `nbf` lies after `now` + skew (RFC 7523 §3 item 5).
    #[error("the client assertion is not valid yet")]
    NotYetValid,
    /// `iat` lies after `now` + skew (RFC 7523 §3 item 6).
    #[error("the client assertion was issued in the future")]
    IssuedInFuture,
    /// No `jti` (needed to refuse a replay, RFC 7523 §3 item 7).
    #[error("the client assertion has no jti")]
    MissingJti,
    /// The `jti` was already used by this client (RFC 7523 §3 item 7).
    #[error("the client assertion was already used")]
    Replayed,
}

impl ClientAssertionReason {
    /// A short stable code for the audit log.
    pub fn audit_code(&self) -> &'static str {
        match self {
            Self::UnsupportedType => "assertion_type_unsupported",
            Self::Missing => "assertion_missing",
            Self::NotAccepted => "assertion_not_accepted",
            Self::Malformed => "assertion_malformed",
            Self::MissingSubject => "assertion_missing_sub",
            Self::ClientIdMismatch => "assertion_client_id_mismatch",
            Self::AlgorithmNotAllowed => "assertion_alg_not_allowed",
            Self::AlgorithmNotAllowedByProfile => "assertion_alg_not_allowed_by_profile",
            Self::KeysUnavailable => "assertion_keys_unavailable",
            Self::UnknownKey => "assertion_unknown_key",
            Self::AlgorithmKeyMismatch => "assertion_alg_key_mismatch",
            Self::BadSignature => "assertion_bad_signature",
            Self::IssuerMismatch => "assertion_iss_mismatch",
            Self::SubjectMismatch => "assertion_sub_mismatch",
            Self::WrongAudience => "assertion_wrong_aud",
            Self::MissingExpiry => "assertion_missing_exp",
            Self::Expired => "assertion_expired",
            Self::LifetimeTooLong => "assertion_lifetime_too_long",
            Self::NotYetValid => "assertion_not_yet_valid",
            Self::IssuedInFuture => "assertion_issued_in_future",
            Self::MissingJti => "assertion_missing_jti",
            Self::Replayed => "assertion_replayed",
        }
    }
}

/// An assertion as presented, with what selects its client and key read but nothing
/// verified (CONVENTIONS §5).
#[derive(Debug)]
pub(super) struct UnverifiedAssertion {
    /// The assertion's `sub`: the client it claims to be.
    pub(super) unverified_client_id: String,
    unverified_alg: Algorithm,
    unverified_kid: Option<String>,
    token: String,
}

impl UnverifiedAssertion {
    /// Reads, **without verifying the signature**, only what selects the client and
    /// its key: `sub`, and the header's `alg` and `kid` (the one use of
    /// `jsonwebtoken::dangerous::insecure_decode`, CONVENTIONS §5). Nothing read here
    /// is trusted: the claims are read again from the verified token.
    ///
    /// # Errors
    /// [`ClientAssertionReason::Malformed`], [`ClientAssertionReason::AlgorithmNotAllowed`]
    /// (`none`, HS*, anything not in [`ASSERTION_SIGNING_ALGORITHMS`]),
    /// [`ClientAssertionReason::MissingSubject`].
    pub(super) fn select_key(assertion: &str) -> Result<Self, ClientAssertionReason> {
        let decoded = match jsonwebtoken::dangerous::insecure_decode::<Value>(assertion) {
            Ok(decoded) => decoded,
            // jsonwebtoken knows no `none` (nor any unregistered alg): its header does
            // not parse. Say so precisely when the header is JSON naming an alg.
            Err(_) if names_an_alg(assertion) => {
                return Err(ClientAssertionReason::AlgorithmNotAllowed);
            }
            Err(_) => return Err(ClientAssertionReason::Malformed),
        };
        if !ASSERTION_SIGNING_ALGORITHMS.contains(&decoded.header.alg) {
            return Err(ClientAssertionReason::AlgorithmNotAllowed);
        }
        let Some(sub) = decoded.claims.get("sub").and_then(Value::as_str) else {
            return Err(ClientAssertionReason::MissingSubject);
        };
        Ok(Self {
            unverified_client_id: sub.to_owned(),
            unverified_alg: decoded.header.alg,
            unverified_kid: decoded.header.kid,
            token: assertion.to_owned(),
        })
    }

    /// Looks the client up by `sub`, checks it is registered for `private_key_jwt`,
    /// verifies the signature with its key and checks the claims at `now`; records
    /// `jti` last, so only an otherwise valid assertion uses up its `jti`.
    ///
    /// # Errors
    /// The inner error is the reason it was refused; the outer one a store failure.
    pub(super) async fn verify(
        &self,
        directory: &dyn ClientDirectory,
        now: UnixTime,
    ) -> Result<Result<AuthenticatedClient, ClientAuthReason>, StoreError> {
        let refused = |reason| Ok(Err(ClientAuthReason::Assertion(reason)));
        let Some(verifier) = directory.client_assertions() else {
            return refused(ClientAssertionReason::NotAccepted);
        };
        let Some(client) = directory.find_client(&self.unverified_client_id).await? else {
            return Ok(Err(ClientAuthReason::UnknownClient));
        };
        if client.token_endpoint_auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
            return Ok(Err(ClientAuthReason::MethodNotRegistered {
                registered: client.token_endpoint_auth_method.as_str(),
                used: TokenEndpointAuthMethod::PrivateKeyJwt.as_str(),
            }));
        }
        if !client
            .profile
            .permits_assertion_algorithm(self.unverified_alg)
        {
            return refused(ClientAssertionReason::AlgorithmNotAllowedByProfile);
        }
        let claims = match self.claims_with_client_keys(&client, verifier, now).await {
            Ok(claims) => claims,
            Err(reason) => return refused(reason),
        };
        let rules = ClaimRules::for_client(verifier, client.profile);
        if let Err(reason) = claims.check(&client.client_id, verifier, rules, now) {
            return refused(reason);
        }
        let Some(jti) = claims.jti.as_deref() else {
            return refused(ClientAssertionReason::MissingJti);
        };
        let digest = assertion_digest(&client.client_id, jti);
        let kept_until = claims.exp.unwrap_or(now).saturating_add(rules.skew);
        if !verifier
            .replay
            .client_assertion_record(&digest, kept_until)
            .await?
        {
            return refused(ClientAssertionReason::Replayed);
        }
        Ok(Ok(AuthenticatedClient {
            client,
            method: TokenEndpointAuthMethod::PrivateKeyJwt,
        }))
    }

    /// The claims, verified with the client's inline `jwks`, or with the keys of its
    /// `jwks_uri` ([`RemoteClientKeys`]): cached, and fetched once more when the
    /// assertion names a `kid` the cached set lacks (the client rotated its keys; the
    /// source limits how often, so unknown `kid`s cannot make the server fetch on every
    /// request).
    async fn claims_with_client_keys(
        &self,
        client: &Client,
        verifier: &ClientAssertionVerifier,
        now: UnixTime,
    ) -> Result<AssertionClaims, ClientAssertionReason> {
        if let Some(jwks) = &client.jwks {
            return self.verified_claims(jwks.keys());
        }
        let (Some(source), Some(_)) = (&verifier.remote_keys, &client.jwks_uri) else {
            return Err(ClientAssertionReason::UnknownKey);
        };
        let fetch = |refresh| async move {
            source
                .client_keys(client, refresh, now)
                .await
                .map_err(|_| ClientAssertionReason::KeysUnavailable)
        };
        let cached: Arc<ClientJwks> = fetch(KeyRefresh::Cached).await?;
        let kid_known = self.unverified_kid.as_deref().is_none_or(|kid| {
            cached
                .keys()
                .iter()
                .any(|k| k.common.key_id.as_deref() == Some(kid))
        });
        if kid_known {
            return self.verified_claims(cached.keys());
        }
        let fresh = fetch(KeyRefresh::UnknownKid).await?;
        self.verified_claims(fresh.keys())
    }

    /// The claims, from the token verified with the key `kid` names (or, without
    /// `kid`, the first key that fits `alg` and verifies it).
    fn verified_claims(&self, keys: &[Jwk]) -> Result<AssertionClaims, ClientAssertionReason> {
        let alg = self.unverified_alg;
        let candidates: Vec<&Jwk> = match &self.unverified_kid {
            Some(kid) => {
                let Some(key) = keys
                    .iter()
                    .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
                else {
                    return Err(ClientAssertionReason::UnknownKey);
                };
                // RFC 8725 §3.1: the algorithm must fit the key it names (why: an RSA
                // key verifying an "HS256" token is the algorithm confusion attack).
                if !key_permits(key, alg) {
                    return Err(ClientAssertionReason::AlgorithmKeyMismatch);
                }
                vec![key]
            }
            None => keys.iter().filter(|k| key_permits(k, alg)).collect(),
        };
        if candidates.is_empty() {
            return Err(ClientAssertionReason::UnknownKey);
        }
        let mut validation = Validation::new(alg);
        // Time, audience and issuer are checked by `AssertionClaims::check` with the
        // server's `now` (CONVENTIONS §3), not jsonwebtoken's clock.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let mut failure = ClientAssertionReason::BadSignature;
        for key in candidates {
            let Ok(decoding) = DecodingKey::from_jwk(key) else {
                continue;
            };
            match jsonwebtoken::decode::<AssertionClaims>(&self.token, &decoding, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                Err(_) => failure = ClientAssertionReason::Malformed,
            }
        }
        Err(failure)
    }
}

/// Whether the assertion's first segment is a JSON object with a string `alg` (then a
/// header jsonwebtoken cannot read names an algorithm it does not know, like `none`).
fn names_an_alg(assertion: &str) -> bool {
    let Some(header) = assertion.split('.').next() else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .is_some_and(|h| h.get("alg").is_some_and(Value::is_string))
}

/// The claim rules for one client: the verifier's, narrowed by its [`ClientProfile`]
/// (FAPI 2.0 §5.3.2.1 items 8 and 13: the issuer as the only `aud`, and at least 10 s
/// of skew on `iat`/`nbf`).
#[derive(Debug, Clone, Copy)]
struct ClaimRules {
    /// Which audiences are accepted.
    audience_policy: AudiencePolicy,
    /// Seconds of clock skew on `exp`, `nbf` and `iat`.
    skew: i64,
}

impl ClaimRules {
    fn for_client(verifier: &ClientAssertionVerifier, profile: ClientProfile) -> Self {
        Self {
            audience_policy: if profile.issuer_only_audience() {
                AudiencePolicy::IssuerOnly
            } else {
                verifier.audience_policy
            },
            skew: profile.assertion_clock_skew(verifier.clock_skew),
        }
    }
}

/// RFC 7523 §3 claims of a verified assertion. Times are seconds since the epoch.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

impl AssertionClaims {
    /// RFC 7523 §3 items 1–6 at `now`: `iss` and `sub` are the client, `aud` fits the
    /// policy, `exp` is present, not past (`now < exp + skew`) and at most
    /// `max_lifetime` + skew ahead, `nbf` and `iat` not after `now + skew`.
    fn check(
        &self,
        client_id: &str,
        verifier: &ClientAssertionVerifier,
        rules: ClaimRules,
        now: UnixTime,
    ) -> Result<(), ClientAssertionReason> {
        let skew = rules.skew;
        if self.iss.as_deref() != Some(client_id) {
            return Err(ClientAssertionReason::IssuerMismatch);
        }
        if self.sub.as_deref() != Some(client_id) {
            return Err(ClientAssertionReason::SubjectMismatch);
        }
        if !audience_accepted(self.aud.as_ref(), verifier, rules.audience_policy) {
            return Err(ClientAssertionReason::WrongAudience);
        }
        let Some(exp) = self.exp else {
            return Err(ClientAssertionReason::MissingExpiry);
        };
        if now >= exp.saturating_add(skew) {
            return Err(ClientAssertionReason::Expired);
        }
        if exp
            > now
                .saturating_add(verifier.max_lifetime)
                .saturating_add(skew)
        {
            return Err(ClientAssertionReason::LifetimeTooLong);
        }
        if self.nbf.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
            return Err(ClientAssertionReason::NotYetValid);
        }
        if self.iat.is_some_and(|iat| iat > now.saturating_add(skew)) {
            return Err(ClientAssertionReason::IssuedInFuture);
        }
        if self.jti.as_deref().is_none_or(str::is_empty) {
            return Err(ClientAssertionReason::MissingJti);
        }
        Ok(())
    }
}

/// Whether `aud` identifies this server (`verifier`'s identifiers) under `policy`.
fn audience_accepted(
    aud: Option<&Value>,
    verifier: &ClientAssertionVerifier,
    policy: AudiencePolicy,
) -> bool {
    let accepted = |value: &str| match policy {
        AudiencePolicy::IssuerOnly => value == verifier.issuer,
        AudiencePolicy::IssuerOrTokenEndpoint => {
            value == verifier.issuer
                || value == verifier.token_endpoint
                || value == verifier.pushed_authorization_request_endpoint
        }
    };
    match (aud, policy) {
        (Some(Value::String(one)), _) => accepted(one),
        (Some(Value::Array(many)), AudiencePolicy::IssuerOrTokenEndpoint) => {
            many.iter().filter_map(Value::as_str).any(accepted)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
