//! The `signing_keys` table: first keys, pending (`next`) keys, promotion, emergency
//! rotation and the purge of retired keys, with their races between nodes.

use super::*;

store_cases!(
    signing_key_insert_first_refuses_a_second_active_key_per_alg,
    signing_key_insert_first_race_has_one_winner,
    signing_key_rotate_retires_the_old_key_and_activates_the_new,
    signing_key_rotate_without_an_active_key_still_inserts,
    signing_key_rotate_is_all_or_nothing,
    signing_key_rotate_of_several_algorithms_is_all_or_nothing,
    signing_keys_purge_removes_only_expired_retired_keys,
    signing_key_insert_next_publishes_a_pending_key_once_per_alg,
    signing_key_promote_waits_for_activate_at_then_retires_the_active_key,
    signing_key_promote_race_has_one_winner,
    signing_key_rotate_retires_a_pending_next_key_too,
);

async fn signing_key_insert_first_refuses_a_second_active_key_per_alg(db: Db) {
    let s = &db.store;
    let es = key("es-1", SigningAlgorithm::Es256, T0);
    let rs = key("rs-1", SigningAlgorithm::Rs256, T0 + 1);
    s.signing_key_insert_first(&es).await.unwrap();
    let err = s
        .signing_key_insert_first(&key("es-2", SigningAlgorithm::Es256, T0 + 2))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Another algorithm is independent.
    s.signing_key_insert_first(&rs).await.unwrap();
    // The same kid twice is a conflict too.
    let err = s.signing_key_insert_first(&es).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.signing_keys_list().await.unwrap(), vec![es, rs]);
}

async fn signing_key_insert_first_race_has_one_winner(db: Db) {
    // Two "nodes" (separate pools) start at once and each generates first keys.
    let nodes = [db.store.clone(), db.reopen().await];
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let store = nodes[i % 2].clone();
            tokio::spawn(async move {
                store
                    .signing_key_insert_first(&key(
                        &format!("race-{i}"),
                        SigningAlgorithm::Es256,
                        T0,
                    ))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let keys = db.store.signing_keys_list().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].status, KeyStatus::Active);
}

async fn signing_key_rotate_retires_the_old_key_and_activates_the_new(db: Db) {
    let s = &db.store;
    let old = key("es-old", SigningAlgorithm::Es256, T0);
    let other_alg = key("rs-1", SigningAlgorithm::Rs256, T0 + 1);
    let new = key("es-new", SigningAlgorithm::Es256, T0 + 100);
    s.signing_key_insert_first(&old).await.unwrap();
    s.signing_key_insert_first(&other_alg).await.unwrap();

    s.signing_key_rotate(std::slice::from_ref(&new), T0 + 100, T0 + 1_000)
        .await
        .unwrap();
    let keys = s.signing_keys_list().await.unwrap();
    assert_eq!(
        keys,
        vec![
            StoredSigningKey {
                status: KeyStatus::Retired,
                retired_at: Some(T0 + 100),
                publish_until: Some(T0 + 1_000),
                ..old
            },
            other_alg,
            new,
        ]
    );
    assert!(keys[0].is_published(T0 + 999));
    assert!(!keys[0].is_published(T0 + 1_000));
}

async fn signing_key_rotate_without_an_active_key_still_inserts(db: Db) {
    let s = &db.store;
    let first = key("rs-first", SigningAlgorithm::Rs256, T0);
    s.signing_key_rotate(std::slice::from_ref(&first), T0, T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(s.signing_keys_list().await.unwrap(), vec![first]);
}

async fn signing_key_rotate_is_all_or_nothing(db: Db) {
    let s = &db.store;
    let active = key("es-1", SigningAlgorithm::Es256, T0);
    s.signing_key_insert_first(&active).await.unwrap();
    // The insert fails (same kid) after the retire ran: both must roll back.
    let clash = key("es-1", SigningAlgorithm::Es256, T0 + 10);
    let err = s
        .signing_key_rotate(std::slice::from_ref(&clash), T0 + 10, T0 + 1_000)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.signing_keys_list().await.unwrap(), vec![active]);
}

