//! The `device_authorizations` table (RFC 8628): a row ([`DeviceAuthorizationRecord`]),
//! its columns and SQL, and [`DeviceAuthorizationStore`] on [`SqlStore`](crate::SqlStore).

use super::refresh_tokens::RefreshTokenRecord;
use crate::codec::{digest_bytes, digest_from, from_json, to_json, unknown};
use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::device::{
    DeviceAuthorization, DeviceAuthorizationStatus, DeviceAuthorizationStore, DevicePoll,
    SLOW_DOWN_INCREMENT,
};
use portcullis_core::secret::SecretDigest;
use portcullis_core::tokens::refresh_token::RefreshToken;
use portcullis_core::{StoreError, UnixTime};

/// One row of `device_authorizations`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct DeviceAuthorizationRecord {
    pub device_code_digest: Vec<u8>,
    pub user_code_digest: Vec<u8>,
    pub client_id: String,
    pub scopes: String,
    pub resources: String,
    pub status: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    pub last_poll_too_fast: bool,
    pub consumed_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl DeviceAuthorizationRecord {
    /// The row that stores a new `authorization` (no poll recorded as too fast).
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list cannot be serialized as JSON.
    pub fn encode(authorization: &DeviceAuthorization) -> Result<Self, StoreError> {
        let (status, user_id, auth_time) = encode_device_status(&authorization.status);
        Ok(Self {
            device_code_digest: digest_bytes(&authorization.device_code_digest),
            user_code_digest: digest_bytes(&authorization.user_code_digest),
            client_id: authorization.client_id.clone(),
            scopes: to_json("device_authorizations.scopes", &authorization.scopes)?,
            resources: to_json("device_authorizations.resources", &authorization.resources)?,
            status: status.to_owned(),
            user_id,
            auth_time,
            poll_interval: authorization.interval,
            last_polled_at: authorization.last_polled_at,
            last_poll_too_fast: false,
            consumed_at: authorization.consumed_at,
            created_at: authorization.created_at,
            expires_at: authorization.expires_at,
        })
    }

    /// The device authorization this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<DeviceAuthorization, StoreError> {
        Ok(self.decode_poll()?.authorization)
    }

    /// The row as a [`DeviceAuthorizationStore::device_authorization_poll`] returns it:
    /// the authorization and whether the poll that wrote it came too soon.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode_poll(self) -> Result<DevicePoll, StoreError> {
        let status = match (self.status.as_str(), self.user_id, self.auth_time) {
            ("pending", None, None) => DeviceAuthorizationStatus::Pending,
            ("denied", None, None) => DeviceAuthorizationStatus::Denied,
            ("approved", Some(user_id), Some(auth_time)) => {
                DeviceAuthorizationStatus::Approved { user_id, auth_time }
            }
            ("pending" | "denied" | "approved", _, _) => {
                return Err(StoreError::Corrupt(format!(
                    "device_authorizations.user_id: does not fit status `{}`",
                    self.status
                )));
            }
            (other, _, _) => return Err(unknown("device_authorizations.status", other)),
        };
        Ok(DevicePoll {
            authorization: DeviceAuthorization {
                device_code_digest: digest_from(
                    "device_authorizations.device_code_digest",
                    &self.device_code_digest,
                )?,
                user_code_digest: digest_from(
                    "device_authorizations.user_code_digest",
                    &self.user_code_digest,
                )?,
                scopes: from_json("device_authorizations.scopes", &self.scopes)?,
                resources: from_json("device_authorizations.resources", &self.resources)?,
                client_id: self.client_id,
                status,
                interval: self.poll_interval,
                last_polled_at: self.last_polled_at,
                consumed_at: self.consumed_at,
                created_at: self.created_at,
                expires_at: self.expires_at,
            },
            too_fast: self.last_poll_too_fast,
        })
    }
}

/// `device_authorizations.status` and the `user_id`, `auth_time` stored with it.
fn encode_device_status(
    status: &DeviceAuthorizationStatus,
) -> (&'static str, Option<String>, Option<i64>) {
    match status {
        DeviceAuthorizationStatus::Pending => ("pending", None, None),
        DeviceAuthorizationStatus::Approved { user_id, auth_time } => {
            ("approved", Some(user_id.clone()), Some(*auth_time))
        }
        DeviceAuthorizationStatus::Denied => ("denied", None, None),
    }
}

