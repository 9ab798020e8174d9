//! The `refresh_tokens` and `family_access_tokens` tables: rotation, reuse
//! detection's family revoke, and their races.

use super::*;

store_cases!(
    refresh_token_round_trip_keeps_every_field,
    refresh_token_insert_of_an_existing_digest_or_jti_is_a_conflict,
    refresh_token_insert_for_an_unknown_client_or_user_is_not_found,
    refresh_token_rotate_succeeds_once_and_stores_the_successor,
    refresh_token_rotate_refuses_at_and_after_expires_at,
    refresh_token_rotate_refuses_a_revoked_token,
    refresh_token_rotate_into_another_family_is_refused_and_writes_nothing,
    refresh_token_rotate_race_has_one_winner,
    refresh_family_revoke_revokes_the_family_only_and_its_access_tokens,
    refresh_family_revoke_racing_rotations_leaves_no_live_token,
    access_token_family_names_only_recorded_tokens,
    deleting_a_client_or_user_deletes_its_refresh_tokens,
    undecodable_refresh_token_rows_are_corrupt_naming_the_column,
    refresh_family_list_summarises_live_families_by_user_and_client,
);

async fn refresh_token_round_trip_keeps_every_field(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let family = family_of_code(&SecretDigest::of("code c"));
    let bare = refresh("bare", &family, T0);
    let full = RefreshToken {
        scopes: vec!["email".into(), "offline_access".into(), "openid".into()],
        resources: vec![
            "https://api.example/".into(),
            "https://reports.example/v1 ünï".into(),
        ],
        auth_time: T0 - 600,
        expires_at: T0 + 1_209_600,
        rotated_at: Some(T0 + 7),
        revoked_at: Some(T0 + 9),
        dpop_jkt: Some(JKT.into()),
        ..refresh("full", "another family", T0 + 1)
    };
    s.refresh_token_insert(&bare, "jti-bare", T0 + 900)
        .await
        .unwrap();
    s.refresh_token_insert(&full, "jti-full", T0 + 901)
        .await
        .unwrap();
    assert_eq!(
        s.refresh_token_get(&bare.token_digest).await.unwrap(),
        Some(bare)
    );
    assert_eq!(
        s.refresh_token_get(&full.token_digest).await.unwrap(),
        Some(full)
    );
    assert_eq!(
        s.refresh_token_get(&SecretDigest::of("refresh other"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.access_token_family("jti-bare").await.unwrap(),
        Some(family)
    );
    assert_eq!(
        db.scalar("SELECT expires_at FROM family_access_tokens WHERE jti = 'jti-full'")
            .await,
        T0 + 901
    );
}

async fn refresh_token_insert_of_an_existing_digest_or_jti_is_a_conflict(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let first = refresh("token", "family-a", T0);
    s.refresh_token_insert(&first, "jti-1", T0 + 900)
        .await
        .unwrap();
    // Same digest: refused, and its access token is not recorded either.
    let err = s
        .refresh_token_insert(&refresh("token", "family-b", T0 + 1), "jti-2", T0 + 901)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.access_token_family("jti-2").await.unwrap(), None);
    // Same jti: refused, and the refresh token is not stored either.
    let other = refresh("other", "family-b", T0);
    let err = s
        .refresh_token_insert(&other, "jti-1", T0 + 901)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.refresh_token_get(&other.token_digest).await.unwrap(),
        None
    );
    assert_eq!(
        s.refresh_token_get(&first.token_digest).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        s.access_token_family("jti-1").await.unwrap().as_deref(),
        Some("family-a")
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM family_access_tokens").await,
        1
    );
}

async fn refresh_token_insert_for_an_unknown_client_or_user_is_not_found(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let no_client = RefreshToken {
        client_id: "gone".into(),
        ..refresh("a", "family-a", T0)
    };
    let no_user = RefreshToken {
        user_id: "0190-gone".into(),
        ..refresh("b", "family-b", T0)
    };
    for (t, jti) in [(no_client, "jti-a"), (no_user, "jti-b")] {
        let err = s.refresh_token_insert(&t, jti, T0 + 900).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
        assert_eq!(s.refresh_token_get(&t.token_digest).await.unwrap(), None);
        assert_eq!(s.access_token_family(jti).await.unwrap(), None);
    }
}

