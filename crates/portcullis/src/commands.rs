//! What each command does. Admin commands work against the same database as `serve`,
//! also while it runs (a running server sees client changes within its cache TTL and
//! key rotations within its key refresh interval).

mod operate;
mod serve;

use crate::cli::{
    Alg, Cli, ClientCommand, ClientCreate, Command, ConfigCommand, KeysCommand,
    RegisteredAuthMethod, RegistrationCommand, RegistrationTokenCommand, ResourceCommand,
    ResourceCreate, UserCommand,
};
use crate::logging;
use crate::oauth_client;
use portcullis_core::client::{Client, ClientProfile, ClientRegistration, RecordSource};
use portcullis_core::clock::SystemClock;
use portcullis_core::keys::SigningAlgorithm;
use portcullis_core::resource::{Resource, ResourceRegistration};
use portcullis_core::user::UserRegistration;
use portcullis_core::{Clock, Store};
use portcullis_server::StartError;
use portcullis_server::app::admin::{self, AdminError, OpenStoreError, open_store};
use portcullis_server::app::config::{Config, MAX_ACCESS_TOKEN_TTL, check};
use portcullis_server::app::database::BackupError;
use portcullis_server::app::keys::{KeyError, RotationStart, load_master_key, rotate_signing_keys};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::path::Path;

/// A command failure: the one-line message and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// Printed after `error: `.
    pub message: String,
    /// 1 runtime failure, 2 bad input.
    pub exit_code: u8,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: 2,
        }
    }
    fn runtime(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: 1,
        }
    }
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Store(s) => Self::runtime(s.to_string()),
            other => Self::usage(other.to_string()),
        }
    }
}

impl From<OpenStoreError> for Failure {
    fn from(e: OpenStoreError) -> Self {
        Self::runtime(e.to_string())
    }
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Admin(a) => a.into(),
            other => Self::runtime(other.to_string()),
        }
    }
}

/// A client command's error: one line (`context: cause: …`); exit status 2 for a
/// [`oauth_client::UsageError`], 1 otherwise. Parts of it may come from a server or a
/// token (an error description, an issuer, a serde message quoting a value): line
/// breaks become spaces and every other control character (C0, DEL, C1) a `?`, so
/// that it cannot drive the terminal.
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        let message = one_line(&format!("{e:#}"));
        if e.downcast_ref::<oauth_client::UsageError>().is_some() {
            Self::usage(message)
        } else {
            Self::runtime(message)
        }
    }
}

/// `text` on one line with no control characters (see `From<anyhow::Error>`).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Self {
        Self::runtime(e.to_string())
    }
}

/// Runs the parsed command line.
///
/// # Errors
/// A [`Failure`] with its exit status.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    // The OAuth client commands talk to a server over HTTP: no configuration, no database.
    let command = match cli.command {
        Command::Login(args) => return Ok(oauth_client::login(args).await?),
        Command::Token(command) => return Ok(oauth_client::token(command).await?),
        Command::Completions { shell } => return completions(shell),
        Command::Man => return manual_page(),
        Command::Selftest(args) => return crate::selftest::run(args, cli.output).await,
        other => other,
    };
    let config = Config::load(cli.config.as_deref()).map_err(|e| Failure::usage(e.to_string()))?;
    match command {
        Command::Serve { dev } => serve::serve(config, cli.config.as_deref(), dev).await,
        Command::Backup { file } => backup(&config, &file).await,
        Command::Config(ConfigCommand::Check { strict }) => {
            config_check(&config, cli.config.as_deref(), strict)
        }
        command => {
            let _guard = logging::init("warn,audit=info", true);
            let store = open_store(&config.database_url, &config.database, false).await?;
            let now = SystemClock.now();
            let output = operate::format(cli.output);
            match command {
                command if operate::handles(&command) => {
                    operate::run(store.as_ref(), command, output, now).await
                }
                Command::Client(c) => {
                    let profile = config.authorization.default_profile;
                    client(store.as_ref(), c, profile, now).await
                }
                Command::User(u) => user(store.as_ref(), u, now).await,
                Command::Resource(r) => resource(store.as_ref(), r, now).await,
                Command::Keys(k) => keys(store.as_ref(), &config, k, output, now).await,
                Command::Registration(RegistrationCommand::Token(
                    RegistrationTokenCommand::Create,
                )) => {
                    let token = portcullis_server::app::registration::create_initial_access_token(
                        store.as_ref(),
                        now,
                    )
                    .await
                    .map_err(|e| Failure::runtime(e.to_string()))?;
                    print_json(&json!({
                        "initial_access_token": token.expose_secret(),
                        "note": "shown once; only its SHA-256 digest is stored",
                    }))
                }
                Command::Serve { .. }
                | Command::Session(_)
                | Command::Revoke(_)
                | Command::Login(_)
                | Command::Token(_)
                | Command::Backup { .. }
                | Command::Config(_)
                | Command::Completions { .. }
                | Command::Selftest(_)
                | Command::Man => Ok(()),
            }
        }
    }
}

