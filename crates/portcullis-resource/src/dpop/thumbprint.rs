//! RFC 7638 JWK thumbprints, the `jkt` of RFC 9449 §6.1.

use super::DpopProofError;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};

/// RFC 7638 §3 SHA-256 thumbprint of a public JWK, base64url without padding
/// (RFC 9449 §6.1 `jkt`): the SHA-256 of the JSON object of the key type's required
/// members only, in lexicographic order, without whitespace (§3.2, §3.3): `crv`,
/// `kty`, `x`, `y` for EC (P-256, P-384, P-521); `e`, `kty`, `n` for RSA; `crv`,
/// `kty`, `x` for OKP Ed25519 (RFC 8037 §2).
///
/// # Errors
/// [`DpopProofError::UnsupportedJwk`] for another key type (a symmetric `oct` key
/// included: it has no public thumbprint to bind to).
pub fn jwk_thumbprint(jwk: &Jwk) -> Result<String, DpopProofError> {
    let json =
        |value: &str| serde_json::to_string(value).map_err(|_| DpopProofError::UnsupportedJwk);
    let canonical = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => {
            let crv = match ec.curve {
                EllipticCurve::P256 => "P-256",
                EllipticCurve::P384 => "P-384",
                EllipticCurve::P521 => "P-521",
                _ => return Err(DpopProofError::UnsupportedJwk),
            };
            format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                json(crv)?,
                json(&ec.x)?,
                json(&ec.y)?
            )
        }
        AlgorithmParameters::RSA(rsa) => {
            format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                json(&rsa.e)?,
                json(&rsa.n)?
            )
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, json(&okp.x)?)
        }
        _ => return Err(DpopProofError::UnsupportedJwk),
    };
    Ok(URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn rfc7638_section_3_1() {
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// RFC 8037 Appendix A.3: the Ed25519 example key's thumbprint.
    #[test]
    fn rfc8037_appendix_a_3() {
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }))
        .unwrap();
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    /// Members other than the required ones (`use`, `alg`, `kid`) do not change it.
    #[test]
    fn optional_members_do_not_count() {
        let base = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        });
        let mut more = base.clone();
        more["kid"] = "k1".into();
        more["use"] = "sig".into();
        more["alg"] = "ES256".into();
        let a: Jwk = serde_json::from_value(base).unwrap();
        let b: Jwk = serde_json::from_value(more).unwrap();
        assert_eq!(jwk_thumbprint(&a).unwrap(), jwk_thumbprint(&b).unwrap());
    }

    #[test]
    fn rejects_a_symmetric_key() {
        let jwk: Jwk =
            serde_json::from_value(serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})).unwrap();
        assert_eq!(jwk_thumbprint(&jwk), Err(DpopProofError::UnsupportedJwk));
    }
}
