//! Tests of [`super::push`], [`super::redeem`] and [`super::validate_unpushed`] over
//! the in-memory store: one per rule.

use super::*;
use crate::client::ClientStore;
use crate::client::{ClientRegistration, RecordSource};
use crate::testing::MemoryStore;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const NOW: UnixTime = 1_700_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const WEB_CB: &str = "https://app.example/cb";

async fn store() -> MemoryStore {
    let store = MemoryStore::new();
    for (id, secret, par) in [
        ("web", true, false),
        ("spa", false, false),
        ("strict", true, true),
    ] {
        let registration = ClientRegistration {
            client_id: id.into(),
            client_secret: secret.then(|| SecretString::from(SECRET)),
            grant_types: Some(vec!["authorization_code".into()]),
            redirect_uris: vec![WEB_CB.into()],
            scopes: vec!["openid".into(), "read:orders".into()],
            require_pushed_authorization_requests: par,
            ..Default::default()
        };
        let client = registration.validate(RecordSource::Config, 0).unwrap();
        store.client_insert(&client).await.unwrap();
    }
    store
}

fn sealer() -> MasterKey {
    let (master, _) = MasterKey::generate().unwrap();
    master.derive_sealing_key(SEALING_KEY_LABEL).unwrap()
}

fn basic(id: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{SECRET}")))
}

