//! The OAuth 2.1 / OpenID Connect client behind `portcullis login` and `portcullis
//! token …`. It talks to any server that publishes its metadata (RFC 8414, OpenID
//! Connect Discovery 1.0); nothing here depends on Portcullis being the server.
//!
//! Output discipline: the token response the user asked for goes to standard output
//! (or to a 0600 file with `--save`); what a person reads (codes, URLs, progress,
//! warnings) goes to standard error. Secrets never come from the command line.

mod client_auth;
mod device;
mod discovery;
mod dpop;
mod http;
mod id_token;
mod inspect;
mod jwt;
mod loopback;
#[cfg(test)]
mod mock;
mod terminal;
mod token_endpoint;
mod token_file;

use crate::cli::{
    ClientArgs, ClientCredentialsArgs, ClientSecretArgs, LoginArgs, RefreshArgs, TokenCommand,
};
use anyhow::{Context, Result};
use client_auth::ClientAuth;
use discovery::Metadata;
use dpop::Dpop;
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use token_endpoint::TokenResponse;

/// A mistake in what the user asked for (exit status 2), as opposed to a failure on the
/// way (exit status 1). Carried inside an [`anyhow::Error`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `portcullis login`: the device flow (RFC 8628), or with `--browser` the
/// authorization code flow with PKCE and a loopback redirect (RFC 8252).
///
/// # Errors
/// Any failure, as one line.
pub async fn login(args: LoginArgs) -> Result<()> {
    let secret = client_auth::client_secret(args.secret.client_secret_stdin)?;
    let dpop = args.dpop.then(Dpop::generate).transpose()?;
    let session = Session::open(&args.client, secret, &args.secret, dpop).await?;
    let scope = scope_parameter(&args.request.scopes);
    let tokens = if args.browser {
        let timeout = args.timeout.unwrap_or(loopback::DEFAULT_TIMEOUT_SECS);
        let request = loopback::Request {
            scope: scope.as_deref(),
            resources: &args.request.resources,
            open_browser: !args.no_open,
            timeout: std::time::Duration::from_secs(timeout),
        };
        loopback::login(&session, &request).await?
    } else {
        let request = device::Request {
            scope: scope.as_deref(),
            resources: &args.request.resources,
            timeout: args.timeout.map(std::time::Duration::from_secs),
        };
        device::login(&session, &request).await?
    };
    let summary = login_summary(&tokens, scope.as_deref(), args.save.as_deref());
    output(&session, tokens, args.save.as_deref())?;
    eprintln!("{summary}");
    Ok(())
}

/// The line `portcullis login` ends with: who signed in (from the checked id_token),
/// which scopes were granted (the response's `scope`, else the requested one, RFC 6749
/// §5.1), where the tokens went, and whether a refresh token came (without
/// `offline_access` an OpenID provider issues none, OIDC Core §11).
fn login_summary(tokens: &TokenResponse, requested: Option<&str>, save: Option<&Path>) -> String {
    let who = id_token::signed_in_as(tokens).map_or_else(
        || "Signed in".to_owned(),
        |who| format!("Signed in as {who}"),
    );
    let granted = tokens
        .scope()
        .map(terminal::sanitize)
        .or_else(|| requested.map(str::to_owned));
    let scopes = granted.map_or_else(
        || " (no scope stated)".to_owned(),
        |s| format!(" with scope \"{s}\""),
    );
    let place = save.map_or_else(
        || "the token response is on standard output".to_owned(),
        |p| format!("saved to {}", p.display()),
    );
    let refresh = if tokens.refresh_token().is_some() {
        ""
    } else {
        "; no refresh token (ask for the offline_access scope, e.g. --scope \"openid offline_access\", to get one)"
    };
    format!("{who}{scopes}; {place}{refresh}.")
}

/// `portcullis token …`.
///
/// # Errors
/// Any failure, as one line; for `inspect`, also a token that is not valid.
pub async fn token(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::ClientCredentials(args) => client_credentials(args).await,
        TokenCommand::Refresh(args) => refresh(args).await,
        TokenCommand::Inspect(args) => inspect::run(args).await,
    }
}

