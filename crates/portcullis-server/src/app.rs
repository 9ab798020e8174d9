//! The running authorization server without HTTP: start-up and the services object
//! ([`state`]), configuration by section ([`config`]), signing keys ([`keys`]), attempt
//! limits ([`throttle`]), admin operations and the `--dev` seed ([`admin`]), audit
//! events ([`audit`]), housekeeping and the client cache; and the application step of
//! each OAuth endpoint ([`token`], [`token_inquiry`], [`device_authorization`],
//! [`userinfo`], [`health`]): the endpoint's context, one core call, the audit of its
//! outcome.
//!
//! Rule: nothing here imports `axum`, `http`, `hyper`, `tower` or the HTTP layer
//! (`.ci/run` checks it with a grep).

pub mod admin;
pub mod audit;
pub mod clients;
pub mod config;
pub mod device_authorization;
pub mod discovery;
pub mod health;
pub mod housekeeping;
pub mod keys;
pub mod metrics;
pub mod net;
pub mod state;
pub mod throttle;
pub mod token;
pub mod token_inquiry;
pub mod userinfo;
