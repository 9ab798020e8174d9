//! DPoP proofs (RFC 9449 §4.2–4.3) as `portcullis-resource` checks them for the
//! server's token endpoint and for resource servers: `verify_proof` (size, compact
//! JWS, header `typ`/`alg`/`jwk`/`crit`, private-key members, signature, claims
//! `jti`/`htm`/`htu`/`iat`/`ath`/`nonce`), and `htu` normalisation.
//!
//! Selector byte 0: the rest is a proof as presented. Otherwise the rest is a JSON
//! header object `\0` a JSON claims object; the header gets our key's `jwk`, `alg`
//! and `typ` unless it names them, and the proof is signed with that key, so the
//! checks behind the signature are reached.
#![no_main]

use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::split_nul;
use portcullis_resource::dpop::{DpopKey, NonceCheck, ProofCheck, normalize_htu, verify_proof};
use serde_json::{Map, Value};
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;

fn key() -> &'static (DpopKey, EncodingKey) {
    static KEY: OnceLock<(DpopKey, EncodingKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = DpopKey::generate().unwrap_or_else(|e| panic!("DPoP key: {e}"));
        let encoding = EncodingKey::from_ec_der(key.to_pkcs8_der());
        (key, encoding)
    })
}

fn check(proof: &str, selector: u8) {
    let nonce = if selector & 2 == 0 {
        NonceCheck::Ignore
    } else {
        NonceCheck::Equals("n-1")
    };
    let check = ProofCheck {
        htm: "POST",
        htu: "https://api.example/orders",
        access_token: (selector & 4 != 0).then_some("an-access-token"),
        now: NOW,
        max_age: 300,
        leeway: 5,
        nonce,
    };
    if let Ok(proof) = verify_proof(proof, &check) {
        assert_eq!(proof.htm, "POST");
        assert!(proof.iat + 300 >= NOW && proof.iat <= NOW + 5);
    }
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    if *selector == 0 {
        if let Ok(proof) = std::str::from_utf8(rest) {
            check(proof, 0);
            let _ = normalize_htu(proof);
        }
        return;
    }
    let (header, claims) = split_nul(rest);
    let mut header: Map<String, Value> = serde_json::from_slice(header).unwrap_or_default();
    let Ok(claims) = serde_json::from_slice::<Value>(claims) else {
        return;
    };
    let (key, encoding) = key();
    if !header.contains_key("jwk") {
        let jwk = serde_json::to_value(key.public_jwk()).unwrap_or_default();
        header.insert("jwk".into(), jwk);
    }
    header.entry("alg").or_insert_with(|| "ES256".into());
    header.entry("typ").or_insert_with(|| "dpop+jwt".into());
    let input = format!("{}.{}", b64(&Value::Object(header)), b64(&claims));
    if let Ok(signature) = jsonwebtoken::crypto::sign(input.as_bytes(), encoding, Algorithm::ES256)
    {
        check(&format!("{input}.{signature}"), *selector);
    }
});
