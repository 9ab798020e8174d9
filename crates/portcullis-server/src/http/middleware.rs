//! Middleware of our own (the rest is tower-http's, mounted in [`crate::http::router`]):
//! the one place server faults reach the log ([`faults`]), the request metrics
//! ([`metrics`]) and CORS for browser apps ([`cors`], on tower-http's layer).

pub mod cors;
pub mod faults;
pub mod metrics;

pub use faults::log_faults;
