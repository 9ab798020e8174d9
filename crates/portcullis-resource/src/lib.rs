//! Resource-server library for APIs that accept Portcullis (or any RFC 9068) access
//! tokens: JWKS key store, validator (`typ`, `alg`, signature, `iss`, `aud`, `exp`,
//! scope), tower layer and axum extractor.
//!
//! Empty for now: it is built in its own issue. Until then, validate tokens with a
//! JOSE library against the issuer's `jwks_uri`, checking `typ: at+jwt`, `iss`, `aud`
//! and `exp` as RFC 9068 §4 requires (the integration test `verify_access_token` in
//! `crates/portcullis/tests/it/support.rs` shows the checks with `jsonwebtoken`).
