//! Consent: the scopes a user has approved for a client, remembered so the consent
//! page is shown again only for scopes not yet approved (OIDC Core §3.1.2.4).

use crate::UnixTime;
use crate::store::StoreError;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// The `consents` table: one row per (user, client), holding the approved scopes.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// The scopes `user_id` has approved for `client_id` (empty if none).
    async fn consent_get(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<BTreeSet<String>, StoreError>;
    /// Adds `scopes` to what `user_id` has approved for `client_id` (a union, atomic).
    async fn consent_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &BTreeSet<String>,
        now: UnixTime,
    ) -> Result<(), StoreError>;
}