/// Columns of `device_authorizations`, in [`DeviceAuthorizationRecord`]
/// and `bind_device!` order.
macro_rules! device_columns {
    () => {
        "device_code_digest, user_code_digest, client_id, scopes, resources, status, user_id, \
         auth_time, poll_interval, last_polled_at, last_poll_too_fast, consumed_at, created_at, \
         expires_at"
    };
}

/// Binds a [`DeviceAuthorizationRecord`] as `$1`…`$14` of
/// [`DEVICE_INSERT`].
macro_rules! bind_device {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.device_code_digest)
            .bind(r.user_code_digest)
            .bind(r.client_id)
            .bind(r.scopes)
            .bind(r.resources)
            .bind(r.status)
            .bind(r.user_id)
            .bind(r.auth_time)
            .bind(r.poll_interval)
            .bind(r.last_polled_at)
            .bind(r.last_poll_too_fast)
            .bind(r.consumed_at)
            .bind(r.created_at)
            .bind(r.expires_at)
    }};
}

/// See [`device_columns`]. New rows hold keyed user-code digests (`user_code_keyed`).
const DEVICE_INSERT: &str = concat!(
    "INSERT INTO device_authorizations (",
    device_columns!(),
    ", user_code_keyed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, TRUE)"
);

/// `$1` = limit: rows whose user-code digest is still a bare SHA-256.
const DEVICE_UNKEYED_USER_CODES: &str = "SELECT device_code_digest, user_code_digest \
     FROM device_authorizations WHERE user_code_keyed = FALSE LIMIT $1";

/// `$1` = device code digest, `$2` = the bare SHA-256 digest read, `$3` = its keyed
/// digest. Conditional, so it keys a row once whichever node runs it first.
const DEVICE_KEY_USER_CODE: &str = "UPDATE device_authorizations \
     SET user_code_digest = $3, user_code_keyed = TRUE \
     WHERE device_code_digest = $1 AND user_code_digest = $2 AND user_code_keyed = FALSE";

/// `$1` = device code digest, whatever the row's state.
const DEVICE_GET: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE device_code_digest = $1"
);

/// `$1` = user code digest, `$2` = now: only a row still waiting for the user.
const DEVICE_FIND_BY_USER_CODE: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE user_code_digest = $1 AND status = 'pending' \
     AND consumed_at IS NULL AND expires_at > $2"
);

/// `$1` = device code digest, `$2` = status (`approved` or `denied`), `$3`/`$4` =
/// user_id and auth_time (both NULL for `denied`), `$5` = now. Decided once, in one
/// statement: of two concurrent decisions only one finds the row pending.
const DEVICE_DECIDE: &str = "UPDATE device_authorizations \
     SET status = $2, user_id = $3, auth_time = $4 \
     WHERE device_code_digest = $1 AND status = 'pending' AND expires_at > $5";

/// `$1` = device code digest, `$2` = client_id, `$3` = now, `$4` = the slow_down
/// increment. One statement records the poll, decides whether it came too soon and
/// grows the interval if so (RFC 8628 §3.5): every SET expression reads the row as it
/// was before this UPDATE, on both backends, and concurrent polls of one row queue on
/// its write lock (PostgreSQL re-evaluates them on the row the previous one left), so
/// each too-soon poll adds the increment once. Another client's poll matches no row.
const DEVICE_POLL: &str = concat!(
    "UPDATE device_authorizations SET \
     poll_interval = CASE WHEN last_polled_at IS NOT NULL AND $3 < last_polled_at + poll_interval \
         THEN poll_interval + $4 ELSE poll_interval END, \
     last_poll_too_fast = (last_polled_at IS NOT NULL AND $3 < last_polled_at + poll_interval), \
     last_polled_at = $3 \
     WHERE device_code_digest = $1 AND client_id = $2 RETURNING ",
    device_columns!()
);

/// `$1` = device code digest, `$2` = now. Single use in one statement: of two
/// concurrent polls of an approved code, only one consumes it.
const DEVICE_CONSUME: &str = "UPDATE device_authorizations SET consumed_at = $2 \
     WHERE device_code_digest = $1 AND status = 'approved' AND consumed_at IS NULL \
     AND expires_at > $2";

