//! Keyed digests of short or human-chosen secrets (docs/security.md "Keyed digests"):
//! the keys, derived from the master key, and the start-up migration of rows stored
//! before they were keyed.
//!
//! A keyed digest is HMAC-SHA256(k, SHA-256(value)) ([`DigestKey`]), with one key per
//! use (HKDF-SHA256, RFC 5869, a distinct label each). Device user codes (RFC 8628
//! §6.1, 34.6 bits) and operator-chosen client secrets are kept this way; generated
//! 256-bit secrets stay bare SHA-256 (offline guessing is hopeless).
//!
//! The migration needs the key, so it runs here, at start-up, not in SQL: it keys each
//! device authorization whose user-code digest is still bare (the inner SHA-256 is what
//! the row holds, so no plaintext is needed), with a conditional UPDATE per row: it
//! keys a row once, whichever node gets there first, and running it again does
//! nothing. Config clients are keyed when start-up applies the file
//! ([`crate::app::admin::sync_config`]).

use crate::app::keys::KeyError;
use portcullis_core::client::CLIENT_SECRET_DIGEST_LABEL;
use portcullis_core::device::user_code::USER_CODE_DIGEST_LABEL;
use portcullis_core::keys::MasterKey;
use portcullis_core::secret::DigestKey;
use portcullis_core::{Store, StoreError};
use std::sync::Arc;

/// The keys of keyed digests, one per use.
#[derive(Clone)]
pub struct DigestKeys {
    /// Operator-chosen client secrets ([`CLIENT_SECRET_DIGEST_LABEL`]).
    pub client_secret: Arc<DigestKey>,
    /// Device user codes ([`USER_CODE_DIGEST_LABEL`]).
    pub user_code: Arc<DigestKey>,
}

impl DigestKeys {
    /// Derives each key from `master` under its label.
    ///
    /// # Errors
    /// [`KeyError::Ring`] if a derivation fails (it cannot for a 32-byte key).
    pub fn derive(master: &MasterKey) -> Result<Self, KeyError> {
        let derive = |label| master.derive_digest_key(label).map(Arc::new);
        Ok(Self {
            client_secret: derive(CLIENT_SECRET_DIGEST_LABEL)?,
            user_code: derive(USER_CODE_DIGEST_LABEL)?,
        })
    }
}

/// Keys every stored user-code digest that is still a bare SHA-256, in batches of
/// [`MIGRATION_BATCH`]; returns how many rows this call keyed.
///
/// # Errors
/// The store's.
pub async fn key_unkeyed_user_codes(store: &dyn Store, key: &DigestKey) -> Result<u64, StoreError> {
    let mut keyed = 0;
    loop {
        let batch = store
            .device_authorization_unkeyed_user_codes(MIGRATION_BATCH)
            .await?;
        if batch.is_empty() {
            return Ok(keyed);
        }
        let mut progress = false;
        for (device_code, unkeyed) in &batch {
            let done = store
                .device_authorization_key_user_code(device_code, unkeyed, &key.rekey(unkeyed))
                .await?;
            progress |= done;
            keyed += u64::from(done);
        }
        // Nothing keyed: another node keyed these rows meanwhile, and keys the rest.
        if !progress {
            return Ok(keyed);
        }
    }
}

/// Rows read per migration batch.
const MIGRATION_BATCH: u32 = 500;
