//! Automatic certificates (RFC 8555 ACME, RFC 8737 TLS-ALPN-01): the manager that
//! keeps the TLS listener's certificate current, shared by every node through the
//! store (docs/operations.md "Automatic certificates (ACME)").
//!
//! Each node runs [`Manager::run`]: it reads the stored certificate for the configured
//! domains (installing it when it is newer than what it serves), and when that
//! certificate is due for renewal ([`renewal`]) or missing it
//! - answers the challenges the ordering node published (the CA may reach any node),
//! - tries to take the ordering lease (one node at a time); the holder orders
//!   ([`order`]), stores the new certificate sealed, installs it, and gives the lease
//!   back. A failed order keeps the lease for the backoff (so no node asks the CA again
//!   before it ends) and changes nothing else: the old certificate stays installed and
//!   stored (why: an outage of the CA must never take the site down).
//!
//! The protocol is `instant-acme`'s and the certificates are rcgen's; nothing here
//! speaks JOSE.

mod certificate;
mod error;
mod order;
pub mod renewal;

pub use certificate::{Installed, challenge_certificate};
pub use error::AcmeError;

use crate::app::config::AcmeSettings;
use crate::app::tls::TlsCertificates;
use portcullis_core::Store;
use portcullis_core::acme::certificate_name;
use portcullis_core::clock::Clock;
use portcullis_core::keys::MasterKey;
use rustls::sign::CertifiedKey;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Label of the key, derived from the master key, that seals the ACME account and the
/// certificates' private keys (why a key of its own: nothing sealed for the browser or
/// a signing key opens as an ACME secret, nor the reverse).
pub const SEALING_KEY_LABEL: &[u8] = b"portcullis acme v1";

/// How long one node may order before another may take over: longer than an order
/// takes ([`renewal::ORDER_DEADLINE`]).
const LEASE_SECONDS: i64 = 600;

/// Where the manager puts certificates: the TLS listener's resolver.
pub trait CertificateSlot: Send + Sync + 'static {
    /// Serves `key` from the next handshake on.
    fn set_certificate(&self, key: Arc<CertifiedKey>);
    /// Answers `acme-tls/1` handshakes for `domain` with `key` (RFC 8737 §3).
    fn set_challenge(&self, domain: &str, key: Arc<CertifiedKey>);
    /// Stops answering the challenge for `domain`.
    fn clear_challenge(&self, domain: &str);
}

/// The certificate manager of one node (module docs).
pub struct Manager {
    settings: AcmeSettings,
    domains: Vec<String>,
    name: String,
    holder: String,
    store: Arc<dyn Store>,
    sealer: MasterKey,
    clock: Arc<dyn Clock>,
    slot: Arc<dyn CertificateSlot>,
}

/// What a node serves and answers now.
#[derive(Default)]
struct NodeState {
    installed: Option<Installed>,
    challenges: BTreeMap<String, Vec<u8>>,
    failures: u32,
    /// No order from this node before this moment (backoff).
    next_attempt: i64,
}

impl Manager {
    /// A manager for `settings` (whose `domains` are already resolved: the issuer's host
    /// by default), installing into `slot`.
    ///
    /// # Errors
    /// [`AcmeError::Seal`] if the sealing key cannot be derived.
    pub fn new(
        settings: AcmeSettings,
        store: Arc<dyn Store>,
        master: &MasterKey,
        clock: Arc<dyn Clock>,
        slot: Arc<dyn CertificateSlot>,
    ) -> Result<Self, AcmeError> {
        let domains = settings.domains.clone();
        Ok(Self {
            name: certificate_name(&domains),
            domains,
            settings,
            holder: uuid::Uuid::new_v4().to_string(),
            store,
            sealer: master.derive_sealing_key(SEALING_KEY_LABEL)?,
            clock,
            slot,
        })
    }

