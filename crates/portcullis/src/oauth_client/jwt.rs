//! JWTs from the issuer: its key set (RFC 7517, at `jwks_uri`), signature verification
//! (RFC 7515) with `jsonwebtoken`, and NumericDate claims (RFC 7519 §2). With the key
//! set only asymmetric algorithms: `none` never parses, and HS* is refused, since an
//! HS* token "signed" with a published public key as the HMAC secret would otherwise
//! verify (algorithm confusion). HS* is verified only with a client secret
//! ([`verify_with_secret`]).

use super::discovery::Metadata;
use super::http;
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::str::FromStr;

/// A JWT's header and claims, decoded but NOT verified: only for choosing the issuer
/// and the key, and for showing what an unverifiable token claims.
pub struct UnverifiedJwt {
    /// The JOSE header, as sent.
    pub header: Map<String, Value>,
    /// The claims, as sent.
    pub claims: Map<String, Value>,
}

/// Decodes the header and claims of a compact JWS without checking anything.
pub fn unverified(token: &str) -> Result<UnverifiedJwt> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("not a JWT: a signed JWT has three dot-separated parts");
    };
    let decode = |part: &str, what: &str| -> Result<Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .with_context(|| format!("not a JWT: the {what} is not base64url"))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => bail!("not a JWT: the {what} is not a JSON object"),
        }
    };
    Ok(UnverifiedJwt {
        header: decode(header, "header")?,
        claims: decode(claims, "payload")?,
    })
}

/// Fetches the issuer's JWK Set. Keys this client cannot read (unknown `kty`, …) are
/// skipped rather than failing the whole set.
pub async fn key_set(client: &reqwest::Client, metadata: &Metadata) -> Result<JwkSet> {
    let url = metadata.endpoint("jwks_uri")?;
    let document = http::get_json(client, &url)
        .await
        .context("cannot fetch the issuer's keys (jwks_uri)")?;
    let Some(Value::Array(keys)) = document.get("keys") else {
        bail!("{url} is not a JWK Set (RFC 7517 §5: no `keys` array)");
    };
    let keys = keys
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .collect();
    Ok(JwkSet { keys })
}

/// What signature verification found.
pub enum Signature {
    /// Signed by `kid` (if the key has one) with `alg`.
    Verified {
        /// The key's id.
        kid: Option<String>,
        /// The algorithm.
        alg: Algorithm,
        /// The claims, now known to come from the key's holder (not yet checked
        /// against the clock, issuer or audience).
        claims: Map<String, Value>,
    },
    /// No published key matches the token's `kid`.
    UnknownKey(Option<String>),
    /// The signature does not verify with the key.
    Invalid,
    /// An algorithm this client does not accept (HS*, unknown names).
    UnsupportedAlgorithm(String),
}

/// Verifies the signature of `token` with the key of `keys` named by its `kid` (or the
/// only key, when the token names none). Claims are not checked here.
pub fn verify_signature(token: &str, keys: &JwkSet) -> Result<Signature> {
    let header = unverified(token)?.header;
    let (alg_name, alg) = header_alg(&header);
    let Some(alg) = alg.filter(|a| a.family() != AlgorithmFamily::Hmac) else {
        return Ok(Signature::UnsupportedAlgorithm(alg_name));
    };
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let Some(jwk) = select_key(keys, kid.as_deref(), alg) else {
        return Ok(Signature::UnknownKey(kid));
    };
    let Ok(key) = DecodingKey::from_jwk(jwk) else {
        return Ok(Signature::UnknownKey(kid));
    };
    if key.family() != alg.family() {
        return Ok(Signature::Invalid);
    }
    decode(token, &key, alg, kid)
}

/// Verifies an HS256/384/512 signature keyed with `secret` (OIDC Core §10.1: the
/// octets of the client secret), never with a published key. Any other algorithm is
/// [`Signature::UnsupportedAlgorithm`].
pub fn verify_with_secret(token: &str, secret: &[u8]) -> Result<Signature> {
    let header = unverified(token)?.header;
    let (alg_name, alg) = header_alg(&header);
    let Some(alg) = alg.filter(|a| a.family() == AlgorithmFamily::Hmac) else {
        return Ok(Signature::UnsupportedAlgorithm(alg_name));
    };
    decode(token, &DecodingKey::from_secret(secret), alg, None)
}

/// The header's `alg` as sent (`(none)` without one) and as an algorithm this crate
/// knows (`none` and unknown names are not).
pub fn header_alg(header: &Map<String, Value>) -> (String, Option<Algorithm>) {
    let name = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("(none)")
        .to_owned();
    let alg = Algorithm::from_str(&name).ok();
    (name, alg)
}

