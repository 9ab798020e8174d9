//! The `resources` table.

use super::*;
use portcullis_core::resource::Resource;

store_cases!(
    resource_round_trip_keeps_every_field_and_lists_by_code_point,
    resource_insert_of_an_existing_identifier_is_a_conflict,
    resource_upsert_replaces_keeping_created_at,
    resource_delete_config_except_spares_kept_and_admin_resources,
);

fn resource(identifier: &str, source: RecordSource) -> Resource {
    Resource {
        identifier: identifier.into(),
        name: Some("Example MCP server".into()),
        scopes: vec!["tools:read".into(), "tools:call".into()],
        default_scopes: vec!["tools:read".into()],
        dynamic_clients: true,
        scope_descriptions: [("tools:read".to_owned(), "See the tools".to_owned())].into(),
        source,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_001,
    }
}

async fn resource_round_trip_keeps_every_field_and_lists_by_code_point(db: Db) {
    let s = &db.store;
    assert_eq!(s.resource_list().await.unwrap(), vec![]);
    let mut bare = resource("https://b.example/Z", RecordSource::Admin);
    bare.name = None;
    bare.default_scopes.clear();
    bare.dynamic_clients = false;
    bare.scope_descriptions.clear();
    let full = resource("https://b.example/a", RecordSource::Config);
    s.resource_insert(&full).await.unwrap();
    s.resource_insert(&bare).await.unwrap();
    assert_eq!(
        s.resource_get("https://b.example/a").await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(s.resource_get("https://b.example/A").await.unwrap(), None);
    // Code point order on both backends: upper case before lower case.
    assert_eq!(s.resource_list().await.unwrap(), vec![bare, full]);
}

async fn resource_insert_of_an_existing_identifier_is_a_conflict(db: Db) {
    let s = &db.store;
    let first = resource("https://mcp.example/mcp", RecordSource::Admin);
    s.resource_insert(&first).await.unwrap();
    let err = s.resource_insert(&first).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn resource_upsert_replaces_keeping_created_at(db: Db) {
    let s = &db.store;
    let original = resource("https://mcp.example/mcp", RecordSource::Config);
    s.resource_upsert(&original).await.unwrap();
    let mut changed = original.clone();
    changed.scopes = vec!["tools:read".into()];
    changed.created_at += 5_000;
    changed.updated_at += 5_000;
    s.resource_upsert(&changed).await.unwrap();
    let stored = s
        .resource_get("https://mcp.example/mcp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.created_at, original.created_at);
    assert_eq!(stored.updated_at, changed.updated_at);
    assert_eq!(stored.scopes, ["tools:read"]);
}

async fn resource_delete_config_except_spares_kept_and_admin_resources(db: Db) {
    let s = &db.store;
    for (id, source) in [
        ("https://a.example", RecordSource::Config),
        ("https://b.example", RecordSource::Config),
        ("https://c.example", RecordSource::Config),
        ("https://d.example", RecordSource::Admin),
    ] {
        s.resource_insert(&resource(id, source)).await.unwrap();
    }
    let gone = s
        .resource_delete_config_except(&["https://b.example".into()])
        .await
        .unwrap();
    assert_eq!(gone, ["https://a.example", "https://c.example"]);
    assert!(s.resource_delete("https://d.example").await.unwrap());
    assert!(!s.resource_delete("https://d.example").await.unwrap());
    let left: Vec<String> = s
        .resource_list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.identifier)
        .collect();
    assert_eq!(left, ["https://b.example"]);
}
