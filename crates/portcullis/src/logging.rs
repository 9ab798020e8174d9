//! Logging: `tracing` with `RUST_LOG` filters, text or JSON (`PORTCULLIS_LOG_FORMAT=json`),
//! written off the request path by non-blocking writers.
//!
//! Two writers to the same stream: the `audit` target goes through a lossless one
//! (when the stream falls behind, the request that emits the event waits: audit events
//! are not dropped), everything else through a lossy one (when the stream falls behind,
//! lines are dropped rather than stalling health checks or the shutdown path).

use tracing::Subscriber;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use portcullis_server::app::audit::TARGET as AUDIT_TARGET;

/// Installs the subscriber. `default_filter` applies when `RUST_LOG` is unset; `stderr`
/// selects standard error (CLI commands) instead of standard output (serve).
/// Keep the guards alive: dropping them flushes the log.
pub fn init(default_filter: &str, stderr: bool) -> Vec<WorkerGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // Colour only for a person at a terminal; files and log collectors get plain text.
    let ansi = if stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let (audit_writer, audit_guard) = writer(stderr, false);
    let (other_writer, other_guard) = writer(stderr, true);
    let audit = layer(audit_writer, json, ansi)
        .with_filter(filter_fn(|meta| meta.target() == AUDIT_TARGET))
        .boxed();
    let other = layer(other_writer, json, ansi)
        .with_filter(filter_fn(|meta| meta.target() != AUDIT_TARGET))
        .boxed();
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(audit)
        .with(other)
        .try_init();
    if let Err(e) = result {
        eprintln!("warning: logging was already initialised: {e}");
    }
    vec![audit_guard, other_guard]
}

/// A non-blocking writer to standard output or error; `lossy` drops lines when full.
fn writer(stderr: bool, lossy: bool) -> (NonBlocking, WorkerGuard) {
    let builder = NonBlockingBuilder::default().lossy(lossy);
    if stderr {
        builder.finish(std::io::stderr())
    } else {
        builder.finish(std::io::stdout())
    }
}

/// A formatting layer, text or JSON.
fn layer<S>(writer: NonBlocking, json: bool, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(true)
        .with_ansi(ansi);
    if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    }
}
