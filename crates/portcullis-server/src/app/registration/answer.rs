//! What registration and management share: the failure type, the client information
//! response (RFC 7591 §3.2.1, RFC 7592 §3) and the metadata check of a request body.

use crate::app::config::registration::RegistrationMode;
use crate::app::state::AppState;
use portcullis_core::client::dynamic::DynamicRegistration;
use portcullis_core::client::dynamic::metadata::{CheckedMetadata, MetadataReason, check_metadata};
use portcullis_core::store::StoreError;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Why a registration request (or an RFC 7592 request) got no client.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationFailure {
    /// `[registration] mode = "off"`: the endpoint does not exist (404).
    #[error("dynamic registration is off")]
    Off,
    /// RFC 7591 §3 / RFC 6750 §3.1: the initial access token or the registration access
    /// token is missing, unknown or for another client (401 `invalid_token`; never says
    /// which, so a client id's existence is not revealed).
    #[error("missing or invalid bearer token")]
    InvalidToken,
    /// The address used its hourly budget: retry after this long.
    #[error("throttled")]
    Throttled(Duration),
    /// `[registration] max_dynamic_clients` reached.
    #[error("the dynamic client ceiling is reached")]
    Ceiling,
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// RFC 7591 §3.2.2: the metadata is refused.
    #[error(transparent)]
    Metadata(MetadataReason),
    /// The CSPRNG failed.
    #[error("no randomness")]
    Random,
    /// The store failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

/// RFC 7591 §3.2.1 / RFC 7592 §3: the client information response without a secret:
/// `client_id`, `client_id_issued_at`, the registration access token (the one just
/// issued, or the one the request presented: only its digest is stored), the
/// `registration_client_uri`, and the registered metadata.
pub(super) fn information(
    state: &AppState,
    registration: &DynamicRegistration,
    token: &str,
) -> Map<String, Value> {
    let mut answer = registration.metadata.clone();
    answer.insert("client_id".into(), json!(registration.client_id));
    answer.insert("client_id_issued_at".into(), json!(registration.created_at));
    answer.insert("registration_access_token".into(), json!(token));
    answer.insert(
        "registration_client_uri".into(),
        json!(client_uri(state, &registration.client_id)),
    );
    answer
}

/// RFC 7592 §1: the client configuration endpoint of `client_id`.
fn client_uri(state: &AppState, client_id: &str) -> String {
    let issuer = state.config().issuer.trim_end_matches('/');
    let path = portcullis_proto::routes::REGISTRATION_CLIENT.replace("{client_id}", client_id);
    format!("{issuer}{path}")
}

/// Parses the body and checks it against the registry.
pub(super) async fn parse_and_check(
    state: &AppState,
    unverified_body: &[u8],
) -> Result<CheckedMetadata, RegistrationFailure> {
    let unverified: Value = serde_json::from_slice(unverified_body)
        .map_err(|e| RegistrationFailure::NotJson(e.to_string()))?;
    let resources = state.store().resource_list().await?;
    let checked = check_metadata(&unverified, &resources).map_err(RegistrationFailure::Metadata)?;
    // Why: with open registration anyone could register a client_credentials client and
    // take machine tokens for the open resources with no user and no consent; the
    // resources opened to self-registered clients are opened to clients that *ask a
    // user*. A holder of an initial access token was vetted by the operator.
    if state.config().registration.mode == RegistrationMode::Open
        && checked.uses_client_credentials()
    {
        return Err(RegistrationFailure::Metadata(MetadataReason::Metadata {
            field: "grant_types",
            problem: "client_credentials needs an initial access token: open registration gives only clients that act for a user, after their consent (the operator can set [registration] mode = \"initial_access_token\")".into(),
        }));
    }
    Ok(checked)
}
