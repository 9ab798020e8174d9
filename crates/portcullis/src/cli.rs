//! Command-line arguments (clap).

mod operate;
mod selftest;

pub use operate::{ClientUpdate, OutputFormat, RevokeArgs, SessionCommand};
pub use selftest::SelftestArgs;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Portcullis: an OAuth 2.1 / OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Environment: PORTCULLIS_CONFIG.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output of the list and show commands (`user`, `session`, `keys`, `revoke`) and of
    /// `selftest` (a table unless `json` is asked for):
    /// `table` (human times) or `json`. Default: a table on a terminal, JSON when
    /// standard output is piped.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
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
    /// Manage the resource registry (RFC 8707 resources, their scopes and defaults).
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Manage dynamic client registration (RFC 7591): initial access tokens.
    #[command(subcommand)]
    Registration(RegistrationCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List and end browser sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Incident response: end the sessions and revoke the refresh tokens (and the access
    /// tokens issued with them) of a user, a client or one session.
    Revoke(RevokeArgs),
    /// Sign in at an OAuth 2.1 / OpenID Connect server (any that publishes RFC 8414 or
    /// OpenID Connect Discovery metadata): device flow by default, or the browser with
    /// `--browser`. Prints the token response as JSON (or saves it with `--save`).
    Login(LoginArgs),
    /// Get, refresh or inspect tokens at an OAuth 2.1 / OpenID Connect server.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check a configuration before deploying it.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy the SQLite database into a new file (safe while servers run; `VACUUM
    /// INTO`). The copy has mode 0600 and does not hold the master key: back that up
    /// apart. For PostgreSQL use pg_dump (docs/operations.md).
    Backup {
        /// The new file (never overwritten).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print a shell completion script, e.g. `portcullis completions bash >
    /// /etc/bash_completion.d/portcullis`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `portcullis man > portcullis.1`.
    Man,
    /// Check a live authorization server from outside (any RFC 8414 server): metadata,
    /// JWKS, PKCE, refused grants, redirect-URI matching, `iss`, CORS, TLS and HSTS,
    /// page headers, error escaping. Changes nothing. Exit status: 0 when no check
    /// fails, 1 when one does (or warns, with --strict), 2 on a usage error or no answer.
    Selftest(SelftestArgs),
}

/// `portcullis config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (`--config` / PORTCULLIS_CONFIG and the environment,
    /// as `serve` reads them), print it resolved with secrets shown as "***", and warn
    /// about unwise settings, each naming the key and the fix. Exit status: 2 when it
    /// does not load; 1 with --strict when there are warnings; else 0.
    Check {
        /// Exit with status 1 when there is any warning (for CI).
        #[arg(long)]
        strict: bool,
    },
}

/// `portcullis registration …`
#[derive(Debug, Subcommand)]
pub enum RegistrationCommand {
    /// Initial access tokens (RFC 7591 §3) for `[registration] mode =
    /// "initial_access_token"`.
    #[command(subcommand)]
    Token(RegistrationTokenCommand),
}

/// `portcullis registration token …`
#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Create an initial access token: prints it once as JSON; only its SHA-256 digest
    /// is stored.
    Create,
}

