//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-01):
//! a client that nobody registered names itself with an https URL as its `client_id`,
//! and the document at that URL is its metadata (RFC 7591 §2 names). This module is the
//! pure part: which `client_id`s are such URLs ([`metadata_document_url`], §3), and
//! what a fetched document must say to become a [`Client`]
//! ([`client_from_metadata_document`], §4). Fetching, caching and rate limits are the
//! server's (`app/clients/metadata_documents.rs`, through the guarded door).
//!
//! Such a client is never vetted by anyone: it is public (`none`), it gets only
//! [`metadata_document_client_limits`] (the resources open to self-registered clients
//! and their scopes, plus the user scopes), and it always
//! sees the consent page ([`Client::remembers_consent`]).

use super::{Client, ClientRegistration, RecordSource, RegistrationError};
use crate::UnixTime;
use serde::Deserialize;
use url::Url;

/// What a self-registered client may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfRegisteredLimits {
    /// Scopes it may request (the document's `scope`, if any, narrows them).
    pub scopes: Vec<String>,
    /// Resources it may request (RFC 8707); the first is the default `aud`.
    pub audiences: Vec<String>,
}

/// The one place deciding what a client known only by its metadata document may ask
/// for: the resource registry's limits for self-registered clients
/// ([`crate::resource::self_registered_client_limits`]: only resources with
/// `dynamic_clients = true` and their scopes, plus `openid profile email
/// offline_access`). `resources` is the whole registry.
pub fn metadata_document_client_limits(
    resources: &[crate::resource::Resource],
) -> SelfRegisteredLimits {
    let limits = crate::resource::self_registered_client_limits(resources, true);
    SelfRegisteredLimits {
        scopes: limits.scopes,
        audiences: limits.resources,
    }
}

/// Why a client ID metadata document (or its URL) was refused. Never shown on the wire
/// in detail: the client is unknown, and the reason goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataDocumentReason {
    /// The `client_id` is an https URL that breaks a §3 rule (named).
    #[error("the client_id URL {0}")]
    ClientIdUrl(&'static str),
    /// The body is not a JSON object with the expected member types.
    #[error("the document is not a JSON client metadata object: {0}")]
    NotJson(String),
    /// §4.1: the document's `client_id` is not the URL it was fetched from.
    #[error("the document's client_id is not the URL it was fetched from")]
    ClientIdMismatch,
    /// §4.1: a document must not carry a shared secret.
    #[error("the document has {0}, which a metadata document must not carry")]
    SharedSecret(&'static str),
    /// `token_endpoint_auth_method` is absent (RFC 7591 §2 default: a secret) or not
    /// `none`: only public clients are accepted for now.
    #[error("token_endpoint_auth_method is {0:?}; only `none` is accepted")]
    AuthMethod(Option<String>),
    /// `grant_types` has a grant other than authorization_code and refresh_token.
    #[error("grant_types has `{0}`; only authorization_code and refresh_token are accepted")]
    GrantType(String),
    /// `response_types` has a type other than `code`.
    #[error("response_types has `{0}`; only `code` is accepted")]
    ResponseType(String),
    /// `redirect_uris` is missing or empty.
    #[error("redirect_uris is missing or empty")]
    NoRedirectUris,
    /// `client_name` is too long or has control characters.
    #[error(
        "client_name is longer than {MAX_CLIENT_NAME_CHARS} characters or has control characters"
    )]
    ClientName,
    /// `client_uri` or `logo_uri` is not an https URL.
    #[error("{0} is not an https URL")]
    NotHttpsUri(&'static str),
    /// The metadata breaks a rule config clients follow too (redirect URIs, scopes, …).
    #[error(transparent)]
    Registration(RegistrationError),
}

