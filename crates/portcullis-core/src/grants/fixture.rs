//! Shared test fixture for the grants, introspection and revocation: a memory store
//! with clients and a user, a key ring, and helpers that drive the token endpoint.

pub(crate) use super::token_endpoint::{
    SUPPORTED_GRANT_TYPES, TokenError, TokenErrorReason, token_request,
};

use super::context::{TokenEndpoint, TokenSuccess};
use crate::UnixTime;
use crate::authorization::code::issue_code;
use crate::authorization::request::{
    Prompt, StoredAuthorizationRequest, ValidatedAuthorizationRequest,
};
use crate::client::authentication::{
    AuthenticatedClient, ClientDirectory, PresentedCredentials, PublicClients, authenticate,
};
use crate::client::{ClientRegistration, RecordSource};
use crate::device::DeviceAuthorizationStatus;
use crate::device::authorization::{
    DeviceAuthorizationEndpoint, IssuedDeviceAuthorization, device_authorization_request,
    record_decision,
};
use crate::keys::KeyRing;
use crate::secret::SecretDigest;
use crate::store::Store;
// The store's per-table traits, so that the tests using this fixture can call them on
// its `MemoryStore` (a concrete type: `Store` alone does not bring their methods).
pub(crate) use crate::store::{
    ClientStore, DeviceAuthorizationStore, RefreshTokenStore, RevokedAccessTokenStore, UserStore,
};
use crate::testing::{MemoryStore, key_ring};
use crate::user::User;
use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_proto::device::DeviceAuthorizationRequest;
use portcullis_proto::token::TokenRequest;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, json};
use std::sync::Arc;

pub(crate) const ISS: &str = "https://id.example";
pub(crate) const NOW: UnixTime = 1_800_000_000;
/// Authorization code lifetime.
pub(crate) const TTL: i64 = 60;
pub(crate) const REFRESH_TTL: i64 = 86_400;
pub(crate) const ACCESS_TTL: i64 = 900;
pub(crate) const SUB: &str = "0190f5c2-7a4e-7b3c-9d2e-1f2a3b4c5d6e";
/// The secret of `web`.
pub(crate) const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// The secret of `api` (a resource server) and `svc` (a machine client).
pub(crate) const API_SECRET: &str = "api-secret-0123456789abcdef012345";
pub(crate) const API: &str = "https://api.example";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(crate) const NATIVE_CB: &str = "http://127.0.0.1:51000/cb";
pub(crate) const WEB_CB: &str = "https://app.example/cb";

/// Clients:
/// - `native`: public, authorization_code only, two audiences, claims;
/// - `cli`: public, authorization_code + refresh_token, `offline_access` allowed;
/// - `web`: confidential ([`SECRET`]), authorization_code + refresh_token, ES256 id_tokens;
/// - `api`: confidential ([`API_SECRET`]), a resource server for [`API`] (introspection);
/// - `svc`: confidential ([`API_SECRET`]), client_credentials for [`API`];
/// - `tv`: public, device_code + refresh_token, `offline_access` allowed, [`API`];
/// - `box`: public, device_code only;
/// - `kiosk`: confidential ([`SECRET`]), device_code + refresh_token.
pub(crate) struct Fixture {
    pub ring: KeyRing,
    pub store: Arc<MemoryStore>,
    pub reuse_grace: i64,
}

