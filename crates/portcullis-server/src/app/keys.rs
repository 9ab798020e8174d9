//! Signing keys at the server: the master key (environment or a 0600 file), keys
//! created on first start, rotation, and a background refresh that picks up keys
//! rotated by the CLI or another node.
//!
//! Rotation across nodes (DESIGN.md "Key rotation"): `keys rotate` inserts the new
//! key as `next` with `activate_at = now + publication_lead`. Every node publishes it
//! at its next refresh (≤ [`KEY_REFRESH_INTERVAL`]), and resource servers caching the
//! JWK Set (≤ [`JWKS_MAX_AGE`]) see it before it signs. Each node's ring signs with it
//! from `activate_at` by its own clock; the first node whose refresh sees
//! `activate_at` passed promotes it in the database, retiring the old key, which
//! stays published until every token it signed has expired.
//!
//! Clocks: `activate_at` comes from the clock of the host that runs `keys rotate`, and
//! each node compares it with its own clock; the lead includes [`MAX_CLOCK_SKEW`] for
//! that. The assumption: the nodes and the admin host run NTP, and no two of them are
//! more than [`MAX_CLOCK_SKEW`] apart. A node whose ring predates a promotion may sign
//! with the just-retired key until its next refresh (≤ [`KEY_REFRESH_INTERVAL`]);
//! [`RETIRED_KEY_GRACE`] keeps it published long enough for those tokens.

use crate::app::access_token::OwnAccessTokens;
use crate::app::audit;
use crate::app::config::MAX_ACCESS_TOKEN_TTL;
use crate::app::config::{ENV_MASTER_KEY, MasterKeySource};
use arc_swap::ArcSwap;
use bytes::Bytes;
use portcullis_core::keys::{
    KeyRing, KeyRingError, KeyStatus, MasterKey, RETIRED_KEY_GRACE, SigningAlgorithm,
    StoredSigningKey, generate,
};
use portcullis_core::store::{StoreError, algorithms_missing_a_key};
use portcullis_core::{Clock, Store, UnixTime};
use secrecy::ExposeSecret;
use std::path::Path;
use std::sync::Arc;
pub use timing::{
    DEFAULT_PUBLICATION_LEAD, JWKS_MAX_AGE, KEY_REFRESH_INTERVAL, MAX_CLOCK_SKEW,
    MIN_PUBLICATION_LEAD,
};

pub mod timing;

/// Why keys could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The master key is missing, malformed or unreadable.
    #[error("{0}")]
    MasterKey(String),
    /// The key ring could not be built.
    #[error(transparent)]
    Ring(#[from] KeyRingError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A staged rotation of this algorithm has not activated yet.
    #[error(
        "a rotation of {alg} is pending: key {kid} signs from {activate_at} (seconds since the epoch); rotate again after that, or use --immediately"
    )]
    RotationPending {
        /// `ES256` or `RS256`.
        alg: &'static str,
        /// The `next` key.
        kid: String,
        /// When it signs.
        activate_at: UnixTime,
    },
}

/// The current key ring and its pre-serialised JWK Set.
#[derive(Debug)]
pub struct KeySnapshot {
    /// Parsed keys.
    pub ring: KeyRing,
    /// `{"keys":[…]}` as served at `jwks_uri`.
    pub jwks_json: Bytes,
    /// The same keys as the verifier of our own access tokens.
    pub access_tokens: OwnAccessTokens,
}

impl KeySnapshot {
    /// Wraps a ring, serialising its JWK Set once.
    pub fn new(ring: KeyRing) -> Self {
        let jwks_json = Bytes::from(
            serde_json::to_vec(ring.jwks()).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec()),
        );
        let access_tokens = OwnAccessTokens::from_jwks_json(&jwks_json);
        Self {
            ring,
            jwks_json,
            access_tokens,
        }
    }
}