/// Checks the signature of `token` with `key` for `alg` (only the signature: the
/// caller checks exp, nbf, iss and aud itself).
fn decode(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    kid: Option<String>,
) -> Result<Signature> {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
        Ok(data) => Ok(Signature::Verified {
            kid,
            alg,
            claims: data.claims,
        }),
        Err(e) => match e.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEddsaKey => Ok(Signature::Invalid),
            _ => Err(e).context("cannot verify the token"),
        },
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds since the epoch, "possibly a non-integer
/// value"), as read by [`numeric_date`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericDate {
    /// The claim is not there.
    Absent,
    /// Whole seconds (a fraction rounded down; out-of-range values saturate).
    At(i64),
    /// The claim is there but is not a JSON number (a string, `null`, …): the token
    /// is malformed, and must not be read as if the claim were absent.
    Invalid,
}

/// Reads the NumericDate claim `name` of `claims`.
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> NumericDate {
    match claims.get(name) {
        None => NumericDate::Absent,
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                NumericDate::At(i)
            } else if n.as_u64().is_some() {
                NumericDate::At(i64::MAX)
            } else {
                match n.as_f64() {
                    // `as` saturates at the ends of i64.
                    Some(f) if f.is_finite() => NumericDate::At(f.floor() as i64),
                    _ => NumericDate::Invalid,
                }
            }
        }
        Some(_) => NumericDate::Invalid,
    }
}

/// The signing key for `kid` (or the only one when there is no `kid`), if it is meant
/// for signatures and, when it names an algorithm, for `alg`.
fn select_key<'a>(keys: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let jwk = match kid {
        Some(kid) => keys.find(kid)?,
        None => match keys.keys.as_slice() {
            [only] => only,
            _ => return None,
        },
    };
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    if let Some(key_alg) = jwk.common.key_algorithm
        && Algorithm::from_str(&key_alg.to_string()).ok() != Some(alg)
    {
        return None;
    }
    Some(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_rejects_what_is_not_a_jws() {
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.bm90LWpzb24.x"] {
            assert!(unverified(bad).is_err(), "{bad}");
        }
        let jwt = unverified("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig").unwrap();
        assert_eq!(jwt.header["alg"], "ES256");
        assert_eq!(jwt.claims["sub"], "x");
    }

    #[test]
    fn numeric_dates_are_numbers_possibly_fractional() {
        let claims = serde_json::json!({
            "int": 1_000_000_000,
            "frac": 1_000_000_000.5,
            "neg_frac": -0.5,
            "huge": 1e300,
            "u64": u64::MAX,
            "string": "1000000000",
            "null": null,
            "bool": true,
            "array": [1],
        });
        let claims = claims.as_object().unwrap();
        let read = |name| numeric_date(claims, name);
        assert_eq!(read("int"), NumericDate::At(1_000_000_000));
        assert_eq!(read("frac"), NumericDate::At(1_000_000_000));
        assert_eq!(read("neg_frac"), NumericDate::At(-1));
        assert_eq!(read("huge"), NumericDate::At(i64::MAX));
        assert_eq!(read("u64"), NumericDate::At(i64::MAX));
        for invalid in ["string", "null", "bool", "array"] {
            assert_eq!(read(invalid), NumericDate::Invalid, "{invalid}");
        }
        assert_eq!(read("missing"), NumericDate::Absent);
    }

    #[test]
    fn hmac_is_verified_only_with_the_secret_given() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims = serde_json::json!({"sub": "x"});
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"the-client-secret"),
        )
        .unwrap();
        assert!(matches!(
            verify_with_secret(&token, b"the-client-secret").unwrap(),
            Signature::Verified {
                alg: Algorithm::HS256,
                ..
            }
        ));
        assert!(matches!(
            verify_with_secret(&token, b"another-secret").unwrap(),
            Signature::Invalid
        ));
        // Only HMAC here; `none` is nothing anywhere.
        for token in ["eyJhbGciOiJFUzI1NiJ9.e30.x", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(matches!(
                verify_with_secret(token, b"s").unwrap(),
                Signature::UnsupportedAlgorithm(_)
            ));
        }
    }

    #[test]
    fn hmac_and_none_are_refused_before_any_key_is_used() {
        let keys = JwkSet { keys: Vec::new() };
        // {"alg":"HS256"} / {"alg":"none"}
        for token in ["eyJhbGciOiJIUzI1NiJ9.e30.x", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(matches!(
                verify_signature(token, &keys).unwrap(),
                Signature::UnsupportedAlgorithm(_)
            ));
        }
    }
}
