//! The `consents` table: the scopes a user has approved for a client, as a JSON array
//! per (user, client), its SQL, and [`ConsentStore`] on [`SqlStore`](crate::SqlStore).
//! The grant itself is one statement per backend ([`Backend::CONSENT_GRANT`]).
//!
//! [`Backend::CONSENT_GRANT`]: crate::Backend::CONSENT_GRANT

use crate::codec::{from_json, to_json};
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::authorization::consent::ConsentStore;
use portcullis_core::{StoreError, UnixTime};
use std::collections::BTreeSet;

/// A scope set as the JSON array `consents.scopes` stores.
///
/// # Errors
/// [`StoreError::Other`] if serialization fails.
fn encode_scopes(scopes: &BTreeSet<String>) -> Result<String, StoreError> {
    to_json("consents.scopes", scopes)
}

/// The scope set in `consents.scopes`.
///
/// # Errors
/// [`StoreError::Corrupt`] if it is not a JSON array of strings.
fn decode_scopes(text: &str) -> Result<BTreeSet<String>, StoreError> {
    from_json("consents.scopes", text)
}

/// `$1` = user_id, `$2` = client_id.
const CONSENT_GET: &str = "SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2";

sql_store_impl!(
    ConsentStore,
    async fn consent_get(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        let scopes = sqlx::query_scalar::<DB, String>(CONSENT_GET)
            .bind(user_id.to_owned())
            .bind(client_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a consent"))?;
        scopes.map_or_else(|| Ok(BTreeSet::new()), |text| decode_scopes(&text))
    },
    async fn consent_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &BTreeSet<String>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        // One statement (see `Backend::CONSENT_GRANT`): a read-union-write in a
        // transaction would lose a concurrent grant under PostgreSQL's READ COMMITTED.
        let what = format!("consent of user `{user_id}` to client `{client_id}`");
        sqlx::query::<DB>(DB::CONSENT_GRANT)
            .bind(user_id.to_owned())
            .bind(client_id.to_owned())
            .bind(encode_scopes(scopes)?)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    },
);
