//! The `pending_authorizations` table.

use super::*;

store_cases!(
    pending_authorization_round_trip_keeps_every_field,
    pending_authorization_insert_of_an_existing_digest_is_a_conflict,
    pending_authorization_set_user_records_the_user_until_expires_at,
    pending_authorization_get_stops_at_expires_at,
    pending_authorization_take_returns_it_once,
    pending_authorization_take_race_has_one_winner,
    pending_authorization_take_refuses_an_expired_request,
    pending_authorization_round_trip_keeps_the_device_authorization,
);

async fn pending_authorization_round_trip_keeps_every_field(db: Db) {
    let s = &db.store;
    let bare = pending("bare", T0);
    let mut full = pending("full", T0);
    full.request = full_request();
    full.user_id = Some(ALICE.into());
    full.auth_time = Some(T0 - 30);
    s.pending_authorization_insert(&bare).await.unwrap();
    s.pending_authorization_insert(&full).await.unwrap();
    assert_eq!(
        s.pending_authorization_get(&bare.id_digest, T0)
            .await
            .unwrap(),
        Some(bare)
    );
    assert_eq!(
        s.pending_authorization_get(&full.id_digest, T0)
            .await
            .unwrap(),
        Some(full)
    );
    assert_eq!(
        s.pending_authorization_get(&SecretDigest::of("other"), T0)
            .await
            .unwrap(),
        None
    );
}

async fn pending_authorization_insert_of_an_existing_digest_is_a_conflict(db: Db) {
    let s = &db.store;
    let first = pending("id", T0);
    s.pending_authorization_insert(&first).await.unwrap();
    let mut second = pending("id", T0 + 5);
    second.csrf_token = "another".into();
    let err = s.pending_authorization_insert(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.pending_authorization_get(&first.id_digest, T0)
            .await
            .unwrap(),
        Some(first)
    );
}

async fn pending_authorization_set_user_records_the_user_until_expires_at(db: Db) {
    let s = &db.store;
    let p = pending("id", T0);
    s.pending_authorization_insert(&p).await.unwrap();
    assert!(
        s.pending_authorization_set_user(&p.id_digest, ALICE, T0 + 10, T0 + 10)
            .await
            .unwrap()
    );
    // Logging in again (another account) replaces the first.
    let last_live = p.expires_at - 1;
    assert!(
        s.pending_authorization_set_user(&p.id_digest, BOB, last_live, last_live)
            .await
            .unwrap()
    );
    let stored = s
        .pending_authorization_get(&p.id_digest, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        PendingAuthorization {
            user_id: Some(BOB.into()),
            auth_time: Some(last_live),
            ..p.clone()
        }
    );
    for late in [p.expires_at, p.expires_at + 1] {
        assert!(
            !s.pending_authorization_set_user(&p.id_digest, ALICE, late, late)
                .await
                .unwrap()
        );
    }
    assert!(
        !s.pending_authorization_set_user(&SecretDigest::of("other"), ALICE, T0, T0)
            .await
            .unwrap()
    );
    assert_eq!(
        s.pending_authorization_get(&p.id_digest, T0).await.unwrap(),
        Some(stored)
    );
}

async fn pending_authorization_get_stops_at_expires_at(db: Db) {
    let s = &db.store;
    let p = pending("id", T0);
    s.pending_authorization_insert(&p).await.unwrap();
    assert_eq!(
        s.pending_authorization_get(&p.id_digest, p.expires_at - 1)
            .await
            .unwrap(),
        Some(p.clone())
    );
    for late in [p.expires_at, p.expires_at + 1] {
        assert_eq!(
            s.pending_authorization_get(&p.id_digest, late)
                .await
                .unwrap(),
            None
        );
    }
}

async fn pending_authorization_take_returns_it_once(db: Db) {
    let s = &db.store;
    let p = pending("id", T0);
    let other = pending("other", T0);
    s.pending_authorization_insert(&p).await.unwrap();
    s.pending_authorization_insert(&other).await.unwrap();
    assert_eq!(
        s.pending_authorization_take(&p.id_digest, p.expires_at - 1)
            .await
            .unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        s.pending_authorization_take(&p.id_digest, T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.pending_authorization_get(&p.id_digest, T0).await.unwrap(),
        None
    );
    assert_eq!(
        s.pending_authorization_get(&other.id_digest, T0)
            .await
            .unwrap(),
        Some(other)
    );
}

async fn pending_authorization_take_race_has_one_winner(db: Db) {
    // Two submissions of the consent form, on two "nodes", at once.
    let nodes = [db.store.clone(), db.reopen().await];
    for round in 0..10 {
        let p = pending(&format!("id-{round}"), T0);
        nodes[0].pending_authorization_insert(&p).await.unwrap();
        let takes: Vec<_> = nodes
            .iter()
            .map(|store| {
                let store = store.clone();
                let digest = p.id_digest;
                tokio::spawn(async move { store.pending_authorization_take(&digest, T0).await })
            })
            .collect();
        let mut won = Vec::new();
        for take in takes {
            if let Some(taken) = take.await.unwrap().unwrap() {
                won.push(taken);
            }
        }
        assert_eq!(won, vec![p], "round {round}");
    }
}

async fn pending_authorization_take_refuses_an_expired_request(db: Db) {
    let s = &db.store;
    let p = pending("id", T0);
    s.pending_authorization_insert(&p).await.unwrap();
    for late in [p.expires_at, p.expires_at + 1] {
        assert_eq!(
            s.pending_authorization_take(&p.id_digest, late)
                .await
                .unwrap(),
            None
        );
    }
}

async fn pending_authorization_round_trip_keeps_the_device_authorization(db: Db) {
    let s = &db.store;
    let p = PendingAuthorization {
        device: Some(PendingDevice {
            device_code_digest: SecretDigest::of("device code"),
            sealed_user_code: "c2VhbGVkIHVzZXIgY29kZQ".into(),
        }),
        ..pending("device", T0)
    };
    s.pending_authorization_insert(&p).await.unwrap();
    assert_eq!(
        s.pending_authorization_get(&p.id_digest, T0).await.unwrap(),
        Some(p.clone())
    );
    assert!(
        s.pending_authorization_set_user(&p.id_digest, ALICE, T0, T0)
            .await
            .unwrap()
    );
    let taken = s
        .pending_authorization_take(&p.id_digest, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.device, p.device);
    // Both columns or neither: a half-written row is refused by the schema.
    assert!(
        schema_refuses_a_half_device_row(&db).await,
        "the schema accepted a device_user_code without its digest"
    );
}

/// Whether the schema refuses a pending row with a user code but no device code
/// digest (the both-or-neither CHECK).
async fn schema_refuses_a_half_device_row(db: &Db) -> bool {
    let s = &db.store;
    let p = pending("half", T0);
    s.pending_authorization_insert(&p).await.unwrap();
    let sql = "UPDATE pending_authorizations SET device_user_code = 'BCDF-GHJK' \
               WHERE device_code_digest IS NULL";
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.is_err()
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.is_err()
    }
}
