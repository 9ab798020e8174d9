//! Middleware of our own (the rest is tower-http's, mounted in [`crate::http::router`]):
//! the one place server faults reach the log ([`faults`]) and the request metrics
//! ([`metrics`]).

pub mod faults;
pub mod metrics;

pub use faults::log_faults;
