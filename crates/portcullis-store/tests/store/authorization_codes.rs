//! The `authorization_codes` table: single use, its refresh token in the same
//! transaction, and replay revocation.

use super::*;

store_cases!(
    authorization_code_round_trip_keeps_every_field,
    authorization_code_insert_of_an_existing_digest_is_a_conflict,
    authorization_code_insert_for_an_unknown_client_or_user_is_not_found,
    authorization_code_consume_succeeds_once_and_records_the_token,
    authorization_code_consume_race_has_one_winner,
    authorization_code_consume_stores_the_refresh_token_in_the_same_transaction,
    authorization_code_consume_whose_refresh_insert_conflicts_writes_nothing,
    authorization_code_consume_refuses_at_and_after_expires_at,
    authorization_code_consume_of_an_unknown_code_is_false,
    authorization_code_revoke_tokens_revokes_the_access_token_idempotently,
    authorization_code_revoke_tokens_of_an_unused_or_unknown_code_is_false,
    authorization_code_revoke_tokens_revokes_the_refresh_family_in_the_same_call,
    undecodable_authorization_rows_are_corrupt_naming_the_column,
);

async fn authorization_code_round_trip_keeps_every_field(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let bare = code("bare", T0);
    let full = AuthorizationCode {
        redirect_uri_sent: false,
        code_challenge: Some(
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap(),
        ),
        scopes: vec!["email".into(), "openid".into(), "profile".into()],
        resources: vec![
            "https://api.example/".into(),
            "https://reports.example/v1".into(),
        ],
        nonce: Some("n-0S6_WzA2Mj ünï".into()),
        consumed_at: Some(T0 + 7),
        access_token_jti: Some("jti-full".into()),
        access_token_expires_at: Some(T0 + 3_607),
        dpop_jkt: Some(JKT.into()),
        ..code("full", T0)
    };
    s.authorization_code_insert(&bare).await.unwrap();
    s.authorization_code_insert(&full).await.unwrap();
    assert_eq!(
        s.authorization_code_get(&bare.code_digest).await.unwrap(),
        Some(bare)
    );
    assert_eq!(
        s.authorization_code_get(&full.code_digest).await.unwrap(),
        Some(full)
    );
    assert_eq!(
        s.authorization_code_get(&SecretDigest::of("other"))
            .await
            .unwrap(),
        None
    );
}