/// RFC 6749 §4.4: the client credentials grant.
async fn client_credentials(args: ClientCredentialsArgs) -> Result<()> {
    let dpop = args.dpop.then(Dpop::generate).transpose()?;
    let session = match &args.private_key {
        // RFC 7523 §2.2: no secret; each request carries a fresh signed assertion
        // whose `aud` is the issuer identifier (draft-ietf-oauth-rfc7523bis).
        Some(path) => {
            let key = client_auth::ClientKey::from_pem_file(path, args.kid.clone())?;
            let mut session = Session::open(&args.client, None, &args.secret, dpop).await?;
            session.auth = ClientAuth::PrivateKeyJwt {
                client_id: args.client.client_id.clone(),
                key,
                audience: session.issuer.clone(),
            };
            session
        }
        None => {
            let secret = client_auth::client_secret(args.secret.client_secret_stdin)?
                .ok_or_else(|| {
                    UsageError(format!(
                        "no client secret: pipe it in with --client-secret-stdin or set {}, or use --private-key",
                        client_auth::CLIENT_SECRET_ENV
                    ))
                })?;
            Session::open(&args.client, Some(secret), &args.secret, dpop).await?
        }
    };
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if let Some(scope) = scope_parameter(&args.request.scopes) {
        form.push(("scope", scope));
    }
    form.extend(
        args.request
            .resources
            .iter()
            .map(|r| ("resource", r.clone())),
    );
    let tokens = token_endpoint::request_ok(&session, form).await?;
    output(&session, tokens, args.save.as_deref())
}

/// RFC 6749 §6: refreshing. When the server rotates the refresh token (RFC 9700
/// §4.14.2), the old one is used up: save the answer over the `--from` file. With
/// DPoP (RFC 9449 §5), the key of the `--from` file proves possession again.
async fn refresh(args: RefreshArgs) -> Result<()> {
    let secret = client_auth::client_secret(args.secret.client_secret_stdin)?;
    let (presented, dpop) = refresh_token_source(&args)?;
    let dpop = match dpop {
        Some(dpop) => Some(dpop),
        None => args.dpop.then(Dpop::generate).transpose()?,
    };
    let session = Session::open(&args.client, secret, &args.secret, dpop).await?;
    let mut form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", presented.expose_secret().to_owned()),
    ];
    if let Some(scope) = scope_parameter(&args.scopes) {
        form.push(("scope", scope));
    }
    let mut tokens = token_endpoint::request_ok(&session, form).await?;
    let rotated = tokens.refresh_token().is_some();
    if let Some(from) = &args.from
        && rotated
        && args.save.as_deref() != Some(from.as_path())
    {
        eprintln!(
            "warning: the server issued a new refresh token; the one in {} is used up (save to that file with --save to keep it current)",
            from.display()
        );
    }
    if args.save.is_some() {
        // RFC 6749 §6: without a new refresh token, the client keeps the one it has;
        // the saved file stays usable for the next refresh.
        tokens.keep_refresh_token(&presented);
    }
    output(&session, tokens, args.save.as_deref())
}

/// Where the refresh token comes from: standard input, a saved token response (with
/// its DPoP key, if it holds one), or the environment (never the command line).
fn refresh_token_source(args: &RefreshArgs) -> Result<(SecretString, Option<Dpop>)> {
    if args.refresh_token_stdin {
        return Ok((client_auth::read_stdin_line("refresh token")?, None));
    }
    if let Some(from) = &args.from {
        let saved = token_file::load(from)?;
        let dpop = Dpop::from_saved(&saved, from)?;
        let token = saved
            .get("refresh_token")
            .and_then(serde_json::Value::as_str)
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| UsageError(format!("{} holds no refresh_token: the server issued none; log in again asking for the offline_access scope (--scope \"openid offline_access\")", from.display())))?;
        return Ok((token, dpop));
    }
    match std::env::var(REFRESH_TOKEN_ENV) {
        Ok(token) if !token.is_empty() => Ok((SecretString::from(token), None)),
        _ => Err(UsageError(format!(
            "no refresh token: use --refresh-token-stdin, --from FILE, or set {REFRESH_TOKEN_ENV}"
        ))
        .into()),
    }
}

/// What every request to the server needs: the HTTP client, the issuer and its
/// metadata, and how the client authenticates.
pub(crate) struct Session {
    /// The HTTP client (timeouts, no redirects).
    pub http: reqwest::Client,
    /// The issuer identifier, exactly as the metadata states it.
    pub issuer: String,
    /// The issuer's metadata (RFC 8414 §2).
    pub metadata: Metadata,
    /// The client's credentials.
    pub auth: ClientAuth,
    /// The DPoP key every token request proves (RFC 9449), with `--dpop`.
    pub dpop: Option<Dpop>,
}

