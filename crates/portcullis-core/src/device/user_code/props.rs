//! Property tests of user-code normalisation (RFC 8628 §6.1; issue 16 item 8): what
//! a person may type (any case, dashes and spaces anywhere) reads as the same code,
//! and the code round-trips through its display form; anything else is refused.

use super::*;
use proptest::prelude::*;

/// Eight characters of the alphabet, in display form `XXXX-XXXX`.
fn display_form() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(USER_CODE_ALPHABET.to_vec()),
        USER_CODE_LENGTH,
    )
    .prop_map(|letters| {
        let text: String = letters.into_iter().map(char::from).collect();
        format!("{}-{}", &text[..4], &text[4..])
    })
}

proptest! {
    #[test]
    fn every_user_code_round_trips_through_its_display_form(display in display_form()) {
        let code = UserCode::parse(&display).unwrap();
        prop_assert_eq!(code.display(), display.clone());
        prop_assert_eq!(UserCode::parse(&code.display()).unwrap(), code);
    }

    #[test]
    fn case_dashes_and_whitespace_do_not_change_the_code(
        display in display_form(),
        separators in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(vec!["-", " ", "\t", "--", "\u{a0}", "\u{3000}"])),
            0..6,
        ),
        lower in prop::collection::vec(any::<bool>(), USER_CODE_LENGTH + 1),
    ) {
        let mut typed: String = display
            .chars()
            .zip(&lower)
            .map(|(c, l)| if *l { c.to_ascii_lowercase() } else { c })
            .collect();
        for (at, separator) in separators {
            let boundaries: Vec<usize> =
                (0..=typed.len()).filter(|i| typed.is_char_boundary(*i)).collect();
            typed.insert_str(boundaries[at.index(boundaries.len())], separator);
        }
        prop_assume!(typed.len() <= MAX_USER_CODE_INPUT_BYTES);
        let code = UserCode::parse(&typed);
        prop_assert_eq!(code.map(|c| c.display()), Some(display), "{:?}", typed);
    }

    #[test]
    fn a_character_outside_the_alphabet_is_refused(
        display in display_form(),
        bad in any::<char>().prop_filter("not alphabet, dash or whitespace", |c| {
            *c != '-'
                && !c.is_whitespace()
                && !u8::try_from(c.to_ascii_uppercase()).is_ok_and(|b| USER_CODE_ALPHABET.contains(&b))
        }),
        at in 0..=9_usize,
    ) {
        let mut typed = display;
        typed.insert(at, bad);
        prop_assert!(UserCode::parse(&typed).is_none(), "{typed:?}");
    }

    #[test]
    fn a_code_of_the_wrong_length_is_refused(
        letters in prop::collection::vec(prop::sample::select(USER_CODE_ALPHABET.to_vec()), 0..20)
            .prop_filter("not 8 letters", |l| l.len() != USER_CODE_LENGTH),
    ) {
        let typed: String = letters.into_iter().map(char::from).collect();
        prop_assert!(UserCode::parse(&typed).is_none());
    }
}
