//! portcullis-resource tests: handcrafted tokens signed with keys generated per run,
//! issuers served on 127.0.0.1 for the remote key store and introspection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod dpop;
mod introspection;
mod key_store;
mod layer;
mod support;
mod validator;