impl Session {
    /// Checks the issuer URL, fetches its metadata, and sets up client authentication.
    /// With `dpop`, the issuer must accept ES256 proofs when it lists the algorithms
    /// it accepts (RFC 9449 §5.1 `dpop_signing_alg_values_supported`).
    async fn open(
        client: &ClientArgs,
        secret: Option<SecretString>,
        secret_args: &ClientSecretArgs,
        dpop: Option<Dpop>,
    ) -> Result<Self> {
        let auth = ClientAuth::new(client.client_id.clone(), secret, secret_args.auth_method)?;
        let issuer_url = http::secure_url("issuer", &client.issuer)?;
        let http = http::client()?;
        let metadata = discovery::discover(&http, &client.issuer, &issuer_url).await?;
        if dpop.is_some()
            && let Some(algs) = &metadata.dpop_signing_alg_values_supported
            && !algs.iter().any(|a| a == dpop::PROOF_ALG)
        {
            anyhow::bail!(
                "the issuer does not accept {} DPoP proofs (dpop_signing_alg_values_supported)",
                dpop::PROOF_ALG
            );
        }
        Ok(Self {
            http,
            issuer: client.issuer.clone(),
            metadata,
            auth,
            dpop,
        })
    }
}

/// Prints the token response as JSON on standard output, or saves it to `save`. With
/// DPoP, the key goes with the tokens it binds (see [`dpop`]), and what was issued is
/// said on standard error (RFC 9449 §5: a server that does not support DPoP answers
/// `token_type` Bearer).
fn output(session: &Session, tokens: TokenResponse, save: Option<&Path>) -> Result<()> {
    let mut response = tokens.into_map();
    // Only our own key is ever kept under that name.
    response.remove(dpop::KEY_MEMBER);
    if let Some(dpop) = &session.dpop {
        if dpop::is_dpop_token_type(&response) {
            eprintln!(
                "token_type: DPoP (bound to the key with thumbprint {})",
                dpop.jkt()
            );
            dpop.attach(&mut response);
        } else {
            eprintln!(
                "warning: the server issued a {} token, not a DPoP-bound one (does it support DPoP, RFC 9449?)",
                terminal::sanitize(
                    response
                        .get("token_type")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("(no token_type)")
                )
            );
        }
    }
    match save {
        Some(path) => {
            token_file::save(path, &response)?;
            eprintln!("Saved the token response to {}.", path.display());
            Ok(())
        }
        None => {
            // The server's JSON, with the characters that could drive a terminal
            // escaped (the same JSON value).
            let text =
                terminal::json_text(&response).context("cannot format the token response")?;
            crate::output::line(&text);
            Ok(())
        }
    }
}

/// The `scope` parameter (RFC 6749 §3.3): the `--scope` values, each possibly a
/// space-separated list, joined with single spaces; `None` when empty.
fn scope_parameter(scopes: &[String]) -> Option<String> {
    let joined = scopes
        .iter()
        .flat_map(|s| s.split_ascii_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

/// The environment variable `token refresh` reads a refresh token from.
const REFRESH_TOKEN_ENV: &str = "PORTCULLIS_REFRESH_TOKEN";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_client::mock::{MockServer, Script};
    use axum::Router;
    use serde_json::json;

    /// A session opened with `--dpop` against an issuer whose metadata lists `algs`.
    async fn open_with_dpop(algs: serde_json::Value) -> Result<Session> {
        let server = MockServer::start(|base| {
            let metadata = json!({
                "issuer": base,
                "token_endpoint": format!("{base}/token"),
                "dpop_signing_alg_values_supported": algs,
            });
            Router::new().route(
                "/.well-known/oauth-authorization-server",
                Script::new([(200, metadata)]).route(),
            )
        })
        .await;
        let client = ClientArgs {
            issuer: server.base.clone(),
            client_id: "cli".into(),
        };
        let secret_args = ClientSecretArgs {
            client_secret_stdin: false,
            auth_method: None,
        };
        Session::open(&client, None, &secret_args, Some(Dpop::generate()?)).await
    }

    #[tokio::test]
    async fn rejects_dpop_with_an_issuer_that_does_not_accept_es256_proofs() {
        let e = open_with_dpop(json!(["RS256", "EdDSA"]))
            .await
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "the issuer does not accept ES256 DPoP proofs (dpop_signing_alg_values_supported)"
        );
        assert!(open_with_dpop(json!(["PS256", "ES256"])).await.is_ok());
    }

    #[test]
    fn scope_values_are_joined_with_single_spaces() {
        assert_eq!(scope_parameter(&[]), None);
        assert_eq!(scope_parameter(&["  ".into()]), None);
        assert_eq!(
            scope_parameter(&["openid  profile".into(), "email".into()]).as_deref(),
            Some("openid profile email")
        );
    }
}