/// `portcullis backup FILE`: prints `{"backup": FILE, "bytes": N}`.
async fn backup(config: &Config, file: &Path) -> Result<(), Failure> {
    let bytes = portcullis_server::app::database::backup(&config.database_url, file)
        .await
        .map_err(|e| match e {
            BackupError::NotSqlite(_) | BackupError::Exists(_) => Failure::usage(e.to_string()),
            BackupError::Store(_) => Failure::runtime(e.to_string()),
        })?;
    print_json(&json!({ "backup": file.display().to_string(), "bytes": bytes }))
}

/// `portcullis config check`: `{"configuration": …, "warnings": [{"key", "message"}]}`
/// on standard output, each warning also as one line on standard error.
fn config_check(config: &Config, file: Option<&Path>, strict: bool) -> Result<(), Failure> {
    let findings = check::findings(config, file);
    for finding in &findings {
        eprintln!("warning: {}: {}", finding.key, finding.message);
    }
    let warnings: Vec<Value> = findings
        .iter()
        .map(|f| json!({ "key": f.key, "message": f.message }))
        .collect();
    print_json(&json!({ "configuration": check::resolved_view(config), "warnings": warnings }))?;
    if strict && !findings.is_empty() {
        return Err(Failure::runtime(format!(
            "{} warning(s) and --strict",
            findings.len()
        )));
    }
    Ok(())
}

/// `portcullis completions SHELL`: the script on standard output.
fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "portcullis", &mut out);
    crate::output::raw(&out);
    Ok(())
}

/// `portcullis man`: the manual page (roff) on standard output.
fn manual_page() -> Result<(), Failure> {
    let command = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .map_err(|e| Failure::runtime(format!("rendering the manual page: {e}")))?;
    crate::output::raw(&out);
    Ok(())
}

async fn client(
    store: &dyn Store,
    command: ClientCommand,
    default_profile: ClientProfile,
    now: i64,
) -> Result<(), Failure> {
    match command {
        ClientCommand::Update(_) => Ok(()),
        ClientCommand::Create(args) => {
            let generate = !args.public && args.auth_method != RegisteredAuthMethod::PrivateKeyJwt;
            let registration = registration_from(*args, default_profile)?;
            let (client, secret) =
                admin::create_client(store, registration, generate, now, "cli").await?;
            let mut out = client_json(&client);
            if let (Some(secret), Value::Object(map)) = (secret, &mut out) {
                map.insert(
                    "client_secret".into(),
                    Value::String(secret.expose_secret().to_owned()),
                );
            }
            print_json(&out)
        }
        ClientCommand::List => {
            let clients = store
                .client_list()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            print_json(&Value::Array(clients.iter().map(client_json).collect()))
        }
        ClientCommand::Show { client_id } => {
            let client = store
                .client_get(&client_id)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?
                .ok_or_else(|| Failure::usage(format!("no client `{client_id}`")))?;
            print_json(&client_json(&client))
        }
        ClientCommand::Delete { client_id } => {
            let existing = store
                .client_get(&client_id)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            if !admin::delete_client(store, &client_id, "cli")
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?
            {
                return Err(Failure::usage(format!("no client `{client_id}`")));
            }
            if existing.is_some_and(|c| c.source == RecordSource::Config) {
                eprintln!(
                    "warning: `{client_id}` is declared in the configuration file; it comes back at the next start unless you remove it there"
                );
            }
            print_json(&json!({"deleted": client_id}))
        }
        ClientCommand::RotateSecret {
            client_id,
            keep_old_for,
        } => {
            let secret =
                admin::rotate_client_secret(store, &client_id, keep_old_for, now, "cli").await?;
            print_json(&json!({
                "client_id": client_id,
                "client_secret": secret.expose_secret(),
                "previous_secret_expires_at": keep_old_for.map(|s| now + s),
            }))
        }
    }
}

