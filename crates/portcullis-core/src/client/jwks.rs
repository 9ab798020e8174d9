//! RFC 7517 JWK Sets of `private_key_jwt` clients (RFC 7523 §2.2, OIDC Core §9): the
//! public keys a client signs its assertions with, registered inline (`jwks`, RFC 7591
//! §2), validated once at registration ([`ClientJwks::parse`]) and stored with the
//! client.
//!
//! Only public signature keys of a type this server verifies are accepted: EC P-256
//! (ES256), RSA of at least [`MIN_RSA_MODULUS_BITS`] (RS256, PS256) and OKP Ed25519
//! (EdDSA). A key carrying private material is refused (why: the operator pasted the
//! key pair; the server must never hold a client's private key, and the error says so
//! before it is stored anywhere).

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
    ThumbprintHash,
};
use serde_json::Value;

/// The JWS algorithms accepted for client assertions (RFC 7518 §3.1, RFC 8037 §3.1):
/// never `none` or an HMAC algorithm (a shared secret is not `private_key_jwt`, and
/// accepting HS* with a public key as the secret is the classic algorithm confusion).
pub const ASSERTION_SIGNING_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::PS256,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

/// Most keys one client may register (a bound on the keys tried for an assertion
/// without `kid`).
pub const MAX_CLIENT_KEYS: usize = 10;

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3: 2048 or larger).
pub const MIN_RSA_MODULUS_BITS: usize = 2048;

/// JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC
/// 8037 §2 `d`).
pub const PRIVATE_KEY_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A client's registered public keys: a validated RFC 7517 JWK Set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientJwks {
    keys: Vec<Jwk>,
}

impl ClientJwks {
    /// Validates a JWK Set (`{"keys": [...]}`) as a `private_key_jwt` client's keys.
    ///
    /// # Errors
    /// A sentence for the operator: not a JWK Set, no key or more than
    /// [`MAX_CLIENT_KEYS`], a member holding private key material (named), an
    /// unsupported key type or curve, an RSA key under [`MIN_RSA_MODULUS_BITS`], `use`
    /// other than `sig`, `key_ops` without `verify`, an `alg` not in
    /// [`ASSERTION_SIGNING_ALGORITHMS`] or not fitting the key, a duplicate `kid`.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let Some(entries) = value.get("keys").and_then(Value::as_array) else {
            return Err("is not a JWK Set: expected `{ keys = [ … ] }` (RFC 7517 §5)".into());
        };
        if entries.is_empty() || entries.len() > MAX_CLIENT_KEYS {
            return Err(format!(
                "has {} keys; register 1 to {MAX_CLIENT_KEYS}",
                entries.len()
            ));
        }
        let mut keys: Vec<Jwk> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let key = parse_key(entry).map_err(|problem| format!("key {index}: {problem}"))?;
            if let Some(kid) = &key.common.key_id
                && keys.iter().any(|k| k.common.key_id.as_ref() == Some(kid))
            {
                return Err(format!(
                    "key {index}: `kid` `{kid}` appears twice; each key needs its own"
                ));
            }
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// The keys, in registration order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The JWK Set as JSON (`{"keys": [...]}`), the stored form.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(JwkSet {
            keys: self.keys.clone(),
        })
        .unwrap_or(Value::Null)
    }

    /// RFC 7638 SHA-256 thumbprints of the keys (base64url, 43 characters), in order:
    /// what the CLI shows an operator to compare with the client's key.
    pub fn thumbprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| {
                k.thumbprint(ThumbprintHash::SHA256)
                    .unwrap_or_else(|_| "?".to_owned())
            })
            .collect()
    }
}

/// RFC 8725 §3.1: whether `alg` fits `key`: its type and curve (EC P-256 → ES256, RSA →
/// RS256/PS256, OKP Ed25519 → EdDSA), and the JWK's own `alg` when present.
pub fn key_permits(key: &Jwk, alg: Algorithm) -> bool {
    let fits_type = match &key.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => {
            ec.curve == EllipticCurve::P256 && alg == Algorithm::ES256
        }
        AlgorithmParameters::RSA(_) => matches!(alg, Algorithm::RS256 | Algorithm::PS256),
        AlgorithmParameters::OctetKeyPair(okp) => {
            okp.curve == EllipticCurve::Ed25519 && alg == Algorithm::EdDSA
        }
        _ => false,
    };
    fits_type
        && key
            .common
            .key_algorithm
            .is_none_or(|own| signature_algorithm(own) == Some(alg))
}

