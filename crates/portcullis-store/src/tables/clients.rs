//! The `clients` table: a row ([`ClientRecord`]), its columns and SQL, and
//! [`ClientStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{
    client_secret_digest_bytes, client_secret_digest_from, from_json, id_list, record_source,
    to_json, unknown,
};
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::client::{
    Client, ClientJwks, ClientProfile, ClientSecrets, ClientStore, RecordSource,
};
use portcullis_core::keys::SigningAlgorithm;
use portcullis_core::{StoreError, UnixTime};
use portcullis_proto::grant::TokenEndpointAuthMethod;

/// One row of `clients`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct ClientRecord {
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
    pub default_scopes: String,
    pub audiences: String,
    pub skip_consent: bool,
    pub introspection_audiences: String,
    pub allowed_origins: String,
    pub id_token_signed_response_alg: String,
    pub claims: String,
    pub dpop_bound_access_tokens: bool,
    pub require_pushed_authorization_requests: bool,
    pub jwks: Option<String>,
    pub profile: String,
    pub jwks_uri: Option<String>,
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
            Some(secrets) => (
                Some(client_secret_digest_bytes(&secrets.current)),
                secrets.previous,
            ),
            None => (None, None),
        };
        Ok(Self {
            client_id: client.client_id.clone(),
            client_name: client.client_name.clone(),
            secret_digest,
            previous_secret_digest: previous.map(|(digest, _)| client_secret_digest_bytes(&digest)),
            previous_secret_expires_at: previous.map(|(_, expires_at)| expires_at),
            token_endpoint_auth_method: client.token_endpoint_auth_method.as_str().to_owned(),
            redirect_uris: to_json("clients.redirect_uris", &client.redirect_uris)?,
            post_logout_redirect_uris: to_json(
                "clients.post_logout_redirect_uris",
                &client.post_logout_redirect_uris,
            )?,
            grant_types: to_json("clients.grant_types", &client.grant_types)?,
            scopes: to_json("clients.scopes", &client.scopes)?,
            default_scopes: to_json("clients.default_scopes", &client.default_scopes)?,
            audiences: to_json("clients.audiences", &client.audiences)?,
            skip_consent: client.skip_consent,
            introspection_audiences: to_json(
                "clients.introspection_audiences",
                &client.introspection_audiences,
            )?,
            allowed_origins: to_json("clients.allowed_origins", &client.allowed_origins)?,
            id_token_signed_response_alg: client.id_token_signed_response_alg.as_str().to_owned(),
            claims: to_json("clients.claims", &client.claims)?,
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
            jwks: client
                .jwks
                .as_ref()
                .map(|jwks| to_json("clients.jwks", &jwks.to_value()))
                .transpose()?,
            profile: client.profile.as_str().to_owned(),
            jwks_uri: client.jwks_uri.clone(),
            source: stored_source(client.source).to_owned(),
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
        let jwks = match self.jwks.as_deref() {
            None => None,
            Some(text) => {
                let value: serde_json::Value = from_json("clients.jwks", text)?;
                Some(
                    ClientJwks::parse(&value)
                        .map_err(|e| StoreError::Corrupt(format!("clients.jwks: {e}")))?,
                )
            }
        };
        let profile = ClientProfile::parse(&self.profile)
            .ok_or_else(|| unknown("clients.profile", &self.profile))?;
        Ok(Client {
            client_id: self.client_id,
            client_name: self.client_name,
            secrets,
            token_endpoint_auth_method,
            jwks,
            jwks_uri: self.jwks_uri,
            redirect_uris: from_json("clients.redirect_uris", &self.redirect_uris)?,
            post_logout_redirect_uris: from_json(
                "clients.post_logout_redirect_uris",
                &self.post_logout_redirect_uris,
            )?,
            grant_types: from_json("clients.grant_types", &self.grant_types)?,
            scopes: from_json("clients.scopes", &self.scopes)?,
            default_scopes: from_json("clients.default_scopes", &self.default_scopes)?,
            audiences: from_json("clients.audiences", &self.audiences)?,
            skip_consent: self.skip_consent,
            introspection_audiences: from_json(
                "clients.introspection_audiences",
                &self.introspection_audiences,
            )?,
            allowed_origins: from_json("clients.allowed_origins", &self.allowed_origins)?,
            id_token_signed_response_alg,
            claims: from_json("clients.claims", &self.claims)?,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            profile,
            source: record_source("clients.source", &self.source)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The `clients.source` spelling of `source`: a dynamic client's row says `admin`
/// (widening the column's CHECK would need a SQLite table rebuild); its
/// `dynamic_clients` row makes it read back as [`RecordSource::Dynamic`]
/// (`client_source!`).
fn stored_source(source: RecordSource) -> &'static str {
    match source {
        RecordSource::Dynamic => RecordSource::Admin.as_str(),
        other => other.as_str(),
    }
}

/// The secret columns of `clients` as one update: current digest, previous digest
/// and its expiry.
type SecretColumns = (Vec<u8>, Option<Vec<u8>>, Option<i64>);

/// The secret columns that store `secrets`.
fn encode_secrets(secrets: &ClientSecrets) -> SecretColumns {
    (
        client_secret_digest_bytes(&secrets.current),
        secrets
            .previous
            .map(|(digest, _)| client_secret_digest_bytes(&digest)),
        secrets.previous.map(|(_, expires_at)| expires_at),
    )
}

fn client_secrets(
    current: Option<&[u8]>,
    previous: Option<&[u8]>,
    previous_expires_at: Option<i64>,
) -> Result<Option<ClientSecrets>, StoreError> {
    let previous = match (previous, previous_expires_at) {
        (None, None) => None,
        (Some(digest), Some(expires_at)) => Some((
            client_secret_digest_from("clients.previous_secret_digest", digest)?,
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
            current: client_secret_digest_from("clients.secret_digest", digest)?,
            previous,
        })),
        None if previous.is_some() => Err(StoreError::Corrupt(
            "clients.secret_digest: NULL next to a previous secret".into(),
        )),
        None => Ok(None),
    }
}

/// Columns of `clients`, in [`ClientRecord`] and `bind_client!` order.
macro_rules! client_columns {
    () => {
        "client_id, client_name, secret_digest, previous_secret_digest, \
         previous_secret_expires_at, token_endpoint_auth_method, redirect_uris, \
         post_logout_redirect_uris, grant_types, scopes, audiences, skip_consent, \
         introspection_audiences, allowed_origins, id_token_signed_response_alg, claims, \
         dpop_bound_access_tokens, require_pushed_authorization_requests, source, \
         created_at, updated_at, default_scopes, jwks, profile, jwks_uri"
    };
}

/// `INSERT INTO clients`, binding [`client_columns`] as `$1`…`$25`.
macro_rules! client_insert {
    () => {
        concat!(
            "INSERT INTO clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24, $25)"
        )
    };
}

/// Binds a [`ClientRecord`] as `$1`…`$25` of [`client_insert`].
macro_rules! bind_client {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.client_id)
            .bind(r.client_name)
            .bind(r.secret_digest)
            .bind(r.previous_secret_digest)
            .bind(r.previous_secret_expires_at)
            .bind(r.token_endpoint_auth_method)
            .bind(r.redirect_uris)
            .bind(r.post_logout_redirect_uris)
            .bind(r.grant_types)
            .bind(r.scopes)
            .bind(r.audiences)
            .bind(r.skip_consent)
            .bind(r.introspection_audiences)
            .bind(r.allowed_origins)
            .bind(r.id_token_signed_response_alg)
            .bind(r.claims)
            .bind(r.dpop_bound_access_tokens)
            .bind(r.require_pushed_authorization_requests)
            .bind(r.source)
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(r.default_scopes)
            .bind(r.jwks)
            .bind(r.profile)
            .bind(r.jwks_uri)
    }};
}

