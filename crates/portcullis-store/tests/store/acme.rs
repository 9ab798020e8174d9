//! The ACME tables (migration 0018): the account per directory, the certificate every
//! node serves, and the lease that lets one node at a time order.

use super::*;
use portcullis_core::acme::StoredCertificate;

store_cases!(
    an_account_is_stored_and_replaced,
    a_certificate_is_replaced_only_by_a_later_one,
    one_holder_at_a_time_takes_the_lease,
    the_lease_is_taken_once_across_two_stores_racing,
    challenges_are_published_until_they_expire_or_are_withdrawn,
);

fn certificate(not_after: i64) -> StoredCertificate {
    StoredCertificate {
        name: "a.example,b.example".to_owned(),
        chain_pem: format!("chain until {not_after}"),
        sealed_key: vec![1, 2, 3],
        not_before: T0,
        not_after,
        updated_at: T0,
    }
}

async fn an_account_is_stored_and_replaced(db: Db) {
    let s = &db.store;
    let dir = "https://acme.example/dir";
    assert_eq!(s.acme_account_get(dir).await.unwrap(), None);
    s.acme_account_put(dir, b"sealed-1", T0).await.unwrap();
    s.acme_account_put(dir, b"sealed-2", T0 + 1).await.unwrap();
    assert_eq!(
        s.acme_account_get(dir).await.unwrap(),
        Some(b"sealed-2".to_vec())
    );
    assert_eq!(
        s.acme_account_get("https://other.example/dir")
            .await
            .unwrap(),
        None
    );
}

async fn a_certificate_is_replaced_only_by_a_later_one(db: Db) {
    let s = &db.store;
    assert_eq!(
        s.acme_certificate_get("a.example,b.example").await.unwrap(),
        None
    );
    assert!(
        s.acme_certificate_put(&certificate(T0 + 100))
            .await
            .unwrap()
    );
    assert!(
        !s.acme_certificate_put(&certificate(T0 + 50)).await.unwrap(),
        "an older certificate never replaces a newer one"
    );
    assert!(
        !s.acme_certificate_put(&certificate(T0 + 100))
            .await
            .unwrap()
    );
    assert_eq!(
        s.acme_certificate_get("a.example,b.example").await.unwrap(),
        Some(certificate(T0 + 100))
    );
    assert!(
        s.acme_certificate_put(&certificate(T0 + 200))
            .await
            .unwrap()
    );
    assert_eq!(
        s.acme_certificate_get("a.example,b.example").await.unwrap(),
        Some(certificate(T0 + 200))
    );
}

async fn one_holder_at_a_time_takes_the_lease(db: Db) {
    let s = &db.store;
    assert!(s.acme_lease_take("n", "node-a", T0, T0 + 60).await.unwrap());
    assert!(
        !s.acme_lease_take("n", "node-b", T0 + 59, T0 + 119)
            .await
            .unwrap(),
        "held"
    );
    assert!(
        s.acme_lease_take("n", "node-a", T0 + 30, T0 + 90)
            .await
            .unwrap(),
        "extended"
    );
    assert!(
        !s.acme_lease_take("n", "node-b", T0 + 89, T0 + 149)
            .await
            .unwrap()
    );
    assert!(
        s.acme_lease_take("n", "node-b", T0 + 90, T0 + 150)
            .await
            .unwrap(),
        "expired at its expiry"
    );
    s.acme_lease_release("n", "node-a").await.unwrap();
    assert!(
        !s.acme_lease_take("n", "node-a", T0 + 91, T0 + 151)
            .await
            .unwrap(),
        "not a's to release"
    );
    s.acme_lease_release("n", "node-b").await.unwrap();
    assert!(
        s.acme_lease_take("n", "node-a", T0 + 92, T0 + 152)
            .await
            .unwrap(),
        "released"
    );
    assert!(
        s.acme_lease_take("other", "node-b", T0 + 92, T0 + 152)
            .await
            .unwrap()
    );
}

async fn the_lease_is_taken_once_across_two_stores_racing(db: Db) {
    let other = db.reopen().await;
    let stores = [Arc::clone(&db.store), other];
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            store
                .acme_lease_take("raced", &format!("node-{i}"), T0, T0 + 60)
                .await
                .unwrap()
        }));
    }
    let mut taken = 0;
    for task in tasks {
        if task.await.unwrap() {
            taken += 1;
        }
    }
    assert_eq!(taken, 1, "exactly one node orders");
}

async fn challenges_are_published_until_they_expire_or_are_withdrawn(db: Db) {
    let s = &db.store;
    assert!(s.acme_challenges(T0).await.unwrap().is_empty());
    s.acme_challenge_put("b.example", &[2; 32], T0 + 60)
        .await
        .unwrap();
    s.acme_challenge_put("a.example", &[1; 32], T0 + 10)
        .await
        .unwrap();
    assert_eq!(
        s.acme_challenges(T0).await.unwrap(),
        vec![
            ("a.example".to_owned(), vec![1; 32]),
            ("b.example".to_owned(), vec![2; 32])
        ]
    );
    assert_eq!(
        s.acme_challenges(T0 + 10).await.unwrap(),
        vec![("b.example".to_owned(), vec![2; 32])],
        "expired at its expiry"
    );
    s.acme_challenge_put("b.example", &[3; 32], T0 + 60)
        .await
        .unwrap();
    assert_eq!(
        s.acme_challenges(T0).await.unwrap().get(1),
        Some(&("b.example".to_owned(), vec![3; 32])),
        "replaced"
    );
    s.acme_challenge_delete("b.example").await.unwrap();
    assert_eq!(s.acme_challenges(T0).await.unwrap().len(), 1);
}
