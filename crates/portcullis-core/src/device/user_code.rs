//! RFC 8628 §6.1 user codes: 8 characters from a 20-letter alphabet without vowels
//! (no words, no look-alike digits), shown `XXXX-XXXX`, typed in any case with or
//! without the dash or spaces. 20^8 ≈ 2.56 × 10^10 codes (34.6 bits): enough only
//! because entries are rate-limited and codes live minutes (see docs/security.md).

use crate::secret::{DigestKey, RandomUnavailable, SecretDigest, random_bytes};

/// A user code, normalised: exactly [`USER_CODE_LENGTH`] characters of
/// [`USER_CODE_ALPHABET`], upper case, no separator. Only [`UserCode::generate`] and
/// [`UserCode::parse`] build one.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode([u8; USER_CODE_LENGTH]);

impl UserCode {
    /// Draws a new user code, uniform over the alphabet: CSPRNG bytes by rejection
    /// sampling (bytes ≥ 240 = 12 × 20 are dropped, so `byte % 20` has no bias; why: a
    /// biased draw makes some codes likelier and shortens a guessing attack).
    ///
    /// # Errors
    /// [`RandomUnavailable`] if the system CSPRNG fails.
    pub fn generate() -> Result<UserCode, RandomUnavailable> {
        let mut code = [0u8; USER_CODE_LENGTH];
        let mut filled = 0;
        let mut pool = [0u8; 16];
        while filled < USER_CODE_LENGTH {
            random_bytes(&mut pool)?;
            for byte in pool {
                if byte >= ACCEPT_BELOW {
                    continue;
                }
                let Some(slot) = code.get_mut(filled) else {
                    break;
                };
                let Some(letter) = USER_CODE_ALPHABET.get(usize::from(byte % ALPHABET_LEN)) else {
                    continue;
                };
                *slot = *letter;
                filled += 1;
            }
        }
        Ok(UserCode(code))
    }

    /// Reads a user code as a person typed it (RFC 8628 §6.1: case-insensitive,
    /// punctuation ignored): upper-cases it, drops `-` and whitespace, and requires
    /// exactly [`USER_CODE_LENGTH`] alphabet characters. Input longer than
    /// [`MAX_USER_CODE_INPUT_BYTES`] is refused before any work.
    ///
    /// `None` when it cannot be a user code (a vowel, a digit, the wrong length); the
    /// page answers "unknown code" either way.
    pub fn parse(input: &str) -> Option<UserCode> {
        if input.len() > MAX_USER_CODE_INPUT_BYTES {
            return None;
        }
        let mut code = [0u8; USER_CODE_LENGTH];
        let mut len = 0;
        for c in input.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let upper = u8::try_from(c.to_ascii_uppercase()).ok()?;
            if !USER_CODE_ALPHABET.contains(&upper) {
                return None;
            }
            *code.get_mut(len)? = upper;
            len += 1;
        }
        (len == USER_CODE_LENGTH).then_some(UserCode(code))
    }

    /// The code as shown to the user: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let (first, second) = self.0.split_at(USER_CODE_LENGTH / 2);
        format!("{}-{}", ascii(first), ascii(second))
    }

    /// The keyed digest of the 8 normalised characters under the key labelled
    /// [`USER_CODE_DIGEST_LABEL`]: the only form stored. Why keyed: a bare SHA-256 of
    /// 34.6 bits is reversed by brute force in seconds on a GPU by whoever reads the
    /// database, within the code's 10 minutes.
    pub fn digest(&self, key: &DigestKey) -> SecretDigest {
        key.digest(&ascii(&self.0))
    }
}

impl std::fmt::Debug for UserCode {
    /// Redacted: a user code is a short-lived credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(..)")
    }
}

/// The alphabet bytes as a string (they are ASCII by construction).
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// HKDF label of the [`DigestKey`] for user codes; no other use may share it.
pub const USER_CODE_DIGEST_LABEL: &[u8] = b"portcullis user code digest v1";
/// RFC 8628 §6.1 alphabet: consonants only.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code (without the dash).
pub const USER_CODE_LENGTH: usize = 8;
/// Longest input [`UserCode::parse`] looks at, in bytes (a form field can be anything).
pub const MAX_USER_CODE_INPUT_BYTES: usize = 64;
/// The alphabet's size as a byte.
const ALPHABET_LEN: u8 = 20;
/// Random bytes below this (the largest multiple of 20 ≤ 256) are used; others dropped.
const ACCEPT_BELOW: u8 = 240;

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn generated_codes_are_8_alphabet_characters() {
        for _ in 0..200 {
            let code = UserCode::generate().unwrap();
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(shown.as_bytes()[4], b'-');
            let letters: Vec<u8> = shown.bytes().filter(|b| *b != b'-').collect();
            assert_eq!(letters.len(), USER_CODE_LENGTH);
            assert!(letters.iter().all(|b| USER_CODE_ALPHABET.contains(b)));
            assert_eq!(UserCode::parse(&shown), Some(code));
        }
    }

    #[test]
    fn generated_letters_are_roughly_uniform() {
        let draws = 20_000;
        let mut counts: BTreeMap<u8, usize> = BTreeMap::new();
        for _ in 0..draws {
            for b in UserCode::generate().unwrap().0 {
                *counts.entry(b).or_default() += 1;
            }
        }
        let expected = draws * USER_CODE_LENGTH / USER_CODE_ALPHABET.len();
        assert_eq!(counts.len(), USER_CODE_ALPHABET.len(), "every letter drawn");
        for (letter, count) in counts {
            assert!(
                count < 2 * expected && count * 2 > expected,
                "{} drawn {count} times, expected about {expected}",
                char::from(letter)
            );
        }
    }

    #[test]
    fn parse_normalises_case_dashes_and_spaces() {
        let canonical = UserCode::parse("BCDFGHJK").unwrap();
        assert_eq!(canonical.display(), "BCDF-GHJK");
        for input in [
            "bcdf-ghjk",
            " BCDF GHJK ",
            "BCDFGHJK",
            "bCdF\tgHjK",
            "BCDF--GHJK",
        ] {
            assert_eq!(UserCode::parse(input), Some(canonical.clone()), "{input:?}");
        }
        let key = DigestKey::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &[3; 32],
        ));
        assert_eq!(canonical.digest(&key), key.digest("BCDFGHJK"));
        assert_ne!(canonical.digest(&key), SecretDigest::of("BCDFGHJK"));
    }

    #[test]
    fn parse_rejects_what_cannot_be_a_code() {
        let overlong = format!("BCDF-GHJK{}", " ".repeat(MAX_USER_CODE_INPUT_BYTES));
        for input in [
            "ABCD-FGHJ",  // a vowel
            "BCDF-GHJ1",  // a digit
            "BCDF-GHJ",   // 7 characters
            "BCDF-GHJKL", // 9 characters
            "",
            "BCDF_GHJK", // not a separator we drop
            "BCDF-GHJÉ", // not ASCII
            overlong.as_str(),
        ] {
            assert_eq!(UserCode::parse(input), None, "{input:?}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let code = UserCode::parse("BCDFGHJK").unwrap();
        assert_eq!(format!("{code:?}"), "UserCode(..)");
    }
}
