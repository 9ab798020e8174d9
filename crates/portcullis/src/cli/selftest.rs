//! The arguments of `portcullis selftest` (`crate::selftest`).

use clap::Args;

/// Arguments of `selftest`.
#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// The issuer, exactly as the server states it (e.g. https://id.example.com).
    #[arg(value_name = "URL")]
    pub url: String,
    /// A registered client for the checks that send authorization requests (PKCE,
    /// implicit, redirect-URI matching, `iss`); without it they are skipped.
    #[arg(long, value_name = "ID", requires = "redirect_uri")]
    pub client_id: Option<String>,
    /// A redirect URI registered for --client-id, exactly as registered.
    #[arg(long, value_name = "URI", requires = "client_id")]
    pub redirect_uri: Option<String>,
    /// Read the client's secret from standard input (else
    /// PORTCULLIS_SELFTEST_CLIENT_SECRET, if set). It is only sent to the token endpoint
    /// with the refused password grant, and never printed.
    #[arg(long, requires = "client_id")]
    pub client_secret_stdin: bool,
    /// The scope of the probing authorization requests.
    #[arg(long, value_name = "SCOPE", default_value = "openid")]
    pub scope: String,
    /// Exit with status 1 on a warning too (for CI).
    #[arg(long)]
    pub strict: bool,
}
