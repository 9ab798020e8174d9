//! Tokens Portcullis issues.

pub mod access_token;
