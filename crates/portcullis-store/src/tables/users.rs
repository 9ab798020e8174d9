//! The `users` table: a row ([`UserRecord`]), its columns and SQL, and [`UserStore`]
//! on [`SqlStore`](crate::SqlStore).

use crate::codec::{from_json, id_list, record_source, to_json};
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::StoreError;
use portcullis_core::user::{User, UserStore, username_key};
use std::collections::BTreeMap;

/// One row of `users`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct UserRecord {
    pub user_id: String,
    pub username: String,
    /// [`username_key`] of `username`; `NULL` for a row stored before migration 0009
    /// until [`UserStore::user_keys_backfill`] sets it (never for clashing rows).
    pub username_key: Option<String>,
    pub password_hash: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub claims: String,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Migration 0019: when an administrator disabled the user.
    pub disabled_at: Option<i64>,
}

impl UserRecord {
    /// The row that stores `user`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if the claims cannot be serialized as JSON.
    pub fn encode(user: &User) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            username_key: Some(username_key(&user.username)),
            password_hash: user.password_hash.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            claims: to_json("users.claims", &user.claims)?,
            source: user.source.as_str().to_owned(),
            created_at: user.created_at,
            updated_at: user.updated_at,
            disabled_at: user.disabled_at,
        })
    }

    /// The user this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<User, StoreError> {
        Ok(User {
            claims: from_json("users.claims", &self.claims)?,
            source: record_source("users.source", &self.source)?,
            user_id: self.user_id,
            username: self.username,
            password_hash: self.password_hash,
            email: self.email,
            name: self.name,
            created_at: self.created_at,
            updated_at: self.updated_at,
            disabled_at: self.disabled_at,
        })
    }
}

/// Columns of `users`, in [`UserRecord`] and `bind_user!` order.
macro_rules! user_columns {
    () => {
        "user_id, username, username_key, password_hash, email, name, claims, source, created_at, updated_at, disabled_at"
    };
}

/// `INSERT INTO users`, binding [`user_columns`] as `$1`…`$11`.
macro_rules! user_insert {
    () => {
        concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )
    };
}

/// Binds a [`UserRecord`] as `$1`…`$11` of [`user_insert`].
macro_rules! bind_user {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.user_id)
            .bind(r.username)
            .bind(r.username_key)
            .bind(r.password_hash)
            .bind(r.email)
            .bind(r.name)
            .bind(r.claims)
            .bind(r.source)
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(r.disabled_at)
    }};
}

/// `$1` = [`username_key`].
const USER_GET_BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username_key = $1"
);

/// `$1` = user_id.
const USER_GET: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE user_id = $1");

/// Every user; usernames compare by code point on both backends.
const USER_LIST: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");

/// See [`user_insert`].
const USER_INSERT: &str = user_insert!();

/// [`user_insert`] that keeps `user_id` and `created_at` of an existing username
/// (by [`username_key`]; the username as given becomes the display form), and its
/// `disabled_at` (only [`UserStore::user_set_disabled`] changes that).
const USER_UPSERT: &str = concat!(
    user_insert!(),
    " ON CONFLICT (username_key) DO UPDATE SET",
    " username = excluded.username,",
    " password_hash = excluded.password_hash,",
    " email = excluded.email,",
    " name = excluded.name,",
    " claims = excluded.claims,",
    " source = excluded.source,",
    " updated_at = excluded.updated_at"
);

/// `$1` = user_id, `$2` = disabled_at (NULL enables).
const USER_SET_DISABLED: &str = "UPDATE users SET disabled_at = $2 WHERE user_id = $1";

/// `$1` = [`username_key`], `$2` = the username exactly (a clashing row has no key).
const USER_DELETE: &str =
    "DELETE FROM users WHERE username_key = $1 OR (username_key IS NULL AND username = $2)";

/// Every user's id, username and stored key, for [`UserStore::user_keys_backfill`].
const USER_KEYS: &str = "SELECT user_id, username, username_key FROM users";

/// `$1` = [`username_key`], `$2` = user_id.
const USER_SET_KEY: &str = "UPDATE users SET username_key = $1 WHERE user_id = $2";

/// One row of [`USER_KEYS`].
#[derive(Debug, sqlx::FromRow)]
struct UserKeyRow {
    user_id: String,
    username: String,
    username_key: Option<String>,
}

sql_store_impl!(
    UserStore,
    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<DB, UserRecord>(USER_GET_BY_USERNAME)
            .bind(username_key(username))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a user"))?
            .map(UserRecord::decode)
            .transpose()
    },
    async fn user_get(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<DB, UserRecord>(USER_GET)
            .bind(user_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a user"))?
            .map(UserRecord::decode)
            .transpose()
    },
    async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query_as::<DB, UserRecord>(USER_LIST)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing users"))?
            .into_iter()
            .map(UserRecord::decode)
            .collect()
    },
    async fn user_insert(&self, user: &User) -> Result<(), StoreError> {
        let record = UserRecord::encode(user)?;
        bind_user!(sqlx::query::<DB>(USER_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&user_conflict(user)))?;
        Ok(())
    },
    async fn user_upsert(&self, user: &User) -> Result<(), StoreError> {
        let record = UserRecord::encode(user)?;
        bind_user!(sqlx::query::<DB>(USER_UPSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&user_conflict(user)))?;
        Ok(())
    },
    async fn user_delete(&self, username: &str) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(USER_DELETE)
            .bind(username_key(username))
            .bind(username.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("deleting a user"))?;
        Ok(DB::rows_affected(&result) > 0)
    },
    async fn user_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError> {
        let mut deleted = sqlx::query_scalar::<DB, String>(DB::DELETE_CONFIG_USERS_EXCEPT)
            .bind(id_list(
                &keep.iter().map(|u| username_key(u)).collect::<Vec<_>>(),
            )?)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("deleting users removed from the configuration"))?;
        deleted.sort_unstable();
        Ok(deleted)
    },
    async fn user_keys_backfill(&self) -> Result<Vec<Vec<String>>, StoreError> {
        let rows = sqlx::query_as::<DB, UserKeyRow>(USER_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("reading usernames"))?;
        let mut by_key: BTreeMap<String, Vec<UserKeyRow>> = BTreeMap::new();
        for row in rows {
            by_key
                .entry(username_key(&row.username))
                .or_default()
                .push(row);
        }
        let mut clashes = Vec::new();
        for (key, rows) in by_key {
            match rows.as_slice() {
                [row] if row.username_key.as_deref() != Some(key.as_str()) => {
                    sqlx::query::<DB>(USER_SET_KEY)
                        .bind(key)
                        .bind(row.user_id.clone())
                        .execute(&self.pool)
                        .await
                        .map_err(classify("setting a username key"))?;
                }
                [_] => {}
                _ => {
                    let mut names: Vec<String> = rows.into_iter().map(|r| r.username).collect();
                    names.sort_unstable();
                    clashes.push(names);
                }
            }
        }
        Ok(clashes)
    },
    async fn user_set_disabled(
        &self,
        user_id: &str,
        disabled_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(USER_SET_DISABLED)
            .bind(user_id.to_owned())
            .bind(disabled_at)
            .execute(&self.pool)
            .await
            .map_err(classify(&format!("disabling or enabling user `{user_id}`")))?;
        Ok(DB::rows_affected(&result) > 0)
    },
);

fn user_conflict(user: &User) -> String {
    format!("user `{}` (or user_id `{}`)", user.username, user.user_id)
}
