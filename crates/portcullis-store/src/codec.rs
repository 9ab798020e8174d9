//! Row ⇄ model conversion shared by both backends.
//!
//! A `*Record` holds one row as the primitive values both schemas store: text,
//! bytes, `i64` seconds and `bool`. Lists, claim maps and the public JWK are JSON
//! text; secret digests are 32 raw bytes. Decoding failures become
//! [`StoreError::Corrupt`] naming `table.column`.

use portcullis_core::StoreError;
use portcullis_core::authorization::code::AuthorizationCode;
use portcullis_core::authorization::pending::{PendingAuthorization, PendingDevice};
use portcullis_core::authorization::request::{
    StoredAuthorizationRequest, ValidatedAuthorizationRequest,
};
use portcullis_core::client::{Client, ClientSecrets, RecordSource};
use portcullis_core::device::{DeviceAuthorization, DeviceAuthorizationStatus, DevicePoll};
use portcullis_core::keys::{KeyStatus, SigningAlgorithm, StoredSigningKey};
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::secret::SecretDigest;
use portcullis_core::session::BrowserSession;
use portcullis_core::tokens::refresh_token::RefreshToken;
use portcullis_core::user::User;
use portcullis_proto::grant::TokenEndpointAuthMethod;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;

/// One row of `clients`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClientRecord {
    pub client_id: String,
    pub client_name: Option<String>,
    pub secret_digest: Option<Vec<u8>>,
    pub previous_secret_digest: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<i64>,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub audiences: String,
    pub skip_consent: bool,
    pub introspection_audiences: String,
    pub id_token_signed_response_alg: String,
    pub claims: String,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ClientRecord {
    /// The row that stores `client`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list or the claims cannot be serialized as JSON.
    pub fn encode(client: &Client) -> Result<Self, StoreError> {
        let (secret_digest, previous) = match &client.secrets {
            Some(secrets) => (Some(digest_bytes(&secrets.current)), secrets.previous),
            None => (None, None),
        };
        Ok(Self {
            client_id: client.client_id.clone(),
            client_name: client.client_name.clone(),
            secret_digest,
            previous_secret_digest: previous.map(|(digest, _)| digest_bytes(&digest)),
            previous_secret_expires_at: previous.map(|(_, expires_at)| expires_at),
            token_endpoint_auth_method: client.token_endpoint_auth_method.as_str().to_owned(),
            redirect_uris: to_json("clients.redirect_uris", &client.redirect_uris)?,
            post_logout_redirect_uris: to_json(
                "clients.post_logout_redirect_uris",
                &client.post_logout_redirect_uris,
            )?,
            grant_types: to_json("clients.grant_types", &client.grant_types)?,
            scopes: to_json("clients.scopes", &client.scopes)?,
            audiences: to_json("clients.audiences", &client.audiences)?,
            skip_consent: client.skip_consent,
            introspection_audiences: to_json(
                "clients.introspection_audiences",
                &client.introspection_audiences,
            )?,
            id_token_signed_response_alg: client.id_token_signed_response_alg.as_str().to_owned(),
            claims: to_json("clients.claims", &client.claims)?,
            source: client.source.as_str().to_owned(),
            created_at: client.created_at,
            updated_at: client.updated_at,
        })
    }

    /// The client this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<Client, StoreError> {
        let secrets = client_secrets(
            self.secret_digest.as_deref(),
            self.previous_secret_digest.as_deref(),
            self.previous_secret_expires_at,
        )?;
        let token_endpoint_auth_method =
            TokenEndpointAuthMethod::parse(&self.token_endpoint_auth_method).ok_or_else(|| {
                unknown(
                    "clients.token_endpoint_auth_method",
                    &self.token_endpoint_auth_method,
                )
            })?;
        let id_token_signed_response_alg =
            SigningAlgorithm::parse(&self.id_token_signed_response_alg).ok_or_else(|| {
                unknown(
                    "clients.id_token_signed_response_alg",
                    &self.id_token_signed_response_alg,
                )
            })?;
        Ok(Client {
            client_id: self.client_id,
            client_name: self.client_name,
            secrets,
            token_endpoint_auth_method,
            redirect_uris: from_json("clients.redirect_uris", &self.redirect_uris)?,
            post_logout_redirect_uris: from_json(
                "clients.post_logout_redirect_uris",
                &self.post_logout_redirect_uris,
            )?,
            grant_types: from_json("clients.grant_types", &self.grant_types)?,
            scopes: from_json("clients.scopes", &self.scopes)?,
            audiences: from_json("clients.audiences", &self.audiences)?,
            skip_consent: self.skip_consent,
            introspection_audiences: from_json(
                "clients.introspection_audiences",
                &self.introspection_audiences,
            )?,
            id_token_signed_response_alg,
            claims: from_json("clients.claims", &self.claims)?,
            source: source("clients.source", &self.source)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The secret columns of `clients` as one update: current digest, previous digest
/// and its expiry.
pub(crate) type SecretColumns = (Vec<u8>, Option<Vec<u8>>, Option<i64>);

/// The secret columns that store `secrets`.
pub(crate) fn encode_secrets(secrets: &ClientSecrets) -> SecretColumns {
    (
        digest_bytes(&secrets.current),
        secrets.previous.map(|(digest, _)| digest_bytes(&digest)),
        secrets.previous.map(|(_, expires_at)| expires_at),
    )
}

/// One row of `users`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRecord {
    pub user_id: String,
    pub username: String,
    pub password_hash: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub claims: String,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRecord {
    /// The row that stores `user`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if the claims cannot be serialized as JSON.
    pub fn encode(user: &User) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            password_hash: user.password_hash.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            claims: to_json("users.claims", &user.claims)?,
            source: user.source.as_str().to_owned(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        })
    }

    /// The user this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<User, StoreError> {
        Ok(User {
            claims: from_json("users.claims", &self.claims)?,
            source: source("users.source", &self.source)?,
            user_id: self.user_id,
            username: self.username,
            password_hash: self.password_hash,
            email: self.email,
            name: self.name,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// One row of `signing_keys`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub status: String,
    pub public_jwk: String,
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
    pub activate_at: Option<i64>,
}

impl SigningKeyRecord {
    /// The row that stores `key` (its status, retired_at and publish_until as given;
    /// the insert statements decide what they keep).
    ///
    /// # Errors
    /// [`StoreError::Other`] if the JWK cannot be serialized as JSON.
    pub fn encode(key: &StoredSigningKey) -> Result<Self, StoreError> {
        Ok(Self {
            kid: key.kid.clone(),
            alg: key.alg.as_str().to_owned(),
            status: key.status.as_str().to_owned(),
            public_jwk: to_json("signing_keys.public_jwk", &key.public_jwk)?,
            sealed_private_key: key.sealed_private_key.clone(),
            created_at: key.created_at,
            retired_at: key.retired_at,
            publish_until: key.publish_until,
            activate_at: key.activate_at,
        })
    }

    /// The key this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<StoredSigningKey, StoreError> {
        Ok(StoredSigningKey {
            alg: SigningAlgorithm::parse(&self.alg)
                .ok_or_else(|| unknown("signing_keys.alg", &self.alg))?,
            status: KeyStatus::parse(&self.status)
                .ok_or_else(|| unknown("signing_keys.status", &self.status))?,
            public_jwk: from_json("signing_keys.public_jwk", &self.public_jwk)?,
            kid: self.kid,
            sealed_private_key: self.sealed_private_key,
            created_at: self.created_at,
            activate_at: self.activate_at,
            retired_at: self.retired_at,
            publish_until: self.publish_until,
        })
    }
}

/// The keys stored in `rows`, skipping with a warning a row whose `status` this version
/// does not know (why: a later version may add stages; while nodes are upgraded one by
/// one, a node still on this version must keep its other keys rather than fail the
/// whole list). A skipped key is neither published nor used by this node.
///
/// # Errors
/// [`StoreError::Corrupt`] if a row with a known status does not decode.
pub(crate) fn decode_signing_keys(
    rows: Vec<SigningKeyRecord>,
) -> Result<Vec<StoredSigningKey>, StoreError> {
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        if KeyStatus::parse(&row.status).is_none() {
            tracing::warn!(
                kid = %row.kid,
                status = %row.status,
                "ignoring a signing key whose status this version does not know (written by a newer version?); upgrade this node"
            );
            continue;
        }
        keys.push(row.decode()?);
    }
    Ok(keys)
}

/// One row of `browser_sessions`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRecord {
    pub session_digest: Vec<u8>,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl SessionRecord {
    /// The row that stores `session`.
    pub fn encode(session: &BrowserSession) -> Self {
        Self {
            session_digest: digest_bytes(&session.session_digest),
            user_id: session.user_id.clone(),
            auth_time: session.auth_time,
            created_at: session.created_at,
            expires_at: session.expires_at,
        }
    }

    /// The session this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the digest is not 32 bytes.
    pub fn decode(self) -> Result<BrowserSession, StoreError> {
        Ok(BrowserSession {
            session_digest: digest_from("browser_sessions.session_digest", &self.session_digest)?,
            user_id: self.user_id,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// One row of `pending_authorizations`, column for column. `Debug` redacts
/// `device_user_code` (the sealed user code of a device authorization).
#[derive(sqlx::FromRow)]
pub(crate) struct PendingAuthorizationRecord {
    pub id_digest: Vec<u8>,
    pub request: String,
    pub browser_digest: Vec<u8>,
    pub csrf_token: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub device_code_digest: Option<Vec<u8>>,
    pub device_user_code: Option<String>,
}

impl std::fmt::Debug for PendingAuthorizationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorizationRecord")
            .field("id_digest", &self.id_digest)
            .field("request", &self.request)
            .field("browser_digest", &self.browser_digest)
            .field("csrf_token", &self.csrf_token)
            .field("user_id", &self.user_id)
            .field("auth_time", &self.auth_time)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("device_code_digest", &self.device_code_digest)
            .field(
                "device_user_code",
                &self.device_user_code.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl PendingAuthorizationRecord {
    /// The row that stores `pending`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if the request cannot be serialized as JSON.
    pub fn encode(pending: &PendingAuthorization) -> Result<Self, StoreError> {
        Ok(Self {
            id_digest: digest_bytes(&pending.id_digest),
            request: to_json(
                "pending_authorizations.request",
                &StoredAuthorizationRequest::from(&pending.request),
            )?,
            browser_digest: digest_bytes(&pending.browser_digest),
            csrf_token: pending.csrf_token.clone(),
            user_id: pending.user_id.clone(),
            auth_time: pending.auth_time,
            created_at: pending.created_at,
            expires_at: pending.expires_at,
            device_code_digest: pending
                .device
                .as_ref()
                .map(|d| digest_bytes(&d.device_code_digest)),
            device_user_code: pending.device.as_ref().map(|d| d.sealed_user_code.clone()),
        })
    }

    /// The pending request this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<PendingAuthorization, StoreError> {
        let device = match (self.device_code_digest, self.device_user_code) {
            (None, None) => None,
            (Some(digest), Some(sealed_user_code)) => Some(PendingDevice {
                device_code_digest: digest_from(
                    "pending_authorizations.device_code_digest",
                    &digest,
                )?,
                sealed_user_code,
            }),
            _ => {
                return Err(StoreError::Corrupt(
                    "pending_authorizations.device_user_code: set without device_code_digest, or the reverse"
                        .into(),
                ));
            }
        };
        Ok(PendingAuthorization {
            id_digest: digest_from("pending_authorizations.id_digest", &self.id_digest)?,
            request: ValidatedAuthorizationRequest::from_stored(from_json(
                "pending_authorizations.request",
                &self.request,
            )?)
            .map_err(|e| StoreError::Corrupt(format!("pending_authorizations.request: {e}")))?,
            browser_digest: digest_from(
                "pending_authorizations.browser_digest",
                &self.browser_digest,
            )?,
            csrf_token: self.csrf_token,
            user_id: self.user_id,
            auth_time: self.auth_time,
            device,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// One row of `authorization_codes`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuthorizationCodeRecord {
    pub code_digest: Vec<u8>,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub code_challenge: Option<String>,
    pub scopes: String,
    pub resources: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub access_token_jti: Option<String>,
    pub access_token_expires_at: Option<i64>,
}

impl AuthorizationCodeRecord {
    /// The row that stores `code`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list cannot be serialized as JSON.
    pub fn encode(code: &AuthorizationCode) -> Result<Self, StoreError> {
        Ok(Self {
            code_digest: digest_bytes(&code.code_digest),
            client_id: code.client_id.clone(),
            user_id: code.user_id.clone(),
            redirect_uri: code.redirect_uri.clone(),
            redirect_uri_sent: code.redirect_uri_sent,
            code_challenge: code.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
            scopes: to_json("authorization_codes.scopes", &code.scopes)?,
            resources: to_json("authorization_codes.resources", &code.resources)?,
            nonce: code.nonce.clone(),
            auth_time: code.auth_time,
            created_at: code.created_at,
            expires_at: code.expires_at,
            consumed_at: code.consumed_at,
            access_token_jti: code.access_token_jti.clone(),
            access_token_expires_at: code.access_token_expires_at,
        })
    }

    /// The code this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<AuthorizationCode, StoreError> {
        Ok(AuthorizationCode {
            code_digest: digest_from("authorization_codes.code_digest", &self.code_digest)?,
            scopes: from_json("authorization_codes.scopes", &self.scopes)?,
            resources: from_json("authorization_codes.resources", &self.resources)?,
            client_id: self.client_id,
            user_id: self.user_id,
            redirect_uri: self.redirect_uri,
            redirect_uri_sent: self.redirect_uri_sent,
            code_challenge: self
                .code_challenge
                .as_deref()
                .map(CodeChallenge::parse)
                .transpose()
                .map_err(|e| {
                    StoreError::Corrupt(format!("authorization_codes.code_challenge: {e}"))
                })?,
            nonce: self.nonce,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            consumed_at: self.consumed_at,
            access_token_jti: self.access_token_jti,
            access_token_expires_at: self.access_token_expires_at,
        })
    }
}

/// One row of `refresh_tokens`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefreshTokenRecord {
    pub token_digest: Vec<u8>,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: String,
    pub resources: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl RefreshTokenRecord {
    /// The row that stores `token`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list cannot be serialized as JSON.
    pub fn encode(token: &RefreshToken) -> Result<Self, StoreError> {
        Ok(Self {
            token_digest: digest_bytes(&token.token_digest),
            family_id: token.family_id.clone(),
            client_id: token.client_id.clone(),
            user_id: token.user_id.clone(),
            scopes: to_json("refresh_tokens.scopes", &token.scopes)?,
            resources: to_json("refresh_tokens.resources", &token.resources)?,
            auth_time: token.auth_time,
            created_at: token.created_at,
            expires_at: token.expires_at,
            rotated_at: token.rotated_at,
            revoked_at: token.revoked_at,
        })
    }

    /// The refresh token this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<RefreshToken, StoreError> {
        Ok(RefreshToken {
            token_digest: digest_from("refresh_tokens.token_digest", &self.token_digest)?,
            scopes: from_json("refresh_tokens.scopes", &self.scopes)?,
            resources: from_json("refresh_tokens.resources", &self.resources)?,
            family_id: self.family_id,
            client_id: self.client_id,
            user_id: self.user_id,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            rotated_at: self.rotated_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// One row of `device_authorizations`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeviceAuthorizationRecord {
    pub device_code_digest: Vec<u8>,
    pub user_code_digest: Vec<u8>,
    pub client_id: String,
    pub scopes: String,
    pub resources: String,
    pub status: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    pub last_poll_too_fast: bool,
    pub consumed_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl DeviceAuthorizationRecord {
    /// The row that stores a new `authorization` (no poll recorded as too fast).
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list cannot be serialized as JSON.
    pub fn encode(authorization: &DeviceAuthorization) -> Result<Self, StoreError> {
        let (status, user_id, auth_time) = encode_device_status(&authorization.status);
        Ok(Self {
            device_code_digest: digest_bytes(&authorization.device_code_digest),
            user_code_digest: digest_bytes(&authorization.user_code_digest),
            client_id: authorization.client_id.clone(),
            scopes: to_json("device_authorizations.scopes", &authorization.scopes)?,
            resources: to_json("device_authorizations.resources", &authorization.resources)?,
            status: status.to_owned(),
            user_id,
            auth_time,
            poll_interval: authorization.interval,
            last_polled_at: authorization.last_polled_at,
            last_poll_too_fast: false,
            consumed_at: authorization.consumed_at,
            created_at: authorization.created_at,
            expires_at: authorization.expires_at,
        })
    }

    /// The device authorization this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<DeviceAuthorization, StoreError> {
        Ok(self.decode_poll()?.authorization)
    }

    /// The row as a [`Store::device_authorization_poll`] returns it: the
    /// authorization and whether the poll that wrote it came too soon.
    ///
    /// [`Store::device_authorization_poll`]: portcullis_core::Store::device_authorization_poll
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode_poll(self) -> Result<DevicePoll, StoreError> {
        let status = match (self.status.as_str(), self.user_id, self.auth_time) {
            ("pending", None, None) => DeviceAuthorizationStatus::Pending,
            ("denied", None, None) => DeviceAuthorizationStatus::Denied,
            ("approved", Some(user_id), Some(auth_time)) => {
                DeviceAuthorizationStatus::Approved { user_id, auth_time }
            }
            ("pending" | "denied" | "approved", _, _) => {
                return Err(StoreError::Corrupt(format!(
                    "device_authorizations.user_id: does not fit status `{}`",
                    self.status
                )));
            }
            (other, _, _) => return Err(unknown("device_authorizations.status", other)),
        };
        Ok(DevicePoll {
            authorization: DeviceAuthorization {
                device_code_digest: digest_from(
                    "device_authorizations.device_code_digest",
                    &self.device_code_digest,
                )?,
                user_code_digest: digest_from(
                    "device_authorizations.user_code_digest",
                    &self.user_code_digest,
                )?,
                scopes: from_json("device_authorizations.scopes", &self.scopes)?,
                resources: from_json("device_authorizations.resources", &self.resources)?,
                client_id: self.client_id,
                status,
                interval: self.poll_interval,
                last_polled_at: self.last_polled_at,
                consumed_at: self.consumed_at,
                created_at: self.created_at,
                expires_at: self.expires_at,
            },
            too_fast: self.last_poll_too_fast,
        })
    }
}

/// `device_authorizations.status` and the `user_id`, `auth_time` stored with it.
pub(crate) fn encode_device_status(
    status: &DeviceAuthorizationStatus,
) -> (&'static str, Option<String>, Option<i64>) {
    match status {
        DeviceAuthorizationStatus::Pending => ("pending", None, None),
        DeviceAuthorizationStatus::Approved { user_id, auth_time } => {
            ("approved", Some(user_id.clone()), Some(*auth_time))
        }
        DeviceAuthorizationStatus::Denied => ("denied", None, None),
    }
}

/// A scope set as the JSON array `consents.scopes` stores.
///
/// # Errors
/// [`StoreError::Other`] if serialization fails.
pub(crate) fn encode_scopes(scopes: &BTreeSet<String>) -> Result<String, StoreError> {
    to_json("consents.scopes", scopes)
}

/// The scope set in `consents.scopes`.
///
/// # Errors
/// [`StoreError::Corrupt`] if it is not a JSON array of strings.
pub(crate) fn decode_scopes(text: &str) -> Result<BTreeSet<String>, StoreError> {
    from_json("consents.scopes", text)
}

/// The keep-list of `client_delete_config_except` as a JSON array of strings, the
/// form both backends expand in SQL (`json_each` / `json_array_elements_text`).
///
/// # Errors
/// [`StoreError::Other`] if serialization fails.
pub(crate) fn id_list(ids: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(ids).map_err(|e| StoreError::Other(format!("encoding id list: {e}")))
}

fn client_secrets(
    current: Option<&[u8]>,
    previous: Option<&[u8]>,
    previous_expires_at: Option<i64>,
) -> Result<Option<ClientSecrets>, StoreError> {
    let previous = match (previous, previous_expires_at) {
        (None, None) => None,
        (Some(digest), Some(expires_at)) => Some((
            digest_from("clients.previous_secret_digest", digest)?,
            expires_at,
        )),
        _ => {
            return Err(StoreError::Corrupt(
                "clients.previous_secret_expires_at: set without previous_secret_digest, or the reverse"
                    .into(),
            ));
        }
    };
    match current {
        Some(digest) => Ok(Some(ClientSecrets {
            current: digest_from("clients.secret_digest", digest)?,
            previous,
        })),
        None if previous.is_some() => Err(StoreError::Corrupt(
            "clients.secret_digest: NULL next to a previous secret".into(),
        )),
        None => Ok(None),
    }
}

/// The 32 bytes a digest column stores.
pub(crate) fn digest_bytes(digest: &SecretDigest) -> Vec<u8> {
    digest.as_bytes().to_vec()
}

fn digest_from(column: &str, bytes: &[u8]) -> Result<SecretDigest, StoreError> {
    SecretDigest::from_bytes(bytes).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{column}: a SHA-256 digest is 32 bytes, found {}",
            bytes.len()
        ))
    })
}

fn source(column: &str, value: &str) -> Result<RecordSource, StoreError> {
    RecordSource::parse(value).ok_or_else(|| unknown(column, value))
}

fn to_json<T: Serialize + ?Sized>(column: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(format!("encoding {column}: {e}")))
}

fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn unknown(column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{column}: unknown value `{value}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_proto::grant::GrantType;
    use serde_json::Map;

    fn client() -> Client {
        Client {
            client_id: "web".into(),
            client_name: None,
            secrets: Some(ClientSecrets {
                current: SecretDigest::of("current"),
                previous: Some((SecretDigest::of("previous"), 100)),
            }),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            redirect_uris: vec!["https://app.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::DeviceCode],
            scopes: vec!["openid".into()],
            audiences: vec![],
            skip_consent: false,
            introspection_audiences: vec!["https://api.example".into()],
            id_token_signed_response_alg: SigningAlgorithm::Rs256,
            claims: Map::new(),
            source: RecordSource::Admin,
            created_at: 1,
            updated_at: 2,
        }
    }

    fn corrupt_column(record: ClientRecord) -> String {
        match record.decode() {
            Err(StoreError::Corrupt(what)) => what,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn encodes_lists_as_json_with_wire_names() {
        let record = ClientRecord::encode(&client()).unwrap();
        assert_eq!(
            record.grant_types,
            r#"["authorization_code","urn:ietf:params:oauth:grant-type:device_code"]"#
        );
        assert_eq!(record.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(record.secret_digest.as_deref().map(<[u8]>::len), Some(32));
        assert_eq!(record.previous_secret_expires_at, Some(100));
        assert_eq!(record.decode().unwrap(), client());
    }

    #[test]
    fn a_digest_that_is_not_32_bytes_is_corrupt() {
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.secret_digest = Some(vec![1, 2, 3]);
        assert!(corrupt_column(record).starts_with("clients.secret_digest: "));
    }

    #[test]
    fn a_previous_digest_without_expiry_is_corrupt() {
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.previous_secret_expires_at = None;
        assert!(corrupt_column(record).starts_with("clients.previous_secret_expires_at: "));
    }

    #[test]
    fn a_previous_digest_without_a_current_one_is_corrupt() {
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.secret_digest = None;
        assert!(corrupt_column(record).starts_with("clients.secret_digest: "));
    }

    fn key_record(kid: &str, status: &str) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: "ES256".into(),
            status: status.into(),
            public_jwk: r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k","alg":"ES256","use":"sig"}"#.into(),
            sealed_private_key: vec![1, 2, 3],
            created_at: 1,
            retired_at: None,
            publish_until: None,
            activate_at: None,
        }
    }

    #[test]
    fn signing_keys_with_an_unknown_status_are_skipped_not_fatal() {
        let keys = decode_signing_keys(vec![
            key_record("a", "active"),
            key_record("f", "frozen"),
            key_record("n", "next"),
        ])
        .unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "n"]);
        assert_eq!(keys[1].status, KeyStatus::Next);
        // Other columns stay strict.
        let mut bad_alg = key_record("b", "active");
        bad_alg.alg = "EdDSA".into();
        assert!(matches!(
            decode_signing_keys(vec![bad_alg]),
            Err(StoreError::Corrupt(what)) if what == "signing_keys.alg: unknown value `EdDSA`"
        ));
    }

    #[test]
    fn unknown_enum_spellings_are_corrupt() {
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.token_endpoint_auth_method = "private_key_jwt".into();
        assert_eq!(
            corrupt_column(record),
            "clients.token_endpoint_auth_method: unknown value `private_key_jwt`"
        );
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.source = "ldap".into();
        assert_eq!(
            corrupt_column(record),
            "clients.source: unknown value `ldap`"
        );
    }

    #[test]
    fn claims_that_are_not_an_object_are_corrupt() {
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.claims = "[1, 2]".into();
        assert!(corrupt_column(record).starts_with("clients.claims: "));
    }

    #[test]
    fn pending_authorization_record_debug_redacts_the_user_code() {
        let record = PendingAuthorizationRecord {
            id_digest: vec![1; 32],
            request: "{}".into(),
            browser_digest: vec![2; 32],
            csrf_token: "csrf".into(),
            user_id: None,
            auth_time: None,
            created_at: 1,
            expires_at: 2,
            device_code_digest: Some(vec![3; 32]),
            device_user_code: Some("sealed-user-code".into()),
        };
        let shown = format!("{record:?}");
        assert!(!shown.contains("sealed-user-code"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
