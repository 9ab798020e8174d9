//! One file per table, each holding its row type (`*Record`, column for column), its
//! column list, its SQL text and binding, and core's per-table trait on
//! [`SqlStore`](crate::SqlStore) (through [`sql_store_impl!`](crate::store::sql_store_impl)).
//!
//! Placeholders are `$1`, `$2`, …: PostgreSQL's syntax, which sqlx's SQLite driver
//! also binds by number. Statements that differ between backends are constants of
//! [`crate::Backend`] instead.

mod acme;
mod authorization_codes;
mod client_assertions;
mod clients;
mod consents;
mod device_authorizations;
mod dpop_proofs;
mod dynamic_clients;
mod purge;
mod pushed_authorization_requests;
mod rate_limits;
mod refresh_tokens;
mod resources;
mod revoked_access_tokens;
mod sessions;
mod signing_keys;
mod used_authorization_requests;
mod users;
