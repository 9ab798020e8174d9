//! The `[tls]` table (issue 18): built-in TLS on the `listen` address, with the
//! certificate from PEM files (`certificate` + `private_key`) or from an ACME
//! certificate authority (`[tls.acme]`, RFC 8555), never both; and an optional plain
//! listener, `redirect_http`, that sends browsers to the https issuer.
//!
//! Paths are relative to the working directory, as `[outbound] ca_certificates` are.
//! The files themselves are read at start-up and on reload ([`crate::app::tls`]).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

/// `[tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    /// PEM file with the certificate chain, leaf first (e.g. `fullchain.pem`).
    pub certificate: Option<String>,
    /// PEM file with the private key of the leaf certificate (PKCS#8, SEC1 or PKCS#1).
    pub private_key: Option<String>,
    /// Socket address of a plain-HTTP listener that redirects to the https issuer,
    /// e.g. `0.0.0.0:80`; default none.
    pub redirect_http: Option<String>,
    /// Certificates from an ACME certificate authority instead of files.
    pub acme: Option<FileAcme>,
}

/// `[tls.acme]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAcme {
    /// The ACME directory URL (RFC 8555 §7.1.1), https.
    pub directory: Option<String>,
    /// Account contact URLs (RFC 8555 §7.3), e.g. `mailto:ops@example.com`.
    pub contact: Option<Vec<String>>,
    /// DNS names the certificate covers; default the issuer's host.
    pub domains: Option<Vec<String>>,
    /// PEM file of extra roots trusted for the ACME directory (a test CA such as
    /// Pebble's); default none (the system's roots).
    pub ca_certificates: Option<String>,
    /// Renew this many days before the certificate expires; default 30, 1 to 365.
    pub renew_before_days: Option<u32>,
}

/// `[tls]` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Where the certificate comes from.
    pub source: CertificateSource,
    /// The plain-HTTP redirect listener's address, if any.
    pub redirect_http: Option<SocketAddr>,
}

impl TlsSettings {
    /// The ACME settings, when certificates come from ACME.
    pub fn acme(&self) -> Option<&AcmeSettings> {
        match &self.source {
            CertificateSource::Acme(acme) => Some(acme),
            CertificateSource::Files { .. } => None,
        }
    }
}

/// Where the served certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// PEM files, re-read when they change and on SIGHUP.
    Files {
        /// The certificate chain, leaf first.
        certificate: PathBuf,
        /// The leaf's private key.
        private_key: PathBuf,
    },
    /// An ACME certificate authority (RFC 8555).
    Acme(AcmeSettings),
}

/// `[tls.acme]` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The ACME directory URL (RFC 8555 §7.1.1).
    pub directory: Url,
    /// Account contact URLs (RFC 8555 §7.3); may be empty.
    pub contact: Vec<String>,
    /// DNS names the certificate covers (never empty; default the issuer's host).
    pub domains: Vec<String>,
    /// PEM file of extra roots trusted for the ACME directory.
    pub ca_certificates: Option<PathBuf>,
    /// Days before expiry at which renewal starts (default [`DEFAULT_RENEW_BEFORE_DAYS`]).
    pub renew_before_days: u32,
}

/// Resolves `[tls]` against the resolved issuer (`None`: no built-in TLS).
///
/// # Errors
/// A message naming the key: both or neither of files and `[tls.acme]`, one of
/// `certificate`/`private_key` without the other, an `http://` issuer, a
/// `redirect_http` that is not a socket address, or a bad `[tls.acme]` value.
pub(super) fn resolve_tls(
    file: Option<FileTls>,
    issuer: &str,
) -> Result<Option<TlsSettings>, String> {
    let Some(file) = file else {
        return Ok(None);
    };
    let issuer = Url::parse(issuer).map_err(|e| format!("`issuer`: {e}"))?;
    if issuer.scheme() != "https" {
        return Err(format!(
            "`[tls]` is set but `issuer` = \"{}\" is http: a server that terminates TLS has an https:// issuer",
            issuer.as_str().trim_end_matches('/')
        ));
    }
    let redirect_http = file
        .redirect_http
        .map(|v| {
            v.parse::<SocketAddr>().map_err(|e| {
                format!("`tls.redirect_http` = {v:?} is not a socket address like 0.0.0.0:80 ({e})")
            })
        })
        .transpose()?;
    let source = match (file.certificate, file.private_key, file.acme) {
        (Some(certificate), Some(private_key), None) => CertificateSource::Files {
            certificate: PathBuf::from(certificate),
            private_key: PathBuf::from(private_key),
        },
        (None, None, Some(acme)) => CertificateSource::Acme(resolve_acme(acme, &issuer)?),
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err("`tls.certificate`/`tls.private_key` and `[tls.acme]` are both set: choose files or ACME, not both".to_owned());
        }
        (Some(_), None, None) => {
            return Err("`tls.certificate` is set without `tls.private_key`".to_owned());
        }
        (None, Some(_), None) => {
            return Err("`tls.private_key` is set without `tls.certificate`".to_owned());
        }
        (None, None, None) => {
            return Err(
                "`[tls]` needs `certificate` and `private_key` (PEM files) or a `[tls.acme]` table"
                    .to_owned(),
            );
        }
    };
    Ok(Some(TlsSettings {
        source,
        redirect_http,
    }))
}

