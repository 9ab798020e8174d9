//! Tokens Portcullis issues: RFC 9068 access tokens and OpenID Connect id_tokens, and
//! the verification of our own signatures ([`verify`]).

pub mod access_token;
pub mod id_token;
pub mod refresh_token;
pub mod verify;
