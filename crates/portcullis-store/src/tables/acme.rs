//! The `acme_accounts`, `acme_certificates` and `acme_leases` tables (RFC 8555
//! automatic certificates, migration 0018), their SQL, and [`AcmeStore`] on
//! [`SqlStore`](crate::SqlStore).

use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::acme::{AcmeStore, StoredCertificate};
use portcullis_core::{StoreError, UnixTime};

/// `$1` = directory URL.
const ACCOUNT_GET: &str = "SELECT sealed_credentials FROM acme_accounts WHERE directory = $1";

/// `$1` = directory URL, `$2` = sealed credentials, `$3` = now.
const ACCOUNT_PUT: &str = "INSERT INTO acme_accounts (directory, sealed_credentials, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (directory) DO UPDATE SET \
     sealed_credentials = excluded.sealed_credentials, created_at = excluded.created_at";

/// `$1` = name.
const CERTIFICATE_GET: &str = "SELECT name, chain_pem, sealed_key, not_before, not_after, \
     updated_at FROM acme_certificates WHERE name = $1";

/// `$1`…`$6` = the columns. One statement: a certificate that expires no later than
/// the stored one changes nothing (0 rows), so a slow node never puts back an older one.
const CERTIFICATE_PUT: &str = "INSERT INTO acme_certificates \
     (name, chain_pem, sealed_key, not_before, not_after, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET \
     chain_pem = excluded.chain_pem, sealed_key = excluded.sealed_key, \
     not_before = excluded.not_before, not_after = excluded.not_after, \
     updated_at = excluded.updated_at \
     WHERE acme_certificates.not_after < excluded.not_after";

/// `$1` = name, `$2` = holder, `$3` = now, `$4` = until. One statement: a new row, or
/// a row whose lease expired or is the holder's own, is (re)taken (1 row); a row held
/// by another node until later is left alone (0 rows).
const LEASE_TAKE: &str = "INSERT INTO acme_leases (name, holder, expires_at) VALUES ($1, $2, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE acme_leases.expires_at <= $3 OR acme_leases.holder = excluded.holder";

/// `$1` = name, `$2` = holder.
const LEASE_RELEASE: &str = "DELETE FROM acme_leases WHERE name = $1 AND holder = $2";

/// `$1` = domain, `$2` = digest, `$3` = expiry.
const CHALLENGE_PUT: &str = "INSERT INTO acme_challenges (domain, digest, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (domain) DO UPDATE SET \
     digest = excluded.digest, expires_at = excluded.expires_at";

/// `$1` = domain.
const CHALLENGE_DELETE: &str = "DELETE FROM acme_challenges WHERE domain = $1";

/// `$1` = now.
const CHALLENGE_LIST: &str =
    "SELECT domain, digest FROM acme_challenges WHERE expires_at > $1 ORDER BY domain";

/// A row of `acme_certificates`, column for column.
#[derive(sqlx::FromRow)]
struct CertificateRecord {
    name: String,
    chain_pem: String,
    sealed_key: Vec<u8>,
    not_before: i64,
    not_after: i64,
    updated_at: i64,
}

impl From<CertificateRecord> for StoredCertificate {
    fn from(r: CertificateRecord) -> Self {
        Self {
            name: r.name,
            chain_pem: r.chain_pem,
            sealed_key: r.sealed_key,
            not_before: r.not_before,
            not_after: r.not_after,
            updated_at: r.updated_at,
        }
    }
}

sql_store_impl!(
    AcmeStore,
    async fn acme_account_get(&self, directory: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as::<DB, (Vec<u8>,)>(ACCOUNT_GET)
            .bind(directory.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading the ACME account"))?;
        Ok(row.map(|(sealed,)| sealed))
    },
    async fn acme_account_put(
        &self,
        directory: &str,
        sealed_credentials: &[u8],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(ACCOUNT_PUT)
            .bind(directory.to_owned())
            .bind(sealed_credentials.to_vec())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("storing the ACME account"))?;
        Ok(())
    },
    async fn acme_certificate_get(
        &self,
        name: &str,
    ) -> Result<Option<StoredCertificate>, StoreError> {
        let row = sqlx::query_as::<DB, CertificateRecord>(CERTIFICATE_GET)
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading the ACME certificate"))?;
        Ok(row.map(StoredCertificate::from))
    },
    async fn acme_certificate_put(
        &self,
        certificate: &StoredCertificate,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(CERTIFICATE_PUT)
            .bind(certificate.name.clone())
            .bind(certificate.chain_pem.clone())
            .bind(certificate.sealed_key.clone())
            .bind(certificate.not_before)
            .bind(certificate.not_after)
            .bind(certificate.updated_at)
            .execute(&self.pool)
            .await
            .map_err(classify("storing the ACME certificate"))?;
        Ok(DB::rows_affected(&result) == 1)
    },
    async fn acme_lease_take(
        &self,
        name: &str,
        holder: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(LEASE_TAKE)
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .bind(now)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(classify("taking the ACME lease"))?;
        Ok(DB::rows_affected(&result) == 1)
    },
    async fn acme_lease_release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query::<DB>(LEASE_RELEASE)
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("releasing the ACME lease"))?;
        Ok(())
    },
    async fn acme_challenge_put(
        &self,
        domain: &str,
        digest: &[u8],
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(CHALLENGE_PUT)
            .bind(domain.to_owned())
            .bind(digest.to_vec())
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify("publishing an ACME challenge"))?;
        Ok(())
    },
    async fn acme_challenge_delete(&self, domain: &str) -> Result<(), StoreError> {
        sqlx::query::<DB>(CHALLENGE_DELETE)
            .bind(domain.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("withdrawing an ACME challenge"))?;
        Ok(())
    },
    async fn acme_challenges(&self, now: UnixTime) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        sqlx::query_as::<DB, (String, Vec<u8>)>(CHALLENGE_LIST)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("reading ACME challenges"))
    },
);
