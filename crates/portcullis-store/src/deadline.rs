//! A client-side deadline on every PostgreSQL [`Store`] call (README "Database outages").
//!
//! The pool bounds the wait for a connection (`acquire_timeout`, which includes
//! opening one) and PostgreSQL bounds each statement (`statement_timeout`), but neither
//! helps when the database server is hung: it accepted the TCP connection, or holds
//! one already, and never answers (a stopped process, a network path that drops
//! packets silently, a full disk). Without a deadline such a request would wait for the
//! server's 30-second request timeout, or forever for a background task, and requests
//! would pile up. Here each call gets `acquire_timeout + statement_timeout` and then
//! fails with [`StoreError::Unavailable`] (503 with `Retry-After`).
//!
//! Dropping a call mid-transaction is safe: nothing was committed (PostgreSQL rolls
//! back a transaction whose connection goes away, and sqlx rolls back a dropped
//! transaction before the connection is reused), except when the `COMMIT` itself was
//! sent and its answer lost, which no client can tell apart from a commit. One gap in
//! sqlx 0.9.0 needs help: a call dropped while its `BEGIN` is in flight leaves the
//! connection inside a transaction that sqlx does not know about (no `ROLLBACK` is
//! queued: transact-rs/sqlx#4393, fixed by #4394, unreleased), and every later
//! single-statement write on that connection would silently never commit.
//!
//! That gap is closed where transactions begin, for every drop, not only this
//! deadline's (hyper dropping a handler whose client disconnected, the request
//! timeout): every write transaction of the store starts through
//! [`WriteConnection`](crate::store::WriteConnection), which closes, instead of
//! returning to the pool, a connection dropped with its `BEGIN` unanswered.
//!
//! [`Abandoned`] predates that guard and is now redundant for the store's own
//! transactions (the regression tests in `postgres.rs` pass with it disabled), but is
//! kept as a backstop for a transaction begun any other way: each time the deadline
//! fires it is recorded *before* the call is dropped, and the PostgreSQL pool closes,
//! instead of reusing, every connection released afterwards that was opened before
//! that moment. Its cost: after each firing, the connections open at that moment are
//! reopened once. It can go with the upgrade to an sqlx release that includes #4394.
//!
//! SQLite is not wrapped: a local file cannot hang like a network server (the
//! 5-second `busy_timeout` and `acquire_timeout` bound every wait), and sqlx's SQLite
//! worker still runs a `COMMIT` it has received after the caller is dropped, so a
//! deadline there could answer 503 for a write that committed (a refresh token rotated
//! behind the client's back, whose retry then looks like reuse and revokes the family).
//!
//! [`Store`]: portcullis_core::Store

