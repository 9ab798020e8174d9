//! The dummy password hash: an argon2id hash of a random password, verified at login
//! when the username is unknown, so that unknown and known usernames cost the same
//! argon2id verification (why: a faster answer for an unknown username would tell an
//! attacker which accounts exist).
//!
//! Made off the start-up path (issue 17: a hash is ≈ 15 ms and 19 MiB, and start-up
//! to ready should take a few milliseconds): [`DummyPasswordHash::prepare`] starts it
//! on a blocking thread while the listener opens, and a login that needs it before it
//! is ready waits for that one computation ([`DummyPasswordHash::get`]). So the first
//! unknown-username login still verifies against a real argon2id hash; it can only be
//! slower than a known one, never faster.

use std::sync::Arc;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

/// The dummy hash, computed once. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct DummyPasswordHash {
    hash: Arc<OnceCell<String>>,
}

impl DummyPasswordHash {
    /// Not yet computed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts computing the hash in the background; the task ends when it is ready
    /// (a failure is retried by the first [`Self::get`]).
    pub fn prepare(&self) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.get().await {
                tracing::warn!(error = %e, "hashing the dummy password failed; retried at login");
            }
        })
    }

    /// The PHC string, computing it now if no one has yet (concurrent callers wait for
    /// the one computation).
    ///
    /// # Errors
    /// Why the CSPRNG or the hash failed, or the blocking thread was lost.
    pub async fn get(&self) -> Result<&str, String> {
        self.hash
            .get_or_try_init(hash_random_password)
            .await
            .map(String::as_str)
    }
}

/// Hashes a random password with the defaults users' passwords get, on a blocking
/// thread (≈ 15 ms).
async fn hash_random_password() -> Result<String, String> {
    let password = portcullis_core::secret::generate_secret().map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || portcullis_core::user::hash_password(&password))
        .await
        .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_hash_is_a_real_argon2id_hash_made_once() {
        let dummy = DummyPasswordHash::new();
        dummy.prepare().await.unwrap();
        let first = dummy.get().await.unwrap().to_owned();
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_eq!(dummy.get().await.unwrap(), first);
        // It verifies like any user's hash: a wrong password costs a full verification.
        assert!(!portcullis_core::user::verify_password(
            &secrecy::SecretString::from("not the password"),
            &first
        ));
    }

    #[tokio::test]
    async fn a_login_before_the_background_hash_is_ready_waits_for_it() {
        let dummy = DummyPasswordHash::new();
        let background = dummy.prepare();
        let hash = dummy.get().await.unwrap().to_owned();
        background.await.unwrap();
        assert_eq!(dummy.get().await.unwrap(), hash);
    }
}
