//! The `signing_keys` table: a row ([`SigningKeyRecord`]), its columns and SQL, and
//! [`SigningKeyStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{from_json, to_json, unknown};
use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::keys::{KeyStatus, SigningAlgorithm, SigningKeyStore, StoredSigningKey};
use portcullis_core::{StoreError, UnixTime};

/// One row of `signing_keys`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub status: String,
    pub public_jwk: String,
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
    pub activate_at: Option<i64>,
}

impl SigningKeyRecord {
    /// The row that stores `key` (its status, retired_at and publish_until as given;
    /// the insert statements decide what they keep).
    ///
    /// # Errors
    /// [`StoreError::Other`] if the JWK cannot be serialized as JSON.
    pub fn encode(key: &StoredSigningKey) -> Result<Self, StoreError> {
        Ok(Self {
            kid: key.kid.clone(),
            alg: key.alg.as_str().to_owned(),
            status: key.status.as_str().to_owned(),
            public_jwk: to_json("signing_keys.public_jwk", &key.public_jwk)?,
            sealed_private_key: key.sealed_private_key.clone(),
            created_at: key.created_at,
            retired_at: key.retired_at,
            publish_until: key.publish_until,
            activate_at: key.activate_at,
        })
    }

    /// The key this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<StoredSigningKey, StoreError> {
        Ok(StoredSigningKey {
            alg: SigningAlgorithm::parse(&self.alg)
                .ok_or_else(|| unknown("signing_keys.alg", &self.alg))?,
            status: KeyStatus::parse(&self.status)
                .ok_or_else(|| unknown("signing_keys.status", &self.status))?,
            public_jwk: from_json("signing_keys.public_jwk", &self.public_jwk)?,
            kid: self.kid,
            sealed_private_key: self.sealed_private_key,
            created_at: self.created_at,
            activate_at: self.activate_at,
            retired_at: self.retired_at,
            publish_until: self.publish_until,
        })
    }
}

/// The keys stored in `rows`, skipping with a warning a row whose `status` this version
/// does not know (why: a later version may add stages; while nodes are upgraded one by
/// one, a node still on this version must keep its other keys rather than fail the
/// whole list). A skipped key is neither published nor used by this node.
///
/// # Errors
/// [`StoreError::Corrupt`] if a row with a known status does not decode.
fn decode_signing_keys(rows: Vec<SigningKeyRecord>) -> Result<Vec<StoredSigningKey>, StoreError> {
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        if KeyStatus::parse(&row.status).is_none() {
            tracing::warn!(
                kid = %row.kid,
                status = %row.status,
                "ignoring a signing key whose status this version does not know (written by a newer version?); upgrade this node"
            );
            continue;
        }
        keys.push(row.decode()?);
    }
    Ok(keys)
}

/// Columns of `signing_keys`, in [`SigningKeyRecord`] order.
macro_rules! key_columns {
    () => {
        "kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until, activate_at"
    };
}

/// Binds a [`SigningKeyRecord`] as `$1`…`$5` of [`KEY_INSERT_ACTIVE`].
macro_rules! bind_new_key {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.kid)
            .bind(r.alg)
            .bind(r.public_jwk)
            .bind(r.sealed_private_key)
            .bind(r.created_at)
    }};
}

/// Every key, oldest first (`kid` breaks ties so the order is total).
const KEY_LIST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM signing_keys ORDER BY created_at, kid"
);

/// Inserts an active key: `$1` kid, `$2` alg, `$3` public JWK, `$4` sealed private
/// key, `$5` created_at. The partial unique index refuses a second active key per alg.
const KEY_INSERT_ACTIVE: &str = "INSERT INTO signing_keys \
     (kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until) \
     VALUES ($1, $2, 'active', $3, $4, $5, NULL, NULL)";

/// Inserts a `next` key: `$1`…`$5` as [`KEY_INSERT_ACTIVE`], `$6` activate_at. The
/// partial unique index refuses a second pending rotation per alg.
const KEY_INSERT_NEXT: &str = "INSERT INTO signing_keys \
     (kid, alg, status, public_jwk, sealed_private_key, created_at, retired_at, publish_until, activate_at) \
     VALUES ($1, $2, 'next', $3, $4, $5, NULL, NULL, $6)";

/// Emergency rotation: retires the active and any `next` key of `$1` (alg): `$2`
/// retired_at, `$3` publish_until.
const KEY_RETIRE_ACTIVE: &str = "UPDATE signing_keys \
     SET status = 'retired', retired_at = $2, publish_until = $3 \
     WHERE alg = $1 AND status IN ('active', 'next')";

/// First half of a promotion: retires the active key of the algorithm of `$1` (kid)
/// only if `$1` is a `next` key due at `$2` (now); `$3` publish_until. Racing nodes:
/// the row lock makes the second wait, then find the key no longer active.
const KEY_RETIRE_FOR_PROMOTION: &str = "UPDATE signing_keys \
     SET status = 'retired', retired_at = $2, publish_until = $3 \
     WHERE status = 'active' AND alg = (SELECT alg FROM signing_keys \
         WHERE kid = $1 AND status = 'next' AND activate_at <= $2)";

