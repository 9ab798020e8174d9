//! The axum adapter: router, serve loop, the one wire mapping of errors ([`error`]),
//! extractors, middleware, pages (views only) and endpoints (handlers that extract,
//! call one application or core function, and respond).

pub mod browser;
pub mod endpoints;
pub mod error;
pub mod extract;
pub mod interaction;
pub mod listeners;
pub mod middleware;
pub mod pages;
pub mod redirect;
pub mod router;
pub mod serve;
pub mod tls;