/// The registration `client create` describes; without `--profile`, the client gets
/// `default_profile` (`[authorization] default_profile`).
fn registration_from(
    args: ClientCreate,
    default_profile: ClientProfile,
) -> Result<ClientRegistration, Failure> {
    let method = if args.public {
        "none"
    } else {
        match args.auth_method {
            RegisteredAuthMethod::ClientSecretBasic => "client_secret_basic",
            RegisteredAuthMethod::ClientSecretPost => "client_secret_post",
            RegisteredAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    };
    let jwks = match &args.jwks_file {
        Some(path) => Some(read_jwks_file(path)?),
        None => None,
    };
    Ok(ClientRegistration {
        client_id: args.client_id,
        client_name: args.name,
        token_endpoint_auth_method: Some(method.to_owned()),
        grant_types: Some(args.grant_types),
        scopes: args.scopes,
        default_scopes: args.default_scopes,
        audiences: args.audiences,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        skip_consent: args.skip_consent,
        introspection_audiences: args.introspection_audiences,
        dpop_bound_access_tokens: args.dpop_bound_access_tokens,
        require_pushed_authorization_requests: args.require_pushed_authorization_requests,
        allowed_origins: args.allowed_origins,
        jwks,
        jwks_uri: args.jwks_uri,
        profile: Some(
            args.profile
                .map_or(default_profile, ClientProfile::from)
                .as_str()
                .to_owned(),
        ),
        ..Default::default()
    })
}

/// The JSON of `--jwks-file` (validated as the client's keys by the registration).
fn read_jwks_file(path: &std::path::Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("--jwks-file {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "--jwks-file {}: not JSON ({e}); expected a JWK Set {{\"keys\": [...]}}",
            path.display()
        ))
    })
}

/// A client as JSON (RFC 7591 §3.2.1 member names), without any secret material.
pub(crate) fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.client_id,
        "client_name": c.client_name,
        "token_endpoint_auth_method": c.token_endpoint_auth_method.as_str(),
        // RFC 7638 SHA-256 thumbprints of a private_key_jwt client's keys.
        "jwk_thumbprints": c.jwks.as_ref().map(|j| j.thumbprints()),
        "jwks_uri": c.jwks_uri,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes,
        "default_scopes": c.default_scopes,
        "audiences": c.audiences,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "skip_consent": c.skip_consent,
        "introspection_audiences": c.introspection_audiences,
        "allowed_origins": c.allowed_origins,
        // The origins in effect (the redirect URIs' when allowed_origins is empty).
        "web_origins": c.web_origins(),
        "id_token_signed_response_alg": c.id_token_signed_response_alg.as_str(),
        "claims": c.claims,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
        "profile": c.profile.as_str(),
        "source": c.source.as_str(),
        "previous_secret_expires_at": c.secrets.as_ref().and_then(|s| s.previous.map(|(_, at)| at)),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

async fn resource(store: &dyn Store, command: ResourceCommand, now: i64) -> Result<(), Failure> {
    match command {
        ResourceCommand::Create(args) => {
            let registration = resource_registration_from(args)?;
            let resource =
                admin::resources::create_resource(store, registration, "cli", now).await?;
            print_json(&resource_json(&resource))
        }
        ResourceCommand::List => {
            let resources = store
                .resource_list()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            print_json(&Value::Array(resources.iter().map(resource_json).collect()))
        }
        ResourceCommand::Delete { identifier } => {
            let existing = store
                .resource_get(&identifier)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            if !admin::resources::delete_resource(store, &identifier, "cli")
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?
            {
                return Err(Failure::usage(format!("no resource `{identifier}`")));
            }
            if existing.is_some_and(|r| r.source == RecordSource::Config) {
                eprintln!(
                    "warning: `{identifier}` is declared in the configuration file; it comes back at the next start unless you remove it there"
                );
            }
            print_json(&json!({"deleted": identifier}))
        }
    }
}

