//! HTTP endpoints, one module per RFC concept. Handlers are named `<endpoint>_<method>`.

pub mod discovery;
pub mod health;
pub mod jwks;
pub mod token;
