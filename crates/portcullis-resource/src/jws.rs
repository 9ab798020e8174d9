//! RFC 7515 §7.1 JWS compact serialization: splitting a token into its parts and
//! reading the JOSE header *only to select a key* (RFC 8725 §3.1, §3.11). Nothing
//! read here is trusted until the signature over it verifies.

use crate::ValidationError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The three parts of a compact JWS, as the base64url text they arrived in.
pub(crate) struct CompactJws<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    /// `header '.' payload`: the JWS signing input (RFC 7515 §5.2 step 8).
    pub(crate) signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    /// Splits a token with exactly two `.` separators; `None` for anything else
    /// (an opaque token, or a JWE with its four separators).
    pub(crate) fn split(token: &'a str) -> Option<Self> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if payload.contains('.') {
            return None;
        }
        Some(Self {
            header,
            payload,
            signature,
            signing_input,
        })
    }
}

/// The JOSE header members the validator looks at, unverified (CONVENTIONS.md §5).
#[derive(Debug)]
pub(crate) struct UnverifiedHeader {
    pub(crate) unverified_alg: String,
    pub(crate) unverified_typ: Option<String>,
    pub(crate) unverified_kid: Option<String>,
    /// RFC 7515 §4.1.11: `crit` present (no extension is understood here).
    pub(crate) has_crit: bool,
}

#[derive(Deserialize)]
struct HeaderWire {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
}

/// Reads the JOSE header of an unverified token **only to select a key** (`kid`)
/// and to refuse early what no key could make acceptable (`typ`, `alg`, `crit`).
/// Its values are named `unverified_*`: the signature over them has not been
/// checked yet. `jku`, `x5u`, `jwk` and `x5c` are never read: the key always comes
/// from the configured issuer's JWKS (RFC 8725 §3.10), never from the token.
///
/// This is the one function that decodes a header before verification
/// (CONVENTIONS.md §5); it parses base64url JSON itself instead of calling
/// `jsonwebtoken::decode_header` so that `alg: none` and unknown names become a
/// named [`ValidationError::AlgorithmNotAllowed`] rather than a parse error.
pub(crate) fn unverified_header(segment: &str) -> Result<UnverifiedHeader, ValidationError> {
    let json = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ValidationError::Malformed)?;
    let wire: HeaderWire = serde_json::from_slice(&json).map_err(|_| ValidationError::Malformed)?;
    Ok(UnverifiedHeader {
        unverified_alg: wire.alg.ok_or(ValidationError::Malformed)?,
        unverified_typ: wire.typ,
        unverified_kid: wire.kid,
        has_crit: wire.crit.is_some(),
    })
}

/// An unverified header value as kept in a [`ValidationError`]: at most
/// [`MAX_KID_BYTES`](crate::MAX_KID_BYTES) bytes, so a hostile header cannot fill
/// the logs.
pub(crate) fn clipped(mut value: String) -> String {
    let max = crate::MAX_KID_BYTES;
    if value.len() > max {
        let mut end = max;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
        value.push('…');
    }
    value
}

/// RFC 9068 §4 (§2.1): `typ` must be `at+jwt`; RFC 7515 §4.1.9 lets the
/// `application/` prefix be omitted, and media types compare case-insensitively.
pub(crate) fn is_access_token_typ(typ: &str) -> bool {
    is_typ(typ, "at+jwt")
}

/// RFC 7515 §4.1.9: whether the header `typ` names the media type `expected` (given
/// without its `application/` prefix, which `typ` may or may not carry), compared
/// case-insensitively (RFC 2045 §5.1).
pub(crate) fn is_typ(typ: &str, expected: &str) -> bool {
    const PREFIX: &str = "application/";
    if typ.eq_ignore_ascii_case(expected) {
        return true;
    }
    match (typ.get(..PREFIX.len()), typ.get(PREFIX.len()..)) {
        (Some(prefix), Some(rest)) => {
            prefix.eq_ignore_ascii_case(PREFIX) && rest.eq_ignore_ascii_case(expected)
        }
        _ => false,
    }
}

/// Decodes the (verified) payload segment.
pub(crate) fn decode_payload(segment: &str) -> Result<Vec<u8>, ValidationError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ValidationError::Malformed)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn typ_is_case_insensitive_with_optional_prefix() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert!(is_access_token_typ(ok), "{ok}");
        }
        for bad in [
            "JWT",
            "jwt",
            "at+jwt ",
            "application/jwt",
            "x/at+jwt",
            "",
            "é",
        ] {
            assert!(!is_access_token_typ(bad), "{bad}");
        }
    }

    #[test]
    fn splits_exactly_three_parts() {
        assert!(CompactJws::split("a.b.c").is_some());
        assert!(CompactJws::split("a.b.").is_some());
        assert!(CompactJws::split("a.b").is_none());
        assert!(CompactJws::split("a.b.c.d").is_none());
        assert!(CompactJws::split("opaque").is_none());
        let jws = CompactJws::split("h.p.s").unwrap();
        assert_eq!(
            (jws.header, jws.payload, jws.signature, jws.signing_input),
            ("h", "p", "s", "h.p")
        );
    }
}
