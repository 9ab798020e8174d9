//! Client authentication: unit tests.

use super::*;
use crate::client::{ClientRegistration, ClientStore, RecordSource};
use crate::testing::MemoryStore;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

async fn directory() -> MemoryStore {
    let store = MemoryStore::new();
    for registration in [
        ClientRegistration {
            client_id: "rs".into(),
            client_secret: Some(SecretString::from(SECRET)),
            grant_types: Some(vec![]),
            ..Default::default()
        },
        ClientRegistration {
            client_id: "spa".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["openid".into()],
            ..Default::default()
        },
    ] {
        let client = registration.validate(RecordSource::Config, 0).unwrap();
        store.client_insert(&client).await.unwrap();
    }
    store
}

async fn auth(
    authorization: Option<&str>,
    id: Option<&str>,
    secret: Option<&str>,
    public_clients: PublicClients,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let store = directory().await;
    let presented = PresentedCredentials {
        authorization,
        client_id: id,
        client_secret: secret,
        ..Default::default()
    };
    authenticate(&store, presented, public_clients, 0).await
}

#[tokio::test]
async fn authenticate_accepts_basic_post_and_public_clients() {
    let header = basic("rs", SECRET);
    for public_clients in [PublicClients::Allowed, PublicClients::Refused] {
        let c = auth(Some(&header), None, None, public_clients)
            .await
            .unwrap();
        assert_eq!(c.method(), TokenEndpointAuthMethod::ClientSecretBasic);
        let c = auth(None, Some("rs"), Some(SECRET), public_clients)
            .await
            .unwrap();
        assert_eq!(c.method(), TokenEndpointAuthMethod::ClientSecretPost);
    }
    let c = auth(None, Some("spa"), None, PublicClients::Allowed)
        .await
        .unwrap();
    assert_eq!(
        (c.client().client_id.as_str(), c.method()),
        ("spa", TokenEndpointAuthMethod::None)
    );
}

#[tokio::test]
async fn rejects_a_public_client_where_a_confidential_one_is_required() {
    let e = auth(None, Some("spa"), None, PublicClients::Refused)
        .await
        .unwrap_err();
    assert!(matches!(
        e.failure,
        ClientAuthFailure::Rejected(ClientAuthReason::PublicClientRefused)
    ));
    assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidClient);
    assert_eq!(e.unverified_client_id.as_deref(), Some("spa"));
}

#[tokio::test]
async fn rejects_a_wrong_secret_with_the_claimed_client_id() {
    let e = auth(
        Some(&basic("rs", "wrong")),
        None,
        None,
        PublicClients::Refused,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        e.failure,
        ClientAuthFailure::Rejected(ClientAuthReason::WrongSecret)
    ));
    assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidClient);
    assert_eq!(e.unverified_client_id.as_deref(), Some("rs"));
}

#[tokio::test]
async fn rejects_an_unregistered_method_with_a_generic_description() {
    // A confidential client naming itself only: the description does not say how
    // it is registered.
    let e = auth(None, Some("rs"), None, PublicClients::Allowed)
        .await
        .unwrap_err();
    assert!(matches!(
        e.failure,
        ClientAuthFailure::Rejected(ClientAuthReason::MethodNotRegistered { .. })
    ));
    assert_eq!(e.description(), "client authentication failed");
    assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidClient);
}

#[tokio::test]
async fn rejects_malformed_credentials_as_invalid_request() {
    let e = auth(
        Some(&basic("rs", SECRET)),
        Some("rs"),
        Some(SECRET),
        PublicClients::Allowed,
    )
    .await
    .unwrap_err();
    assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidRequest);
    let e = auth(None, None, None, PublicClients::Refused)
        .await
        .unwrap_err();
    assert!(matches!(
        e.failure,
        ClientAuthFailure::Rejected(ClientAuthReason::Missing)
    ));
    assert_eq!(
        (ErrorCode::from(&e), e.unverified_client_id),
        (ErrorCode::InvalidClient, None)
    );
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

#[test]
fn basic_credentials_are_form_decoded() {
    let c = parse(Some(&basic("my%20app", "s%3Ae+t")), None, None).unwrap();
    assert_eq!(c.unverified_client_id(), "my app");
    assert_eq!(c.secret.unwrap().expose_secret(), "s:e t");
    assert_eq!(c.method, TokenEndpointAuthMethod::ClientSecretBasic);
}

#[test]
fn basic_credentials_keep_ampersands_and_equals_signs() {
    let c = parse(Some(&basic("svc", "a&b=c%26d")), None, None).unwrap();
    assert_eq!(c.secret.unwrap().expose_secret(), "a&b=c&d");
}

#[test]
fn two_methods_at_once_are_refused() {
    let e = parse(Some(&basic("a", "b")), Some("a"), Some("b")).unwrap_err();
    assert_eq!(e, ClientAuthReason::MultipleMethods);
    assert!(e.is_malformed_request());
}

#[test]
fn mismatched_body_client_id_is_refused() {
    let e = parse(Some(&basic("a", "b")), Some("c"), None).unwrap_err();
    assert_eq!(e, ClientAuthReason::ClientIdMismatch);
}

#[test]
fn malformed_basic_headers_are_refused() {
    for h in [
        "Bearer abc",
        "Basic !!!",
        "Basic",
        &format!("Basic {}", STANDARD.encode("nocolon")),
        &basic("", "x"),
    ] {
        assert_eq!(
            parse(Some(h), None, None).unwrap_err(),
            ClientAuthReason::MalformedBasic,
            "{h}"
        );
    }
}

#[test]
fn no_credentials_is_missing() {
    assert_eq!(
        parse(None, None, None).unwrap_err(),
        ClientAuthReason::Missing
    );
    assert_eq!(
        parse(None, None, Some("x")).unwrap_err(),
        ClientAuthReason::SecretWithoutId
    );
}

/// [`UnverifiedClientCredentials::parse`] of a header, body `client_id` and secret.
fn parse(
    authorization: Option<&str>,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<UnverifiedClientCredentials, ClientAuthReason> {
    UnverifiedClientCredentials::parse(&PresentedCredentials {
        authorization,
        client_id,
        client_secret,
        ..Default::default()
    })
}
