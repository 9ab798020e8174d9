//! Portcullis protocol logic.
//!
//! No HTTP and no SQL: functions take `now` (seconds since the epoch, from a
//! [`clock::Clock`]) and a [`store::Store`], and return precise reasons on failure;
//! [`error_code`] maps each reason to its RFC error code, in one place.

pub mod acme;
pub mod authorization;
pub mod client;
pub mod clock;
pub mod device;
pub mod dpop;
pub mod error_code;
pub mod grants;
pub mod introspection;
pub mod keys;
pub mod pkce;
pub mod purge;
pub mod rate_limit;
pub mod resource;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod session;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tokens;
pub mod user;
pub mod userinfo;

pub use clock::{Clock, UnixTime};
pub use store::{Store, StoreError};