/// Resolves `[tls.acme]`.
fn resolve_acme(file: FileAcme, issuer: &Url) -> Result<AcmeSettings, String> {
    let Some(directory) = file.directory else {
        return Err("`tls.acme.directory` is required (the ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory)".to_owned());
    };
    let directory = Url::parse(&directory)
        .map_err(|e| format!("`tls.acme.directory` = {directory:?} is not a URL ({e})"))?;
    if directory.scheme() != "https" {
        return Err(format!(
            "`tls.acme.directory` = \"{directory}\" must be https (RFC 8555 §6.1)"
        ));
    }
    let contact = file.contact.unwrap_or_default();
    for entry in &contact {
        // RFC 8555 §7.3: contact entries are URLs; CAs accept `mailto:`.
        if !Url::parse(entry).is_ok_and(|u| u.scheme() == "mailto") {
            return Err(format!(
                "`tls.acme.contact` entry {entry:?} is not a mailto: URL (e.g. \"mailto:ops@example.com\")"
            ));
        }
    }
    let domains = match file.domains {
        Some(domains) => domains,
        None => vec![issuer.host_str().unwrap_or_default().to_owned()],
    };
    if domains.is_empty() {
        return Err("`tls.acme.domains` is empty; list the DNS names to certify or leave it out (default: the issuer's host)".to_owned());
    }
    for domain in &domains {
        if !is_dns_name(domain) {
            return Err(format!(
                "`tls.acme.domains` entry {domain:?} is not a DNS name (TLS-ALPN-01 and HTTP-01 certify names, RFC 8737 §3)"
            ));
        }
    }
    let renew_before_days = file.renew_before_days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS);
    if !(1..=MAX_RENEW_BEFORE_DAYS).contains(&renew_before_days) {
        return Err(format!(
            "`tls.acme.renew_before_days` = {renew_before_days} must be between 1 and {MAX_RENEW_BEFORE_DAYS}"
        ));
    }
    Ok(AcmeSettings {
        directory,
        contact,
        domains,
        ca_certificates: file.ca_certificates.map(PathBuf::from),
        renew_before_days,
    })
}

