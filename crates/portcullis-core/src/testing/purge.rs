//! The purge of expired rows, over every table in memory.

use super::{MemoryStore, count};
use crate::UnixTime;
use crate::purge::{PurgeCounts, PurgeStore};
use crate::store::StoreError;
use async_trait::async_trait;
use std::collections::BTreeMap;

#[async_trait]
impl PurgeStore for MemoryStore {
    async fn purge_expired(&self, now: UnixTime, limit: u32) -> Result<PurgeCounts, StoreError> {
        let mut inner = self.lock();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(PurgeCounts {
            used_authorization_requests: purge(&mut inner.used_requests, limit, |exp| *exp <= now),
            browser_sessions: purge(&mut inner.sessions, limit, |s| s.expires_at <= now),
            authorization_codes: purge(&mut inner.codes, limit, |c| {
                c.expires_at <= now && c.access_token_expires_at.is_none_or(|exp| exp <= now)
            }),
            revoked_access_tokens: purge(&mut inner.revoked, limit, |exp| *exp <= now),
            refresh_tokens: purge(&mut inner.refresh_tokens, limit, |t| t.expires_at <= now),
            family_access_tokens: purge(&mut inner.family_access_tokens, limit, |(_, exp)| {
                *exp <= now
            }),
            device_authorizations: purge(&mut inner.devices, limit, |d| d.expires_at <= now),
            rate_limits: purge(&mut inner.rate_limits, limit, |tat| {
                *tat <= now.saturating_mul(1000)
            }),
            dpop_proofs: purge(&mut inner.dpop_proofs, limit, |exp| *exp <= now),
            pushed_authorization_requests: purge(&mut inner.pushed_requests, limit, |p| {
                p.expires_at <= now
            }),
            client_assertions: purge(&mut inner.client_assertions, limit, |exp| *exp <= now),
        })
    }

    async fn reclaim_space(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Removes at most `limit` entries of `map` matching `expired`; returns how many.
fn purge<K: Ord + Clone, V>(
    map: &mut BTreeMap<K, V>,
    limit: usize,
    expired: impl Fn(&V) -> bool,
) -> u64 {
    let gone: Vec<K> = map
        .iter()
        .filter(|(_, v)| expired(v))
        .map(|(k, _)| k.clone())
        .take(limit)
        .collect();
    for key in &gone {
        map.remove(key);
    }
    count(gone.len())
}
