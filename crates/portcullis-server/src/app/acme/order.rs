//! One certificate order (RFC 8555 §7.4) over `instant-acme`: the account (§7.3,
//! created once per directory and kept sealed in the store), the order for the
//! configured domains, each authorization answered with TLS-ALPN-01 (RFC 8737), the
//! finalization with a fresh P-256 key and its CSR (made by instant-acme with rcgen),
//! and the chain. The challenge certificates are installed on this node and published
//! in the store for the other nodes (the CA's validation may reach any of them).

use super::Manager;
use super::certificate::challenge_certificate;
use super::error::AcmeError;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use std::time::Duration;

/// How long a published challenge may be answered: longer than any order takes.
const CHALLENGE_TTL_SECONDS: i64 = 600;

/// How long the ordering node waits after publishing a challenge before telling the CA
/// to validate: the other nodes read the store every [`super::renewal::DUE_POLL`].
const CHALLENGE_PROPAGATION: Duration = Duration::from_millis(2500);

/// How long the CA may take to validate and to issue.
const ORDER_POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(120));

/// The account AAD for sealing: the directory URL.
fn account_aad(directory: &str) -> Vec<u8> {
    format!("acme account {directory}").into_bytes()
}

impl Manager {
    /// Orders a certificate: returns its PEM chain and PEM private key. Challenges are
    /// cleared on this node and in the store whatever the outcome.
    ///
    /// # Errors
    /// [`AcmeError`] from the CA, the store or sealing.
    pub(super) async fn order(&self) -> Result<(String, String), AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let mut published = Vec::new();
        let outcome = self.validate(&mut order, &mut published).await;
        for domain in &published {
            self.slot.clear_challenge(domain);
            if let Err(e) = self.store.acme_challenge_delete(domain).await {
                tracing::warn!(domain, error = %e, "could not delete a published ACME challenge");
            }
        }
        outcome?;
        let key_pem = order.finalize().await?;
        let chain_pem = order.poll_certificate(&ORDER_POLL).await?;
        Ok((chain_pem, key_pem))
    }

    /// Answers each pending authorization with TLS-ALPN-01 and waits until the order
    /// is ready; `published` collects the domains whose challenge was published.
    async fn validate(
        &self,
        order: &mut instant_acme::Order,
        published: &mut Vec<String>,
    ) -> Result<(), AcmeError> {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                status => {
                    return Err(AcmeError::Refused(format!("authorization is {status:?}")));
                }
            }
            let mut challenge = authorization
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or_else(|| AcmeError::Refused("the CA offers no tls-alpn-01".to_owned()))?;
            let domain = challenge.identifier().to_string();
            let digest = challenge.key_authorization().digest().as_ref().to_vec();
            self.slot
                .set_challenge(&domain, challenge_certificate(&domain, &digest)?);
            published.push(domain.clone());
            let expires_at = self.clock.now().saturating_add(CHALLENGE_TTL_SECONDS);
            self.store
                .acme_challenge_put(&domain, &digest, expires_at)
                .await?;
            tokio::time::sleep(CHALLENGE_PROPAGATION).await;
            challenge.set_ready().await?;
        }
        match order.poll_ready(&ORDER_POLL).await? {
            OrderStatus::Ready => Ok(()),
            status => Err(AcmeError::Refused(format!("order is {status:?}"))),
        }
    }

    /// The ACME account: the stored one for this directory, or a new one (contact, terms
    /// of service agreed) whose credentials are sealed and stored.
    async fn account(&self) -> Result<Account, AcmeError> {
        let directory = self.settings.directory.as_str();
        let aad = account_aad(directory);
        if let Some(sealed) = self.store.acme_account_get(directory).await? {
            let json = self.sealer.open(&aad, &sealed)?;
            let credentials: AccountCredentials = serde_json::from_slice(&json)
                .map_err(|e| AcmeError::Certificate(format!("stored ACME account: {e}")))?;
            return Ok(self.builder()?.from_credentials(credentials).await?);
        }
        let contact: Vec<&str> = self.settings.contact.iter().map(String::as_str).collect();
        let (account, credentials) = self
            .builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.to_owned(),
                None,
            )
            .await?;
        let json = serde_json::to_vec(&credentials)
            .map_err(|e| AcmeError::Certificate(format!("ACME account: {e}")))?;
        let sealed = self.sealer.seal(&aad, &json)?;
        self.store
            .acme_account_put(directory, &sealed, self.clock.now())
            .await?;
        tracing::info!(directory, "created an ACME account");
        Ok(account)
    }

    /// An account builder trusting the platform's roots, or only
    /// `[tls.acme] ca_certificates` when set (a test CA such as Pebble's).
    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        Ok(match &self.settings.ca_certificates {
            Some(path) => Account::builder_with_root(path)?,
            None => Account::builder()?,
        })
    }
}