/// §3: the URL of a client ID metadata document, if `client_id` claims to be one
/// (starts with `https://`); `None` for any other client id (looked up as usual).
///
/// # Errors
/// [`MetadataDocumentReason::ClientIdUrl`] when it starts with `https://` but breaks a
/// rule: no path (or only `/`), a fragment, user info, dot segments, or any spelling
/// the URL parser would change (case, default port, percent-encoding), since the
/// document's `client_id` is compared as an exact string (§4.1).
pub fn metadata_document_url(client_id: &str) -> Option<Result<Url, MetadataDocumentReason>> {
    if !client_id.starts_with("https://") {
        return None;
    }
    let bad = |rule| Some(Err(MetadataDocumentReason::ClientIdUrl(rule)));
    let Ok(url) = Url::parse(client_id) else {
        return bad("is not a URL");
    };
    if client_id.split(['?', '#']).next().is_some_and(|path| {
        path.split('/')
            .any(|segment| segment == "." || segment == "..")
    }) {
        return bad("has a dot segment");
    }
    if url.fragment().is_some() {
        return bad("has a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("has user info");
    }
    if url.path() == "/" {
        return bad("has no path");
    }
    if url.as_str() != client_id {
        return bad("is not in canonical form (as a URL parser prints it)");
    }
    Some(Ok(url))
}

/// §4: turns a fetched document into a client: `client_id` equal to `url` (exact
/// string), no shared secret, `token_endpoint_auth_method` `none`, grant types within
/// authorization_code and refresh_token (default authorization_code), `response_types`
/// within `code`, `redirect_uris` present and valid as for any client (https, loopback
/// http, or a private-use scheme, RFC 8252 §7; no wildcard; exact matching later),
/// `client_name` plain text of at most [`MAX_CLIENT_NAME_CHARS`]. Scopes and audiences
/// come from `limits`, narrowed by the document's `scope` if it has one.
///
/// # Errors
/// The first [`MetadataDocumentReason`] met.
pub fn client_from_metadata_document(
    url: &Url,
    unverified_body: &[u8],
    limits: &SelfRegisteredLimits,
    now: UnixTime,
) -> Result<Client, MetadataDocumentReason> {
    let unverified: UnverifiedDocument = serde_json::from_slice(unverified_body)
        .map_err(|e| MetadataDocumentReason::NotJson(e.to_string()))?;
    if unverified.client_id != url.as_str() {
        return Err(MetadataDocumentReason::ClientIdMismatch);
    }
    if unverified.client_secret.is_some() {
        return Err(MetadataDocumentReason::SharedSecret("client_secret"));
    }
    if unverified.client_secret_expires_at.is_some() {
        return Err(MetadataDocumentReason::SharedSecret(
            "client_secret_expires_at",
        ));
    }
    if unverified.token_endpoint_auth_method.as_deref() != Some("none") {
        return Err(MetadataDocumentReason::AuthMethod(
            unverified.token_endpoint_auth_method,
        ));
    }
    let grant_types = unverified
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if let Some(other) = grant_types
        .iter()
        .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(MetadataDocumentReason::GrantType(other.clone()));
    }
    if let Some(other) = unverified
        .response_types
        .iter()
        .flatten()
        .find(|r| r.as_str() != "code")
    {
        return Err(MetadataDocumentReason::ResponseType(other.clone()));
    }
    let redirect_uris = unverified.redirect_uris.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(MetadataDocumentReason::NoRedirectUris);
    }
    if let Some(name) = &unverified.client_name
        && (name.chars().count() > MAX_CLIENT_NAME_CHARS || name.chars().any(char::is_control))
    {
        return Err(MetadataDocumentReason::ClientName);
    }
    for (field, value) in [
        ("client_uri", &unverified.client_uri),
        ("logo_uri", &unverified.logo_uri),
    ] {
        if let Some(value) = value
            && !Url::parse(value).is_ok_and(|u| u.scheme() == "https")
        {
            return Err(MetadataDocumentReason::NotHttpsUri(field));
        }
    }
    // `offline_access` only for a client that may use refresh tokens (OIDC Core §11).
    let refreshes = grant_types.iter().any(|g| g == "refresh_token");
    let allowed = limits
        .scopes
        .iter()
        .filter(|s| refreshes || s.as_str() != "offline_access");
    let scopes = match &unverified.scope {
        None => allowed.cloned().collect(),
        Some(asked) => {
            let asked: Vec<&str> = asked.split(' ').collect();
            allowed
                .filter(|s| asked.contains(&s.as_str()))
                .cloned()
                .collect()
        }
    };
    ClientRegistration {
        client_id: unverified.client_id,
        client_name: unverified.client_name.filter(|n| !n.trim().is_empty()),
        token_endpoint_auth_method: Some("none".to_owned()),
        redirect_uris,
        post_logout_redirect_uris: unverified.post_logout_redirect_uris.unwrap_or_default(),
        grant_types: Some(grant_types),
        scopes,
        audiences: limits.audiences.clone(),
        ..ClientRegistration::default()
    }
    .validate(RecordSource::MetadataDocument, now)
    .map_err(MetadataDocumentReason::Registration)
}

/// The members of a document this server reads (RFC 7591 §2 names); others are
/// ignored. `client_secret*` are read only to refuse them.
#[derive(Debug, Deserialize)]
struct UnverifiedDocument {
    client_id: String,
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    scope: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    client_secret: Option<serde_json::Value>,
    client_secret_expires_at: Option<serde_json::Value>,
}

