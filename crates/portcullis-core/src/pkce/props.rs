//! Property tests of the RFC 7636 §4.1 verifier rule (issue 16 item 8):
//! `code-verifier = 43*128unreserved`, `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.

use super::*;
use proptest::prelude::*;

/// Unreserved characters only, of lengths around both bounds.
const UNRESERVED: &str = "[A-Za-z0-9._~-]";

fn valid_verifier() -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{UNRESERVED}{{43,128}}")).unwrap()
}

proptest! {
    #[test]
    fn a_verifier_of_unreserved_characters_is_valid_exactly_at_43_to_128_characters(
        verifier in proptest::string::string_regex(&format!("{UNRESERVED}{{0,140}}")).unwrap(),
    ) {
        prop_assert_eq!(
            is_code_verifier(&verifier),
            (43..=128).contains(&verifier.len())
        );
    }

    #[test]
    fn one_character_outside_the_unreserved_set_makes_a_verifier_invalid(
        verifier in valid_verifier(),
        bad in any::<char>().prop_filter("not unreserved", |c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
        }),
        at in any::<prop::sample::Index>(),
    ) {
        let mut chars: Vec<char> = verifier.chars().collect();
        let i = at.index(chars.len());
        chars[i] = bad;
        let tampered: String = chars.into_iter().collect();
        prop_assert!(!is_code_verifier(&tampered), "{tampered:?}");
        let challenge = CodeChallenge::parse(&s256(&verifier)).unwrap();
        prop_assert_eq!(
            verify(&challenge, &tampered).err(),
            Some(PkceReason::MalformedVerifier)
        );
    }

    #[test]
    fn a_valid_verifier_verifies_against_its_own_challenge_and_no_other(
        verifier in valid_verifier(),
        other in valid_verifier(),
    ) {
        let challenge = CodeChallenge::parse(&s256(&verifier)).unwrap();
        prop_assert!(verify(&challenge, &verifier).is_ok());
        if other != verifier {
            prop_assert_eq!(
                verify(&challenge, &other).err(),
                Some(PkceReason::VerifierMismatch)
            );
        }
    }
}
