//! The `rate_limits` table (GCRA buckets shared by every node).

use super::*;

store_cases!(
    rate_limit_take_allows_the_burst_then_refuses_with_the_wait,
    rate_limit_take_refills_one_cell_per_interval,
    rate_limit_take_is_all_or_nothing_across_keys,
    rate_limit_refund_gives_back_one_cell_and_never_more,
    rate_limit_take_race_allows_exactly_the_burst,
    purge_expired_deletes_full_rate_limit_buckets,
    rate_limit_clear_fills_the_bucket_again,
);

async fn rate_limit_take_allows_the_burst_then_refuses_with_the_wait(db: Db) {
    let s = &db.store;
    let keys = [bucket("k", 1000, 3)];
    for left in [2, 1, 0] {
        assert_eq!(
            s.rate_limit_take(&keys, NOW_MS).await.unwrap(),
            Ok(vec![left])
        );
    }
    assert_eq!(s.rate_limit_take(&keys, NOW_MS).await.unwrap(), Err(1000));
    assert_eq!(
        s.rate_limit_take(&keys, NOW_MS + 400).await.unwrap(),
        Err(600)
    );
    assert_eq!(rate_limit_rows(&db).await, 1);
}

async fn rate_limit_take_refills_one_cell_per_interval(db: Db) {
    let s = &db.store;
    let keys = [bucket("k", 1000, 3)];
    for _ in 0..3 {
        s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
    }
    // One cell back per interval ...
    assert_eq!(
        s.rate_limit_take(&keys, NOW_MS + 1000).await.unwrap(),
        Ok(vec![0])
    );
    assert_eq!(
        s.rate_limit_take(&keys, NOW_MS + 1000).await.unwrap(),
        Err(1000)
    );
    // ... and the whole burst once the bucket is full again.
    assert_eq!(
        s.rate_limit_take(&keys, NOW_MS + 4000).await.unwrap(),
        Ok(vec![2])
    );
}

async fn rate_limit_take_is_all_or_nothing_across_keys(db: Db) {
    let s = &db.store;
    // Cells left come back in the order given, whatever the keys' order.
    let z = bucket("z", 1000, 5);
    let a = bucket("a", 60_000, 2);
    assert_eq!(
        s.rate_limit_take(&[z.clone(), a.clone()], NOW_MS)
            .await
            .unwrap(),
        Ok(vec![4, 1])
    );
    assert_eq!(
        s.rate_limit_take(std::slice::from_ref(&a), NOW_MS)
            .await
            .unwrap(),
        Ok(vec![0])
    );
    // `a` is spent: `z` and a new key `m` keep their cells, and `m` gets no row.
    let m = bucket("m", 1000, 1);
    for _ in 0..3 {
        assert_eq!(
            s.rate_limit_take(&[z.clone(), m.clone(), a.clone()], NOW_MS)
                .await
                .unwrap(),
            Err(60_000)
        );
    }
    assert_eq!(rate_limit_rows(&db).await, 2);
    assert_eq!(
        s.rate_limit_take(&[m.clone(), z.clone()], NOW_MS)
            .await
            .unwrap(),
        Ok(vec![0, 3])
    );
    // The longest wait of the refusing keys is given.
    assert_eq!(
        s.rate_limit_take(&[m, a], NOW_MS).await.unwrap(),
        Err(60_000)
    );
}

async fn rate_limit_refund_gives_back_one_cell_and_never_more(db: Db) {
    let s = &db.store;
    let keys = [bucket("k", 1000, 2)];
    s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
    s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
    assert!(s.rate_limit_take(&keys, NOW_MS).await.unwrap().is_err());
    s.rate_limit_refund(&keys, NOW_MS).await.unwrap();
    assert_eq!(s.rate_limit_take(&keys, NOW_MS).await.unwrap(), Ok(vec![0]));
    // Three refunds for two cells: the bucket is full, not fuller.
    for _ in 0..3 {
        s.rate_limit_refund(&keys, NOW_MS).await.unwrap();
    }
    assert_eq!(s.rate_limit_take(&keys, NOW_MS).await.unwrap(), Ok(vec![1]));
    // A refund to a bucket without a row (full) stores nothing.
    s.rate_limit_refund(&[bucket("none", 1000, 2)], NOW_MS)
        .await
        .unwrap();
    assert_eq!(rate_limit_rows(&db).await, 1);
}

async fn rate_limit_take_race_allows_exactly_the_burst(db: Db) {
    // 20 takes on a burst of 10, at once, on two "nodes", each also taking a key
    // of its own and a shared roomy key (locks in several orders).
    let nodes = [db.store.clone(), db.reopen().await];
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let store = nodes[i % 2].clone();
            tokio::spawn(async move {
                let keys = [
                    bucket(&format!("own {i}"), 1000, 1),
                    bucket("shared", 60_000, 10),
                    bucket("roomy", 1, 100),
                ];
                store.rate_limit_take(&keys, NOW_MS).await.unwrap()
            })
        })
        .collect();
    let mut allowed = 0;
    for attempt in attempts {
        if attempt.await.unwrap().is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10);
    assert_eq!(
        db.store
            .rate_limit_take(&[bucket("shared", 60_000, 10)], NOW_MS)
            .await
            .unwrap(),
        Err(60_000)
    );
    // Refused entries took nothing: 10 own keys, shared and roomy.
    assert_eq!(rate_limit_rows(&db).await, 12);
}

async fn purge_expired_deletes_full_rate_limit_buckets(db: Db) {
    let s = &db.store;
    s.rate_limit_take(&[bucket("second", 1000, 5)], NOW_MS)
        .await
        .unwrap()
        .unwrap();
    s.rate_limit_take(&[bucket("minute", 60_000, 5)], NOW_MS)
        .await
        .unwrap()
        .unwrap();
    let purged = |now| async move { s.purge_expired(now, 100).await.unwrap().rate_limits };
    assert_eq!(purged(T0).await, 0, "neither bucket is full yet");
    assert_eq!(purged(T0 + 1).await, 1, "full at its tat");
    assert_eq!(rate_limit_rows(&db).await, 1);
    assert_eq!(purged(T0 + 59).await, 0);
    assert_eq!(purged(T0 + 60).await, 1);
    assert_eq!(rate_limit_rows(&db).await, 0);
}

const NOW_MS: i64 = T0 * 1000;

fn bucket(key: &str, interval_ms: i64, burst: u32) -> RateKey {
    RateKey::new(key, interval_ms, burst)
}

async fn rate_limit_rows(db: &Db) -> i64 {
    db.scalar("SELECT COUNT(*) FROM rate_limits").await
}

async fn rate_limit_clear_fills_the_bucket_again(db: Db) {
    let s = &db.store;
    let keys = [bucket("k", 1000, 2)];
    let other = [bucket("other", 1000, 1)];
    s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
    s.rate_limit_take(&keys, NOW_MS).await.unwrap().unwrap();
    s.rate_limit_take(&other, NOW_MS).await.unwrap().unwrap();
    assert!(s.rate_limit_take(&keys, NOW_MS).await.unwrap().is_err());
    assert!(s.rate_limit_clear("k").await.unwrap());
    assert!(!s.rate_limit_clear("k").await.unwrap(), "already full");
    assert_eq!(s.rate_limit_take(&keys, NOW_MS).await.unwrap(), Ok(vec![1]));
    assert!(
        s.rate_limit_take(&other, NOW_MS).await.unwrap().is_err(),
        "other buckets stay as they were"
    );
}