use async_trait::async_trait;
use portcullis_core::acme::{AcmeStore, StoredCertificate};
use portcullis_core::authorization::code::{AuthorizationCode, AuthorizationCodeStore};
use portcullis_core::authorization::consent::ConsentStore;
use portcullis_core::authorization::pending::UsedAuthorizationRequestStore;
use portcullis_core::authorization::pushed::{PushedAuthorization, PushedAuthorizationStore};
use portcullis_core::client::authentication::assertion::ClientAssertionStore;
use portcullis_core::client::dynamic::{DynamicClientStore, DynamicRegistration};
use portcullis_core::client::{Client, ClientSecrets, ClientStore};
use portcullis_core::device::{
    DeviceAuthorization, DeviceAuthorizationStatus, DeviceAuthorizationStore, DevicePoll,
};
use portcullis_core::dpop::DpopProofStore;
use portcullis_core::keys::{SigningKeyStore, StoredSigningKey};
use portcullis_core::purge::{PurgeCounts, PurgeStore};
use portcullis_core::rate_limit::{RateKey, RateLimitStore};
use portcullis_core::resource::{Resource, ResourceStore};
use portcullis_core::secret::SecretDigest;
use portcullis_core::session::{BrowserSession, SessionStore};
use portcullis_core::store::{PoolStatus, StoreHealth};
use portcullis_core::tokens::access_token::RevokedAccessTokenStore;
use portcullis_core::tokens::refresh_token::{RefreshFamily, RefreshToken, RefreshTokenStore};
use portcullis_core::user::{User, UserStore};
use portcullis_core::{StoreError, UnixTime};
use std::collections::BTreeSet;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When the deadline last abandoned a call, so that the pool can close the connection
/// that call held instead of reusing it (module docs: transact-rs/sqlx#4393). A
/// backstop: [`WriteConnection`](crate::store::WriteConnection) already closes a
/// connection dropped during `BEGIN`, whatever dropped it.
///
/// Why this is enough for a call dropped during `BEGIN`: that call checked its
/// connection out, so the connection was opened, before the deadline fired; the
/// moment is recorded before the call's future is dropped, and the connection is
/// released (the pool's `after_release` hook runs) only when it is dropped. So at that
/// release the connection is older than the time since the recorded moment, and
/// [`Abandoned::may_be_dirty`] says so: the connection is closed and PostgreSQL rolls
/// back its transaction. Later firings only move the moment later, which keeps the
/// test true. No round trip is added: the cost is that every connection open when a
/// deadline fires is reopened once, rare and cheap next to an outage.
#[derive(Debug)]
pub(crate) struct Abandoned {
    /// The origin of [`Abandoned::last`].
    origin: Instant,
    /// Nanoseconds from `origin` to the latest firing, plus one; 0: never fired.
    last: AtomicU64,
}

/// Covers the few instructions between sqlx measuring a connection's age and
/// [`Abandoned::may_be_dirty`] reading the clock, so the comparison errs on the side of
/// closing.
const CLOCK_SLACK: Duration = Duration::from_secs(1);

impl Abandoned {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    /// Records that a call is being abandoned now.
    fn record(&self) {
        let now = nanos(self.origin.elapsed()).saturating_add(1);
        self.last.fetch_max(now, Ordering::SeqCst);
    }

    /// Whether a connection opened `age` ago, being released now, may have been held
    /// by an abandoned call (opened before the latest firing, give or take
    /// [`CLOCK_SLACK`]), and so may be inside a transaction sqlx does not know about.
    pub(crate) fn may_be_dirty(&self, age: Duration) -> bool {
        let last = self.last.load(Ordering::SeqCst);
        if last == 0 {
            return false;
        }
        let since_firing = nanos(self.origin.elapsed()).saturating_sub(last.saturating_sub(1));
        nanos(age.saturating_add(CLOCK_SLACK)) >= since_firing
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A [`Store`](portcullis_core::Store) whose every call fails with
/// [`StoreError::Unavailable`] once `limit` has passed without an answer: each
/// per-table trait of core, forwarded within the deadline.
pub(crate) struct Deadline<S> {
    inner: S,
    limit: Duration,
    abandoned: Arc<Abandoned>,
}

impl<S> Deadline<S> {
    /// Wraps `inner`; `limit` is the longest any one call may take; each abandoned call
    /// is recorded in `abandoned`, shared with the pool's `after_release` hook.
    pub(crate) fn new(inner: S, limit: Duration, abandoned: Arc<Abandoned>) -> Self {
        Self {
            inner,
            limit,
            abandoned,
        }
    }

    async fn within<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        // Pinned here rather than awaited as a temporary, so the call (and the
        // connection it holds) is dropped only at the end of this function: after the
        // firing is recorded.
        let mut timed = pin!(tokio::time::timeout(self.limit, call));
        match timed.as_mut().await {
            Ok(answer) => answer,
            Err(_elapsed) => {
                self.abandoned.record();
                Err(StoreError::Unavailable(format!(
                    "{what}: no answer from the database within {} ms",
                    self.limit.as_millis()
                )))
            }
        }
    }
}

#[async_trait]
impl<S: StoreHealth> StoreHealth for Deadline<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.within("ping", self.inner.ping()).await
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }
}

