//! The periodic purge of expired rows across the tables: one batched statement per
//! table, and [`PurgeStore`] on [`SqlStore`](crate::SqlStore).

use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::purge::{PurgeCounts, PurgeStore};
use portcullis_core::{StoreError, UnixTime};

// The purge of expired rows (`Store::purge_expired`): `$1` = now, `$2` = the most rows
// to delete. Each is one statement that picks a batch by primary key through the
// `expires_at` index, then deletes it: `DELETE … LIMIT` exists on neither backend
// (SQLite only when built with SQLITE_ENABLE_UPDATE_DELETE_LIMIT).

/// Records of used authorization requests past the request's expiry (its sealed form
/// is refused anyway).
const PURGE_USED_REQUESTS: &str = "DELETE FROM used_authorization_requests WHERE id_digest IN \
     (SELECT id_digest FROM used_authorization_requests WHERE expires_at <= $1 LIMIT $2)";

/// Expired browser sessions.
const PURGE_SESSIONS: &str = "DELETE FROM browser_sessions WHERE session_digest IN \
     (SELECT session_digest FROM browser_sessions WHERE expires_at <= $1 LIMIT $2)";

/// Expired codes, except a redeemed one whose access token still lives: a replay
/// of it must still find the token to revoke (RFC 6749 §4.1.2).
const PURGE_CODES: &str = "DELETE FROM authorization_codes WHERE code_digest IN \
     (SELECT code_digest FROM authorization_codes WHERE expires_at <= $1 \
     AND (access_token_expires_at IS NULL OR access_token_expires_at <= $1) LIMIT $2)";

/// Revocation-list entries of tokens that have expired anyway.
const PURGE_REVOKED: &str = "DELETE FROM revoked_access_tokens WHERE jti IN \
     (SELECT jti FROM revoked_access_tokens WHERE expires_at <= $1 LIMIT $2)";

/// Expired refresh tokens, live, rotated or revoked: an expired token is refused
/// whatever its state, so its row no longer decides anything.
const PURGE_REFRESH_TOKENS: &str = "DELETE FROM refresh_tokens WHERE token_digest IN \
     (SELECT token_digest FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)";

/// Family records of access tokens that have expired anyway.
const PURGE_FAMILY_ACCESS_TOKENS: &str = "DELETE FROM family_access_tokens \
     WHERE jti IN (SELECT jti FROM family_access_tokens WHERE expires_at <= $1 LIMIT $2)";

/// Expired device authorizations, whatever their state: a dead device code is refused
/// anyway, and the tokens it issued do not depend on its row.
const PURGE_DEVICE_AUTHORIZATIONS: &str = "DELETE FROM device_authorizations \
     WHERE device_code_digest IN (SELECT device_code_digest FROM device_authorizations \
     WHERE expires_at <= $1 LIMIT $2)";

/// Full rate-limit buckets (`tat` in milliseconds; `$1` is in seconds). The outer
/// `tat` condition is re-checked by PostgreSQL on a row a concurrent take just updated
/// (why: the subquery's snapshot alone would delete a bucket whose cell was just taken).
const PURGE_RATE_LIMITS: &str = "DELETE FROM rate_limits WHERE tat <= $1 * 1000 \
     AND key IN (SELECT key FROM rate_limits WHERE tat <= $1 * 1000 LIMIT $2)";

/// Replay records of DPoP proofs whose window has passed (RFC 9449 §11.1).
const PURGE_DPOP_PROOFS: &str = "DELETE FROM dpop_proofs WHERE proof_digest IN \
     (SELECT proof_digest FROM dpop_proofs WHERE expires_at <= $1 LIMIT $2)";

/// Pushed authorization requests past their expiry (RFC 9126 §2.2: refused anyway).
const PURGE_PUSHED_REQUESTS: &str = "DELETE FROM pushed_authorization_requests \
     WHERE request_uri_digest IN (SELECT request_uri_digest FROM \
     pushed_authorization_requests WHERE expires_at <= $1 LIMIT $2)";
/// Replay records of client assertions that have expired anyway (RFC 7523 §3).
const PURGE_CLIENT_ASSERTIONS: &str = "DELETE FROM client_assertions WHERE assertion_digest IN \
     (SELECT assertion_digest FROM client_assertions WHERE expires_at <= $1 LIMIT $2)";

sql_store_impl!(
    PurgeStore,
    async fn purge_expired(&self, now: UnixTime, limit: u32) -> Result<PurgeCounts, StoreError> {
        // Each statement commits on its own: no transaction spans the tables, and
        // none holds its locks longer than one batch takes to delete.
        let purge = |statement: &'static str, what: &'static str| async move {
            let result = sqlx::query::<DB>(statement)
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(classify(what))?;
            Ok::<_, StoreError>(DB::rows_affected(&result))
        };
        Ok(PurgeCounts {
            used_authorization_requests: purge(
                PURGE_USED_REQUESTS,
                "purging records of used authorization requests",
            )
            .await?,
            browser_sessions: purge(PURGE_SESSIONS, "purging expired browser sessions").await?,
            authorization_codes: purge(PURGE_CODES, "purging expired authorization codes").await?,
            revoked_access_tokens: purge(
                PURGE_REVOKED,
                "purging the revocation list of expired access tokens",
            )
            .await?,
            refresh_tokens: purge(PURGE_REFRESH_TOKENS, "purging expired refresh tokens").await?,
            family_access_tokens: purge(
                PURGE_FAMILY_ACCESS_TOKENS,
                "purging family records of expired access tokens",
            )
            .await?,
            device_authorizations: purge(
                PURGE_DEVICE_AUTHORIZATIONS,
                "purging expired device authorizations",
            )
            .await?,
            rate_limits: purge(PURGE_RATE_LIMITS, "purging full rate-limit buckets").await?,
            dpop_proofs: purge(PURGE_DPOP_PROOFS, "purging used DPoP proofs").await?,
            pushed_authorization_requests: purge(
                PURGE_PUSHED_REQUESTS,
                "purging expired pushed authorization requests",
            )
            .await?,
            client_assertions: purge(PURGE_CLIENT_ASSERTIONS, "purging used client assertions")
                .await?,
        })
    },
    async fn reclaim_space(&self) -> Result<(), StoreError> {
        let Some(statement) = DB::RECLAIM_SPACE else {
            return Ok(());
        };
        sqlx::query::<DB>(statement)
            .execute(&self.pool)
            .await
            .map_err(classify("reclaiming free pages"))?;
        Ok(())
    },
);