sql_store_impl!(
    DeviceAuthorizationStore,
    async fn device_authorization_insert(
        &self,
        authorization: &DeviceAuthorization,
    ) -> Result<(), StoreError> {
        let what = format!(
            "device authorization of client `{}` (device code or user code)",
            authorization.client_id
        );
        let record = DeviceAuthorizationRecord::encode(authorization)?;
        bind_device!(sqlx::query::<DB>(DEVICE_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    },
    async fn device_authorization_get(
        &self,
        device_code_digest: &SecretDigest,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        sqlx::query_as::<DB, DeviceAuthorizationRecord>(DEVICE_GET)
            .bind(digest_bytes(device_code_digest))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a device authorization"))?
            .map(DeviceAuthorizationRecord::decode)
            .transpose()
    },
    async fn device_authorization_find_by_user_code(
        &self,
        user_code_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        sqlx::query_as::<DB, DeviceAuthorizationRecord>(DEVICE_FIND_BY_USER_CODE)
            .bind(digest_bytes(user_code_digest))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a device authorization by user code"))?
            .map(DeviceAuthorizationRecord::decode)
            .transpose()
    },
    async fn device_authorization_unkeyed_user_codes(
        &self,
        limit: u32,
    ) -> Result<Vec<(SecretDigest, SecretDigest)>, StoreError> {
        let rows = sqlx::query_as::<DB, (Vec<u8>, Vec<u8>)>(DEVICE_UNKEYED_USER_CODES)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(classify("reading unkeyed user codes"))?;
        rows.into_iter()
            .map(|(device, user_code)| {
                Ok((
                    digest_from("device_authorizations.device_code_digest", &device)?,
                    digest_from("device_authorizations.user_code_digest", &user_code)?,
                ))
            })
            .collect()
    },
    async fn device_authorization_key_user_code(
        &self,
        device_code_digest: &SecretDigest,
        unkeyed: &SecretDigest,
        keyed: &SecretDigest,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(DEVICE_KEY_USER_CODE)
            .bind(digest_bytes(device_code_digest))
            .bind(digest_bytes(unkeyed))
            .bind(digest_bytes(keyed))
            .execute(&self.pool)
            .await
            .map_err(classify("keying a user code digest"))?;
        Ok(DB::rows_affected(&result) == 1)
    },
    async fn device_authorization_decide(
        &self,
        device_code_digest: &SecretDigest,
        decision: &DeviceAuthorizationStatus,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if *decision == DeviceAuthorizationStatus::Pending {
            return Ok(false);
        }
        let (status, user_id, auth_time) = encode_device_status(decision);
        let result = sqlx::query::<DB>(DEVICE_DECIDE)
            .bind(digest_bytes(device_code_digest))
            .bind(status.to_owned())
            .bind(user_id)
            .bind(auth_time)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("recording the decision on a device authorization"))?;
        Ok(DB::rows_affected(&result) == 1)
    },
    async fn device_authorization_poll(
        &self,
        device_code_digest: &SecretDigest,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<DevicePoll>, StoreError> {
        // fetch_all: the UPDATE … RETURNING runs to completion; the primary key makes
        // it at most one row.
        sqlx::query_as::<DB, DeviceAuthorizationRecord>(DEVICE_POLL)
            .bind(digest_bytes(device_code_digest))
            .bind(client_id.to_owned())
            .bind(now)
            .bind(SLOW_DOWN_INCREMENT)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("recording a poll of a device authorization"))?
            .into_iter()
            .next()
            .map(DeviceAuthorizationRecord::decode_poll)
            .transpose()
    },
    async fn device_authorization_consume(
        &self,
        device_code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = "redeeming a device authorization (and storing its refresh token)";
        let first = first_refresh_token
            .map(RefreshTokenRecord::encode)
            .transpose()?;
        // Dropping `tx` on an early return rolls back: a lost race, or a refresh token
        // that cannot be stored, leaves the authorization as it was (not burned).
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        // The conditional UPDATE is the single-use decision: on PostgreSQL a racing
        // transaction waits for this row's lock, then finds `consumed_at` set.
        let consumed = sqlx::query::<DB>(DEVICE_CONSUME)
            .bind(digest_bytes(device_code_digest))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        if DB::rows_affected(&consumed) != 1 {
            return Ok(false);
        }
        if let Some(record) = first {
            Self::insert_refresh_token(
                &mut tx,
                record,
                access_token_jti,
                access_token_expires_at,
                what,
            )
            .await?;
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(true)
    },
);