/// `portcullis client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints it as JSON with the generated client_secret (shown once).
    Create(Box<ClientCreate>),
    /// List clients as JSON.
    List,
    /// Show one client as JSON (never its secret).
    Show {
        /// The client_id.
        client_id: String,
    },
    /// Change a client created with the CLI; prints it as JSON. A list option given
    /// replaces the stored list; the result is validated as a registration is.
    Update(Box<ClientUpdate>),
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
    /// How a confidential client authenticates: with a generated secret (the default,
    /// client-secret-basic or client-secret-post), or with a key (private-key-jwt,
    /// RFC 7523; needs --jwks-file or --jwks-uri).
    #[arg(long, value_enum, default_value_t = RegisteredAuthMethod::ClientSecretBasic)]
    pub auth_method: RegisteredAuthMethod,
    /// With --auth-method private-key-jwt: a JSON file holding the client's JWK Set
    /// (`{"keys": [...]}`, RFC 7517) of **public** keys; a private key member is
    /// refused.
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<PathBuf>,
    /// With --auth-method private-key-jwt: the https URL of the client's JWK Set (RFC
    /// 7591 `jwks_uri`), fetched through `[outbound]` and cached.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// Grant type (repeatable): authorization_code, client_credentials, refresh_token,
    /// device_code (short for urn:ietf:params:oauth:grant-type:device_code, RFC 8628).
    #[arg(long = "grant-type", value_name = "GRANT", required = true, value_parser = grant_type)]
    pub grant_types: Vec<String>,
    /// Scope the client may request (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Scope granted when a request has no `scope` and no requested registered
    /// resource has default scopes (RFC 6749 §3.3; repeatable; one of `--scope`).
    #[arg(long = "default-scope", value_name = "SCOPE")]
    pub default_scopes: Vec<String>,
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
    /// RFC 9449 §5.2: every token request must carry a DPoP proof, so all the client's
    /// access tokens are DPoP-bound.
    #[arg(long)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: `/authorize` accepts the client's requests only as a `request_uri`
    /// from the pushed authorization request endpoint (`/par`).
    #[arg(long)]
    pub require_pushed_authorization_requests: bool,
    /// An exact web origin (`https://app.example.com`) a browser page may call the token,
    /// revocation, device authorization and UserInfo endpoints from (CORS). Repeatable;
    /// default: the origins of the redirect URIs.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// The rules the client is held to: `default`, or `fapi2` (FAPI 2.0 Security
    /// Profile: needs --auth-method private-key-jwt and https redirect URIs; forces PAR
    /// and DPoP; see docs/fapi2.md). Default: `[authorization] default_profile`.
    #[arg(long, value_enum)]
    pub profile: Option<ProfileArg>,
}

/// `client create --profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Portcullis's own rules (OAuth 2.1).
    Default,
    /// FAPI 2.0 Security Profile (Final, February 2025).
    Fapi2,
}

impl From<ProfileArg> for portcullis_core::client::ClientProfile {
    fn from(arg: ProfileArg) -> Self {
        match arg {
            ProfileArg::Default => Self::Default,
            ProfileArg::Fapi2 => Self::Fapi2,
        }
    }
}

/// `portcullis resource …`
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register a resource; prints it as JSON.
    Create(ResourceCreate),
    /// List registered resources as JSON.
    List,
    /// Delete a resource.
    Delete {
        /// The resource identifier (exact string).
        identifier: String,
    },
}

/// Arguments of `resource create`.
#[derive(Debug, Args)]
pub struct ResourceCreate {
    /// The resource identifier: an absolute URI without a fragment (RFC 8707 §2), e.g.
    /// `https://mcp.example.com/mcp`.
    #[arg(long)]
    pub identifier: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// A scope the resource defines (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A scope granted when a request for it has no `scope` (repeatable; one of `--scope`).
    #[arg(long = "default-scope", value_name = "SCOPE")]
    pub default_scopes: Vec<String>,
    /// Self-registered clients may request it.
    #[arg(long)]
    pub dynamic_clients: bool,
    /// `SCOPE=TEXT`, shown on the consent page for that scope (repeatable).
    #[arg(long = "scope-description", value_name = "SCOPE=TEXT")]
    pub scope_descriptions: Vec<String>,
}

/// How a confidential client registered with `client create` authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegisteredAuthMethod {
    /// A generated secret, sent with HTTP Basic.
    #[value(name = "client_secret_basic", alias = "client-secret-basic")]
    ClientSecretBasic,
    /// A generated secret, sent in the body.
    #[value(name = "client_secret_post", alias = "client-secret-post")]
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2); no secret.
    #[value(name = "private_key_jwt", alias = "private-key-jwt")]
    PrivateKeyJwt,
}

