//! Benchmark helper: pre-generates DPoP proofs (RFC 9449 §4.2) for the load generator,
//! one per line, each with its own `jti` (the server accepts a `jti` once, §11.1), all
//! signed by one ES256 key (one client) and issued now. `bench/client_credentials.sh`
//! feeds them to wrk, one per request, for its DPoP row.
//!
//! Run: `cargo run --release -p portcullis --example dpop_proofs -- HTU COUNT FILE`
//! (e.g. `http://127.0.0.1:18181/token 100000 /tmp/proofs.txt`; `htm` is POST).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use portcullis_resource::dpop::DpopKey;
use std::io::{BufWriter, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(htu), Some(count), Some(file)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: dpop_proofs HTU COUNT FILE");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT is a number");
    let key = DpopKey::generate().expect("a DPoP key");
    let mut out = BufWriter::new(std::fs::File::create(&file).expect("FILE can be created"));
    for _ in 0..count {
        let proof = key.proof("POST", &htu, None, None).expect("a proof");
        writeln!(out, "{proof}").expect("FILE can be written");
    }
    out.flush().expect("FILE can be written");
    eprintln!(
        "{count} proofs for POST {htu} by the key {} in {file}",
        key.jkt()
    );
}
