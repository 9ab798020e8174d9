#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Store tests (CONVENTIONS.md §10): one module of cases, [`cases`], instantiated per
//! backend by [`store_tests!`]. SQLite always runs, on a temporary file; PostgreSQL
//! runs when `PORTCULLIS_TEST_POSTGRES_URL` names a server, each test in a fresh
//! database `portcullis_test_<uuid>` that is dropped afterwards.

use portcullis_core::authorization::code::AuthorizationCode;
use portcullis_core::authorization::pending::{
    PENDING_AUTHORIZATION_TTL, PendingAuthorization, PendingDevice,
};
use portcullis_core::authorization::request::{
    Prompt, StoredAuthorizationRequest, ValidatedAuthorizationRequest,
};
use portcullis_core::client::{Client, ClientSecrets, RecordSource};
use portcullis_core::device::{DeviceAuthorization, DeviceAuthorizationStatus, DevicePoll};
use portcullis_core::keys::{KeyStatus, SigningAlgorithm, StoredSigningKey};
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::secret::SecretDigest;
use portcullis_core::session::BrowserSession;
use portcullis_core::store::{PurgeCounts, RateKey};
use portcullis_core::tokens::refresh_token::{RefreshToken, family_of_code};
use portcullis_core::user::User;
use portcullis_core::{Store, StoreError};
use portcullis_proto::grant::{GrantType, TokenEndpointAuthMethod};
use portcullis_proto::jwk::Jwk;
use portcullis_store::{ConnectOptions, connect};
use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, Connection};
use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Once};
use std::time::Duration;

/// Runs every case in [`cases`] as a `#[tokio::test]` inside `mod $backend`, on the
/// database `$harness` provides.
macro_rules! store_tests {
    ($backend:ident, $harness:ident) => {
        mod $backend {
            store_tests!(@cases $harness;
                ping_answers,
                clients_insert_get_and_list_by_code_point,
                client_insert_of_an_existing_id_is_a_conflict,
                client_round_trip_keeps_every_field,
                client_upsert_inserts_then_replaces_keeping_created_at,
                client_delete_reports_whether_it_existed,
                client_set_secrets_replaces_the_digests_and_updated_at,
                client_set_secrets_of_an_unknown_client_is_not_found,
                client_delete_config_except_spares_kept_and_admin_clients,
                user_delete_config_except_spares_kept_and_admin_users,
                users_insert_get_and_list_by_code_point,
                user_insert_of_an_existing_username_is_a_conflict,
                user_upsert_keeps_user_id_and_created_at,
                user_delete_reports_whether_it_existed,
                signing_key_insert_first_refuses_a_second_active_key_per_alg,
                signing_key_insert_first_race_has_one_winner,
                signing_key_rotate_retires_the_old_key_and_activates_the_new,
                signing_key_rotate_without_an_active_key_still_inserts,
                signing_key_rotate_is_all_or_nothing,
                signing_key_rotate_of_several_algorithms_is_all_or_nothing,
                signing_keys_purge_removes_only_expired_retired_keys,
                signing_key_insert_next_publishes_a_pending_key_once_per_alg,
                signing_key_promote_waits_for_activate_at_then_retires_the_active_key,
                signing_key_promote_race_has_one_winner,
                signing_key_rotate_retires_a_pending_next_key_too,
                reopening_keeps_the_data,
                undecodable_rows_are_corrupt_naming_the_column,
                user_get_finds_a_user_by_id_not_by_username,
                session_insert_get_and_delete,
                session_get_stops_at_expires_at,
                session_insert_of_an_existing_digest_is_a_conflict,
                session_insert_for_an_unknown_user_is_not_found,
                pending_authorization_round_trip_keeps_every_field,
                pending_authorization_insert_of_an_existing_digest_is_a_conflict,
                pending_authorization_set_user_records_the_user_until_expires_at,
                pending_authorization_get_stops_at_expires_at,
                pending_authorization_take_returns_it_once,
                pending_authorization_take_race_has_one_winner,
                pending_authorization_take_refuses_an_expired_request,
                consent_get_of_no_consent_is_empty,
                consent_grant_adds_to_the_approved_scopes,
                consent_grant_race_loses_no_scope,
                authorization_code_round_trip_keeps_every_field,
                authorization_code_insert_of_an_existing_digest_is_a_conflict,
                authorization_code_insert_for_an_unknown_client_or_user_is_not_found,
                authorization_code_consume_succeeds_once_and_records_the_token,
                authorization_code_consume_race_has_one_winner,
                authorization_code_consume_stores_the_refresh_token_in_the_same_transaction,
                authorization_code_consume_whose_refresh_insert_conflicts_writes_nothing,
                authorization_code_consume_refuses_at_and_after_expires_at,
                authorization_code_consume_of_an_unknown_code_is_false,
                authorization_code_revoke_tokens_revokes_the_access_token_idempotently,
                authorization_code_revoke_tokens_of_an_unused_or_unknown_code_is_false,
                access_token_revoke_is_idempotent_and_keeps_the_first_expiry,
                deleting_a_client_or_user_deletes_its_sessions_consents_and_codes,
                upserting_a_client_or_user_keeps_its_consents_and_codes,
                undecodable_authorization_rows_are_corrupt_naming_the_column,
                purge_expired_removes_exactly_the_expired_rows_of_each_table,
                purge_expired_keeps_a_redeemed_code_while_its_access_token_lives,
                purge_expired_deletes_at_most_limit_rows_per_table,
                session_delete_for_user_removes_only_that_users_sessions,
                client_introspection_audiences_round_trip_and_default_to_empty,
                refresh_token_round_trip_keeps_every_field,
                refresh_token_insert_of_an_existing_digest_or_jti_is_a_conflict,
                refresh_token_insert_for_an_unknown_client_or_user_is_not_found,
                refresh_token_rotate_succeeds_once_and_stores_the_successor,
                refresh_token_rotate_refuses_at_and_after_expires_at,
                refresh_token_rotate_refuses_a_revoked_token,
                refresh_token_rotate_into_another_family_is_refused_and_writes_nothing,
                refresh_token_rotate_race_has_one_winner,
                refresh_family_revoke_revokes_the_family_only_and_its_access_tokens,
                refresh_family_revoke_racing_rotations_leaves_no_live_token,
                access_token_family_names_only_recorded_tokens,
                deleting_a_client_or_user_deletes_its_refresh_tokens,
                undecodable_refresh_token_rows_are_corrupt_naming_the_column,
                pending_authorization_round_trip_keeps_the_device_authorization,
                device_authorization_round_trip_keeps_every_field,
                device_authorization_insert_of_an_existing_device_or_user_code_is_a_conflict,
                device_authorization_insert_for_an_unknown_client_is_not_found,
                device_authorization_find_by_user_code_finds_only_a_live_pending_one,
                device_authorization_decide_succeeds_once_and_stops_at_expires_at,
                device_authorization_decide_race_has_one_winner,
                device_authorization_poll_slows_down_within_the_interval,
                device_authorization_poll_by_another_client_writes_nothing,
                device_authorization_poll_race_grows_the_interval_once_per_early_poll,
                device_authorization_consume_succeeds_once_and_only_when_approved_and_live,
                device_authorization_consume_race_has_one_winner,
                device_authorization_consume_stores_the_refresh_token_in_the_same_transaction,
                device_authorization_consume_whose_refresh_insert_conflicts_writes_nothing,
                deleting_a_client_or_user_deletes_its_device_authorizations,
                undecodable_device_authorization_rows_are_corrupt_naming_the_column,
                rate_limit_take_allows_the_burst_then_refuses_with_the_wait,
                rate_limit_take_refills_one_cell_per_interval,
                rate_limit_take_is_all_or_nothing_across_keys,
                rate_limit_refund_gives_back_one_cell_and_never_more,
                rate_limit_take_race_allows_exactly_the_burst,
                purge_expired_deletes_full_rate_limit_buckets,
            );
        }
    };
    (@cases $harness:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$harness(super::cases::$case).await;
            }
        )*
    };
}

store_tests!(sqlite, on_sqlite);
store_tests!(postgres, on_postgres);

/// A database under test: its store, and its URL to open it again (a second node).
struct Db {
    url: String,
    store: Arc<dyn Store>,
}

impl Db {
    async fn open(url: String) -> Self {
        let store = connect(&url, &ConnectOptions::default()).await.unwrap();
        Self { url, store }
    }

    /// Another store on the same database, as a second process would open it.
    async fn reopen(&self) -> Arc<dyn Store> {
        connect(&self.url, &ConnectOptions::default())
            .await
            .unwrap()
    }

    /// Reads one integer behind the store's back.
    async fn scalar(&self, sql: &'static str) -> i64 {
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }

    /// Runs `sql` behind the store's back (to corrupt a row).
    async fn raw(&self, sql: &'static str) {
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    }
}

async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/portcullis.db", dir.path().display());
    case(Db::open(url).await).await;
}

const POSTGRES_URL_VAR: &str = "PORTCULLIS_TEST_POSTGRES_URL";

async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
    else {
        static NOTICE: Once = Once::new();
        NOTICE.call_once(|| {
            // Straight to the file descriptor: libtest captures eprintln! of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "skipping PostgreSQL store tests: {POSTGRES_URL_VAR} is unset"
            );
        });
        return;
    };
    let name = format!("portcullis_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}: cannot connect: {e}"));
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    let url = url.to_string();
    // Run the case on its own task so that a failed assertion still drops the database.
    let outcome = tokio::spawn(async move { case(Db::open(url).await).await }).await;
    let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    if let Err(e) = dropped {
        let _ = writeln!(
            std::io::stderr(),
            "could not drop test database {name}: {e}"
        );
    }
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// The cases, each `async fn(Db)`, written once for every backend.
mod cases {
    use super::*;

    pub(crate) async fn ping_answers(db: Db) {
        db.store.ping().await.unwrap();
    }

    pub(crate) async fn clients_insert_get_and_list_by_code_point(db: Db) {
        let s = &db.store;
        assert_eq!(s.client_list().await.unwrap(), vec![]);
        assert_eq!(s.client_get("beta").await.unwrap(), None);
        for id in ["beta", "Zulu", "alpha"] {
            s.client_insert(&public_client(id, RecordSource::Admin))
                .await
                .unwrap();
        }
        assert_eq!(
            s.client_get("beta").await.unwrap(),
            Some(public_client("beta", RecordSource::Admin))
        );
        assert_eq!(s.client_get("Beta").await.unwrap(), None);
        // Code point order on both backends: upper case before lower case.
        assert_eq!(
            ids(&s.client_list().await.unwrap()),
            ["Zulu", "alpha", "beta"]
        );
    }

