//! The `dynamic_clients` and `initial_access_tokens` tables (RFC 7591 / RFC 7592).

use super::*;
use portcullis_core::client::dynamic::{DynamicRegistration, LAST_USE_GRANULARITY};

store_cases!(
    dynamic_client_round_trip_reads_the_source_as_dynamic,
    dynamic_client_insert_stops_at_the_ceiling,
    dynamic_client_replace_keeps_created_at_and_the_token,
    dynamic_client_touch_writes_at_most_once_per_granularity,
    dynamic_client_delete_unused_cascades_and_spares_recent_and_other_clients,
    config_sync_never_deletes_a_dynamic_client,
    initial_access_tokens_are_found_by_digest,
);

fn registration(client_id: &str, token: &str, now: i64) -> DynamicRegistration {
    let mut metadata = Map::new();
    metadata.insert("client_name".into(), json!("Agent"));
    DynamicRegistration {
        client_id: client_id.into(),
        registration_token_digest: SecretDigest::of(token),
        metadata,
        last_used_at: now,
        created_at: now,
    }
}

fn dynamic(id: &str) -> Client {
    public_client(id, RecordSource::Dynamic)
}

async fn dynamic_client_round_trip_reads_the_source_as_dynamic(db: Db) {
    let s = &db.store;
    let client = dynamic("dcr-a");
    assert!(
        s.dynamic_client_insert(&client, &registration("dcr-a", "t", 100), 10)
            .await
            .unwrap()
    );
    assert_eq!(s.client_get("dcr-a").await.unwrap(), Some(client.clone()));
    assert_eq!(
        s.dynamic_client_get("dcr-a").await.unwrap(),
        Some(registration("dcr-a", "t", 100))
    );
    assert_eq!(s.dynamic_client_get("other").await.unwrap(), None);
    let listed = s.client_list().await.unwrap();
    assert_eq!(listed, vec![client.clone()]);
    let err = s
        .dynamic_client_insert(&client, &registration("dcr-a", "u", 100), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn dynamic_client_insert_stops_at_the_ceiling(db: Db) {
    let s = &db.store;
    for id in ["dcr-1", "dcr-2"] {
        assert!(
            s.dynamic_client_insert(&dynamic(id), &registration(id, id, 1), 2)
                .await
                .unwrap()
        );
    }
    assert!(
        !s.dynamic_client_insert(&dynamic("dcr-3"), &registration("dcr-3", "x", 1), 2)
            .await
            .unwrap()
    );
    assert!(
        s.client_get("dcr-3").await.unwrap().is_none(),
        "nothing written"
    );
}

async fn dynamic_client_replace_keeps_created_at_and_the_token(db: Db) {
    let s = &db.store;
    let client = dynamic("dcr-a");
    s.dynamic_client_insert(&client, &registration("dcr-a", "t", 100), 10)
        .await
        .unwrap();
    let mut changed = client.clone();
    changed.client_name = Some("Renamed".into());
    changed.created_at += 50;
    changed.updated_at += 50;
    let mut metadata = Map::new();
    metadata.insert("client_name".into(), json!("Renamed"));
    assert!(s.dynamic_client_replace(&changed, &metadata).await.unwrap());
    let stored = s.client_get("dcr-a").await.unwrap().unwrap();
    assert_eq!(stored.client_name.as_deref(), Some("Renamed"));
    assert_eq!(stored.created_at, client.created_at);
    assert_eq!(stored.source, RecordSource::Dynamic);
    let reg = s.dynamic_client_get("dcr-a").await.unwrap().unwrap();
    assert_eq!(reg.metadata, metadata);
    assert_eq!(reg.registration_token_digest, SecretDigest::of("t"));
    assert!(
        !s.dynamic_client_replace(&dynamic("gone"), &metadata)
            .await
            .unwrap()
    );
}

async fn dynamic_client_touch_writes_at_most_once_per_granularity(db: Db) {
    let s = &db.store;
    s.dynamic_client_insert(&dynamic("dcr-a"), &registration("dcr-a", "t", 1000), 10)
        .await
        .unwrap();
    let last = |s: Arc<dyn Store>| async move {
        s.dynamic_client_get("dcr-a")
            .await
            .unwrap()
            .unwrap()
            .last_used_at
    };
    s.dynamic_client_touch("dcr-a", 1000 + LAST_USE_GRANULARITY)
        .await
        .unwrap();
    assert_eq!(last(s.clone()).await, 1000, "exactly a day later: not yet");
    s.dynamic_client_touch("dcr-a", 1001 + LAST_USE_GRANULARITY)
        .await
        .unwrap();
    assert_eq!(last(s.clone()).await, 1001 + LAST_USE_GRANULARITY);
    s.dynamic_client_touch("dcr-a", 1002 + LAST_USE_GRANULARITY)
        .await
        .unwrap();
    assert_eq!(last(s.clone()).await, 1001 + LAST_USE_GRANULARITY);
}

async fn dynamic_client_delete_unused_cascades_and_spares_recent_and_other_clients(db: Db) {
    let s = &db.store;
    s.dynamic_client_insert(&dynamic("dcr-old"), &registration("dcr-old", "a", 100), 10)
        .await
        .unwrap();
    s.dynamic_client_insert(&dynamic("dcr-new"), &registration("dcr-new", "b", 200), 10)
        .await
        .unwrap();
    s.client_insert(&public_client("admin-app", RecordSource::Admin))
        .await
        .unwrap();
    with_user(s, ALICE).await;
    s.authorization_code_insert(&AuthorizationCode {
        client_id: "dcr-old".into(),
        ..code("c1", 100)
    })
    .await
    .unwrap();
    assert!(
        s.dynamic_client_delete_unused(100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.dynamic_client_delete_unused(101).await.unwrap(),
        ["dcr-old"]
    );
    assert!(s.client_get("dcr-old").await.unwrap().is_none());
    assert!(s.dynamic_client_get("dcr-old").await.unwrap().is_none());
    assert!(s.client_get("dcr-new").await.unwrap().is_some());
    assert!(s.client_get("admin-app").await.unwrap().is_some());
}

async fn config_sync_never_deletes_a_dynamic_client(db: Db) {
    let s = &db.store;
    s.dynamic_client_insert(&dynamic("dcr-a"), &registration("dcr-a", "t", 1), 10)
        .await
        .unwrap();
    assert!(s.client_delete_config_except(&[]).await.unwrap().is_empty());
    assert!(s.client_get("dcr-a").await.unwrap().is_some());
}

async fn initial_access_tokens_are_found_by_digest(db: Db) {
    let s = &db.store;
    assert!(
        !s.initial_access_token_exists(&SecretDigest::of("t"))
            .await
            .unwrap()
    );
    s.initial_access_token_insert(&SecretDigest::of("t"), 5)
        .await
        .unwrap();
    assert!(
        s.initial_access_token_exists(&SecretDigest::of("t"))
            .await
            .unwrap()
    );
    assert!(
        !s.initial_access_token_exists(&SecretDigest::of("u"))
            .await
            .unwrap()
    );
}
