//! Public JWKs (RFC 7518 §6.2, §6.3) and RFC 7638 thumbprints.

use aws_lc_rs::digest;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use portcullis_proto::jwk::Jwk;

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no
/// whitespace, base64url. `None` for a key type without its required members.
pub fn thumbprint(jwk: &Jwk) -> Option<String> {
    // The members are base64url strings and fixed names, which need no JSON escaping.
    let canonical = match jwk.kty.as_str() {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.crv.as_deref()?,
            jwk.x.as_deref()?,
            jwk.y.as_deref()?
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk.e.as_deref()?,
            jwk.n.as_deref()?
        ),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

/// JWK for an uncompressed P-256 point (`0x04 ‖ X ‖ Y`, 65 bytes).
pub(super) fn ec_p256(uncompressed_point: &[u8]) -> Option<Jwk> {
    let (tag, xy) = uncompressed_point.split_first()?;
    if *tag != 0x04 || xy.len() != 64 {
        return None;
    }
    let (x, y) = xy.split_at(32);
    let mut jwk = Jwk {
        kty: "EC".into(),
        use_: "sig".into(),
        alg: "ES256".into(),
        kid: String::new(),
        crv: Some("P-256".into()),
        x: Some(URL_SAFE_NO_PAD.encode(x)),
        y: Some(URL_SAFE_NO_PAD.encode(y)),
        n: None,
        e: None,
    };
    jwk.kid = thumbprint(&jwk)?;
    Some(jwk)
}

/// JWK for an RSA public key from its big-endian modulus and exponent.
pub(super) fn rsa(modulus: &[u8], exponent: &[u8]) -> Option<Jwk> {
    let mut jwk = Jwk {
        kty: "RSA".into(),
        use_: "sig".into(),
        alg: "RS256".into(),
        kid: String::new(),
        crv: None,
        x: None,
        y: None,
        n: Some(URL_SAFE_NO_PAD.encode(modulus)),
        e: Some(URL_SAFE_NO_PAD.encode(exponent)),
    };
    jwk.kid = thumbprint(&jwk)?;
    Some(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_section_3_1_example() {
        // The RSA key of RFC 7638 §3.1 and its published thumbprint.
        let jwk = Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: "2011-04-29".into(),
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
        };
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rejects_a_malformed_point() {
        assert!(ec_p256(&[0x04; 10]).is_none());
        assert!(ec_p256(&[0x02; 65]).is_none());
        assert!(ec_p256(&[]).is_none());
    }
}