    pub(crate) async fn client_insert_of_an_existing_id_is_a_conflict(db: Db) {
        let s = &db.store;
        let first = public_client("web", RecordSource::Admin);
        s.client_insert(&first).await.unwrap();
        let mut second = full_client("web");
        second.client_name = Some("Impostor".into());
        let err = s.client_insert(&second).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(what) if what.contains("`web`")),
            "{err:?}"
        );
        assert_eq!(s.client_get("web").await.unwrap(), Some(first));
    }

    pub(crate) async fn client_round_trip_keeps_every_field(db: Db) {
        let s = &db.store;
        let full = full_client("confidential");
        let public = public_client("public", RecordSource::Config);
        s.client_insert(&full).await.unwrap();
        s.client_insert(&public).await.unwrap();
        assert_eq!(
            s.client_get("confidential").await.unwrap(),
            Some(full.clone())
        );
        assert_eq!(s.client_get("public").await.unwrap(), Some(public.clone()));
        assert_eq!(s.client_list().await.unwrap(), vec![full, public]);
    }

    pub(crate) async fn client_upsert_inserts_then_replaces_keeping_created_at(db: Db) {
        let s = &db.store;
        let original = public_client("app", RecordSource::Config);
        s.client_upsert(&original).await.unwrap();
        assert_eq!(s.client_get("app").await.unwrap(), Some(original.clone()));

        let mut changed = full_client("app");
        changed.created_at = original.created_at + 5_000;
        changed.updated_at = original.created_at + 5_000;
        s.client_upsert(&changed).await.unwrap();
        let stored = s.client_get("app").await.unwrap().unwrap();
        assert_eq!(stored.created_at, original.created_at);
        assert_eq!(
            stored,
            Client {
                created_at: original.created_at,
                ..changed.clone()
            }
        );

        // And back to a public client: the secrets go too.
        let mut public_again = public_client("app", RecordSource::Admin);
        public_again.updated_at = changed.updated_at + 1;
        s.client_upsert(&public_again).await.unwrap();
        let stored = s.client_get("app").await.unwrap().unwrap();
        assert_eq!(stored.secrets, None);
        assert_eq!(stored.source, RecordSource::Admin);
        assert_eq!(stored.created_at, original.created_at);
        assert_eq!(s.client_list().await.unwrap().len(), 1);
    }

    pub(crate) async fn client_delete_reports_whether_it_existed(db: Db) {
        let s = &db.store;
        s.client_insert(&public_client("gone", RecordSource::Admin))
            .await
            .unwrap();
        s.client_insert(&public_client("stays", RecordSource::Admin))
            .await
            .unwrap();
        assert!(s.client_delete("gone").await.unwrap());
        assert_eq!(s.client_get("gone").await.unwrap(), None);
        assert!(!s.client_delete("gone").await.unwrap());
        assert!(!s.client_delete("never-was").await.unwrap());
        assert_eq!(ids(&s.client_list().await.unwrap()), ["stays"]);
    }

    pub(crate) async fn client_set_secrets_replaces_the_digests_and_updated_at(db: Db) {
        let s = &db.store;
        let client = full_client("rotating");
        s.client_insert(&client).await.unwrap();

        let rotated = ClientSecrets {
            current: SecretDigest::of("the new secret, at least thirty-two characters"),
            previous: Some((client.secrets.as_ref().unwrap().current, T0 + 86_400)),
        };
        s.client_set_secrets("rotating", &rotated, T0 + 60)
            .await
            .unwrap();
        let stored = s.client_get("rotating").await.unwrap().unwrap();
        assert_eq!(
            stored,
            Client {
                secrets: Some(rotated.clone()),
                updated_at: T0 + 60,
                ..client.clone()
            }
        );

        let only_current = ClientSecrets {
            current: rotated.current,
            previous: None,
        };
        s.client_set_secrets("rotating", &only_current, T0 + 120)
            .await
            .unwrap();
        let stored = s.client_get("rotating").await.unwrap().unwrap();
        assert_eq!(stored.secrets, Some(only_current));
        assert_eq!(stored.updated_at, T0 + 120);
        assert_eq!(stored.created_at, client.created_at);
    }

    pub(crate) async fn client_set_secrets_of_an_unknown_client_is_not_found(db: Db) {
        let secrets = ClientSecrets {
            current: SecretDigest::of("x"),
            previous: None,
        };
        let err = db
            .store
            .client_set_secrets("nobody", &secrets, T0)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::NotFound(what) if what.contains("`nobody`")),
            "{err:?}"
        );
        assert_eq!(db.store.client_list().await.unwrap(), vec![]);
    }

    pub(crate) async fn client_delete_config_except_spares_kept_and_admin_clients(db: Db) {
        let s = &db.store;
        for id in ["c-a", "c-b", "c-c"] {
            s.client_insert(&public_client(id, RecordSource::Config))
                .await
                .unwrap();
        }
        s.client_insert(&public_client("admin-made", RecordSource::Admin))
            .await
            .unwrap();

        let deleted = s
            .client_delete_config_except(&["c-b".into(), "not-stored".into()])
            .await
            .unwrap();
        assert_eq!(deleted, ["c-a", "c-c"]);
        assert_eq!(ids(&s.client_list().await.unwrap()), ["admin-made", "c-b"]);

        // An empty configuration removes every config client, never admin ones.
        assert_eq!(s.client_delete_config_except(&[]).await.unwrap(), ["c-b"]);
        assert_eq!(ids(&s.client_list().await.unwrap()), ["admin-made"]);
        assert_eq!(
            s.client_delete_config_except(&[]).await.unwrap(),
            Vec::<String>::new()
        );
    }

    pub(crate) async fn user_delete_config_except_spares_kept_and_admin_users(db: Db) {
        let s = &db.store;
        for (name, id) in [("u-a", "id-a"), ("u-b", "id-b"), ("u-c", "id-c")] {
            s.user_insert(&user(name, id, RecordSource::Config))
                .await
                .unwrap();
        }
        s.user_insert(&user("admin-made", "id-admin", RecordSource::Admin))
            .await
            .unwrap();
        let deleted = s
            .user_delete_config_except(&["u-b".into(), "not-stored".into()])
            .await
            .unwrap();
        assert_eq!(deleted, ["u-a", "u-c"]);
        let left: Vec<String> = s
            .user_list()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(left, ["admin-made", "u-b"]);
        assert_eq!(s.user_delete_config_except(&[]).await.unwrap(), ["u-b"]);
        assert!(s.user_get_by_username("u-b").await.unwrap().is_none());
        assert!(
            s.user_get_by_username("admin-made")
                .await
                .unwrap()
                .is_some()
        );
    }

    pub(crate) async fn users_insert_get_and_list_by_code_point(db: Db) {
        let s = &db.store;
        assert_eq!(s.user_list().await.unwrap(), vec![]);
        let bob = user("bob", "0190-bob", RecordSource::Admin);
        let mut zoe = user("Zoe", "0190-zoe", RecordSource::Config);
        zoe.email = None;
        zoe.name = None;
        zoe.claims = Map::new();
        s.user_insert(&bob).await.unwrap();
        s.user_insert(&zoe).await.unwrap();
        assert_eq!(
            s.user_get_by_username("bob").await.unwrap(),
            Some(bob.clone())
        );
        assert_eq!(
            s.user_get_by_username("Zoe").await.unwrap(),
            Some(zoe.clone())
        );
        assert_eq!(s.user_get_by_username("zoe").await.unwrap(), None);
        assert_eq!(s.user_list().await.unwrap(), vec![zoe, bob]);
    }

    pub(crate) async fn user_insert_of_an_existing_username_is_a_conflict(db: Db) {
        let s = &db.store;
        let alice = user("alice", "0190-first", RecordSource::Admin);
        s.user_insert(&alice).await.unwrap();
        let err = s
            .user_insert(&user("alice", "0190-second", RecordSource::Config))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(what) if what.contains("`alice`")),
            "{err:?}"
        );
        assert_eq!(s.user_get_by_username("alice").await.unwrap(), Some(alice));
    }

    pub(crate) async fn user_upsert_keeps_user_id_and_created_at(db: Db) {
        let s = &db.store;
        let original = user("carol", "0190-carol", RecordSource::Config);
        s.user_upsert(&original).await.unwrap();
        assert_eq!(
            s.user_get_by_username("carol").await.unwrap(),
            Some(original.clone())
        );

        let mut changed = user("carol", "0190-would-be-new", RecordSource::Admin);
        changed.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3aGFzaA".into();
        changed.email = None;
        changed.name = Some("Carol C.".into());
        changed.claims = json!({"team": "blue"}).as_object().unwrap().clone();
        changed.created_at = T0 + 9_000;
        changed.updated_at = T0 + 9_000;
        s.user_upsert(&changed).await.unwrap();
        assert_eq!(
            s.user_get_by_username("carol").await.unwrap(),
            Some(User {
                user_id: original.user_id.clone(),
                created_at: original.created_at,
                ..changed
            })
        );
        assert_eq!(s.user_list().await.unwrap().len(), 1);
    }

    pub(crate) async fn user_delete_reports_whether_it_existed(db: Db) {
        let s = &db.store;
        s.user_insert(&user("dave", "0190-dave", RecordSource::Admin))
            .await
            .unwrap();
        assert!(s.user_delete("dave").await.unwrap());
        assert_eq!(s.user_get_by_username("dave").await.unwrap(), None);
        assert!(!s.user_delete("dave").await.unwrap());
        assert_eq!(s.user_list().await.unwrap(), vec![]);
    }

    pub(crate) async fn signing_key_insert_first_refuses_a_second_active_key_per_alg(db: Db) {
        let s = &db.store;
        let es = key("es-1", SigningAlgorithm::Es256, T0);
        let rs = key("rs-1", SigningAlgorithm::Rs256, T0 + 1);
        s.signing_key_insert_first(&es).await.unwrap();
        let err = s
            .signing_key_insert_first(&key("es-2", SigningAlgorithm::Es256, T0 + 2))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        // Another algorithm is independent.
        s.signing_key_insert_first(&rs).await.unwrap();
        // The same kid twice is a conflict too.
        let err = s.signing_key_insert_first(&es).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(s.signing_keys_list().await.unwrap(), vec![es, rs]);
    }

    pub(crate) async fn signing_key_insert_first_race_has_one_winner(db: Db) {
        // Two "nodes" (separate pools) start at once and each generates first keys.
        let nodes = [db.store.clone(), db.reopen().await];
        let attempts: Vec<_> = (0..8)
            .map(|i| {
                let store = nodes[i % 2].clone();
                tokio::spawn(async move {
                    store
                        .signing_key_insert_first(&key(
                            &format!("race-{i}"),
                            SigningAlgorithm::Es256,
                            T0,
                        ))
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(other) => panic!("expected Conflict, got {other:?}"),
            }
        }
        assert_eq!(won, 1);
        let keys = db.store.signing_keys_list().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].status, KeyStatus::Active);
    }

    pub(crate) async fn signing_key_rotate_retires_the_old_key_and_activates_the_new(db: Db) {
        let s = &db.store;
        let old = key("es-old", SigningAlgorithm::Es256, T0);
        let other_alg = key("rs-1", SigningAlgorithm::Rs256, T0 + 1);
        let new = key("es-new", SigningAlgorithm::Es256, T0 + 100);
        s.signing_key_insert_first(&old).await.unwrap();
        s.signing_key_insert_first(&other_alg).await.unwrap();

        s.signing_key_rotate(std::slice::from_ref(&new), T0 + 100, T0 + 1_000)
            .await
            .unwrap();
        let keys = s.signing_keys_list().await.unwrap();
        assert_eq!(
            keys,
            vec![
                StoredSigningKey {
                    status: KeyStatus::Retired,
                    retired_at: Some(T0 + 100),
                    publish_until: Some(T0 + 1_000),
                    ..old
                },
                other_alg,
                new,
            ]
        );
        assert!(keys[0].is_published(T0 + 999));
        assert!(!keys[0].is_published(T0 + 1_000));
    }

    pub(crate) async fn signing_key_rotate_without_an_active_key_still_inserts(db: Db) {
        let s = &db.store;
        let first = key("rs-first", SigningAlgorithm::Rs256, T0);
        s.signing_key_rotate(std::slice::from_ref(&first), T0, T0 + 1_000)
            .await
            .unwrap();
        assert_eq!(s.signing_keys_list().await.unwrap(), vec![first]);
    }

    pub(crate) async fn signing_key_rotate_is_all_or_nothing(db: Db) {
        let s = &db.store;
        let active = key("es-1", SigningAlgorithm::Es256, T0);
        s.signing_key_insert_first(&active).await.unwrap();
        // The insert fails (same kid) after the retire ran: both must roll back.
        let clash = key("es-1", SigningAlgorithm::Es256, T0 + 10);
        let err = s
            .signing_key_rotate(std::slice::from_ref(&clash), T0 + 10, T0 + 1_000)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(s.signing_keys_list().await.unwrap(), vec![active]);
    }

    pub(crate) async fn signing_key_rotate_of_several_algorithms_is_all_or_nothing(db: Db) {
        let s = &db.store;
        let es = key("es-1", SigningAlgorithm::Es256, T0);
        let rs = key("rs-1", SigningAlgorithm::Rs256, T0);
        s.signing_key_insert_first(&es).await.unwrap();
        s.signing_key_insert_first(&rs).await.unwrap();
        // ES256 would rotate fine; the RS256 insert clashes (same kid): nothing changes.
        let new_es = key("es-2", SigningAlgorithm::Es256, T0 + 10);
        let clash = key("rs-1", SigningAlgorithm::Rs256, T0 + 10);
        let err = s
            .signing_key_rotate(&[new_es.clone(), clash], T0 + 10, T0 + 1_000)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            s.signing_keys_list().await.unwrap(),
            vec![es.clone(), rs.clone()]
        );
        // Both valid: both rotate together.
        let new_rs = key("rs-2", SigningAlgorithm::Rs256, T0 + 10);
        s.signing_key_rotate(&[new_es, new_rs], T0 + 10, T0 + 1_000)
            .await
            .unwrap();
        let keys = s.signing_keys_list().await.unwrap();
        let active: Vec<&str> = keys
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .map(|k| k.kid.as_str())
            .collect();
        assert_eq!(active, ["es-2", "rs-2"]);
    }

    pub(crate) async fn signing_keys_purge_removes_only_expired_retired_keys(db: Db) {
        let s = &db.store;
        let now = T0 + 1_000;
        s.signing_key_insert_first(&key("k1", SigningAlgorithm::Es256, T0))
            .await
            .unwrap();
        // Each rotation retires the previous key with the given publish_until:
        // k1 until now − 1, k2 until now, k3 until now + 1.
        for (kid, created, until) in [
            ("k2", T0 + 1, now - 1),
            ("k3", T0 + 2, now),
            ("k4", T0 + 3, now + 1),
        ] {
            s.signing_key_rotate(
                &[key(kid, SigningAlgorithm::Es256, created)],
                created,
                until,
            )
            .await
            .unwrap();
        }
        assert_eq!(s.signing_keys_purge(now).await.unwrap(), 2);
        let left = s.signing_keys_list().await.unwrap();
        assert_eq!(
            left.iter()
                .map(|k| (k.kid.as_str(), k.status))
                .collect::<Vec<_>>(),
            [("k3", KeyStatus::Retired), ("k4", KeyStatus::Active)]
        );
        assert_eq!(left[0].publish_until, Some(now + 1));
        assert_eq!(s.signing_keys_purge(now).await.unwrap(), 0);
        // An active key is never purged, however old.
        assert_eq!(s.signing_keys_purge(i64::MAX).await.unwrap(), 1);
        assert_eq!(ids_of_keys(&s.signing_keys_list().await.unwrap()), ["k4"]);
    }

    pub(crate) async fn signing_key_insert_next_publishes_a_pending_key_once_per_alg(db: Db) {
        let s = &db.store;
        let es = key("es-1", SigningAlgorithm::Es256, T0);
        let rs = key("rs-1", SigningAlgorithm::Rs256, T0);
        s.signing_key_insert_first(&es).await.unwrap();
        s.signing_key_insert_first(&rs).await.unwrap();
        let es_next = next_key("es-2", SigningAlgorithm::Es256, T0 + 10, T0 + 130);
        s.signing_key_insert_next(std::slice::from_ref(&es_next))
            .await
            .unwrap();
        assert_eq!(
            s.signing_keys_list().await.unwrap(),
            vec![es.clone(), rs.clone(), es_next.clone()]
        );
        assert!(es_next.is_published(T0 + 10), "published before it signs");
        // A second pending rotation of ES256 is refused, and takes RS256 down with it.
        let rs_next = next_key("rs-2", SigningAlgorithm::Rs256, T0 + 20, T0 + 140);
        let err = s
            .signing_key_insert_next(&[
                rs_next.clone(),
                next_key("es-3", SigningAlgorithm::Es256, T0 + 20, T0 + 140),
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            ids_of_keys(&s.signing_keys_list().await.unwrap()),
            ["es-1", "rs-1", "es-2"]
        );
        s.signing_key_insert_next(std::slice::from_ref(&rs_next))
            .await
            .unwrap();
        // A `next` key is never purged: it has no end of publication.
        assert_eq!(s.signing_keys_purge(i64::MAX).await.unwrap(), 0);
        assert_eq!(s.signing_keys_list().await.unwrap().len(), 4);
    }

    pub(crate) async fn signing_key_promote_waits_for_activate_at_then_retires_the_active_key(
        db: Db,
    ) {
        let s = &db.store;
        let old = key("es-old", SigningAlgorithm::Es256, T0);
        let rs = key("rs-1", SigningAlgorithm::Rs256, T0);
        let new = next_key("es-new", SigningAlgorithm::Es256, T0 + 10, T0 + 130);
        s.signing_key_insert_first(&old).await.unwrap();
        s.signing_key_insert_first(&rs).await.unwrap();
        s.signing_key_insert_next(std::slice::from_ref(&new))
            .await
            .unwrap();
        // activate_at − 1: not due, nothing changes.
        assert!(
            !s.signing_key_promote("es-new", T0 + 129, T0 + 999)
                .await
                .unwrap()
        );
        assert_eq!(
            s.signing_keys_list().await.unwrap(),
            vec![old.clone(), rs.clone(), new.clone()]
        );
        // activate_at: promoted, the old key retired with the given publication.
        assert!(
            s.signing_key_promote("es-new", T0 + 130, T0 + 1_000)
                .await
                .unwrap()
        );
        let retired = StoredSigningKey {
            status: KeyStatus::Retired,
            retired_at: Some(T0 + 130),
            publish_until: Some(T0 + 1_000),
            ..old
        };
        let active = StoredSigningKey {
            status: KeyStatus::Active,
            ..new
        };
        let expected = vec![retired, rs.clone(), active];
        assert_eq!(s.signing_keys_list().await.unwrap(), expected);
        // Again, an active key or an unknown one: nothing to do.
        assert!(
            !s.signing_key_promote("es-new", T0 + 131, T0 + 2_000)
                .await
                .unwrap()
        );
        assert!(
            !s.signing_key_promote("rs-1", T0 + 131, T0 + 2_000)
                .await
                .unwrap()
        );
        assert!(
            !s.signing_key_promote("nope", T0 + 131, T0 + 2_000)
                .await
                .unwrap()
        );
        assert_eq!(s.signing_keys_list().await.unwrap(), expected);
        // Without an active key (never rotated in yet), the promotion still happens.
        let rs_next = next_key("rs-2", SigningAlgorithm::Rs256, T0 + 140, T0 + 150);
        s.signing_key_insert_next(std::slice::from_ref(&rs_next))
            .await
            .unwrap();
        assert!(
            s.signing_key_promote("rs-2", T0 + 200, T0 + 3_000)
                .await
                .unwrap()
        );
        let keys = s.signing_keys_list().await.unwrap();
        let active: Vec<&str> = keys
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .map(|k| k.kid.as_str())
            .collect();
        assert_eq!(active, ["es-new", "rs-2"]);
    }

    pub(crate) async fn signing_key_promote_race_has_one_winner(db: Db) {
        db.store
            .signing_key_insert_first(&key("es-old", SigningAlgorithm::Es256, T0))
            .await
            .unwrap();
        db.store
            .signing_key_insert_next(&[next_key(
                "es-new",
                SigningAlgorithm::Es256,
                T0 + 1,
                T0 + 100,
            )])
            .await
            .unwrap();
        // Ten "nodes" over two pools see activate_at pass at once.
        let nodes = [db.store.clone(), db.reopen().await];
        let attempts: Vec<_> = (0..10)
            .map(|i| {
                let store = nodes[i % 2].clone();
                tokio::spawn(async move {
                    let now = T0 + 100 + i64::try_from(i).unwrap();
                    store.signing_key_promote("es-new", now, now + 1_000).await
                })
            })
            .collect();
        let mut won = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(true) => won += 1,
                Ok(false) => {}
                Err(other) => panic!("a lost race is Ok(false), got {other:?}"),
            }
        }
        assert_eq!(won, 1);
        let keys = db.store.signing_keys_list().await.unwrap();
        assert_eq!(
            keys.iter()
                .map(|k| (k.kid.as_str(), k.status))
                .collect::<Vec<_>>(),
            [
                ("es-old", KeyStatus::Retired),
                ("es-new", KeyStatus::Active)
            ]
        );
        // The winner's times: retired at its now, published 1 000 s beyond.
        let retired_at = keys[0].retired_at.unwrap();
        assert!((T0 + 100..T0 + 110).contains(&retired_at));
        assert_eq!(keys[0].publish_until, Some(retired_at + 1_000));
    }

    pub(crate) async fn signing_key_rotate_retires_a_pending_next_key_too(db: Db) {
        let s = &db.store;
        s.signing_key_insert_first(&key("es-1", SigningAlgorithm::Es256, T0))
            .await
            .unwrap();
        s.signing_key_insert_next(&[next_key("es-2", SigningAlgorithm::Es256, T0 + 1, T0 + 100)])
            .await
            .unwrap();
        // The emergency path: es-3 signs at once; neither es-1 nor es-2 ever signs again.
        s.signing_key_rotate(
            &[key("es-3", SigningAlgorithm::Es256, T0 + 5)],
            T0 + 5,
            T0 + 900,
        )
        .await
        .unwrap();
        let keys = s.signing_keys_list().await.unwrap();
        assert_eq!(
            keys.iter()
                .map(|k| (k.kid.as_str(), k.status, k.publish_until))
                .collect::<Vec<_>>(),
            [
                ("es-1", KeyStatus::Retired, Some(T0 + 900)),
                ("es-2", KeyStatus::Retired, Some(T0 + 900)),
                ("es-3", KeyStatus::Active, None),
            ]
        );
        assert!(
            !s.signing_key_promote("es-2", T0 + 100, T0 + 1_000)
                .await
                .unwrap()
        );
    }

    pub(crate) async fn reopening_keeps_the_data(db: Db) {
        let client = full_client("persistent");
        let alice = user("alice", "0190-alice", RecordSource::Admin);
        let k = key("es-1", SigningAlgorithm::Es256, T0);
        db.store.client_insert(&client).await.unwrap();
        db.store.user_insert(&alice).await.unwrap();
        db.store.signing_key_insert_first(&k).await.unwrap();
        // Opening again re-runs the migrator, which must find nothing to do.
        let again = db.reopen().await;
        assert_eq!(again.client_get("persistent").await.unwrap(), Some(client));
        assert_eq!(
            again.user_get_by_username("alice").await.unwrap(),
            Some(alice)
        );
        assert_eq!(again.signing_keys_list().await.unwrap(), vec![k]);
    }

    pub(crate) async fn undecodable_rows_are_corrupt_naming_the_column(db: Db) {
        let s = &db.store;
        s.client_insert(&public_client("web", RecordSource::Admin))
            .await
            .unwrap();
        s.signing_key_insert_first(&key("es-1", SigningAlgorithm::Es256, T0))
            .await
            .unwrap();
        // `password` is not a grant type Portcullis has (OAuth 2.1 §10).
        db.raw(r#"UPDATE clients SET grant_types = '["password"]' WHERE client_id = 'web'"#)
            .await;
        db.raw("UPDATE signing_keys SET alg = 'HS256' WHERE kid = 'es-1'")
            .await;
        for err in [
            s.client_get("web").await.unwrap_err(),
            s.client_list().await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt(what) if what.contains("clients.grant_types")),
                "{err:?}"
            );
        }
        let err = s.signing_keys_list().await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(what) if what.contains("signing_keys.alg")),
            "{err:?}"
        );
    }

    pub(crate) async fn user_get_finds_a_user_by_id_not_by_username(db: Db) {
        let s = &db.store;
        let alice = user("alice", "0190-alice", RecordSource::Admin);
        s.user_insert(&alice).await.unwrap();
        s.user_insert(&user("bob", "0190-bob", RecordSource::Config))
            .await
            .unwrap();
        assert_eq!(s.user_get("0190-alice").await.unwrap(), Some(alice));
        assert_eq!(s.user_get("alice").await.unwrap(), None);
        assert_eq!(s.user_get("0190-ALICE").await.unwrap(), None);
        assert_eq!(s.user_get("0190-nobody").await.unwrap(), None);
    }

    pub(crate) async fn session_insert_get_and_delete(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        let first = session("cookie-1", ALICE);
        let second = session("cookie-2", ALICE);
        s.session_insert(&first).await.unwrap();
        s.session_insert(&second).await.unwrap();
        assert_eq!(
            s.session_get(&first.session_digest, T0).await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(
            s.session_get(&SecretDigest::of("cookie-3"), T0)
                .await
                .unwrap(),
            None
        );

        assert!(s.session_delete(&first.session_digest).await.unwrap());
        assert_eq!(
            s.session_get(&first.session_digest, T0).await.unwrap(),
            None
        );
        assert!(!s.session_delete(&first.session_digest).await.unwrap());
        // Logging out one browser leaves the other logged in.
        assert_eq!(
            s.session_get(&second.session_digest, T0).await.unwrap(),
            Some(second)
        );
    }

    pub(crate) async fn session_get_stops_at_expires_at(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        let live = session("cookie", ALICE);
        s.session_insert(&live).await.unwrap();
        let digest = live.session_digest;
        assert_eq!(
            s.session_get(&digest, live.expires_at - 1).await.unwrap(),
            Some(live.clone())
        );
        assert_eq!(s.session_get(&digest, live.expires_at).await.unwrap(), None);
        assert_eq!(
            s.session_get(&digest, live.expires_at + 1).await.unwrap(),
            None
        );
    }

    pub(crate) async fn session_insert_of_an_existing_digest_is_a_conflict(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_user(s, BOB).await;
        let first = session("cookie", ALICE);
        s.session_insert(&first).await.unwrap();
        let err = s.session_insert(&session("cookie", BOB)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            s.session_get(&first.session_digest, T0).await.unwrap(),
            Some(first)
        );
    }

    pub(crate) async fn session_insert_for_an_unknown_user_is_not_found(db: Db) {
        let err = db
            .store
            .session_insert(&session("cookie", "0190-nobody"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::NotFound(what) if what.contains("`0190-nobody`")),
            "{err:?}"
        );
    }

    pub(crate) async fn pending_authorization_round_trip_keeps_every_field(db: Db) {
        let s = &db.store;
        let bare = pending("bare", T0);
        let mut full = pending("full", T0);
        full.request = full_request();
        full.user_id = Some(ALICE.into());
        full.auth_time = Some(T0 - 30);
        s.pending_authorization_insert(&bare).await.unwrap();
        s.pending_authorization_insert(&full).await.unwrap();
        assert_eq!(
            s.pending_authorization_get(&bare.id_digest, T0)
                .await
                .unwrap(),
            Some(bare)
        );
        assert_eq!(
            s.pending_authorization_get(&full.id_digest, T0)
                .await
                .unwrap(),
            Some(full)
        );
        assert_eq!(
            s.pending_authorization_get(&SecretDigest::of("other"), T0)
                .await
                .unwrap(),
            None
        );
    }

    pub(crate) async fn pending_authorization_insert_of_an_existing_digest_is_a_conflict(db: Db) {
        let s = &db.store;
        let first = pending("id", T0);
        s.pending_authorization_insert(&first).await.unwrap();
        let mut second = pending("id", T0 + 5);
        second.csrf_token = "another".into();
        let err = s.pending_authorization_insert(&second).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            s.pending_authorization_get(&first.id_digest, T0)
                .await
                .unwrap(),
            Some(first)
        );
    }

    pub(crate) async fn pending_authorization_set_user_records_the_user_until_expires_at(db: Db) {
        let s = &db.store;
        let p = pending("id", T0);
        s.pending_authorization_insert(&p).await.unwrap();
        assert!(
            s.pending_authorization_set_user(&p.id_digest, ALICE, T0 + 10, T0 + 10)
                .await
                .unwrap()
        );
        // Logging in again (another account) replaces the first.
        let last_live = p.expires_at - 1;
        assert!(
            s.pending_authorization_set_user(&p.id_digest, BOB, last_live, last_live)
                .await
                .unwrap()
        );
        let stored = s
            .pending_authorization_get(&p.id_digest, T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored,
            PendingAuthorization {
                user_id: Some(BOB.into()),
                auth_time: Some(last_live),
                ..p.clone()
            }
        );
        for late in [p.expires_at, p.expires_at + 1] {
            assert!(
                !s.pending_authorization_set_user(&p.id_digest, ALICE, late, late)
                    .await
                    .unwrap()
            );
        }
        assert!(
            !s.pending_authorization_set_user(&SecretDigest::of("other"), ALICE, T0, T0)
                .await
                .unwrap()
        );
        assert_eq!(
            s.pending_authorization_get(&p.id_digest, T0).await.unwrap(),
            Some(stored)
        );
    }

    pub(crate) async fn pending_authorization_get_stops_at_expires_at(db: Db) {
        let s = &db.store;
        let p = pending("id", T0);
        s.pending_authorization_insert(&p).await.unwrap();
        assert_eq!(
            s.pending_authorization_get(&p.id_digest, p.expires_at - 1)
                .await
                .unwrap(),
            Some(p.clone())
        );
        for late in [p.expires_at, p.expires_at + 1] {
            assert_eq!(
                s.pending_authorization_get(&p.id_digest, late)
                    .await
                    .unwrap(),
                None
            );
        }
    }

    pub(crate) async fn pending_authorization_take_returns_it_once(db: Db) {
        let s = &db.store;
        let p = pending("id", T0);
        let other = pending("other", T0);
        s.pending_authorization_insert(&p).await.unwrap();
        s.pending_authorization_insert(&other).await.unwrap();
        assert_eq!(
            s.pending_authorization_take(&p.id_digest, p.expires_at - 1)
                .await
                .unwrap(),
            Some(p.clone())
        );
        assert_eq!(
            s.pending_authorization_take(&p.id_digest, T0)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.pending_authorization_get(&p.id_digest, T0).await.unwrap(),
            None
        );
        assert_eq!(
            s.pending_authorization_get(&other.id_digest, T0)
                .await
                .unwrap(),
            Some(other)
        );
    }

    pub(crate) async fn pending_authorization_take_race_has_one_winner(db: Db) {
        // Two submissions of the consent form, on two "nodes", at once.
        let nodes = [db.store.clone(), db.reopen().await];
        for round in 0..10 {
            let p = pending(&format!("id-{round}"), T0);
            nodes[0].pending_authorization_insert(&p).await.unwrap();
            let takes: Vec<_> = nodes
                .iter()
                .map(|store| {
                    let store = store.clone();
                    let digest = p.id_digest;
                    tokio::spawn(async move { store.pending_authorization_take(&digest, T0).await })
                })
                .collect();
            let mut won = Vec::new();
            for take in takes {
                if let Some(taken) = take.await.unwrap().unwrap() {
                    won.push(taken);
                }
            }
            assert_eq!(won, vec![p], "round {round}");
        }
    }

    pub(crate) async fn pending_authorization_take_refuses_an_expired_request(db: Db) {
        let s = &db.store;
        let p = pending("id", T0);
        s.pending_authorization_insert(&p).await.unwrap();
        for late in [p.expires_at, p.expires_at + 1] {
            assert_eq!(
                s.pending_authorization_take(&p.id_digest, late)
                    .await
                    .unwrap(),
                None
            );
        }
    }

    pub(crate) async fn consent_get_of_no_consent_is_empty(db: Db) {
        assert_eq!(
            db.store.consent_get(ALICE, "web").await.unwrap(),
            BTreeSet::new()
        );
    }

    pub(crate) async fn consent_grant_adds_to_the_approved_scopes(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_user(s, BOB).await;
        with_client(s, "web").await;
        with_client(s, "cli").await;

        s.consent_grant(ALICE, "web", &scopes(&["openid", "profile"]), T0)
            .await
            .unwrap();
        assert_eq!(
            s.consent_get(ALICE, "web").await.unwrap(),
            scopes(&["openid", "profile"])
        );
        // A union: overlapping scopes once, nothing lost, an empty grant changes nothing.
        s.consent_grant(ALICE, "web", &scopes(&["profile", "email"]), T0 + 1)
            .await
            .unwrap();
        s.consent_grant(ALICE, "web", &BTreeSet::new(), T0 + 2)
            .await
            .unwrap();
        assert_eq!(
            s.consent_get(ALICE, "web").await.unwrap(),
            scopes(&["email", "openid", "profile"])
        );
        // Per user and per client.
        s.consent_grant(BOB, "cli", &scopes(&["offline_access"]), T0)
            .await
            .unwrap();
        assert_eq!(s.consent_get(ALICE, "cli").await.unwrap(), BTreeSet::new());
        assert_eq!(s.consent_get(BOB, "web").await.unwrap(), BTreeSet::new());
        assert_eq!(
            s.consent_get(BOB, "cli").await.unwrap(),
            scopes(&["offline_access"])
        );
        // A first grant of nothing is an empty consent.
        s.consent_grant(BOB, "web", &BTreeSet::new(), T0)
            .await
            .unwrap();
        assert_eq!(s.consent_get(BOB, "web").await.unwrap(), BTreeSet::new());
    }

    pub(crate) async fn consent_grant_race_loses_no_scope(db: Db) {
        with_user(&db.store, ALICE).await;
        with_client(&db.store, "web").await;
        let nodes = [db.store.clone(), db.reopen().await];
        let names: Vec<String> = (0..12).map(|i| format!("scope-{i:02}")).collect();
        let grants: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let store = nodes[i % 2].clone();
                // Each grant shares "openid" with the others and adds its own scope.
                let granted = scopes(&["openid", name]);
                tokio::spawn(async move { store.consent_grant(ALICE, "web", &granted, T0).await })
            })
            .collect();
        for grant in grants {
            grant.await.unwrap().unwrap();
        }
        let mut expected: BTreeSet<String> = names.into_iter().collect();
        expected.insert("openid".into());
        assert_eq!(db.store.consent_get(ALICE, "web").await.unwrap(), expected);
    }

    pub(crate) async fn authorization_code_round_trip_keeps_every_field(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let bare = code("bare", T0);
        let full = AuthorizationCode {
            redirect_uri_sent: false,
            code_challenge: Some(
                CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap(),
            ),
            scopes: vec!["email".into(), "openid".into(), "profile".into()],
            resources: vec![
                "https://api.example/".into(),
                "https://reports.example/v1".into(),
            ],
            nonce: Some("n-0S6_WzA2Mj ünï".into()),
            consumed_at: Some(T0 + 7),
            access_token_jti: Some("jti-full".into()),
            access_token_expires_at: Some(T0 + 3_607),
            ..code("full", T0)
        };
        s.authorization_code_insert(&bare).await.unwrap();
        s.authorization_code_insert(&full).await.unwrap();
        assert_eq!(
            s.authorization_code_get(&bare.code_digest).await.unwrap(),
            Some(bare)
        );
        assert_eq!(
            s.authorization_code_get(&full.code_digest).await.unwrap(),
            Some(full)
        );
        assert_eq!(
            s.authorization_code_get(&SecretDigest::of("other"))
                .await
                .unwrap(),
            None
        );
    }

    pub(crate) async fn authorization_code_insert_of_an_existing_digest_is_a_conflict(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let first = code("code", T0);
        s.authorization_code_insert(&first).await.unwrap();
        let err = s
            .authorization_code_insert(&code("code", T0 + 1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            s.authorization_code_get(&first.code_digest).await.unwrap(),
            Some(first)
        );
    }

    pub(crate) async fn authorization_code_insert_for_an_unknown_client_or_user_is_not_found(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let no_client = AuthorizationCode {
            client_id: "gone".into(),
            ..code("a", T0)
        };
        let no_user = AuthorizationCode {
            user_id: "0190-gone".into(),
            ..code("b", T0)
        };
        for c in [no_client, no_user] {
            let err = s.authorization_code_insert(&c).await.unwrap_err();
            assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
            assert_eq!(
                s.authorization_code_get(&c.code_digest).await.unwrap(),
                None
            );
        }
    }

    pub(crate) async fn authorization_code_consume_succeeds_once_and_records_the_token(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let c = code("code", T0);
        s.authorization_code_insert(&c).await.unwrap();
        assert!(
            s.authorization_code_consume(&c.code_digest, T0 + 5, None, "jti-1", T0 + 3_605)
                .await
                .unwrap()
        );
        assert!(
            !s.authorization_code_consume(&c.code_digest, T0 + 6, None, "jti-2", T0 + 3_606)
                .await
                .unwrap()
        );
        // The first redemption's record stays; the refused one wrote nothing.
        assert_eq!(
            s.authorization_code_get(&c.code_digest).await.unwrap(),
            Some(AuthorizationCode {
                consumed_at: Some(T0 + 5),
                access_token_jti: Some("jti-1".into()),
                access_token_expires_at: Some(T0 + 3_605),
                ..c
            })
        );
    }

    pub(crate) async fn authorization_code_consume_race_has_one_winner(db: Db) {
        with_user(&db.store, ALICE).await;
        with_client(&db.store, "web").await;
        let c = code("code", T0);
        db.store.authorization_code_insert(&c).await.unwrap();
        // 20 token requests with the same code, on two "nodes", at once, each with its
        // own refresh token.
        let nodes = [db.store.clone(), db.reopen().await];
        let attempts: Vec<_> = (0..20)
            .map(|i| {
                let store = nodes[i % 2].clone();
                let digest = c.code_digest;
                tokio::spawn(async move {
                    let jti = format!("jti-{i}");
                    let token = refresh(&format!("request {i}"), "code family", T0 + 1);
                    let won = store
                        .authorization_code_consume(&digest, T0 + 1, Some(&token), &jti, T0 + 3_601)
                        .await
                        .unwrap();
                    won.then_some(jti)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for attempt in attempts {
            winners.extend(attempt.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        // Only the winner's refresh token and access token were stored.
        for i in 0..20 {
            let jti = format!("jti-{i}");
            let won = winners.contains(&jti);
            let stored = db
                .store
                .refresh_token_get(&SecretDigest::of(&format!("refresh request {i}")))
                .await
                .unwrap();
            let family = db.store.access_token_family(&jti).await.unwrap();
            assert_eq!(stored.is_some(), won, "refresh token of request {i}");
            assert_eq!(family.is_some(), won, "access token of request {i}");
        }
        let stored = db
            .store
            .authorization_code_get(&c.code_digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.access_token_jti, winners.pop());
    }

    pub(crate) async fn authorization_code_consume_stores_the_refresh_token_in_the_same_transaction(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let c = code("code", T0);
        s.authorization_code_insert(&c).await.unwrap();
        let token = refresh("first", "code family", T0 + 1);
        assert!(
            s.authorization_code_consume(
                &c.code_digest,
                T0 + 1,
                Some(&token),
                "jti first",
                T0 + 900
            )
            .await
            .unwrap()
        );
        assert_eq!(
            s.refresh_token_get(&token.token_digest).await.unwrap(),
            Some(token.clone())
        );
        assert_eq!(
            s.access_token_family("jti first").await.unwrap().as_deref(),
            Some("code family")
        );
        let stored = s.authorization_code_get(&c.code_digest).await.unwrap();
        assert_eq!(
            stored.map(|c| (c.consumed_at, c.access_token_jti)),
            Some((Some(T0 + 1), Some("jti first".into())))
        );
        // A refused redemption writes no refresh token.
        let late = refresh("late", "code family", T0 + 2);
        assert!(
            !s.authorization_code_consume(
                &c.code_digest,
                T0 + 2,
                Some(&late),
                "jti late",
                T0 + 900
            )
            .await
            .unwrap()
        );
        assert_eq!(s.refresh_token_get(&late.token_digest).await.unwrap(), None);
        assert_eq!(s.access_token_family("jti late").await.unwrap(), None);
        // Revoking the family reaches the access token issued with it.
        assert_eq!(
            s.refresh_family_revoke("code family", T0 + 3)
                .await
                .unwrap(),
            1
        );
        assert!(s.access_token_is_revoked("jti first").await.unwrap());
    }

    pub(crate) async fn authorization_code_consume_whose_refresh_insert_conflicts_writes_nothing(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let c = code("code", T0);
        s.authorization_code_insert(&c).await.unwrap();
        // A refresh token with the same digest, and an access token with the same jti,
        // are already stored: each insert fails inside the consume's transaction.
        let taken = refresh("taken", "other family", T0);
        s.refresh_token_insert(&taken, "jti taken", T0 + 900)
            .await
            .unwrap();
        let same_digest = RefreshToken {
            family_id: "code family".into(),
            ..taken.clone()
        };
        let fresh = refresh("fresh", "code family", T0 + 1);
        for (token, jti) in [(&same_digest, "jti new"), (&fresh, "jti taken")] {
            let err = s
                .authorization_code_consume(&c.code_digest, T0 + 1, Some(token), jti, T0 + 900)
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
            // Nothing was written: the code is not consumed, no token of the family.
            assert_eq!(
                s.authorization_code_get(&c.code_digest).await.unwrap(),
                Some(c.clone())
            );
            assert_eq!(
                s.refresh_token_get(&fresh.token_digest).await.unwrap(),
                None
            );
            assert_eq!(s.access_token_family("jti new").await.unwrap(), None);
            assert_eq!(s.refresh_family_revoke("code family", T0).await.unwrap(), 0);
        }
        assert_eq!(
            s.refresh_token_get(&taken.token_digest).await.unwrap(),
            Some(taken)
        );
        // So a retry still redeems it, with one refresh token in the family.
        assert!(
            s.authorization_code_consume(&c.code_digest, T0 + 2, Some(&fresh), "jti new", T0 + 900)
                .await
                .unwrap()
        );
        assert_eq!(
            s.refresh_token_get(&fresh.token_digest).await.unwrap(),
            Some(fresh)
        );
        assert_eq!(
            s.refresh_family_revoke("code family", T0 + 3)
                .await
                .unwrap(),
            1
        );
    }

    pub(crate) async fn authorization_code_consume_refuses_at_and_after_expires_at(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let last_second = code("last-second", T0);
        let at_expiry = code("at-expiry", T0);
        let after_expiry = code("after-expiry", T0);
        for c in [&last_second, &at_expiry, &after_expiry] {
            s.authorization_code_insert(c).await.unwrap();
        }
        let exp = last_second.expires_at;
        assert!(
            s.authorization_code_consume(
                &last_second.code_digest,
                exp - 1,
                None,
                "j1",
                exp + 3_600
            )
            .await
            .unwrap()
        );
        for (c, now) in [(&at_expiry, exp), (&after_expiry, exp + 1)] {
            assert!(
                !s.authorization_code_consume(&c.code_digest, now, None, "j2", now + 3_600)
                    .await
                    .unwrap()
            );
            assert_eq!(
                s.authorization_code_get(&c.code_digest).await.unwrap(),
                Some(c.clone()),
                "a refused redemption leaves the code unused"
            );
        }
    }

    pub(crate) async fn authorization_code_consume_of_an_unknown_code_is_false(db: Db) {
        assert!(
            !db.store
                .authorization_code_consume(
                    &SecretDigest::of("never issued"),
                    T0,
                    None,
                    "j",
                    T0 + 60
                )
                .await
                .unwrap()
        );
    }

    pub(crate) async fn authorization_code_revoke_tokens_revokes_the_access_token_idempotently(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let c = code("code", T0);
        let bystander = code("other", T0);
        s.authorization_code_insert(&c).await.unwrap();
        s.authorization_code_insert(&bystander).await.unwrap();
        s.authorization_code_consume(&c.code_digest, T0 + 1, None, "jti-replayed", T0 + 3_601)
            .await
            .unwrap();
        s.authorization_code_consume(
            &bystander.code_digest,
            T0 + 1,
            None,
            "jti-innocent",
            T0 + 3_601,
        )
        .await
        .unwrap();
        assert!(!s.access_token_is_revoked("jti-replayed").await.unwrap());

        // The replay: the code's token goes on the revocation list, and only it.
        assert!(
            s.authorization_code_revoke_tokens(&c.code_digest, T0 + 2)
                .await
                .unwrap()
        );
        assert!(s.access_token_is_revoked("jti-replayed").await.unwrap());
        assert!(!s.access_token_is_revoked("jti-innocent").await.unwrap());
        // A second replay changes nothing and still answers true.
        assert!(
            s.authorization_code_revoke_tokens(&c.code_digest, T0 + 3)
                .await
                .unwrap()
        );
        assert!(s.access_token_is_revoked("jti-replayed").await.unwrap());
        assert_eq!(
            s.authorization_code_get(&c.code_digest)
                .await
                .unwrap()
                .unwrap()
                .access_token_jti
                .as_deref(),
            Some("jti-replayed")
        );
    }

    pub(crate) async fn authorization_code_revoke_tokens_of_an_unused_or_unknown_code_is_false(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let unused = code("unused", T0);
        s.authorization_code_insert(&unused).await.unwrap();
        assert!(
            !s.authorization_code_revoke_tokens(&unused.code_digest, T0 + 1)
                .await
                .unwrap()
        );
        assert!(
            !s.authorization_code_revoke_tokens(&SecretDigest::of("never issued"), T0)
                .await
                .unwrap()
        );
        // The unused code can still be redeemed.
        assert!(
            s.authorization_code_consume(&unused.code_digest, T0 + 2, None, "jti", T0 + 3_602)
                .await
                .unwrap()
        );
        assert!(!s.access_token_is_revoked("jti").await.unwrap());
    }

    pub(crate) async fn access_token_revoke_is_idempotent_and_keeps_the_first_expiry(db: Db) {
        let s = &db.store;
        assert!(!s.access_token_is_revoked("jti-1").await.unwrap());
        s.access_token_revoke("jti-1", T0 + 60).await.unwrap();
        s.access_token_revoke("jti-1", T0 + 60).await.unwrap();
        s.access_token_revoke("jti-1", T0 + 999).await.unwrap();
        assert!(s.access_token_is_revoked("jti-1").await.unwrap());
        assert!(!s.access_token_is_revoked("jti-2").await.unwrap());
        assert!(!s.access_token_is_revoked("JTI-1").await.unwrap());
        assert_eq!(
            db.scalar("SELECT expires_at FROM revoked_access_tokens WHERE jti = 'jti-1'")
                .await,
            T0 + 60
        );
    }

    pub(crate) async fn deleting_a_client_or_user_deletes_its_sessions_consents_and_codes(db: Db) {
        let s = &db.store;
        s.user_insert(&user("alice", ALICE, RecordSource::Admin))
            .await
            .unwrap();
        s.user_insert(&user("bob", BOB, RecordSource::Admin))
            .await
            .unwrap();
        with_client(s, "web").await;
        with_client(s, "cli").await;
        for (user_id, client_id, name) in [
            (ALICE, "web", "aw"),
            (ALICE, "cli", "ac"),
            (BOB, "web", "bw"),
            (BOB, "cli", "bc"),
        ] {
            s.consent_grant(user_id, client_id, &scopes(&["openid"]), T0)
                .await
                .unwrap();
            s.authorization_code_insert(&AuthorizationCode {
                client_id: client_id.into(),
                user_id: user_id.into(),
                ..code(name, T0)
            })
            .await
            .unwrap();
        }
        s.session_insert(&session("alice-cookie", ALICE))
            .await
            .unwrap();
        s.session_insert(&session("bob-cookie", BOB)).await.unwrap();

        assert!(s.client_delete("web").await.unwrap());
        assert!(s.user_delete("alice").await.unwrap());

        let live = |name: &str| SecretDigest::of(&format!("code {name}"));
        for name in ["aw", "ac", "bw"] {
            assert_eq!(s.authorization_code_get(&live(name)).await.unwrap(), None);
        }
        assert!(
            s.authorization_code_get(&live("bc"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(s.consent_get(ALICE, "cli").await.unwrap(), BTreeSet::new());
        assert_eq!(s.consent_get(BOB, "web").await.unwrap(), BTreeSet::new());
        assert_eq!(
            s.consent_get(BOB, "cli").await.unwrap(),
            scopes(&["openid"])
        );
        assert_eq!(
            s.session_get(&SecretDigest::of("alice-cookie"), T0)
                .await
                .unwrap(),
            None
        );
        assert!(
            s.session_get(&SecretDigest::of("bob-cookie"), T0)
                .await
                .unwrap()
                .is_some()
        );
    }

    pub(crate) async fn upserting_a_client_or_user_keeps_its_consents_and_codes(db: Db) {
        // The upserts update in place: a delete and re-insert would fire the cascades.
        let s = &db.store;
        let alice = user("alice", ALICE, RecordSource::Config);
        s.user_upsert(&alice).await.unwrap();
        let web = public_client("web", RecordSource::Config);
        s.client_upsert(&web).await.unwrap();
        s.consent_grant(ALICE, "web", &scopes(&["openid"]), T0)
            .await
            .unwrap();
        let c = code("code", T0);
        s.authorization_code_insert(&c).await.unwrap();
        let live = session("cookie", ALICE);
        s.session_insert(&live).await.unwrap();
        let r = refresh("token", "family", T0);
        s.refresh_token_insert(&r, "jti", T0 + 900).await.unwrap();

        s.client_upsert(&Client {
            updated_at: T0 + 100,
            ..full_client("web")
        })
        .await
        .unwrap();
        s.user_upsert(&User {
            name: Some("Alice Renamed".into()),
            updated_at: T0 + 100,
            ..alice
        })
        .await
        .unwrap();

        assert_eq!(
            s.consent_get(ALICE, "web").await.unwrap(),
            scopes(&["openid"])
        );
        assert_eq!(
            s.authorization_code_get(&c.code_digest).await.unwrap(),
            Some(c)
        );
        assert_eq!(
            s.session_get(&live.session_digest, T0).await.unwrap(),
            Some(live)
        );
        assert_eq!(s.refresh_token_get(&r.token_digest).await.unwrap(), Some(r));
    }

    pub(crate) async fn undecodable_authorization_rows_are_corrupt_naming_the_column(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let p = pending("id", T0);
        s.pending_authorization_insert(&p).await.unwrap();
        let c = code("code", T0);
        s.authorization_code_insert(&c).await.unwrap();
        s.consent_grant(ALICE, "web", &scopes(&["openid"]), T0)
            .await
            .unwrap();
        db.raw("UPDATE pending_authorizations SET request = '{\"client_id\": 7}'")
            .await;
        db.raw("UPDATE authorization_codes SET resources = 'not json'")
            .await;
        db.raw("UPDATE consents SET scopes = '{}'").await;

        for err in [
            s.pending_authorization_get(&p.id_digest, T0)
                .await
                .unwrap_err(),
            s.pending_authorization_take(&p.id_digest, T0)
                .await
                .unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt(what) if what.contains("pending_authorizations.request")),
                "{err:?}"
            );
        }
        let err = s.authorization_code_get(&c.code_digest).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(what) if what.contains("authorization_codes.resources")),
            "{err:?}"
        );
        let err = s.consent_get(ALICE, "web").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(what) if what.contains("consents.scopes")),
            "{err:?}"
        );
    }

    pub(crate) async fn purge_expired_removes_exactly_the_expired_rows_of_each_table(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        // In each table, a row that expires at `now` (gone) and one a second later (kept).
        let now = T0 + 10_000;
        let p_gone = PendingAuthorization {
            expires_at: now,
            ..pending("gone", T0)
        };
        let p_kept = PendingAuthorization {
            expires_at: now + 1,
            ..pending("kept", T0)
        };
        let s_gone = BrowserSession {
            expires_at: now,
            ..session("gone", ALICE)
        };
        let s_kept = BrowserSession {
            expires_at: now + 1,
            ..session("kept", ALICE)
        };
        let c_gone = AuthorizationCode {
            expires_at: now,
            ..code("gone", T0)
        };
        let c_kept = AuthorizationCode {
            expires_at: now + 1,
            ..code("kept", T0)
        };
        s.pending_authorization_insert(&p_gone).await.unwrap();
        s.pending_authorization_insert(&p_kept).await.unwrap();
        s.session_insert(&s_gone).await.unwrap();
        s.session_insert(&s_kept).await.unwrap();
        s.authorization_code_insert(&c_gone).await.unwrap();
        s.authorization_code_insert(&c_kept).await.unwrap();
        s.access_token_revoke("jti-gone", now).await.unwrap();
        s.access_token_revoke("jti-kept", now + 1).await.unwrap();
        // A refresh token is purged at its expiry whatever its state; its family record
        // of an access token at the token's exp.
        let r_gone = RefreshToken {
            expires_at: now,
            rotated_at: Some(T0 + 1),
            ..refresh("gone", "family", T0)
        };
        let r_kept = RefreshToken {
            expires_at: now + 1,
            ..refresh("kept", "family", T0)
        };
        s.refresh_token_insert(&r_gone, "fat-gone", now)
            .await
            .unwrap();
        s.refresh_token_insert(&r_kept, "fat-kept", now + 1)
            .await
            .unwrap();
        // A device authorization is purged at its expiry whatever its state.
        let d_gone = DeviceAuthorization {
            expires_at: now,
            ..approved(device("gone", T0))
        };
        let d_kept = DeviceAuthorization {
            expires_at: now + 1,
            ..device("kept", T0)
        };
        s.device_authorization_insert(&d_gone).await.unwrap();
        s.device_authorization_insert(&d_kept).await.unwrap();

        assert_eq!(
            s.purge_expired(now, 100).await.unwrap(),
            PurgeCounts {
                pending_authorizations: 1,
                browser_sessions: 1,
                authorization_codes: 1,
                revoked_access_tokens: 1,
                refresh_tokens: 1,
                family_access_tokens: 1,
                device_authorizations: 1,
                rate_limits: 0,
            }
        );
        // Looked up at T0, when every row would be live: only existence matters.
        assert_eq!(
            s.pending_authorization_get(&p_gone.id_digest, T0)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.pending_authorization_get(&p_kept.id_digest, T0)
                .await
                .unwrap(),
            Some(p_kept)
        );
        assert_eq!(
            s.session_get(&s_gone.session_digest, T0).await.unwrap(),
            None
        );
        assert_eq!(
            s.session_get(&s_kept.session_digest, T0).await.unwrap(),
            Some(s_kept)
        );
        assert_eq!(
            s.authorization_code_get(&c_gone.code_digest).await.unwrap(),
            None
        );
        assert_eq!(
            s.authorization_code_get(&c_kept.code_digest).await.unwrap(),
            Some(c_kept)
        );
        assert!(!s.access_token_is_revoked("jti-gone").await.unwrap());
        assert!(s.access_token_is_revoked("jti-kept").await.unwrap());
        assert_eq!(
            s.refresh_token_get(&r_gone.token_digest).await.unwrap(),
            None
        );
        assert_eq!(
            s.refresh_token_get(&r_kept.token_digest).await.unwrap(),
            Some(r_kept)
        );
        assert_eq!(s.access_token_family("fat-gone").await.unwrap(), None);
        assert_eq!(
            s.access_token_family("fat-kept").await.unwrap().as_deref(),
            Some("family")
        );
        assert_eq!(
            s.device_authorization_get(&d_gone.device_code_digest)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.device_authorization_get(&d_kept.device_code_digest)
                .await
                .unwrap(),
            Some(d_kept)
        );

        // Nothing more is due at `now`; everything left is a second later.
        assert_eq!(
            s.purge_expired(now, 100).await.unwrap(),
            PurgeCounts::default()
        );
        let later = s.purge_expired(now + 1, 100).await.unwrap();
        assert_eq!(
            (
                later.total(),
                later.authorization_codes,
                later.refresh_tokens,
                later.device_authorizations
            ),
            (7, 1, 1, 1)
        );
        assert_eq!(remaining_rows(&db).await, 0);
    }

    pub(crate) async fn purge_expired_keeps_a_redeemed_code_while_its_access_token_lives(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        // Three codes, long expired at `now`, redeemed for tokens of different lives.
        let now = T0 + 10_000;
        let redeemed = |name: &str, token_exp: i64| AuthorizationCode {
            consumed_at: Some(T0 + 1),
            access_token_jti: Some(format!("jti-{name}")),
            access_token_expires_at: Some(token_exp),
            ..code(name, T0)
        };
        let token_dead = redeemed("token-dead", now - 1);
        let token_ends_now = redeemed("token-ends-now", now);
        let token_lives = redeemed("token-lives", now + 1);
        for c in [&token_dead, &token_ends_now, &token_lives] {
            s.authorization_code_insert(c).await.unwrap();
        }
        let counts = s.purge_expired(now, 100).await.unwrap();
        assert_eq!((counts.authorization_codes, counts.total()), (2, 2));
        for gone in [&token_dead, &token_ends_now] {
            assert_eq!(
                s.authorization_code_get(&gone.code_digest).await.unwrap(),
                None
            );
        }
        assert_eq!(
            s.authorization_code_get(&token_lives.code_digest)
                .await
                .unwrap(),
            Some(token_lives.clone())
        );
        // A replay now can still revoke the live token.
        assert!(
            s.authorization_code_revoke_tokens(&token_lives.code_digest, now)
                .await
                .unwrap()
        );
        assert!(s.access_token_is_revoked("jti-token-lives").await.unwrap());
        // Once the token is dead, the code and its revocation entry go.
        assert_eq!(
            s.purge_expired(now + 1, 100).await.unwrap(),
            PurgeCounts {
                authorization_codes: 1,
                revoked_access_tokens: 1,
                ..PurgeCounts::default()
            }
        );
        assert_eq!(remaining_rows(&db).await, 0);
    }

    pub(crate) async fn purge_expired_deletes_at_most_limit_rows_per_table(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        // Five expired rows in each table, and one live row.
        let now = T0 + 10_000;
        for i in 0..6 {
            let expires_at = if i < 5 { now - i } else { now + 1 };
            let name = format!("row-{i}");
            s.pending_authorization_insert(&PendingAuthorization {
                expires_at,
                ..pending(&name, T0)
            })
            .await
            .unwrap();
            s.session_insert(&BrowserSession {
                expires_at,
                ..session(&name, ALICE)
            })
            .await
            .unwrap();
            s.authorization_code_insert(&AuthorizationCode {
                expires_at,
                ..code(&name, T0)
            })
            .await
            .unwrap();
            s.access_token_revoke(&name, expires_at).await.unwrap();
            s.refresh_token_insert(
                &RefreshToken {
                    expires_at,
                    ..refresh(&name, "family", T0)
                },
                &name,
                expires_at,
            )
            .await
            .unwrap();
            s.device_authorization_insert(&DeviceAuthorization {
                expires_at,
                ..device(&name, T0)
            })
            .await
            .unwrap();
        }
        let each = |n: u64| PurgeCounts {
            pending_authorizations: n,
            browser_sessions: n,
            authorization_codes: n,
            revoked_access_tokens: n,
            refresh_tokens: n,
            family_access_tokens: n,
            device_authorizations: n,
            rate_limits: 0,
        };
        for (round, expected) in [2, 2, 1, 0].into_iter().enumerate() {
            assert_eq!(
                s.purge_expired(now, 2).await.unwrap(),
                each(expected),
                "round {round}"
            );
        }
        assert_eq!(each(2).total(), 14);
        assert_eq!(s.purge_expired(now + 1, 0).await.unwrap(), each(0));
        // The live rows are all that is left.
        assert_eq!(remaining_rows(&db).await, 7);
        assert_eq!(
            s.access_token_family("row-5").await.unwrap().as_deref(),
            Some("family")
        );
        assert!(s.access_token_is_revoked("row-5").await.unwrap());
        assert!(
            s.session_get(&SecretDigest::of("row-5"), now)
                .await
                .unwrap()
                .is_some()
        );
    }

    pub(crate) async fn session_delete_for_user_removes_only_that_users_sessions(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_user(s, BOB).await;
        let expired = BrowserSession {
            expires_at: T0 - 1,
            ..session("alice-expired", ALICE)
        };
        s.session_insert(&session("alice-laptop", ALICE))
            .await
            .unwrap();
        s.session_insert(&session("alice-phone", ALICE))
            .await
            .unwrap();
        s.session_insert(&expired).await.unwrap();
        let bob = session("bob-laptop", BOB);
        s.session_insert(&bob).await.unwrap();

        // Expired or not, every row of the user goes.
        assert_eq!(s.session_delete_for_user(ALICE).await.unwrap(), 3);
        for cookie in ["alice-laptop", "alice-phone", "alice-expired"] {
            assert_eq!(
                s.session_get(&SecretDigest::of(cookie), T0 - 100)
                    .await
                    .unwrap(),
                None,
                "{cookie}"
            );
        }
        assert_eq!(
            s.session_get(&bob.session_digest, T0).await.unwrap(),
            Some(bob)
        );
        assert_eq!(s.session_delete_for_user(ALICE).await.unwrap(), 0);
        assert_eq!(s.session_delete_for_user("0190-nobody").await.unwrap(), 0);
        // Alice can log in again.
        s.session_insert(&session("alice-laptop", ALICE))
            .await
            .unwrap();
        assert_eq!(s.session_delete_for_user(BOB).await.unwrap(), 1);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM browser_sessions").await, 1);
    }

    pub(crate) async fn client_introspection_audiences_round_trip_and_default_to_empty(db: Db) {
        let s = &db.store;
        let mut client = public_client("rs", RecordSource::Admin);
        client.introspection_audiences = vec![
            "https://api.example/".into(),
            "https://reports.example/v1".into(),
        ];
        s.client_insert(&client).await.unwrap();
        assert_eq!(s.client_get("rs").await.unwrap(), Some(client.clone()));
        // The upsert replaces them, as every other column.
        client.introspection_audiences = vec!["urn:example:only".into()];
        client.updated_at += 1;
        s.client_upsert(&client).await.unwrap();
        assert_eq!(s.client_get("rs").await.unwrap(), Some(client.clone()));
        client.introspection_audiences = vec![];
        s.client_upsert(&client).await.unwrap();
        assert_eq!(s.client_get("rs").await.unwrap(), Some(client));

        // A client written without the column (as before migration 0003) has none.
        db.raw(
            "INSERT INTO clients (client_id, token_endpoint_auth_method, redirect_uris, \
             post_logout_redirect_uris, grant_types, scopes, audiences, skip_consent, \
             id_token_signed_response_alg, claims, source, created_at, updated_at) \
             VALUES ('old', 'none', '[]', '[]', '[]', '[]', '[]', false, 'RS256', '{}', \
             'config', 1, 1)",
        )
        .await;
        let old = s.client_get("old").await.unwrap().unwrap();
        assert_eq!(old.introspection_audiences, Vec::<String>::new());

        db.raw("UPDATE clients SET introspection_audiences = '{}' WHERE client_id = 'old'")
            .await;
        let err = s.client_get("old").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(what) if what.contains("clients.introspection_audiences")),
            "{err:?}"
        );
    }

    pub(crate) async fn refresh_token_round_trip_keeps_every_field(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let family = family_of_code(&SecretDigest::of("code c"));
        let bare = refresh("bare", &family, T0);
        let full = RefreshToken {
            scopes: vec!["email".into(), "offline_access".into(), "openid".into()],
            resources: vec![
                "https://api.example/".into(),
                "https://reports.example/v1 ünï".into(),
            ],
            auth_time: T0 - 600,
            expires_at: T0 + 1_209_600,
            rotated_at: Some(T0 + 7),
            revoked_at: Some(T0 + 9),
            ..refresh("full", "another family", T0 + 1)
        };
        s.refresh_token_insert(&bare, "jti-bare", T0 + 900)
            .await
            .unwrap();
        s.refresh_token_insert(&full, "jti-full", T0 + 901)
            .await
            .unwrap();
        assert_eq!(
            s.refresh_token_get(&bare.token_digest).await.unwrap(),
            Some(bare)
        );
        assert_eq!(
            s.refresh_token_get(&full.token_digest).await.unwrap(),
            Some(full)
        );
        assert_eq!(
            s.refresh_token_get(&SecretDigest::of("refresh other"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.access_token_family("jti-bare").await.unwrap(),
            Some(family)
        );
        assert_eq!(
            db.scalar("SELECT expires_at FROM family_access_tokens WHERE jti = 'jti-full'")
                .await,
            T0 + 901
        );
    }

    pub(crate) async fn refresh_token_insert_of_an_existing_digest_or_jti_is_a_conflict(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let first = refresh("token", "family-a", T0);
        s.refresh_token_insert(&first, "jti-1", T0 + 900)
            .await
            .unwrap();
        // Same digest: refused, and its access token is not recorded either.
        let err = s
            .refresh_token_insert(&refresh("token", "family-b", T0 + 1), "jti-2", T0 + 901)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(s.access_token_family("jti-2").await.unwrap(), None);
        // Same jti: refused, and the refresh token is not stored either.
        let other = refresh("other", "family-b", T0);
        let err = s
            .refresh_token_insert(&other, "jti-1", T0 + 901)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            s.refresh_token_get(&other.token_digest).await.unwrap(),
            None
        );
        assert_eq!(
            s.refresh_token_get(&first.token_digest).await.unwrap(),
            Some(first)
        );
        assert_eq!(
            s.access_token_family("jti-1").await.unwrap().as_deref(),
            Some("family-a")
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM family_access_tokens").await,
            1
        );
    }

    pub(crate) async fn refresh_token_insert_for_an_unknown_client_or_user_is_not_found(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let no_client = RefreshToken {
            client_id: "gone".into(),
            ..refresh("a", "family-a", T0)
        };
        let no_user = RefreshToken {
            user_id: "0190-gone".into(),
            ..refresh("b", "family-b", T0)
        };
        for (t, jti) in [(no_client, "jti-a"), (no_user, "jti-b")] {
            let err = s.refresh_token_insert(&t, jti, T0 + 900).await.unwrap_err();
            assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
            assert_eq!(s.refresh_token_get(&t.token_digest).await.unwrap(), None);
            assert_eq!(s.access_token_family(jti).await.unwrap(), None);
        }
    }

    pub(crate) async fn refresh_token_rotate_succeeds_once_and_stores_the_successor(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let t0 = refresh("t0", "family", T0);
        s.refresh_token_insert(&t0, "jti-0", T0 + 900)
            .await
            .unwrap();
        let t1 = refresh("t1", "family", T0 + 10);
        assert!(
            s.refresh_token_rotate(&t0.token_digest, &t1, T0 + 10, "jti-1", T0 + 910)
                .await
                .unwrap()
        );
        assert_eq!(
            s.refresh_token_get(&t0.token_digest).await.unwrap(),
            Some(RefreshToken {
                rotated_at: Some(T0 + 10),
                ..t0.clone()
            })
        );
        assert_eq!(
            s.refresh_token_get(&t1.token_digest).await.unwrap(),
            Some(t1.clone())
        );
        assert_eq!(
            s.access_token_family("jti-1").await.unwrap().as_deref(),
            Some("family")
        );

        // The replay: refused, and nothing of it is written.
        let replay = refresh("t1-replay", "family", T0 + 20);
        assert!(
            !s.refresh_token_rotate(&t0.token_digest, &replay, T0 + 20, "jti-r", T0 + 920)
                .await
                .unwrap()
        );
        assert_eq!(
            s.refresh_token_get(&replay.token_digest).await.unwrap(),
            None
        );
        assert_eq!(s.access_token_family("jti-r").await.unwrap(), None);
        assert_eq!(
            s.refresh_token_get(&t0.token_digest)
                .await
                .unwrap()
                .unwrap()
                .rotated_at,
            Some(T0 + 10),
            "the first rotation's time stays"
        );

        // The successor rotates in turn; an unknown token does not.
        let t2 = refresh("t2", "family", T0 + 30);
        assert!(
            s.refresh_token_rotate(&t1.token_digest, &t2, T0 + 30, "jti-2", T0 + 930)
                .await
                .unwrap()
        );
        assert!(
            !s.refresh_token_rotate(
                &SecretDigest::of("refresh never issued"),
                &refresh("t3", "family", T0 + 40),
                T0 + 40,
                "jti-3",
                T0 + 940
            )
            .await
            .unwrap()
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = 'family'")
                .await,
            3
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM family_access_tokens WHERE family_id = 'family'")
                .await,
            3
        );
    }

    pub(crate) async fn refresh_token_rotate_refuses_at_and_after_expires_at(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let last_second = refresh("last-second", "f-1", T0);
        let at_expiry = refresh("at-expiry", "f-2", T0);
        let after_expiry = refresh("after-expiry", "f-3", T0);
        for (i, t) in [&last_second, &at_expiry, &after_expiry]
            .into_iter()
            .enumerate()
        {
            s.refresh_token_insert(t, &format!("jti-{i}"), T0 + 900)
                .await
                .unwrap();
        }
        let exp = last_second.expires_at;
        let successor = |family: &str| refresh("next", family, exp);
        assert!(
            s.refresh_token_rotate(
                &last_second.token_digest,
                &successor("f-1"),
                exp - 1,
                "jti-next-1",
                exp + 899
            )
            .await
            .unwrap()
        );
        for (t, now, family) in [(&at_expiry, exp, "f-2"), (&after_expiry, exp + 1, "f-3")] {
            let next = RefreshToken {
                token_digest: SecretDigest::of(&format!("refresh next {family}")),
                ..successor(family)
            };
            assert!(
                !s.refresh_token_rotate(&t.token_digest, &next, now, "jti-refused", now + 900)
                    .await
                    .unwrap()
            );
            assert_eq!(
                s.refresh_token_get(&t.token_digest).await.unwrap(),
                Some(t.clone()),
                "a refused rotation leaves the token as it was"
            );
            assert_eq!(s.refresh_token_get(&next.token_digest).await.unwrap(), None);
        }
        assert_eq!(s.access_token_family("jti-refused").await.unwrap(), None);
    }

    pub(crate) async fn refresh_token_rotate_refuses_a_revoked_token(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let t0 = refresh("t0", "family", T0);
        s.refresh_token_insert(&t0, "jti-0", T0 + 900)
            .await
            .unwrap();
        assert_eq!(s.refresh_family_revoke("family", T0 + 5).await.unwrap(), 1);
        let t1 = refresh("t1", "family", T0 + 10);
        assert!(
            !s.refresh_token_rotate(&t0.token_digest, &t1, T0 + 10, "jti-1", T0 + 910)
                .await
                .unwrap()
        );
        assert_eq!(s.refresh_token_get(&t1.token_digest).await.unwrap(), None);
        assert_eq!(
            s.refresh_token_get(&t0.token_digest).await.unwrap(),
            Some(RefreshToken {
                revoked_at: Some(T0 + 5),
                ..t0
            })
        );
    }

    pub(crate) async fn refresh_token_rotate_into_another_family_is_refused_and_writes_nothing(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let t0 = refresh("t0", "family", T0);
        s.refresh_token_insert(&t0, "jti-0", T0 + 900)
            .await
            .unwrap();
        let stray = refresh("stray", "another family", T0 + 10);
        let err = s
            .refresh_token_rotate(&t0.token_digest, &stray, T0 + 10, "jti-1", T0 + 910)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Other(_)), "{err:?}");
        assert_eq!(
            s.refresh_token_get(&t0.token_digest).await.unwrap(),
            Some(t0.clone()),
            "still live"
        );
        assert_eq!(
            s.refresh_token_get(&stray.token_digest).await.unwrap(),
            None
        );
        assert_eq!(s.access_token_family("jti-1").await.unwrap(), None);
    }

    pub(crate) async fn refresh_token_rotate_race_has_one_winner(db: Db) {
        with_user(&db.store, ALICE).await;
        with_client(&db.store, "web").await;
        let t0 = refresh("t0", "family", T0);
        db.store
            .refresh_token_insert(&t0, "jti-0", T0 + 900)
            .await
            .unwrap();
        // 20 refresh requests with the same token, on two "nodes", at once, each with
        // its own successor and access token.
        let nodes = [db.store.clone(), db.reopen().await];
        let attempts: Vec<_> = (0..20)
            .map(|i| {
                let store = nodes[i % 2].clone();
                let old = t0.token_digest;
                tokio::spawn(async move {
                    let successor = refresh(&format!("t1-{i}"), "family", T0 + 1);
                    let jti = format!("jti-{i}-1");
                    let won = store
                        .refresh_token_rotate(&old, &successor, T0 + 1, &jti, T0 + 901)
                        .await
                        .unwrap();
                    won.then_some((successor, jti))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for attempt in attempts {
            winners.extend(attempt.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let (successor, jti) = winners.pop().unwrap();
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = 'family'")
                .await,
            2,
            "the token and exactly one successor"
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM family_access_tokens WHERE family_id = 'family'")
                .await,
            2
        );
        assert_eq!(
            db.store
                .refresh_token_get(&successor.token_digest)
                .await
                .unwrap(),
            Some(successor)
        );
        assert_eq!(
            db.store.access_token_family(&jti).await.unwrap().as_deref(),
            Some("family")
        );
    }

    pub(crate) async fn refresh_family_revoke_revokes_the_family_only_and_its_access_tokens(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        // Family A: t0 rotated to t1. Family B: one token.
        let t0 = refresh("t0", "family-a", T0);
        let t1 = refresh("t1", "family-a", T0 + 10);
        let b0 = refresh("b0", "family-b", T0);
        s.refresh_token_insert(&t0, "jti-a0", T0 + 900)
            .await
            .unwrap();
        assert!(
            s.refresh_token_rotate(&t0.token_digest, &t1, T0 + 10, "jti-a1", T0 + 910)
                .await
                .unwrap()
        );
        s.refresh_token_insert(&b0, "jti-b0", T0 + 900)
            .await
            .unwrap();
        // Already revoked on its own (RFC 7009), with its own expiry: that row stays.
        s.access_token_revoke("jti-a0", T0 + 500).await.unwrap();

        assert_eq!(
            s.refresh_family_revoke("family-a", T0 + 20).await.unwrap(),
            2
        );
        assert_eq!(
            s.refresh_token_get(&t0.token_digest).await.unwrap(),
            Some(RefreshToken {
                rotated_at: Some(T0 + 10),
                revoked_at: Some(T0 + 20),
                ..t0.clone()
            })
        );
        assert_eq!(
            s.refresh_token_get(&t1.token_digest).await.unwrap(),
            Some(RefreshToken {
                revoked_at: Some(T0 + 20),
                ..t1.clone()
            })
        );
        assert_eq!(
            s.refresh_token_get(&b0.token_digest).await.unwrap(),
            Some(b0.clone())
        );
        assert!(s.access_token_is_revoked("jti-a0").await.unwrap());
        assert!(s.access_token_is_revoked("jti-a1").await.unwrap());
        assert!(!s.access_token_is_revoked("jti-b0").await.unwrap());
        assert_eq!(
            db.scalar("SELECT expires_at FROM revoked_access_tokens WHERE jti = 'jti-a1'")
                .await,
            T0 + 910,
            "revoked until the access token's exp"
        );
        assert_eq!(
            db.scalar("SELECT expires_at FROM revoked_access_tokens WHERE jti = 'jti-a0'")
                .await,
            T0 + 500
        );

        // Idempotent: nothing newly revoked, the first revocation time stays.
        assert_eq!(
            s.refresh_family_revoke("family-a", T0 + 30).await.unwrap(),
            0
        );
        assert_eq!(
            s.refresh_token_get(&t1.token_digest)
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(T0 + 20)
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM revoked_access_tokens")
                .await,
            2
        );
        // The revoked successor cannot rotate; family B still can.
        assert!(
            !s.refresh_token_rotate(
                &t1.token_digest,
                &refresh("t2", "family-a", T0 + 40),
                T0 + 40,
                "jti-a2",
                T0 + 940
            )
            .await
            .unwrap()
        );
        assert!(
            s.refresh_token_rotate(
                &b0.token_digest,
                &refresh("b1", "family-b", T0 + 40),
                T0 + 40,
                "jti-b1",
                T0 + 940
            )
            .await
            .unwrap()
        );
        assert_eq!(
            s.refresh_family_revoke("no such family", T0).await.unwrap(),
            0
        );
    }

    pub(crate) async fn refresh_family_revoke_racing_rotations_leaves_no_live_token(db: Db) {
        // A replay revokes the family while the legitimate client keeps rotating it on
        // another node: whichever way they interleave, nothing of the family stays live.
        with_user(&db.store, ALICE).await;
        with_client(&db.store, "web").await;
        let other_node = db.reopen().await;
        for round in 0..25 {
            let family = format!("family-{round}");
            let first = refresh(&format!("{round}-0"), &family, T0);
            db.store
                .refresh_token_insert(&first, &format!("jti-{round}-0"), T0 + 900)
                .await
                .unwrap();
            let rotations = {
                let store = db.store.clone();
                let family = family.clone();
                tokio::spawn(async move {
                    let mut chain = vec![first.token_digest];
                    for step in 1..=20 {
                        let next = refresh(&format!("{round}-{step}"), &family, T0 + step);
                        let old = chain[chain.len() - 1];
                        let jti = format!("jti-{round}-{step}");
                        if !store
                            .refresh_token_rotate(&old, &next, T0 + step, &jti, T0 + 900)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                        chain.push(next.token_digest);
                    }
                    chain
                })
            };
            let revoke = {
                let store = other_node.clone();
                let family = family.clone();
                tokio::spawn(async move {
                    for _ in 0..round % 5 {
                        tokio::task::yield_now().await;
                    }
                    store
                        .refresh_family_revoke(&family, T0 + 100)
                        .await
                        .unwrap()
                })
            };
            let chain = rotations.await.unwrap();
            revoke.await.unwrap();
            for (step, digest) in chain.iter().enumerate() {
                let token = db.store.refresh_token_get(digest).await.unwrap().unwrap();
                assert_eq!(
                    token.revoked_at,
                    Some(T0 + 100),
                    "round {round}: token {step} of {} is not revoked",
                    chain.len()
                );
                assert!(
                    db.store
                        .access_token_is_revoked(&format!("jti-{round}-{step}"))
                        .await
                        .unwrap(),
                    "round {round}: access token {step} is not revoked"
                );
            }
        }
    }

    pub(crate) async fn access_token_family_names_only_recorded_tokens(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let t0 = refresh("t0", "family", T0);
        s.refresh_token_insert(&t0, "jti-0", T0 + 900)
            .await
            .unwrap();
        s.refresh_token_rotate(
            &t0.token_digest,
            &refresh("t1", "family", T0 + 1),
            T0 + 1,
            "jti-1",
            T0 + 901,
        )
        .await
        .unwrap();
        // An access token revoked on its own, and one issued without a refresh token.
        s.access_token_revoke("jti-revoked", T0 + 900)
            .await
            .unwrap();
        for (jti, family) in [
            ("jti-0", Some("family")),
            ("jti-1", Some("family")),
            ("jti-revoked", None),
            ("jti-never", None),
            ("JTI-0", None),
        ] {
            assert_eq!(
                s.access_token_family(jti).await.unwrap().as_deref(),
                family,
                "{jti}"
            );
        }
    }

    pub(crate) async fn deleting_a_client_or_user_deletes_its_refresh_tokens(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_user(s, BOB).await;
        with_client(s, "web").await;
        with_client(s, "cli").await;
        for (user_id, client_id, name) in [
            (ALICE, "web", "aw"),
            (ALICE, "cli", "ac"),
            (BOB, "web", "bw"),
            (BOB, "cli", "bc"),
        ] {
            s.refresh_token_insert(
                &RefreshToken {
                    client_id: client_id.into(),
                    user_id: user_id.into(),
                    ..refresh(name, name, T0)
                },
                &format!("jti-{name}"),
                T0 + 900,
            )
            .await
            .unwrap();
        }
        assert!(s.client_delete("web").await.unwrap());
        assert!(s.user_delete("alice").await.unwrap());
        let digest = |name: &str| SecretDigest::of(&format!("refresh {name}"));
        for name in ["aw", "ac", "bw"] {
            assert_eq!(s.refresh_token_get(&digest(name)).await.unwrap(), None);
        }
        assert!(s.refresh_token_get(&digest("bc")).await.unwrap().is_some());
    }

    pub(crate) async fn undecodable_refresh_token_rows_are_corrupt_naming_the_column(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let t = refresh("t", "family", T0);
        s.refresh_token_insert(&t, "jti", T0 + 900).await.unwrap();
        db.raw("UPDATE refresh_tokens SET scopes = 'openid profile'")
            .await;
        let err = s.refresh_token_get(&t.token_digest).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(what) if what.contains("refresh_tokens.scopes")),
            "{err:?}"
        );
    }

    pub(crate) async fn pending_authorization_round_trip_keeps_the_device_authorization(db: Db) {
        let s = &db.store;
        let p = PendingAuthorization {
            device: Some(PendingDevice {
                device_code_digest: SecretDigest::of("device code"),
                sealed_user_code: "c2VhbGVkIHVzZXIgY29kZQ".into(),
            }),
            ..pending("device", T0)
        };
        s.pending_authorization_insert(&p).await.unwrap();
        assert_eq!(
            s.pending_authorization_get(&p.id_digest, T0).await.unwrap(),
            Some(p.clone())
        );
        assert!(
            s.pending_authorization_set_user(&p.id_digest, ALICE, T0, T0)
                .await
                .unwrap()
        );
        let taken = s
            .pending_authorization_take(&p.id_digest, T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.device, p.device);
        // Both columns or neither: a half-written row is refused by the schema.
        assert!(
            schema_refuses_a_half_device_row(&db).await,
            "the schema accepted a device_user_code without its digest"
        );
    }

    pub(crate) async fn device_authorization_round_trip_keeps_every_field(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let bare = device("bare", T0);
        let full = DeviceAuthorization {
            scopes: scopes(&["openid", "profile", "ledger:write"]),
            resources: vec![
                "https://reports.example".into(),
                "https://api.ledger.example".into(),
            ],
            interval: 15,
            last_polled_at: Some(T0 + 3),
            consumed_at: Some(T0 + 4),
            ..approved(device("full", T0))
        };
        let denied = DeviceAuthorization {
            status: DeviceAuthorizationStatus::Denied,
            ..device("denied", T0)
        };
        for d in [&bare, &full, &denied] {
            s.device_authorization_insert(d).await.unwrap();
        }
        for d in [bare, full, denied] {
            assert_eq!(
                s.device_authorization_get(&d.device_code_digest)
                    .await
                    .unwrap(),
                Some(d)
            );
        }
        assert_eq!(
            s.device_authorization_get(&SecretDigest::of("other"))
                .await
                .unwrap(),
            None
        );
    }

    pub(crate) async fn device_authorization_insert_of_an_existing_device_or_user_code_is_a_conflict(
        db: Db,
    ) {
        let s = &db.store;
        with_client(s, "web").await;
        let first = device("first", T0);
        s.device_authorization_insert(&first).await.unwrap();
        // Same user code, new device code: the caller draws another user code.
        let same_user_code = DeviceAuthorization {
            user_code_digest: first.user_code_digest,
            ..device("second", T0)
        };
        // Same device code, new user code.
        let same_device_code = DeviceAuthorization {
            device_code_digest: first.device_code_digest,
            ..device("third", T0)
        };
        for d in [&same_user_code, &same_device_code] {
            let err = s.device_authorization_insert(d).await.unwrap_err();
            assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        }
        // An expired row keeps its user code until purged.
        let expired = DeviceAuthorization {
            expires_at: T0 - 1,
            ..device("expired", T0 - 600)
        };
        s.device_authorization_insert(&expired).await.unwrap();
        let err = s
            .device_authorization_insert(&DeviceAuthorization {
                user_code_digest: expired.user_code_digest,
                ..device("fourth", T0)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            s.device_authorization_get(&first.device_code_digest)
                .await
                .unwrap(),
            Some(first)
        );
        assert_eq!(
            s.device_authorization_get(&same_user_code.device_code_digest)
                .await
                .unwrap(),
            None
        );
    }

    pub(crate) async fn device_authorization_insert_for_an_unknown_client_is_not_found(db: Db) {
        let s = &db.store;
        let err = s
            .device_authorization_insert(&device("d", T0))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    }

    pub(crate) async fn device_authorization_find_by_user_code_finds_only_a_live_pending_one(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let d = device("d", T0);
        s.device_authorization_insert(&d).await.unwrap();
        let find = |digest: SecretDigest, now: i64| {
            let store = s.clone();
            async move {
                store
                    .device_authorization_find_by_user_code(&digest, now)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            find(d.user_code_digest, d.expires_at - 1).await,
            Some(d.clone())
        );
        for late in [d.expires_at, d.expires_at + 1] {
            assert_eq!(find(d.user_code_digest, late).await, None, "at {late}");
        }
        // The device code digest is not a user code.
        assert_eq!(find(d.device_code_digest, T0).await, None);
        // Once decided, the user code names nothing any more.
        for (name, decision) in [
            ("approved", approved_status()),
            ("denied", DeviceAuthorizationStatus::Denied),
        ] {
            let other = device(name, T0);
            s.device_authorization_insert(&other).await.unwrap();
            assert!(
                s.device_authorization_decide(&other.device_code_digest, &decision, T0)
                    .await
                    .unwrap()
            );
            assert_eq!(find(other.user_code_digest, T0).await, None, "{name}");
        }
    }

    pub(crate) async fn device_authorization_decide_succeeds_once_and_stops_at_expires_at(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let d = device("d", T0);
        s.device_authorization_insert(&d).await.unwrap();
        // Pending is no decision: nothing written.
        assert!(
            !s.device_authorization_decide(
                &d.device_code_digest,
                &DeviceAuthorizationStatus::Pending,
                T0
            )
            .await
            .unwrap()
        );
        let last_live = d.expires_at - 1;
        assert!(
            s.device_authorization_decide(&d.device_code_digest, &approved_status(), last_live)
                .await
                .unwrap()
        );
        // The second decision, approval or denial, changes nothing.
        for decision in [approved_status(), DeviceAuthorizationStatus::Denied] {
            assert!(
                !s.device_authorization_decide(&d.device_code_digest, &decision, T0)
                    .await
                    .unwrap()
            );
        }
        assert_eq!(
            s.device_authorization_get(&d.device_code_digest)
                .await
                .unwrap(),
            Some(approved(d.clone()))
        );
        // At and after expires_at a pending one cannot be decided.
        let late = device("late", T0);
        s.device_authorization_insert(&late).await.unwrap();
        for now in [late.expires_at, late.expires_at + 1] {
            assert!(
                !s.device_authorization_decide(
                    &late.device_code_digest,
                    &DeviceAuthorizationStatus::Denied,
                    now
                )
                .await
                .unwrap()
            );
        }
        assert_eq!(
            s.device_authorization_get(&late.device_code_digest)
                .await
                .unwrap(),
            Some(late)
        );
        assert!(
            !s.device_authorization_decide(&SecretDigest::of("other"), &approved_status(), T0)
                .await
                .unwrap()
        );
    }

    pub(crate) async fn device_authorization_decide_race_has_one_winner(db: Db) {
        with_user(&db.store, ALICE).await;
        with_client(&db.store, "web").await;
        let d = device("d", T0);
        db.store.device_authorization_insert(&d).await.unwrap();
        // Ten approvals and ten denials (two browser tabs, two nodes), at once.
        let nodes = [db.store.clone(), db.reopen().await];
        let attempts: Vec<_> = (0..20)
            .map(|i| {
                let store = nodes[i % 2].clone();
                let digest = d.device_code_digest;
                let decision = if i % 4 < 2 {
                    approved_status()
                } else {
                    DeviceAuthorizationStatus::Denied
                };
                tokio::spawn(async move {
                    let won = store
                        .device_authorization_decide(&digest, &decision, T0)
                        .await
                        .unwrap();
                    won.then_some(decision)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for attempt in attempts {
            winners.extend(attempt.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let stored = db
            .store
            .device_authorization_get(&d.device_code_digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(Some(stored.status), winners.pop());
    }

    pub(crate) async fn device_authorization_poll_slows_down_within_the_interval(db: Db) {
        let s = &db.store;
        with_client(s, "web").await;
        let d = device("d", T0);
        s.device_authorization_insert(&d).await.unwrap();
        let digest = d.device_code_digest;
        let poll = |now: i64| {
            let store = s.clone();
            async move {
                let p = store
                    .device_authorization_poll(&digest, "web", now)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(p.authorization.last_polled_at, Some(now));
                (p.too_fast, p.authorization.interval)
            }
        };
        // The first poll is never too fast.
        assert_eq!(poll(T0).await, (false, 5));
        // interval − 1 seconds later: slow_down, the interval grows by 5.
        assert_eq!(poll(T0 + 4).await, (true, 10));
        // Exactly the (new) interval later: fine.
        assert_eq!(poll(T0 + 14).await, (false, 10));
        // interval + 1 later: fine.
        assert_eq!(poll(T0 + 25).await, (false, 10));
        // Twice in the same second: slow_down again.
        assert_eq!(poll(T0 + 25).await, (true, 15));
        let stored = s
            .device_authorization_get(&d.device_code_digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.interval, stored.last_polled_at, stored.status),
            (15, Some(T0 + 25), DeviceAuthorizationStatus::Pending)
        );
    }

    pub(crate) async fn device_authorization_poll_by_another_client_writes_nothing(db: Db) {
        let s = &db.store;
        with_client(s, "web").await;
        with_client(s, "tv").await;
        let d = device("d", T0);
        s.device_authorization_insert(&d).await.unwrap();
        for now in [T0, T0, T0 + 1] {
            assert_eq!(
                s.device_authorization_poll(&d.device_code_digest, "tv", now)
                    .await
                    .unwrap(),
                None
            );
        }
        assert_eq!(
            s.device_authorization_poll(&SecretDigest::of("other"), "web", T0)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.device_authorization_get(&d.device_code_digest)
                .await
                .unwrap(),
            Some(d.clone())
        );
        // The owner's first poll is still its first.
        assert_eq!(
            s.device_authorization_poll(&d.device_code_digest, "web", T0 + 1)
                .await
                .unwrap(),
            Some(DevicePoll {
                authorization: DeviceAuthorization {
                    last_polled_at: Some(T0 + 1),
                    ..d
                },
                too_fast: false,
            })
        );
    }

    pub(crate) async fn device_authorization_poll_race_grows_the_interval_once_per_early_poll(
        db: Db,
    ) {
        with_client(&db.store, "web").await;
        let d = device("d", T0);
        db.store.device_authorization_insert(&d).await.unwrap();
        // 20 polls in the same second, on two "nodes": the first is on time, each of
        // the 19 others sees the one before it and adds 5 seconds.
        let nodes = [db.store.clone(), db.reopen().await];
        let polls: Vec<_> = (0..20)
            .map(|i| {
                let store = nodes[i % 2].clone();
                let digest = d.device_code_digest;
                tokio::spawn(async move {
                    store
                        .device_authorization_poll(&digest, "web", T0)
                        .await
                        .unwrap()
                        .unwrap()
                })
            })
            .collect();
        let mut seen = Vec::new();
        for poll in polls {
            let p = poll.await.unwrap();
            seen.push((p.authorization.interval, p.too_fast));
        }
        seen.sort_unstable();
        let expected: Vec<(i64, bool)> = (0..20).map(|i| (5 + 5 * i, i > 0)).collect();
        assert_eq!(seen, expected);
        let stored = db
            .store
            .device_authorization_get(&d.device_code_digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.interval, 100);
    }

    pub(crate) async fn device_authorization_consume_succeeds_once_and_only_when_approved_and_live(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let pending_one = device("pending", T0);
        let denied = DeviceAuthorization {
            status: DeviceAuthorizationStatus::Denied,
            ..device("denied", T0)
        };
        let ok = approved(device("ok", T0));
        for d in [&pending_one, &denied, &ok] {
            s.device_authorization_insert(d).await.unwrap();
        }
        for d in [&pending_one, &denied] {
            assert!(
                !s.device_authorization_consume(&d.device_code_digest, T0, None, "jti", T0 + 900)
                    .await
                    .unwrap()
            );
        }
        // At and after expires_at an approved one cannot be consumed.
        for late in [ok.expires_at, ok.expires_at + 1] {
            assert!(
                !s.device_authorization_consume(&ok.device_code_digest, late, None, "jti", late)
                    .await
                    .unwrap()
            );
        }
        let last_live = ok.expires_at - 1;
        assert!(
            s.device_authorization_consume(&ok.device_code_digest, last_live, None, "jti", T0)
                .await
                .unwrap()
        );
        assert!(
            !s.device_authorization_consume(&ok.device_code_digest, last_live, None, "jti", T0)
                .await
                .unwrap()
        );
        assert_eq!(
            s.device_authorization_get(&ok.device_code_digest)
                .await
                .unwrap(),
            Some(DeviceAuthorization {
                consumed_at: Some(last_live),
                ..ok
            })
        );
        assert!(
            !s.device_authorization_consume(&SecretDigest::of("other"), T0, None, "jti", T0)
                .await
                .unwrap()
        );
    }

    pub(crate) async fn device_authorization_consume_race_has_one_winner(db: Db) {
        with_user(&db.store, ALICE).await;
        with_client(&db.store, "web").await;
        let d = approved(device("d", T0));
        db.store.device_authorization_insert(&d).await.unwrap();
        // 20 polls of the approved code, on two "nodes", at once, each with its own
        // refresh token and access token.
        let nodes = [db.store.clone(), db.reopen().await];
        let attempts: Vec<_> = (0..20)
            .map(|i| {
                let store = nodes[i % 2].clone();
                let digest = d.device_code_digest;
                tokio::spawn(async move {
                    let token = refresh(&format!("poll {i}"), "device family", T0 + 1);
                    let won = store
                        .device_authorization_consume(
                            &digest,
                            T0 + 1,
                            Some(&token),
                            &format!("jti {i}"),
                            T0 + 900,
                        )
                        .await
                        .unwrap();
                    (i, won)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for attempt in attempts {
            let (i, won) = attempt.await.unwrap();
            if won {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        // Only the winner's refresh token and access token were stored.
        for i in 0..20 {
            let stored = db
                .store
                .refresh_token_get(&SecretDigest::of(&format!("refresh poll {i}")))
                .await
                .unwrap();
            let family = db
                .store
                .access_token_family(&format!("jti {i}"))
                .await
                .unwrap();
            let won = winners.contains(&i);
            assert_eq!(stored.is_some(), won, "refresh token of poll {i}");
            assert_eq!(family.is_some(), won, "access token of poll {i}");
        }
    }

    pub(crate) async fn device_authorization_consume_stores_the_refresh_token_in_the_same_transaction(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let d = approved(device("d", T0));
        s.device_authorization_insert(&d).await.unwrap();
        let token = refresh("first", "device family", T0 + 1);
        assert!(
            s.device_authorization_consume(
                &d.device_code_digest,
                T0 + 1,
                Some(&token),
                "jti first",
                T0 + 900
            )
            .await
            .unwrap()
        );
        assert_eq!(
            s.refresh_token_get(&token.token_digest).await.unwrap(),
            Some(token.clone())
        );
        assert_eq!(
            s.access_token_family("jti first").await.unwrap().as_deref(),
            Some("device family")
        );
        // Revoking the family reaches the access token issued with it.
        assert_eq!(
            s.refresh_family_revoke("device family", T0 + 2)
                .await
                .unwrap(),
            1
        );
        assert!(s.access_token_is_revoked("jti first").await.unwrap());
    }

    pub(crate) async fn device_authorization_consume_whose_refresh_insert_conflicts_writes_nothing(
        db: Db,
    ) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_client(s, "web").await;
        let d = approved(device("d", T0));
        s.device_authorization_insert(&d).await.unwrap();
        // A refresh token with the same digest, and an access token with the same jti,
        // are already stored: each insert fails inside the consume's transaction.
        let taken = refresh("taken", "other family", T0);
        s.refresh_token_insert(&taken, "jti taken", T0 + 900)
            .await
            .unwrap();
        let same_digest = RefreshToken {
            family_id: "device family".into(),
            ..taken.clone()
        };
        let fresh = refresh("fresh", "device family", T0 + 1);
        for (token, jti) in [(&same_digest, "jti new"), (&fresh, "jti taken")] {
            let err = s
                .device_authorization_consume(
                    &d.device_code_digest,
                    T0 + 1,
                    Some(token),
                    jti,
                    T0 + 900,
                )
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
            // Nothing was written: the code is not consumed, no token of the family.
            assert_eq!(
                s.device_authorization_get(&d.device_code_digest)
                    .await
                    .unwrap(),
                Some(d.clone())
            );
            assert_eq!(
                s.refresh_token_get(&fresh.token_digest).await.unwrap(),
                None
            );
            assert_eq!(s.access_token_family("jti new").await.unwrap(), None);
            assert_eq!(
                s.refresh_family_revoke("device family", T0).await.unwrap(),
                0
            );
        }
        assert_eq!(
            s.refresh_token_get(&taken.token_digest).await.unwrap(),
            Some(taken)
        );
        // So the device's next poll still redeems it.
        assert!(
            s.device_authorization_consume(
                &d.device_code_digest,
                T0 + 2,
                Some(&fresh),
                "jti new",
                T0 + 900
            )
            .await
            .unwrap()
        );
        assert_eq!(
            s.refresh_token_get(&fresh.token_digest).await.unwrap(),
            Some(fresh)
        );
    }

    pub(crate) async fn deleting_a_client_or_user_deletes_its_device_authorizations(db: Db) {
        let s = &db.store;
        with_user(s, ALICE).await;
        with_user(s, BOB).await;
        with_client(s, "web").await;
        with_client(s, "tv").await;
        let by_alice = approved(device("alice", T0));
        let by_bob = DeviceAuthorization {
            status: DeviceAuthorizationStatus::Approved {
                user_id: BOB.into(),
                auth_time: T0,
            },
            ..device("bob", T0)
        };
        let of_tv = DeviceAuthorization {
            client_id: "tv".into(),
            ..device("tv", T0)
        };
        for d in [&by_alice, &by_bob, &of_tv] {
            s.device_authorization_insert(d).await.unwrap();
        }
        assert!(s.user_delete("alice").await.unwrap());
        assert!(s.client_delete("tv").await.unwrap());
        for d in [&by_alice, &of_tv] {
            assert_eq!(
                s.device_authorization_get(&d.device_code_digest)
                    .await
                    .unwrap(),
                None
            );
        }
        assert_eq!(
            s.device_authorization_get(&by_bob.device_code_digest)
                .await
                .unwrap(),
            Some(by_bob)
        );
    }

    pub(crate) async fn undecodable_device_authorization_rows_are_corrupt_naming_the_column(
        db: Db,
    ) {
        let s = &db.store;
        with_client(s, "web").await;
        let d = device("d", T0);
        s.device_authorization_insert(&d).await.unwrap();
        db.raw("UPDATE device_authorizations SET scopes = 'openid'")
            .await;
        for err in [
            s.device_authorization_get(&d.device_code_digest)
                .await
                .unwrap_err(),
            s.device_authorization_poll(&d.device_code_digest, "web", T0)
                .await
                .unwrap_err(),
            s.device_authorization_find_by_user_code(&d.user_code_digest, T0)
                .await
                .unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt(what) if what.contains("device_authorizations.scopes")),
                "{err:?}"
            );
        }
    }

    /// Whether the schema refuses a pending row with a user code but no device code
    /// digest (the both-or-neither CHECK).
    async fn schema_refuses_a_half_device_row(db: &Db) -> bool {
        let s = &db.store;
        let p = pending("half", T0);
        s.pending_authorization_insert(&p).await.unwrap();
        let sql = "UPDATE pending_authorizations SET device_user_code = 'BCDF-GHJK' \
                   WHERE device_code_digest IS NULL";
        if db.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.is_err()
        } else {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.is_err()
        }
    }

    // Rate limits (GCRA buckets shared by every node).

    const NOW_MS: i64 = T0 * 1000;

    fn bucket(key: &str, interval_ms: i64, burst: u32) -> RateKey {
        RateKey::new(key, interval_ms, burst)
    }

    async fn rate_limit_rows(db: &Db) -> i64 {
        db.scalar("SELECT COUNT(*) FROM rate_limits").await
    }

    pub(crate) async fn rate_limit_take_allows_the_burst_then_refuses_with_the_wait(db: Db) {
        let s = &db.store;
        let keys = [bucket("k", 1000, 3)];
        for left in [2, 1, 0] {
            assert_eq!(
                s.rate_limit_take(&keys, NOW_MS).await.unwrap(),
                Ok(vec![left])
            );
        }
        assert_eq!(s.rate_limit_take(&keys, NOW_MS).await.unwrap(), Err(1000));
        assert_eq!(
            s.rate_limit_take(&keys, NOW_MS + 400).await.unwrap(),
            Err(600)
        );
        assert_eq!(rate_limit_rows(&db).await, 1);
    }

    pub(crate) async fn rate_limit_take_refills_one_cell_per_interval(db: Db) {
        let s = &db.store;
        let keys = [bucket("k", 1000, 3)];
        for _ in 0..3 {
            s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
        }
        // One cell back per interval ...
        assert_eq!(
            s.rate_limit_take(&keys, NOW_MS + 1000).await.unwrap(),
            Ok(vec![0])
        );
        assert_eq!(
            s.rate_limit_take(&keys, NOW_MS + 1000).await.unwrap(),
            Err(1000)
        );
        // ... and the whole burst once the bucket is full again.
        assert_eq!(
            s.rate_limit_take(&keys, NOW_MS + 4000).await.unwrap(),
            Ok(vec![2])
        );
    }

    pub(crate) async fn rate_limit_take_is_all_or_nothing_across_keys(db: Db) {
        let s = &db.store;
        // Cells left come back in the order given, whatever the keys' order.
        let z = bucket("z", 1000, 5);
        let a = bucket("a", 60_000, 2);
        assert_eq!(
            s.rate_limit_take(&[z.clone(), a.clone()], NOW_MS)
                .await
                .unwrap(),
            Ok(vec![4, 1])
        );
        assert_eq!(
            s.rate_limit_take(std::slice::from_ref(&a), NOW_MS)
                .await
                .unwrap(),
            Ok(vec![0])
        );
        // `a` is spent: `z` and a new key `m` keep their cells, and `m` gets no row.
        let m = bucket("m", 1000, 1);
        for _ in 0..3 {
            assert_eq!(
                s.rate_limit_take(&[z.clone(), m.clone(), a.clone()], NOW_MS)
                    .await
                    .unwrap(),
                Err(60_000)
            );
        }
        assert_eq!(rate_limit_rows(&db).await, 2);
        assert_eq!(
            s.rate_limit_take(&[m.clone(), z.clone()], NOW_MS)
                .await
                .unwrap(),
            Ok(vec![0, 3])
        );
        // The longest wait of the refusing keys is given.
        assert_eq!(
            s.rate_limit_take(&[m, a], NOW_MS).await.unwrap(),
            Err(60_000)
        );
    }

    pub(crate) async fn rate_limit_refund_gives_back_one_cell_and_never_more(db: Db) {
        let s = &db.store;
        let keys = [bucket("k", 1000, 2)];
        s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
        s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
        assert!(s.rate_limit_take(&keys, NOW_MS).await.unwrap().is_err());
        s.rate_limit_refund(&keys, NOW_MS).await.unwrap();
        assert_eq!(s.rate_limit_take(&keys, NOW_MS).await.unwrap(), Ok(vec![0]));
        // Three refunds for two cells: the bucket is full, not fuller.
        for _ in 0..3 {
            s.rate_limit_refund(&keys, NOW_MS).await.unwrap();
        }
        assert_eq!(s.rate_limit_take(&keys, NOW_MS).await.unwrap(), Ok(vec![1]));
        // A refund to a bucket without a row (full) stores nothing.
        s.rate_limit_refund(&[bucket("none", 1000, 2)], NOW_MS)
            .await
            .unwrap();
        assert_eq!(rate_limit_rows(&db).await, 1);
    }

    pub(crate) async fn rate_limit_take_race_allows_exactly_the_burst(db: Db) {
        // 20 takes on a burst of 10, at once, on two "nodes", each also taking a key
        // of its own and a shared roomy key (locks in several orders).
        let nodes = [db.store.clone(), db.reopen().await];
        let attempts: Vec<_> = (0..20)
            .map(|i| {
                let store = nodes[i % 2].clone();
                tokio::spawn(async move {
                    let keys = [
                        bucket(&format!("own {i}"), 1000, 1),
                        bucket("shared", 60_000, 10),
                        bucket("roomy", 1, 100),
                    ];
                    store.rate_limit_take(&keys, NOW_MS).await.unwrap()
                })
            })
            .collect();
        let mut allowed = 0;
        for attempt in attempts {
            if attempt.await.unwrap().is_ok() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10);
        assert_eq!(
            db.store
                .rate_limit_take(&[bucket("shared", 60_000, 10)], NOW_MS)
                .await
                .unwrap(),
            Err(60_000)
        );
        // Refused entries took nothing: 10 own keys, shared and roomy.
        assert_eq!(rate_limit_rows(&db).await, 12);
    }

    pub(crate) async fn purge_expired_deletes_full_rate_limit_buckets(db: Db) {
        let s = &db.store;
        s.rate_limit_take(&[bucket("second", 1000, 5)], NOW_MS)
            .await
            .unwrap()
            .unwrap();
        s.rate_limit_take(&[bucket("minute", 60_000, 5)], NOW_MS)
            .await
            .unwrap()
            .unwrap();
        let purged = |now| async move { s.purge_expired(now, 100).await.unwrap().rate_limits };
        assert_eq!(purged(T0).await, 0, "neither bucket is full yet");
        assert_eq!(purged(T0 + 1).await, 1, "full at its tat");
        assert_eq!(rate_limit_rows(&db).await, 1);
        assert_eq!(purged(T0 + 59).await, 0);
        assert_eq!(purged(T0 + 60).await, 1);
        assert_eq!(rate_limit_rows(&db).await, 0);
    }

    /// Rows left in the tables `purge_expired` cleans, behind the store's back.
    async fn remaining_rows(db: &Db) -> i64 {
        db.scalar(
            "SELECT (SELECT COUNT(*) FROM pending_authorizations) \
             + (SELECT COUNT(*) FROM browser_sessions) \
             + (SELECT COUNT(*) FROM authorization_codes) \
             + (SELECT COUNT(*) FROM revoked_access_tokens) \
             + (SELECT COUNT(*) FROM refresh_tokens) \
             + (SELECT COUNT(*) FROM family_access_tokens) \
             + (SELECT COUNT(*) FROM device_authorizations)",
        )
        .await
    }
}

// SQLite-only behaviour of `connect`.

#[tokio::test]
async fn sqlite_connect_creates_missing_directories_and_reopens_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("not").join("yet");
    let url = format!("sqlite://{}/portcullis.db", nested.display());
    assert!(!nested.exists());
    let store = connect(&url, &ConnectOptions::default()).await.unwrap();
    assert!(nested.join("portcullis.db").is_file());
    let client = full_client("kept");
    store.client_insert(&client).await.unwrap();
    drop(store);

    let reopened = connect(&url, &ConnectOptions::default()).await.unwrap();
    assert_eq!(reopened.client_get("kept").await.unwrap(), Some(client));
}

#[tokio::test]
async fn sqlite_connect_without_create_if_missing_refuses_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("absent");
    let url = format!("sqlite://{}/portcullis.db", nested.display());
    let options = ConnectOptions {
        create_if_missing: false,
        acquire_timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    };
    let err = connect(&url, &options).await.err().unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!nested.exists());
}

#[tokio::test]
async fn sqlite_in_memory_database_works() {
    let store = connect("sqlite::memory:", &ConnectOptions::default())
        .await
        .unwrap();
    let client = full_client("ephemeral");
    store.client_insert(&client).await.unwrap();
    assert_eq!(store.client_get("ephemeral").await.unwrap(), Some(client));
}

#[tokio::test]
async fn connect_refuses_other_schemes_without_echoing_the_url() {
    for url in [
        "mysql://root:hunter2@db.example/portcullis",
        "portcullis.db",
        "root:hunter2@db.example/portcullis",
    ] {
        let err = connect(url, &ConnectOptions::default())
            .await
            .err()
            .unwrap();
        let StoreError::Other(message) = &err else {
            panic!("{url}: {err:?}");
        };
        assert!(message.contains("sqlite:"), "{message}");
        assert!(message.contains("postgres:"), "{message}");
        assert!(message.contains("postgresql:"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
    let err = connect("mysql://x/y", &ConnectOptions::default())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("`mysql`"), "{err}");
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let options = ConnectOptions {
        acquire_timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    };
    // Port 9 (discard) on loopback: nothing listens there in a test environment.
    let err = connect(
        "postgres://portcullis:s3cret@127.0.0.1:9/portcullis",
        &options,
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

// Fixtures.

/// An arbitrary fixed time (seconds since the epoch).
const T0: i64 = 1_700_000_000;

fn public_client(id: &str, source: RecordSource) -> Client {
    Client {
        client_id: id.into(),
        client_name: None,
        secrets: None,
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        redirect_uris: vec!["http://127.0.0.1:8080/callback".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: vec!["openid".into()],
        audiences: vec![],
        skip_consent: false,
        introspection_audiences: vec![],
        id_token_signed_response_alg: SigningAlgorithm::Rs256,
        claims: Map::new(),
        source,
        created_at: T0,
        updated_at: T0,
    }
}

/// Every field set, none to its default.
fn full_client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        client_name: Some("Accounting — “Ledger” ✓".into()),
        secrets: Some(ClientSecrets {
            current: SecretDigest::of("current secret with at least 32 characters"),
            previous: Some((
                SecretDigest::of("previous secret with at least 32 characters"),
                T0 + 3_600,
            )),
        }),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        redirect_uris: vec![
            "https://ledger.example/callback".into(),
            "https://ledger.example/other?x=1".into(),
        ],
        post_logout_redirect_uris: vec!["https://ledger.example/bye".into()],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::DeviceCode,
        ],
        scopes: vec!["openid".into(), "profile".into(), "ledger:write".into()],
        audiences: vec![
            "https://api.ledger.example".into(),
            "https://reports.example".into(),
        ],
        skip_consent: true,
        introspection_audiences: vec![
            "https://api.ledger.example".into(),
            "urn:ledger:reports ✓".into(),
        ],
        id_token_signed_response_alg: SigningAlgorithm::Es256,
        claims: claims(),
        source: RecordSource::Config,
        created_at: T0 - 7,
        updated_at: T0 + 11,
    }
}

fn claims() -> Map<String, Value> {
    json!({
        "tenant": "acme",
        "roles": ["reader", "writer"],
        "level": 3,
        "ratio": 0.5,
        "nested": {"enabled": true, "none": null},
        "unicode": "ünïcødé"
    })
    .as_object()
    .unwrap()
    .clone()
}

fn user(username: &str, user_id: &str, source: RecordSource) -> User {
    User {
        user_id: user_id.into(),
        username: username.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        email: Some(format!("{username}@example.com")),
        name: Some(format!("{username} Example")),
        claims: claims(),
        source,
        created_at: T0,
        updated_at: T0 + 1,
    }
}

fn key(kid: &str, alg: SigningAlgorithm, created_at: i64) -> StoredSigningKey {
    let public_jwk = match alg {
        SigningAlgorithm::Es256 => Jwk {
            kty: "EC".into(),
            use_: "sig".into(),
            alg: "ES256".into(),
            kid: kid.into(),
            crv: Some("P-256".into()),
            x: Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
            y: Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
            n: None,
            e: None,
        },
        SigningAlgorithm::Rs256 => Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: kid.into(),
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4".into()),
            e: Some("AQAB".into()),
        },
    };
    StoredSigningKey {
        kid: kid.into(),
        alg,
        status: KeyStatus::Active,
        public_jwk,
        // Not a real sealed key: bytes that would break a text column (NUL, 0xFF).
        sealed_private_key: vec![0, 1, 2, 0xFF, 0xFE, 0, 42],
        created_at,
        activate_at: None,
        retired_at: None,
        publish_until: None,
    }
}

/// A `next` key, as a rotation stages it: published, signing from `activate_at`.
fn next_key(
    kid: &str,
    alg: SigningAlgorithm,
    created_at: i64,
    activate_at: i64,
) -> StoredSigningKey {
    StoredSigningKey {
        status: KeyStatus::Next,
        activate_at: Some(activate_at),
        ..key(kid, alg, created_at)
    }
}

/// Subjects of the users [`with_user`] creates.
const ALICE: &str = "0190-alice";
const BOB: &str = "0190-bob";

/// Stores a user with this `user_id` (the username is derived from it).
async fn with_user(store: &Arc<dyn Store>, user_id: &str) {
    let username = user_id.trim_start_matches("0190-");
    store
        .user_insert(&user(username, user_id, RecordSource::Admin))
        .await
        .unwrap();
}

/// Stores a public client with this id.
async fn with_client(store: &Arc<dyn Store>, client_id: &str) {
    store
        .client_insert(&public_client(client_id, RecordSource::Admin))
        .await
        .unwrap();
}

/// A session of `user_id` whose cookie is `cookie`, live from T0 for an hour.
fn session(cookie: &str, user_id: &str) -> BrowserSession {
    BrowserSession {
        session_digest: SecretDigest::of(cookie),
        user_id: user_id.into(),
        auth_time: T0 - 60,
        created_at: T0 - 60,
        expires_at: T0 + 3_600,
    }
}

/// A request with only the required fields.
fn bare_request() -> ValidatedAuthorizationRequest {
    ValidatedAuthorizationRequest::from_stored(StoredAuthorizationRequest {
        client_id: "web".into(),
        redirect_uri: "http://127.0.0.1:8080/callback".into(),
        redirect_uri_sent: false,
        scopes: BTreeSet::new(),
        state: None,
        nonce: None,
        code_challenge: None,
        resources: vec![],
        prompt: Prompt::default(),
        max_age: None,
        login_hint: None,
    })
    .unwrap()
}

/// A request with every field set, none to its default.
fn full_request() -> ValidatedAuthorizationRequest {
    ValidatedAuthorizationRequest::from_stored(StoredAuthorizationRequest {
        client_id: "ledger".into(),
        redirect_uri: "https://ledger.example/callback?x=1&y=ü".into(),
        redirect_uri_sent: true,
        scopes: scopes(&["openid", "profile", "ledger:write"]),
        state: Some("af0ifjsldkj \"quoted\"".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        resources: vec![
            "https://reports.example".into(),
            "https://api.ledger.example".into(),
        ],
        prompt: Prompt {
            none: false,
            login: true,
            consent: true,
        },
        max_age: Some(300),
        login_hint: Some("alice@example.com".into()),
    })
    .unwrap()
}

/// A pending request whose id is `id`, created at `created_at`, nobody logged in yet.
fn pending(id: &str, created_at: i64) -> PendingAuthorization {
    PendingAuthorization {
        id_digest: SecretDigest::of(id),
        request: bare_request(),
        browser_digest: SecretDigest::of(&format!("browser of {id}")),
        csrf_token: format!("csrf {id}"),
        user_id: None,
        auth_time: None,
        device: None,
        created_at,
        expires_at: created_at + PENDING_AUTHORIZATION_TTL,
    }
}

/// An unused code `code {name}` of [`ALICE`] for client `web`, valid 60 s from
/// `created_at`.
fn code(name: &str, created_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_digest: SecretDigest::of(&format!("code {name}")),
        client_id: "web".into(),
        user_id: ALICE.into(),
        redirect_uri: "http://127.0.0.1:8080/callback".into(),
        redirect_uri_sent: true,
        code_challenge: None,
        scopes: vec![],
        resources: vec![],
        nonce: None,
        auth_time: created_at - 30,
        created_at,
        expires_at: created_at + 60,
        consumed_at: None,
        access_token_jti: None,
        access_token_expires_at: None,
    }
}

/// A live refresh token `refresh {name}` of [`ALICE`] for client `web` in `family`,
/// valid a day from `created_at`.
fn refresh(name: &str, family: &str, created_at: i64) -> RefreshToken {
    RefreshToken {
        token_digest: SecretDigest::of(&format!("refresh {name}")),
        family_id: family.into(),
        client_id: "web".into(),
        user_id: ALICE.into(),
        scopes: vec![],
        resources: vec![],
        auth_time: created_at - 30,
        created_at,
        expires_at: created_at + 86_400,
        rotated_at: None,
        revoked_at: None,
    }
}

/// A pending device authorization `device {name}` (user code `user code {name}`) of
/// client `web` for `openid`, interval 5 s, valid 600 s from `created_at`.
fn device(name: &str, created_at: i64) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code_digest: SecretDigest::of(&format!("device {name}")),
        user_code_digest: SecretDigest::of(&format!("user code {name}")),
        client_id: "web".into(),
        scopes: scopes(&["openid"]),
        resources: vec![],
        status: DeviceAuthorizationStatus::Pending,
        interval: 5,
        last_polled_at: None,
        consumed_at: None,
        created_at,
        expires_at: created_at + 600,
    }
}

/// Approved by [`ALICE`], who logged in at T0 − 30.
fn approved_status() -> DeviceAuthorizationStatus {
    DeviceAuthorizationStatus::Approved {
        user_id: ALICE.into(),
        auth_time: T0 - 30,
    }
}

/// `d`, approved by [`ALICE`].
fn approved(d: DeviceAuthorization) -> DeviceAuthorization {
    DeviceAuthorization {
        status: approved_status(),
        ..d
    }
}

fn scopes(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|&s| s.to_owned()).collect()
}

fn ids(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.client_id.as_str()).collect()
}

fn ids_of_keys(keys: &[StoredSigningKey]) -> Vec<&str> {
    keys.iter().map(|k| k.kid.as_str()).collect()
}