/// Loads the master key: `PORTCULLIS_MASTER_KEY`, else the key file, created with mode
/// 0600 if missing and `create` is set (why 0600: whoever reads it can decrypt every
/// signing key). Only `serve` creates; the admin CLI must find the server's key.
///
/// # Errors
/// [`KeyError::MasterKey`] naming the variable or file and the problem.
pub fn load_master_key(source: &MasterKeySource, create: bool) -> Result<MasterKey, KeyError> {
    match source {
        MasterKeySource::Env(value) => MasterKey::from_base64(value.expose_secret())
            .map_err(|e| KeyError::MasterKey(format!("{ENV_MASTER_KEY} {e}"))),
        MasterKeySource::File(path) => load_or_create_key_file(path, create),
    }
}

fn load_or_create_key_file(path: &Path, create: bool) -> Result<MasterKey, KeyError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path)
                .map_err(|e| KeyError::MasterKey(format!("master key file {shown}: {e}")))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::MasterKey(format!(
                    "master key file {shown} is readable by other users (mode {:o}); run `chmod 600 {shown}`",
                    mode & 0o777
                )));
            }
            MasterKey::from_base64(&text)
                .map_err(|e| KeyError::MasterKey(format!("master key file {shown} {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {
            Err(KeyError::MasterKey(format!(
                "master key file {shown} does not exist; run this command with the configuration and working directory of `portcullis serve`, or set {ENV_MASTER_KEY}"
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    KeyError::MasterKey(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let (key, encoded) = MasterKey::generate()?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    KeyError::MasterKey(format!("cannot create master key file {shown}: {e}"))
                })?;
            file.write_all(format!("{encoded}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    KeyError::MasterKey(format!("cannot write master key file {shown}: {e}"))
                })?;
            tracing::info!(path = %shown, "created a new master key file; back it up: without it the signing keys cannot be decrypted");
            Ok(key)
        }
        Err(e) => Err(KeyError::MasterKey(format!(
            "cannot read master key file {shown}: {e}"
        ))),
    }
}

/// Creates an active key for every algorithm that has none (first start), then returns
/// all stored keys. Safe when several nodes start at once: the store refuses a second
/// active key per algorithm, and the loser keeps the winner's.
///
/// # Errors
/// [`KeyError`] on database or crypto failure.
pub async fn ensure_signing_keys(
    store: &dyn Store,
    master: &MasterKey,
    now: UnixTime,
) -> Result<Vec<StoredSigningKey>, KeyError> {
    let keys = store.signing_keys_list().await?;
    let missing = algorithms_missing_a_key(&keys);
    if missing.is_empty() {
        return Ok(keys);
    }
    for alg in missing {
        let (stored, _) = generate(alg, master, now)?;
        match store.signing_key_insert_first(&stored).await {
            Ok(()) => audit::key_changed("startup", &stored.kid, alg.as_str(), "generated"),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(store.signing_keys_list().await?)
}

/// When a rotation's new key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStart {
    /// After this many seconds (the publication lead): the new key is `next`,
    /// published by every node first; the old key signs until then.
    After(i64),
    /// At once (emergency, e.g. a compromised key): the old key is retired now. Breaks
    /// the lead guarantee: nodes sign with the old key until their next refresh, and a
    /// resource server whose cached JWK Set predates the new key refuses its tokens
    /// until it refetches.
    Immediately,
}

/// A rotation of one algorithm.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    /// `ES256` or `RS256`.
    pub alg: &'static str,
    /// The new key, published from now on.
    pub new_kid: String,
    /// `next` (signs from `activate_at`) or `active` (signs now).
    pub status: &'static str,
    /// When the new key signs (seconds since the epoch).
    pub activate_at: UnixTime,
    /// The key it replaces, if any: it keeps signing until `activate_at`, then is
    /// retiring (still published, so its tokens verify, until
    /// `retired_published_until`).
    pub replaced_kid: Option<String>,
    /// Until when the replaced key stays published at least (seconds since the
    /// epoch): `activate_at + longest_token_ttl + RETIRED_KEY_GRACE`. A staged
    /// rotation sets the exact time when a node promotes the new key.
    pub retired_published_until: UnixTime,
}

/// Rotates the keys of `algs`.
///
/// With [`RotationStart::After`]`(lead)` the new keys are stored as `next` with
/// `activate_at = now + lead`: published by every node at its next refresh, signing
/// from `activate_at` (see the module doc). With [`RotationStart::Immediately`] they
/// sign at once and the previous (and any pending `next`) key is retired now. Either
/// way a retired key stays published for `longest_token_ttl + RETIRED_KEY_GRACE`
/// after it stopped signing, so every token it signed still verifies until it expires.
///
/// Before writing anything it opens the current keys with `master` (why: a key sealed
/// under another master key would leave every server unable to start).
///
/// # Errors
/// [`KeyError::Ring`] if `master` does not open the stored keys, or on database or
/// crypto failure; [`KeyError::RotationPending`] if a staged rotation of one of
/// `algs` has not activated yet (or [`StoreError::Conflict`] if another one was staged
/// meanwhile).
pub async fn rotate_signing_keys(
    store: &dyn Store,
    master: &MasterKey,
    now: UnixTime,
    algs: &[SigningAlgorithm],
    start: RotationStart,
    longest_token_ttl: i64,
    actor: &str,
) -> Result<Vec<Rotation>, KeyError> {
    let before = store.signing_keys_list().await?;
    KeyRing::build(&before, master, now, None)?;
    let activate_at = match start {
        RotationStart::After(lead) => now.saturating_add(lead.max(0)),
        RotationStart::Immediately => now,
    };
    let publish_until = activate_at
        .saturating_add(longest_token_ttl)
        .saturating_add(RETIRED_KEY_GRACE);
    // Generate every new key first, then store them in one transaction: a failure
    // leaves every algorithm as it was.
    let mut planned = Vec::with_capacity(algs.len());
    for &alg in algs {
        let pending = before
            .iter()
            .find(|k| k.alg == alg && k.status == KeyStatus::Next);
        if let (Some(next), RotationStart::After(_)) = (pending, start) {
            return Err(KeyError::RotationPending {
                alg: alg.as_str(),
                kid: next.kid.clone(),
                activate_at: next.activate_at.unwrap_or_default(),
            });
        }
        let replaced_kid = before
            .iter()
            .find(|k| k.alg == alg && k.status == KeyStatus::Active)
            .map(|k| k.kid.clone());
        let (mut stored, _) = generate(alg, master, now)?;
        if start != RotationStart::Immediately {
            stored.status = KeyStatus::Next;
            stored.activate_at = Some(activate_at);
        }
        planned.push((stored, replaced_kid));
    }
    let new_keys: Vec<StoredSigningKey> = planned.iter().map(|(k, _)| k.clone()).collect();
    match start {
        RotationStart::After(_) => store.signing_key_insert_next(&new_keys).await?,
        RotationStart::Immediately => {
            store
                .signing_key_rotate(&new_keys, now, publish_until)
                .await?;
        }
    }
    let mut done = Vec::with_capacity(planned.len());
    for (stored, replaced_kid) in planned {
        let alg = stored.alg.as_str();
        match start {
            RotationStart::After(_) => audit::key_changed(actor, &stored.kid, alg, "staged"),
            RotationStart::Immediately => {
                audit::key_changed(actor, &stored.kid, alg, "rotated_in");
                if let Some(old) = &replaced_kid {
                    audit::key_changed(actor, old, alg, "retired");
                }
            }
        }
        done.push(Rotation {
            alg,
            new_kid: stored.kid,
            status: stored.status.as_str(),
            activate_at,
            replaced_kid,
            retired_published_until: publish_until,
        });
    }
    Ok(done)
}

/// Promotes every `next` key of `stored` whose `activate_at` is at or before `now`
/// (one conditional transaction each: of nodes racing, one promotes). The key it
/// replaces stays published until `now + MAX_ACCESS_TOKEN_TTL + RETIRED_KEY_GRACE`:
/// the servers' `access_token_ttl` may differ, so the largest any server accepts.
/// Returns whether this call promoted anything.
///
/// # Errors
/// [`KeyError::Store`] if the database fails.
pub async fn promote_due_keys(
    store: &dyn Store,
    stored: &[StoredSigningKey],
    now: UnixTime,
) -> Result<bool, KeyError> {
    let publish_until = now
        .saturating_add(MAX_ACCESS_TOKEN_TTL)
        .saturating_add(RETIRED_KEY_GRACE);
    let mut promoted = false;
    for key in stored
        .iter()
        .filter(|k| k.status == KeyStatus::Next && k.activate_at.is_some_and(|at| at <= now))
    {
        if store
            .signing_key_promote(&key.kid, now, publish_until)
            .await?
        {
            audit::key_changed("refresh", &key.kid, key.alg.as_str(), "activated");
            promoted = true;
        }
    }
    Ok(promoted)
}

/// Re-reads keys every [`KEY_REFRESH_INTERVAL`], promotes `next` keys whose time has
/// come, and swaps in a new ring when they changed (or a retired key's publication
/// ended). Runs until the task is aborted.
pub async fn refresh_loop(
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    current: Arc<ArcSwap<KeySnapshot>>,
) {
    let mut ticker = tokio::time::interval(KEY_REFRESH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut failures = RefreshFailures::default();
    loop {
        ticker.tick().await;
        let result = refresh_once(store.as_ref(), &master, clock.now(), &current).await;
        failures.record(result.as_ref().err());
    }
}

/// How the refresh loop logs failures: a warning when they start and whenever the
/// error changes, debug while the same error repeats, info when a refresh works again.
/// Why not once per outage: a database outage must not flood the log every 10 s, but
/// an error that follows it (a wrong master key, a missing active key) must not be
/// hidden at debug.
#[derive(Debug, Default)]
struct RefreshFailures {
    /// Failed refreshes in a row.
    count: u64,
    /// What the last failure was (see [`RefreshFailures::kind`]).
    last: Option<String>,
}

impl RefreshFailures {
    /// Records one refresh's outcome (`None`: it worked) and returns the level it was
    /// logged at, if any.
    fn record(&mut self, failure: Option<&KeyError>) -> Option<tracing::Level> {
        let Some(error) = failure else {
            let count = std::mem::take(&mut self.count);
            self.last = None;
            if count == 0 {
                return None;
            }
            tracing::info!(failures = count, "signing key refresh works again");
            return Some(tracing::Level::INFO);
        };
        self.count += 1;
        let kind = Self::kind(error);
        if self.last.as_deref() == Some(kind.as_str()) {
            tracing::debug!(%error, failures = self.count, "signing key refresh failed again");
            return Some(tracing::Level::DEBUG);
        }
        let first = self.last.is_none();
        self.last = Some(kind);
        if first {
            tracing::warn!(%error, "signing key refresh failed; keeping the current keys and retrying quietly while the error stays the same");
        } else {
            tracing::warn!(%error, failures = self.count, "signing key refresh now fails with another error; keeping the current keys");
        }
        Some(tracing::Level::WARN)
    }

    /// What tells two failures apart: the kind for a database that cannot be reached
    /// (its message varies from one attempt to the next during one outage), else the
    /// whole message.
    fn kind(error: &KeyError) -> String {
        match error {
            KeyError::Store(StoreError::Unavailable(_)) => "database unavailable".to_owned(),
            other => other.to_string(),
        }
    }
}

/// One refresh step: promotes due `next` keys ([`promote_due_keys`]), then rebuilds
/// the ring if the stored keys changed; returns whether the ring changed.
///
/// # Errors
/// [`KeyError`] if the keys cannot be read or opened.
pub async fn refresh_once(
    store: &dyn Store,
    master: &MasterKey,
    now: UnixTime,
    current: &ArcSwap<KeySnapshot>,
) -> Result<bool, KeyError> {
    let mut keys = store.signing_keys_list().await?;
    if promote_due_keys(store, &keys, now).await? {
        keys = store.signing_keys_list().await?;
    }
    let snapshot = current.load();
    if snapshot.ring.is_current(&keys, now) {
        return Ok(false);
    }
    let ring = KeyRing::build(&keys, master, now, Some(&snapshot.ring))?;
    current.store(Arc::new(KeySnapshot::new(ring)));
    let purged = store.signing_keys_purge(now).await?;
    tracing::info!(purged, "signing keys reloaded");
    Ok(true)
}

/// `Cache-Control` of the JWK Set: [`JWKS_MAX_AGE`] seconds, which the
/// key rotation's publication lead covers.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=60";

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_minimum_publication_lead_covers_a_refresh_a_jwks_cache_lifetime_and_clock_skew() {
        let refresh = i64::try_from(KEY_REFRESH_INTERVAL.as_secs()).unwrap();
        assert_eq!(
            MIN_PUBLICATION_LEAD,
            refresh + JWKS_MAX_AGE + MAX_CLOCK_SKEW
        );
        assert_eq!(
            JWKS_CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE}")
        );
    }

    #[test]
    fn refresh_failures_warn_when_they_start_and_whenever_the_error_changes() {
        use tracing::Level;
        let unavailable = |what: &str| KeyError::Store(StoreError::Unavailable(what.to_owned()));
        let wrong_master = KeyError::Ring(KeyRingError::WrongMasterKey);
        let no_active = KeyError::Ring(KeyRingError::NoActiveKey("ES256"));
        let mut log = RefreshFailures::default();
        assert_eq!(log.record(None), None);
        assert_eq!(log.record(Some(&unavailable("refused"))), Some(Level::WARN));
        assert_eq!(
            log.record(Some(&unavailable("timed out"))),
            Some(Level::DEBUG),
            "one outage, whatever the message"
        );
        assert_eq!(log.record(Some(&wrong_master)), Some(Level::WARN));
        assert_eq!(log.record(Some(&wrong_master)), Some(Level::DEBUG));
        assert_eq!(log.record(Some(&no_active)), Some(Level::WARN));
        assert_eq!(log.record(Some(&unavailable("refused"))), Some(Level::WARN));
        assert_eq!(log.record(None), Some(Level::INFO));
        assert_eq!(log.record(None), None);
        assert_eq!(
            log.record(Some(&wrong_master)),
            Some(Level::WARN),
            "a new run of failures"
        );
    }

    #[test]
    fn creates_the_key_file_0600_and_reads_it_back() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("sub/master.key");
        let source = MasterKeySource::File(path.clone());
        let first = load_master_key(&source, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal(b"kid", b"x").unwrap();
        let again = load_master_key(&source, true).unwrap();
        assert_eq!(again.open(b"kid", &sealed).unwrap(), b"x");
    }

    #[test]
    fn does_not_create_a_key_file_unless_asked() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("master.key");
        let e = load_master_key(&MasterKeySource::File(path.clone()), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not exist") && e.contains("PORTCULLIS_MASTER_KEY"),
            "{e}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn rejects_a_key_file_readable_by_others() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("master.key");
        let source = MasterKeySource::File(path.clone());
        load_master_key(&source, true).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_master_key(&source, true).unwrap_err().to_string();
        assert!(
            e.contains("readable by other users") && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn rejects_a_malformed_environment_key_naming_the_variable() {
        let e = load_master_key(&MasterKeySource::Env("c2hvcnQ=".to_owned().into()), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("PORTCULLIS_MASTER_KEY decodes to 5 bytes"),
            "{e}"
        );
    }
}
