//! Client profiles: a named set of stricter rules a client is held to. One profile
//! exists besides the default: the **FAPI 2.0 Security Profile** (OpenID Foundation,
//! Final, 22 February 2025; `profile = "fapi2"`), which this module checks at
//! registration ([`check_fapi2_registration`]) and whose runtime rules are read from
//! [`ClientProfile`] by the code that applies them:
//!
//! | FAPI 2.0 | Rule | Where |
//! |---|---|---|
//! | §5.3.2.1 item 3 | confidential clients only | [`check_fapi2_registration`] |
//! | §5.3.2.1 item 4–5 | sender-constrained (DPoP) access tokens only | `dpop_bound_access_tokens` forced on |
//! | §5.3.2.1 item 6 | `private_key_jwt` (mTLS is not supported here) | [`check_fapi2_registration`] |
//! | §5.3.2.1 item 8 | assertion `aud` = the issuer, as a string | [`ClientProfile::issuer_only_audience`] |
//! | §5.3.2.1 item 11 | codes live at most 60 s | [`ClientProfile::code_ttl`] |
//! | §5.3.2.1 item 13 | accept `iat`/`nbf` up to 10 s ahead, refuse past 60 s | [`ClientProfile::assertion_clock_skew`] |
//! | §5.3.2.2 item 1 | `response_type=code` | every client already |
//! | §5.3.2.2 item 3 | PAR required | `require_pushed_authorization_requests` forced on |
//! | §5.3.2.2 item 5 | PKCE `S256` required | [`ClientProfile::requires_pkce`] |
//! | §5.3.2.2 item 6 | `redirect_uri` required at PAR | [`ClientProfile::requires_pushed_redirect_uri`] |
//! | §5.3.2.2 item 8 | https redirect URIs | [`check_fapi2_registration`] |
//! | §5.3.2.2 item 12 | `request_uri` `expires_in` < 600 s | [`ClientProfile::request_uri_ttl`] |
//! | §5.4.1 items 1–3 | PS256, ES256, EdDSA; RSA ≥ 2048, EC ≥ 224 bits | [`ClientProfile::permits_assertion_algorithm`], [`check_fapi2_registration`], [`super::jwks`] |
//!
//! `docs/fapi2.md` maps every "shall" to its enforcement and test.

use super::{Client, ClientJwks};
use crate::keys::SigningAlgorithm;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::KeyAlgorithm;
use portcullis_proto::grant::TokenEndpointAuthMethod;
use url::Url;

/// Which rules a client is held to (client metadata `profile`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientProfile {
    /// Portcullis's own rules (OAuth 2.1, RFC 9700): the default.
    #[default]
    Default,
    /// FAPI 2.0 Security Profile (Final, February 2025), authorization-server
    /// requirements (§5.3.2, §5.4).
    Fapi2,
}

impl ClientProfile {
    /// Configuration and storage spelling: `default` or `fapi2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Fapi2 => "fapi2",
        }
    }

    /// Parses the spelling of [`ClientProfile::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "default" => Some(Self::Default),
            "fapi2" => Some(Self::Fapi2),
            _ => None,
        }
    }

    /// FAPI 2.0 §5.3.2.1 item 8: "shall only accept its issuer identifier value … as a
    /// string in the `aud` claim received in client authentication assertions" (why:
    /// the audience injection attack; an endpoint URL two servers share lets one
    /// replay the other's assertion).
    pub fn issuer_only_audience(self) -> bool {
        self == Self::Fapi2
    }

    /// FAPI 2.0 §5.4.1 item 1.2: client assertions signed with PS256, ES256 or EdDSA
    /// (Ed25519); RS256 (PKCS#1 v1.5) is refused for such a client.
    pub fn permits_assertion_algorithm(self, alg: Algorithm) -> bool {
        match self {
            Self::Default => true,
            Self::Fapi2 => FAPI2_SIGNING_ALGORITHMS.contains(&alg),
        }
    }

    /// Seconds of clock skew tolerated on a client assertion: the server's `skew`, and
    /// at least [`FAPI2_FUTURE_SKEW_SECONDS`] for a FAPI 2.0 client (§5.3.2.1 item 13:
    /// "shall accept JWTs with an `iat` or `nbf` timestamp between 0 and 10 seconds in
    /// the future but shall reject … greater than 60 seconds in the future").
    pub fn assertion_clock_skew(self, skew: i64) -> i64 {
        match self {
            Self::Default => skew,
            Self::Fapi2 => skew.clamp(FAPI2_FUTURE_SKEW_SECONDS, FAPI2_MAX_FUTURE_SKEW_SECONDS),
        }
    }

    /// The authorization code lifetime for this client, in seconds: the server's `ttl`,
    /// at most [`FAPI2_MAX_CODE_TTL`] for a FAPI 2.0 client (§5.3.2.1 item 11).
    pub fn code_ttl(self, ttl: i64) -> i64 {
        match self {
            Self::Default => ttl,
            Self::Fapi2 => ttl.min(FAPI2_MAX_CODE_TTL),
        }
    }

    /// The `request_uri` lifetime for this client, in seconds: the server's `ttl`, below
    /// 600 for a FAPI 2.0 client (§5.3.2.2 item 12: "`expires_in` values of less than
    /// 600 seconds").
    pub fn request_uri_ttl(self, ttl: i64) -> i64 {
        match self {
            Self::Default => ttl,
            Self::Fapi2 => ttl.min(FAPI2_MAX_REQUEST_URI_TTL),
        }
    }

    /// FAPI 2.0 §5.3.2.2 item 5: PKCE with S256 is required of every request (no
    /// OpenID `nonce` in its place, as RFC 9700 §2.1.1 otherwise allows a confidential
    /// client).
    pub fn requires_pkce(self) -> bool {
        self == Self::Fapi2
    }

    /// FAPI 2.0 §5.3.2.2 item 6: "shall require the `redirect_uri` parameter in pushed
    /// authorization requests" (even when one URI is registered).
    pub fn requires_pushed_redirect_uri(self) -> bool {
        self == Self::Fapi2
    }

    /// The id_token algorithm when the client names none: RS256 (OIDC Core §3.1.3.7),
    /// ES256 for a FAPI 2.0 client (§5.4.1 item 1.2 leaves out RS256).
    pub fn default_id_token_algorithm(self) -> SigningAlgorithm {
        match self {
            Self::Default => SigningAlgorithm::Rs256,
            Self::Fapi2 => SigningAlgorithm::Es256,
        }
    }
}