async fn authorization_code_insert_of_an_existing_digest_is_a_conflict(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let first = code("code", T0);
    s.authorization_code_insert(&first).await.unwrap();
    let err = s
        .authorization_code_insert(&code("code", T0 + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.authorization_code_get(&first.code_digest).await.unwrap(),
        Some(first)
    );
}

async fn authorization_code_insert_for_an_unknown_client_or_user_is_not_found(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let no_client = AuthorizationCode {
        client_id: "gone".into(),
        ..code("a", T0)
    };
    let no_user = AuthorizationCode {
        user_id: "0190-gone".into(),
        ..code("b", T0)
    };
    for c in [no_client, no_user] {
        let err = s.authorization_code_insert(&c).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
        assert_eq!(
            s.authorization_code_get(&c.code_digest).await.unwrap(),
            None
        );
    }
}

async fn authorization_code_consume_succeeds_once_and_records_the_token(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let c = code("code", T0);
    s.authorization_code_insert(&c).await.unwrap();
    assert!(
        s.authorization_code_consume(&c.code_digest, T0 + 5, None, "jti-1", T0 + 3_605)
            .await
            .unwrap()
    );
    assert!(
        !s.authorization_code_consume(&c.code_digest, T0 + 6, None, "jti-2", T0 + 3_606)
            .await
            .unwrap()
    );
    // The first redemption's record stays; the refused one wrote nothing.
    assert_eq!(
        s.authorization_code_get(&c.code_digest).await.unwrap(),
        Some(AuthorizationCode {
            consumed_at: Some(T0 + 5),
            access_token_jti: Some("jti-1".into()),
            access_token_expires_at: Some(T0 + 3_605),
            ..c
        })
    );
}

async fn authorization_code_consume_race_has_one_winner(db: Db) {
    with_user(&db.store, ALICE).await;
    with_client(&db.store, "web").await;
    let c = code("code", T0);
    db.store.authorization_code_insert(&c).await.unwrap();
    // 20 token requests with the same code, on two "nodes", at once, each with its
    // own refresh token.
    let nodes = [db.store.clone(), db.reopen().await];
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let store = nodes[i % 2].clone();
            let digest = c.code_digest;
            tokio::spawn(async move {
                let jti = format!("jti-{i}");
                let token = refresh(&format!("request {i}"), "code family", T0 + 1);
                let won = store
                    .authorization_code_consume(&digest, T0 + 1, Some(&token), &jti, T0 + 3_601)
                    .await
                    .unwrap();
                won.then_some(jti)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        winners.extend(attempt.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    // Only the winner's refresh token and access token were stored.
    for i in 0..20 {
        let jti = format!("jti-{i}");
        let won = winners.contains(&jti);
        let stored = db
            .store
            .refresh_token_get(&SecretDigest::of(&format!("refresh request {i}")))
            .await
            .unwrap();
        let family = db.store.access_token_family(&jti).await.unwrap();
        assert_eq!(stored.is_some(), won, "refresh token of request {i}");
        assert_eq!(family.is_some(), won, "access token of request {i}");
    }
    let stored = db
        .store
        .authorization_code_get(&c.code_digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.access_token_jti, winners.pop());
}

async fn authorization_code_consume_stores_the_refresh_token_in_the_same_transaction(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let c = code("code", T0);
    s.authorization_code_insert(&c).await.unwrap();
    let token = refresh("first", "code family", T0 + 1);
    assert!(
        s.authorization_code_consume(&c.code_digest, T0 + 1, Some(&token), "jti first", T0 + 900)
            .await
            .unwrap()
    );
    assert_eq!(
        s.refresh_token_get(&token.token_digest).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(
        s.access_token_family("jti first").await.unwrap().as_deref(),
        Some("code family")
    );
    let stored = s.authorization_code_get(&c.code_digest).await.unwrap();
    assert_eq!(
        stored.map(|c| (c.consumed_at, c.access_token_jti)),
        Some((Some(T0 + 1), Some("jti first".into())))
    );
    // A refused redemption writes no refresh token.
    let late = refresh("late", "code family", T0 + 2);
    assert!(
        !s.authorization_code_consume(&c.code_digest, T0 + 2, Some(&late), "jti late", T0 + 900)
            .await
            .unwrap()
    );
    assert_eq!(s.refresh_token_get(&late.token_digest).await.unwrap(), None);
    assert_eq!(s.access_token_family("jti late").await.unwrap(), None);
    // Revoking the family reaches the access token issued with it.
    assert_eq!(
        s.refresh_family_revoke("code family", T0 + 3)
            .await
            .unwrap(),
        1
    );
    assert!(s.access_token_is_revoked("jti first").await.unwrap());
}

async fn authorization_code_consume_whose_refresh_insert_conflicts_writes_nothing(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let c = code("code", T0);
    s.authorization_code_insert(&c).await.unwrap();
    // A refresh token with the same digest, and an access token with the same jti,
    // are already stored: each insert fails inside the consume's transaction.
    let taken = refresh("taken", "other family", T0);
    s.refresh_token_insert(&taken, "jti taken", T0 + 900)
        .await
        .unwrap();
    let same_digest = RefreshToken {
        family_id: "code family".into(),
        ..taken.clone()
    };
    let fresh = refresh("fresh", "code family", T0 + 1);
    for (token, jti) in [(&same_digest, "jti new"), (&fresh, "jti taken")] {
        let err = s
            .authorization_code_consume(&c.code_digest, T0 + 1, Some(token), jti, T0 + 900)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        // Nothing was written: the code is not consumed, no token of the family.
        assert_eq!(
            s.authorization_code_get(&c.code_digest).await.unwrap(),
            Some(c.clone())
        );
        assert_eq!(
            s.refresh_token_get(&fresh.token_digest).await.unwrap(),
            None
        );
        assert_eq!(s.access_token_family("jti new").await.unwrap(), None);
        assert_eq!(s.refresh_family_revoke("code family", T0).await.unwrap(), 0);
    }
    assert_eq!(
        s.refresh_token_get(&taken.token_digest).await.unwrap(),
        Some(taken)
    );
    // So a retry still redeems it, with one refresh token in the family.
    assert!(
        s.authorization_code_consume(&c.code_digest, T0 + 2, Some(&fresh), "jti new", T0 + 900)
            .await
            .unwrap()
    );
    assert_eq!(
        s.refresh_token_get(&fresh.token_digest).await.unwrap(),
        Some(fresh)
    );
    assert_eq!(
        s.refresh_family_revoke("code family", T0 + 3)
            .await
            .unwrap(),
        1
    );
}

async fn authorization_code_consume_refuses_at_and_after_expires_at(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let last_second = code("last-second", T0);
    let at_expiry = code("at-expiry", T0);
    let after_expiry = code("after-expiry", T0);
    for c in [&last_second, &at_expiry, &after_expiry] {
        s.authorization_code_insert(c).await.unwrap();
    }
    let exp = last_second.expires_at;
    assert!(
        s.authorization_code_consume(&last_second.code_digest, exp - 1, None, "j1", exp + 3_600)
            .await
            .unwrap()
    );
    for (c, now) in [(&at_expiry, exp), (&after_expiry, exp + 1)] {
        assert!(
            !s.authorization_code_consume(&c.code_digest, now, None, "j2", now + 3_600)
                .await
                .unwrap()
        );
        assert_eq!(
            s.authorization_code_get(&c.code_digest).await.unwrap(),
            Some(c.clone()),
            "a refused redemption leaves the code unused"
        );
    }
}

async fn authorization_code_consume_of_an_unknown_code_is_false(db: Db) {
    assert!(
        !db.store
            .authorization_code_consume(&SecretDigest::of("never issued"), T0, None, "j", T0 + 60)
            .await
            .unwrap()
    );
}

async fn authorization_code_revoke_tokens_revokes_the_access_token_idempotently(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let c = code("code", T0);
    let bystander = code("other", T0);
    s.authorization_code_insert(&c).await.unwrap();
    s.authorization_code_insert(&bystander).await.unwrap();
    s.authorization_code_consume(&c.code_digest, T0 + 1, None, "jti-replayed", T0 + 3_601)
        .await
        .unwrap();
    s.authorization_code_consume(
        &bystander.code_digest,
        T0 + 1,
        None,
        "jti-innocent",
        T0 + 3_601,
    )
    .await
    .unwrap();
    assert!(!s.access_token_is_revoked("jti-replayed").await.unwrap());

    // The replay: the code's token goes on the revocation list, and only it.
    assert!(
        s.authorization_code_revoke_tokens(&c.code_digest, "code family", T0 + 2)
            .await
            .unwrap()
    );
    assert!(s.access_token_is_revoked("jti-replayed").await.unwrap());
    assert!(!s.access_token_is_revoked("jti-innocent").await.unwrap());
    // A second replay changes nothing and still answers true.
    assert!(
        s.authorization_code_revoke_tokens(&c.code_digest, "code family", T0 + 3)
            .await
            .unwrap()
    );
    assert!(s.access_token_is_revoked("jti-replayed").await.unwrap());
    assert_eq!(
        s.authorization_code_get(&c.code_digest)
            .await
            .unwrap()
            .unwrap()
            .access_token_jti
            .as_deref(),
        Some("jti-replayed")
    );
}

/// Issue 17: the replay's revocation is one transaction, so no crash can leave the
/// access token revoked and the refresh family live.
async fn authorization_code_revoke_tokens_revokes_the_refresh_family_in_the_same_call(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let c = code("code", T0);
    s.authorization_code_insert(&c).await.unwrap();
    let first = refresh("first", "code family", T0 + 1);
    s.authorization_code_consume(&c.code_digest, T0 + 1, Some(&first), "jti first", T0 + 900)
        .await
        .unwrap();
    let second = refresh("second", "code family", T0 + 2);
    assert!(
        s.refresh_token_rotate(&first.token_digest, &second, T0 + 2, "jti second", T0 + 902)
            .await
            .unwrap()
    );
    let bystander = refresh("bystander", "other family", T0 + 2);
    s.refresh_token_insert(&bystander, "jti bystander", T0 + 902)
        .await
        .unwrap();

    assert!(
        s.authorization_code_revoke_tokens(&c.code_digest, "code family", T0 + 3)
            .await
            .unwrap()
    );
    for jti in ["jti first", "jti second"] {
        assert!(s.access_token_is_revoked(jti).await.unwrap(), "{jti}");
    }
    for token in [&first, &second] {
        let stored = s.refresh_token_get(&token.token_digest).await.unwrap();
        assert_eq!(stored.and_then(|t| t.revoked_at), Some(T0 + 3));
    }
    assert!(!s.access_token_is_revoked("jti bystander").await.unwrap());
    let stored = s.refresh_token_get(&bystander.token_digest).await.unwrap();
    assert_eq!(stored.and_then(|t| t.revoked_at), None);
    // Everything was revoked by that one call.
    assert_eq!(
        s.refresh_family_revoke("code family", T0 + 4)
            .await
            .unwrap(),
        0
    );
}

async fn authorization_code_revoke_tokens_of_an_unused_or_unknown_code_is_false(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let unused = code("unused", T0);
    s.authorization_code_insert(&unused).await.unwrap();
    assert!(
        !s.authorization_code_revoke_tokens(&unused.code_digest, "unused family", T0 + 1)
            .await
            .unwrap()
    );
    assert!(
        !s.authorization_code_revoke_tokens(&SecretDigest::of("never issued"), "none", T0)
            .await
            .unwrap()
    );
    // The unused code can still be redeemed.
    assert!(
        s.authorization_code_consume(&unused.code_digest, T0 + 2, None, "jti", T0 + 3_602)
            .await
            .unwrap()
    );
    assert!(!s.access_token_is_revoked("jti").await.unwrap());
}

async fn undecodable_authorization_rows_are_corrupt_naming_the_column(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    let c = code("code", T0);
    s.authorization_code_insert(&c).await.unwrap();
    s.consent_grant(ALICE, "web", &scopes(&["openid"]), T0)
        .await
        .unwrap();
    db.raw("UPDATE authorization_codes SET resources = 'not json'")
        .await;
    db.raw("UPDATE consents SET scopes = '{}'").await;

    let err = s.authorization_code_get(&c.code_digest).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(what) if what.contains("authorization_codes.resources")),
        "{err:?}"
    );
    let err = s.consent_get(ALICE, "web").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(what) if what.contains("consents.scopes")),
        "{err:?}"
    );
}
