//! The `pushed_authorization_requests` table (RFC 9126): a row
//! ([`PushedAuthorizationRecord`]), its columns and SQL, and
//! [`PushedAuthorizationStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{digest_bytes, digest_from};
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::StoreError;
use portcullis_core::authorization::pushed::{PushedAuthorization, PushedAuthorizationStore};
use portcullis_core::secret::SecretDigest;

/// One row of `pushed_authorization_requests`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct PushedAuthorizationRecord {
    pub request_uri_digest: Vec<u8>,
    pub client_id: String,
    pub sealed_request: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl PushedAuthorizationRecord {
    /// The row that stores `pushed`.
    pub fn encode(pushed: &PushedAuthorization) -> Self {
        Self {
            request_uri_digest: digest_bytes(&pushed.request_uri_digest),
            client_id: pushed.client_id.clone(),
            sealed_request: pushed.sealed_request.clone(),
            created_at: pushed.created_at,
            expires_at: pushed.expires_at,
        }
    }

    /// The pushed request this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the digest is not 32 bytes.
    pub fn decode(self) -> Result<PushedAuthorization, StoreError> {
        Ok(PushedAuthorization {
            request_uri_digest: digest_from(
                "pushed_authorization_requests.request_uri_digest",
                &self.request_uri_digest,
            )?,
            client_id: self.client_id,
            sealed_request: self.sealed_request,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// Columns of `pushed_authorization_requests`, in [`PushedAuthorizationRecord`] order.
macro_rules! pushed_columns {
    () => {
        "request_uri_digest, client_id, sealed_request, created_at, expires_at"
    };
}

/// See [`pushed_columns`].
const PUSHED_INSERT: &str = concat!(
    "INSERT INTO pushed_authorization_requests (",
    pushed_columns!(),
    ") VALUES ($1, $2, $3, $4, $5)"
);

/// `$1` = request_uri digest, `$2` = client_id. Single use in one statement: of two
/// redemptions (on one node or two) exactly one deletes and gets the row; another
/// client's attempt matches nothing and leaves the row to its own client.
const PUSHED_TAKE: &str = concat!(
    "DELETE FROM pushed_authorization_requests WHERE request_uri_digest = $1 \
     AND client_id = $2 RETURNING ",
    pushed_columns!()
);

sql_store_impl!(
    PushedAuthorizationStore,
    async fn pushed_authorization_insert(
        &self,
        pushed: &PushedAuthorization,
    ) -> Result<(), StoreError> {
        let what = format!(
            "pushed authorization request of client `{}`",
            pushed.client_id
        );
        let r = PushedAuthorizationRecord::encode(pushed);
        sqlx::query::<DB>(PUSHED_INSERT)
            .bind(r.request_uri_digest)
            .bind(r.client_id)
            .bind(r.sealed_request)
            .bind(r.created_at)
            .bind(r.expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    },
    async fn pushed_authorization_take(
        &self,
        request_uri_digest: &SecretDigest,
        client_id: &str,
    ) -> Result<Option<PushedAuthorization>, StoreError> {
        // fetch_all: the DELETE … RETURNING runs to completion; the primary key makes
        // it at most one row.
        sqlx::query_as::<DB, PushedAuthorizationRecord>(PUSHED_TAKE)
            .bind(digest_bytes(request_uri_digest))
            .bind(client_id.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(classify("redeeming a pushed authorization request"))?
            .into_iter()
            .next()
            .map(PushedAuthorizationRecord::decode)
            .transpose()
    },
);