/// The columns a read selects: [`client_columns`] with `source` read through
/// `client_source!`.
macro_rules! client_select_columns {
    () => {
        concat!(
            "client_id, client_name, secret_digest, previous_secret_digest, \
             previous_secret_expires_at, token_endpoint_auth_method, redirect_uris, \
             post_logout_redirect_uris, grant_types, scopes, audiences, skip_consent, \
             introspection_audiences, allowed_origins, id_token_signed_response_alg, claims, \
             dpop_bound_access_tokens, require_pushed_authorization_requests, ",
            client_source!(),
            ", created_at, updated_at, default_scopes, jwks, profile, jwks_uri"
        )
    };
}

/// `source` as read: `dynamic` for a client with a `dynamic_clients` row (RFC 7591).
macro_rules! client_source {
    () => {
        "CASE WHEN EXISTS (SELECT 1 FROM dynamic_clients d \
         WHERE d.client_id = clients.client_id) THEN 'dynamic' ELSE source END AS source"
    };
}

/// `$1` = client_id.
const CLIENT_GET: &str = concat!(
    "SELECT ",
    client_select_columns!(),
    " FROM clients WHERE client_id = $1"
);

/// Every client; ids compare by code point on both backends.
const CLIENT_LIST: &str = concat!(
    "SELECT ",
    client_select_columns!(),
    " FROM clients ORDER BY client_id"
);

