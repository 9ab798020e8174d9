//! The `device_authorizations` table (RFC 8628).

use super::*;

store_cases!(
    device_authorization_round_trip_keeps_every_field,
    device_authorization_insert_of_an_existing_device_or_user_code_is_a_conflict,
    device_authorization_insert_for_an_unknown_client_is_not_found,
    device_authorization_find_by_user_code_finds_only_a_live_pending_one,
    device_authorization_decide_succeeds_once_and_stops_at_expires_at,
    device_authorization_decide_race_has_one_winner,
    device_authorization_poll_slows_down_within_the_interval,
    device_authorization_poll_by_another_client_writes_nothing,
    device_authorization_poll_race_grows_the_interval_once_per_early_poll,
    device_authorization_consume_succeeds_once_and_only_when_approved_and_live,
    device_authorization_consume_race_has_one_winner,
    device_authorization_consume_stores_the_refresh_token_in_the_same_transaction,
    device_authorization_consume_whose_refresh_insert_conflicts_writes_nothing,
    deleting_a_client_or_user_deletes_its_device_authorizations,
    undecodable_device_authorization_rows_are_corrupt_naming_the_column,
    unkeyed_user_codes_are_listed_and_keyed_once,
);

async fn device_authorization_round_trip_keeps_every_field(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let bare = device("bare", T0);
    let full = DeviceAuthorization {
        scopes: scopes(&["openid", "profile", "ledger:write"]),
        resources: vec![
            "https://reports.example".into(),
            "https://api.ledger.example".into(),
        ],
        interval: 15,
        last_polled_at: Some(T0 + 3),
        consumed_at: Some(T0 + 4),
        ..approved(device("full", T0))
    };
    let denied = DeviceAuthorization {
        status: DeviceAuthorizationStatus::Denied,
        ..device("denied", T0)
    };
    for d in [&bare, &full, &denied] {
        s.device_authorization_insert(d).await.unwrap();
    }
    for d in [bare, full, denied] {
        assert_eq!(
            s.device_authorization_get(&d.device_code_digest)
                .await
                .unwrap(),
            Some(d)
        );
    }
    assert_eq!(
        s.device_authorization_get(&SecretDigest::of("other"))
            .await
            .unwrap(),
        None
    );
}

