//! Small grammars of request parameters: RFC 6749 §3.3 scope (parse, then the wire
//! form round-trips), RFC 8707 §2 resource URIs, RFC 7636 §4.1–4.3 PKCE challenge and
//! verifier, OIDC Core §3.1.2.1 `prompt`. The first byte picks the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::authorization::request::Prompt;
use portcullis_core::client::check_resource_uri;
use portcullis_core::client::origin::{check_allowed_origin, origin_of};
use portcullis_core::pkce::{CodeChallenge, is_code_verifier, parse_challenge, s256, verify};
use portcullis_core::scope::{join_scope, parse_scope};

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match selector % 5 {
        0 => {
            if let Ok(scopes) = parse_scope(text) {
                // A parsed scope joins back into a value that parses to the same set.
                let joined = join_scope(&scopes).unwrap_or_default();
                assert_eq!(parse_scope(&joined).ok(), Some(scopes));
            }
        }
        1 => {
            let _ = check_resource_uri(text);
        }
        2 => {
            let (challenge, method) = text.split_once('\0').unwrap_or((text, ""));
            let method = (!method.is_empty()).then_some(method);
            if let Ok(Some(challenge)) = parse_challenge(Some(challenge), method) {
                let _ = verify(&challenge, text);
            }
        }
        3 => {
            if is_code_verifier(text) {
                // RFC 7636 §4.6: a well-formed verifier verifies against its S256.
                let challenge = CodeChallenge::parse(&s256(text));
                assert!(challenge.is_ok_and(|c| verify(&c, text).is_ok()));
            }
        }
        _ => {
            let _ = Prompt::parse(text);
            let _ = check_allowed_origin(text);
            let _ = origin_of(text);
        }
    }
});
