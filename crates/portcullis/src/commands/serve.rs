//! `portcullis serve`: start-up (configuration, store, keys, the `--dev` demo), then
//! the listener (plain HTTP/1.1, or TLS with `[tls]`, certificates from files or ACME)
//! until SIGINT or SIGTERM.

use super::Failure;
use crate::logging;
use portcullis_core::clock::SystemClock;
use portcullis_server::App;
use portcullis_server::app::admin::dev;
use portcullis_server::app::config::Config;
use portcullis_server::app::layout;
use portcullis_server::http::listeners;
use portcullis_server::http::serve::{self as http_serve, ServeLimits};
use portcullis_server::http::tls::TlsLimits;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub(super) async fn serve(
    config: Config,
    config_file: Option<&Path>,
    dev: bool,
) -> Result<(), Failure> {
    let _guard = logging::init("info", false);
    let started = Instant::now();
    if dev && !config.is_loopback_only() {
        return Err(Failure::usage(
            dev::DevError::not_loopback(&config).to_string(),
        ));
    }
    let listen = config.listen;
    // `[tls]`: the certificate files must load before anything starts.
    let tls = config
        .tls
        .clone()
        .map(|settings| {
            listeners::initial_certificates(&settings)
                .map(|setup| (settings, setup))
                .map_err(|e| Failure::runtime(format!("[tls]: {e}")))
        })
        .transpose()?;
    let app = App::start(config, Arc::new(SystemClock)).await?;
    // `[tls.acme]`: the stored certificate now, then orders and renewals in the background.
    let acme = match tls
        .as_ref()
        .and_then(|(settings, setup)| settings.acme().map(|acme| (acme, setup)))
    {
        Some((acme, setup)) => Some(
            portcullis_server::app::acme::start(
                acme.clone(),
                Arc::clone(app.state().store()),
                app.state().master_key(),
                Arc::new(SystemClock),
                setup.certificates.clone(),
            )
            .await
            .map_err(|e| Failure::runtime(format!("[tls.acme]: {e}")))?,
        ),
        None => None,
    };
    // Where the secrets sit on disk (issue 16): logged, not refused.
    for warning in layout::warnings(app.state().config(), config_file, dev) {
        tracing::warn!("{warning}");
    }
    // The banner's PKCE pair, which the dev callback page knows (its curl is complete).
    let demo_pkce =
        if dev {
            Some(dev::DemoPkce::generate().ok_or_else(|| {
                Failure::runtime("no randomness for the demo PKCE pair".to_owned())
            })?)
        } else {
            None
        };
    let banner = if let Some(pkce) = &demo_pkce {
        let state = app.state();
        let credentials = dev::seed(state.store().as_ref(), state.config(), state.clock().now())
            .await
            .map_err(|e| Failure::runtime(e.to_string()))?;
        // The demo resource's scopes belong in the discovery document.
        state
            .refresh_metadata()
            .await
            .map_err(|e| Failure::runtime(e.to_string()))?;
        Some(dev::banner(state.config(), &credentials, pkce))
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {listen}: {e}")))?;
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(address = %listen, issuer = %app.state().config().issuer, ready_ms, "portcullis is ready");
    if let Some(banner) = banner {
        crate::output::line(&banner);
    }
    let router = match demo_pkce {
        Some(pkce) => app.dev_router(pkce),
        None => app.router(),
    };
    let served = match tls {
        None => {
            http_serve::serve(listener, router, ServeLimits::default(), shutdown_signal()).await
        }
        Some((settings, setup)) => {
            let issuer = app.state().config().issuer.clone();
            listeners::serve_with_tls(
                listener,
                router,
                &issuer,
                &settings,
                setup,
                TlsLimits::default(),
                shutdown_signal(),
            )
            .await
        }
    };
    if let Some(acme) = acme {
        acme.abort();
    }
    served.map_err(|e| Failure::runtime(format!("server error: {e}")))?;
    tracing::info!("portcullis stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; then the server stops accepting and finishes the
/// requests in flight (for at most the shutdown grace, 30 s).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