/// See [`client_insert`].
const CLIENT_INSERT: &str = client_insert!();

/// [`client_insert`] that replaces every column but `created_at` on an existing id.
const CLIENT_UPSERT: &str = concat!(
    client_insert!(),
    " ON CONFLICT (client_id) DO UPDATE SET",
    " client_name = excluded.client_name,",
    " secret_digest = excluded.secret_digest,",
    " previous_secret_digest = excluded.previous_secret_digest,",
    " previous_secret_expires_at = excluded.previous_secret_expires_at,",
    " token_endpoint_auth_method = excluded.token_endpoint_auth_method,",
    " redirect_uris = excluded.redirect_uris,",
    " post_logout_redirect_uris = excluded.post_logout_redirect_uris,",
    " grant_types = excluded.grant_types,",
    " scopes = excluded.scopes,",
    " default_scopes = excluded.default_scopes,",
    " audiences = excluded.audiences,",
    " skip_consent = excluded.skip_consent,",
    " introspection_audiences = excluded.introspection_audiences,",
    " allowed_origins = excluded.allowed_origins,",
    " id_token_signed_response_alg = excluded.id_token_signed_response_alg,",
    " claims = excluded.claims,",
    " dpop_bound_access_tokens = excluded.dpop_bound_access_tokens,",
    " require_pushed_authorization_requests = excluded.require_pushed_authorization_requests,",
    " jwks = excluded.jwks,",
    " profile = excluded.profile,",
    " jwks_uri = excluded.jwks_uri,",
    " source = excluded.source,",
    " updated_at = excluded.updated_at"
);

sql_store_impl!(
    Self,
    /// Writes `client`'s row on `conn` (inside the caller's transaction): an insert, or
    /// with `replace` the upsert that keeps `created_at`.
    pub(crate) async fn write_client_row(
        conn: &mut DB::Connection,
        client: &Client,
        replace: bool,
    ) -> Result<(), StoreError> {
        let record = ClientRecord::encode(client)?;
        let sql = if replace {
            CLIENT_UPSERT
        } else {
            CLIENT_INSERT
        };
        bind_client!(sqlx::query::<DB>(sql), record)
            .execute(&mut *conn)
            .await
            .map_err(classify(&format!("client `{}`", client.client_id)))?;
        Ok(())
    },
);

/// `$1` = client_id.
const CLIENT_DELETE: &str = "DELETE FROM clients WHERE client_id = $1";

/// `$1` = client_id, `$2` = current digest, `$3`/`$4` = previous digest and its
/// expiry (both NULL when there is none), `$5` = now.
const CLIENT_SET_SECRETS: &str = "UPDATE clients SET secret_digest = $2, \
     previous_secret_digest = $3, previous_secret_expires_at = $4, updated_at = $5 \
     WHERE client_id = $1";