async fn signing_key_rotate_of_several_algorithms_is_all_or_nothing(db: Db) {
    let s = &db.store;
    let es = key("es-1", SigningAlgorithm::Es256, T0);
    let rs = key("rs-1", SigningAlgorithm::Rs256, T0);
    s.signing_key_insert_first(&es).await.unwrap();
    s.signing_key_insert_first(&rs).await.unwrap();
    // ES256 would rotate fine; the RS256 insert clashes (same kid): nothing changes.
    let new_es = key("es-2", SigningAlgorithm::Es256, T0 + 10);
    let clash = key("rs-1", SigningAlgorithm::Rs256, T0 + 10);
    let err = s
        .signing_key_rotate(&[new_es.clone(), clash], T0 + 10, T0 + 1_000)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.signing_keys_list().await.unwrap(),
        vec![es.clone(), rs.clone()]
    );
    // Both valid: both rotate together.
    let new_rs = key("rs-2", SigningAlgorithm::Rs256, T0 + 10);
    s.signing_key_rotate(&[new_es, new_rs], T0 + 10, T0 + 1_000)
        .await
        .unwrap();
    let keys = s.signing_keys_list().await.unwrap();
    let active: Vec<&str> = keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .map(|k| k.kid.as_str())
        .collect();
    assert_eq!(active, ["es-2", "rs-2"]);
}

async fn signing_keys_purge_removes_only_expired_retired_keys(db: Db) {
    let s = &db.store;
    let now = T0 + 1_000;
    s.signing_key_insert_first(&key("k1", SigningAlgorithm::Es256, T0))
        .await
        .unwrap();
    // Each rotation retires the previous key with the given publish_until:
    // k1 until now − 1, k2 until now, k3 until now + 1.
    for (kid, created, until) in [
        ("k2", T0 + 1, now - 1),
        ("k3", T0 + 2, now),
        ("k4", T0 + 3, now + 1),
    ] {
        s.signing_key_rotate(
            &[key(kid, SigningAlgorithm::Es256, created)],
            created,
            until,
        )
        .await
        .unwrap();
    }
    assert_eq!(s.signing_keys_purge(now).await.unwrap(), 2);
    let left = s.signing_keys_list().await.unwrap();
    assert_eq!(
        left.iter()
            .map(|k| (k.kid.as_str(), k.status))
            .collect::<Vec<_>>(),
        [("k3", KeyStatus::Retired), ("k4", KeyStatus::Active)]
    );
    assert_eq!(left[0].publish_until, Some(now + 1));
    assert_eq!(s.signing_keys_purge(now).await.unwrap(), 0);
    // An active key is never purged, however old.
    assert_eq!(s.signing_keys_purge(i64::MAX).await.unwrap(), 1);
    assert_eq!(ids_of_keys(&s.signing_keys_list().await.unwrap()), ["k4"]);
}