/// Longest `client_name` shown on the consent page, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://agent.example.com/oauth/client.json";

    fn url() -> Url {
        Url::parse(URL).unwrap()
    }

    fn document() -> serde_json::Value {
        json!({
            "client_id": URL,
            "client_name": "Example Agent",
            "redirect_uris": ["http://127.0.0.1:33418/callback", "https://agent.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "logo_uri": "https://agent.example.com/logo.png"
        })
    }

    fn parse(doc: &serde_json::Value) -> Result<Client, MetadataDocumentReason> {
        let limits = metadata_document_client_limits(&[]);
        client_from_metadata_document(&url(), doc.to_string().as_bytes(), &limits, 7)
    }

    fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
        let mut doc = document();
        doc[key] = value;
        doc
    }

    #[test]
    fn accepts_a_public_client_with_the_self_registered_limits() {
        let client = parse(&document()).unwrap();
        assert_eq!(client.client_id, URL);
        assert_eq!(client.source, RecordSource::MetadataDocument);
        assert!(client.is_public());
        assert!(!client.skip_consent);
        assert!(!client.remembers_consent());
        assert!(client.audiences.is_empty());
        assert_eq!(
            client.scopes,
            ["openid", "profile", "email", "offline_access"]
        );
        let narrowed = parse(&with("scope", json!("openid admin"))).unwrap();
        assert_eq!(narrowed.scopes, ["openid"]);
        // Without the refresh_token grant, no offline_access.
        let no_refresh = parse(&with("grant_types", json!(["authorization_code"]))).unwrap();
        assert_eq!(no_refresh.scopes, ["openid", "profile", "email"]);
    }

    #[test]
    fn client_id_urls_follow_section_3() {
        assert!(metadata_document_url("web").is_none());
        assert!(metadata_document_url("http://agent.example.com/c").is_none());
        assert!(metadata_document_url(URL).unwrap().is_ok());
        assert!(
            metadata_document_url("https://a.example:8443/c?x=1")
                .unwrap()
                .is_ok()
        );
        for bad in [
            "https://agent.example.com",
            "https://agent.example.com/",
            "https://agent.example.com/c#frag",
            "https://user@agent.example.com/c",
            "https://agent.example.com/a/../c",
            "https://agent.example.com/./c",
            "https://Agent.example.com/c",
            "https://agent.example.com:443/c",
        ] {
            assert!(
                matches!(
                    metadata_document_url(bad),
                    Some(Err(MetadataDocumentReason::ClientIdUrl(_)))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_each_broken_rule() {
        let cases = [
            (
                with("client_id", json!("https://other.example.com/c")),
                "mismatch",
            ),
            (with("client_secret", json!("s3cret")), "secret"),
            (with("client_secret_expires_at", json!(0)), "secret"),
            (
                with("token_endpoint_auth_method", json!("client_secret_basic")),
                "auth",
            ),
            (with("grant_types", json!(["client_credentials"])), "grant"),
            (
                with(
                    "grant_types",
                    json!(["urn:ietf:params:oauth:grant-type:device_code"]),
                ),
                "grant",
            ),
            (with("response_types", json!(["token"])), "response"),
            (with("redirect_uris", json!([])), "no redirect"),
            (
                with("redirect_uris", json!(["http://agent.example.com/cb"])),
                "registration",
            ),
            (
                with("redirect_uris", json!(["https://*.example.com/cb"])),
                "registration",
            ),
            (
                with("redirect_uris", json!(["https://agent.example.com/cb#x"])),
                "registration",
            ),
            (with("redirect_uris", json!(["myapp:/cb"])), "registration"),
            (with("client_name", json!("x".repeat(101))), "name"),
            (with("client_name", json!("Evil\u{202e}Corp\n")), "name"),
            (
                with("logo_uri", json!("http://agent.example.com/logo.png")),
                "uri",
            ),
            (with("scope", json!("admin")), "registration"),
            (json!(["not", "an", "object"]), "json"),
        ];
        for (doc, kind) in cases {
            let reason = parse(&doc).unwrap_err();
            let matched = match kind {
                "mismatch" => reason == MetadataDocumentReason::ClientIdMismatch,
                "secret" => matches!(reason, MetadataDocumentReason::SharedSecret(_)),
                "auth" => matches!(reason, MetadataDocumentReason::AuthMethod(_)),
                "grant" => matches!(reason, MetadataDocumentReason::GrantType(_)),
                "response" => matches!(reason, MetadataDocumentReason::ResponseType(_)),
                "no redirect" => reason == MetadataDocumentReason::NoRedirectUris,
                "registration" => matches!(reason, MetadataDocumentReason::Registration(_)),
                "name" => reason == MetadataDocumentReason::ClientName,
                "uri" => matches!(reason, MetadataDocumentReason::NotHttpsUri("logo_uri")),
                _ => matches!(reason, MetadataDocumentReason::NotJson(_)),
            };
            assert!(matched, "{kind}: {reason:?} for {doc}");
        }
        let mut without_method = document();
        without_method
            .as_object_mut()
            .unwrap()
            .remove("token_endpoint_auth_method");
        assert_eq!(
            parse(&without_method).unwrap_err(),
            MetadataDocumentReason::AuthMethod(None)
        );
    }
}
