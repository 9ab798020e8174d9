use super::*;
use crate::grants::fixture::*;
use crate::tokens::access_token::verify;
use crate::tokens::id_token::{at_hash, verify_id_token_hint};
use crate::userinfo::{UserInfoReason, userinfo};
use portcullis_proto::ErrorCode;
use portcullis_proto::claims::Audience;

fn refused(result: Result<TokenSuccess, TokenError>) -> (RefreshGrantReason, ErrorCode) {
    let error = result.unwrap_err();
    let code = ErrorCode::from(&error);
    match error.reason {
        TokenErrorReason::RefreshToken(reason) => (reason, code),
        other => panic!("expected a refresh grant reason, got {other:?}"),
    }
}

async fn stored(f: &Fixture, token: &str) -> RefreshToken {
    f.store
        .refresh_token_get(&SecretDigest::of(token))
        .await
        .unwrap()
        .unwrap()
}

/// `cli` logged in with `openid offline_access read` for the API: its refresh token.
async fn cli_refresh_token(f: &Fixture) -> String {
    f.login_cli(&["openid", "offline_access", "read"], &[API])
        .await
        .response
        .refresh_token
        .unwrap()
}

async fn refresh_with(
    f: &Fixture,
    token: &str,
    scope: Option<&str>,
    resource: &[&str],
) -> Result<TokenSuccess, TokenError> {
    let request = TokenRequest {
        grant_type: Some("refresh_token".into()),
        client_id: Some("cli".into()),
        refresh_token: Some(token.into()),
        scope: scope.map(Into::into),
        resource: resource.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    };
    token_request(&f.endpoint(), &f.ring, None, None, request, None, NOW + 10).await
}

#[tokio::test]
async fn refreshes_rotates_and_mints_a_new_id_token() {
    let f = Fixture::new().await;
    let first = cli_refresh_token(&f).await;
    let issued = f.refresh("cli", &first, None, NOW + 10).await.unwrap();
    assert_eq!(issued.grant_type, GrantType::RefreshToken);
    assert_eq!(
        (issued.client_id.as_str(), issued.subject.as_str()),
        ("cli", SUB)
    );
    let response = &issued.response;
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(response.expires_in, 900);
    assert_eq!(
        response.scope.as_deref(),
        Some("offline_access openid read")
    );

    let access = verify(&f.ring, ISS, &response.access_token, NOW + 10).unwrap();
    assert_eq!(
        (access.sub.as_str(), access.client_id.as_str()),
        (SUB, "cli")
    );
    assert_eq!(access.aud, Audience::One(API.into()));
    assert_eq!((access.iat, access.exp), (NOW + 10, NOW + 910));
    assert_eq!(access.jti, issued.jti);

    // OIDC Core §12.2: same sub and aud, original auth_time, new iat, no nonce.
    let id = verify_id_token_hint(&f.ring, ISS, response.id_token.as_deref().unwrap()).unwrap();
    assert_eq!((id.sub.as_str(), id.aud.as_str()), (SUB, "cli"));
    assert_eq!((id.iat, id.auth_time), (NOW + 10, NOW - 30));
    assert_eq!(id.nonce, None);
    assert_eq!(id.at_hash, Some(at_hash(&response.access_token)));

    // The old token is retired; the successor is live in the same family.
    let old = stored(&f, &first).await;
    assert_eq!((old.rotated_at, old.revoked_at), (Some(NOW + 10), None));
    let successor = response.refresh_token.as_deref().unwrap();
    assert_ne!(successor, first);
    let new = stored(&f, successor).await;
    assert_eq!(new.family_id, old.family_id);
    assert_eq!((new.client_id.as_str(), new.user_id.as_str()), ("cli", SUB));
    assert_eq!(new.scopes, old.scopes);
    assert_eq!(new.resources, [API]);
    assert_eq!(
        (new.auth_time, new.created_at, new.expires_at),
        (NOW - 30, NOW + 10, NOW + 10 + REFRESH_TTL)
    );
    assert_eq!((new.rotated_at, new.revoked_at), (None, None));
    assert_eq!(
        f.store.access_token_family(&issued.jti).await.unwrap(),
        Some(new.family_id)
    );
}

#[tokio::test]
async fn the_successor_refreshes_in_turn_and_a_confidential_client_authenticates() {
    let f = Fixture::new().await;
    let mut token = f.login_web().await.response.refresh_token.unwrap();
    for step in 1..=3 {
        let issued = f.refresh_web(&token, NOW + step).await.unwrap();
        // `web` is confidential: a refresh token for an OpenID grant without
        // offline_access, and an id_token on every refresh.
        assert!(issued.response.id_token.is_some());
        token = issued.response.refresh_token.unwrap();
    }
    // A confidential client must authenticate: its id alone is not enough.
    let error = f.refresh("web", &token, None, NOW + 4).await.unwrap_err();
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidClient);
}

