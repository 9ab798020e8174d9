//! Portcullis HTTP adapter: configuration, start-up, the axum router and its endpoints.
//!
//! Handlers are adapters (CONVENTIONS §1): they extract, call one core function, and
//! turn the result into a response; errors reach the wire through [`error::OAuthError`].

pub mod admin;
pub mod audit;
pub mod browser;
pub mod clients;
pub mod config;
pub mod dev;
pub mod endpoints;
pub mod error;
pub mod extract;
pub mod housekeeping;
pub mod interaction;
pub mod keys;
pub mod metrics;
pub mod net;
pub mod pages;
pub mod router;
pub mod serve;
pub mod state;
pub mod throttle;

pub use state::{App, AppState, StartError};