/// Implements each listed per-table trait of core for [`Deadline`]: every method
/// forwards to the inner store within the deadline. Every method of each trait must be
/// listed (the compiler says so); [`StoreHealth`], with its synchronous
/// `pool_status`, is forwarded by hand above.
macro_rules! within_deadline {
    ($($table:ident {
        $(async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*
    })*) => {
        $(
            #[async_trait]
            impl<S: $table> $table for Deadline<S> {
                $(
                    async fn $name(&self $(, $arg: $ty)*) -> $ret {
                        self.within(stringify!($name), self.inner.$name($($arg),*)).await
                    }
                )*
            }
        )*
    };
}

within_deadline! {
    ClientStore {
        async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
        async fn client_list(&self) -> Result<Vec<Client>, StoreError>;
        async fn client_insert(&self, client: &Client) -> Result<(), StoreError>;
        async fn client_upsert(&self, client: &Client) -> Result<(), StoreError>;
        async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError>;
        async fn client_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError>;
        async fn client_set_secrets(&self, client_id: &str, secrets: &ClientSecrets, now: UnixTime) -> Result<(), StoreError>;
    }
    DynamicClientStore {
        async fn dynamic_client_insert(&self, client: &Client, registration: &DynamicRegistration, ceiling: u64) -> Result<bool, StoreError>;
        async fn dynamic_client_get(&self, client_id: &str) -> Result<Option<DynamicRegistration>, StoreError>;
        async fn dynamic_client_replace(&self, client: &Client, metadata: &serde_json::Map<String, serde_json::Value>) -> Result<bool, StoreError>;
        async fn dynamic_client_touch(&self, client_id: &str, now: UnixTime) -> Result<(), StoreError>;
        async fn dynamic_client_delete_unused(&self, before: UnixTime) -> Result<Vec<String>, StoreError>;
        async fn initial_access_token_insert(&self, digest: &SecretDigest, now: UnixTime) -> Result<(), StoreError>;
        async fn initial_access_token_exists(&self, digest: &SecretDigest) -> Result<bool, StoreError>;
    }
    ResourceStore {
        async fn resource_get(&self, identifier: &str) -> Result<Option<Resource>, StoreError>;
        async fn resource_list(&self) -> Result<Vec<Resource>, StoreError>;
        async fn resource_insert(&self, resource: &Resource) -> Result<(), StoreError>;
        async fn resource_upsert(&self, resource: &Resource) -> Result<(), StoreError>;
        async fn resource_delete(&self, identifier: &str) -> Result<bool, StoreError>;
        async fn resource_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError>;
    }
    UserStore {
        async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
        async fn user_get(&self, user_id: &str) -> Result<Option<User>, StoreError>;
        async fn user_list(&self) -> Result<Vec<User>, StoreError>;
        async fn user_insert(&self, user: &User) -> Result<(), StoreError>;
        async fn user_upsert(&self, user: &User) -> Result<(), StoreError>;
        async fn user_delete(&self, username: &str) -> Result<bool, StoreError>;
        async fn user_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError>;
        async fn user_keys_backfill(&self) -> Result<Vec<Vec<String>>, StoreError>;
        async fn user_set_disabled(&self, user_id: &str, disabled_at: Option<UnixTime>) -> Result<bool, StoreError>;
    }
    SigningKeyStore {
        async fn signing_keys_list(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
        async fn signing_key_insert_first(&self, key: &StoredSigningKey) -> Result<(), StoreError>;
        async fn signing_key_insert_next(&self, new_keys: &[StoredSigningKey]) -> Result<(), StoreError>;
        async fn signing_key_promote(&self, kid: &str, now: UnixTime, publish_until: UnixTime) -> Result<bool, StoreError>;
        async fn signing_key_rotate(&self, new_keys: &[StoredSigningKey], now: UnixTime, publish_until: UnixTime) -> Result<(), StoreError>;
        async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError>;
    }
    SessionStore {
        async fn session_insert(&self, session: &BrowserSession) -> Result<(), StoreError>;
        async fn session_get(&self, session_digest: &SecretDigest, now: UnixTime) -> Result<Option<BrowserSession>, StoreError>;
        async fn session_delete(&self, session_digest: &SecretDigest) -> Result<bool, StoreError>;
        async fn session_delete_for_user(&self, user_id: &str) -> Result<u64, StoreError>;
        async fn pending_grants_withdraw(&self, user_id: Option<&str>, client_id: Option<&str>, auth_time: Option<UnixTime>, since: Option<UnixTime>) -> Result<u64, StoreError>;
        async fn session_list(&self, user_id: Option<&str>, now: UnixTime) -> Result<Vec<BrowserSession>, StoreError>;
    }
    UsedAuthorizationRequestStore {
        async fn authorization_request_use(&self, id_digest: &SecretDigest, expires_at: UnixTime) -> Result<bool, StoreError>;
    }
    PushedAuthorizationStore {
        async fn pushed_authorization_insert(&self, pushed: &PushedAuthorization) -> Result<(), StoreError>;
        async fn pushed_authorization_take(&self, request_uri_digest: &SecretDigest, client_id: &str) -> Result<Option<PushedAuthorization>, StoreError>;
    }
    ConsentStore {
        async fn consent_get(&self, user_id: &str, client_id: &str) -> Result<BTreeSet<String>, StoreError>;
        async fn consent_grant(&self, user_id: &str, client_id: &str, scopes: &BTreeSet<String>, now: UnixTime) -> Result<(), StoreError>;
    }
    AuthorizationCodeStore {
        async fn authorization_code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
        async fn authorization_code_get(&self, code_digest: &SecretDigest) -> Result<Option<AuthorizationCode>, StoreError>;
        async fn authorization_code_consume(&self, code_digest: &SecretDigest, now: UnixTime, first_refresh_token: Option<&RefreshToken>, access_token_jti: &str, access_token_expires_at: UnixTime) -> Result<bool, StoreError>;
        async fn authorization_code_revoke_tokens(&self, code_digest: &SecretDigest, family_id: &str, now: UnixTime) -> Result<bool, StoreError>;
    }
    RefreshTokenStore {
        async fn refresh_token_insert(&self, token: &RefreshToken, access_token_jti: &str, access_token_expires_at: UnixTime) -> Result<(), StoreError>;
        async fn refresh_token_get(&self, token_digest: &SecretDigest) -> Result<Option<RefreshToken>, StoreError>;
        async fn refresh_token_rotate(&self, old: &SecretDigest, successor: &RefreshToken, now: UnixTime, access_token_jti: &str, access_token_expires_at: UnixTime) -> Result<bool, StoreError>;
        async fn refresh_family_revoke(&self, family_id: &str, now: UnixTime) -> Result<u64, StoreError>;
        async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError>;
        async fn refresh_family_list(&self, user_id: Option<&str>, client_id: Option<&str>, now: UnixTime) -> Result<Vec<RefreshFamily>, StoreError>;
    }
    RevokedAccessTokenStore {
        async fn access_token_revoke(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError>;
        async fn access_token_is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    }
    DeviceAuthorizationStore {
        async fn device_authorization_insert(&self, authorization: &DeviceAuthorization) -> Result<(), StoreError>;
        async fn device_authorization_get(&self, device_code_digest: &SecretDigest) -> Result<Option<DeviceAuthorization>, StoreError>;
        async fn device_authorization_find_by_user_code(&self, user_code_digest: &SecretDigest, now: UnixTime) -> Result<Option<DeviceAuthorization>, StoreError>;
        async fn device_authorization_unkeyed_user_codes(&self, limit: u32) -> Result<Vec<(SecretDigest, SecretDigest)>, StoreError>;
        async fn device_authorization_key_user_code(&self, device_code_digest: &SecretDigest, unkeyed: &SecretDigest, keyed: &SecretDigest) -> Result<bool, StoreError>;
        async fn device_authorization_decide(&self, device_code_digest: &SecretDigest, decision: &DeviceAuthorizationStatus, now: UnixTime) -> Result<bool, StoreError>;
        async fn device_authorization_poll(&self, device_code_digest: &SecretDigest, client_id: &str, now: UnixTime) -> Result<Option<DevicePoll>, StoreError>;
        async fn device_authorization_consume(&self, device_code_digest: &SecretDigest, now: UnixTime, first_refresh_token: Option<&RefreshToken>, access_token_jti: &str, access_token_expires_at: UnixTime) -> Result<bool, StoreError>;
    }
    PurgeStore {
        async fn purge_expired(&self, now: UnixTime, limit: u32) -> Result<PurgeCounts, StoreError>;
        async fn reclaim_space(&self) -> Result<(), StoreError>;
    }
    RateLimitStore {
        async fn rate_limit_take(&self, keys: &[RateKey], now_ms: i64) -> Result<Result<Vec<u32>, u64>, StoreError>;
        async fn rate_limit_refund(&self, keys: &[RateKey], now_ms: i64) -> Result<(), StoreError>;
        async fn rate_limit_clear(&self, key: &str) -> Result<bool, StoreError>;
    }
    DpopProofStore {
        async fn dpop_proof_record(&self, digest: &SecretDigest, expires_at: UnixTime) -> Result<bool, StoreError>;
    }
    ClientAssertionStore {
        async fn client_assertion_record(&self, digest: &SecretDigest, expires_at: UnixTime) -> Result<bool, StoreError>;
    }
    AcmeStore {
        async fn acme_account_get(&self, directory: &str) -> Result<Option<Vec<u8>>, StoreError>;
        async fn acme_account_put(&self, directory: &str, sealed_credentials: &[u8], now: UnixTime) -> Result<(), StoreError>;
        async fn acme_certificate_get(&self, name: &str) -> Result<Option<StoredCertificate>, StoreError>;
        async fn acme_certificate_put(&self, certificate: &StoredCertificate) -> Result<bool, StoreError>;
        async fn acme_lease_take(&self, name: &str, holder: &str, now: UnixTime, until: UnixTime) -> Result<bool, StoreError>;
        async fn acme_lease_release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
        async fn acme_challenge_put(&self, domain: &str, digest: &[u8], expires_at: UnixTime) -> Result<(), StoreError>;
        async fn acme_challenge_delete(&self, domain: &str) -> Result<(), StoreError>;
        async fn acme_challenges(&self, now: UnixTime) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnectOptions, SqliteStore};

    #[tokio::test]
    async fn a_call_without_an_answer_in_time_is_unavailable_and_answers_pass() {
        let sqlite = SqliteStore::connect("sqlite::memory:", &ConnectOptions::default())
            .await
            .unwrap();
        let abandoned = Arc::new(Abandoned::new());
        let store = Deadline::new(sqlite, Duration::from_millis(50), abandoned.clone());
        assert!(!abandoned.may_be_dirty(Duration::from_secs(3600)));
        let hung = store
            .within("ping", std::future::pending::<Result<(), StoreError>>())
            .await;
        let Err(StoreError::Unavailable(message)) = hung else {
            panic!("should be Unavailable");
        };
        assert_eq!(message, "ping: no answer from the database within 50 ms");
        assert!(
            abandoned.may_be_dirty(Duration::from_millis(60)),
            "a connection opened before the firing is suspect"
        );
        store.ping().await.unwrap();
        assert!(store.client_get("nobody").await.unwrap().is_none());
        assert!(store.pool_status().is_some(), "pool status is forwarded");
    }

    #[test]
    fn only_connections_opened_before_the_latest_firing_are_suspect() {
        let abandoned = Abandoned::new();
        assert!(!abandoned.may_be_dirty(Duration::MAX), "never fired");
        abandoned.record();
        std::thread::sleep(CLOCK_SLACK + Duration::from_millis(200));
        assert!(abandoned.may_be_dirty(CLOCK_SLACK + Duration::from_millis(300)));
        assert!(
            !abandoned.may_be_dirty(Duration::ZERO),
            "opened well after the firing"
        );
        abandoned.record();
        assert!(
            abandoned.may_be_dirty(Duration::ZERO),
            "a later firing moves it"
        );
    }
}
