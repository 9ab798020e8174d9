//! The `pending_authorizations` table: a row ([`PendingAuthorizationRecord`]), its
//! columns and SQL, and [`PendingAuthorizationStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{digest_bytes, digest_from, from_json, to_json};
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::authorization::pending::{
    PendingAuthorization, PendingAuthorizationStore, PendingDevice,
};
use portcullis_core::authorization::request::{
    StoredAuthorizationRequest, ValidatedAuthorizationRequest,
};
use portcullis_core::secret::SecretDigest;
use portcullis_core::{StoreError, UnixTime};

/// One row of `pending_authorizations`, column for column. `Debug` redacts
/// `device_user_code` (the sealed user code of a device authorization).
#[derive(sqlx::FromRow)]
struct PendingAuthorizationRecord {
    pub id_digest: Vec<u8>,
    pub request: String,
    pub browser_digest: Vec<u8>,
    pub csrf_token: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub device_code_digest: Option<Vec<u8>>,
    pub device_user_code: Option<String>,
}

impl std::fmt::Debug for PendingAuthorizationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorizationRecord")
            .field("id_digest", &self.id_digest)
            .field("request", &self.request)
            .field("browser_digest", &self.browser_digest)
            .field("csrf_token", &self.csrf_token)
            .field("user_id", &self.user_id)
            .field("auth_time", &self.auth_time)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("device_code_digest", &self.device_code_digest)
            .field(
                "device_user_code",
                &self.device_user_code.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl PendingAuthorizationRecord {
    /// The row that stores `pending`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if the request cannot be serialized as JSON.
    pub fn encode(pending: &PendingAuthorization) -> Result<Self, StoreError> {
        Ok(Self {
            id_digest: digest_bytes(&pending.id_digest),
            request: to_json(
                "pending_authorizations.request",
                &StoredAuthorizationRequest::from(&pending.request),
            )?,
            browser_digest: digest_bytes(&pending.browser_digest),
            csrf_token: pending.csrf_token.clone(),
            user_id: pending.user_id.clone(),
            auth_time: pending.auth_time,
            created_at: pending.created_at,
            expires_at: pending.expires_at,
            device_code_digest: pending
                .device
                .as_ref()
                .map(|d| digest_bytes(&d.device_code_digest)),
            device_user_code: pending.device.as_ref().map(|d| d.sealed_user_code.clone()),
        })
    }

    /// The pending request this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<PendingAuthorization, StoreError> {
        let device = match (self.device_code_digest, self.device_user_code) {
            (None, None) => None,
            (Some(digest), Some(sealed_user_code)) => Some(PendingDevice {
                device_code_digest: digest_from(
                    "pending_authorizations.device_code_digest",
                    &digest,
                )?,
                sealed_user_code,
            }),
            _ => {
                return Err(StoreError::Corrupt(
                    "pending_authorizations.device_user_code: set without device_code_digest, or the reverse"
                        .into(),
                ));
            }
        };
        Ok(PendingAuthorization {
            id_digest: digest_from("pending_authorizations.id_digest", &self.id_digest)?,
            request: ValidatedAuthorizationRequest::from_stored(from_json(
                "pending_authorizations.request",
                &self.request,
            )?)
            .map_err(|e| StoreError::Corrupt(format!("pending_authorizations.request: {e}")))?,
            browser_digest: digest_from(
                "pending_authorizations.browser_digest",
                &self.browser_digest,
            )?,
            csrf_token: self.csrf_token,
            user_id: self.user_id,
            auth_time: self.auth_time,
            device,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// Columns of `pending_authorizations`, in
/// [`PendingAuthorizationRecord`] and `bind_pending!` order.
macro_rules! pending_columns {
    () => {
        "id_digest, request, browser_digest, csrf_token, user_id, auth_time, created_at, \
         expires_at, device_code_digest, device_user_code"
    };
}

/// Binds a [`PendingAuthorizationRecord`] as `$1`…`$10` of
/// [`PENDING_INSERT`].
macro_rules! bind_pending {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.id_digest)
            .bind(r.request)
            .bind(r.browser_digest)
            .bind(r.csrf_token)
            .bind(r.user_id)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.device_code_digest)
            .bind(r.device_user_code)
    }};
}

/// See [`pending_columns`].
const PENDING_INSERT: &str = concat!(
    "INSERT INTO pending_authorizations (",
    pending_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);

/// `$1` = id digest, `$2` = now: only a live request.
const PENDING_GET: &str = concat!(
    "SELECT ",
    pending_columns!(),
    " FROM pending_authorizations WHERE id_digest = $1 AND expires_at > $2"
);

/// `$1` = id digest, `$2` = user_id, `$3` = auth_time, `$4` = now: only a live request.
const PENDING_SET_USER: &str = "UPDATE pending_authorizations \
     SET user_id = $2, auth_time = $3 WHERE id_digest = $1 AND expires_at > $4";

/// `$1` = id digest, `$2` = now. Single use in one statement: of two concurrent
/// takes, only one deletes the row and gets it back.
const PENDING_TAKE: &str = concat!(
    "DELETE FROM pending_authorizations WHERE id_digest = $1 AND expires_at > $2 RETURNING ",
    pending_columns!()
);

sql_store_impl!(
    PendingAuthorizationStore,
    async fn pending_authorization_insert(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        let what = format!(
            "pending authorization request of client `{}`",
            pending.request.client_id()
        );
        let record = PendingAuthorizationRecord::encode(pending)?;
        bind_pending!(sqlx::query::<DB>(PENDING_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    },
    async fn pending_authorization_get(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        sqlx::query_as::<DB, PendingAuthorizationRecord>(PENDING_GET)
            .bind(digest_bytes(id_digest))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a pending authorization request"))?
            .map(PendingAuthorizationRecord::decode)
            .transpose()
    },
    async fn pending_authorization_set_user(
        &self,
        id_digest: &SecretDigest,
        user_id: &str,
        auth_time: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(PENDING_SET_USER)
            .bind(digest_bytes(id_digest))
            .bind(user_id.to_owned())
            .bind(auth_time)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify(
                "recording the user of a pending authorization request",
            ))?;
        Ok(DB::rows_affected(&result) == 1)
    },
    async fn pending_authorization_take(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        // fetch_all, not fetch_optional: the DELETE … RETURNING runs to completion
        // whatever the driver does with a half-read result. The primary key makes it
        // at most one row.
        sqlx::query_as::<DB, PendingAuthorizationRecord>(PENDING_TAKE)
            .bind(digest_bytes(id_digest))
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("taking a pending authorization request"))?
            .into_iter()
            .next()
            .map(PendingAuthorizationRecord::decode)
            .transpose()
    },
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_authorization_record_debug_redacts_the_user_code() {
        let record = PendingAuthorizationRecord {
            id_digest: vec![1; 32],
            request: "{}".into(),
            browser_digest: vec![2; 32],
            csrf_token: "csrf".into(),
            user_id: None,
            auth_time: None,
            created_at: 1,
            expires_at: 2,
            device_code_digest: Some(vec![3; 32]),
            device_user_code: Some("sealed-user-code".into()),
        };
        let shown = format!("{record:?}");
        assert!(!shown.contains("sealed-user-code"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