/// RFC 7591 §2 `jwks_uri`: an absolute `https` URL, without user info or a fragment
/// (why https: the keys decide who the client is; a plain-http fetch could be swapped
/// on the way).
///
/// # Errors
/// A sentence saying what is wrong with `uri`.
pub fn check_jwks_uri(uri: &str) -> Result<(), String> {
    let url = url::Url::parse(uri)
        .map_err(|e| format!("has `{uri}`, which is not an absolute URL ({e})"))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(format!(
            "is `{uri}`; a client's keys are fetched over https only"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(format!(
            "is `{uri}`; it must not carry user info or a fragment"
        ));
    }
    Ok(())
}

/// Whether a key lookup may fetch the client's `jwks_uri` again before its cached copy
/// expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefresh {
    /// A cached copy will do.
    Cached,
    /// The assertion names a `kid` the cached copy lacks (the client may have rotated
    /// its keys): fetch again, unless that was done within the source's cooldown.
    UnknownKid,
}

/// The keys of clients registered with `jwks_uri` (RFC 7591 §2): the server fetches
/// them through its guarded door and caches them. Core asks for them while checking an
/// assertion ([`crate::client::authentication::assertion`]).
#[async_trait::async_trait]
pub trait RemoteClientKeys: Send + Sync {
    /// The client's key set from its `jwks_uri` at `now`.
    ///
    /// # Errors
    /// [`RemoteKeysUnavailable`] when no usable set can be had (fetch refused by a
    /// guard, not a valid JWK Set, no `jwks_uri`); the detail goes to the log.
    async fn client_keys(
        &self,
        client: &crate::client::Client,
        refresh: KeyRefresh,
        now: crate::UnixTime,
    ) -> Result<std::sync::Arc<ClientJwks>, RemoteKeysUnavailable>;
}

/// A client's `jwks_uri` gave no usable key set (the reason, for the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the client's jwks_uri gave no usable keys: {0}")]
pub struct RemoteKeysUnavailable(pub String);

/// One key of the set: public, for signatures, of a supported type.
fn parse_key(entry: &Value) -> Result<Jwk, String> {
    let Some(object) = entry.as_object() else {
        return Err("is not a JSON object".into());
    };
    if let Some(member) = PRIVATE_KEY_MEMBERS
        .iter()
        .find(|m| object.contains_key(**m))
    {
        return Err(format!(
            "has the private key member `{member}`; register the public key only (the server must never hold a client's private key)"
        ));
    }
    let key: Jwk = serde_json::from_value(entry.clone())
        .map_err(|e| format!("is not a public JWK (RFC 7517 §4): {e}"))?;
    match &key.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {}
        AlgorithmParameters::EllipticCurve(_) => {
            return Err("is an EC key on a curve other than P-256 (ES256 only)".into());
        }
        AlgorithmParameters::RSA(rsa) => {
            let bits = base64_len(&rsa.n).saturating_mul(8);
            if bits < MIN_RSA_MODULUS_BITS {
                return Err(format!(
                    "is an RSA key of {bits} bits; at least {MIN_RSA_MODULUS_BITS} are required"
                ));
            }
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {}
        _ => {
            return Err("has an unsupported `kty`/`crv`: use EC P-256, RSA or OKP Ed25519".into());
        }
    }
    if key
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Err("has `use` other than `sig`".into());
    }
    if key
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Err("has `key_ops` without `verify`".into());
    }
    if let Some(own) = key.common.key_algorithm {
        let fits = signature_algorithm(own).is_some_and(|alg| key_permits(&key, alg));
        if !fits {
            return Err(format!(
                "has `alg` {own:?}, which is not one of ES256, PS256, RS256, EdDSA fitting this key"
            ));
        }
    }
    if jsonwebtoken::DecodingKey::from_jwk(&key).is_err() {
        return Err("has key parameters that do not decode (base64url)".into());
    }
    Ok(key)
}

