//! Key rotation and restart: a rotated key is published by every node before any node
//! signs with it; tokens signed before a rotation verify after it, until the retired
//! key's publication ends; keys and clients survive a restart.

use crate::support::{API, BASE_CONFIG, TestApp, verify_access_token};
use jsonwebtoken::jwk::JwkSet;
use portcullis_core::keys::{KeyStatus, RETIRED_KEY_GRACE, SigningAlgorithm};
use portcullis_core::{Clock, UnixTime};
use portcullis_server::app::config::MAX_ACCESS_TOKEN_TTL;
use portcullis_server::app::keys::{
    DEFAULT_PUBLICATION_LEAD, KeyError, Rotation, RotationStart, load_master_key,
    rotate_signing_keys,
};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// `portcullis keys rotate` of ES256 through `app`'s database at `app`'s time.
async fn rotate(app: &TestApp, start: RotationStart) -> Result<Rotation, KeyError> {
    let state = app.app.state();
    let master = load_master_key(&state.config().master_key, false).unwrap();
    let mut rotations = rotate_signing_keys(
        state.store().as_ref(),
        &master,
        app.clock.now(),
        &[SigningAlgorithm::Es256],
        start,
        MAX_ACCESS_TOKEN_TTL,
        "test",
    )
    .await?;
    assert_eq!(rotations.len(), 1);
    Ok(rotations.remove(0))
}

/// `(status, activate_at, publish_until)` of the stored key `kid`.
async fn stored(app: &TestApp, kid: &str) -> (KeyStatus, Option<UnixTime>, Option<UnixTime>) {
    let keys = app.app.state().store().signing_keys_list().await.unwrap();
    let key = keys.iter().find(|k| k.kid == kid).unwrap();
    (key.status, key.activate_at, key.publish_until)
}

#[tokio::test]
async fn a_rotated_key_is_published_first_signs_after_the_lead_and_the_old_one_stays_published() {
    let app = TestApp::start().await;
    let before = app.svc_token().await;
    let old = kid(&before);
    let t0 = app.clock.now();
    let lead = app.app.state().config().keys.publication_lead;
    assert_eq!(lead, DEFAULT_PUBLICATION_LEAD);
    let rotation = rotate(&app, RotationStart::After(lead)).await.unwrap();
    let new = rotation.new_kid.clone();
    assert_eq!(rotation.replaced_kid.as_deref(), Some(old.as_str()));
    assert_eq!(rotation.status, "next");
    assert_eq!(rotation.activate_at, t0 + lead);
    assert_eq!(
        stored(&app, &new).await,
        (KeyStatus::Next, Some(t0 + lead), None)
    );

    // The node's next refresh publishes the new key; the old one still signs.
    assert!(app.app.refresh_keys().await.unwrap(), "the ring changed");
    let jwks = app.jwks().await;
    assert_eq!(jwks.keys.len(), 3, "old ES256, next ES256, RS256");
    assert!(jwks.find(&new).is_some(), "published before it signs");
    assert_eq!(kid(&app.svc_token().await), old);

    // activate_at − 1: still the old key, nothing promoted.
    app.clock.set(t0 + lead - 1);
    assert!(!app.app.refresh_keys().await.unwrap());
    assert_eq!(kid(&app.svc_token().await), old);
    assert_eq!(stored(&app, &new).await.0, KeyStatus::Next);
    // activate_at: the new key signs, by time, before any refresh.
    app.clock.set(t0 + lead);
    let after = app.svc_token().await;
    assert_eq!(kid(&after), new);
    // The refresh promotes it in the database and retires the old key.
    assert!(app.app.refresh_keys().await.unwrap());
    assert_eq!(stored(&app, &new).await.0, KeyStatus::Active);
    let until = t0 + lead + MAX_ACCESS_TOKEN_TTL + RETIRED_KEY_GRACE;
    assert_eq!(
        stored(&app, &old).await,
        (KeyStatus::Retired, None, Some(until))
    );
    assert_eq!(kid(&app.svc_token().await), new, "never the retired key");
    let jwks = app.jwks().await;
    assert_eq!(jwks.keys.len(), 3, "old ES256, new ES256, RS256");
    verify_access_token(&before, &jwks, &app.base, API);
    verify_access_token(&after, &jwks, &app.base, API);

    // The retired key stays published until every token it signed has expired.
    app.clock.set(until - 1);
    app.app.refresh_keys().await.unwrap();
    assert!(
        app.jwks().await.find(&old).is_some(),
        "published at publish_until - 1"
    );
    app.clock.set(until);
    app.app.refresh_keys().await.unwrap();
    assert!(
        app.jwks().await.find(&old).is_none(),
        "withdrawn at publish_until"
    );
    assert!(app.jwks().await.find(&new).is_some());
    assert_eq!(kid(&app.svc_token().await), new);
}

#[tokio::test]
async fn a_second_rotation_waits_for_the_pending_one_unless_immediate() {
    let app = TestApp::start().await;
    let old = kid(&app.svc_token().await);
    let t0 = app.clock.now();
    let staged = rotate(&app, RotationStart::After(120)).await.unwrap();
    let e = rotate(&app, RotationStart::After(120)).await.unwrap_err();
    assert!(
        matches!(&e, KeyError::RotationPending { alg: "ES256", kid, activate_at }
            if *kid == staged.new_kid && *activate_at == t0 + 120),
        "{e:?}"
    );
    assert!(e.to_string().contains("--immediately"), "{e}");

    // The emergency path: signs at once (after this node's refresh; other nodes within
    // their refresh interval), and neither the old nor the staged key ever signs.
    let emergency = rotate(&app, RotationStart::Immediately).await.unwrap();
    assert_eq!(emergency.status, "active");
    assert_eq!(emergency.activate_at, t0);
    assert!(app.app.refresh_keys().await.unwrap());
    assert_eq!(kid(&app.svc_token().await), emergency.new_kid);
    let until = t0 + MAX_ACCESS_TOKEN_TTL + RETIRED_KEY_GRACE;
    assert_eq!(emergency.retired_published_until, until);
    assert_eq!(
        stored(&app, &old).await,
        (KeyStatus::Retired, None, Some(until))
    );
    assert_eq!(
        stored(&app, &staged.new_kid).await,
        (KeyStatus::Retired, Some(t0 + 120), Some(until)),
        "the staged key never signs"
    );
    app.clock.set(t0 + 1_000);
    app.app.refresh_keys().await.unwrap();
    assert_eq!(kid(&app.svc_token().await), emergency.new_kid);
    assert!(
        app.jwks().await.find(&old).is_some(),
        "retired, still published"
    );
}