/// Checks a validated client against the FAPI 2.0 registration rules; `Ok` for any
/// other profile.
///
/// # Errors
/// `(field, problem)`, the problem naming the rule: a public or secret client
/// (§5.3.2.1 items 3 and 6: `private_key_jwt` only; mTLS is not supported), a redirect
/// URI that is not https (§5.3.2.2 item 8), a key whose `alg` is RS256 or that fits
/// none of PS256, ES256, EdDSA (§5.4.1), an id_token algorithm of RS256 (§5.4.1).
pub fn check_fapi2_registration(client: &Client) -> Result<(), (&'static str, String)> {
    if client.profile != ClientProfile::Fapi2 {
        return Ok(());
    }
    if client.secrets.is_some() {
        return Err((
            "client_secret",
            "is set, but profile `fapi2` authenticates clients with private_key_jwt only (FAPI 2.0 §5.3.2.1 item 6; mTLS is not supported by Portcullis): remove the secret and register `jwks`".into(),
        ));
    }
    if client.token_endpoint_auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
        return Err((
            "token_endpoint_auth_method",
            format!(
                "is `{}`, but profile `fapi2` supports only confidential clients that use private_key_jwt (FAPI 2.0 §5.3.2.1 items 3 and 6)",
                client.token_endpoint_auth_method.as_str()
            ),
        ));
    }
    for uri in &client.redirect_uris {
        if Url::parse(uri)
            .map(|u| u.scheme() != "https")
            .unwrap_or(true)
        {
            return Err((
                "redirect_uris",
                format!(
                    "has `{uri}`, but profile `fapi2` allows only https redirect URIs (FAPI 2.0 §5.3.2.2 item 8: authorization responses never travel unencrypted)"
                ),
            ));
        }
    }
    if let Some(jwks) = &client.jwks {
        check_fapi2_keys(jwks)?;
    }
    if client.id_token_signed_response_alg == SigningAlgorithm::Rs256 {
        return Err((
            "id_token_signed_response_alg",
            "is RS256, but profile `fapi2` signs with PS256, ES256 or EdDSA only (FAPI 2.0 §5.4.1 item 1.2): use ES256 or leave it unset".into(),
        ));
    }
    Ok(())
}

/// §5.4.1: no key is pinned to RS256. Sizes (RSA ≥ 2048 bits, EC ≥ 224 bits: P-256 only) are
/// [`ClientJwks::parse`]'s rules for every client.
fn check_fapi2_keys(jwks: &ClientJwks) -> Result<(), (&'static str, String)> {
    for (index, key) in jwks.keys().iter().enumerate() {
        // An RSA key without `alg` may sign PS256; RS256 assertions are refused at
        // verification ([`ClientProfile::permits_assertion_algorithm`]).
        if key.common.key_algorithm == Some(KeyAlgorithm::RS256) {
            return Err((
                "jwks",
                format!(
                    "key {index}: has `alg` RS256, but profile `fapi2` accepts assertions signed with PS256, ES256 or EdDSA only (FAPI 2.0 §5.4.1 item 1.2)"
                ),
            ));
        }
    }
    Ok(())
}