fn request(client_id: Option<&str>) -> PushedAuthorizationRequest {
    PushedAuthorizationRequest {
        authorization: AuthorizationRequest {
            response_type: Some("code".into()),
            client_id: client_id.map(str::to_owned),
            redirect_uri: Some(WEB_CB.into()),
            scope: Some("openid".into()),
            state: Some("xyz".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        },
        client_secret: None,
        client_assertion_type: None,
        client_assertion: None,
    }
}

async fn push_as(
    store: &MemoryStore,
    sealer: &MasterKey,
    authorization: Option<&str>,
    request: PushedAuthorizationRequest,
) -> Result<IssuedRequestUri, PushedAuthorizationReason> {
    let endpoint = PushedAuthorizationEndpoint {
        clients: store,
        store,
        sealer,
        ttl: DEFAULT_PUSHED_REQUEST_TTL,
    };
    push(&endpoint, authorization, None, request, NOW)
        .await
        .map_err(|e| e.reason)
}

fn front(client_id: &str, issued: &IssuedRequestUri) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: Some(client_id.into()),
        request_uri: Some(issued.request_uri.expose_secret().to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_pushed_request_is_redeemed_once_by_its_client_until_it_expires() {
    let (store, sealer) = (store().await, sealer());
    let issued = push_as(&store, &sealer, Some(&basic("web")), request(None))
        .await
        .unwrap();
    let uri = issued.request_uri.expose_secret().to_owned();
    assert!(uri.starts_with(REQUEST_URI_PREFIX), "{uri}");
    assert_eq!(uri.len(), REQUEST_URI_PREFIX.len() + 43);
    assert!(is_pushed(&front("web", &issued)));
    // Another client's attempt leaves it to its own client.
    let other = redeem(&store, &store, &sealer, &front("spa", &issued), NOW).await;
    assert!(matches!(
        other,
        Err(ErrorPageReason::PushedRequest(RequestUriReason::Unknown))
    ));
    let (client, request) = redeem(&store, &store, &sealer, &front("web", &issued), NOW + 59)
        .await
        .unwrap();
    assert_eq!(client.client_id, "web");
    assert_eq!(request.state(), Some("xyz"));
    assert_eq!(request.redirect_uri(), WEB_CB);
    let again = redeem(&store, &store, &sealer, &front("web", &issued), NOW + 1).await;
    assert!(matches!(
        again,
        Err(ErrorPageReason::PushedRequest(RequestUriReason::Unknown))
    ));
}

#[tokio::test]
async fn rejects_an_expired_request_uri_at_and_after_the_expiry() {
    let (store, sealer) = (store().await, sealer());
    let exp = NOW + DEFAULT_PUSHED_REQUEST_TTL;
    for (at, ok) in [(exp - 1, true), (exp, false), (exp + 1, false)] {
        let issued = push_as(&store, &sealer, Some(&basic("web")), request(None))
            .await
            .unwrap();
        let result = redeem(&store, &store, &sealer, &front("web", &issued), at).await;
        if ok {
            assert!(result.is_ok(), "{at}");
        } else {
            assert!(
                matches!(
                    result,
                    Err(ErrorPageReason::PushedRequest(RequestUriReason::Expired))
                ),
                "{at}"
            );
        }
    }
}

#[tokio::test]
async fn rejects_a_request_uri_inside_a_pushed_request() {
    let (store, sealer) = (store().await, sealer());
    let mut nested = request(None);
    nested.authorization.request_uri = Some(format!("{REQUEST_URI_PREFIX}abc"));
    let reason = push_as(&store, &sealer, Some(&basic("web")), nested)
        .await
        .unwrap_err();
    assert!(matches!(
        reason,
        PushedAuthorizationReason::RequestUriNotAllowed
    ));
    assert_eq!(ErrorCode::from(&reason), ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn rejects_an_unregistered_redirect_uri_as_invalid_request() {
    let (store, sealer) = (store().await, sealer());
    let mut bad = request(None);
    bad.authorization.redirect_uri = Some("https://evil.example/cb".into());
    let reason = push_as(&store, &sealer, Some(&basic("web")), bad)
        .await
        .unwrap_err();
    assert!(matches!(reason, PushedAuthorizationReason::RedirectUri(_)));
    assert_eq!(ErrorCode::from(&reason), ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn rejects_an_unauthenticated_confidential_client() {
    let (store, sealer) = (store().await, sealer());
    let reason = push_as(&store, &sealer, None, request(Some("web")))
        .await
        .unwrap_err();
    assert_eq!(ErrorCode::from(&reason), ErrorCode::InvalidClient);
}

#[tokio::test]
async fn rejects_a_body_client_id_of_another_client() {
    let (store, sealer) = (store().await, sealer());
    let reason = push_as(&store, &sealer, Some(&basic("web")), request(Some("spa")))
        .await
        .unwrap_err();
    assert!(matches!(
        reason,
        PushedAuthorizationReason::ClientAuth(ClientAuthReason::ClientIdMismatch)
    ));
}

#[tokio::test]
async fn a_public_client_pushes_with_its_client_id() {
    let (store, sealer) = (store().await, sealer());
    let issued = push_as(&store, &sealer, None, request(Some("spa")))
        .await
        .unwrap();
    assert_eq!(issued.client_id, "spa");
}

#[tokio::test]
async fn stores_only_the_digest_and_a_sealed_request() {
    let (store, sealer) = (store().await, sealer());
    let issued = push_as(&store, &sealer, Some(&basic("web")), request(None))
        .await
        .unwrap();
    let uri = issued.request_uri.expose_secret().to_owned();
    let reference = uri.strip_prefix(REQUEST_URI_PREFIX).unwrap();
    let row = store
        .pushed_authorization_take(&SecretDigest::of(reference), "web")
        .await
        .unwrap()
        .unwrap();
    let sealed = &row.sealed_request;
    for shown in [
        reference.as_bytes(),
        CHALLENGE.as_bytes(),
        WEB_CB.as_bytes(),
    ] {
        assert!(!sealed.windows(shown.len()).any(|w| w == shown));
    }
}

#[tokio::test]
async fn rejects_a_sealed_request_moved_to_another_digest() {
    let (store, sealer) = (store().await, sealer());
    let issued = push_as(&store, &sealer, Some(&basic("web")), request(None))
        .await
        .unwrap();
    let uri = issued.request_uri.expose_secret().to_owned();
    let reference = uri.strip_prefix(REQUEST_URI_PREFIX).unwrap();
    let mut row = store
        .pushed_authorization_take(&SecretDigest::of(reference), "web")
        .await
        .unwrap()
        .unwrap();
    row.request_uri_digest = SecretDigest::of("another reference");
    store.pushed_authorization_insert(&row).await.unwrap();
    let moved = AuthorizationRequest {
        client_id: Some("web".into()),
        request_uri: Some(format!("{REQUEST_URI_PREFIX}another reference")),
        ..Default::default()
    };
    let result = redeem(&store, &store, &sealer, &moved, NOW).await;
    assert!(matches!(
        result,
        Err(ErrorPageReason::PushedRequest(RequestUriReason::Corrupt))
    ));
}

#[tokio::test]
async fn rejects_a_pushed_only_client_at_plain_authorize() {
    let store = store().await;
    let plain = |id: &str| AuthorizationRequest {
        client_id: Some(id.into()),
        ..request(None).authorization
    };
    let strict = validate_unpushed(&store, plain("strict"), false).await;
    let Err(AuthorizationError::Redirect(error)) = strict else {
        panic!("{strict:?}");
    };
    assert_eq!(
        error.reason,
        super::super::request::AuthorizeReason::PushedAuthorizationRequired
    );
    assert_eq!(error.state.as_deref(), Some("xyz"));
    assert!(validate_unpushed(&store, plain("web"), false).await.is_ok());
    assert!(validate_unpushed(&store, plain("web"), true).await.is_err());
}
