//! The authorization server as the app sees it: its discovery document and JWKS
//! (OpenID Connect Discovery 1.0, RFC 8414), and id_token verification that survives
//! a signing key rotation.

use super::app::{WebApp, seconds};
use super::config::WebAppConfig;
use super::oidc_http::OidcHttp;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType,
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, ClaimsVerificationError, ClientId, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, NonceVerifier, ProviderMetadata, RedirectUrl,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The endpoints the app reads from the discovery document.
pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider, as discovered: the client built on it and what its metadata promises.
pub struct Provider {
    /// Rebuilt from a fresh discovery document and JWKS when an id_token signature
    /// does not verify (key rotation).
    client: RwLock<Arc<OidcClient>>,
    /// When the provider was last refetched (clock seconds); serializes refetches.
    refetched_at: tokio::sync::Mutex<Option<i64>>,
    /// The issuer, as discovery confirmed it.
    pub issuer: String,
    /// RFC 7009 endpoint, to revoke the refresh token at logout.
    pub revocation_endpoint: Option<String>,
    /// RFC 9207: the server promises `iss` in authorization responses.
    pub iss_in_response: bool,
}

impl Provider {
    /// Reads the issuer's discovery document and JWKS.
    ///
    /// # Errors
    /// The issuer is unreachable, or its metadata or a URL is malformed.
    pub async fn discover(config: &WebAppConfig, http: &OidcHttp) -> anyhow::Result<Self> {
        let (client, metadata) = discover(config, http).await?;
        let extra = metadata.additional_metadata().clone();
        Ok(Self {
            client: RwLock::new(Arc::new(client)),
            refetched_at: tokio::sync::Mutex::new(None),
            issuer: metadata.issuer().as_str().to_owned(),
            revocation_endpoint: extra.revocation_endpoint,
            iss_in_response: extra
                .authorization_response_iss_parameter_supported
                .unwrap_or(false),
        })
    }

    /// The current OpenID Connect client (provider metadata and keys).
    pub fn client(&self) -> Arc<OidcClient> {
        self.client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl WebApp {
    /// Verifies an id_token (signature, `iss`, `aud`, `exp`, and `nonce` through
    /// `nonce`). When the signature does not verify, e.g. the server signed with a
    /// key published after the app read the JWKS, refetches the discovery document
    /// and JWKS once and verifies again.
    pub(super) async fn verify_id_token<'t, N>(
        &self,
        id_token: &'t CoreIdToken,
        nonce: N,
    ) -> Result<&'t CoreIdTokenClaims, String>
    where
        N: NonceVerifier + Copy,
    {
        let oidc = self.provider.client();
        let first = match id_token.claims(&oidc.id_token_verifier(), nonce) {
            Ok(claims) => return Ok(claims),
            Err(ClaimsVerificationError::SignatureVerification(e)) => e,
            Err(e) => return Err(e.to_string()),
        };
        let oidc = self
            .refetch_provider(&oidc)
            .await
            .map_err(|e| format!("{first}; refetching the provider's keys failed: {e:#}"))?;
        id_token
            .claims(&oidc.id_token_verifier(), nonce)
            .map_err(|e| e.to_string())
    }

    /// Rediscovers the provider (metadata and JWKS) and replaces the client, unless
    /// another request did so since `used` was read, or the last refetch was less
    /// than [`PROVIDER_REFETCH_COOLDOWN`] ago.
    async fn refetch_provider(&self, used: &Arc<OidcClient>) -> anyhow::Result<Arc<OidcClient>> {
        let provider = &self.provider;
        let mut refetched_at = provider.refetched_at.lock().await;
        let current = provider.client();
        if !Arc::ptr_eq(&current, used) {
            return Ok(current);
        }
        let now = self.now();
        if let Some(at) = *refetched_at
            && now.saturating_sub(at) < seconds(PROVIDER_REFETCH_COOLDOWN)
        {
            anyhow::bail!("the keys were refetched less than {PROVIDER_REFETCH_COOLDOWN:?} ago");
        }
        *refetched_at = Some(now);
        let (client, metadata) = discover(&self.config, &self.http).await?;
        anyhow::ensure!(
            metadata.issuer().as_str() == provider.issuer,
            "the provider now names another issuer"
        );
        let client = Arc::new(client);
        *provider
            .client
            .write()
            .unwrap_or_else(PoisonError::into_inner) = client.clone();
        Ok(client)
    }
}

/// Discovery (OpenID Connect Discovery 1.0, with the JWKS) and the client built on
/// it.
async fn discover(
    config: &WebAppConfig,
    http: &OidcHttp,
) -> anyhow::Result<(OidcClient, Metadata)> {
    let metadata = Metadata::discover_async(IssuerUrl::new(config.issuer.clone())?, http).await?;
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(config.client_id.clone()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(config.redirect_uri.clone())?);
    Ok((client, metadata))
}

/// The discovery document with the fields beyond OIDC Discovery that the app reads.
type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// RFC 8414 fields: the revocation endpoint and the RFC 9207 promise.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExtraMetadata {
    revocation_endpoint: Option<String>,
    authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

/// Least time between two refetches of the provider's metadata and keys.
const PROVIDER_REFETCH_COOLDOWN: Duration = Duration::from_secs(10);
