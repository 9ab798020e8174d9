//! RFC 7592 §2: read, update and delete a dynamic client at its
//! `registration_client_uri`, with its registration access token (Bearer, RFC 6750).
//! A missing or wrong token and an unknown client get the same answer
//! ([`RegistrationFailure::InvalidToken`]): the endpoint never says whether an id exists.

use super::answer::{RegistrationFailure, information, parse_and_check};
use crate::app::audit;
use crate::app::state::AppState;
use portcullis_core::client::dynamic::DynamicRegistration;
use portcullis_core::client::dynamic::metadata::MetadataReason;
use portcullis_core::client::{ClientSecretDigest, ClientSecrets};
use portcullis_core::secret::{SecretDigest, generate_secret};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

/// RFC 7592 §2.1: the client information response of `client_id`.
///
/// # Errors
/// [`RegistrationFailure::InvalidToken`], `Off`, or the store's.
pub async fn read(
    state: &AppState,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<Map<String, Value>, RegistrationFailure> {
    let (registration, token) = authenticate(state, client_id, bearer).await?;
    Ok(information(state, &registration, token))
}

/// RFC 7592 §2.2: replaces the client's metadata with `unverified_body`, checked as a
/// registration is. The body's `client_id` must be the client's; a `client_secret` in
/// it must be the current one (the client cannot choose its secret). A client that
/// switches to a secret method without a secret gets a new one in the answer.
///
/// # Errors
/// As [`read`], plus [`RegistrationFailure::Metadata`] and `NotJson`.
pub async fn update(
    state: &AppState,
    request_id: &str,
    client_id: &str,
    bearer: Option<&str>,
    unverified_body: &[u8],
) -> Result<Map<String, Value>, RegistrationFailure> {
    let (registration, token) = authenticate(state, client_id, bearer).await?;
    let unverified: Value = serde_json::from_slice(unverified_body)
        .map_err(|e| RegistrationFailure::NotJson(e.to_string()))?;
    if unverified.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(metadata_error(
            "client_id",
            "must be present and equal to the client's own (RFC 7592 §2.2)",
        ));
    }
    let store = state.store().as_ref();
    let Some(current) = store.client_get(client_id).await? else {
        return Err(RegistrationFailure::InvalidToken);
    };
    if let Some(presented) = unverified.get("client_secret") {
        let matches = presented.as_str().is_some_and(|p| {
            current.secrets.as_ref().is_some_and(|s| match &s.current {
                ClientSecretDigest::Sha256(d) => d.matches(p),
                ClientSecretDigest::Keyed(_) => false,
            })
        });
        if !matches {
            return Err(metadata_error(
                "client_secret",
                "is not the current secret; a client cannot choose its own (RFC 7592 §2.2)",
            ));
        }
    }
    let checked = parse_and_check(state, unverified_body).await?;
    let mut fresh_secret = None;
    let secrets = match (checked.needs_secret(), current.secrets) {
        (false, _) => None,
        (true, Some(kept)) => Some(kept),
        (true, None) => {
            let secret = generate_secret().map_err(|_| RegistrationFailure::Random)?;
            let digest = ClientSecretDigest::Sha256(SecretDigest::of(secret.expose_secret()));
            fresh_secret = Some(secret);
            Some(ClientSecrets {
                current: digest,
                previous: None,
            })
        }
    };
    let metadata = checked.metadata.clone();
    let now = state.clock().now();
    let client = checked
        .into_client(
            client_id,
            secrets,
            state.config().authorization.default_profile,
            now,
        )
        .map_err(RegistrationFailure::Metadata)?;
    if !store.dynamic_client_replace(&client, &metadata).await? {
        return Err(RegistrationFailure::InvalidToken);
    }
    state.clients().invalidate(client_id);
    tracing::info!(target: audit::TARGET, event = "client_registration_updated", request_id, client_id);
    let updated = DynamicRegistration {
        metadata,
        ..registration
    };
    let mut answer = information(state, &updated, token);
    if let Some(secret) = fresh_secret {
        answer.insert("client_secret".into(), json!(secret.expose_secret()));
        answer.insert("client_secret_expires_at".into(), json!(0));
    }
    Ok(answer)
}

/// RFC 7592 §2.3: deletes the client, and with it (by cascade) its registration,
/// codes, refresh tokens and consents.
///
/// # Errors
/// As [`read`].
pub async fn delete(
    state: &AppState,
    request_id: &str,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<(), RegistrationFailure> {
    authenticate(state, client_id, bearer).await?;
    state.store().client_delete(client_id).await?;
    state.clients().invalidate(client_id);
    tracing::info!(target: audit::TARGET, event = "client_registration_deleted", request_id, client_id);
    Ok(())
}

/// The registration of `client_id` if `bearer` is its registration access token
/// (constant-time digest comparison), with the token. Works whatever the mode, so a
/// client registered before registration was switched off can still delete itself.
async fn authenticate<'t>(
    state: &AppState,
    client_id: &str,
    bearer: Option<&'t str>,
) -> Result<(DynamicRegistration, &'t str), RegistrationFailure> {
    let Some(token) = bearer else {
        return Err(RegistrationFailure::InvalidToken);
    };
    let registration = state.store().dynamic_client_get(client_id).await?;
    match registration {
        Some(r) if r.registration_token_digest.matches(token) => Ok((r, token)),
        _ => Err(RegistrationFailure::InvalidToken),
    }
}

fn metadata_error(field: &'static str, problem: &str) -> RegistrationFailure {
    RegistrationFailure::Metadata(MetadataReason::Metadata {
        field,
        problem: problem.to_owned(),
    })
}
