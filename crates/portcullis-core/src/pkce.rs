//! RFC 7636 Proof Key for Code Exchange, `S256` only (RFC 9700 §2.1.1; `plain` is
//! refused: it protects nothing once the authorization request is observed).
//!
//! At the authorization endpoint [`parse_challenge`] checks `code_challenge` and
//! `code_challenge_method` (RFC 7636 §4.3); at the token endpoint [`verify`] checks the
//! `code_verifier` against the stored challenge (§4.6) and returns the proof
//! [`VerifiedCodeVerifier`].

use aws_lc_rs::{constant_time, digest};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use portcullis_proto::error::echo;

/// RFC 7636 §4.2 `code_challenge_method`. One variant: `plain` does not exist here,
/// so no code path can accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChallengeMethod {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))`.
    S256,
}

impl CodeChallengeMethod {
    /// Every supported method, as discovery advertises them
    /// (`code_challenge_methods_supported`).
    pub const ALL: [CodeChallengeMethod; 1] = [CodeChallengeMethod::S256];

    /// The wire spelling, `S256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
        }
    }

    /// Parses `code_challenge_method` as sent with a challenge.
    ///
    /// # Errors
    /// [`PkceReason::MissingMethod`] when absent: RFC 7636 §4.3 makes the default
    /// `plain`, which is not supported, so `S256` must be explicit;
    /// [`PkceReason::PlainMethod`]; [`PkceReason::UnsupportedMethod`] for anything else
    /// (the comparison is case-sensitive, as RFC 7636 §4.2 spells the names).
    pub fn parse(method: Option<&str>) -> Result<Self, PkceReason> {
        match method {
            Some("S256") => Ok(Self::S256),
            Some("plain") => Err(PkceReason::PlainMethod),
            Some(other) => Err(PkceReason::UnsupportedMethod(echo(other))),
            None => Err(PkceReason::MissingMethod),
        }
    }
}

/// A `code_challenge` that is well formed for [`CodeChallengeMethod::S256`]: 43
/// base64url characters that decode to exactly 32 bytes (a SHA-256 output). Only
/// [`CodeChallenge::parse`] builds one, so a value of this type was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    value: String,
}

impl CodeChallenge {
    /// RFC 7636 §4.2: checks that `value` is an S256 challenge, as sent at the
    /// authorization endpoint or as stored with a code. Decoding (not just a character
    /// check) also refuses non-canonical trailing bits, which would make a challenge
    /// that no verifier can ever match.
    ///
    /// # Errors
    /// [`PkceReason::MalformedChallenge`].
    pub fn parse(value: &str) -> Result<Self, PkceReason> {
        let well_formed = value.len() == S256_CHALLENGE_LEN
            && URL_SAFE_NO_PAD
                .decode(value)
                .is_ok_and(|bytes| bytes.len() == SHA256_LEN);
        if !well_formed {
            return Err(PkceReason::MalformedChallenge);
        }
        Ok(Self {
            value: value.to_owned(),
        })
    }

    /// The challenge as sent (and as stored).
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Proof that a `code_verifier` hashed to the code's challenge. Only [`verify`]
/// constructs it; consuming an authorization code issued with a challenge demands it
/// (`grants::authorization_code`), so a code cannot be redeemed without the check.
#[derive(Debug)]
pub struct VerifiedCodeVerifier {
    _proof: (),
}

/// Why PKCE parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceReason {
    /// `code_challenge_method=plain` (RFC 7636 §4.2); OAuth 2.1 servers refuse it.
    #[error("code_challenge_method `plain` is not supported; use S256 (RFC 7636 section 4.2)")]
    PlainMethod,
    /// A method other than `S256` or `plain`.
    #[error("code_challenge_method `{0}` is not supported; use S256")]
    UnsupportedMethod(String),
    /// A challenge without a method: RFC 7636 §4.3 would default to `plain`.
    #[error(
        "code_challenge_method is missing; send code_challenge_method=S256 (the default, plain, is not supported)"
    )]
    MissingMethod,
    /// A method without a challenge.
    #[error("code_challenge_method was sent without code_challenge")]
    MethodWithoutChallenge,
    /// Not 43 base64url characters encoding 32 bytes.
    #[error(
        "code_challenge must be the 43-character base64url SHA-256 of the code_verifier (RFC 7636 section 4.2)"
    )]
    MalformedChallenge,
    /// RFC 7636 §4.1: not 43–128 characters of `[A-Za-z0-9-._~]`.
    #[error(
        "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~ (RFC 7636 section 4.1)"
    )]
    MalformedVerifier,
    /// RFC 7636 §4.6: the verifier does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge of the authorization request")]
    VerifierMismatch,
}

