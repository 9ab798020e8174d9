//! `portcullis selftest URL`: checks a live authorization server (Portcullis or any
//! other that publishes RFC 8414 metadata) from the outside, and reports `pass`,
//! `warn`, `fail` or `skip` per check with the RFC section it enforces.
//!
//! It never changes anything: no registration, no token request that could succeed
//! (the password-grant probe uses a made-up user), no consent. The checks that need a
//! client (PKCE, implicit, redirect-URI matching, `iss` in error responses) use the one
//! the operator names with `--client-id` and `--redirect-uri`, and send requests that a
//! correct server refuses before anything is stored; without them they are skipped.
//! The client secret (standard input or `PORTCULLIS_SELFTEST_CLIENT_SECRET`) is only
//! sent to the token endpoint and never printed.
//!
//! Exit status: 0 when no check fails (warnings too with `--strict`), 1 when one
//! does, 2 on a usage error or a server that does not answer.

mod authorize;
mod metadata;
mod pages;
mod probe;
mod report;
mod tls;
mod transport;

use crate::cli::{OutputFormat, SelftestArgs};
use crate::commands::Failure;
use report::{Outcome, Status};
use secrecy::SecretString;
use serde_json::{Map, Value};
use std::io::Read;
use url::Url;

/// The server under test and what the operator told us about it.
pub struct Target {
    /// The issuer exactly as given on the command line.
    pub issuer: String,
    /// The issuer parsed.
    pub issuer_url: Url,
    /// The metadata document, once fetched.
    pub metadata: Map<String, Value>,
    /// The named test client, if any.
    pub client: Option<TestClient>,
    /// The scope sent in authorization requests.
    pub scope: String,
    /// The HTTP client (no redirects, timeouts, capped bodies).
    pub http: reqwest::Client,
}

/// The client the operator named for the checks that need one.
pub struct TestClient {
    /// `client_id`.
    pub id: String,
    /// A registered redirect URI of that client.
    pub redirect_uri: Url,
    /// The client secret (never printed).
    pub secret: Option<SecretString>,
}

impl Target {
    /// Metadata field `name` as a string.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.metadata.get(name).and_then(Value::as_str)
    }

    /// Metadata field `name` as a URL, if present and absolute.
    pub fn endpoint(&self, name: &str) -> Option<Url> {
        self.field(name).and_then(|v| Url::parse(v).ok())
    }

    /// Metadata field `name` as a list of strings (empty when missing).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.metadata
            .get(name)
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs the selftest and prints the report on standard output as `output` (the global
/// `--output`; a table when not given, piped or not: the report is for people and CI
/// logs alike).
///
/// # Errors
/// A [`Failure`] with exit status 1 when a check fails (or warns, with `--strict`), 2
/// for a usage error or a server that does not answer at its metadata address.
pub async fn run(args: SelftestArgs, output: Option<OutputFormat>) -> Result<(), Failure> {
    let issuer_url = Url::parse(&args.url)
        .map_err(|e| usage(format!("`{}` is not a URL: {e}", report::clean(&args.url))))?;
    if !matches!(issuer_url.scheme(), "https" | "http") {
        return Err(usage(format!(
            "`{}` is not an http(s) URL",
            report::clean(&args.url)
        )));
    }
    let client = test_client(&args)?;
    let http = probe::client().map_err(|e| usage(format!("cannot set up HTTP: {e}")))?;
    let (fetched, mut outcomes) = metadata::fetch(&http, &args.url, &issuer_url).await?;
    let mut target = Target {
        issuer: args.url.clone(),
        issuer_url,
        metadata: Map::new(),
        client,
        scope: args.scope.clone(),
        http,
    };
    if let Some(document) = fetched {
        target.metadata = document;
        outcomes.extend(checks(&target).await);
    }
    print(
        &target.issuer,
        &outcomes,
        output.unwrap_or(OutputFormat::Table),
    )?;
    let failed = outcomes.iter().filter(|o| o.status == Status::Fail).count();
    let warned = outcomes.iter().filter(|o| o.status == Status::Warn).count();
    if failed > 0 {
        return Err(Failure {
            message: format!("{failed} check(s) failed"),
            exit_code: 1,
        });
    }
    if args.strict && warned > 0 {
        return Err(Failure {
            message: format!("{warned} warning(s) with --strict"),
            exit_code: 1,
        });
    }
    Ok(())
}

/// Every check after the metadata was fetched, in report order.
async fn checks(target: &Target) -> Vec<Outcome> {
    let mut outcomes = metadata::check(target);
    outcomes.extend(metadata::jwks(target).await);
    let probes = authorize::Probes::run(target).await;
    outcomes.extend(authorize::check(target, &probes));
    outcomes.extend(transport::check(target).await);
    outcomes.extend(pages::check(target).await);
    outcomes
}

/// The `--client-id` / `--redirect-uri` / secret triple, checked.
fn test_client(args: &SelftestArgs) -> Result<Option<TestClient>, Failure> {
    let (id, redirect_uri) = match (&args.client_id, &args.redirect_uri) {
        (None, None) => return Ok(None),
        (Some(id), Some(uri)) => (id.clone(), uri),
        _ => {
            return Err(usage(
                "--client-id and --redirect-uri go together (the checks that use a client need both)",
            ));
        }
    };
    let redirect_uri = Url::parse(redirect_uri).map_err(|e| {
        usage(format!(
            "--redirect-uri `{}` is not a URL: {e}",
            report::clean(redirect_uri)
        ))
    })?;
    let secret = if args.client_secret_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            usage(format!(
                "cannot read the client secret from standard input: {e}"
            ))
        })?;
        Some(SecretString::from(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    } else {
        std::env::var(SECRET_VARIABLE).ok().map(SecretString::from)
    };
    Ok(Some(TestClient {
        id,
        redirect_uri,
        secret,
    }))
}

/// Prints the report as `format` asks.
fn print(issuer: &str, outcomes: &[Outcome], format: OutputFormat) -> Result<(), Failure> {
    match format {
        OutputFormat::Table => print!("{}", report::table(issuer, outcomes)),
        OutputFormat::Json => {
            let text =
                serde_json::to_string_pretty(&report::json(issuer, outcomes)).map_err(|e| {
                    Failure {
                        message: format!("cannot write the report: {e}"),
                        exit_code: 1,
                    }
                })?;
            println!("{text}");
        }
    }
    Ok(())
}

/// A usage error (exit status 2).
fn usage(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        exit_code: 2,
    }
}

/// Where the client secret may come from instead of standard input.
const SECRET_VARIABLE: &str = "PORTCULLIS_SELFTEST_CLIENT_SECRET";
