//! The listeners `serve` starts for a configuration with `[tls]` (issue 18): the TLS
//! listener on `listen` ([`super::tls`]), the optional `redirect_http` listener
//! ([`super::redirect`]), and the certificate reloader ([`crate::app::tls::reload`]),
//! stopped together by one shutdown signal.

use super::redirect::redirect_router;
use super::serve::serve;
use super::tls::{TlsLimits, serve_tls};
use crate::app::config::{CertificateSource, TlsSettings};
use crate::app::tls::reload::{CertificateFiles, DEFAULT_POLL_INTERVAL};
use crate::app::tls::{TlsCertificates, TlsError, server_config};
use axum::Router;
use std::io;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The certificates a TLS listener starts with.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    /// What the listener serves (the ACME client, with `[tls.acme]`, sets it).
    pub certificates: TlsCertificates,
    /// The files to watch and reload, with `certificate`/`private_key`.
    pub files: Option<CertificateFiles>,
}

/// The certificates to start with: loaded from `[tls]`'s files (and the files, for
/// the reloader), or none yet for `[tls.acme]` (the ACME client sets them).
///
/// # Errors
/// [`TlsError`] naming the file that cannot be read or used.
pub fn initial_certificates(settings: &TlsSettings) -> Result<TlsSetup, TlsError> {
    match &settings.source {
        CertificateSource::Files {
            certificate,
            private_key,
        } => {
            let files = CertificateFiles {
                certificate: certificate.clone(),
                private_key: private_key.clone(),
                poll_interval: DEFAULT_POLL_INTERVAL,
            };
            Ok(TlsSetup {
                certificates: files.load()?,
                files: Some(files),
            })
        }
        CertificateSource::Acme(_) => Ok(TlsSetup {
            certificates: TlsCertificates::new(),
            files: None,
        }),
    }
}

/// Serves `router` over TLS on `listener` with `setup.certificates`, the
/// `redirect_http` listener if `settings` has one, and, with `setup.files`, reloads the certificate when the
/// files change or on SIGHUP; until `shutdown` resolves (then as
/// [`serve_tls`]). `issuer` is the https issuer the redirects point at.
///
/// # Errors
/// The `redirect_http` address cannot be bound, or a TLS configuration error.
pub async fn serve_with_tls(
    listener: TcpListener,
    router: Router,
    issuer: &str,
    settings: &TlsSettings,
    setup: TlsSetup,
    limits: TlsLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let TlsSetup {
        certificates,
        files,
    } = setup;
    let tls = server_config(&certificates, settings.acme().is_some())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let (stop, stopped) = watch::channel(false);
    let signal_of = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(address) = settings.redirect_http {
        let plain = TcpListener::bind(address).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {address} (tls.redirect_http): {e}"),
            )
        })?;
        tracing::info!(%address, "redirecting plain HTTP to the https issuer");
        let router = redirect_router(issuer, certificates.clone());
        tasks.spawn(serve(
            plain,
            router,
            limits.serve,
            signal_of(stopped.clone()),
        ));
    }
    let reloader = files.map(|files| {
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        tokio::spawn(files.watch(certificates.clone(), hangup))
    });
    let served = serve_tls(listener, router, tls, limits, async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await;
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    while tasks.join_next().await.is_some() {}
    served
}