#[tokio::test]
async fn a_narrower_scope_is_allowed_and_the_successor_keeps_the_original_grant() {
    let f = Fixture::new().await;
    let first = cli_refresh_token(&f).await;
    let narrow = f
        .refresh("cli", &first, Some("read"), NOW + 10)
        .await
        .unwrap();
    assert_eq!(narrow.response.scope.as_deref(), Some("read"));
    assert_eq!(narrow.response.id_token, None);
    let access = verify(&f.ring, ISS, &narrow.response.access_token, NOW + 10).unwrap();
    assert_eq!(access.scope.as_deref(), Some("read"));
    // The successor may widen back up to the original grant.
    let successor = narrow.response.refresh_token.unwrap();
    assert_eq!(
        stored(&f, &successor).await.scopes,
        ["offline_access", "openid", "read"]
    );
    let wide = f
        .refresh("cli", &successor, Some("openid read"), NOW + 11)
        .await
        .unwrap();
    assert_eq!(wide.response.scope.as_deref(), Some("openid read"));
    assert!(wide.response.id_token.is_some());
}

#[tokio::test]
async fn scopes_the_client_is_no_longer_registered_for_are_dropped() {
    let f = Fixture::new().await;
    let first = cli_refresh_token(&f).await;
    let mut client = f.store.client_get("cli").await.unwrap().unwrap();
    client.scopes.retain(|s| s != "read");
    f.store.client_upsert(&client).await.unwrap();
    let issued = f.refresh("cli", &first, None, NOW + 10).await.unwrap();
    assert_eq!(
        issued.response.scope.as_deref(),
        Some("offline_access openid")
    );
    let successor = issued.response.refresh_token.unwrap();
    assert_eq!(
        stored(&f, &successor).await.scopes,
        ["offline_access", "openid", "read"]
    );
}

#[tokio::test]
async fn narrower_resources_become_the_audience() {
    let f = Fixture::new().await;
    let both = f
        .login_cli(&["read"], &[API, "https://b.example"])
        .await
        .response
        .refresh_token
        .unwrap();
    let issued = refresh_with(&f, &both, None, &["https://b.example", "https://b.example"])
        .await
        .unwrap();
    let access = verify(&f.ring, ISS, &issued.response.access_token, NOW + 10).unwrap();
    assert_eq!(access.aud, Audience::One("https://b.example".into()));
    let successor = issued.response.refresh_token.unwrap();
    assert_eq!(
        stored(&f, &successor).await.resources,
        [API, "https://b.example"]
    );
}

#[tokio::test]
async fn rejects_a_missing_refresh_token() {
    let f = Fixture::new().await;
    let request = TokenRequest {
        grant_type: Some("refresh_token".into()),
        client_id: Some("cli".into()),
        ..Default::default()
    };
    let (reason, wire) =
        refused(token_request(&f.endpoint(), &f.ring, None, None, request, None, NOW).await);
    assert_eq!(
        (reason, wire),
        (
            RefreshGrantReason::MissingRefreshToken,
            ErrorCode::InvalidRequest
        )
    );
}

#[tokio::test]
async fn rejects_an_unknown_refresh_token() {
    let f = Fixture::new().await;
    let (reason, wire) = refused(f.refresh("cli", "no-such-token", None, NOW).await);
    assert_eq!(
        (reason, wire),
        (RefreshGrantReason::UnknownToken, ErrorCode::InvalidGrant)
    );
}

#[tokio::test]
async fn rejects_a_refresh_token_of_another_client_without_touching_it() {
    let f = Fixture::new().await;
    let token = f.login_web().await.response.refresh_token.unwrap();
    let (reason, wire) = refused(f.refresh("cli", &token, None, NOW + 1).await);
    assert_eq!(
        (reason, wire),
        (RefreshGrantReason::WrongClient, ErrorCode::InvalidGrant)
    );
    let untouched = stored(&f, &token).await;
    assert_eq!((untouched.rotated_at, untouched.revoked_at), (None, None));
    // Nor does another client's replay of a rotated token revoke the family.
    let successor = f.refresh_web(&token, NOW + 2).await.unwrap();
    let (reason, _) = refused(f.refresh("cli", &token, None, NOW + 3).await);
    assert_eq!(reason, RefreshGrantReason::WrongClient);
    let successor = successor.response.refresh_token.unwrap();
    assert!(f.refresh_web(&successor, NOW + 4).await.is_ok());
}

#[tokio::test]
async fn rejects_a_client_without_the_refresh_token_grant() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    let error = f.refresh("native", &token, None, NOW).await.unwrap_err();
    assert!(matches!(
        error.reason,
        TokenErrorReason::UnauthorizedClient("refresh_token")
    ));
    assert_eq!(ErrorCode::from(&error), ErrorCode::UnauthorizedClient);
}