/// Issue 7: rotate keys through node A while node B (same database, its own ring,
/// refreshing only every 10 s) serves the JWK Set that resource servers cache for up
/// to 60 s: every token A signs, at every moment, verifies against every JWK Set B
/// served in the 60 s before it.
#[tokio::test]
async fn tokens_from_node_a_verify_against_node_b_jwks_at_every_moment_of_a_rotation() {
    let a = TestApp::start().await;
    // Nodes share the database and the master key (copied with its 0600 mode).
    let b_dir = tempfile::TempDir::new().unwrap();
    std::fs::copy(
        a.dir.path().join("master.key"),
        b_dir.path().join("master.key"),
    )
    .unwrap();
    let b = TestApp::start_on(b_dir, BASE_CONFIG, &a.database_url()).await;
    let t0 = a.clock.now();
    b.clock.set(t0);
    let lead = a.app.state().config().keys.publication_lead;
    let old = kid(&a.svc_token().await);
    // A resource server fetched B's JWK Set just before the rotation.
    let mut b_served: Vec<(UnixTime, JwkSet)> = vec![(t0, b.jwks().await)];
    let rotation = rotate(&a, RotationStart::After(lead)).await.unwrap();
    let mut b_refreshed = t0;
    let mut signed_by = std::collections::BTreeSet::new();
    for step in 0..=(lead + 40) / 5 {
        let now = t0 + step * 5;
        a.clock.set(now);
        b.clock.set(now);
        // A refreshes this moment; B lags up to its refresh interval.
        a.app.refresh_keys().await.unwrap();
        if now - b_refreshed >= 10 {
            b.app.refresh_keys().await.unwrap();
            b_refreshed = now;
        }
        b_served.push((now, b.jwks().await));
        let token = a.svc_token().await;
        signed_by.insert(kid(&token));
        for (_, jwks) in b_served.iter().filter(|(at, _)| now - at < 60) {
            verify_access_token(&token, jwks, &a.base, API);
        }
    }
    assert_eq!(
        signed_by,
        [old, rotation.new_kid].into_iter().collect(),
        "both keys signed during the walk"
    );
}

#[tokio::test]
async fn keys_and_clients_survive_a_restart() {
    let app = TestApp::start().await;
    let first = app.svc_token().await;
    let jwks_before = app.jwks().await;
    let first_issuer = app.base.clone();
    // A client that only the database knows (not re-created from the config file).
    let registration = portcullis_core::client::ClientRegistration {
        client_id: "cli-made".into(),
        grant_types: Some(vec!["client_credentials".into()]),
        audiences: vec![API.into()],
        ..Default::default()
    };
    let (_, secret) = portcullis_server::app::admin::create_client(
        app.app.state().store().as_ref(),
        registration,
        true,
        app.clock.now(),
        "test",
    )
    .await
    .unwrap();
    let secret = secrecy::ExposeSecret::expose_secret(&secret.unwrap()).to_owned();
    let dir = app.stop().await;
    let key_file = dir.path().join("master.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "master key file is 0600");
    let db_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("portcullis.db"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(
        db_mode & 0o777,
        0o600,
        "the SQLite file holds secret digests: 0600"
    );

    let app = TestApp::start_in(dir, BASE_CONFIG).await;
    let r = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("cli-made", &secret)),
        )
        .await;
    assert_eq!(r.status(), 200, "a CLI-created client survives the restart");
    let jwks_after = app.jwks().await;
    let kids = |set: &jsonwebtoken::jwk::JwkSet| {
        set.keys
            .iter()
            .map(|k| k.common.key_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kids(&jwks_before),
        kids(&jwks_after),
        "same keys after restart"
    );
    verify_access_token(&first, &jwks_after, &first_issuer, API);
    let second = app.svc_token().await;
    assert_eq!(kid(&first), kid(&second));
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest() {
    let app = TestApp::start().await;
    let keys = app.app.state().store().signing_keys_list().await.unwrap();
    assert_eq!(keys.len(), 2);
    for key in &keys {
        // PKCS#8 DER starts with a SEQUENCE tag (0x30); the sealed form starts with a
        // random nonce and must open only under the master key.
        let master = load_master_key(&app.app.state().config().master_key, false).unwrap();
        let opened = master
            .open(key.kid.as_bytes(), &key.sealed_private_key)
            .unwrap();
        assert_eq!(opened[0], 0x30, "PKCS#8 DER");
        // The plaintext key does not appear anywhere in the stored bytes.
        assert!(
            !key.sealed_private_key
                .windows(32)
                .any(|w| opened.windows(32).any(|p| p == w)),
            "a 32-byte run of the private key is stored in clear"
        );
        let (other, _) = portcullis_core::keys::MasterKey::generate().unwrap();
        assert!(
            other
                .open(key.kid.as_bytes(), &key.sealed_private_key)
                .is_err()
        );
    }
}
