//! The ACME tables in memory: accounts, certificates and leases.

use super::MemoryStore;
use crate::UnixTime;
use crate::acme::{AcmeStore, StoredCertificate};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl AcmeStore for MemoryStore {
    async fn acme_account_get(&self, directory: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().acme_accounts.get(directory).cloned())
    }

    async fn acme_account_put(
        &self,
        directory: &str,
        sealed_credentials: &[u8],
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        self.lock()
            .acme_accounts
            .insert(directory.to_owned(), sealed_credentials.to_vec());
        Ok(())
    }

    async fn acme_certificate_get(
        &self,
        name: &str,
    ) -> Result<Option<StoredCertificate>, StoreError> {
        Ok(self.lock().acme_certificates.get(name).cloned())
    }

    async fn acme_certificate_put(
        &self,
        certificate: &StoredCertificate,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if let Some(old) = inner.acme_certificates.get(&certificate.name)
            && old.not_after >= certificate.not_after
        {
            return Ok(false);
        }
        inner
            .acme_certificates
            .insert(certificate.name.clone(), certificate.clone());
        Ok(true)
    }

    async fn acme_lease_take(
        &self,
        name: &str,
        holder: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if let Some((who, expires_at)) = inner.acme_leases.get(name)
            && who != holder
            && *expires_at > now
        {
            return Ok(false);
        }
        inner
            .acme_leases
            .insert(name.to_owned(), (holder.to_owned(), until));
        Ok(true)
    }

    async fn acme_lease_release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .acme_leases
            .get(name)
            .is_some_and(|(who, _)| who == holder)
        {
            inner.acme_leases.remove(name);
        }
        Ok(())
    }

    async fn acme_challenge_put(
        &self,
        domain: &str,
        digest: &[u8],
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.lock()
            .acme_challenges
            .insert(domain.to_owned(), (digest.to_vec(), expires_at));
        Ok(())
    }

    async fn acme_challenge_delete(&self, domain: &str) -> Result<(), StoreError> {
        self.lock().acme_challenges.remove(domain);
        Ok(())
    }

    async fn acme_challenges(&self, now: UnixTime) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .lock()
            .acme_challenges
            .iter()
            .filter(|(_, (_, expires_at))| *expires_at > now)
            .map(|(domain, (digest, _))| (domain.clone(), digest.clone()))
            .collect())
    }
}
