//! Logging: `tracing` with `RUST_LOG` filters, text or JSON (`PORTCULLIS_LOG_FORMAT=json`),
//! written off the request path by a non-blocking, lossless writer.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `default_filter` applies when `RUST_LOG` is unset; `stderr`
/// selects standard error (CLI commands) instead of standard output (serve).
/// Keep the guard alive: dropping it flushes the log.
pub fn init(default_filter: &str, stderr: bool) -> WorkerGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Lossless: when the writer falls behind, logging waits instead of dropping lines
    // (why: the default drops silently, and audit events must not go missing).
    let builder = tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false);
    let (writer, guard) = if stderr {
        builder.finish(std::io::stderr())
    } else {
        builder.finish(std::io::stdout())
    };
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // Colour only for a person at a terminal; files and log collectors get plain text.
    let ansi = if stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true)
        .with_ansi(ansi);
    let result = if json {
        subscriber.json().try_init()
    } else {
        subscriber.try_init()
    };
    if let Err(e) = result {
        eprintln!("warning: logging was already initialised: {e}");
    }
    guard
}
