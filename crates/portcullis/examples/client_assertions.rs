//! Benchmark helper: pre-generates `private_key_jwt` client assertions (RFC 7523 §2.2,
//! §3) for the load generator, one per line, each with its own `jti` (the server
//! accepts a `jti` once), all signed ES256 by one bench-only P-256 key whose public half
//! is [`PUBLIC_JWK`], issued now and valid for an hour. `bench/client_credentials.sh`
//! feeds them to wrk, one per request, for its private_key_jwt row.
//!
//! Run: `cargo run --release -p portcullis --example client_assertions -- AUD CLIENT_ID
//! COUNT FILE` (e.g. `http://127.0.0.1:18181 bench-keyed 100000 /tmp/assertions.txt`;
//! `AUD` is the issuer). `--jwk` prints the public JWK (for the server's config).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::Clock;
use std::io::{BufWriter, Write};

/// A P-256 key for benchmarks only (PKCS#8 PEM); never register it anywhere real.
const BENCH_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgW/oiZSAx4qngv0FE
Y69Rp0Y1ffj6YvHzW63qWPjHb5GhRANCAAS5q90ynelHPrGgtBNiwpeaW64+MGTI
4loeqT8+2U96gWnXzrGQiGTNZJ3oh8+NfigrifrMDSSAiG6fND3OTiiM
-----END PRIVATE KEY-----
";

/// The public half of [`BENCH_KEY_PEM`] as a JWK (kid `bench-1`).
const PUBLIC_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"bench-1","x":"uavdMp3pRz6xoLQTYsKXmluuPjBkyOJaHqk_PtlPeoE","y":"adfOsZCIZM1kneiHz41-KCuJ-swNJICIbp80Pc5OKIw"}"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--jwk") {
        println!("{PUBLIC_JWK}");
        return;
    }
    let [aud, client_id, count, file] = args.as_slice() else {
        eprintln!("usage: client_assertions AUD CLIENT_ID COUNT FILE | client_assertions --jwk");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT is a number");
    let body: String = BENCH_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("the bench key is base64");
    let key = EncodingKey::from_ec_der(&der);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("bench-1".into());
    let now = portcullis_core::clock::SystemClock.now();
    let run = format!("{now:x}");
    let mut out = BufWriter::new(std::fs::File::create(file).expect("FILE can be created"));
    for n in 0..count {
        let claims = serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now, "exp": now + 3500, "jti": format!("{run}-{n}"),
        });
        let assertion = jsonwebtoken::encode(&header, &claims, &key).expect("an assertion");
        writeln!(out, "{assertion}").expect("FILE can be written");
    }
    out.flush().expect("FILE can be written");
    eprintln!("{count} assertions of {client_id} for aud {aud} in {file}");
}