#[tokio::test]
async fn rejects_a_revoked_refresh_token() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    let family = stored(&f, &token).await.family_id;
    f.store.refresh_family_revoke(&family, NOW).await.unwrap();
    let (reason, wire) = refused(f.refresh("cli", &token, None, NOW + 1).await);
    assert_eq!(
        (reason, wire),
        (RefreshGrantReason::Revoked, ErrorCode::InvalidGrant)
    );
}

#[tokio::test]
async fn rejects_an_expired_refresh_token() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    let exp = NOW + REFRESH_TTL;
    for now in [exp, exp + 1] {
        let (reason, wire) = refused(f.refresh("cli", &token, None, now).await);
        assert_eq!(
            (reason, wire),
            (RefreshGrantReason::Expired, ErrorCode::InvalidGrant)
        );
    }
    // Not rotated by the refusals: one second before expiry it still works.
    assert!(f.refresh("cli", &token, None, exp - 1).await.is_ok());
}

#[tokio::test]
async fn rejects_a_malformed_scope() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    for bad in ["read  openid", "re\"ad"] {
        let (reason, wire) = refused(refresh_with(&f, &token, Some(bad), &[]).await);
        assert_eq!(wire, ErrorCode::InvalidScope, "{bad}");
        assert!(matches!(reason, RefreshGrantReason::MalformedScope(_)));
    }
}

#[tokio::test]
async fn rejects_a_scope_beyond_the_original_grant() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    // `write` is allowed for the client, but was not granted.
    let (reason, wire) = refused(refresh_with(&f, &token, Some("read write"), &[]).await);
    assert_eq!(
        (reason, wire),
        (
            RefreshGrantReason::ScopeNotGranted("write".into()),
            ErrorCode::InvalidScope
        )
    );
    assert!(f.refresh("cli", &token, None, NOW + 11).await.is_ok());
}

#[tokio::test]
async fn rejects_a_malformed_resource() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    for bad in ["api", "https://api.example#x"] {
        let (reason, wire) = refused(refresh_with(&f, &token, None, &[bad]).await);
        assert_eq!(
            (reason, wire),
            (
                RefreshGrantReason::MalformedResource(bad.into()),
                ErrorCode::InvalidTarget
            )
        );
    }
}

#[tokio::test]
async fn rejects_a_resource_beyond_the_original_grant() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    // An audience of the client, but not granted with this token.
    let (reason, wire) = refused(refresh_with(&f, &token, None, &["https://b.example"]).await);
    assert_eq!(
        (reason, wire),
        (
            RefreshGrantReason::ResourceNotGranted("https://b.example".into()),
            ErrorCode::InvalidTarget
        )
    );
}

#[tokio::test]
async fn rejects_a_refresh_token_of_a_deleted_user() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    f.store.user_delete("alice").await.unwrap();
    let (reason, wire) = refused(f.refresh("cli", &token, None, NOW + 1).await);
    assert_eq!(
        (reason, wire),
        (RefreshGrantReason::UnknownUser, ErrorCode::InvalidGrant)
    );
    assert_eq!(stored(&f, &token).await.rotated_at, None);
}

#[tokio::test]
async fn rejects_a_refresh_token_of_a_disabled_user() {
    let f = Fixture::new().await;
    let token = cli_refresh_token(&f).await;
    let alice = f
        .store
        .user_get_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    assert!(
        f.store
            .user_set_disabled(&alice.user_id, Some(NOW))
            .await
            .unwrap()
    );
    let (reason, wire) = refused(f.refresh("cli", &token, None, NOW + 1).await);
    assert_eq!(
        (reason, wire),
        (RefreshGrantReason::UserDisabled, ErrorCode::InvalidGrant)
    );
    assert_eq!(stored(&f, &token).await.rotated_at, None);
    // Enabled again, the same token works.
    f.store
        .user_set_disabled(&alice.user_id, None)
        .await
        .unwrap();
    assert!(f.refresh("cli", &token, None, NOW + 2).await.is_ok());
}

#[tokio::test]
async fn rejects_a_reused_refresh_token_and_revokes_its_family() {
    let f = Fixture::new().await;
    let login = f
        .login_cli(&["openid", "offline_access", "read"], &[API])
        .await;
    let first = login.response.refresh_token.unwrap();
    let second = f.refresh("cli", &first, None, NOW + 10).await.unwrap();
    let (reason, wire) = refused(f.refresh("cli", &first, None, NOW + 20).await);
    assert_eq!(
        (reason, wire),
        (RefreshGrantReason::ReuseDetected, ErrorCode::InvalidGrant)
    );
    // The successor is revoked, and every access token of the family.
    let successor = second.response.refresh_token.unwrap();
    assert_eq!(stored(&f, &successor).await.revoked_at, Some(NOW + 20));
    let (reason, _) = refused(f.refresh("cli", &successor, None, NOW + 21).await);
    assert_eq!(reason, RefreshGrantReason::Revoked);
    for access in [&login.response.access_token, &second.response.access_token] {
        let e = userinfo(&f.ring, &*f.store, ISS, access, None, None, NOW + 21)
            .await
            .unwrap_err();
        assert!(matches!(e, UserInfoReason::Revoked));
    }
}