/// Second half: `$1` (kid) becomes active if it is still a `next` key due at `$2`
/// (now). One row affected: this transaction promoted it.
const KEY_PROMOTE: &str = "UPDATE signing_keys SET status = 'active' \
     WHERE kid = $1 AND status = 'next' AND activate_at <= $2";

/// Deletes retired keys no longer published at `$1` (now).
const KEY_PURGE: &str = "DELETE FROM signing_keys WHERE status = 'retired' AND publish_until <= $1";

sql_store_impl!(
    SigningKeyStore,
    async fn signing_keys_list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows = sqlx::query_as::<DB, SigningKeyRecord>(KEY_LIST)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing signing keys"))?;
        decode_signing_keys(rows)
    },
    async fn signing_key_insert_first(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let record = SigningKeyRecord::encode(key)?;
        bind_new_key!(sqlx::query::<DB>(KEY_INSERT_ACTIVE), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&key_conflict(key)))?;
        Ok(())
    },
    async fn signing_key_insert_next(
        &self,
        new_keys: &[StoredSigningKey],
    ) -> Result<(), StoreError> {
        let records = new_keys
            .iter()
            .map(SigningKeyRecord::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let what = new_keys
            .iter()
            .map(|k| {
                format!(
                    "signing key `{}`, or a pending rotation (a next key) of {}",
                    k.kid,
                    k.alg.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        // Dropping `tx` on an early return rolls back: all or nothing.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        for record in records {
            let activate_at = record.activate_at;
            bind_new_key!(sqlx::query::<DB>(KEY_INSERT_NEXT), record)
                .bind(activate_at)
                .execute(&mut *tx)
                .await
                .map_err(classify(&what))?;
        }
        tx.commit().await.map_err(classify(&what))?;
        Ok(())
    },
    async fn signing_key_promote(
        &self,
        kid: &str,
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = "promoting a signing key";
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        sqlx::query::<DB>(KEY_RETIRE_FOR_PROMOTION)
            .bind(kid.to_owned())
            .bind(now)
            .bind(publish_until)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        let promoted = sqlx::query::<DB>(KEY_PROMOTE)
            .bind(kid.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        if DB::rows_affected(&promoted) != 1 {
            // Not due, or another node promoted it first: nothing was changed above
            // either (the retire is conditional on the same key being a due `next`).
            return Ok(false);
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(true)
    },
    async fn signing_key_rotate(
        &self,
        new_keys: &[StoredSigningKey],
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<(), StoreError> {
        let records = new_keys
            .iter()
            .map(SigningKeyRecord::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let what = new_keys
            .iter()
            .map(key_conflict)
            .collect::<Vec<_>>()
            .join("; ");
        // Dropping `tx` on an early return rolls back, so every old key stays active
        // unless every new one is in.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        for record in records {
            sqlx::query::<DB>(KEY_RETIRE_ACTIVE)
                .bind(record.alg.clone())
                .bind(now)
                .bind(publish_until)
                .execute(&mut *tx)
                .await
                .map_err(classify(&what))?;
            bind_new_key!(sqlx::query::<DB>(KEY_INSERT_ACTIVE), record)
                .execute(&mut *tx)
                .await
                .map_err(classify(&what))?;
        }
        tx.commit().await.map_err(classify(&what))?;
        Ok(())
    },
    async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let result = sqlx::query::<DB>(KEY_PURGE)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("purging signing keys"))?;
        Ok(DB::rows_affected(&result))
    },
);

/// What a failed key insert collided with: the same kid, or (the race this index
/// exists for) another node's active key of the same algorithm.
fn key_conflict(key: &StoredSigningKey) -> String {
    format!(
        "signing key `{}`, or another active {} key",
        key.kid,
        key.alg.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_record(kid: &str, status: &str) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: "ES256".into(),
            status: status.into(),
            public_jwk: r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k","alg":"ES256","use":"sig"}"#.into(),
            sealed_private_key: vec![1, 2, 3],
            created_at: 1,
            retired_at: None,
            publish_until: None,
            activate_at: None,
        }
    }

    #[test]
    fn signing_keys_with_an_unknown_status_are_skipped_not_fatal() {
        let keys = decode_signing_keys(vec![
            key_record("a", "active"),
            key_record("f", "frozen"),
            key_record("n", "next"),
        ])
        .unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "n"]);
        assert_eq!(keys[1].status, KeyStatus::Next);
        // Other columns stay strict.
        let mut bad_alg = key_record("b", "active");
        bad_alg.alg = "EdDSA".into();
        assert!(matches!(
            decode_signing_keys(vec![bad_alg]),
            Err(StoreError::Corrupt(what)) if what == "signing_keys.alg: unknown value `EdDSA`"
        ));
    }
}