/// The registration `resource create` describes; `--scope-description` is `SCOPE=TEXT`.
fn resource_registration_from(args: ResourceCreate) -> Result<ResourceRegistration, Failure> {
    let mut scope_descriptions = std::collections::BTreeMap::new();
    for entry in args.scope_descriptions {
        let Some((scope, text)) = entry.split_once('=') else {
            return Err(Failure::usage(format!(
                "--scope-description `{entry}` is not SCOPE=TEXT"
            )));
        };
        scope_descriptions.insert(scope.to_owned(), text.to_owned());
    }
    Ok(ResourceRegistration {
        identifier: args.identifier,
        name: args.name,
        scopes: args.scopes,
        default_scopes: args.default_scopes,
        dynamic_clients: args.dynamic_clients,
        scope_descriptions,
    })
}

/// A registered resource as JSON (the configuration's key names).
fn resource_json(r: &Resource) -> Value {
    json!({
        "identifier": r.identifier,
        "name": r.name,
        "scopes": r.scopes,
        "default_scopes": r.default_scopes,
        "dynamic_clients": r.dynamic_clients,
        "scope_descriptions": r.scope_descriptions,
        "source": r.source.as_str(),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

async fn user(store: &dyn Store, command: UserCommand, now: i64) -> Result<(), Failure> {
    match command {
        UserCommand::Create {
            username,
            email,
            name,
            password_stdin,
        } => {
            let password = operate::read_password(password_stdin)?;
            let registration = UserRegistration {
                username,
                password,
                email,
                name,
                claims: serde_json::Map::new(),
            };
            let user =
                admin::create_user(store, registration, RecordSource::Admin, now, "cli").await?;
            print_json(
                &json!({"user_id": user.user_id, "username": user.username, "email": user.email, "name": user.name}),
            )
        }
        UserCommand::List => {
            let users = store
                .user_list()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let out: Vec<Value> = users
                .iter()
                .map(|u| json!({"user_id": u.user_id, "username": u.username, "email": u.email, "name": u.name, "source": u.source.as_str(), "created_at": u.created_at, "disabled_at": u.disabled_at}))
                .collect();
            print_json(&Value::Array(out))
        }
        UserCommand::SetPassword { .. }
        | UserCommand::Update { .. }
        | UserCommand::Unlock { .. }
        | UserCommand::Disable { .. }
        | UserCommand::Enable { .. } => Ok(()),
        UserCommand::Delete { username } => {
            if !admin::delete_user(store, &username, "cli")
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?
            {
                return Err(Failure::usage(format!("no user `{username}`")));
            }
            print_json(&json!({"deleted": username}))
        }
    }
}

async fn keys(
    store: &dyn Store,
    config: &Config,
    command: KeysCommand,
    output: crate::cli::OutputFormat,
    now: i64,
) -> Result<(), Failure> {
    match command {
        KeysCommand::List => Ok(()),
        KeysCommand::Rotate { alg, immediately } => {
            let master = load_master_key(&config.master_key, false)?;
            let algs: Vec<SigningAlgorithm> = match alg {
                None => SigningAlgorithm::ALL.to_vec(),
                Some(Alg::Es256) => vec![SigningAlgorithm::Es256],
                Some(Alg::Rs256) => vec![SigningAlgorithm::Rs256],
            };
            // Retired keys stay published for the longest lifetime of a token they may
            // have signed. The servers' access_token_ttl may differ from this process's
            // configuration, so use the largest any server accepts.
            let longest = MAX_ACCESS_TOKEN_TTL;
            let start = if immediately {
                RotationStart::Immediately
            } else {
                RotationStart::After(config.keys.publication_lead)
            };
            let rotations =
                rotate_signing_keys(store, &master, now, &algs, start, longest, "cli").await?;
            operate::print_rotations(&rotations, output, now)
        }
    }
}

fn print_json(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::runtime(e.to_string()))?;
    crate::output::line(&text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_error_is_one_line_without_control_characters() {
        let e = anyhow::anyhow!("server said: x\u{1b}]0;title\u{7}\u{9b}31m\u{85}\u{7f}y\r\nz")
            .context("the token endpoint refused the request");
        let failure = Failure::from(e);
        assert_eq!(failure.exit_code, 1);
        assert_eq!(
            failure.message,
            "the token endpoint refused the request: server said: x?]0;title??31m??y  z"
        );
        let usage = Failure::from(anyhow::Error::new(oauth_client::UsageError("bad".into())));
        assert_eq!((usage.exit_code, usage.message.as_str()), (2, "bad"));
    }
}
