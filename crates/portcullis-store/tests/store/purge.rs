//! `purge_expired` across the tables.

use super::*;
use portcullis_core::dpop::proof_digest;

store_cases!(
    purge_expired_removes_exactly_the_expired_rows_of_each_table,
    purge_expired_keeps_a_redeemed_code_while_its_access_token_lives,
    purge_expired_deletes_at_most_limit_rows_per_table,
);

async fn purge_expired_removes_exactly_the_expired_rows_of_each_table(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    // In each table, a row that expires at `now` (gone) and one a second later (kept).
    let now = T0 + 10_000;
    let p_gone = SecretDigest::of("used gone");
    let p_kept = SecretDigest::of("used kept");
    let s_gone = BrowserSession {
        expires_at: now,
        ..session("gone", ALICE)
    };
    let s_kept = BrowserSession {
        expires_at: now + 1,
        ..session("kept", ALICE)
    };
    let c_gone = AuthorizationCode {
        expires_at: now,
        ..code("gone", T0)
    };
    let c_kept = AuthorizationCode {
        expires_at: now + 1,
        ..code("kept", T0)
    };
    s.authorization_request_use(&p_gone, now).await.unwrap();
    s.authorization_request_use(&p_kept, now + 1).await.unwrap();
    s.session_insert(&s_gone).await.unwrap();
    s.session_insert(&s_kept).await.unwrap();
    s.authorization_code_insert(&c_gone).await.unwrap();
    s.authorization_code_insert(&c_kept).await.unwrap();
    s.access_token_revoke("jti-gone", now).await.unwrap();
    s.access_token_revoke("jti-kept", now + 1).await.unwrap();
    // A refresh token is purged at its expiry whatever its state; its family record
    // of an access token at the token's exp.
    let r_gone = RefreshToken {
        expires_at: now,
        rotated_at: Some(T0 + 1),
        ..refresh("gone", "family", T0)
    };
    let r_kept = RefreshToken {
        expires_at: now + 1,
        ..refresh("kept", "family", T0)
    };
    s.refresh_token_insert(&r_gone, "fat-gone", now)
        .await
        .unwrap();
    s.refresh_token_insert(&r_kept, "fat-kept", now + 1)
        .await
        .unwrap();
    // A device authorization is purged at its expiry whatever its state.
    let d_gone = DeviceAuthorization {
        expires_at: now,
        ..approved(device("gone", T0))
    };
    let d_kept = DeviceAuthorization {
        expires_at: now + 1,
        ..device("kept", T0)
    };
    s.device_authorization_insert(&d_gone).await.unwrap();
    s.device_authorization_insert(&d_kept).await.unwrap();

    assert_eq!(
        s.purge_expired(now, 100).await.unwrap(),
        PurgeCounts {
            used_authorization_requests: 1,
            browser_sessions: 1,
            authorization_codes: 1,
            revoked_access_tokens: 1,
            refresh_tokens: 1,
            family_access_tokens: 1,
            device_authorizations: 1,
            rate_limits: 0,
            dpop_proofs: 0,
            pushed_authorization_requests: 0,
            client_assertions: 0,
        }
    );
    // Looked up at T0, when every row would be live: only existence matters.
    // A purged request id could be used again (its sealed form has expired anyway);
    // a kept one not.
    assert!(s.authorization_request_use(&p_gone, now + 1).await.unwrap());
    assert!(!s.authorization_request_use(&p_kept, now + 1).await.unwrap());
    assert_eq!(
        s.session_get(&s_gone.session_digest, T0).await.unwrap(),
        None
    );
    assert_eq!(
        s.session_get(&s_kept.session_digest, T0).await.unwrap(),
        Some(s_kept)
    );
    assert_eq!(
        s.authorization_code_get(&c_gone.code_digest).await.unwrap(),
        None
    );
    assert_eq!(
        s.authorization_code_get(&c_kept.code_digest).await.unwrap(),
        Some(c_kept)
    );
    assert!(!s.access_token_is_revoked("jti-gone").await.unwrap());
    assert!(s.access_token_is_revoked("jti-kept").await.unwrap());
    assert_eq!(
        s.refresh_token_get(&r_gone.token_digest).await.unwrap(),
        None
    );
    assert_eq!(
        s.refresh_token_get(&r_kept.token_digest).await.unwrap(),
        Some(r_kept)
    );
    assert_eq!(s.access_token_family("fat-gone").await.unwrap(), None);
    assert_eq!(
        s.access_token_family("fat-kept").await.unwrap().as_deref(),
        Some("family")
    );
    assert_eq!(
        s.device_authorization_get(&d_gone.device_code_digest)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.device_authorization_get(&d_kept.device_code_digest)
            .await
            .unwrap(),
        Some(d_kept)
    );

    // Nothing more is due at `now`; everything left is a second later.
    assert_eq!(
        s.purge_expired(now, 100).await.unwrap(),
        PurgeCounts::default()
    );
    let later = s.purge_expired(now + 1, 100).await.unwrap();
    assert_eq!(
        (
            later.total(),
            later.authorization_codes,
            later.refresh_tokens,
            later.device_authorizations
        ),
        (8, 1, 1, 1)
    );
    assert_eq!(remaining_rows(&db).await, 0);
}

