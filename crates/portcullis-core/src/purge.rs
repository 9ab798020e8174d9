//! The periodic purge of rows that can no longer matter: [`PurgeStore`] deletes them
//! in batches across the tables, [`PurgeCounts`] says how many went from each.

use crate::UnixTime;
use crate::store::StoreError;
use async_trait::async_trait;

/// Every table with rows that expire.
#[async_trait]
pub trait PurgeStore: Send + Sync {
    /// Deletes rows that can no longer matter at `now` (seconds since the epoch), at
    /// most `limit` rows per table:
    ///
    /// - `used_authorization_requests` and `browser_sessions` with `expires_at <= now`;
    /// - `authorization_codes` with `expires_at <= now` whose access token (if the
    ///   code was redeemed) has expired too, `access_token_expires_at <= now`: a
    ///   redeemed code is kept while its token lives, so a replay can still revoke it
    ///   (RFC 6749 §4.1.2);
    /// - `revoked_access_tokens` with `expires_at <= now` (the token is dead anyway);
    /// - `refresh_tokens` with `expires_at <= now`, whatever their state (an expired
    ///   token is refused anyway);
    /// - the family records of access tokens with `expires_at <= now`;
    /// - `device_authorizations` with `expires_at <= now`, whatever their state (a
    ///   dead device code answers `invalid_grant` once purged instead of
    ///   `expired_token`; the refresh tokens it issued live on in their own table);
    /// - `rate_limits` whose bucket is full again, `tat <= now` (in milliseconds: a
    ///   missing row is a full bucket);
    /// - `dpop_proofs` with `expires_at <= now` (the proof is outside its acceptance
    ///   window anyway, RFC 9449 §11.1);
    /// - `pushed_authorization_requests` with `expires_at <= now` (refused anyway,
    ///   RFC 9126 §2.2).
    /// - `client_assertions` with `expires_at <= now` (the assertion has expired
    ///   anyway, RFC 7523 §3).
    ///
    /// One short statement per table, each its own transaction, so no lock is held
    /// across tables or for long: `limit` is the batch size. Meant to be called
    /// periodically; a count equal to `limit` means that table may have more to purge.
    /// Safe to run on several nodes at once (a row is deleted once).
    async fn purge_expired(&self, now: UnixTime, limit: u32) -> Result<PurgeCounts, StoreError>;

    /// Gives pages freed by the purge back to the file system, a bounded amount per
    /// call (SQLite: `PRAGMA incremental_vacuum`, the database runs
    /// `auto_vacuum = INCREMENTAL`, so the file shrinks again after a burst of rows);
    /// nothing where the database does it itself (PostgreSQL's autovacuum). Meant to
    /// run after each purge.
    async fn reclaim_space(&self) -> Result<(), StoreError>;
}

/// How many rows one [`PurgeStore::purge_expired`] call deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    /// Records of used pending authorization requests past their expiry, in rows.
    pub used_authorization_requests: u64,
    /// Expired browser sessions, in rows.
    pub browser_sessions: u64,
    /// Expired authorization codes whose access token (if any) has expired, in rows.
    pub authorization_codes: u64,
    /// Revocation-list entries of expired access tokens, in rows.
    pub revoked_access_tokens: u64,
    /// Expired refresh tokens (live, rotated or revoked), in rows.
    pub refresh_tokens: u64,
    /// Family records of expired access tokens, in rows.
    pub family_access_tokens: u64,
    /// Expired device authorizations (RFC 8628), in rows.
    pub device_authorizations: u64,
    /// Rate-limit buckets that are full again, in rows.
    pub rate_limits: u64,
    /// Replay records of DPoP proofs past their window (RFC 9449 §11.1), in rows.
    pub dpop_proofs: u64,
    /// Expired pushed authorization requests (RFC 9126), in rows.
    pub pushed_authorization_requests: u64,
    /// Replay records of expired `private_key_jwt` assertions (RFC 7523 §3), in rows.
    pub client_assertions: u64,
}

impl PurgeCounts {
    /// Rows deleted from all tables together.
    pub fn total(&self) -> u64 {
        self.used_authorization_requests
            .saturating_add(self.browser_sessions)
            .saturating_add(self.authorization_codes)
            .saturating_add(self.revoked_access_tokens)
            .saturating_add(self.refresh_tokens)
            .saturating_add(self.family_access_tokens)
            .saturating_add(self.device_authorizations)
            .saturating_add(self.rate_limits)
            .saturating_add(self.dpop_proofs)
            .saturating_add(self.pushed_authorization_requests)
            .saturating_add(self.client_assertions)
    }
}
