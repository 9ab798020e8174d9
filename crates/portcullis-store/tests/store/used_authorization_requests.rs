//! The `used_authorization_requests` table: single use of a pending authorization
//! request (its sealed form is carried by the browser; only its end is recorded).

use super::*;

store_cases!(
    a_request_is_used_once,
    a_request_is_used_once_across_two_stores_racing,
);

async fn a_request_is_used_once(db: Db) {
    let s = &db.store;
    let id = SecretDigest::of("request id");
    assert!(s.authorization_request_use(&id, T0 + 600).await.unwrap());
    assert!(
        !s.authorization_request_use(&id, T0 + 600).await.unwrap(),
        "a replayed form"
    );
    assert!(
        s.authorization_request_use(&SecretDigest::of("another"), T0 + 600)
            .await
            .unwrap()
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM used_authorization_requests")
            .await,
        2
    );
}

async fn a_request_is_used_once_across_two_stores_racing(db: Db) {
    let other = db.reopen().await;
    let stores = [Arc::clone(&db.store), other];
    let id = SecretDigest::of("raced");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            store
                .authorization_request_use(&id, T0 + 600)
                .await
                .unwrap()
        }));
    }
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one submission goes on");
}
