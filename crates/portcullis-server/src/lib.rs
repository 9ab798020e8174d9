//! The Portcullis authorization server: the application layer and its HTTP adapter.
//!
//! - [`app`] is the running authorization server without HTTP: start-up and the
//!   services object, configuration by section, signing keys, attempt limits, admin
//!   operations, audit events and housekeeping. It never imports axum, http, hyper or
//!   tower (`.ci/run` checks it).
//! - [`http`] is the axum adapter: router, serve loop, the one wire mapping of errors,
//!   extractors, middleware, pages and endpoints. Handlers are adapters (CONVENTIONS
//!   §1): they extract, call one application or core function, and respond.

pub mod app;
pub mod http;

pub use app::state::{App, AppState, StartError};
