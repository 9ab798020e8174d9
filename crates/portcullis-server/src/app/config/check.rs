//! `portcullis config check` (issue 18 item 3): the secure-default lint. A configuration
//! that loads ([`Config::load`] already refused everything that can never work) may
//! still be unwise for production; each [`Finding`] names the key and the fix:
//!
//! - where secrets sit on disk ([`layout::warnings`]: the master key inside the data
//!   directory, a data directory open to others, a world-readable configuration that
//!   holds secrets);
//! - an `http://` issuer (allowed on loopback only: development);
//! - an https issuer with neither `[tls]` nor `trusted_proxies`: Portcullis speaks
//!   plain HTTP, so TLS is terminated by a proxy, whose address then stands for every
//!   client (rate limits and audit lines see one address) unless it is listed;
//! - an access token lifetime above one hour (RFC 9700 §2.2.2 / the guides: short-lived
//!   access tokens, since APIs validating JWTs locally accept them until `exp`);
//! - a client with `skip_consent` whose redirect URIs are not on the issuer's host (a
//!   third party acting for users without asking them);
//! - `[registration] mode = "open"` with loose limits (anyone may register clients).
//!
//! Wildcard redirect URIs, user scopes on machine clients and the like are not
//! findings: [`Config::load`] refuses them.
//!
//! [`resolved_view`] is the resolved configuration as JSON with every secret replaced
//! by `"***"` (client secret digests, passwords, the master key, a database password).

use crate::app::config::registration::RegistrationMode;
use crate::app::config::{Config, MasterKeySource};
use crate::app::database::redact_url;
use crate::app::layout;
use serde_json::{Value, json};
use std::path::Path;
use url::Url;

/// One warning: the configuration key it is about and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The key, as written in the file: `tokens.access_token_ttl`, `clients[web].skip_consent`.
    pub key: String,
    /// What is unwise and how to fix it, one sentence or two.
    pub message: String,
}

/// Open registration: most registrations per hour per address before it is a finding.
pub const MAX_ADVISED_OPEN_REGISTRATIONS_PER_HOUR: u32 = 60;
/// Open registration: most dynamic clients before it is a finding.
pub const MAX_ADVISED_OPEN_DYNAMIC_CLIENTS: u64 = 10_000;

/// Guides' upper bound for access token lifetimes, in seconds: one hour.
pub const MAX_ADVISED_ACCESS_TOKEN_TTL: i64 = 3600;

/// Every finding for `config`, read from `config_file` (if any). Empty when all is well.
pub fn findings(config: &Config, config_file: Option<&Path>) -> Vec<Finding> {
    let mut found: Vec<Finding> = layout::warnings(config, config_file, false)
        .into_iter()
        .map(|message| Finding {
            key: layout_key(&message).to_owned(),
            message,
        })
        .collect();
    let issuer = Url::parse(&config.issuer).ok();
    if issuer.as_ref().is_some_and(|u| u.scheme() == "http") {
        found.push(finding(
            "issuer",
            "is http:// (allowed on a loopback host for development only); production needs an https:// issuer (RFC 8414 §2, OAuth 2.1 §1.5)",
        ));
    } else if config.trusted_proxies.is_empty() && config.tls.is_none() {
        found.push(finding(
            "trusted_proxies",
            "is empty while the issuer is https and [tls] is not set: Portcullis serves plain HTTP, so TLS ends at a proxy; configure [tls] to terminate TLS here, or list the proxy's addresses (e.g. trusted_proxies = [\"10.0.0.0/24\"]) so that rate limits and audit lines see the clients' addresses instead of the proxy's",
        ));
    }
    if config.tokens.access_token_ttl > MAX_ADVISED_ACCESS_TOKEN_TTL {
        found.push(finding(
            "tokens.access_token_ttl",
            &format!(
                "is {} s, above one hour: APIs that validate JWTs locally accept a revoked token until it expires; use at most {MAX_ADVISED_ACCESS_TOKEN_TTL} (the default is 900) and refresh tokens for long sessions",
                config.tokens.access_token_ttl
            ),
        ));
    }
    let registration = &config.registration;
    if registration.mode == RegistrationMode::Open
        && (registration.registrations_per_hour > MAX_ADVISED_OPEN_REGISTRATIONS_PER_HOUR
            || registration.max_dynamic_clients > MAX_ADVISED_OPEN_DYNAMIC_CLIENTS)
    {
        found.push(finding(
            "registration.mode",
            &format!(
                "is \"open\" (anyone may register clients, RFC 7591 §3) with loose limits ({} registrations per hour per address, at most {} dynamic clients): keep registrations_per_hour at most {MAX_ADVISED_OPEN_REGISTRATIONS_PER_HOUR} and max_dynamic_clients at most {MAX_ADVISED_OPEN_DYNAMIC_CLIENTS}, or use mode = \"initial_access_token\"",
                registration.registrations_per_hour, registration.max_dynamic_clients
            ),
        ));
    }
    let issuer_host = issuer
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned));
    for client in &config.clients {
        client_findings(client, issuer_host.as_deref(), &mut found);
    }
    found
}

