//! The `dynamic_clients` and `initial_access_tokens` tables (RFC 7591 / RFC 7592): a
//! row ([`DynamicClientRecord`]), the SQL, and [`DynamicClientStore`] on
//! [`SqlStore`](crate::SqlStore). The client itself is a `clients` row written in the
//! same transaction ([`SqlStore::write_client_row`](crate::SqlStore)).

use crate::codec::{digest_bytes, digest_from, from_json, to_json};
use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::client::Client;
use portcullis_core::client::dynamic::{
    DynamicClientStore, DynamicRegistration, LAST_USE_GRANULARITY,
};
use portcullis_core::secret::SecretDigest;
use portcullis_core::{StoreError, UnixTime};
use serde_json::{Map, Value};

/// One row of `dynamic_clients`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct DynamicClientRecord {
    pub client_id: String,
    pub registration_token_digest: Vec<u8>,
    pub metadata: String,
    pub last_used_at: i64,
    pub created_at: i64,
}

impl DynamicClientRecord {
    /// The registration this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    fn decode(self) -> Result<DynamicRegistration, StoreError> {
        Ok(DynamicRegistration {
            client_id: self.client_id,
            registration_token_digest: digest_from(
                "dynamic_clients.registration_token_digest",
                &self.registration_token_digest,
            )?,
            metadata: from_json("dynamic_clients.metadata", &self.metadata)?,
            last_used_at: self.last_used_at,
            created_at: self.created_at,
        })
    }
}

/// Counts the dynamic clients (the ceiling check, in the insert's transaction).
const DYNAMIC_CLIENT_COUNT: &str = "SELECT COUNT(*) FROM dynamic_clients";

/// `$1`…`$5` in [`DynamicClientRecord`] order.
const DYNAMIC_CLIENT_INSERT: &str = "INSERT INTO dynamic_clients (client_id, \
     registration_token_digest, metadata, last_used_at, created_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// `$1` = client_id.
const DYNAMIC_CLIENT_GET: &str = "SELECT client_id, registration_token_digest, metadata, \
     last_used_at, created_at FROM dynamic_clients WHERE client_id = $1";

/// `$1` = client_id, `$2` = metadata.
const DYNAMIC_CLIENT_SET_METADATA: &str =
    "UPDATE dynamic_clients SET metadata = $2 WHERE client_id = $1";

/// `$1` = client_id, `$2` = now, `$3` = now − [`LAST_USE_GRANULARITY`].
const DYNAMIC_CLIENT_TOUCH: &str =
    "UPDATE dynamic_clients SET last_used_at = $2 WHERE client_id = $1 AND last_used_at < $3";

/// `$1` = the cut-off: deletes the clients (cascading to their registration, codes,
/// tokens and consents) whose registration was last used before it.
const DYNAMIC_CLIENT_DELETE_UNUSED: &str = "DELETE FROM clients WHERE client_id IN \
     (SELECT client_id FROM dynamic_clients WHERE last_used_at < $1) RETURNING client_id";

/// `$1` = digest, `$2` = now.
const INITIAL_ACCESS_TOKEN_INSERT: &str =
    "INSERT INTO initial_access_tokens (token_digest, created_at) VALUES ($1, $2)";

/// `$1` = digest.
const INITIAL_ACCESS_TOKEN_EXISTS: &str =
    "SELECT COUNT(*) FROM initial_access_tokens WHERE token_digest = $1";

sql_store_impl!(
    DynamicClientStore,
    async fn dynamic_client_insert(
        &self,
        client: &Client,
        registration: &DynamicRegistration,
        ceiling: u64,
    ) -> Result<bool, StoreError> {
        let what = format!("dynamic client `{}`", client.client_id);
        let metadata = to_json("dynamic_clients.metadata", &registration.metadata)?;
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        let count: i64 = sqlx::query_scalar::<DB, i64>(DYNAMIC_CLIENT_COUNT)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify(&what))?;
        if u64::try_from(count).unwrap_or(u64::MAX) >= ceiling {
            return Ok(false);
        }
        Self::write_client_row(&mut tx, client, false).await?;
        sqlx::query::<DB>(DYNAMIC_CLIENT_INSERT)
            .bind(client.client_id.clone())
            .bind(digest_bytes(&registration.registration_token_digest))
            .bind(metadata)
            .bind(registration.last_used_at)
            .bind(registration.created_at)
            .execute(&mut *tx)
            .await
            .map_err(classify(&what))?;
        tx.commit().await.map_err(classify(&what))?;
        Ok(true)
    },
    async fn dynamic_client_get(
        &self,
        client_id: &str,
    ) -> Result<Option<DynamicRegistration>, StoreError> {
        sqlx::query_as::<DB, DynamicClientRecord>(DYNAMIC_CLIENT_GET)
            .bind(client_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a dynamic client registration"))?
            .map(DynamicClientRecord::decode)
            .transpose()
    },
    async fn dynamic_client_replace(
        &self,
        client: &Client,
        metadata: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        let what = format!("dynamic client `{}`", client.client_id);
        let metadata = to_json("dynamic_clients.metadata", metadata)?;
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        let updated = sqlx::query::<DB>(DYNAMIC_CLIENT_SET_METADATA)
            .bind(client.client_id.clone())
            .bind(metadata)
            .execute(&mut *tx)
            .await
            .map_err(classify(&what))?;
        if DB::rows_affected(&updated) == 0 {
            return Ok(false);
        }
        Self::write_client_row(&mut tx, client, true).await?;
        tx.commit().await.map_err(classify(&what))?;
        Ok(true)
    },
    async fn dynamic_client_touch(&self, client_id: &str, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query::<DB>(DYNAMIC_CLIENT_TOUCH)
            .bind(client_id.to_owned())
            .bind(now)
            .bind(now.saturating_sub(LAST_USE_GRANULARITY))
            .execute(&self.pool)
            .await
            .map_err(classify("recording a dynamic client's use"))?;
        Ok(())
    },
    async fn dynamic_client_delete_unused(
        &self,
        before: UnixTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut deleted = sqlx::query_scalar::<DB, String>(DYNAMIC_CLIENT_DELETE_UNUSED)
            .bind(before)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("deleting unused dynamic clients"))?;
        deleted.sort_unstable();
        Ok(deleted)
    },
    async fn initial_access_token_insert(
        &self,
        digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(INITIAL_ACCESS_TOKEN_INSERT)
            .bind(digest_bytes(digest))
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("an initial access token"))?;
        Ok(())
    },
    async fn initial_access_token_exists(&self, digest: &SecretDigest) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar::<DB, i64>(INITIAL_ACCESS_TOKEN_EXISTS)
            .bind(digest_bytes(digest))
            .fetch_one(&self.pool)
            .await
            .map_err(classify("reading an initial access token"))?;
        Ok(count > 0)
    },
);
