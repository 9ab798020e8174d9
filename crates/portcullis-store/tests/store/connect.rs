//! Opening the database: a round trip, a second node opening the same database, and
//! `connect` itself (SQLite files and memory, refused schemes, an unreachable server).

use super::*;

store_cases!(ping_answers, reopening_keeps_the_data,);

async fn ping_answers(db: Db) {
    db.store.ping().await.unwrap();
}

async fn reopening_keeps_the_data(db: Db) {
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