async fn refresh_token_rotate_succeeds_once_and_stores_the_successor(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let t0 = refresh("t0", "family", T0);
    s.refresh_token_insert(&t0, "jti-0", T0 + 900)
        .await
        .unwrap();
    let t1 = refresh("t1", "family", T0 + 10);
    assert!(
        s.refresh_token_rotate(&t0.token_digest, &t1, T0 + 10, "jti-1", T0 + 910)
            .await
            .unwrap()
    );
    assert_eq!(
        s.refresh_token_get(&t0.token_digest).await.unwrap(),
        Some(RefreshToken {
            rotated_at: Some(T0 + 10),
            ..t0.clone()
        })
    );
    assert_eq!(
        s.refresh_token_get(&t1.token_digest).await.unwrap(),
        Some(t1.clone())
    );
    assert_eq!(
        s.access_token_family("jti-1").await.unwrap().as_deref(),
        Some("family")
    );

    // The replay: refused, and nothing of it is written.
    let replay = refresh("t1-replay", "family", T0 + 20);
    assert!(
        !s.refresh_token_rotate(&t0.token_digest, &replay, T0 + 20, "jti-r", T0 + 920)
            .await
            .unwrap()
    );
    assert_eq!(
        s.refresh_token_get(&replay.token_digest).await.unwrap(),
        None
    );
    assert_eq!(s.access_token_family("jti-r").await.unwrap(), None);
    assert_eq!(
        s.refresh_token_get(&t0.token_digest)
            .await
            .unwrap()
            .unwrap()
            .rotated_at,
        Some(T0 + 10),
        "the first rotation's time stays"
    );

    // The successor rotates in turn; an unknown token does not.
    let t2 = refresh("t2", "family", T0 + 30);
    assert!(
        s.refresh_token_rotate(&t1.token_digest, &t2, T0 + 30, "jti-2", T0 + 930)
            .await
            .unwrap()
    );
    assert!(
        !s.refresh_token_rotate(
            &SecretDigest::of("refresh never issued"),
            &refresh("t3", "family", T0 + 40),
            T0 + 40,
            "jti-3",
            T0 + 940
        )
        .await
        .unwrap()
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = 'family'")
            .await,
        3
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM family_access_tokens WHERE family_id = 'family'")
            .await,
        3
    );
}

async fn refresh_token_rotate_refuses_at_and_after_expires_at(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let last_second = refresh("last-second", "f-1", T0);
    let at_expiry = refresh("at-expiry", "f-2", T0);
    let after_expiry = refresh("after-expiry", "f-3", T0);
    for (i, t) in [&last_second, &at_expiry, &after_expiry]
        .into_iter()
        .enumerate()
    {
        s.refresh_token_insert(t, &format!("jti-{i}"), T0 + 900)
            .await
            .unwrap();
    }
    let exp = last_second.expires_at;
    let successor = |family: &str| refresh("next", family, exp);
    assert!(
        s.refresh_token_rotate(
            &last_second.token_digest,
            &successor("f-1"),
            exp - 1,
            "jti-next-1",
            exp + 899
        )
        .await
        .unwrap()
    );
    for (t, now, family) in [(&at_expiry, exp, "f-2"), (&after_expiry, exp + 1, "f-3")] {
        let next = RefreshToken {
            token_digest: SecretDigest::of(&format!("refresh next {family}")),
            ..successor(family)
        };
        assert!(
            !s.refresh_token_rotate(&t.token_digest, &next, now, "jti-refused", now + 900)
                .await
                .unwrap()
        );
        assert_eq!(
            s.refresh_token_get(&t.token_digest).await.unwrap(),
            Some(t.clone()),
            "a refused rotation leaves the token as it was"
        );
        assert_eq!(s.refresh_token_get(&next.token_digest).await.unwrap(), None);
    }
    assert_eq!(s.access_token_family("jti-refused").await.unwrap(), None);
}

async fn refresh_token_rotate_refuses_a_revoked_token(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let t0 = refresh("t0", "family", T0);
    s.refresh_token_insert(&t0, "jti-0", T0 + 900)
        .await
        .unwrap();
    assert_eq!(s.refresh_family_revoke("family", T0 + 5).await.unwrap(), 1);
    let t1 = refresh("t1", "family", T0 + 10);
    assert!(
        !s.refresh_token_rotate(&t0.token_digest, &t1, T0 + 10, "jti-1", T0 + 910)
            .await
            .unwrap()
    );
    assert_eq!(s.refresh_token_get(&t1.token_digest).await.unwrap(), None);
    assert_eq!(
        s.refresh_token_get(&t0.token_digest).await.unwrap(),
        Some(RefreshToken {
            revoked_at: Some(T0 + 5),
            ..t0
        })
    );
}

