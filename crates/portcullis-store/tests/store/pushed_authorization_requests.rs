//! The `pushed_authorization_requests` table: pushed requests (RFC 9126), by digest
//! of their `request_uri`, redeemed once by their own client.

use super::*;
use portcullis_core::authorization::pushed::PushedAuthorization;

store_cases!(
    a_pushed_request_is_taken_once_by_its_client,
    a_pushed_request_is_taken_once_across_two_stores_racing,
    expired_pushed_requests_are_purged,
);

fn pushed(reference: &str, client_id: &str, expires_at: i64) -> PushedAuthorization {
    PushedAuthorization {
        request_uri_digest: SecretDigest::of(reference),
        client_id: client_id.into(),
        sealed_request: vec![0, 1, 2, 255, 254],
        created_at: T0,
        expires_at,
    }
}

async fn a_pushed_request_is_taken_once_by_its_client(db: Db) {
    let s = &db.store;
    let row = pushed("reference-1", "web", T0 + 60);
    s.pushed_authorization_insert(&row).await.unwrap();
    let digest = SecretDigest::of("reference-1");
    assert_eq!(
        s.pushed_authorization_take(&digest, "other").await.unwrap(),
        None,
        "another client's attempt takes nothing"
    );
    assert_eq!(
        s.pushed_authorization_take(&digest, "web").await.unwrap(),
        Some(row.clone())
    );
    assert_eq!(
        s.pushed_authorization_take(&digest, "web").await.unwrap(),
        None,
        "single use"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pushed_authorization_requests")
            .await,
        0
    );
    // The same digest twice is a conflict (a 256-bit reference never repeats).
    s.pushed_authorization_insert(&row).await.unwrap();
    assert!(matches!(
        s.pushed_authorization_insert(&row).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_pushed_request_is_taken_once_across_two_stores_racing(db: Db) {
    let other = db.reopen().await;
    let stores = [Arc::clone(&db.store), other];
    db.store
        .pushed_authorization_insert(&pushed("raced", "web", T0 + 60))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            let digest = SecretDigest::of("raced");
            store
                .pushed_authorization_take(&digest, "web")
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut taken = 0;
    for task in tasks {
        if task.await.unwrap() {
            taken += 1;
        }
    }
    assert_eq!(taken, 1, "exactly one node redeems a request_uri");
}

async fn expired_pushed_requests_are_purged(db: Db) {
    let s = &db.store;
    s.pushed_authorization_insert(&pushed("early", "web", T0 + 10))
        .await
        .unwrap();
    s.pushed_authorization_insert(&pushed("late", "web", T0 + 20))
        .await
        .unwrap();
    let purged = |counts: PurgeCounts| counts.pushed_authorization_requests;
    assert_eq!(purged(s.purge_expired(T0 + 9, 100).await.unwrap()), 0);
    assert_eq!(purged(s.purge_expired(T0 + 10, 100).await.unwrap()), 1);
    assert_eq!(
        db.scalar("SELECT count(*) FROM pushed_authorization_requests")
            .await,
        1
    );
    let late = SecretDigest::of("late");
    assert!(
        s.pushed_authorization_take(&late, "web")
            .await
            .unwrap()
            .is_some()
    );
}
