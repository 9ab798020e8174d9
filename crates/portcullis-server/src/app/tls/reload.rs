//! Certificate hot reload (issue 18): the certificate and key files are re-read when
//! their modification time or size changes (polled every few seconds) and on SIGHUP,
//! and the new pair is swapped into [`TlsCertificates`]; open connections keep the
//! certificate they were made with, new handshakes get the new one.
//!
//! A pair that does not load (unreadable, bad PEM, a key that is not the
//! certificate's, as while a deployment tool has written one file and not yet the
//! other) is logged as an error and the old certificate stays; the files are tried
//! again when they change next, or on the next SIGHUP.

use super::{TlsCertificates, load_certified_key};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::signal::unix::Signal;

/// The certificate files of `[tls]` and how often they are polled.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// The certificate chain (PEM).
    pub certificate: PathBuf,
    /// The private key (PEM).
    pub private_key: PathBuf,
    /// Time between two looks at the files' modification times
    /// ([`DEFAULT_POLL_INTERVAL`] in production).
    pub poll_interval: Duration,
}

impl CertificateFiles {
    /// Loads the pair once (start-up).
    ///
    /// # Errors
    /// [`super::TlsError`] naming the file.
    pub fn load(&self) -> Result<TlsCertificates, super::TlsError> {
        let key = load_certified_key(&self.certificate, &self.private_key)?;
        Ok(TlsCertificates::with_certificate(key))
    }

    /// Re-reads the pair into `certificates`; on failure logs an error and keeps the
    /// certificate served now. Returns whether the new pair is served.
    pub fn reload_into(&self, certificates: &TlsCertificates) -> bool {
        match load_certified_key(&self.certificate, &self.private_key) {
            Ok(key) => {
                certificates.set_certificate(key);
                tracing::info!(
                    certificate = %self.certificate.display(),
                    "TLS certificate reloaded"
                );
                true
            }
            Err(error) => {
                tracing::error!(%error, "TLS certificate not reloaded; still serving the previous one");
                false
            }
        }
    }

    /// Watches the files until the task is dropped: reloads when a file's modification
    /// time or size changes, and whenever `hangup` (SIGHUP, from `serve`) arrives.
    pub async fn watch(self, certificates: TlsCertificates, mut hangup: Option<Signal>) {
        let mut seen = self.stamps();
        let mut ticker = tokio::time::interval(self.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let signalled = async {
                let received = match hangup.as_mut() {
                    Some(signal) => signal.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    // No handler, or the signal stream ended: only the poll is left.
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = ticker.tick() => {
                    let now = self.stamps();
                    if now != seen {
                        seen = now;
                        self.reload_into(&certificates);
                    }
                }
                () = signalled => {
                    tracing::info!("SIGHUP: reloading the TLS certificate");
                    seen = self.stamps();
                    self.reload_into(&certificates);
                }
            }
        }
    }

    /// Modification time and size of both files (`None` for one that cannot be read).
    fn stamps(&self) -> [Option<(SystemTime, u64)>; 2] {
        [stamp(&self.certificate), stamp(&self.private_key)]
    }
}

/// A file's modification time and size.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// Default [`CertificateFiles::poll_interval`]: 5 s.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
