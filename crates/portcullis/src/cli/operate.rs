//! Arguments of the operator's commands (`session`, `revoke`, `client update`) and
//! `--output`.

use clap::{Args, Subcommand, ValueEnum};

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns, times as RFC 3339 UTC and how long ago.
    Table,
    /// JSON (times as seconds since the epoch).
    Json,
}

/// `portcullis session …`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List live browser sessions.
    List {
        /// Only this user's (login name).
        #[arg(long)]
        user: Option<String>,
    },
    /// End one session (by id, or a unique prefix of 8+ characters) or all of a user's,
    /// with the refresh tokens issued in them.
    Revoke {
        /// The session id (`session list`).
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        /// Every session of this user (login name).
        #[arg(long)]
        user: Option<String>,
    },
}

/// `portcullis client update …`
#[derive(Debug, Args)]
pub struct ClientUpdate {
    /// The client_id.
    pub client_id: String,
    /// Display name on the consent page (`""` removes it).
    #[arg(long)]
    pub name: Option<String>,
    /// Redirect URIs (repeat; replaces the list).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Option<Vec<String>>,
    /// Post-logout redirect URIs (repeat; replaces the list).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Scopes it may request (repeat; replaces the list).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Option<Vec<String>>,
    /// Scopes granted when a request names none (repeat; replaces the list).
    #[arg(long = "default-scope", value_name = "SCOPE")]
    pub default_scopes: Option<Vec<String>>,
    /// Resources (RFC 8707) its tokens may be for (repeat; replaces the list).
    #[arg(long = "audience", value_name = "URI")]
    pub audiences: Option<Vec<String>>,
    /// Browser origins allowed by CORS (repeat; replaces the list).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Option<Vec<String>>,
    /// Skip the consent page (first-party clients).
    #[arg(long, value_name = "BOOL")]
    pub skip_consent: Option<bool>,
}

/// `portcullis revoke …`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).multiple(false)))]
pub struct RevokeArgs {
    /// Everything of this user (login name): sessions and refresh tokens.
    #[arg(long, group = "subject")]
    pub user: Option<String>,
    /// Every refresh token issued to this client.
    #[arg(long, group = "subject")]
    pub client: Option<String>,
    /// One browser session (id or a unique prefix of 8+ characters) and the refresh
    /// tokens issued in it.
    #[arg(long, group = "subject")]
    pub session: Option<String>,
    /// Only what was issued at or after this time (RFC 3339, or seconds since the
    /// epoch); older sessions and tokens are kept.
    #[arg(long, value_name = "TIME")]
    pub issued_after: Option<String>,
}
