//! RFC 8628 §6.1 user-code normalisation (`UserCode::parse`: case-insensitive,
//! dashes and whitespace ignored, the 20-consonant alphabet) as the device
//! verification page reads what a person typed. A parsed code must round-trip
//! through its display form, lower-cased too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::device::user_code::UserCode;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(code) = UserCode::parse(text) {
        let display = code.display();
        let again = UserCode::parse(&display).map(|c| c.display());
        assert_eq!(again.as_deref(), Some(display.as_str()));
        let lower = UserCode::parse(&display.to_lowercase()).map(|c| c.display());
        assert_eq!(lower.as_deref(), Some(display.as_str()));
    }
});
