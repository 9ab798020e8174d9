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

use portcullis_core::client::{Client, ClientSecrets, RecordSource};
use portcullis_core::keys::{KeyStatus, SigningAlgorithm, StoredSigningKey};
use portcullis_core::secret::SecretDigest;
use portcullis_core::user::User;
use portcullis_core::{Store, StoreError};
use portcullis_proto::grant::{GrantType, TokenEndpointAuthMethod};
use portcullis_proto::jwk::Jwk;
use portcullis_store::{ConnectOptions, connect};
use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, Connection};
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
                reopening_keeps_the_data,
                undecodable_rows_are_corrupt_naming_the_column,
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
        retired_at: None,
        publish_until: None,
    }
}

fn ids(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.client_id.as_str()).collect()
}

fn ids_of_keys(keys: &[StoredSigningKey]) -> Vec<&str> {
    keys.iter().map(|k| k.kid.as_str()).collect()
}
