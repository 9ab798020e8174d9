//! `portcullis-resource`'s access-token validation (RFC 9068 §4, RFC 8725): the
//! compact JWS split, the unverified JOSE header read to pick a key (`alg`, `typ`,
//! `kid`, `crit`), then the claims (`iss`, `aud`, `exp`, `nbf`, `iat`, `scope`,
//! `cnf`, …) behind the signature.
//!
//! Selector byte 0: the rest is a token as presented. Otherwise the rest is a JSON
//! object whose members replace the claims of a token the test issuer signs, so
//! the claims parser is reached with every shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::block_on;
use portcullis_resource::Validator;
use portcullis_resource::testing::TestIssuer;
use std::sync::OnceLock;

fn fixture() -> &'static (TestIssuer, Validator) {
    static FIXTURE: OnceLock<(TestIssuer, Validator)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let issuer = TestIssuer::new();
        let validator = issuer.validator(issuer.audience().to_owned());
        (issuer, validator)
    })
}

fuzz_target!(|data: &[u8]| {
    let (issuer, validator) = fixture();
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    if *selector == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            let _ = block_on(validator.validate(token));
        }
        return;
    }
    let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(rest) else {
        return;
    };
    let typ = match selector % 4 {
        1 => "at+jwt",
        2 => "application/AT+JWT",
        3 => "JWT",
        _ => "dpop+jwt",
    };
    let mut token = issuer.token().typ(typ);
    for (name, value) in claims {
        token = token.claim(name, value);
    }
    let token = token.sign();
    if let Ok(access) = block_on(validator.validate_with_scopes(&token, &["read"])) {
        let _ = (access.subject(), access.scopes(), access.confirmation_jkt());
    }
});