async fn purge_expired_keeps_a_redeemed_code_while_its_access_token_lives(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    // Three codes, long expired at `now`, redeemed for tokens of different lives.
    let now = T0 + 10_000;
    let redeemed = |name: &str, token_exp: i64| AuthorizationCode {
        consumed_at: Some(T0 + 1),
        access_token_jti: Some(format!("jti-{name}")),
        access_token_expires_at: Some(token_exp),
        ..code(name, T0)
    };
    let token_dead = redeemed("token-dead", now - 1);
    let token_ends_now = redeemed("token-ends-now", now);
    let token_lives = redeemed("token-lives", now + 1);
    for c in [&token_dead, &token_ends_now, &token_lives] {
        s.authorization_code_insert(c).await.unwrap();
    }
    let counts = s.purge_expired(now, 100).await.unwrap();
    assert_eq!((counts.authorization_codes, counts.total()), (2, 2));
    for gone in [&token_dead, &token_ends_now] {
        assert_eq!(
            s.authorization_code_get(&gone.code_digest).await.unwrap(),
            None
        );
    }
    assert_eq!(
        s.authorization_code_get(&token_lives.code_digest)
            .await
            .unwrap(),
        Some(token_lives.clone())
    );
    // A replay now can still revoke the live token.
    assert!(
        s.authorization_code_revoke_tokens(&token_lives.code_digest, "no family", now)
            .await
            .unwrap()
    );
    assert!(s.access_token_is_revoked("jti-token-lives").await.unwrap());
    // Once the token is dead, the code and its revocation entry go.
    assert_eq!(
        s.purge_expired(now + 1, 100).await.unwrap(),
        PurgeCounts {
            authorization_codes: 1,
            revoked_access_tokens: 1,
            ..PurgeCounts::default()
        }
    );
    assert_eq!(remaining_rows(&db).await, 0);
}

async fn purge_expired_deletes_at_most_limit_rows_per_table(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_client(s, "web").await;
    // Five expired rows in each table, and one live row.
    let now = T0 + 10_000;
    for i in 0..6 {
        let expires_at = if i < 5 { now - i } else { now + 1 };
        let name = format!("row-{i}");
        s.authorization_request_use(&SecretDigest::of(&name), expires_at)
            .await
            .unwrap();
        s.session_insert(&BrowserSession {
            expires_at,
            ..session(&name, ALICE)
        })
        .await
        .unwrap();
        s.authorization_code_insert(&AuthorizationCode {
            expires_at,
            ..code(&name, T0)
        })
        .await
        .unwrap();
        s.access_token_revoke(&name, expires_at).await.unwrap();
        s.refresh_token_insert(
            &RefreshToken {
                expires_at,
                ..refresh(&name, "family", T0)
            },
            &name,
            expires_at,
        )
        .await
        .unwrap();
        s.device_authorization_insert(&DeviceAuthorization {
            expires_at,
            ..device(&name, T0)
        })
        .await
        .unwrap();
        let proof = proof_digest("jkt", "https://id.example/token", &name);
        s.dpop_proof_record(&proof, expires_at).await.unwrap();
    }
    let each = |n: u64| PurgeCounts {
        used_authorization_requests: n,
        browser_sessions: n,
        authorization_codes: n,
        revoked_access_tokens: n,
        refresh_tokens: n,
        family_access_tokens: n,
        device_authorizations: n,
        rate_limits: 0,
        dpop_proofs: n,
        pushed_authorization_requests: 0,
        client_assertions: 0,
    };
    for (round, expected) in [2, 2, 1, 0].into_iter().enumerate() {
        assert_eq!(
            s.purge_expired(now, 2).await.unwrap(),
            each(expected),
            "round {round}"
        );
    }
    assert_eq!(each(2).total(), 16);
    assert_eq!(s.purge_expired(now + 1, 0).await.unwrap(), each(0));
    // The live rows are all that is left.
    assert_eq!(remaining_rows(&db).await, 8);
    assert_eq!(
        s.access_token_family("row-5").await.unwrap().as_deref(),
        Some("family")
    );
    assert!(s.access_token_is_revoked("row-5").await.unwrap());
    assert!(
        s.session_get(&SecretDigest::of("row-5"), now)
            .await
            .unwrap()
            .is_some()
    );
}

/// Rows left in the tables `purge_expired` cleans, behind the store's back.
async fn remaining_rows(db: &Db) -> i64 {
    db.scalar(
        "SELECT (SELECT COUNT(*) FROM used_authorization_requests) \
         + (SELECT COUNT(*) FROM browser_sessions) \
         + (SELECT COUNT(*) FROM authorization_codes) \
         + (SELECT COUNT(*) FROM revoked_access_tokens) \
         + (SELECT COUNT(*) FROM refresh_tokens) \
         + (SELECT COUNT(*) FROM family_access_tokens) \
         + (SELECT COUNT(*) FROM device_authorizations) \
         + (SELECT COUNT(*) FROM dpop_proofs)",
    )
    .await
}