/// RFC 7636 §4.3: checks the challenge parameters of an authorization request.
/// `Ok(None)` when neither is present (whether that is acceptable depends on the
/// client; see the authorization request rules).
///
/// # Errors
/// A [`PkceReason`] (all `invalid_request`).
pub fn parse_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<CodeChallenge>, PkceReason> {
    let Some(challenge) = challenge else {
        return match method {
            None => Ok(None),
            Some(_) => Err(PkceReason::MethodWithoutChallenge),
        };
    };
    match CodeChallengeMethod::parse(method)? {
        CodeChallengeMethod::S256 => CodeChallenge::parse(challenge).map(Some),
    }
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_code_verifier(verifier: &str) -> bool {
    (MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`,
/// compared in constant time (why: an early-exit comparison would leak how much of a
/// guessed hash matches).
///
/// # Errors
/// [`PkceReason::MalformedVerifier`] or [`PkceReason::VerifierMismatch`].
pub fn verify(
    challenge: &CodeChallenge,
    verifier: &str,
) -> Result<VerifiedCodeVerifier, PkceReason> {
    if !is_code_verifier(verifier) {
        return Err(PkceReason::MalformedVerifier);
    }
    let computed = s256(verifier);
    constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_str().as_bytes())
        .map_err(|_| PkceReason::VerifierMismatch)?;
    Ok(VerifiedCodeVerifier { _proof: () })
}

/// `BASE64URL(SHA256(ASCII(verifier)))` (RFC 7636 §4.2): the S256 challenge of a verifier.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Length of an S256 challenge: base64url of 32 bytes without padding.
const S256_CHALLENGE_LEN: usize = 43;
/// Bytes of a SHA-256 output.
const SHA256_LEN: usize = 32;
/// RFC 7636 §4.1 minimum verifier length.
const MIN_VERIFIER_LEN: usize = 43;
/// RFC 7636 §4.1 maximum verifier length.
const MAX_VERIFIER_LEN: usize = 128;

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_proto::ErrorCode;

    const APPENDIX_B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const APPENDIX_B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn challenge(value: &str) -> CodeChallenge {
        CodeChallenge::parse(value).unwrap()
    }

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(s256(APPENDIX_B_VERIFIER), APPENDIX_B_CHALLENGE);
        let parsed = parse_challenge(Some(APPENDIX_B_CHALLENGE), Some("S256"))
            .unwrap()
            .unwrap();
        assert_eq!(parsed.as_str(), APPENDIX_B_CHALLENGE);
        assert!(verify(&parsed, APPENDIX_B_VERIFIER).is_ok());
    }

    #[test]
    fn no_challenge_and_no_method_is_none() {
        assert_eq!(parse_challenge(None, None).unwrap(), None);
    }

    #[test]
    fn rejects_plain() {
        let e = parse_challenge(Some(APPENDIX_B_VERIFIER), Some("plain")).unwrap_err();
        assert_eq!(e, PkceReason::PlainMethod);
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidRequest);
    }

    #[test]
    fn rejects_an_unknown_method() {
        for method in ["s256", "S512", ""] {
            assert!(matches!(
                parse_challenge(Some(APPENDIX_B_CHALLENGE), Some(method)).unwrap_err(),
                PkceReason::UnsupportedMethod(_)
            ));
        }
    }

    #[test]
    fn rejects_a_challenge_without_method() {
        assert_eq!(
            parse_challenge(Some(APPENDIX_B_CHALLENGE), None).unwrap_err(),
            PkceReason::MissingMethod
        );
    }

    #[test]
    fn rejects_a_method_without_challenge() {
        assert_eq!(
            parse_challenge(None, Some("S256")).unwrap_err(),
            PkceReason::MethodWithoutChallenge
        );
    }

    #[test]
    fn rejects_malformed_challenges() {
        let too_long = format!("{APPENDIX_B_CHALLENGE}A");
        // Last character `N` sets trailing bits that a 32-byte value cannot have.
        let non_canonical = format!("{}N", &APPENDIX_B_CHALLENGE[..42]);
        let padded = format!("{}=", &APPENDIX_B_CHALLENGE[..42]);
        let standard_alphabet = APPENDIX_B_CHALLENGE.replace('-', "+");
        for bad in [
            "short",
            too_long.as_str(),
            non_canonical.as_str(),
            padded.as_str(),
            standard_alphabet.as_str(),
            APPENDIX_B_VERIFIER.replace('-', " ").as_str(),
        ] {
            assert_eq!(
                parse_challenge(Some(bad), Some("S256")).unwrap_err(),
                PkceReason::MalformedChallenge,
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_a_verifier_that_does_not_match() {
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
        let e = verify(&challenge(APPENDIX_B_CHALLENGE), other).unwrap_err();
        assert_eq!(e, PkceReason::VerifierMismatch);
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidGrant);
    }

    #[test]
    fn rejects_malformed_verifiers() {
        let too_long = "a".repeat(129);
        for bad in [
            "a".repeat(42).as_str(),
            too_long.as_str(),
            "dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "dBjftJeZ4CVP mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "dBjftJeZ4CVPémB92K27uhbUJU1p1r_wW1gFWFOEjX",
        ] {
            assert_eq!(
                verify(&challenge(APPENDIX_B_CHALLENGE), bad).unwrap_err(),
                PkceReason::MalformedVerifier,
                "{bad}"
            );
        }
    }

    #[test]
    fn verifier_length_bounds() {
        assert!(is_code_verifier(&"a".repeat(43)));
        assert!(is_code_verifier(&"~._-".repeat(32)));
        assert!(!is_code_verifier(&"a".repeat(42)));
        assert!(!is_code_verifier(&"a".repeat(129)));
        let verifier = "A".repeat(128);
        assert!(verify(&challenge(&s256(&verifier)), &verifier).is_ok());
    }
}
