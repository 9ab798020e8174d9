//! The `clients` table.

use super::*;

store_cases!(
    clients_insert_get_and_list_by_code_point,
    client_insert_of_an_existing_id_is_a_conflict,
    client_round_trip_keeps_every_field,
    client_upsert_inserts_then_replaces_keeping_created_at,
    client_delete_reports_whether_it_existed,
    client_set_secrets_replaces_the_digests_and_updated_at,
    client_set_secrets_of_an_unknown_client_is_not_found,
    client_delete_config_except_spares_kept_and_admin_clients,
    undecodable_rows_are_corrupt_naming_the_column,
    client_introspection_audiences_round_trip_and_default_to_empty,
    client_allowed_origins_round_trip_and_default_to_empty,
    client_from_a_metadata_document_round_trips_and_survives_config_sync,
    client_jwks_round_trip_and_default_to_none,
);

/// Migration 0015: `source = 'metadata_document'` is accepted (SQLite rebuilt the
/// table to widen its CHECK), and config-as-code deletion leaves such clients alone.
async fn client_from_a_metadata_document_round_trips_and_survives_config_sync(db: Db) {
    let s = &db.store;
    let id = "https://agent.example.com/client.json";
    let client = public_client(id, RecordSource::MetadataDocument);
    s.client_upsert(&client).await.unwrap();
    assert_eq!(s.client_get(id).await.unwrap(), Some(client));
    assert_eq!(
        s.client_delete_config_except(&[]).await.unwrap(),
        Vec::<String>::new()
    );
    assert!(s.client_get(id).await.unwrap().is_some());
    assert!(s.client_delete(id).await.unwrap());
}

async fn client_jwks_round_trip_and_default_to_none(db: Db) {
    let s = &db.store;
    let keyed = key_client("keyed");
    s.client_insert(&keyed).await.unwrap();
    s.client_insert(&public_client("plain", RecordSource::Admin))
        .await
        .unwrap();
    let stored = s.client_get("keyed").await.unwrap().unwrap();
    assert_eq!(stored, keyed);
    assert_eq!(
        stored.jwks.unwrap().keys().len(),
        2,
        "both keys, in order, kept"
    );
    assert_eq!(s.client_get("plain").await.unwrap().unwrap().jwks, None);
    // The upsert replaces the keys (a key rotation through the config file).
    let mut rotated = key_client("keyed");
    rotated.jwks = key_client("other").jwks.map(|j| {
        let only = serde_json::json!({ "keys": [j.keys()[1]] });
        portcullis_core::client::ClientJwks::parse(&only).unwrap()
    });
    s.client_upsert(&rotated).await.unwrap();
    let stored = s.client_get("keyed").await.unwrap().unwrap();
    assert_eq!(stored.jwks.unwrap().keys().len(), 1);
}

async fn clients_insert_get_and_list_by_code_point(db: Db) {
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

async fn client_insert_of_an_existing_id_is_a_conflict(db: Db) {
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

async fn client_round_trip_keeps_every_field(db: Db) {
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

async fn client_upsert_inserts_then_replaces_keeping_created_at(db: Db) {
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

async fn client_delete_reports_whether_it_existed(db: Db) {
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

async fn client_set_secrets_replaces_the_digests_and_updated_at(db: Db) {
    let s = &db.store;
    let client = full_client("rotating");
    s.client_insert(&client).await.unwrap();

    let rotated = ClientSecrets {
        current: ClientSecretDigest::Sha256(SecretDigest::of(
            "the new secret, at least thirty-two characters",
        )),
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

async fn client_set_secrets_of_an_unknown_client_is_not_found(db: Db) {
    let secrets = ClientSecrets {
        current: ClientSecretDigest::Sha256(SecretDigest::of("x")),
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

async fn client_delete_config_except_spares_kept_and_admin_clients(db: Db) {
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

async fn undecodable_rows_are_corrupt_naming_the_column(db: Db) {
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

async fn client_introspection_audiences_round_trip_and_default_to_empty(db: Db) {
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

async fn client_allowed_origins_round_trip_and_default_to_empty(db: Db) {
    let s = &db.store;
    let mut client = public_client("spa", RecordSource::Admin);
    client.allowed_origins = vec!["https://app.example".into(), "http://localhost:5173".into()];
    s.client_insert(&client).await.unwrap();
    assert_eq!(s.client_get("spa").await.unwrap(), Some(client.clone()));
    // The upsert replaces them, as every other column.
    client.allowed_origins = vec![];
    client.updated_at += 1;
    s.client_upsert(&client).await.unwrap();
    assert_eq!(s.client_get("spa").await.unwrap(), Some(client));

    // A client written without the column (as before migration 0007) has none, so it
    // is called from its redirect URIs' origins.
    db.raw(
        "INSERT INTO clients (client_id, token_endpoint_auth_method, redirect_uris, \
         post_logout_redirect_uris, grant_types, scopes, audiences, skip_consent, \
         id_token_signed_response_alg, claims, source, created_at, updated_at) \
         VALUES ('old', 'none', '[]', '[]', '[]', '[]', '[]', false, 'RS256', '{}', \
         'config', 1, 1)",
    )
    .await;
    let old = s.client_get("old").await.unwrap().unwrap();
    assert_eq!(old.allowed_origins, Vec::<String>::new());

    db.raw("UPDATE clients SET allowed_origins = 'x' WHERE client_id = 'old'")
        .await;
    let err = s.client_get("old").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(what) if what.contains("clients.allowed_origins")),
        "{err:?}"
    );
}