/// A DNS name as certificates carry it (RFC 5280 §4.2.1.6): dot-separated labels of
/// letters, digits and hyphens, no IP address, no wildcard.
fn is_dns_name(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_err()
        && !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Default [`AcmeSettings::renew_before_days`]: 30 (Let's Encrypt's advice for its
/// 90-day certificates).
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;
/// Largest [`AcmeSettings::renew_before_days`].
pub const MAX_RENEW_BEFORE_DAYS: u32 = 365;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::tests::resolve;

    const ISSUER: &str = "issuer = \"https://id.example.com\"\n";

    #[test]
    fn no_tls_table_means_plain_http() {
        assert_eq!(resolve(ISSUER, &[]).unwrap().tls, None);
    }

    #[test]
    fn accepts_certificate_files_and_a_redirect_listener() {
        let c = resolve(
            &format!(
                "{ISSUER}[tls]\ncertificate = \"fullchain.pem\"\nprivate_key = \"key.pem\"\nredirect_http = \"0.0.0.0:80\"\n"
            ),
            &[],
        )
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(
            tls.source,
            CertificateSource::Files {
                certificate: PathBuf::from("fullchain.pem"),
                private_key: PathBuf::from("key.pem"),
            }
        );
        assert_eq!(tls.redirect_http, Some("0.0.0.0:80".parse().unwrap()));
        assert_eq!(tls.acme(), None);
    }

    #[test]
    fn accepts_acme_with_defaults_from_the_issuer() {
        let c = resolve(
            &format!("{ISSUER}[tls.acme]\ndirectory = \"https://acme.example.net/dir\"\n"),
            &[],
        )
        .unwrap();
        let acme = c.tls.unwrap().acme().cloned().unwrap();
        assert_eq!(acme.directory.as_str(), "https://acme.example.net/dir");
        assert_eq!(acme.domains, vec!["id.example.com".to_owned()]);
        assert!(acme.contact.is_empty());
        assert_eq!(acme.ca_certificates, None);
        assert_eq!(acme.renew_before_days, 30);
    }

    #[test]
    fn accepts_acme_with_every_key() {
        let c = resolve(
            &format!(
                "{ISSUER}[tls.acme]\ndirectory = \"https://localhost:14000/dir\"\ncontact = [\"mailto:ops@example.com\"]\ndomains = [\"id.example.com\", \"login.example.com\"]\nca_certificates = \"pebble.minica.pem\"\nrenew_before_days = 10\n"
            ),
            &[],
        )
        .unwrap();
        let acme = c.tls.unwrap().acme().cloned().unwrap();
        assert_eq!(acme.contact, vec!["mailto:ops@example.com".to_owned()]);
        assert_eq!(acme.domains.len(), 2);
        assert_eq!(
            acme.ca_certificates,
            Some(PathBuf::from("pebble.minica.pem"))
        );
        assert_eq!(acme.renew_before_days, 10);
    }

    fn tls_error(table: &str) -> String {
        resolve(&format!("{ISSUER}{table}"), &[])
            .unwrap_err()
            .message
    }

    #[test]
    fn rejects_files_and_acme_together() {
        let e = tls_error(
            "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n[tls.acme]\ndirectory = \"https://a.example/d\"\n",
        );
        assert!(
            e.contains("`tls.certificate`/`tls.private_key` and `[tls.acme]` are both set"),
            "{e}"
        );
    }

    #[test]
    fn rejects_a_certificate_without_its_key_and_the_reverse() {
        let e = tls_error("[tls]\ncertificate = \"c.pem\"\n");
        assert!(e.contains("without `tls.private_key`"), "{e}");
        let e = tls_error("[tls]\nprivate_key = \"k.pem\"\n");
        assert!(e.contains("without `tls.certificate`"), "{e}");
        let e = tls_error("[tls]\nredirect_http = \"0.0.0.0:80\"\n");
        assert!(e.contains("needs `certificate` and `private_key`"), "{e}");
    }

    #[test]
    fn rejects_tls_with_an_http_issuer() {
        let e = resolve(
            "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n",
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("is http"), "{e}");
    }

    #[test]
    fn rejects_bad_acme_and_redirect_values() {
        for (table, expected) in [
            (
                "[tls]\ncertificate = \"c\"\nprivate_key = \"k\"\nredirect_http = \"80\"\n",
                "`tls.redirect_http`",
            ),
            (
                "[tls.acme]\ncontact = []\n",
                "`tls.acme.directory` is required",
            ),
            (
                "[tls.acme]\ndirectory = \"http://a.example/d\"\n",
                "must be https",
            ),
            (
                "[tls.acme]\ndirectory = \"https://a.example/d\"\ncontact = [\"ops@example.com\"]\n",
                "`tls.acme.contact`",
            ),
            (
                "[tls.acme]\ndirectory = \"https://a.example/d\"\ndomains = []\n",
                "`tls.acme.domains` is empty",
            ),
            (
                "[tls.acme]\ndirectory = \"https://a.example/d\"\ndomains = [\"*.example.com\"]\n",
                "not a DNS name",
            ),
            (
                "[tls.acme]\ndirectory = \"https://a.example/d\"\ndomains = [\"10.0.0.1\"]\n",
                "not a DNS name",
            ),
            (
                "[tls.acme]\ndirectory = \"https://a.example/d\"\nrenew_before_days = 0\n",
                "`tls.acme.renew_before_days`",
            ),
            (
                "[tls.acme]\ndirectory = \"https://a.example/d\"\nunknown = 1\n",
                "unknown field",
            ),
        ] {
            let e = resolve(&format!("{ISSUER}{table}"), &[])
                .unwrap_err()
                .message;
            assert!(e.contains(expected), "{table}: {e}");
        }
    }
}
