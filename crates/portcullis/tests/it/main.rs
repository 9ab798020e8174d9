//! The one integration test binary (CONVENTIONS §10): the real router on
//! `127.0.0.1:0`, a temporary SQLite database, a manual clock, and independent client
//! libraries (`oauth2`, `jsonwebtoken`) as peers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod acme;
mod authorization_code;
mod authorize_rejections;
mod authorize_storage;
mod browser;
mod cimd;
mod cli;
mod cli_admin;
mod cli_client;
mod cli_dpop;
mod client_credentials;
mod cluster;
mod cors;
mod default_scopes;
mod device;
mod discovery;
mod dpop;
mod fapi2;
mod flow;
mod html;
mod incident;
mod introspection;
mod jwks_uri;
mod keyed_digests;
mod keys;
mod lifecycle;
mod logout;
mod mcp;
mod metrics;
mod oauth4webapi;
mod oidc;
mod outage;
mod pages;
mod par;
mod postgres;
mod private_key_jwt;
mod probe_edges;
mod proxy;
mod refresh;
mod refresh_race;
mod registration;
mod rejections;
mod resource;
mod revocation;
mod selftest;
mod serve;
mod support;
mod timeouts;
mod tls;
mod userinfo;
