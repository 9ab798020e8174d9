//! The `client_assertions` table: the replay record of `private_key_jwt` assertions
//! (RFC 7523 §3).

use super::*;
use portcullis_core::client::authentication::assertion::assertion_digest;

store_cases!(
    an_assertion_is_recorded_once,
    an_assertion_is_recorded_once_across_two_stores_racing,
    used_assertions_are_purged_after_their_expiry,
);

async fn an_assertion_is_recorded_once(db: Db) {
    let s = &db.store;
    let used = assertion_digest("svc", "jti-1");
    assert!(s.client_assertion_record(&used, T0 + 65).await.unwrap());
    assert!(
        !s.client_assertion_record(&used, T0 + 65).await.unwrap(),
        "a replay"
    );
    assert!(!s.client_assertion_record(&used, T0 + 999).await.unwrap());
    // Another client or jti is another assertion.
    for other in [
        assertion_digest("svc-2", "jti-1"),
        assertion_digest("svc", "jti-2"),
    ] {
        assert!(s.client_assertion_record(&other, T0 + 65).await.unwrap());
    }
    assert_eq!(db.scalar("SELECT count(*) FROM client_assertions").await, 3);
    assert_eq!(
        db.scalar("SELECT max(expires_at) FROM client_assertions")
            .await,
        T0 + 65,
        "the first record's expiry is kept"
    );
}

async fn an_assertion_is_recorded_once_across_two_stores_racing(db: Db) {
    let other = db.reopen().await;
    let stores = [Arc::clone(&db.store), other];
    let used = assertion_digest("svc", "raced");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            store.client_assertion_record(&used, T0 + 60).await.unwrap()
        }));
    }
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one node accepts an assertion");
}

async fn used_assertions_are_purged_after_their_expiry(db: Db) {
    let s = &db.store;
    let early = assertion_digest("svc", "early");
    let late = assertion_digest("svc", "late");
    s.client_assertion_record(&early, T0 + 10).await.unwrap();
    s.client_assertion_record(&late, T0 + 20).await.unwrap();
    assert_eq!(
        s.purge_expired(T0 + 9, 100)
            .await
            .unwrap()
            .client_assertions,
        0
    );
    assert_eq!(
        s.purge_expired(T0 + 10, 100)
            .await
            .unwrap()
            .client_assertions,
        1
    );
    assert_eq!(db.scalar("SELECT count(*) FROM client_assertions").await, 1);
    assert!(
        !s.client_assertion_record(&late, T0 + 20).await.unwrap(),
        "kept until its expiry"
    );
    assert_eq!(
        s.purge_expired(T0 + 20, 100)
            .await
            .unwrap()
            .client_assertions,
        1
    );
    assert!(
        s.client_assertion_record(&early, T0 + 30).await.unwrap(),
        "purged: it has expired anyway"
    );
}
