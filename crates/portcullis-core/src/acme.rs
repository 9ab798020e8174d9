//! RFC 8555 (ACME): what the certificate manager keeps in the store, shared by every
//! node: the account credentials per directory, the current certificate per set of
//! domains, the TLS-ALPN-01 challenges being solved, and the lease that lets one node at a time order. The protocol itself is
//! the server's (`app/acme`, over `instant-acme`); core only declares the table.

use crate::UnixTime;
use crate::store::StoreError;
use async_trait::async_trait;

/// One row of `acme_certificates`: the certificate every node serves for `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    /// The sorted domains joined by commas ([`certificate_name`]).
    pub name: String,
    /// The chain as the CA sent it (PEM, leaf first): public.
    pub chain_pem: String,
    /// The private key (PKCS#8 PEM), sealed with the master key's ACME sealing key,
    /// bound to `name`.
    pub sealed_key: Vec<u8>,
    /// The leaf's notBefore, Unix seconds.
    pub not_before: UnixTime,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: UnixTime,
    /// When this node stored it, Unix seconds.
    pub updated_at: UnixTime,
}

/// The key of a certificate's rows: its domains, lower-cased, sorted, deduplicated,
/// joined by commas (so `b, a` and `a, b` share one certificate).
pub fn certificate_name(domains: &[String]) -> String {
    let mut names: Vec<String> = domains.iter().map(|d| d.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    names.join(",")
}

/// The `acme_accounts`, `acme_certificates` and `acme_leases` tables.
#[async_trait]
pub trait AcmeStore: Send + Sync {
    /// The sealed account credentials for the ACME `directory` URL, if any.
    async fn acme_account_get(&self, directory: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the sealed credentials for `directory`, replacing any.
    async fn acme_account_put(
        &self,
        directory: &str,
        sealed_credentials: &[u8],
        now: UnixTime,
    ) -> Result<(), StoreError>;

    /// The current certificate stored for `name`, if any.
    async fn acme_certificate_get(
        &self,
        name: &str,
    ) -> Result<Option<StoredCertificate>, StoreError>;

    /// Stores `certificate` as the current one for its name, replacing the old one
    /// only if the new one expires later (a slow node never puts back an older one).
    /// `true` if it was stored.
    async fn acme_certificate_put(
        &self,
        certificate: &StoredCertificate,
    ) -> Result<bool, StoreError>;

    /// Takes the ordering lease on `name` for `holder` until `until`, in one
    /// statement: `true` if no one held it, its lease had expired (`expires_at <=
    /// now`), or `holder` already held it (then extended); `false` while another node
    /// holds it.
    async fn acme_lease_take(
        &self,
        name: &str,
        holder: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back if `holder` holds it.
    async fn acme_lease_release(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Publishes the TLS-ALPN-01 challenge for `domain` (RFC 8737 §3): the SHA-256
    /// `digest` of the key authorization, answerable until `expires_at`; replaces any.
    async fn acme_challenge_put(
        &self,
        domain: &str,
        digest: &[u8],
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;

    /// Withdraws the challenge for `domain`.
    async fn acme_challenge_delete(&self, domain: &str) -> Result<(), StoreError>;

    /// The published challenges still answerable at `now`: `(domain, digest)`, by domain.
    async fn acme_challenges(&self, now: UnixTime) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_name_is_sorted_lowercase_and_unique() {
        let domains = vec![
            "B.example".to_owned(),
            "a.example".to_owned(),
            "b.example".to_owned(),
        ];
        assert_eq!(certificate_name(&domains), "a.example,b.example");
    }
}