async fn signing_key_insert_next_publishes_a_pending_key_once_per_alg(db: Db) {
    let s = &db.store;
    let es = key("es-1", SigningAlgorithm::Es256, T0);
    let rs = key("rs-1", SigningAlgorithm::Rs256, T0);
    s.signing_key_insert_first(&es).await.unwrap();
    s.signing_key_insert_first(&rs).await.unwrap();
    let es_next = next_key("es-2", SigningAlgorithm::Es256, T0 + 10, T0 + 130);
    s.signing_key_insert_next(std::slice::from_ref(&es_next))
        .await
        .unwrap();
    assert_eq!(
        s.signing_keys_list().await.unwrap(),
        vec![es.clone(), rs.clone(), es_next.clone()]
    );
    assert!(es_next.is_published(T0 + 10), "published before it signs");
    // A second pending rotation of ES256 is refused, and takes RS256 down with it.
    let rs_next = next_key("rs-2", SigningAlgorithm::Rs256, T0 + 20, T0 + 140);
    let err = s
        .signing_key_insert_next(&[
            rs_next.clone(),
            next_key("es-3", SigningAlgorithm::Es256, T0 + 20, T0 + 140),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        ids_of_keys(&s.signing_keys_list().await.unwrap()),
        ["es-1", "rs-1", "es-2"]
    );
    s.signing_key_insert_next(std::slice::from_ref(&rs_next))
        .await
        .unwrap();
    // A `next` key is never purged: it has no end of publication.
    assert_eq!(s.signing_keys_purge(i64::MAX).await.unwrap(), 0);
    assert_eq!(s.signing_keys_list().await.unwrap().len(), 4);
}

async fn signing_key_promote_waits_for_activate_at_then_retires_the_active_key(db: Db) {
    let s = &db.store;
    let old = key("es-old", SigningAlgorithm::Es256, T0);
    let rs = key("rs-1", SigningAlgorithm::Rs256, T0);
    let new = next_key("es-new", SigningAlgorithm::Es256, T0 + 10, T0 + 130);
    s.signing_key_insert_first(&old).await.unwrap();
    s.signing_key_insert_first(&rs).await.unwrap();
    s.signing_key_insert_next(std::slice::from_ref(&new))
        .await
        .unwrap();
    // activate_at − 1: not due, nothing changes.
    assert!(
        !s.signing_key_promote("es-new", T0 + 129, T0 + 999)
            .await
            .unwrap()
    );
    assert_eq!(
        s.signing_keys_list().await.unwrap(),
        vec![old.clone(), rs.clone(), new.clone()]
    );
    // activate_at: promoted, the old key retired with the given publication.
    assert!(
        s.signing_key_promote("es-new", T0 + 130, T0 + 1_000)
            .await
            .unwrap()
    );
    let retired = StoredSigningKey {
        status: KeyStatus::Retired,
        retired_at: Some(T0 + 130),
        publish_until: Some(T0 + 1_000),
        ..old
    };
    let active = StoredSigningKey {
        status: KeyStatus::Active,
        ..new
    };
    let expected = vec![retired, rs.clone(), active];
    assert_eq!(s.signing_keys_list().await.unwrap(), expected);
    // Again, an active key or an unknown one: nothing to do.
    assert!(
        !s.signing_key_promote("es-new", T0 + 131, T0 + 2_000)
            .await
            .unwrap()
    );
    assert!(
        !s.signing_key_promote("rs-1", T0 + 131, T0 + 2_000)
            .await
            .unwrap()
    );
    assert!(
        !s.signing_key_promote("nope", T0 + 131, T0 + 2_000)
            .await
            .unwrap()
    );
    assert_eq!(s.signing_keys_list().await.unwrap(), expected);
    // Without an active key (never rotated in yet), the promotion still happens.
    let rs_next = next_key("rs-2", SigningAlgorithm::Rs256, T0 + 140, T0 + 150);
    s.signing_key_insert_next(std::slice::from_ref(&rs_next))
        .await
        .unwrap();
    assert!(
        s.signing_key_promote("rs-2", T0 + 200, T0 + 3_000)
            .await
            .unwrap()
    );
    let keys = s.signing_keys_list().await.unwrap();
    let active: Vec<&str> = keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .map(|k| k.kid.as_str())
        .collect();
    assert_eq!(active, ["es-new", "rs-2"]);
}

async fn signing_key_promote_race_has_one_winner(db: Db) {
    db.store
        .signing_key_insert_first(&key("es-old", SigningAlgorithm::Es256, T0))
        .await
        .unwrap();
    db.store
        .signing_key_insert_next(&[next_key(
            "es-new",
            SigningAlgorithm::Es256,
            T0 + 1,
            T0 + 100,
        )])
        .await
        .unwrap();
    // Ten "nodes" over two pools see activate_at pass at once.
    let nodes = [db.store.clone(), db.reopen().await];
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let store = nodes[i % 2].clone();
            tokio::spawn(async move {
                let now = T0 + 100 + i64::try_from(i).unwrap();
                store.signing_key_promote("es-new", now, now + 1_000).await
            })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(true) => won += 1,
            Ok(false) => {}
            Err(other) => panic!("a lost race is Ok(false), got {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let keys = db.store.signing_keys_list().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.status))
            .collect::<Vec<_>>(),
        [
            ("es-old", KeyStatus::Retired),
            ("es-new", KeyStatus::Active)
        ]
    );
    // The winner's times: retired at its now, published 1 000 s beyond.
    let retired_at = keys[0].retired_at.unwrap();
    assert!((T0 + 100..T0 + 110).contains(&retired_at));
    assert_eq!(keys[0].publish_until, Some(retired_at + 1_000));
}

async fn signing_key_rotate_retires_a_pending_next_key_too(db: Db) {
    let s = &db.store;
    s.signing_key_insert_first(&key("es-1", SigningAlgorithm::Es256, T0))
        .await
        .unwrap();
    s.signing_key_insert_next(&[next_key("es-2", SigningAlgorithm::Es256, T0 + 1, T0 + 100)])
        .await
        .unwrap();
    // The emergency path: es-3 signs at once; neither es-1 nor es-2 ever signs again.
    s.signing_key_rotate(
        &[key("es-3", SigningAlgorithm::Es256, T0 + 5)],
        T0 + 5,
        T0 + 900,
    )
    .await
    .unwrap();
    let keys = s.signing_keys_list().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.status, k.publish_until))
            .collect::<Vec<_>>(),
        [
            ("es-1", KeyStatus::Retired, Some(T0 + 900)),
            ("es-2", KeyStatus::Retired, Some(T0 + 900)),
            ("es-3", KeyStatus::Active, None),
        ]
    );
    assert!(
        !s.signing_key_promote("es-2", T0 + 100, T0 + 1_000)
            .await
            .unwrap()
    );
}
