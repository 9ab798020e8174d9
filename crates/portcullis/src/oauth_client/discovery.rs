//! RFC 8414 §3: finding a server's endpoints from its issuer identifier. The OAuth
//! well-known location first, then OpenID Connect Discovery 1.0 §4; the document's
//! `issuer` must equal the one asked for (RFC 8414 §3.3), or an attacker who can
//! serve metadata could impersonate another issuer (mix-up, RFC 9700 §4.4).

use super::http::{self, secure_url};
use super::terminal::sanitize;
use anyhow::{Result, bail};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// The metadata members the client reads (RFC 8414 §2; OIDC Discovery §3); others are
/// ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// RFC 8414 §2 `issuer`.
    pub issuer: String,
    /// RFC 8414 §2 `authorization_endpoint`.
    pub authorization_endpoint: Option<String>,
    /// RFC 8414 §2 `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// RFC 8628 §4 `device_authorization_endpoint`.
    pub device_authorization_endpoint: Option<String>,
    /// RFC 8414 §2 `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// RFC 9207 §3: authorization responses carry `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 8414 §2 `code_challenge_methods_supported`.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9449 §5.1 `dpop_signing_alg_values_supported`.
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

impl Metadata {
    /// The endpoint named `member` (e.g. `token_endpoint`), which must be advertised
    /// and be https (or http on loopback): credentials are sent there.
    pub fn endpoint(&self, member: &str) -> Result<Url> {
        let value = match member {
            "authorization_endpoint" => &self.authorization_endpoint,
            "token_endpoint" => &self.token_endpoint,
            "device_authorization_endpoint" => &self.device_authorization_endpoint,
            "jwks_uri" => &self.jwks_uri,
            _ => &None,
        };
        let Some(raw) = value else {
            bail!(
                "the issuer {} advertises no {member} in its metadata (does it support this flow?)",
                sanitize(&self.issuer)
            );
        };
        secure_url(member, raw)
    }
}

/// Fetches and checks the metadata of `issuer` (already checked to be a secure URL).
/// The OpenID Connect location is tried when the first answer is not a metadata
/// document (any status other than 2xx, a body that is not JSON or not metadata:
/// servers answer a missing well-known path with 404, 403, 500, or a 200 HTML page);
/// a document for another issuer is an error at once. A failure to get any answer
/// (connection refused, timeout) is an error at once too: both locations are on the
/// same host.
pub async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    issuer_url: &Url,
) -> Result<Metadata> {
    let mut tried = Vec::new();
    for location in well_known_urls(issuer_url) {
        let document = match http::get(client, &location).await?.json() {
            Ok(document) => document,
            Err(why) => {
                tried.push(format!("{location} answered {why}"));
                continue;
            }
        };
        if let Some(stated) = document.get("issuer").and_then(Value::as_str)
            && stated != issuer
        {
            bail!(
                "the metadata at {location} is for the issuer `{}`, not `{}` (RFC 8414 §3.3); if that is the server you mean, pass --issuer {}",
                sanitize(stated),
                sanitize(issuer),
                sanitize(stated)
            );
        }
        match serde_json::from_value::<Metadata>(document) {
            Ok(metadata) => return Ok(metadata),
            Err(e) => tried.push(format!(
                "{location} is not authorization server metadata ({})",
                sanitize(&e.to_string())
            )),
        }
    }
    bail!(
        "no metadata for the issuer {}: {}",
        sanitize(issuer),
        tried.join("; ")
    )
}

/// Where the metadata may be: RFC 8414 §3.1 inserts the well-known path between the
/// host and the issuer's path (its trailing `/` removed); OIDC Discovery §4.1 appends
/// `/.well-known/openid-configuration` to the issuer.
fn well_known_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("{OAUTH_WELL_KNOWN}{path}"));
    oauth.set_query(None);
    let mut openid = issuer.clone();
    openid.set_path(&format!("{path}{OPENID_WELL_KNOWN}"));
    openid.set_query(None);
    vec![oauth, openid]
}

