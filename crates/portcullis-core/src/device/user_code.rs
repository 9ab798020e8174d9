//! RFC 8628 §6.1 user codes: 8 characters from a 20-letter alphabet without vowels
//! (no words, no look-alike digits), shown `XXXX-XXXX`, typed in any case with or
//! without the dash or spaces. 20^8 ≈ 2.56 × 10^10 codes (34.6 bits): enough only
//! because entries are rate-limited and codes live minutes (see docs/security.md).

/// RFC 8628 §6.1 alphabet: consonants only.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code (without the dash).
pub const USER_CODE_LENGTH: usize = 8;
