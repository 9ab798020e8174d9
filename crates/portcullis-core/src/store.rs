//! The storage interface. `portcullis-store` implements it for SQLite and PostgreSQL;
//! `testing::MemoryStore` keeps the same contract in memory for tests.
//!
//! [`Store`] is the set of per-table traits, each declared beside the record it
//! stores: [`ClientStore`] (`client.rs`), [`UserStore`] (`user.rs`),
//! [`SigningKeyStore`] (`keys.rs`), [`SessionStore`] (`session.rs`),
//! [`UsedAuthorizationRequestStore`] (`authorization/pending.rs`), [`ConsentStore`]
//! (`authorization/consent.rs`), [`AuthorizationCodeStore`] (`authorization/code.rs`),
//! [`RefreshTokenStore`] (`tokens/refresh_token.rs`), [`RevokedAccessTokenStore`]
//! (`tokens/access_token.rs`), [`DeviceAuthorizationStore`] (`device.rs`),
//! [`RateLimitStore`] (`rate_limit.rs`), [`DpopProofStore`] (`dpop.rs`),
//! [`PushedAuthorizationStore`] (`authorization/pushed.rs`),
//! [`ClientAssertionStore`] (`client/authentication/assertion.rs`),
//! [`PurgeStore`] (`purge.rs`), [`ResourceStore`] (`resource.rs`),
//! [`DynamicClientStore`] (`client/dynamic.rs`), [`AcmeStore`] (`acme.rs`), and
//! [`StoreHealth`] here. Call sites take `&dyn Store` and call any of their methods;
//! code holding a concrete store (a test's `MemoryStore`) imports the traits it calls.
//!
//! Rules every implementation keeps (DESIGN.md "Storage"): each method is atomic;
//! multi-row changes run in one transaction (`BEGIN IMMEDIATE` on SQLite); single use
//! is one conditional statement, never SELECT-then-UPDATE.

mod error;

pub use error::StoreError;

// The per-table traits, and the types that used to live here, at their old paths.
pub use crate::acme::AcmeStore;
pub use crate::authorization::code::AuthorizationCodeStore;
pub use crate::authorization::consent::ConsentStore;
pub use crate::authorization::pending::UsedAuthorizationRequestStore;
pub use crate::authorization::pushed::PushedAuthorizationStore;
pub use crate::client::ClientStore;
pub use crate::client::authentication::assertion::ClientAssertionStore;
pub use crate::client::dynamic::DynamicClientStore;
pub use crate::device::DeviceAuthorizationStore;
pub use crate::dpop::DpopProofStore;
pub use crate::keys::{SigningKeyStore, algorithms_missing_a_key};
pub use crate::purge::{PurgeCounts, PurgeStore};
pub use crate::rate_limit::{RateKey, RateLimitStore};
pub use crate::resource::ResourceStore;
pub use crate::session::SessionStore;
pub use crate::tokens::access_token::RevokedAccessTokenStore;
pub use crate::tokens::refresh_token::RefreshTokenStore;
pub use crate::user::UserStore;

use async_trait::async_trait;

/// Persistent state of the authorization server: every per-table trait (module
/// docs). Implemented for any type that implements them all; never implement it
/// by hand.
pub trait Store:
    StoreHealth
    + ClientStore
    + ResourceStore
    + UserStore
    + SigningKeyStore
    + SessionStore
    + UsedAuthorizationRequestStore
    + ConsentStore
    + AuthorizationCodeStore
    + RefreshTokenStore
    + RevokedAccessTokenStore
    + DeviceAuthorizationStore
    + PurgeStore
    + RateLimitStore
    + DpopProofStore
    + PushedAuthorizationStore
    + ClientAssertionStore
    + DynamicClientStore
    + AcmeStore
    + 'static
{
}

impl<T> Store for T where
    T: StoreHealth
        + ClientStore
        + ResourceStore
        + ResourceStore
        + UserStore
        + SigningKeyStore
        + SessionStore
        + UsedAuthorizationRequestStore
        + ConsentStore
        + AuthorizationCodeStore
        + RefreshTokenStore
        + RevokedAccessTokenStore
        + DeviceAuthorizationStore
        + PurgeStore
        + RateLimitStore
        + DpopProofStore
        + PushedAuthorizationStore
        + ClientAssertionStore
        + DynamicClientStore
        + AcmeStore
        + 'static
{
}

/// Whether the database answers, and how its connections are used: for
/// `/health/ready` and `/metrics`.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// Cheap round trip (`SELECT 1`) for `/health/ready`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The connection pool right now, for `/metrics`; `None` for a store without a
    /// pool (test doubles).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
}

/// A snapshot of a store's connection pool ([`StoreHealth::pool_status`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now, idle or in use.
    pub open: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// Most connections the pool opens.
    pub max: u32,
}

impl PoolStatus {
    /// Open connections lent to a task now.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}