#[tokio::test]
async fn rejects_a_reused_refresh_token_even_after_it_expired() {
    // Its successors may be live: an old copy showing up is still theft evidence.
    let f = Fixture::new().await;
    let first = cli_refresh_token(&f).await;
    let second = f.refresh("cli", &first, None, NOW + 10).await.unwrap();
    let after_expiry = NOW + REFRESH_TTL + 1;
    let (reason, _) = refused(f.refresh("cli", &first, None, after_expiry).await);
    assert_eq!(reason, RefreshGrantReason::ReuseDetected);
    let successor = second.response.refresh_token.unwrap();
    assert!(stored(&f, &successor).await.revoked_at.is_some());
}

#[tokio::test]
async fn rejects_a_replay_within_the_grace_window_without_revoking() {
    let mut f = Fixture::new().await;
    f.reuse_grace = 5;
    let first = cli_refresh_token(&f).await;
    let rotated_at = NOW + 10;
    let second = f.refresh("cli", &first, None, rotated_at).await.unwrap();
    let successor = second.response.refresh_token.unwrap();
    for now in [rotated_at, rotated_at + 4] {
        let (reason, wire) = refused(f.refresh("cli", &first, None, now).await);
        assert_eq!(
            (reason, wire),
            (
                RefreshGrantReason::ReplayWithinGrace,
                ErrorCode::InvalidGrant
            )
        );
        assert_eq!(stored(&f, &successor).await.revoked_at, None);
    }
    // At the end of the window, a replay revokes.
    let (reason, _) = refused(f.refresh("cli", &first, None, rotated_at + 5).await);
    assert_eq!(reason, RefreshGrantReason::ReuseDetected);
    assert_eq!(
        stored(&f, &successor).await.revoked_at,
        Some(rotated_at + 5)
    );
}

#[tokio::test]
async fn rejects_a_replay_that_read_its_clock_before_the_rotation_and_revokes_without_grace() {
    let f = Fixture::new().await;
    assert_eq!(f.reuse_grace, 0);
    let first = cli_refresh_token(&f).await;
    let rotated_at = NOW + 10;
    let second = f.refresh("cli", &first, None, rotated_at).await.unwrap();
    let successor = second.response.refresh_token.unwrap();
    // The losing request of a race read `now` one second before the winner rotated.
    let (reason, _) = refused(f.refresh("cli", &first, None, rotated_at - 1).await);
    assert_eq!(reason, RefreshGrantReason::ReuseDetected);
    assert_eq!(
        stored(&f, &successor).await.revoked_at,
        Some(rotated_at - 1)
    );
}

#[tokio::test]
async fn a_lost_rotation_race_is_a_replay() {
    // `after_lost_rotation` runs when `refresh_token_rotate` refused a token our read
    // saw live: by then another request has rotated (or revoked) it.
    let f = Fixture::new().await;
    let first = cli_refresh_token(&f).await;
    let digest = SecretDigest::of(&first);
    let winner = f.refresh("cli", &first, None, NOW + 10).await.unwrap();
    let store: &dyn Store = &*f.store;
    assert_eq!(
        after_lost_rotation(store, &digest, 5, NOW + 10)
            .await
            .unwrap(),
        RefreshGrantReason::ReplayWithinGrace
    );
    let successor = winner.response.refresh_token.unwrap();
    assert_eq!(stored(&f, &successor).await.revoked_at, None);
    assert_eq!(
        after_lost_rotation(store, &digest, 0, NOW + 10)
            .await
            .unwrap(),
        RefreshGrantReason::ReuseDetected
    );
    assert_eq!(stored(&f, &successor).await.revoked_at, Some(NOW + 10));
    assert_eq!(
        after_lost_rotation(store, &digest, 0, NOW + 11)
            .await
            .unwrap(),
        RefreshGrantReason::Revoked
    );
    assert_eq!(
        after_lost_rotation(store, &SecretDigest::of("gone"), 0, NOW)
            .await
            .unwrap(),
        RefreshGrantReason::UnknownToken
    );
    // A store that refuses a live token breaks its contract: a server error.
    let live = SecretDigest::of(&cli_refresh_token(&f).await);
    assert!(matches!(
        after_lost_rotation(store, &live, 0, NOW).await,
        Err(StoreError::Other(_))
    ));
}
