//! Key rotation and restart: tokens signed before a rotation verify after it, until
//! the retired key's publication ends; keys and clients survive a restart.

use crate::support::{API, BASE_CONFIG, TestApp, verify_access_token};
use portcullis_core::Clock;
use portcullis_core::keys::{RETIRED_KEY_GRACE, SigningAlgorithm};
use portcullis_server::keys::{load_master_key, rotate_signing_keys};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn a_token_signed_before_rotation_still_verifies_after_it() {
    let app = TestApp::start().await;
    let before = app.svc_token().await;
    let state = app.app.state();
    let master = load_master_key(&state.config().master_key, false).unwrap();
    let now = app.clock.now();
    let ttl = state.config().tokens.access_token_ttl;
    let rotations = rotate_signing_keys(
        state.store().as_ref(),
        &master,
        now,
        &[SigningAlgorithm::Es256],
        ttl,
        "test",
    )
    .await
    .unwrap();
    assert_eq!(
        rotations[0].retired_kid.as_deref(),
        Some(kid(&before).as_str())
    );
    assert!(app.app.refresh_keys().await.unwrap(), "the ring changed");

    let after = app.svc_token().await;
    assert_eq!(
        kid(&after),
        rotations[0].new_kid,
        "the new key signs at once"
    );
    let jwks = app.jwks().await;
    assert_eq!(jwks.keys.len(), 3, "old ES256, new ES256, RS256");
    verify_access_token(&before, &jwks, &app.base, API);
    verify_access_token(&after, &jwks, &app.base, API);

    // The retired key stays published until every token it signed has expired.
    let until = rotations[0].retired_published_until;
    assert_eq!(until, now + ttl + RETIRED_KEY_GRACE);
    app.clock.set(until - 1);
    app.app.refresh_keys().await.unwrap();
    assert!(
        app.jwks().await.find(&kid(&before)).is_some(),
        "published at publish_until - 1"
    );
    app.clock.set(until);
    app.app.refresh_keys().await.unwrap();
    assert!(
        app.jwks().await.find(&kid(&before)).is_none(),
        "withdrawn at publish_until"
    );
    assert!(app.jwks().await.find(&kid(&after)).is_some());
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
    let (_, secret) = portcullis_server::admin::create_client(
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
