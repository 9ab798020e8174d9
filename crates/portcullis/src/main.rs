//! `portcullis`: the authorization server and its admin CLI in one binary.
//!
//! Exit status: 0 success; 1 runtime failure (database unreachable, …); 2 bad
//! arguments, bad configuration, or a record that does not exist / already exists.

mod cli;
mod commands;
mod logging;
mod oauth_client;
mod output;
mod selftest;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` are not errors: print them whole.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // Argument errors are one line (clap's first), exit status 2.
        Err(e) => {
            // clap's first paragraph, joined: "error: … not provided: --grant-type <GRANT>".
            let rendered = e.render().to_string();
            let first: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let first = first.join(" ");
            eprintln!("{first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(commands::run(cli));
    // Do not wait forever for a task stuck in a blocking call (e.g. an audit line
    // waiting on a stalled standard output) once the server has stopped.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.exit_code)
        }
    }
}