/// The JWK `alg` as an accepted assertion algorithm; `None` for anything else.
fn signature_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    match alg {
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::PS256 => Some(Algorithm::PS256),
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// Decoded length of a base64url value without padding, in bytes, leading zero bytes
/// not counted.
fn base64_len(value: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .map(|bytes| bytes.iter().skip_while(|b| **b == 0).count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec_key() -> Value {
        json!({
            "kty": "EC", "crv": "P-256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        })
    }

    #[test]
    fn accepts_a_public_ec_key_and_gives_its_thumbprint() {
        let jwks = ClientJwks::parse(&json!({ "keys": [ec_key()] })).unwrap();
        assert_eq!(jwks.keys().len(), 1);
        assert_eq!(jwks.thumbprints()[0].len(), 43);
        assert_eq!(ClientJwks::parse(&jwks.to_value()).unwrap(), jwks);
    }

    #[test]
    fn rejects_each_private_member_naming_it() {
        for member in PRIVATE_KEY_MEMBERS {
            let mut key = ec_key();
            key[member] = json!("AAAA");
            let e = ClientJwks::parse(&json!({ "keys": [key] })).unwrap_err();
            assert!(e.contains(&format!("private key member `{member}`")), "{e}");
        }
    }

    #[test]
    fn rejects_symmetric_small_or_mismatched_keys() {
        let cases = [
            (json!({"kty": "oct", "kid": "h"}), "unsupported"),
            (
                json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
                "RSA key of 24 bits",
            ),
            (
                {
                    let mut k = ec_key();
                    k["alg"] = json!("RS256");
                    k
                },
                "`alg`",
            ),
            (
                {
                    let mut k = ec_key();
                    k["use"] = json!("enc");
                    k
                },
                "`use`",
            ),
        ];
        for (key, expected) in cases {
            let e = ClientJwks::parse(&json!({ "keys": [key] })).unwrap_err();
            assert!(e.contains(expected), "{expected}: {e}");
        }
    }

    #[test]
    fn rejects_an_empty_set_a_non_set_and_a_duplicate_kid() {
        assert!(ClientJwks::parse(&json!({ "keys": [] })).is_err());
        assert!(ClientJwks::parse(&json!([ec_key()])).is_err());
        let e = ClientJwks::parse(&json!({ "keys": [ec_key(), ec_key()] })).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
    }

    #[test]
    fn a_key_client_holds_no_secret_and_keys_go_with_private_key_jwt_only() {
        use crate::client::{ClientRegistration, RecordSource};
        use portcullis_proto::grant::TokenEndpointAuthMethod;
        let secret = || Some("0123456789abcdef0123456789abcdef".to_owned().into());
        let base = || ClientRegistration {
            client_id: "svc".into(),
            jwks: Some(json!({ "keys": [ec_key()] })),
            grant_types: Some(vec!["client_credentials".into()]),
            audiences: vec!["https://api.example".into()],
            ..Default::default()
        };
        let client = base().validate(RecordSource::Config, 0).unwrap();
        assert_eq!(
            client.token_endpoint_auth_method,
            TokenEndpointAuthMethod::PrivateKeyJwt,
            "the default with jwks"
        );
        assert!(!client.is_public() && client.secrets.is_none());
        let mut r = base();
        r.token_endpoint_auth_method = Some("private_key_jwt".into());
        r.client_secret = secret();
        assert_eq!(
            r.validate(RecordSource::Config, 0).unwrap_err().field,
            "client_secret"
        );
        let mut r = base();
        r.client_secret = secret();
        assert_eq!(
            r.validate(RecordSource::Config, 0).unwrap_err().field,
            "jwks"
        );
        let mut r = base();
        r.jwks = None;
        r.token_endpoint_auth_method = Some("private_key_jwt".into());
        let e = r.validate(RecordSource::Config, 0).unwrap_err();
        assert!(e.problem.contains("or set jwks_uri"), "{e}");
    }

    #[test]
    fn an_ec_key_permits_es256_only() {
        let jwks = ClientJwks::parse(&json!({ "keys": [ec_key()] })).unwrap();
        let key = &jwks.keys()[0];
        assert!(key_permits(key, Algorithm::ES256));
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::EdDSA,
            Algorithm::HS256,
        ] {
            assert!(!key_permits(key, alg), "{alg:?}");
        }
    }
}
