//! Command-line arguments (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Portcullis: an OAuth 2.1 / OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Environment: PORTCULLIS_CONFIG.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server.
    Serve {
        /// Also create demo clients and a demo user, and print their credentials
        /// (loopback issuers only).
        #[arg(long)]
        dev: bool,
    },
    /// Manage clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `portcullis client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints it as JSON with the generated client_secret (shown once).
    Create(ClientCreate),
    /// List clients as JSON.
    List,
    /// Show one client as JSON (never its secret).
    Show {
        /// The client_id.
        client_id: String,
    },
    /// Delete a client.
    Delete {
        /// The client_id.
        client_id: String,
    },
    /// Generate a new client_secret; prints it as JSON (shown once).
    RotateSecret {
        /// The client_id.
        client_id: String,
        /// Keep accepting the current secret for this many seconds.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(1..=31_536_000))]
        keep_old_for: Option<i64>,
    },
}

/// Arguments of `client create`.
#[derive(Debug, Args)]
pub struct ClientCreate {
    /// The client_id (visible ASCII, no spaces).
    #[arg(long)]
    pub client_id: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// A public client (no secret; token_endpoint_auth_method none).
    #[arg(long, conflicts_with = "auth_method")]
    pub public: bool,
    /// How a confidential client authenticates.
    #[arg(long, value_enum, default_value_t = AuthMethod::ClientSecretBasic)]
    pub auth_method: AuthMethod,
    /// Grant type (repeatable): authorization_code, client_credentials, refresh_token,
    /// urn:ietf:params:oauth:grant-type:device_code.
    #[arg(long = "grant-type", value_name = "GRANT", required = true)]
    pub grant_types: Vec<String>,
    /// Scope the client may request (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Resource (audience) the client may request (repeatable; the first is the default).
    #[arg(long = "audience", value_name = "URI")]
    pub audiences: Vec<String>,
    /// Exact redirect URI (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// First-party client: skip the consent page.
    #[arg(long)]
    pub skip_consent: bool,
    /// A resource server this (confidential) client serves: it may introspect tokens
    /// whose `aud` includes it (RFC 7662). Repeatable.
    #[arg(long = "introspection-audience", value_name = "URI")]
    pub introspection_audiences: Vec<String>,
}

/// Client authentication methods for a confidential client.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMethod {
    /// HTTP Basic.
    ClientSecretBasic,
    /// Body parameters.
    ClientSecretPost,
}

/// `portcullis user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users as JSON.
    List,
    /// Delete a user.
    Delete {
        /// Login name.
        username: String,
    },
}

/// `portcullis keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys as JSON (public parts only).
    List,
    /// Rotate: a new key signs from now on; the old one stays published until every
    /// token it signed has expired.
    Rotate {
        /// Only this algorithm (default: all).
        #[arg(long, value_enum)]
        alg: Option<Alg>,
    },
}

/// Signing algorithms.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Alg {
    /// ECDSA P-256 (access tokens).
    #[value(name = "ES256")]
    Es256,
    /// RSA (id_tokens).
    #[value(name = "RS256")]
    Rs256,
}
