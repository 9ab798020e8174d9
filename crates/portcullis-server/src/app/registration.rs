//! RFC 7591 dynamic client registration and RFC 7592 management, the application
//! step: who may register (`[registration] mode`, the initial access token, the
//! per-address budget, the ceiling), core's metadata checks
//! ([`portcullis_core::client::dynamic::metadata`]), the credentials issued, and the
//! registration access token that guards read, update and delete. The wire answers
//! are the HTTP layer's (`http/endpoints/registration.rs`, `http/error/registration.rs`).

mod answer;
mod management;

pub use answer::RegistrationFailure;
pub use management::{delete, read, update};

use answer::{information, parse_and_check};

use crate::app::audit;
use crate::app::config::registration::RegistrationMode;
use crate::app::state::AppState;
use crate::app::throttle::bucket::take_per_hour;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::client::dynamic::DynamicRegistration;
use portcullis_core::client::{ClientSecretDigest, ClientSecrets};
use portcullis_core::secret::{SecretDigest, generate_secret, random_bytes};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// RFC 7591 §3.1: registers the client that `unverified_body` (JSON metadata)
/// describes, for a request from `ip` carrying the bearer token `bearer` (if any).
/// Returns the RFC 7591 §3.2.1 client information response (201).
///
/// # Errors
/// A [`RegistrationFailure`], in this order: off, throttled, token, metadata, ceiling.
pub async fn register(
    state: &AppState,
    request_id: &str,
    ip: IpAddr,
    bearer: Option<&str>,
    unverified_body: &[u8],
) -> Result<Map<String, Value>, RegistrationFailure> {
    let settings = &state.config().registration;
    if settings.mode == RegistrationMode::Off {
        return Err(RegistrationFailure::Off);
    }
    let now = state.clock().now();
    let store = state.store().as_ref();
    let per_hour = settings.registrations_per_hour;
    if let Err(wait) = take_per_hour(store, "registration", per_hour, ip, now).await? {
        return Err(RegistrationFailure::Throttled(wait));
    }
    if settings.mode == RegistrationMode::InitialAccessToken {
        check_initial_access_token(state, bearer).await?;
    }
    let checked = parse_and_check(state, unverified_body).await?;
    let client_id = random_id()?;
    let secret = if checked.needs_secret() {
        Some(generate_secret().map_err(|_| RegistrationFailure::Random)?)
    } else {
        None
    };
    let secrets = secret.as_ref().map(|s| ClientSecrets {
        current: ClientSecretDigest::Sha256(SecretDigest::of(s.expose_secret())),
        previous: None,
    });
    let metadata = checked.metadata.clone();
    let client = checked
        .into_client(
            &client_id,
            secrets,
            state.config().authorization.default_profile,
            now,
        )
        .map_err(RegistrationFailure::Metadata)?;
    let token = generate_secret().map_err(|_| RegistrationFailure::Random)?;
    let registration = DynamicRegistration {
        client_id: client_id.clone(),
        registration_token_digest: SecretDigest::of(token.expose_secret()),
        metadata,
        last_used_at: now,
        created_at: now,
    };
    let ceiling = settings.max_dynamic_clients;
    if !store
        .dynamic_client_insert(&client, &registration, ceiling)
        .await?
    {
        return Err(RegistrationFailure::Ceiling);
    }
    tracing::info!(target: audit::TARGET, event = "client_registered", request_id, client_id = client_id.as_str());
    let mut answer = information(state, &registration, token.expose_secret());
    if let Some(secret) = secret {
        answer.insert("client_secret".into(), json!(secret.expose_secret()));
        answer.insert("client_secret_expires_at".into(), json!(0));
    }
    Ok(answer)
}

/// RFC 7591 §3: the initial access token is one configured (as a digest) or made with
/// the CLI; compared in constant time against the configured digests.
async fn check_initial_access_token(
    state: &AppState,
    bearer: Option<&str>,
) -> Result<(), RegistrationFailure> {
    let Some(token) = bearer else {
        return Err(RegistrationFailure::InvalidToken);
    };
    let configured = &state.config().registration.initial_access_tokens;
    // Every digest is compared (no early exit), so timing says nothing about which.
    let in_config = configured
        .iter()
        .fold(false, |found, digest| digest.matches(token) | found);
    if in_config
        || state
            .store()
            .initial_access_token_exists(&SecretDigest::of(token))
            .await?
    {
        return Ok(());
    }
    Err(RegistrationFailure::InvalidToken)
}

/// `portcullis registration token create`: a new initial access token (RFC 7591 §3),
/// 256 random bits in base64url; only its SHA-256 digest is stored.
///
/// # Errors
/// [`RegistrationFailure::Random`] or the store's.
pub async fn create_initial_access_token(
    store: &dyn portcullis_core::Store,
    now: portcullis_core::UnixTime,
) -> Result<secrecy::SecretString, RegistrationFailure> {
    let token = generate_secret().map_err(|_| RegistrationFailure::Random)?;
    store
        .initial_access_token_insert(&SecretDigest::of(token.expose_secret()), now)
        .await?;
    Ok(token)
}

/// A new client id: `dcr-` and 128 random bits in base64url (never a UUID, so it cannot
/// pass for a user subject).
fn random_id() -> Result<String, RegistrationFailure> {
    let mut bytes = [0u8; 16];
    random_bytes(&mut bytes).map_err(|_| RegistrationFailure::Random)?;
    Ok(format!("dcr-{}", URL_SAFE_NO_PAD.encode(bytes)))
}
