//! The running authorization server without HTTP: start-up and the services object
//! ([`state`]), configuration by section ([`config`]), signing keys ([`keys`]), attempt
//! limits ([`throttle`]), admin operations and the `--dev` seed ([`admin`]), audit
//! events ([`audit`]), housekeeping, the client cache and the origins CORS preflights
//! are answered for ([`cross_origin`]).
//!
//! The application step of each OAuth endpoint ([`token`], [`token_inquiry`],
//! [`device_authorization`], [`userinfo`], [`health`]): the endpoint's context, one
//! core call, the audit of its outcome. The browser flows: an authorization request
//! ([`authorization_request`]), the steps between it and the redirect
//! ([`interaction`]), signing in ([`sign_in`]), consent ([`consent`]), the device
//! verification page ([`device_verification`]) and logout ([`end_session`]), over the
//! browser's cookies ([`browser`]), reporting server-side failures as [`incident`]s.
//!
//! Rule: nothing here imports `axum`, `http`, `hyper`, `tower` or the HTTP layer
//! (`.ci/run` checks it with a grep).

pub mod access_token;
pub mod acme;
pub mod admin;
pub mod audit;
pub mod authorization_request;
pub mod browser;
pub mod clients;
pub mod config;
pub mod consent;
pub mod cross_origin;
pub mod database;
pub mod device_authorization;
pub mod device_cookie;
pub mod device_verification;
pub mod discovery;
pub mod dpop;
pub mod dummy_password;
pub mod end_session;
pub mod form;
pub mod health;
pub mod housekeeping;
pub mod incident;
pub mod interaction;
pub mod keyed_digests;
pub mod keys;
pub mod layout;
pub mod metrics;
pub mod net;
pub mod outbound;
pub mod pushed_authorization;
pub mod registration;
pub mod sign_in;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod token;
pub mod token_inquiry;
pub mod userinfo;
