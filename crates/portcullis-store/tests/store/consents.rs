//! The `consents` table, and what deleting or upserting a client or user does to the
//! rows that name it (sessions, consents, codes).

use super::*;

store_cases!(
    consent_get_of_no_consent_is_empty,
    consent_grant_adds_to_the_approved_scopes,
    consent_grant_race_loses_no_scope,
    deleting_a_client_or_user_deletes_its_sessions_consents_and_codes,
    upserting_a_client_or_user_keeps_its_consents_and_codes,
);

async fn consent_get_of_no_consent_is_empty(db: Db) {
    assert_eq!(
        db.store.consent_get(ALICE, "web").await.unwrap(),
        BTreeSet::new()
    );
}

async fn consent_grant_adds_to_the_approved_scopes(db: Db) {
    let s = &db.store;
    with_user(s, ALICE).await;
    with_user(s, BOB).await;
    with_client(s, "web").await;
    with_client(s, "cli").await;

    s.consent_grant(ALICE, "web", &scopes(&["openid", "profile"]), T0)
        .await
        .unwrap();
    assert_eq!(
        s.consent_get(ALICE, "web").await.unwrap(),
        scopes(&["openid", "profile"])
    );
    // A union: overlapping scopes once, nothing lost, an empty grant changes nothing.
    s.consent_grant(ALICE, "web", &scopes(&["profile", "email"]), T0 + 1)
        .await
        .unwrap();
    s.consent_grant(ALICE, "web", &BTreeSet::new(), T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        s.consent_get(ALICE, "web").await.unwrap(),
        scopes(&["email", "openid", "profile"])
    );
    // Per user and per client.
    s.consent_grant(BOB, "cli", &scopes(&["offline_access"]), T0)
        .await
        .unwrap();
    assert_eq!(s.consent_get(ALICE, "cli").await.unwrap(), BTreeSet::new());
    assert_eq!(s.consent_get(BOB, "web").await.unwrap(), BTreeSet::new());
    assert_eq!(
        s.consent_get(BOB, "cli").await.unwrap(),
        scopes(&["offline_access"])
    );
    // A first grant of nothing is an empty consent.
    s.consent_grant(BOB, "web", &BTreeSet::new(), T0)
        .await
        .unwrap();
    assert_eq!(s.consent_get(BOB, "web").await.unwrap(), BTreeSet::new());
}

async fn consent_grant_race_loses_no_scope(db: Db) {
    with_user(&db.store, ALICE).await;
    with_client(&db.store, "web").await;
    let nodes = [db.store.clone(), db.reopen().await];
    let names: Vec<String> = (0..12).map(|i| format!("scope-{i:02}")).collect();
    let grants: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let store = nodes[i % 2].clone();
            // Each grant shares "openid" with the others and adds its own scope.
            let granted = scopes(&["openid", name]);
            tokio::spawn(async move { store.consent_grant(ALICE, "web", &granted, T0).await })
        })
        .collect();
    for grant in grants {
        grant.await.unwrap().unwrap();
    }
    let mut expected: BTreeSet<String> = names.into_iter().collect();
    expected.insert("openid".into());
    assert_eq!(db.store.consent_get(ALICE, "web").await.unwrap(), expected);
}

async fn deleting_a_client_or_user_deletes_its_sessions_consents_and_codes(db: Db) {
    let s = &db.store;
    s.user_insert(&user("alice", ALICE, RecordSource::Admin))
        .await
        .unwrap();
    s.user_insert(&user("bob", BOB, RecordSource::Admin))
        .await
        .unwrap();
    with_client(s, "web").await;
    with_client(s, "cli").await;
    for (user_id, client_id, name) in [
        (ALICE, "web", "aw"),
        (ALICE, "cli", "ac"),
        (BOB, "web", "bw"),
        (BOB, "cli", "bc"),
    ] {
        s.consent_grant(user_id, client_id, &scopes(&["openid"]), T0)
            .await
            .unwrap();
        s.authorization_code_insert(&AuthorizationCode {
            client_id: client_id.into(),
            user_id: user_id.into(),
            ..code(name, T0)
        })
        .await
        .unwrap();
    }
    s.session_insert(&session("alice-cookie", ALICE))
        .await
        .unwrap();
    s.session_insert(&session("bob-cookie", BOB)).await.unwrap();

    assert!(s.client_delete("web").await.unwrap());
    assert!(s.user_delete("alice").await.unwrap());

    let live = |name: &str| SecretDigest::of(&format!("code {name}"));
    for name in ["aw", "ac", "bw"] {
        assert_eq!(s.authorization_code_get(&live(name)).await.unwrap(), None);
    }
    assert!(
        s.authorization_code_get(&live("bc"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.consent_get(ALICE, "cli").await.unwrap(), BTreeSet::new());
    assert_eq!(s.consent_get(BOB, "web").await.unwrap(), BTreeSet::new());
    assert_eq!(
        s.consent_get(BOB, "cli").await.unwrap(),
        scopes(&["openid"])
    );
    assert_eq!(
        s.session_get(&SecretDigest::of("alice-cookie"), T0)
            .await
            .unwrap(),
        None
    );
    assert!(
        s.session_get(&SecretDigest::of("bob-cookie"), T0)
            .await
            .unwrap()
            .is_some()
    );
}

async fn upserting_a_client_or_user_keeps_its_consents_and_codes(db: Db) {
    // The upserts update in place: a delete and re-insert would fire the cascades.
    let s = &db.store;
    let alice = user("alice", ALICE, RecordSource::Config);
    s.user_upsert(&alice).await.unwrap();
    let web = public_client("web", RecordSource::Config);
    s.client_upsert(&web).await.unwrap();
    s.consent_grant(ALICE, "web", &scopes(&["openid"]), T0)
        .await
        .unwrap();
    let c = code("code", T0);
    s.authorization_code_insert(&c).await.unwrap();
    let live = session("cookie", ALICE);
    s.session_insert(&live).await.unwrap();
    let r = refresh("token", "family", T0);
    s.refresh_token_insert(&r, "jti", T0 + 900).await.unwrap();

    s.client_upsert(&Client {
        updated_at: T0 + 100,
        ..full_client("web")
    })
    .await
    .unwrap();
    s.user_upsert(&User {
        name: Some("Alice Renamed".into()),
        updated_at: T0 + 100,
        ..alice
    })
    .await
    .unwrap();

    assert_eq!(
        s.consent_get(ALICE, "web").await.unwrap(),
        scopes(&["openid"])
    );
    assert_eq!(
        s.authorization_code_get(&c.code_digest).await.unwrap(),
        Some(c)
    );
    assert_eq!(
        s.session_get(&live.session_digest, T0).await.unwrap(),
        Some(live)
    );
    assert_eq!(s.refresh_token_get(&r.token_digest).await.unwrap(), Some(r));
}
