//! The `users` table.

use super::*;

store_cases!(
    user_delete_config_except_spares_kept_and_admin_users,
    users_insert_get_and_list_by_code_point,
    user_insert_of_an_existing_username_is_a_conflict,
    user_upsert_keeps_user_id_and_created_at,
    user_delete_reports_whether_it_existed,
    user_get_finds_a_user_by_id_not_by_username,
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
    assert_eq!(s.user_get_by_username("zoe").await.unwrap(), None);
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