    /// Installs the stored certificate, if there is one that opens: at start-up, so that
    /// a node with a stored certificate serves at once. `Ok(false)` if none is stored.
    ///
    /// # Errors
    /// [`AcmeError`] if the store fails or the stored row does not open.
    pub async fn load(&self) -> Result<Option<Installed>, AcmeError> {
        let Some(stored) = self.store.acme_certificate_get(&self.name).await? else {
            return Ok(None);
        };
        let installed = certificate::open(&self.sealer, &stored)?;
        self.slot.set_certificate(Arc::clone(&installed.key));
        Ok(Some(installed))
    }

    /// Keeps the certificate current until dropped (module docs). `installed` is what
    /// [`Manager::load`] installed.
    pub async fn run(self, installed: Option<Installed>) {
        let mut node = NodeState {
            installed,
            ..NodeState::default()
        };
        loop {
            let wait = self.tick(&mut node).await;
            tokio::time::sleep(wait).await;
        }
    }

    /// One look at the store, and an order if due and this node takes the lease;
    /// returns how long to wait before the next.
    async fn tick(&self, node: &mut NodeState) -> Duration {
        if let Err(e) = self.pick_up_stored(node).await {
            tracing::warn!(error = %e, "could not read the stored ACME certificate; serving the current one");
        }
        let now = self.clock.now();
        let due = self.renew_at(node).is_none_or(|at| now >= at);
        if due {
            if let Err(e) = self.answer_published(node, now).await {
                tracing::warn!(error = %e, "could not read the published ACME challenges");
            }
            if now >= node.next_attempt {
                self.try_order(node, now).await;
            }
        } else if !node.challenges.is_empty() {
            for domain in std::mem::take(&mut node.challenges).into_keys() {
                self.slot.clear_challenge(&domain);
            }
        }
        let validity = node.installed.as_ref().and_then(|i| {
            self.renew_at(node)
                .map(|at| (i.not_before, i.not_after, at))
        });
        renewal::next_poll(self.clock.now(), validity)
    }

    /// When the installed certificate is due; `None` if nothing is installed.
    fn renew_at(&self, node: &NodeState) -> Option<i64> {
        node.installed.as_ref().map(|i| {
            renewal::renew_at(
                i.not_before,
                i.not_after,
                self.settings.renew_before_days,
                &i.leaf,
            )
        })
    }

    /// Installs the stored certificate if it expires later than the installed one.
    async fn pick_up_stored(&self, node: &mut NodeState) -> Result<(), AcmeError> {
        let Some(stored) = self.store.acme_certificate_get(&self.name).await? else {
            return Ok(());
        };
        if node
            .installed
            .as_ref()
            .is_some_and(|i| i.not_after >= stored.not_after)
        {
            return Ok(());
        }
        let installed = certificate::open(&self.sealer, &stored)?;
        self.slot.set_certificate(Arc::clone(&installed.key));
        tracing::info!(
            not_after = installed.not_after,
            "installed the stored certificate"
        );
        node.installed = Some(installed);
        Ok(())
    }

    /// Answers, on this node, the challenges another node published; stops answering
    /// the withdrawn ones.
    async fn answer_published(&self, node: &mut NodeState, now: i64) -> Result<(), AcmeError> {
        let published: BTreeMap<String, Vec<u8>> =
            self.store.acme_challenges(now).await?.into_iter().collect();
        for domain in node.challenges.keys() {
            if !published.contains_key(domain) {
                self.slot.clear_challenge(domain);
            }
        }
        for (domain, digest) in &published {
            if node.challenges.get(domain) != Some(digest) {
                self.slot
                    .set_challenge(domain, challenge_certificate(domain, digest)?);
            }
        }
        node.challenges = published;
        Ok(())
    }

