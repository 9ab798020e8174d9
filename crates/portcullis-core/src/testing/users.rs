//! The `users` table in memory: one map by user_id.

use super::MemoryStore;
use crate::UnixTime;
use crate::client::RecordSource;
use crate::store::StoreError;
use crate::user::{User, UserStore, username_key};
use async_trait::async_trait;

#[async_trait]
impl UserStore for MemoryStore {
    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| username_key(&u.username) == username_key(username))
            .cloned())
    }

    async fn user_get(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.get(user_id).cloned())
    }

    async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self.lock().users.values().cloned().collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn user_insert(&self, user: &User) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.users.values().any(|u| {
            username_key(&u.username) == username_key(&user.username) || u.user_id == user.user_id
        }) {
            return Err(StoreError::Conflict(user.username.clone()));
        }
        inner.users.insert(user.user_id.clone(), user.clone());
        Ok(())
    }

    async fn user_upsert(&self, user: &User) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let existing = inner
            .users
            .values()
            .find(|u| username_key(&u.username) == username_key(&user.username))
            .cloned();
        let mut user = user.clone();
        match existing {
            Some(old) => {
                user.user_id = old.user_id;
                user.created_at = old.created_at;
                user.disabled_at = old.disabled_at;
            }
            None if inner.users.contains_key(&user.user_id) => {
                return Err(StoreError::Conflict(user.user_id.clone()));
            }
            None => {}
        }
        inner.users.insert(user.user_id.clone(), user);
        Ok(())
    }

    async fn user_delete(&self, username: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let before = inner.users.len();
        inner
            .users
            .retain(|_, u| username_key(&u.username) != username_key(username));
        Ok(inner.users.len() != before)
    }

    async fn user_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock();
        let mut gone: Vec<String> = inner
            .users
            .values()
            .filter(|u| {
                u.source == RecordSource::Config
                    && !keep
                        .iter()
                        .any(|k| username_key(k) == username_key(&u.username))
            })
            .map(|u| u.username.clone())
            .collect();
        gone.sort_unstable();
        inner.users.retain(|_, u| !gone.contains(&u.username));
        Ok(gone)
    }

    async fn user_keys_backfill(&self) -> Result<Vec<Vec<String>>, StoreError> {
        // Inserts here check keys already: no clash can be stored.
        Ok(Vec::new())
    }

    async fn user_set_disabled(
        &self,
        user_id: &str,
        disabled_at: Option<UnixTime>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .users
            .get_mut(user_id)
            .map(|u| u.disabled_at = disabled_at)
            .is_some())
    }
}
