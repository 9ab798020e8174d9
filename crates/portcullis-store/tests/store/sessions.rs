//! The `browser_sessions` table.

use super::*;

store_cases!(
    session_insert_get_and_delete,
    session_get_stops_at_expires_at,
    session_insert_of_an_existing_digest_is_a_conflict,
    session_insert_for_an_unknown_user_is_not_found,
    session_delete_for_user_removes_only_that_users_sessions,
    session_list_lists_live_sessions_of_one_user_or_all,
);

async fn session_insert_get_and_delete(db: Db) {
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

async fn session_get_stops_at_expires_at(db: Db) {
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

async fn session_insert_of_an_existing_digest_is_a_conflict(db: Db) {
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

async fn session_insert_for_an_unknown_user_is_not_found(db: Db) {
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

async fn session_delete_for_user_removes_only_that_users_sessions(db: Db) {
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

async fn session_list_lists_live_sessions_of_one_user_or_all(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_user(s, BOB).await;
    let a1 = session("a1", ALICE);
    let a2 = BrowserSession {
        created_at: T0,
        expires_at: T0 + 10,
        ..session("a2", ALICE)
    };
    let b1 = session("b1", BOB);
    for x in [&a2, &a1, &b1] {
        s.session_insert(x).await.unwrap();
    }
    assert_eq!(
        s.session_list(Some(ALICE), T0).await.unwrap(),
        [a1.clone(), a2.clone()],
        "oldest first"
    );
    assert_eq!(s.session_list(None, T0).await.unwrap().len(), 3);
    assert_eq!(
        s.session_list(Some(ALICE), T0 + 10).await.unwrap(),
        [a1],
        "an expired session is not listed"
    );
    assert!(s.session_list(Some("nobody"), T0).await.unwrap().is_empty());
}