/// How a confidential client sends its secret.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMethod {
    /// HTTP Basic.
    #[value(name = "client_secret_basic", alias = "client-secret-basic")]
    ClientSecretBasic,
    /// Body parameters.
    #[value(name = "client_secret_post", alias = "client-secret-post")]
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
        /// Read the password from standard input (first line). Without it, the password
        /// is asked for on the terminal, twice, without echo.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Delete a user.
    Delete {
        /// Login name.
        username: String,
    },
    /// Set a user's password (read from standard input); ends all their sessions and
    /// revokes their refresh tokens (RFC 9700 §4.14).
    SetPassword {
        /// Login name.
        username: String,
        /// Read the password from standard input (first line). Without it, the password
        /// is asked for on the terminal, twice, without echo.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's profile; prints it as JSON.
    Update {
        /// Login name.
        username: String,
        /// E-mail address (`""` removes it).
        #[arg(long)]
        email: Option<String>,
        /// Display name (`""` removes it).
        #[arg(long)]
        name: Option<String>,
        /// Extra claims as a JSON object (replaces them; reserved names are refused).
        #[arg(long, value_name = "JSON")]
        claims: Option<String>,
    },
    /// Disable a user: they cannot sign in, their sessions end and their refresh
    /// tokens are revoked (grants answer `invalid_grant`).
    Disable {
        /// Login name.
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// Login name.
        username: String,
    },
    /// Unlock a user throttled after failed sign-ins.
    Unlock {
        /// Login name.
        username: String,
    },
}

/// `portcullis keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys (public parts only) with their stage: signing, next (signs
    /// from …), retiring (still verifies until …) or retired.
    List,
    /// Rotate: a new key is published at once and signs after `[keys]
    /// publication_lead` (default 120 s), once every node and JWK Set cache has it; the
    /// old one signs until then and stays published until every token it signed has
    /// expired.
    Rotate {
        /// Only this algorithm (default: all).
        #[arg(long, value_enum)]
        alg: Option<Alg>,
        /// Emergency (a compromised key): the new key signs at once and the old one is
        /// retired now. Breaks the publication lead: resource servers whose cached JWK
        /// Set predates the new key refuse its tokens until they refetch.
        #[arg(long)]
        immediately: bool,
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

/// The server and the client: `--issuer` and `--client-id`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The issuer identifier (RFC 8414 §2): endpoints are discovered from its metadata.
    /// https, or http on a loopback host (127.0.0.1, [::1], localhost). Default: the
    /// PORTCULLIS_ISSUER variable (the one `serve` reads), so it need not be typed each time.
    #[arg(long, value_name = "URL", env = "PORTCULLIS_ISSUER")]
    pub issuer: String,
    /// The client_id registered at the server.
    #[arg(long, value_name = "ID")]
    pub client_id: String,
}

/// How a confidential client sends its secret. The secret itself never comes from the
/// command line (other users can read it there): from standard input, or from the
/// environment variable PORTCULLIS_CLIENT_SECRET.
#[derive(Debug, Args)]
pub struct ClientSecretArgs {
    /// Read the client secret from standard input (first line). Without it,
    /// PORTCULLIS_CLIENT_SECRET is used when set; with neither, `login` and
    /// `token refresh` act as a public client.
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// How to send the client secret (RFC 6749 §2.3.1).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth_method: Option<AuthMethod>,
}

/// What the token is for: scope and resource indicators.
#[derive(Debug, Args)]
pub struct GrantRequestArgs {
    /// Scope to request; repeat it or pass a space-separated list.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Resource indicator (RFC 8707), the API the token is for; repeatable.
    #[arg(long = "resource", value_name = "URI")]
    pub resources: Vec<String>,
}