    /// Takes the lease and orders; on success stores and installs the certificate and
    /// gives the lease back; on failure keeps the lease for the backoff.
    async fn try_order(&self, node: &mut NodeState, now: i64) {
        let until = now.saturating_add(LEASE_SECONDS);
        match self
            .store
            .acme_lease_take(&self.name, &self.holder, now, until)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not take the ACME lease");
                return;
            }
        }
        // Another node may have stored a certificate just before the lease was free.
        if let Err(e) = self.pick_up_stored(node).await {
            tracing::warn!(error = %e, "could not read the stored ACME certificate");
        }
        if self.renew_at(node).is_some_and(|at| now < at) {
            self.release().await;
            return;
        }
        tracing::info!(domains = ?self.domains, "ordering a certificate");
        let outcome = match tokio::time::timeout(renewal::ORDER_DEADLINE, self.order()).await {
            Ok(outcome) => outcome.and_then(|(chain, key)| self.keep(node, &chain, &key)),
            Err(_) => Err(AcmeError::Timeout),
        };
        let outcome = match outcome {
            Ok(stored) => self
                .store
                .acme_certificate_put(&stored)
                .await
                .map_err(AcmeError::from),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(_) => {
                node.failures = 0;
                node.next_attempt = 0;
                self.release().await;
            }
            Err(e) => {
                node.failures = node.failures.saturating_add(1);
                let wait = renewal::backoff(node.failures);
                let wait_seconds = i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
                let now = self.clock.now();
                node.next_attempt = now.saturating_add(wait_seconds);
                tracing::error!(
                    error = %e,
                    failures = node.failures,
                    retry_in_s = wait_seconds,
                    "the ACME order failed; still serving the current certificate"
                );
                // Hold the lease through the backoff: no node asks the CA before it ends.
                let until = node.next_attempt;
                if let Err(e) = self
                    .store
                    .acme_lease_take(&self.name, &self.holder, now, until)
                    .await
                {
                    tracing::warn!(error = %e, "could not extend the ACME lease");
                }
            }
        }
    }

    /// Seals and installs a new certificate; returns its store row.
    fn keep(
        &self,
        node: &mut NodeState,
        chain_pem: &str,
        key_pem: &str,
    ) -> Result<portcullis_core::acme::StoredCertificate, AcmeError> {
        let (stored, installed) = certificate::seal(
            &self.sealer,
            &self.name,
            chain_pem,
            key_pem,
            self.clock.now(),
        )?;
        self.slot.set_certificate(Arc::clone(&installed.key));
        tracing::info!(
            not_after = installed.not_after,
            "installed a new certificate from the CA"
        );
        node.installed = Some(installed);
        Ok(stored)
    }

    async fn release(&self) {
        if let Err(e) = self
            .store
            .acme_lease_release(&self.name, &self.holder)
            .await
        {
            tracing::warn!(error = %e, "could not release the ACME lease");
        }
    }
}

impl CertificateSlot for TlsCertificates {
    fn set_certificate(&self, key: Arc<CertifiedKey>) {
        TlsCertificates::set_certificate(self, key);
    }

    fn set_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        TlsCertificates::set_challenge(self, domain, key);
    }

    fn clear_challenge(&self, domain: &str) {
        TlsCertificates::clear_challenge(self, domain);
    }
}

/// Starts automatic certificates for `settings` on the listener's `certificates`: the
/// stored certificate is installed before this returns (a node with one serves at
/// once; one that does not open is logged and replaced by a new order), then a task
/// keeps it current ([`Manager::run`]). Abort the returned task to stop it.
///
/// # Errors
/// [`AcmeError::Seal`] if the sealing key cannot be derived.
pub async fn start(
    settings: AcmeSettings,
    store: Arc<dyn Store>,
    master: &MasterKey,
    clock: Arc<dyn Clock>,
    certificates: TlsCertificates,
) -> Result<tokio::task::JoinHandle<()>, AcmeError> {
    let manager = Manager::new(settings, store, master, clock, Arc::new(certificates))?;
    let installed = match manager.load().await {
        Ok(Some(installed)) => {
            tracing::info!(
                not_after = installed.not_after,
                "serving the stored certificate"
            );
            Some(installed)
        }
        Ok(None) => {
            tracing::info!(domains = ?manager.domains, "no stored certificate yet: answering only ACME challenges until the first arrives");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "the stored certificate cannot be used; ordering a new one");
            None
        }
    };
    Ok(tokio::spawn(manager.run(installed)))
}