sql_store_impl!(
    ClientStore,
    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        sqlx::query_as::<DB, ClientRecord>(CLIENT_GET)
            .bind(client_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a client"))?
            .map(ClientRecord::decode)
            .transpose()
    },
    async fn client_list(&self) -> Result<Vec<Client>, StoreError> {
        sqlx::query_as::<DB, ClientRecord>(CLIENT_LIST)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing clients"))?
            .into_iter()
            .map(ClientRecord::decode)
            .collect()
    },
    async fn client_insert(&self, client: &Client) -> Result<(), StoreError> {
        let record = ClientRecord::encode(client)?;
        bind_client!(sqlx::query::<DB>(CLIENT_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&format!("client `{}`", client.client_id)))?;
        Ok(())
    },
    async fn client_upsert(&self, client: &Client) -> Result<(), StoreError> {
        let record = ClientRecord::encode(client)?;
        bind_client!(sqlx::query::<DB>(CLIENT_UPSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&format!("client `{}`", client.client_id)))?;
        Ok(())
    },
    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(CLIENT_DELETE)
            .bind(client_id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("deleting a client"))?;
        Ok(DB::rows_affected(&result) > 0)
    },
    async fn client_delete_config_except(
        &self,
        keep: &[String],
    ) -> Result<Vec<String>, StoreError> {
        // One statement: atomic without a transaction. RETURNING has no defined
        // order, so sort for a stable answer.
        let mut deleted = sqlx::query_scalar::<DB, String>(DB::DELETE_CONFIG_CLIENTS_EXCEPT)
            .bind(id_list(keep)?)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("deleting clients removed from the configuration"))?;
        deleted.sort_unstable();
        Ok(deleted)
    },
    async fn client_set_secrets(
        &self,
        client_id: &str,
        secrets: &ClientSecrets,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let (current, previous, previous_expires_at) = encode_secrets(secrets);
        let result = sqlx::query::<DB>(CLIENT_SET_SECRETS)
            .bind(client_id.to_owned())
            .bind(current)
            .bind(previous)
            .bind(previous_expires_at)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("setting client secrets"))?;
        if DB::rows_affected(&result) == 0 {
            return Err(StoreError::NotFound(format!("client `{client_id}`")));
        }
        Ok(())
    },
);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::client::{ClientSecretDigest, RecordSource};
    use portcullis_core::secret::SecretDigest;
    use portcullis_proto::grant::GrantType;
    use serde_json::Map;

    fn client() -> Client {
        Client {
            client_id: "web".into(),
            client_name: None,
            secrets: Some(ClientSecrets {
                current: ClientSecretDigest::Keyed(SecretDigest::of("current")),
                previous: Some((
                    ClientSecretDigest::Sha256(SecretDigest::of("previous")),
                    100,
                )),
            }),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            jwks: None,
            jwks_uri: None,
            redirect_uris: vec!["https://app.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::DeviceCode],
            scopes: vec!["openid".into()],
            default_scopes: vec!["openid".into()],
            audiences: vec![],
            skip_consent: false,
            introspection_audiences: vec!["https://api.example".into()],
            allowed_origins: vec!["https://app.example".into()],
            id_token_signed_response_alg: SigningAlgorithm::Rs256,
            claims: Map::new(),
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: true,
            profile: ClientProfile::Default,
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
        // Keyed: the prefix byte and 32 bytes; SHA-256: 32 bytes.
        let current = record.secret_digest.clone().unwrap();
        assert_eq!((current.len(), current[0]), (33, 1));
        assert_eq!(
            record.previous_secret_digest.as_deref().map(<[u8]>::len),
            Some(32)
        );
        assert_eq!(record.previous_secret_expires_at, Some(100));
        assert_eq!(record.decode().unwrap(), client());
    }

    #[test]
    fn a_digest_that_is_not_32_bytes_is_corrupt() {
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.secret_digest = Some(vec![1, 2, 3]);
        assert!(corrupt_column(record).starts_with("clients.secret_digest: "));
        // 33 bytes with an unknown prefix: not a keyed digest either.
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.secret_digest = Some(vec![2; 33]);
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

    #[test]
    fn unknown_enum_spellings_are_corrupt() {
        let mut record = ClientRecord::encode(&client()).unwrap();
        record.token_endpoint_auth_method = "client_secret_jwt".into();
        assert_eq!(
            corrupt_column(record),
            "clients.token_endpoint_auth_method: unknown value `client_secret_jwt`"
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
}