/// Arguments of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub secret: ClientSecretArgs,
    #[command(flatten)]
    pub request: GrantRequestArgs,
    /// Sign in with the system browser (authorization code + PKCE, redirect to a
    /// loopback port, RFC 8252) instead of the device flow (RFC 8628).
    #[arg(long)]
    pub browser: bool,
    /// With --browser: do not open a browser; only print the URL to open.
    #[arg(long, requires = "browser")]
    pub no_open: bool,
    /// Give up after this many seconds without a sign-in (default: 300 with
    /// --browser; the lifetime of the code for the device flow).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,
    /// Bind the tokens to a key (DPoP, RFC 9449): a fresh key pair is generated, every
    /// token request carries a proof of it, and the key is kept in the output with the
    /// tokens (member `dpop_key`; use --save, which writes the file 0600).
    #[arg(long)]
    pub dpop: bool,
    /// Save the token response to FILE (mode 0600, replaced atomically) instead of
    /// printing it.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// `portcullis token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Get a token for the client itself (RFC 6749 §4.4). The secret comes from
    /// --client-secret-stdin or PORTCULLIS_CLIENT_SECRET; with --private-key, the
    /// client authenticates with a signed assertion instead (private_key_jwt).
    ClientCredentials(ClientCredentialsArgs),
    /// Exchange a refresh token for new tokens (RFC 6749 §6). The refresh token comes
    /// from --refresh-token-stdin, --from FILE or PORTCULLIS_REFRESH_TOKEN.
    Refresh(RefreshArgs),
    /// Verify a JWT against its issuer's published keys and show what it says.
    /// Exit status 0 when it is valid, 1 otherwise.
    Inspect(InspectArgs),
}

/// Arguments of `token client-credentials`.
#[derive(Debug, Args)]
pub struct ClientCredentialsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub secret: ClientSecretArgs,
    #[command(flatten)]
    pub request: GrantRequestArgs,
    /// Authenticate with `private_key_jwt` (RFC 7523 §2.2) instead of a secret: sign
    /// each request's client assertion with this PEM private key (EC P-256 → ES256,
    /// Ed25519 → EdDSA, RSA → PS256). The client must be registered with the matching
    /// public key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["client_secret_stdin", "auth_method"])]
    pub private_key: Option<PathBuf>,
    /// With --private-key: the `kid` to put in each assertion's header (the key's id
    /// in the client's registered JWK Set).
    #[arg(long, value_name = "KID", requires = "private_key")]
    pub kid: Option<String>,
    /// Bind the tokens to a key (DPoP, RFC 9449): a fresh key pair is generated, every
    /// token request carries a proof of it, and the key is kept in the output with the
    /// tokens (member `dpop_key`; use --save, which writes the file 0600).
    #[arg(long)]
    pub dpop: bool,
    /// Save the token response to FILE (mode 0600, replaced atomically) instead of
    /// printing it.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// Arguments of `token refresh`. The refresh token comes from --refresh-token-stdin,
/// --from, or PORTCULLIS_REFRESH_TOKEN; a confidential client's secret from
/// PORTCULLIS_CLIENT_SECRET or --client-secret-stdin (not both on standard input).
#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub secret: ClientSecretArgs,
    /// Read the refresh token from standard input (first line).
    #[arg(long, conflicts_with_all = ["from", "client_secret_stdin"])]
    pub refresh_token_stdin: bool,
    /// Take the refresh token from a saved token response (`--save` of `login`).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Ask for less scope than was granted; repeat it or pass a space-separated list.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Refresh with DPoP (RFC 9449) when the token was not bound: a fresh key pair.
    /// Without it, a --from file that holds a `dpop_key` is refreshed with that key
    /// (a public client's refresh token is bound to it); a DPoP-bound --from file
    /// without its key is refused.
    #[arg(long)]
    pub dpop: bool,
    /// Save the token response to FILE (mode 0600, replaced atomically); give the
    /// --from file to keep it current when the server rotates refresh tokens.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// Arguments of `token inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The JWT, or `-` to read it from standard input (preferred: a token on the
    /// command line is visible to other users of this machine).
    #[arg(value_name = "TOKEN|-")]
    pub token: String,
    /// The issuer whose keys must have signed the token. Default: the token's own
    /// (unverified) `iss` claim, which proves nothing about who issued it.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
}

/// The device grant's URN (RFC 8628 §3.4), which `--grant-type device_code` stands for.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `--grant-type`: `device_code` is short for [`DEVICE_CODE_GRANT`]; other values as given.
fn grant_type(value: &str) -> Result<String, std::convert::Infallible> {
    Ok(match value {
        "device_code" => DEVICE_CODE_GRANT.to_owned(),
        other => other.to_owned(),
    })
}
