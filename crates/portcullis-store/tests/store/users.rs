//! The `users` table.

use super::*;

store_cases!(
    user_delete_config_except_spares_kept_and_admin_users,
    users_insert_get_and_list_by_code_point,
    user_insert_of_an_existing_username_is_a_conflict,
    user_upsert_keeps_user_id_and_created_at,
    user_delete_reports_whether_it_existed,
    user_get_finds_a_user_by_id_not_by_username,
    usernames_compare_without_case_and_keep_their_display_form,
    user_keys_backfill_keys_old_rows_and_names_clashes,
    user_set_disabled_round_trips_and_survives_an_upsert,
);

async fn user_delete_config_except_spares_kept_and_admin_users(db: Db) {
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

async fn users_insert_get_and_list_by_code_point(db: Db) {
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
    // RFC 8265 case mapping (issue 16): `zoe` is `Zoe`.
    assert_eq!(
        s.user_get_by_username("zoe").await.unwrap(),
        Some(zoe.clone())
    );
    assert_eq!(s.user_list().await.unwrap(), vec![zoe, bob]);
}

async fn user_insert_of_an_existing_username_is_a_conflict(db: Db) {
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

async fn user_upsert_keeps_user_id_and_created_at(db: Db) {
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

async fn user_delete_reports_whether_it_existed(db: Db) {
    let s = &db.store;
    s.user_insert(&user("dave", "0190-dave", RecordSource::Admin))
        .await
        .unwrap();
    assert!(s.user_delete("dave").await.unwrap());
    assert_eq!(s.user_get_by_username("dave").await.unwrap(), None);
    assert!(!s.user_delete("dave").await.unwrap());
    assert_eq!(s.user_list().await.unwrap(), vec![]);
}

async fn user_get_finds_a_user_by_id_not_by_username(db: Db) {
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

/// Issue 16 item 6: `Demo` and `demo` were two users. Usernames now compare by their
/// RFC 8265 UsernameCaseMapped form (case, width, NFC) and keep the display form.
async fn usernames_compare_without_case_and_keep_their_display_form(db: Db) {
    let s = &db.store;
    let demo = user("Demo", "0190-demo", RecordSource::Admin);
    s.user_insert(&demo).await.unwrap();
    for typed in ["Demo", "demo", "DEMO", "\u{FF24}\u{FF45}\u{FF4D}\u{FF4F}"] {
        assert_eq!(
            s.user_get_by_username(typed).await.unwrap(),
            Some(demo.clone()),
            "{typed}"
        );
    }
    let err = s
        .user_insert(&user("demo", "0190-other", RecordSource::Admin))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    // An upsert by another spelling is the same user, now shown as spelled.
    let mut respelled = user("DEMO", "0190-would-be-new", RecordSource::Admin);
    respelled.created_at = T0 + 5;
    s.user_upsert(&respelled).await.unwrap();
    let stored = s.user_get_by_username("demo").await.unwrap().unwrap();
    assert_eq!(
        (stored.user_id.as_str(), stored.username.as_str()),
        ("0190-demo", "DEMO")
    );
    assert_eq!(s.user_list().await.unwrap().len(), 1);

    // Configuration users are kept by key too.
    assert!(
        s.user_delete_config_except(&["demo".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.user_delete("dEmO").await.unwrap());
    assert_eq!(s.user_list().await.unwrap(), vec![]);
}

/// Issue 16 item 6: rows stored before usernames had a key get one; two usernames
/// with the same key are named, never merged, and one can be deleted by its exact
/// name, after which the other gets its key.
async fn user_keys_backfill_keys_old_rows_and_names_clashes(db: Db) {
    let s = &db.store;
    for (name, id) in [("demo", "0190-demo"), ("Solo", "0190-solo")] {
        s.user_insert(&user(name, id, RecordSource::Admin))
            .await
            .unwrap();
    }
    // As before migration 0009: no keys, and `Demo` beside `demo`.
    db.raw("UPDATE users SET username_key = NULL").await;
    db.raw(
        "INSERT INTO users (user_id, username, password_hash, claims, source, created_at, updated_at) \
         VALUES ('0190-Demo', 'Demo', 'x', '{}', 'admin', 0, 0)",
    )
    .await;
    assert_eq!(s.user_get_by_username("solo").await.unwrap(), None);

    let clashes = s.user_keys_backfill().await.unwrap();
    assert_eq!(clashes, vec![vec!["Demo".to_owned(), "demo".to_owned()]]);
    assert_eq!(
        s.user_get_by_username("SOLO")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        "0190-solo"
    );
    // Neither clashing account is found by a lookup: no silent merge.
    assert_eq!(s.user_get_by_username("demo").await.unwrap(), None);
    assert_eq!(s.user_list().await.unwrap().len(), 3);

    assert!(s.user_delete("Demo").await.unwrap());
    assert!(s.user_keys_backfill().await.unwrap().is_empty());
    assert_eq!(
        s.user_get_by_username("DEMO")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        "0190-demo"
    );
    assert!(s.user_keys_backfill().await.unwrap().is_empty());
}

async fn user_set_disabled_round_trips_and_survives_an_upsert(db: Db) {
    let s = &db.store;
    let erin = user("erin", "0190-erin", RecordSource::Config);
    s.user_insert(&erin).await.unwrap();
    assert!(
        s.user_set_disabled("0190-erin", Some(T0 + 5))
            .await
            .unwrap()
    );
    let stored = s.user_get("0190-erin").await.unwrap().unwrap();
    assert_eq!(stored.disabled_at, Some(T0 + 5));
    // The config sync's upsert does not re-enable.
    s.user_upsert(&User {
        name: Some("Erin".into()),
        ..erin
    })
    .await
    .unwrap();
    let stored = s.user_get_by_username("erin").await.unwrap().unwrap();
    assert_eq!(
        (stored.disabled_at, stored.name.as_deref()),
        (Some(T0 + 5), Some("Erin"))
    );
    assert!(s.user_set_disabled("0190-erin", None).await.unwrap());
    assert_eq!(
        s.user_get("0190-erin").await.unwrap().unwrap().disabled_at,
        None
    );
    assert!(!s.user_set_disabled("nobody", Some(T0)).await.unwrap());
}
