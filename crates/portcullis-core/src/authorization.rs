//! RFC 6749 §4.1 authorization code flow, up to the code: the validated request
//! ([`request`]), what happens next for this browser ([`decision`]), the request kept
//! while the user logs in and approves ([`pending`]), the scopes a user has approved
//! for a client ([`consent`]), the code itself ([`code`]), and the redirect back to the
//! client ([`response`]); requests pushed ahead by the client (RFC 9126, [`pushed`]).

pub mod code;
pub mod consent;
pub mod decision;
pub mod pending;
pub mod pushed;
pub mod request;
pub mod response;