/// FAPI 2.0 §5.4.1 item 1.2: the JWS algorithms a FAPI 2.0 client's assertions may use.
pub const FAPI2_SIGNING_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA];

/// FAPI 2.0 §5.3.2.1 item 11: longest authorization code lifetime, in seconds.
pub const FAPI2_MAX_CODE_TTL: i64 = 60;

/// FAPI 2.0 §5.3.2.2 item 12: longest `request_uri` lifetime, in seconds (below 600).
pub const FAPI2_MAX_REQUEST_URI_TTL: i64 = 599;

/// FAPI 2.0 §5.3.2.1 item 13: seconds in the future an `iat`/`nbf` must be accepted.
pub const FAPI2_FUTURE_SKEW_SECONDS: i64 = 10;

/// FAPI 2.0 §5.3.2.1 item 13: past this many seconds in the future, refused.
pub const FAPI2_MAX_FUTURE_SKEW_SECONDS: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for p in [ClientProfile::Default, ClientProfile::Fapi2] {
            assert_eq!(ClientProfile::parse(p.as_str()), Some(p));
        }
        assert_eq!(ClientProfile::parse("FAPI2"), None);
    }

    #[test]
    fn fapi2_narrows_each_server_setting() {
        let f = ClientProfile::Fapi2;
        assert_eq!(f.code_ttl(600), 60);
        assert_eq!(f.code_ttl(30), 30);
        assert_eq!(f.request_uri_ttl(600), 599);
        assert_eq!(f.request_uri_ttl(60), 60);
        assert_eq!(f.assertion_clock_skew(5), 10);
        assert_eq!(f.assertion_clock_skew(300), 60);
        assert!(!f.permits_assertion_algorithm(Algorithm::RS256));
        assert!(f.permits_assertion_algorithm(Algorithm::PS256));
        let d = ClientProfile::Default;
        assert_eq!(d.code_ttl(600), 600);
        assert_eq!(d.assertion_clock_skew(5), 5);
        assert!(d.permits_assertion_algorithm(Algorithm::RS256));
    }

    fn fapi2_client() -> crate::client::ClientRegistration {
        crate::client::ClientRegistration {
            client_id: "bank".into(),
            profile: Some("fapi2".into()),
            jwks: Some(serde_json::json!({ "keys": [{
                "kty": "EC", "crv": "P-256", "kid": "k1",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
            }]})),
            redirect_uris: vec!["https://bank.example/cb".into()],
            scopes: vec!["openid".into()],
            ..Default::default()
        }
    }

    fn refused(r: crate::client::ClientRegistration) -> crate::client::RegistrationError {
        r.validate(crate::client::RecordSource::Config, 0)
            .unwrap_err()
    }

    #[test]
    fn a_fapi2_client_gets_par_dpop_and_es256_id_tokens() {
        let c = fapi2_client()
            .validate(crate::client::RecordSource::Config, 0)
            .unwrap();
        assert_eq!(c.profile, ClientProfile::Fapi2);
        assert!(c.require_pushed_authorization_requests && c.dpop_bound_access_tokens);
        assert_eq!(c.id_token_signed_response_alg, SigningAlgorithm::Es256);
    }

    #[test]
    fn rejects_a_public_fapi2_client() {
        let mut r = fapi2_client();
        r.jwks = None;
        let e = refused(r);
        assert_eq!(e.field, "token_endpoint_auth_method", "{e}");
        assert!(e.problem.contains("§5.3.2.1 items 3 and 6"), "{e}");
    }

    #[test]
    fn rejects_an_rs256_id_token() {
        let mut r = fapi2_client();
        r.id_token_signed_response_alg = Some("RS256".into());
        let e = refused(r);
        assert_eq!(e.field, "id_token_signed_response_alg", "{e}");
        assert!(e.problem.contains("§5.4.1"), "{e}");
    }

    #[test]
    fn rejects_a_private_use_scheme_redirect_uri() {
        let mut r = fapi2_client();
        r.redirect_uris = vec!["com.example.bank:/cb".into()];
        let e = refused(r);
        assert_eq!(e.field, "redirect_uris", "{e}");
        assert!(e.problem.contains("§5.3.2.2 item 8"), "{e}");
    }

    #[test]
    fn rejects_an_unknown_profile() {
        let mut r = fapi2_client();
        r.profile = Some("fapi1".into());
        assert_eq!(refused(r).field, "profile");
    }
}
