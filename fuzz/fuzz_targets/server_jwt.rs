//! The server's own JWT checks (RFC 7515 §5.2, RFC 8725, RFC 9068 §4): the JOSE
//! header read to pick one of our keys, then the claims of access tokens (userinfo,
//! introspection, revocation: the server's `OwnAccessTokens`, which is
//! `portcullis-resource`'s `JwtCheck`) and of `id_token_hint`s (RP-Initiated Logout §2).
//!
//! Selector byte 0: the rest is a token as presented (header parsing, key choice,
//! signature). Otherwise the rest is a JSON claims set that one of our keys signs,
//! so the claims parsers behind the signature check are reached too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::keys::{KeyRing, SigningAlgorithm};
use portcullis_core::tokens::access_token::AccessTokenVerifier;
use portcullis_core::tokens::id_token::verify_id_token_hint;
use portcullis_server::app::keys::KeySnapshot;
use std::sync::OnceLock;

const ISSUER: &str = "https://id.example";
const NOW: i64 = 1_800_000_000;

/// The keys as the server holds them: the ring and the verifier built from its JWKS.
fn keys() -> &'static KeySnapshot {
    static KEYS: OnceLock<KeySnapshot> = OnceLock::new();
    KEYS.get_or_init(|| {
        KeySnapshot::new(
            portcullis_core::testing::key_ring(NOW).unwrap_or_else(|e| panic!("key ring: {e}")),
        )
    })
}

fn ring() -> &'static KeyRing {
    &keys().ring
}

fn check(token: &str) {
    let _ = keys().access_tokens.verify(ISSUER, token, NOW);
    let _ = verify_id_token_hint(ring(), ISSUER, token);
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    if *selector == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            check(token);
        }
        return;
    }
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let Ok(signer) = ring().signer(SigningAlgorithm::Es256, NOW) else {
        return;
    };
    let typ = if selector % 2 == 0 { "at+jwt" } else { "JWT" };
    if let Ok(token) = signer.sign_jwt(typ, &claims) {
        check(&token);
    }
});
