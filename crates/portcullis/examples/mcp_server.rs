//! A minimal MCP server protected by Portcullis access tokens: what an MCP server author
//! writes so that MCP clients (agents) can find the authorization server, get a token
//! and call its tools.
//!
//! - **MCP**: the official Rust SDK `rmcp` speaks the Streamable HTTP transport
//!   (MCP 2025-11-25 "Transports") at `POST/GET/DELETE /mcp`, with one tool, `add`,
//!   which adds two integers.
//! - **Authorization** (MCP 2025-11-25 "Authorization"): every request to `/mcp` needs
//!   a bearer token that `portcullis-resource` accepts: an RFC 9068 JWT signed by a key
//!   in the issuer's JWKS, `aud` = this server's resource identifier (RFC 8707), and
//!   the scope [`MCP_SCOPE`]. Without one the answer is 401 with
//!   `WWW-Authenticate: Bearer resource_metadata="…/.well-known/oauth-protected-resource/mcp", scope="tools:read"`
//!   (RFC 9728 §5.1, RFC 6750 §3), which is where an MCP client starts.
//! - **RFC 9728 metadata** (public): `GET /.well-known/oauth-protected-resource/mcp`
//!   (the path-inserted form of §3.1) and, for clients that try the root form first,
//!   `GET /.well-known/oauth-protected-resource`. It names the issuer as the
//!   authorization server and lists the scopes.
//!
//! Run, with `portcullis serve --dev` running (it registers the resource
//! `http://localhost:3001/mcp`): `cargo run -p portcullis --example mcp_server`, then
//! point an MCP client at `http://localhost:3001/mcp`. Options (or environment
//! variables): `--issuer` (`PORTCULLIS_ISSUER`, default `http://127.0.0.1:8080`),
//! `--resource` (`MCP_RESOURCE`, default `http://localhost:3001/mcp`), `--listen`
//! (`MCP_LISTEN`, default `127.0.0.1:3001`), `--no-scope-hints` (announce no scope in
//! the challenge or the metadata: MCP clients then omit `scope` and Portcullis grants
//! the resource's `default_scopes`, RFC 6749 §3.3).
#![allow(missing_docs)]

use axum::Router;
use clap::Parser;
use portcullis_resource::{ProtectedResourceMetadata, RequireAccessToken, Validator};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use url::Url;

/// The demo MCP server.
#[derive(Debug, Parser)]
struct Args {
    /// The issuer whose access tokens the server accepts (its authorization server).
    #[arg(
        long,
        env = "PORTCULLIS_ISSUER",
        default_value = "http://127.0.0.1:8080"
    )]
    issuer: String,
    /// This server's resource identifier (RFC 8707 §2): the URL clients connect to,
    /// and the `aud` its tokens must name. Registered by `serve --dev`.
    #[arg(
        long,
        env = "MCP_RESOURCE",
        default_value = "http://localhost:3001/mcp"
    )]
    resource: String,
    /// The address to listen on.
    #[arg(long, env = "MCP_LISTEN", default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
    /// Announce no scope (neither in the 401 challenge nor in the RFC 9728 metadata):
    /// MCP clients then send no `scope`, and the authorization server applies the
    /// resource's default scopes.
    #[arg(long)]
    no_scope_hints: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp_server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let validator = Validator::builder(&args.issuer, &args.resource).build()?;
    // Fetch the issuer's keys now, so a wrong issuer shows at start; the server still
    // starts without them and fetches on the first request.
    if let Err(e) = validator.key_store().preload().await {
        eprintln!("mcp_server: the issuer's keys are not available yet: {e}");
    }
    let options = McpOptions {
        scope_hints: !args.no_scope_hints,
    };
    let router = router(validator, &options)?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "MCP server on http://{} (resource {}, issuer {}, tool `add`)",
        listener.local_addr()?,
        args.resource,
        args.issuer
    );
    axum::serve(listener, router).await?;
    Ok(())
}

/// How the server announces itself to clients.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Name [`MCP_SCOPE`] in the 401 challenge (`scope="…"`) and in the metadata's
    /// `scopes_supported`. MCP clients ask for the challenge's scope, else for
    /// `scopes_supported`, else for none (MCP 2025-11-25 "Scope Selection Strategy").
    pub scope_hints: bool,
}

/// The server: the MCP endpoint at the resource identifier's path, behind
/// [`RequireAccessToken`] (audience = the validator's audience, scope [`MCP_SCOPE`]),
/// and the public RFC 9728 metadata document.
///
/// # Errors
/// The validator's audience is not an absolute http(s) URL with a path.
pub fn router(validator: Validator, options: &McpOptions) -> anyhow::Result<Router> {
    let resource = Url::parse(validator.audience())?;
    let path = resource.path().to_owned();
    if path == "/" || !matches!(resource.scheme(), "http" | "https") {
        anyhow::bail!("the resource identifier {resource} needs an http(s) URL with a path");
    }
    let mut metadata = ProtectedResourceMetadata::new(validator.audience(), validator.issuer())
        .resource_name("Portcullis demo MCP server");
    if options.scope_hints {
        metadata = metadata.scopes_supported([MCP_SCOPE]);
    }
    let metadata_url = metadata
        .metadata_url()
        .ok_or_else(|| anyhow::anyhow!("no metadata URL for {resource}"))?;
    let mut require = RequireAccessToken::new(validator)
        .resource_metadata(metadata_url)
        .scopes([MCP_SCOPE]);
    if options.scope_hints {
        require = require.challenge_scopes([MCP_SCOPE]);
    }
    let mcp = StreamableHttpService::new(
        || Ok(Calculator::new()),
        Arc::new(LocalSessionManager::default()),
        transport_config(&resource),
    );
    let root_metadata = axum::Json(metadata.clone());
    Ok(Router::new()
        .route_service(&path, mcp)
        .route_layer(require)
        .merge(metadata.router())
        .route(
            portcullis_resource::PROTECTED_RESOURCE_METADATA_PATH,
            axum::routing::get(move || async move { root_metadata }),
        ))
}

/// rmcp's transport settings: its DNS-rebinding guard (RFC 9110 `Host` check) accepts
/// the loopback names and the resource identifier's host, with and without its port.
fn transport_config(resource: &Url) -> StreamableHttpServerConfig {
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    if let Some(host) = resource.host_str() {
        hosts.push(host.to_owned());
        if let Some(port) = resource.port() {
            hosts.push(format!("{host}:{port}"));
        }
    }
    StreamableHttpServerConfig::default().with_allowed_hosts(hosts)
}

/// The MCP service: one tool.
#[derive(Debug, Clone)]
pub struct Calculator {
    tool_router: ToolRouter<Self>,
}

/// The arguments of `add`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AddArguments {
    /// The first addend.
    pub a: i64,
    /// The second addend.
    pub b: i64,
}

#[tool_router]
impl Calculator {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// `add`: `a + b` as text; an error result (not a protocol error) on overflow.
    #[tool(description = "Add two integers")]
    async fn add(
        &self,
        Parameters(AddArguments { a, b }): Parameters<AddArguments>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match a.checked_add(b) {
            Some(sum) => CallToolResult::success(vec![ContentBlock::text(sum.to_string())]),
            None => CallToolResult::error(vec![ContentBlock::text("the sum overflows i64")]),
        })
    }
}

impl Default for Calculator {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Calculator {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("portcullis-demo-mcp", "0.1.0"))
            .with_instructions(
                "A demo MCP server protected by Portcullis: the tool `add` adds two integers.",
            )
    }
}

/// The scope every MCP request needs; `serve --dev` makes it the resource's default.
pub const MCP_SCOPE: &str = "tools:read";