impl Fixture {
    pub async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let mut native_claims = Map::new();
        native_claims.insert("tier".into(), json!("client"));
        native_claims.insert("app".into(), json!("native"));
        let both = Some(vec!["authorization_code".into(), "refresh_token".into()]);
        let clients = [
            ClientRegistration {
                client_id: "native".into(),
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
                scopes: vec!["openid".into(), "profile".into(), "read".into()],
                audiences: vec![API.into(), "https://b.example".into()],
                claims: native_claims,
                ..Default::default()
            },
            ClientRegistration {
                client_id: "cli".into(),
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
                grant_types: both.clone(),
                scopes: ["openid", "profile", "offline_access", "read", "write"]
                    .map(String::from)
                    .into(),
                audiences: vec![API.into(), "https://b.example".into()],
                ..Default::default()
            },
            ClientRegistration {
                client_id: "web".into(),
                client_secret: Some(SecretString::from(SECRET)),
                redirect_uris: vec![WEB_CB.into()],
                grant_types: both,
                scopes: vec!["openid".into(), "email".into()],
                id_token_signed_response_alg: Some("ES256".into()),
                ..Default::default()
            },
            ClientRegistration {
                client_id: "api".into(),
                client_secret: Some(SecretString::from(API_SECRET)),
                grant_types: Some(vec![]),
                introspection_audiences: vec![API.into()],
                ..Default::default()
            },
            ClientRegistration {
                client_id: "tv".into(),
                grant_types: Some(vec![DEVICE_GRANT.into(), "refresh_token".into()]),
                scopes: ["openid", "profile", "offline_access", "read"]
                    .map(String::from)
                    .into(),
                audiences: vec![API.into(), "https://b.example".into()],
                ..Default::default()
            },
            ClientRegistration {
                client_id: "box".into(),
                grant_types: Some(vec![DEVICE_GRANT.into()]),
                scopes: vec!["openid".into(), "read".into()],
                ..Default::default()
            },
            ClientRegistration {
                client_id: "kiosk".into(),
                client_secret: Some(SecretString::from(SECRET)),
                grant_types: Some(vec![DEVICE_GRANT.into(), "refresh_token".into()]),
                scopes: vec!["openid".into(), "read".into()],
                ..Default::default()
            },
            ClientRegistration {
                client_id: "svc".into(),
                client_secret: Some(SecretString::from(API_SECRET)),
                grant_types: Some(vec!["client_credentials".into()]),
                scopes: vec!["read".into()],
                audiences: vec![API.into()],
                ..Default::default()
            },
        ];
        for c in clients {
            let c = c.validate(RecordSource::Config, 0).unwrap();
            store.client_insert(&c).await.unwrap();
        }
        let mut claims = Map::new();
        claims.insert("tier".into(), json!("user"));
        store
            .user_insert(&User {
                user_id: SUB.into(),
                username: "alice".into(),
                password_hash: "$argon2id$unused".into(),
                email: Some("alice@example.com".into()),
                name: Some("Alice".into()),
                claims,
                source: RecordSource::Admin,
                disabled_at: None,
                created_at: 0,
                updated_at: 0,
            })
            .await
            .unwrap();
        Self {
            ring: key_ring(NOW).unwrap(),
            store,
            reuse_grace: 0,
        }
    }

    /// The token endpoint on this fixture's store (sign with [`Self::ring`]).
    pub fn endpoint(&self) -> TokenEndpoint {
        TokenEndpoint {
            issuer: ISS.to_owned(),
            access_token_ttl: ACCESS_TTL,
            id_token_ttl: 300,
            refresh_token_ttl: REFRESH_TTL,
            refresh_token_reuse_grace: self.reuse_grace,
            clients: Arc::clone(&self.store) as Arc<dyn ClientDirectory>,
            store: Arc::clone(&self.store) as Arc<dyn Store>,
        }
    }

    /// A code for `request`, approved by [`SUB`] who logged in at `NOW - 30`.
    pub async fn code(&self, request: &ValidatedAuthorizationRequest) -> String {
        issue_code(&*self.store, request, SUB, NOW - 30, TTL, NOW)
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    /// Redeems as the public client `native` (client_id only), unless the request
    /// names another client.
    pub async fn redeem(
        &self,
        request: TokenRequest,
        now: UnixTime,
    ) -> Result<TokenSuccess, TokenError> {
        let request = TokenRequest {
            grant_type: Some("authorization_code".into()),
            client_id: request.client_id.or(Some("native".into())),
            ..request
        };
        token_request(&self.endpoint(), &self.ring, None, None, request, None, now).await
    }

    /// Redeems as the confidential client `web` (HTTP Basic).
    pub async fn redeem_web(&self, request: TokenRequest) -> Result<TokenSuccess, TokenError> {
        let request = TokenRequest {
            grant_type: Some("authorization_code".into()),
            ..request
        };
        token_request(
            &self.endpoint(),
            &self.ring,
            Some(&web_basic()),
            None,
            request,
            None,
            NOW,
        )
        .await
    }

    /// Logs `cli` in with `scopes` and `resources` and redeems the code at `NOW`.
    pub async fn login_cli(&self, scopes: &[&str], resources: &[&str]) -> TokenSuccess {
        let request = validated(StoredAuthorizationRequest {
            client_id: "cli".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            resources: resources.iter().map(|s| (*s).to_owned()).collect(),
            ..native_stored()
        });
        let code = self.code(&request).await;
        self.redeem(
            TokenRequest {
                client_id: Some("cli".into()),
                ..exchange(&code)
            },
            NOW,
        )
        .await
        .unwrap()
    }

    /// Logs `web` in (openid email) and redeems the code at `NOW`.
    pub async fn login_web(&self) -> TokenSuccess {
        let code = self.code(&web_request()).await;
        self.redeem_web(TokenRequest {
            code: Some(code),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    /// `grant_type=refresh_token` as the public client `client_id`.
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
        scope: Option<&str>,
        now: UnixTime,
    ) -> Result<TokenSuccess, TokenError> {
        let request = TokenRequest {
            grant_type: Some("refresh_token".into()),
            client_id: Some(client_id.into()),
            refresh_token: Some(refresh_token.into()),
            scope: scope.map(Into::into),
            ..Default::default()
        };
        token_request(&self.endpoint(), &self.ring, None, None, request, None, now).await
    }

    /// `grant_type=refresh_token` as the confidential client `web`.
    pub async fn refresh_web(
        &self,
        refresh_token: &str,
        now: UnixTime,
    ) -> Result<TokenSuccess, TokenError> {
        let request = TokenRequest {
            grant_type: Some("refresh_token".into()),
            refresh_token: Some(refresh_token.into()),
            ..Default::default()
        };
        token_request(
            &self.endpoint(),
            &self.ring,
            Some(&web_basic()),
            None,
            request,
            None,
            now,
        )
        .await
    }

    /// A client authenticated like the introspection/revocation endpoints do: with
    /// its secret if it has one ([`SECRET`] for `web`, [`API_SECRET`] otherwise),
    /// else by id only.
    pub async fn authenticated(&self, client_id: &str) -> AuthenticatedClient {
        let secret = match client_id {
            "web" => Some(SECRET),
            "api" | "svc" => Some(API_SECRET),
            _ => None,
        };
        let presented = PresentedCredentials {
            client_id: Some(client_id),
            client_secret: secret,
            ..Default::default()
        };
        authenticate(&*self.store, presented, PublicClients::Allowed, NOW)
            .await
            .unwrap()
    }
}

/// The bytes of the user-code digest key of [`Fixture::device_endpoint`]
/// ([`crate::testing::digest_key`]).
pub const USER_CODE_KEY_BYTE: u8 = 8;

impl Fixture {
    /// The device authorization endpoint on this fixture's store: codes live
    /// [`DEVICE_TTL`] seconds, polls every [`DEVICE_INTERVAL`] seconds.
    pub fn device_endpoint(&self) -> DeviceAuthorizationEndpoint {
        DeviceAuthorizationEndpoint {
            device_code_ttl: DEVICE_TTL,
            interval: DEVICE_INTERVAL,
            clients: Arc::clone(&self.store) as Arc<dyn ClientDirectory>,
            store: Arc::clone(&self.store) as Arc<dyn Store>,
            user_code_key: Arc::new(crate::testing::digest_key(USER_CODE_KEY_BYTE)),
        }
    }

    /// Starts a device authorization at `NOW` for the public client `client_id`.
    pub async fn start_device(&self, client_id: &str, scope: &str) -> IssuedDeviceAuthorization {
        let request = DeviceAuthorizationRequest {
            client_id: Some(client_id.into()),
            scope: Some(scope.into()),
            ..Default::default()
        };
        device_authorization_request(&self.device_endpoint(), None, None, request, NOW)
            .await
            .unwrap()
    }

    /// Records [`SUB`]'s decision (logged in at `NOW - 30`) on a device authorization.
    pub async fn decide_device(&self, issued: &IssuedDeviceAuthorization, approve: bool) {
        let decision = if approve {
            DeviceAuthorizationStatus::Approved {
                user_id: SUB.into(),
                auth_time: NOW - 30,
            }
        } else {
            DeviceAuthorizationStatus::Denied
        };
        let digest = SecretDigest::of(issued.device_code.expose_secret());
        assert!(
            record_decision(&*self.store, &digest, decision, NOW)
                .await
                .unwrap()
        );
    }

    /// Polls the token endpoint with `device_code` as the public client `client_id`.
    pub async fn poll_device(
        &self,
        client_id: &str,
        device_code: &str,
        now: UnixTime,
    ) -> Result<TokenSuccess, TokenError> {
        let request = TokenRequest {
            grant_type: Some(DEVICE_GRANT.into()),
            client_id: Some(client_id.into()),
            device_code: Some(device_code.into()),
            ..Default::default()
        };
        token_request(&self.endpoint(), &self.ring, None, None, request, None, now).await
    }
}

/// RFC 8628 §3.4 `grant_type`.
pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Device code lifetime.
pub(crate) const DEVICE_TTL: i64 = 600;
/// Initial poll interval.
pub(crate) const DEVICE_INTERVAL: i64 = 5;

/// HTTP Basic credentials of `web`.
pub(crate) fn web_basic() -> String {
    basic("web", SECRET)
}

/// HTTP Basic credentials.
pub(crate) fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// `native`'s OpenID request with PKCE and a nonce.
pub(crate) fn native_request() -> ValidatedAuthorizationRequest {
    validated(native_stored())
}

/// `web`'s OpenID request without PKCE.
pub(crate) fn web_request() -> ValidatedAuthorizationRequest {
    validated(web_stored())
}

/// A test request, through the one way to make a validated request from values.
pub(crate) fn validated(stored: StoredAuthorizationRequest) -> ValidatedAuthorizationRequest {
    ValidatedAuthorizationRequest::from_stored(stored).unwrap()
}

/// [`native_request`] in its stored form, to vary in tests.
pub(crate) fn native_stored() -> StoredAuthorizationRequest {
    StoredAuthorizationRequest {
        client_id: "native".into(),
        redirect_uri: NATIVE_CB.into(),
        redirect_uri_sent: true,
        scopes: ["openid", "profile"].map(String::from).into(),
        state: Some("xyz".into()),
        nonce: Some("n-0S6".into()),
        code_challenge: Some(CHALLENGE.into()),
        resources: vec![],
        prompt: Prompt::default(),
        max_age: None,
        login_hint: None,
        dpop_jkt: None,
    }
}

/// [`web_request`] in its stored form, to vary in tests.
pub(crate) fn web_stored() -> StoredAuthorizationRequest {
    StoredAuthorizationRequest {
        client_id: "web".into(),
        redirect_uri: WEB_CB.into(),
        redirect_uri_sent: false,
        scopes: ["openid", "email"].map(String::from).into(),
        code_challenge: None,
        ..native_stored()
    }
}

/// The token request that redeems `code` from [`native_request`].
pub(crate) fn exchange(code: &str) -> TokenRequest {
    TokenRequest {
        code: Some(code.into()),
        redirect_uri: Some(NATIVE_CB.into()),
        code_verifier: Some(VERIFIER.into()),
        ..Default::default()
    }
}
