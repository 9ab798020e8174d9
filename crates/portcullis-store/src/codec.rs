//! Row ⇄ model helpers shared by the tables (`tables/`).
//!
//! A table's `*Record` holds one row as the primitive values both schemas store:
//! text, bytes, `i64` seconds and `bool`. Lists, claim maps and the public JWK are
//! JSON text; secret digests are 32 raw bytes. Decoding failures become
//! [`StoreError::Corrupt`] naming `table.column`.

use portcullis_core::StoreError;
use portcullis_core::client::{ClientSecretDigest, RecordSource};
use portcullis_core::secret::SecretDigest;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The keep-list of `client_delete_config_except` as a JSON array of strings, the
/// form both backends expand in SQL (`json_each` / `json_array_elements_text`).
///
/// # Errors
/// [`StoreError::Other`] if serialization fails.
pub(crate) fn id_list(ids: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(ids).map_err(|e| StoreError::Other(format!("encoding id list: {e}")))
}

/// The 32 bytes a digest column stores.
pub(crate) fn digest_bytes(digest: &SecretDigest) -> Vec<u8> {
    digest.as_bytes().to_vec()
}

/// The digest in a digest column: [`StoreError::Corrupt`] naming `column` unless
/// it is 32 bytes.
pub(crate) fn digest_from(column: &str, bytes: &[u8]) -> Result<SecretDigest, StoreError> {
    SecretDigest::from_bytes(bytes).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{column}: a SHA-256 digest is 32 bytes, found {}",
            bytes.len()
        ))
    })
}

/// The bytes a client secret digest column stores: the 32 digest bytes for
/// [`ClientSecretDigest::Sha256`], or [`KEYED_DIGEST_PREFIX`] and the 32 bytes for
/// [`ClientSecretDigest::Keyed`] (the prefix marks a keyed row: the start-up
/// migration keys only rows without it, once).
pub(crate) fn client_secret_digest_bytes(digest: &ClientSecretDigest) -> Vec<u8> {
    match digest {
        ClientSecretDigest::Sha256(d) => d.as_bytes().to_vec(),
        ClientSecretDigest::Keyed(d) => {
            let mut bytes = Vec::with_capacity(33);
            bytes.push(KEYED_DIGEST_PREFIX);
            bytes.extend_from_slice(d.as_bytes());
            bytes
        }
    }
}

/// The client secret digest in a column written by [`client_secret_digest_bytes`]:
/// [`StoreError::Corrupt`] naming `column` for any other length or prefix.
pub(crate) fn client_secret_digest_from(
    column: &str,
    bytes: &[u8],
) -> Result<ClientSecretDigest, StoreError> {
    match bytes.split_first() {
        Some((&KEYED_DIGEST_PREFIX, keyed)) if keyed.len() == 32 => {
            digest_from(column, keyed).map(ClientSecretDigest::Keyed)
        }
        _ if bytes.len() == 32 => digest_from(column, bytes).map(ClientSecretDigest::Sha256),
        _ => Err(StoreError::Corrupt(format!(
            "{column}: a client secret digest is 32 bytes (SHA-256) or 33 starting with {KEYED_DIGEST_PREFIX} (keyed), found {}",
            bytes.len()
        ))),
    }
}

/// First byte of a keyed client secret digest (HMAC-SHA256 of the SHA-256, version 1).
pub(crate) const KEYED_DIGEST_PREFIX: u8 = 1;

/// A `source` column: [`StoreError::Corrupt`] for a spelling this version does not know.
pub(crate) fn record_source(column: &str, value: &str) -> Result<RecordSource, StoreError> {
    RecordSource::parse(value).ok_or_else(|| unknown(column, value))
}

/// `value` as the JSON text `column` stores: [`StoreError::Other`] if it does not
/// serialize.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    column: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(format!("encoding {column}: {e}")))
}

/// The JSON text of `column` as a `T`: [`StoreError::Corrupt`] naming the column if
/// it does not parse.
pub(crate) fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// [`StoreError::Corrupt`]: `column` holds `value`, a spelling this version does not know.
pub(crate) fn unknown(column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{column}: unknown value `{value}`"))
}