async fn device_authorization_insert_of_an_existing_device_or_user_code_is_a_conflict(db: Db) {
    let s = &db.store;
    with_client(s, "web").await;
    let first = device("first", T0);
    s.device_authorization_insert(&first).await.unwrap();
    // Same user code, new device code: the caller draws another user code.
    let same_user_code = DeviceAuthorization {
        user_code_digest: first.user_code_digest,
        ..device("second", T0)
    };
    // Same device code, new user code.
    let same_device_code = DeviceAuthorization {
        device_code_digest: first.device_code_digest,
        ..device("third", T0)
    };
    for d in [&same_user_code, &same_device_code] {
        let err = s.device_authorization_insert(d).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    // An expired row keeps its user code until purged.
    let expired = DeviceAuthorization {
        expires_at: T0 - 1,
        ..device("expired", T0 - 600)
    };
    s.device_authorization_insert(&expired).await.unwrap();
    let err = s
        .device_authorization_insert(&DeviceAuthorization {
            user_code_digest: expired.user_code_digest,
            ..device("fourth", T0)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.device_authorization_get(&first.device_code_digest)
            .await
            .unwrap(),
        Some(first)
    );
    assert_eq!(
        s.device_authorization_get(&same_user_code.device_code_digest)
            .await
            .unwrap(),
        None
    );
}

async fn device_authorization_insert_for_an_unknown_client_is_not_found(db: Db) {
    let s = &db.store;
    let err = s
        .device_authorization_insert(&device("d", T0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn device_authorization_find_by_user_code_finds_only_a_live_pending_one(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let d = device("d", T0);
    s.device_authorization_insert(&d).await.unwrap();
    let find = |digest: SecretDigest, now: i64| {
        let store = s.clone();
        async move {
            store
                .device_authorization_find_by_user_code(&digest, now)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        find(d.user_code_digest, d.expires_at - 1).await,
        Some(d.clone())
    );
    for late in [d.expires_at, d.expires_at + 1] {
        assert_eq!(find(d.user_code_digest, late).await, None, "at {late}");
    }
    // The device code digest is not a user code.
    assert_eq!(find(d.device_code_digest, T0).await, None);
    // Once decided, the user code names nothing any more.
    for (name, decision) in [
        ("approved", approved_status()),
        ("denied", DeviceAuthorizationStatus::Denied),
    ] {
        let other = device(name, T0);
        s.device_authorization_insert(&other).await.unwrap();
        assert!(
            s.device_authorization_decide(&other.device_code_digest, &decision, T0)
                .await
                .unwrap()
        );
        assert_eq!(find(other.user_code_digest, T0).await, None, "{name}");
    }
}

async fn device_authorization_decide_succeeds_once_and_stops_at_expires_at(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let d = device("d", T0);
    s.device_authorization_insert(&d).await.unwrap();
    // Pending is no decision: nothing written.
    assert!(
        !s.device_authorization_decide(
            &d.device_code_digest,
            &DeviceAuthorizationStatus::Pending,
            T0
        )
        .await
        .unwrap()
    );
    let last_live = d.expires_at - 1;
    assert!(
        s.device_authorization_decide(&d.device_code_digest, &approved_status(), last_live)
            .await
            .unwrap()
    );
    // The second decision, approval or denial, changes nothing.
    for decision in [approved_status(), DeviceAuthorizationStatus::Denied] {
        assert!(
            !s.device_authorization_decide(&d.device_code_digest, &decision, T0)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        s.device_authorization_get(&d.device_code_digest)
            .await
            .unwrap(),
        Some(approved(d.clone()))
    );
    // At and after expires_at a pending one cannot be decided.
    let late = device("late", T0);
    s.device_authorization_insert(&late).await.unwrap();
    for now in [late.expires_at, late.expires_at + 1] {
        assert!(
            !s.device_authorization_decide(
                &late.device_code_digest,
                &DeviceAuthorizationStatus::Denied,
                now
            )
            .await
            .unwrap()
        );
    }
    assert_eq!(
        s.device_authorization_get(&late.device_code_digest)
            .await
            .unwrap(),
        Some(late)
    );
    assert!(
        !s.device_authorization_decide(&SecretDigest::of("other"), &approved_status(), T0)
            .await
            .unwrap()
    );
}

async fn device_authorization_decide_race_has_one_winner(db: Db) {
    with_user(&db.store, ALICE).await;
    with_client(&db.store, "web").await;
    let d = device("d", T0);
    db.store.device_authorization_insert(&d).await.unwrap();
    // Ten approvals and ten denials (two browser tabs, two nodes), at once.
    let nodes = [db.store.clone(), db.reopen().await];
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let store = nodes[i % 2].clone();
            let digest = d.device_code_digest;
            let decision = if i % 4 < 2 {
                approved_status()
            } else {
                DeviceAuthorizationStatus::Denied
            };
            tokio::spawn(async move {
                let won = store
                    .device_authorization_decide(&digest, &decision, T0)
                    .await
                    .unwrap();
                won.then_some(decision)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        winners.extend(attempt.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = db
        .store
        .device_authorization_get(&d.device_code_digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(stored.status), winners.pop());
}

async fn device_authorization_poll_slows_down_within_the_interval(db: Db) {
    let s = &db.store;
    with_client(s, "web").await;
    let d = device("d", T0);
    s.device_authorization_insert(&d).await.unwrap();
    let digest = d.device_code_digest;
    let poll = |now: i64| {
        let store = s.clone();
        async move {
            let p = store
                .device_authorization_poll(&digest, "web", now)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(p.authorization.last_polled_at, Some(now));
            (p.too_fast, p.authorization.interval)
        }
    };
    // The first poll is never too fast.
    assert_eq!(poll(T0).await, (false, 5));
    // interval − 1 seconds later: slow_down, the interval grows by 5.
    assert_eq!(poll(T0 + 4).await, (true, 10));
    // Exactly the (new) interval later: fine.
    assert_eq!(poll(T0 + 14).await, (false, 10));
    // interval + 1 later: fine.
    assert_eq!(poll(T0 + 25).await, (false, 10));
    // Twice in the same second: slow_down again.
    assert_eq!(poll(T0 + 25).await, (true, 15));
    let stored = s
        .device_authorization_get(&d.device_code_digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.interval, stored.last_polled_at, stored.status),
        (15, Some(T0 + 25), DeviceAuthorizationStatus::Pending)
    );
}

async fn device_authorization_poll_by_another_client_writes_nothing(db: Db) {
    let s = &db.store;
    with_client(s, "web").await;
    with_client(s, "tv").await;
    let d = device("d", T0);
    s.device_authorization_insert(&d).await.unwrap();
    for now in [T0, T0, T0 + 1] {
        assert_eq!(
            s.device_authorization_poll(&d.device_code_digest, "tv", now)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        s.device_authorization_poll(&SecretDigest::of("other"), "web", T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.device_authorization_get(&d.device_code_digest)
            .await
            .unwrap(),
        Some(d.clone())
    );
    // The owner's first poll is still its first.
    assert_eq!(
        s.device_authorization_poll(&d.device_code_digest, "web", T0 + 1)
            .await
            .unwrap(),
        Some(DevicePoll {
            authorization: DeviceAuthorization {
                last_polled_at: Some(T0 + 1),
                ..d
            },
            too_fast: false,
        })
    );
}

async fn device_authorization_poll_race_grows_the_interval_once_per_early_poll(db: Db) {
    with_client(&db.store, "web").await;
    let d = device("d", T0);
    db.store.device_authorization_insert(&d).await.unwrap();
    // 20 polls in the same second, on two "nodes": the first is on time, each of
    // the 19 others sees the one before it and adds 5 seconds.
    let nodes = [db.store.clone(), db.reopen().await];
    let polls: Vec<_> = (0..20)
        .map(|i| {
            let store = nodes[i % 2].clone();
            let digest = d.device_code_digest;
            tokio::spawn(async move {
                store
                    .device_authorization_poll(&digest, "web", T0)
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    let mut seen = Vec::new();
    for poll in polls {
        let p = poll.await.unwrap();
        seen.push((p.authorization.interval, p.too_fast));
    }
    seen.sort_unstable();
    let expected: Vec<(i64, bool)> = (0..20).map(|i| (5 + 5 * i, i > 0)).collect();
    assert_eq!(seen, expected);
    let stored = db
        .store
        .device_authorization_get(&d.device_code_digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.interval, 100);
}

async fn device_authorization_consume_succeeds_once_and_only_when_approved_and_live(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let pending_one = device("pending", T0);
    let denied = DeviceAuthorization {
        status: DeviceAuthorizationStatus::Denied,
        ..device("denied", T0)
    };
    let ok = approved(device("ok", T0));
    for d in [&pending_one, &denied, &ok] {
        s.device_authorization_insert(d).await.unwrap();
    }
    for d in [&pending_one, &denied] {
        assert!(
            !s.device_authorization_consume(&d.device_code_digest, T0, None, "jti", T0 + 900)
                .await
                .unwrap()
        );
    }
    // At and after expires_at an approved one cannot be consumed.
    for late in [ok.expires_at, ok.expires_at + 1] {
        assert!(
            !s.device_authorization_consume(&ok.device_code_digest, late, None, "jti", late)
                .await
                .unwrap()
        );
    }
    let last_live = ok.expires_at - 1;
    assert!(
        s.device_authorization_consume(&ok.device_code_digest, last_live, None, "jti", T0)
            .await
            .unwrap()
    );
    assert!(
        !s.device_authorization_consume(&ok.device_code_digest, last_live, None, "jti", T0)
            .await
            .unwrap()
    );
    assert_eq!(
        s.device_authorization_get(&ok.device_code_digest)
            .await
            .unwrap(),
        Some(DeviceAuthorization {
            consumed_at: Some(last_live),
            ..ok
        })
    );
    assert!(
        !s.device_authorization_consume(&SecretDigest::of("other"), T0, None, "jti", T0)
            .await
            .unwrap()
    );
}

async fn device_authorization_consume_race_has_one_winner(db: Db) {
    with_user(&db.store, ALICE).await;
    with_client(&db.store, "web").await;
    let d = approved(device("d", T0));
    db.store.device_authorization_insert(&d).await.unwrap();
    // 20 polls of the approved code, on two "nodes", at once, each with its own
    // refresh token and access token.
    let nodes = [db.store.clone(), db.reopen().await];
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let store = nodes[i % 2].clone();
            let digest = d.device_code_digest;
            tokio::spawn(async move {
                let token = refresh(&format!("poll {i}"), "device family", T0 + 1);
                let won = store
                    .device_authorization_consume(
                        &digest,
                        T0 + 1,
                        Some(&token),
                        &format!("jti {i}"),
                        T0 + 900,
                    )
                    .await
                    .unwrap();
                (i, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        let (i, won) = attempt.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    // Only the winner's refresh token and access token were stored.
    for i in 0..20 {
        let stored = db
            .store
            .refresh_token_get(&SecretDigest::of(&format!("refresh poll {i}")))
            .await
            .unwrap();
        let family = db
            .store
            .access_token_family(&format!("jti {i}"))
            .await
            .unwrap();
        let won = winners.contains(&i);
        assert_eq!(stored.is_some(), won, "refresh token of poll {i}");
        assert_eq!(family.is_some(), won, "access token of poll {i}");
    }
}

async fn device_authorization_consume_stores_the_refresh_token_in_the_same_transaction(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let d = approved(device("d", T0));
    s.device_authorization_insert(&d).await.unwrap();
    let token = refresh("first", "device family", T0 + 1);
    assert!(
        s.device_authorization_consume(
            &d.device_code_digest,
            T0 + 1,
            Some(&token),
            "jti first",
            T0 + 900
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.refresh_token_get(&token.token_digest).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(
        s.access_token_family("jti first").await.unwrap().as_deref(),
        Some("device family")
    );
    // Revoking the family reaches the access token issued with it.
    assert_eq!(
        s.refresh_family_revoke("device family", T0 + 2)
            .await
            .unwrap(),
        1
    );
    assert!(s.access_token_is_revoked("jti first").await.unwrap());
}

async fn device_authorization_consume_whose_refresh_insert_conflicts_writes_nothing(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let d = approved(device("d", T0));
    s.device_authorization_insert(&d).await.unwrap();
    // A refresh token with the same digest, and an access token with the same jti,
    // are already stored: each insert fails inside the consume's transaction.
    let taken = refresh("taken", "other family", T0);
    s.refresh_token_insert(&taken, "jti taken", T0 + 900)
        .await
        .unwrap();
    let same_digest = RefreshToken {
        family_id: "device family".into(),
        ..taken.clone()
    };
    let fresh = refresh("fresh", "device family", T0 + 1);
    for (token, jti) in [(&same_digest, "jti new"), (&fresh, "jti taken")] {
        let err = s
            .device_authorization_consume(&d.device_code_digest, T0 + 1, Some(token), jti, T0 + 900)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        // Nothing was written: the code is not consumed, no token of the family.
        assert_eq!(
            s.device_authorization_get(&d.device_code_digest)
                .await
                .unwrap(),
            Some(d.clone())
        );
        assert_eq!(
            s.refresh_token_get(&fresh.token_digest).await.unwrap(),
            None
        );
        assert_eq!(s.access_token_family("jti new").await.unwrap(), None);
        assert_eq!(
            s.refresh_family_revoke("device family", T0).await.unwrap(),
            0
        );
    }
    assert_eq!(
        s.refresh_token_get(&taken.token_digest).await.unwrap(),
        Some(taken)
    );
    // So the device's next poll still redeems it.
    assert!(
        s.device_authorization_consume(
            &d.device_code_digest,
            T0 + 2,
            Some(&fresh),
            "jti new",
            T0 + 900
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.refresh_token_get(&fresh.token_digest).await.unwrap(),
        Some(fresh)
    );
}

async fn deleting_a_client_or_user_deletes_its_device_authorizations(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_user(s, BOB).await;
    with_client(s, "web").await;
    with_client(s, "tv").await;
    let by_alice = approved(device("alice", T0));
    let by_bob = DeviceAuthorization {
        status: DeviceAuthorizationStatus::Approved {
            user_id: BOB.into(),
            auth_time: T0,
        },
        ..device("bob", T0)
    };
    let of_tv = DeviceAuthorization {
        client_id: "tv".into(),
        ..device("tv", T0)
    };
    for d in [&by_alice, &by_bob, &of_tv] {
        s.device_authorization_insert(d).await.unwrap();
    }
    assert!(s.user_delete("alice").await.unwrap());
    assert!(s.client_delete("tv").await.unwrap());
    for d in [&by_alice, &of_tv] {
        assert_eq!(
            s.device_authorization_get(&d.device_code_digest)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        s.device_authorization_get(&by_bob.device_code_digest)
            .await
            .unwrap(),
        Some(by_bob)
    );
}

async fn undecodable_device_authorization_rows_are_corrupt_naming_the_column(db: Db) {
    let s = &db.store;
    with_client(s, "web").await;
    let d = device("d", T0);
    s.device_authorization_insert(&d).await.unwrap();
    db.raw("UPDATE device_authorizations SET scopes = 'openid'")
        .await;
    for err in [
        s.device_authorization_get(&d.device_code_digest)
            .await
            .unwrap_err(),
        s.device_authorization_poll(&d.device_code_digest, "web", T0)
            .await
            .unwrap_err(),
        s.device_authorization_find_by_user_code(&d.user_code_digest, T0)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, StoreError::Corrupt(what) if what.contains("device_authorizations.scopes")),
            "{err:?}"
        );
    }
}

/// Issue 16 item 3: rows from before keyed user codes (`user_code_keyed` false) are
/// listed, and each is keyed by one conditional statement, once.
async fn unkeyed_user_codes_are_listed_and_keyed_once(db: Db) {
    let s = &db.store;
    with_client(s, "web").await;
    let (old1, old2) = (device("old1", T0), device("old2", T0));
    s.device_authorization_insert(&old1).await.unwrap();
    s.device_authorization_insert(&old2).await.unwrap();
    // As 0010 leaves rows written before it.
    db.raw("UPDATE device_authorizations SET user_code_keyed = FALSE")
        .await;
    let new = device("new", T0);
    s.device_authorization_insert(&new).await.unwrap();
    let mut unkeyed = s.device_authorization_unkeyed_user_codes(10).await.unwrap();
    unkeyed.sort_by_key(|(d, _)| *d.as_bytes());
    let mut expected = vec![
        (old1.device_code_digest, old1.user_code_digest),
        (old2.device_code_digest, old2.user_code_digest),
    ];
    expected.sort_by_key(|(d, _)| *d.as_bytes());
    assert_eq!(unkeyed, expected, "new rows are keyed");
    assert_eq!(
        s.device_authorization_unkeyed_user_codes(1)
            .await
            .unwrap()
            .len(),
        1
    );

    let keyed = SecretDigest::of("keyed old1");
    let device = &old1.device_code_digest;
    // Not the digest the row holds: nothing written.
    let another = SecretDigest::of("another");
    assert!(
        !s.device_authorization_key_user_code(device, &another, &keyed)
            .await
            .unwrap()
    );
    let unkeyed = &old1.user_code_digest;
    assert!(
        s.device_authorization_key_user_code(device, unkeyed, &keyed)
            .await
            .unwrap()
    );
    assert!(
        !s.device_authorization_key_user_code(device, unkeyed, &keyed)
            .await
            .unwrap(),
        "keyed once"
    );
    assert_eq!(
        s.device_authorization_unkeyed_user_codes(10).await.unwrap(),
        vec![(old2.device_code_digest, old2.user_code_digest)]
    );
    let found = s
        .device_authorization_find_by_user_code(&keyed, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.device_code_digest, old1.device_code_digest);
    assert_eq!(
        s.device_authorization_find_by_user_code(&old1.user_code_digest, T0)
            .await
            .unwrap(),
        None
    );
}
