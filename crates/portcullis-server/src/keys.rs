//! Signing keys at the server: the master key (environment or a 0600 file), keys
//! created on first start, rotation, and a background refresh that picks up keys
//! rotated by the CLI or another node.

use crate::audit;
use crate::config::{ENV_MASTER_KEY, MasterKeySource};
use arc_swap::ArcSwap;
use axum::body::Bytes;
use portcullis_core::keys::{
    KeyRing, KeyRingError, MasterKey, RETIRED_KEY_GRACE, SigningAlgorithm, StoredSigningKey,
    generate,
};
use portcullis_core::store::{StoreError, algorithms_missing_a_key};
use portcullis_core::{Clock, Store, UnixTime};
use secrecy::ExposeSecret;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often each node re-reads the signing keys. A key rotated elsewhere signs here
/// within this interval; [`RETIRED_KEY_GRACE`] covers it.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

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
}

/// The current key ring and its pre-serialised JWK Set.
#[derive(Debug)]
pub struct KeySnapshot {
    /// Parsed keys.
    pub ring: KeyRing,
    /// `{"keys":[…]}` as served at `jwks_uri`.
    pub jwks_json: Bytes,
}

impl KeySnapshot {
    /// Wraps a ring, serialising its JWK Set once.
    pub fn new(ring: KeyRing) -> Self {
        let jwks_json = Bytes::from(
            serde_json::to_vec(ring.jwks()).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec()),
        );
        Self { ring, jwks_json }
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

/// A completed rotation of one algorithm.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    /// `ES256` or `RS256`.
    pub alg: &'static str,
    /// The key that signs from now on.
    pub new_kid: String,
    /// The key it replaced, if any.
    pub retired_kid: Option<String>,
    /// Until when the retired key stays published (seconds since the epoch).
    pub retired_published_until: UnixTime,
}

/// Rotates the keys of `algs`: a new key is published and signs at once; the previous
/// one stays published until `now + longest_token_ttl + RETIRED_KEY_GRACE`, so every
/// token it signed still verifies until it expires.
///
/// Before writing anything it opens the current keys with `master` (why: a key sealed
/// under another master key would leave every server unable to start).
///
/// # Errors
/// [`KeyError::Ring`] if `master` does not open the stored keys, or on database or
/// crypto failure.
pub async fn rotate_signing_keys(
    store: &dyn Store,
    master: &MasterKey,
    now: UnixTime,
    algs: &[SigningAlgorithm],
    longest_token_ttl: i64,
    actor: &str,
) -> Result<Vec<Rotation>, KeyError> {
    let before = store.signing_keys_list().await?;
    KeyRing::build(&before, master, now, None)?;
    let publish_until = now
        .saturating_add(longest_token_ttl)
        .saturating_add(RETIRED_KEY_GRACE);
    // Generate every new key first, then swap them in one transaction: a failure
    // leaves every algorithm as it was.
    let mut planned = Vec::with_capacity(algs.len());
    for &alg in algs {
        let retired_kid = before
            .iter()
            .find(|k| k.alg == alg && k.status == portcullis_core::keys::KeyStatus::Active)
            .map(|k| k.kid.clone());
        let (stored, _) = generate(alg, master, now)?;
        planned.push((stored, retired_kid));
    }
    let new_keys: Vec<StoredSigningKey> = planned.iter().map(|(k, _)| k.clone()).collect();
    store
        .signing_key_rotate(&new_keys, now, publish_until)
        .await?;
    let mut done = Vec::with_capacity(planned.len());
    for (stored, retired_kid) in planned {
        let alg = stored.alg.as_str();
        audit::key_changed(actor, &stored.kid, alg, "rotated_in");
        if let Some(old) = &retired_kid {
            audit::key_changed(actor, old, alg, "retired");
        }
        done.push(Rotation {
            alg,
            new_kid: stored.kid,
            retired_kid,
            retired_published_until: publish_until,
        });
    }
    Ok(done)
}

/// Re-reads keys every [`KEY_REFRESH_INTERVAL`] and swaps in a new ring when they
/// changed (or a retired key's publication ended). Runs until the task is aborted.
pub async fn refresh_loop(
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    current: Arc<ArcSwap<KeySnapshot>>,
) {
    let mut ticker = tokio::time::interval(KEY_REFRESH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(e) = refresh_once(store.as_ref(), &master, clock.now(), &current).await {
            tracing::warn!(error = %e, "signing key refresh failed; keeping the current keys");
        }
    }
}

/// One refresh step; returns whether the ring changed.
///
/// # Errors
/// [`KeyError`] if the keys cannot be read or opened.
pub async fn refresh_once(
    store: &dyn Store,
    master: &MasterKey,
    now: UnixTime,
    current: &ArcSwap<KeySnapshot>,
) -> Result<bool, KeyError> {
    let keys = store.signing_keys_list().await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