/// The findings about one configured client.
fn client_findings(
    client: &portcullis_core::client::Client,
    issuer_host: Option<&str>,
    found: &mut Vec<Finding>,
) {
    let id = &client.client_id;
    let third_party = client.redirect_uris.iter().find(|uri| {
        Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .as_deref()
            != issuer_host
    });
    if client.skip_consent
        && let Some(uri) = third_party
    {
        found.push(finding(
            &format!("clients[{id}].skip_consent"),
            &format!(
                "is true, but the redirect URI {uri} is not on the issuer's host: users are never asked before this client acts for them; keep skip_consent for first-party apps on your own domain"
            ),
        ));
    }
}

/// The resolved configuration as JSON, every secret shown as `"***"`.
pub fn resolved_view(config: &Config) -> Value {
    let master_key = match &config.master_key {
        MasterKeySource::Env(_) => json!({ "source": "PORTCULLIS_MASTER_KEY", "key": "***" }),
        MasterKeySource::File(path) => {
            json!({ "source": "file", "path": path.display().to_string() })
        }
    };
    json!({
        "issuer": config.issuer,
        "listen": config.listen.to_string(),
        "database_url": redact_url(&config.database_url),
        "data_dir": config.data_dir.display().to_string(),
        "master_key": master_key,
        "trusted_proxies": config.trusted_proxies.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "tls": config.tls.as_ref().map(tls_view),
        "tokens": {
            "access_token_ttl": config.tokens.access_token_ttl,
            "refresh_token_ttl": config.tokens.refresh_token_ttl,
            "authorization_code_ttl": config.tokens.authorization_code_ttl,
            "device_code_ttl": config.tokens.device_code_ttl,
            "device_poll_interval": config.tokens.device_poll_interval,
            "session_ttl": config.tokens.session_ttl,
            "refresh_token_reuse_grace": config.tokens.refresh_token_reuse_grace,
            "par_ttl": config.tokens.par_ttl,
        },
        "authorization": {
            "require_pushed_authorization_requests": config.authorization.require_pushed_authorization_requests,
        },
        "registration": {
            "client_id_metadata_documents": config.registration.client_id_metadata_documents,
            "mode": config.registration.mode.as_str(),
            "initial_access_tokens": config.registration.initial_access_tokens.iter().map(|_| "***").collect::<Vec<_>>(),
            "max_dynamic_clients": config.registration.max_dynamic_clients,
            "registrations_per_hour": config.registration.registrations_per_hour,
            "unused_client_ttl": config.registration.unused_client_ttl,
        },
        "outbound": {
            "allow_networks": config.outbound.allow_networks.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "ca_certificates": config.outbound.ca_certificates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "connect_timeout": config.outbound.connect_timeout.as_secs(),
            "timeout": config.outbound.timeout.as_secs(),
        },
        "clients": config.clients.iter().map(client_view).collect::<Vec<_>>(),
        "users": config.users.iter().map(|u| json!({ "username": u.username, "password": "***" })).collect::<Vec<_>>(),
        "resources": config.resources.iter().map(|r| json!({
            "identifier": r.identifier,
            "scopes": r.scopes,
            "default_scopes": r.default_scopes,
            "dynamic_clients": r.dynamic_clients,
        })).collect::<Vec<_>>(),
    })
}

/// `[tls]` (no secrets: the key file is a path).
fn tls_view(tls: &crate::app::config::TlsSettings) -> Value {
    use crate::app::config::CertificateSource;
    let source = match &tls.source {
        CertificateSource::Files {
            certificate,
            private_key,
        } => json!({
            "certificate": certificate.display().to_string(),
            "private_key": private_key.display().to_string(),
        }),
        CertificateSource::Acme(acme) => json!({ "acme": {
            "directory": acme.directory.as_str(),
            "contact": acme.contact,
            "domains": acme.domains,
            "ca_certificates": acme.ca_certificates.as_ref().map(|p| p.display().to_string()),
            "renew_before_days": acme.renew_before_days,
        }}),
    };
    json!({
        "source": source,
        "redirect_http": tls.redirect_http.map(|a| a.to_string()),
    })
}

/// One client, its secret (if any) as `"***"`.
fn client_view(client: &portcullis_core::client::Client) -> Value {
    json!({
        "client_id": client.client_id,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "profile": client.profile.as_str(),
        "jwks_uri": client.jwks_uri,
        "client_secret": client.secrets.as_ref().map(|_| "***"),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "redirect_uris": client.redirect_uris,
        "scopes": client.scopes,
        "audiences": client.audiences,
        "skip_consent": client.skip_consent,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
    })
}

fn finding(key: &str, message: &str) -> Finding {
    Finding {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

/// The key a [`layout::warnings`] message is about (they name paths, not keys).
fn layout_key(message: &str) -> &'static str {
    if message.starts_with("the master key file") {
        "master key (PORTCULLIS_MASTER_KEY / PORTCULLIS_MASTER_KEY_FILE)"
    } else if message.starts_with("the data directory") {
        "database_url (its directory)"
    } else {
        "configuration file"
    }
}

#[cfg(test)]
mod tests;