/// RFC 8414 §3 well-known suffix.
const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect Discovery 1.0 §4 well-known suffix.
const OPENID_WELL_KNOWN: &str = "/.well-known/openid-configuration";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_client::mock::{MockServer, Script};
    use axum::Router;
    use axum::response::Html;
    use axum::routing::{MethodRouter, get};
    use serde_json::json;

    const OAUTH: &str = "/.well-known/oauth-authorization-server";
    const OPENID: &str = "/.well-known/openid-configuration";

    /// Discovers the metadata of a mock server whose OAuth location is `first` and
    /// whose OpenID location serves its correct metadata; also returns how many
    /// requests the OpenID location got.
    async fn discover_after(first: MethodRouter) -> (Result<Metadata>, usize) {
        let mut second = None;
        let server = MockServer::start(|base| {
            let metadata = json!({"issuer": base, "token_endpoint": format!("{base}/token")});
            let script = Script::new([(200, metadata)]);
            second = Some(script.clone());
            Router::new()
                .route(OAUTH, first)
                .route(OPENID, script.route())
        })
        .await;
        let url = Url::parse(&server.base).unwrap();
        let outcome = discover(&http::client().unwrap(), &server.base, &url).await;
        (outcome, second.unwrap().requests())
    }

    #[tokio::test]
    async fn any_answer_but_metadata_falls_back_to_openid_configuration() {
        let firsts = [
            (
                "500",
                Script::new([(500, json!({"error": "server_error"}))]).route(),
            ),
            ("403", Script::new([(403, json!(null))]).route()),
            (
                "200 HTML",
                get(|| async { Html("<!doctype html><p>app</p>") }),
            ),
            (
                "200 JSON, not metadata",
                Script::new([(200, json!({"a": 1}))]).route(),
            ),
            ("404", Script::new([(404, json!({}))]).route()),
        ];
        for (what, first) in firsts {
            let (outcome, requests) = discover_after(first).await;
            let metadata = outcome.unwrap_or_else(|e| panic!("{what}: {e:#}"));
            assert!(metadata.token_endpoint.is_some(), "{what}");
            assert_eq!(requests, 1, "{what}");
        }
    }

    #[tokio::test]
    async fn metadata_for_another_issuer_fails_without_falling_back() {
        let other = json!({"issuer": "https://evil.example.com\u{1b}]0;owned\u{7}\u{9b}2J"});
        let (outcome, requests) = discover_after(Script::new([(200, other)]).route()).await;
        let message = format!("{:#}", outcome.err().unwrap());
        assert!(message.contains("RFC 8414 §3.3"), "{message}");
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert_eq!(requests, 0, "a mismatch is not a reason to look elsewhere");
    }

    #[tokio::test]
    async fn no_metadata_anywhere_names_both_answers() {
        let server = MockServer::start(|_| {
            Router::new()
                .route(OAUTH, Script::new([(500, json!({}))]).route())
                .route(OPENID, get(|| async { "not json" }))
        })
        .await;
        let url = Url::parse(&server.base).unwrap();
        let message = discover(&http::client().unwrap(), &server.base, &url)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("HTTP 500"), "{message}");
        assert!(message.contains("not JSON"), "{message}");
    }

    fn urls(issuer: &str) -> Vec<String> {
        well_known_urls(&Url::parse(issuer).unwrap())
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn rfc8414_section_3_1_inserts_the_well_known_path_before_the_issuer_path() {
        assert_eq!(
            urls("https://example.com/issuer1"),
            [
                "https://example.com/.well-known/oauth-authorization-server/issuer1",
                "https://example.com/issuer1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("http://127.0.0.1:8080"),
            [
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server",
                "http://127.0.0.1:8080/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://example.com/"),
            [
                "https://example.com/.well-known/oauth-authorization-server",
                "https://example.com/.well-known/openid-configuration",
            ]
        );
    }
}