async fn refresh_token_rotate_into_another_family_is_refused_and_writes_nothing(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let t0 = refresh("t0", "family", T0);
    s.refresh_token_insert(&t0, "jti-0", T0 + 900)
        .await
        .unwrap();
    let stray = refresh("stray", "another family", T0 + 10);
    let err = s
        .refresh_token_rotate(&t0.token_digest, &stray, T0 + 10, "jti-1", T0 + 910)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert_eq!(
        s.refresh_token_get(&t0.token_digest).await.unwrap(),
        Some(t0.clone()),
        "still live"
    );
    assert_eq!(
        s.refresh_token_get(&stray.token_digest).await.unwrap(),
        None
    );
    assert_eq!(s.access_token_family("jti-1").await.unwrap(), None);
}

async fn refresh_token_rotate_race_has_one_winner(db: Db) {
    with_user(&db.store, ALICE).await;
    with_client(&db.store, "web").await;
    let t0 = refresh("t0", "family", T0);
    db.store
        .refresh_token_insert(&t0, "jti-0", T0 + 900)
        .await
        .unwrap();
    // 20 refresh requests with the same token, on two "nodes", at once, each with
    // its own successor and access token.
    let nodes = [db.store.clone(), db.reopen().await];
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let store = nodes[i % 2].clone();
            let old = t0.token_digest;
            tokio::spawn(async move {
                let successor = refresh(&format!("t1-{i}"), "family", T0 + 1);
                let jti = format!("jti-{i}-1");
                let won = store
                    .refresh_token_rotate(&old, &successor, T0 + 1, &jti, T0 + 901)
                    .await
                    .unwrap();
                won.then_some((successor, jti))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        winners.extend(attempt.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let (successor, jti) = winners.pop().unwrap();
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = 'family'")
            .await,
        2,
        "the token and exactly one successor"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM family_access_tokens WHERE family_id = 'family'")
            .await,
        2
    );
    assert_eq!(
        db.store
            .refresh_token_get(&successor.token_digest)
            .await
            .unwrap(),
        Some(successor)
    );
    assert_eq!(
        db.store.access_token_family(&jti).await.unwrap().as_deref(),
        Some("family")
    );
}

async fn refresh_family_revoke_revokes_the_family_only_and_its_access_tokens(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    // Family A: t0 rotated to t1. Family B: one token.
    let t0 = refresh("t0", "family-a", T0);
    let t1 = refresh("t1", "family-a", T0 + 10);
    let b0 = refresh("b0", "family-b", T0);
    s.refresh_token_insert(&t0, "jti-a0", T0 + 900)
        .await
        .unwrap();
    assert!(
        s.refresh_token_rotate(&t0.token_digest, &t1, T0 + 10, "jti-a1", T0 + 910)
            .await
            .unwrap()
    );
    s.refresh_token_insert(&b0, "jti-b0", T0 + 900)
        .await
        .unwrap();
    // Already revoked on its own (RFC 7009), with its own expiry: that row stays.
    s.access_token_revoke("jti-a0", T0 + 500).await.unwrap();

    assert_eq!(
        s.refresh_family_revoke("family-a", T0 + 20).await.unwrap(),
        2
    );
    assert_eq!(
        s.refresh_token_get(&t0.token_digest).await.unwrap(),
        Some(RefreshToken {
            rotated_at: Some(T0 + 10),
            revoked_at: Some(T0 + 20),
            ..t0.clone()
        })
    );
    assert_eq!(
        s.refresh_token_get(&t1.token_digest).await.unwrap(),
        Some(RefreshToken {
            revoked_at: Some(T0 + 20),
            ..t1.clone()
        })
    );
    assert_eq!(
        s.refresh_token_get(&b0.token_digest).await.unwrap(),
        Some(b0.clone())
    );
    assert!(s.access_token_is_revoked("jti-a0").await.unwrap());
    assert!(s.access_token_is_revoked("jti-a1").await.unwrap());
    assert!(!s.access_token_is_revoked("jti-b0").await.unwrap());
    assert_eq!(
        db.scalar("SELECT expires_at FROM revoked_access_tokens WHERE jti = 'jti-a1'")
            .await,
        T0 + 910,
        "revoked until the access token's exp"
    );
    assert_eq!(
        db.scalar("SELECT expires_at FROM revoked_access_tokens WHERE jti = 'jti-a0'")
            .await,
        T0 + 500
    );

    // Idempotent: nothing newly revoked, the first revocation time stays.
    assert_eq!(
        s.refresh_family_revoke("family-a", T0 + 30).await.unwrap(),
        0
    );
    assert_eq!(
        s.refresh_token_get(&t1.token_digest)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(T0 + 20)
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM revoked_access_tokens")
            .await,
        2
    );
    // The revoked successor cannot rotate; family B still can.
    assert!(
        !s.refresh_token_rotate(
            &t1.token_digest,
            &refresh("t2", "family-a", T0 + 40),
            T0 + 40,
            "jti-a2",
            T0 + 940
        )
        .await
        .unwrap()
    );
    assert!(
        s.refresh_token_rotate(
            &b0.token_digest,
            &refresh("b1", "family-b", T0 + 40),
            T0 + 40,
            "jti-b1",
            T0 + 940
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.refresh_family_revoke("no such family", T0).await.unwrap(),
        0
    );
}

async fn refresh_family_revoke_racing_rotations_leaves_no_live_token(db: Db) {
    // A replay revokes the family while the legitimate client keeps rotating it on
    // another node: whichever way they interleave, nothing of the family stays live.
    with_user(&db.store, ALICE).await;
    with_client(&db.store, "web").await;
    let other_node = db.reopen().await;
    for round in 0..25 {
        let family = format!("family-{round}");
        let first = refresh(&format!("{round}-0"), &family, T0);
        db.store
            .refresh_token_insert(&first, &format!("jti-{round}-0"), T0 + 900)
            .await
            .unwrap();
        let rotations = {
            let store = db.store.clone();
            let family = family.clone();
            tokio::spawn(async move {
                let mut chain = vec![first.token_digest];
                for step in 1..=20 {
                    let next = refresh(&format!("{round}-{step}"), &family, T0 + step);
                    let old = chain[chain.len() - 1];
                    let jti = format!("jti-{round}-{step}");
                    if !store
                        .refresh_token_rotate(&old, &next, T0 + step, &jti, T0 + 900)
                        .await
                        .unwrap()
                    {
                        break;
                    }
                    chain.push(next.token_digest);
                }
                chain
            })
        };
        let revoke = {
            let store = other_node.clone();
            let family = family.clone();
            tokio::spawn(async move {
                for _ in 0..round % 5 {
                    tokio::task::yield_now().await;
                }
                store
                    .refresh_family_revoke(&family, T0 + 100)
                    .await
                    .unwrap()
            })
        };
        let chain = rotations.await.unwrap();
        revoke.await.unwrap();
        for (step, digest) in chain.iter().enumerate() {
            let token = db.store.refresh_token_get(digest).await.unwrap().unwrap();
            assert_eq!(
                token.revoked_at,
                Some(T0 + 100),
                "round {round}: token {step} of {} is not revoked",
                chain.len()
            );
            assert!(
                db.store
                    .access_token_is_revoked(&format!("jti-{round}-{step}"))
                    .await
                    .unwrap(),
                "round {round}: access token {step} is not revoked"
            );
        }
    }
}

async fn access_token_family_names_only_recorded_tokens(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let t0 = refresh("t0", "family", T0);
    s.refresh_token_insert(&t0, "jti-0", T0 + 900)
        .await
        .unwrap();
    s.refresh_token_rotate(
        &t0.token_digest,
        &refresh("t1", "family", T0 + 1),
        T0 + 1,
        "jti-1",
        T0 + 901,
    )
    .await
    .unwrap();
    // An access token revoked on its own, and one issued without a refresh token.
    s.access_token_revoke("jti-revoked", T0 + 900)
        .await
        .unwrap();
    for (jti, family) in [
        ("jti-0", Some("family")),
        ("jti-1", Some("family")),
        ("jti-revoked", None),
        ("jti-never", None),
        ("JTI-0", None),
    ] {
        assert_eq!(
            s.access_token_family(jti).await.unwrap().as_deref(),
            family,
            "{jti}"
        );
    }
}

async fn deleting_a_client_or_user_deletes_its_refresh_tokens(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_user(s, BOB).await;
    with_client(s, "web").await;
    with_client(s, "cli").await;
    for (user_id, client_id, name) in [
        (ALICE, "web", "aw"),
        (ALICE, "cli", "ac"),
        (BOB, "web", "bw"),
        (BOB, "cli", "bc"),
    ] {
        s.refresh_token_insert(
            &RefreshToken {
                client_id: client_id.into(),
                user_id: user_id.into(),
                ..refresh(name, name, T0)
            },
            &format!("jti-{name}"),
            T0 + 900,
        )
        .await
        .unwrap();
    }
    assert!(s.client_delete("web").await.unwrap());
    assert!(s.user_delete("alice").await.unwrap());
    let digest = |name: &str| SecretDigest::of(&format!("refresh {name}"));
    for name in ["aw", "ac", "bw"] {
        assert_eq!(s.refresh_token_get(&digest(name)).await.unwrap(), None);
    }
    assert!(s.refresh_token_get(&digest("bc")).await.unwrap().is_some());
}

async fn undecodable_refresh_token_rows_are_corrupt_naming_the_column(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let t = refresh("t", "family", T0);
    s.refresh_token_insert(&t, "jti", T0 + 900).await.unwrap();
    db.raw("UPDATE refresh_tokens SET scopes = 'openid profile'")
        .await;
    let err = s.refresh_token_get(&t.token_digest).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(what) if what.contains("refresh_tokens.scopes")),
        "{err:?}"
    );
}

async fn refresh_family_list_summarises_live_families_by_user_and_client(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_user(s, BOB).await;
    with_client(s, "web").await;
    with_client(s, "other").await;
    let f1 = refresh("f1-a", "f1", T0);
    s.refresh_token_insert(&f1, "j1", T0 + 900).await.unwrap();
    s.refresh_token_rotate(
        &f1.token_digest,
        &refresh("f1-b", "f1", T0 + 50),
        T0 + 50,
        "j2",
        T0 + 950,
    )
    .await
    .unwrap();
    let f2 = RefreshToken {
        client_id: "other".into(),
        scopes: vec!["openid".into()],
        ..refresh("f2-a", "f2", T0 + 10)
    };
    s.refresh_token_insert(&f2, "j3", T0 + 20).await.unwrap();
    let bob = RefreshToken {
        user_id: BOB.into(),
        ..refresh("f3-a", "f3", T0 + 5)
    };
    s.refresh_token_insert(&bob, "j4", T0 + 900).await.unwrap();
    let revoked = refresh("f4-a", "f4", T0 + 1);
    s.refresh_token_insert(&revoked, "j5", T0 + 900)
        .await
        .unwrap();
    s.refresh_family_revoke("f4", T0 + 2).await.unwrap();

    let now = T0 + 60;
    let alice = s.refresh_family_list(Some(ALICE), None, now).await.unwrap();
    let ids: Vec<&str> = alice.iter().map(|f| f.family_id.as_str()).collect();
    assert_eq!(
        ids,
        ["f1", "f2"],
        "oldest first; a revoked family is not listed"
    );
    let first = &alice[0];
    assert_eq!(
        (first.client_id.as_str(), first.user_id.as_str()),
        ("web", ALICE)
    );
    assert_eq!(
        (first.created_at, first.last_used_at, first.auth_time),
        (T0, T0 + 50, T0 - 30)
    );
    assert_eq!(first.live_access_tokens, 2);
    assert_eq!(alice[1].scopes, ["openid"]);
    assert_eq!(alice[1].live_access_tokens, 0, "its access token expired");
    let web = s.refresh_family_list(None, Some("web"), now).await.unwrap();
    let ids: Vec<&str> = web.iter().map(|f| f.family_id.as_str()).collect();
    assert_eq!(ids, ["f1", "f3"]);
    let both = s
        .refresh_family_list(Some(BOB), Some("web"), now)
        .await
        .unwrap();
    assert_eq!(both.len(), 1);
    assert!(
        s.refresh_family_list(Some(ALICE), None, T0 + 86_400 + 51)
            .await
            .unwrap()
            .is_empty(),
        "expired families are not listed"
    );
}
