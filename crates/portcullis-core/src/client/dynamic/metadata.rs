//! RFC 7591 §2: the client metadata of a registration request (and of an RFC 7592 §2.2
//! update), checked as strictly as a configured client's ([`ClientRegistration::validate`])
//! and narrowed to what a self-registered client may have
//! ([`self_registered_client_limits`]). Members this server does not know are ignored
//! (RFC 7591 §2: "MUST ignore any client metadata … that it does not understand").

use crate::UnixTime;
use crate::client::metadata_document::MAX_CLIENT_NAME_CHARS;
use crate::client::{
    Client, ClientProfile, ClientRegistration, ClientSecrets, RecordSource, RegistrationError,
};
use crate::resource::{Resource, self_registered_client_limits};
use crate::scope::is_oidc_scope;
use portcullis_proto::grant::{GrantType, TokenEndpointAuthMethod};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

/// Why registration metadata was refused (RFC 7591 §3.2.2): `invalid_redirect_uri`
/// for [`Self::RedirectUri`], `invalid_client_metadata` for the others. The text says
/// which member and what is wrong; it is the wire `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataReason {
    /// A `redirect_uris` entry is not https, loopback http or a private-use scheme
    /// (RFC 8252 §7), has a fragment or a wildcard, or the list is missing.
    #[error("{0}")]
    RedirectUri(String),
    /// Another member is malformed or asks for what this server does not give.
    #[error("{field}: {problem}")]
    Metadata {
        /// The member.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Metadata that passed the checks, before the server gives it an id and a secret.
#[derive(Debug, Clone)]
pub struct CheckedMetadata {
    registration: ClientRegistration,
    /// What the answers repeat (RFC 7591 §3.2.1): the members as registered, with the
    /// defaults applied and `scope` as granted.
    pub metadata: Map<String, Value>,
}

impl CheckedMetadata {
    /// Whether the client authenticates with a shared secret (`client_secret_basic` or
    /// `client_secret_post`): the server issues one.
    pub fn needs_secret(&self) -> bool {
        matches!(
            self.registration.token_endpoint_auth_method.as_deref(),
            Some("client_secret_basic" | "client_secret_post")
        )
    }

    /// Whether the client asks for the client credentials grant (RFC 6749 §4.4): tokens
    /// with no user behind them.
    pub fn uses_client_credentials(&self) -> bool {
        self.registration
            .grant_types
            .iter()
            .flatten()
            .any(|g| g == "client_credentials")
    }

    /// The client `client_id` with `secrets` (for [`Self::needs_secret`]), as stored,
    /// held to `profile` (`[authorization] default_profile`: under `fapi2` a
    /// registration must meet FAPI 2.0's client rules, [`crate::client::profile`]).
    ///
    /// # Errors
    /// A [`MetadataReason`] for what only the full client check finds (e.g.
    /// client_credentials with no resource open to dynamic clients, or a public
    /// client under `fapi2`).
    pub fn into_client(
        self,
        client_id: &str,
        secrets: Option<ClientSecrets>,
        profile: ClientProfile,
        now: UnixTime,
    ) -> Result<Client, MetadataReason> {
        ClientRegistration {
            client_id: client_id.to_owned(),
            secret_digest: secrets,
            profile: Some(profile.as_str().to_owned()),
            ..self.registration
        }
        .validate(RecordSource::Dynamic, now)
        .map_err(reason_of)
    }
}

/// Checks `unverified` (the request body as JSON) against the registry `resources`.
///
/// Rules: `token_endpoint_auth_method` (default `client_secret_basic`, RFC 7591 §2) is
/// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt` with inline
/// `jwks` (`jwks_uri` is not supported); `grant_types` (default `authorization_code`)
/// among authorization_code, refresh_token, client_credentials and the device grant,
/// never implicit or password; `response_types` (default `code`) only `code`, and only
/// with authorization_code (RFC 7591 §2.1); `scope` (default: everything allowed) within
/// the scopes of resources open to dynamic clients plus `openid profile email` (and
/// `offline_access` with refresh_token), user scopes only with a user grant;
/// `client_name` plain text; `client_uri`, `logo_uri`, `policy_uri`, `tos_uri` https;
/// `contacts` at most [`MAX_CONTACTS`] short strings.
///
/// # Errors
/// The first [`MetadataReason`] met.
pub fn check_metadata(
    unverified: &Value,
    resources: &[Resource],
) -> Result<CheckedMetadata, MetadataReason> {
    let m: UnverifiedMetadata = serde_json::from_value(unverified.clone()).map_err(|e| {
        bad(
            "metadata",
            format!("is not a JSON object of RFC 7591 client metadata ({e})"),
        )
    })?;
    if m.jwks_uri.is_some() {
        return Err(bad(
            "jwks_uri",
            "is not supported; send the public keys inline as `jwks`".into(),
        ));
    }
    let method = m
        .token_endpoint_auth_method
        .clone()
        .unwrap_or_else(|| "client_secret_basic".to_owned());
    if TokenEndpointAuthMethod::parse(&method).is_none() {
        return Err(bad(
            "token_endpoint_auth_method",
            format!(
                "`{method}` is not supported; use none, client_secret_basic, client_secret_post or private_key_jwt"
            ),
        ));
    }
    let grants = grant_types(&m)?;
    let response_types = response_types(&m, &grants)?;
    let scopes = granted_scopes(m.scope.as_deref(), &grants, resources)?;
    check_texts(&m)?;
    let redirect_uris = m.redirect_uris.clone().unwrap_or_default();
    let audiences = self_registered_client_limits(resources, false).resources;
    let metadata = echo(&m, &method, &grants, &response_types, &scopes);
    let registration = ClientRegistration {
        client_name: m.client_name.filter(|n| !n.trim().is_empty()),
        token_endpoint_auth_method: Some(method),
        jwks: m.jwks,
        redirect_uris,
        post_logout_redirect_uris: m.post_logout_redirect_uris.unwrap_or_default(),
        grant_types: Some(grants.iter().map(|g| g.as_str().to_owned()).collect()),
        scopes,
        audiences,
        ..ClientRegistration::default()
    };
    Ok(CheckedMetadata {
        registration,
        metadata,
    })
}

/// Most `contacts` entries accepted.
pub const MAX_CONTACTS: usize = 10;
/// Longest `contacts` entry, in characters (an e-mail address is at most 254).
const MAX_CONTACT_CHARS: usize = 254;

/// The members read (RFC 7591 §2 names). `client_id` and `client_secret` are read by
/// the RFC 7592 update, not here.
#[derive(Debug, Deserialize)]
struct UnverifiedMetadata {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
    contacts: Option<Vec<String>>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    software_id: Option<String>,
    software_version: Option<String>,
}

fn bad(field: &'static str, problem: String) -> MetadataReason {
    MetadataReason::Metadata { field, problem }
}

/// The config-client check's refusal as an RFC 7591 reason: `redirect_uris` problems
/// are `invalid_redirect_uri`.
fn reason_of(error: RegistrationError) -> MetadataReason {
    match error.field {
        "redirect_uris" => MetadataReason::RedirectUri(format!("redirect_uris {}", error.problem)),
        field => bad(field, error.problem),
    }
}

fn grant_types(m: &UnverifiedMetadata) -> Result<Vec<GrantType>, MetadataReason> {
    let names = m
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    let mut grants = Vec::new();
    for name in &names {
        let Some(grant) = GrantType::parse(name) else {
            return Err(bad(
                "grant_types",
                format!(
                    "`{name}` is not supported; use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code (implicit and password never)"
                ),
            ));
        };
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

/// RFC 7591 §2.1: `code` goes with authorization_code and nothing else is supported.
fn response_types(
    m: &UnverifiedMetadata,
    grants: &[GrantType],
) -> Result<Vec<String>, MetadataReason> {
    let code_grant = grants.contains(&GrantType::AuthorizationCode);
    let types = m.response_types.clone().unwrap_or_else(|| {
        if code_grant {
            vec!["code".into()]
        } else {
            vec![]
        }
    });
    if let Some(other) = types.iter().find(|t| t.as_str() != "code") {
        return Err(bad(
            "response_types",
            format!("`{other}` is not supported; only `code` (no implicit flow)"),
        ));
    }
    if code_grant != types.iter().any(|t| t == "code") {
        return Err(bad(
            "response_types",
            "must be [\"code\"] exactly when grant_types has authorization_code (RFC 7591 §2.1)"
                .into(),
        ));
    }
    Ok(types)
}

/// The scopes given: the asked ones if all are allowed, else every allowed one. User
/// scopes only with a user grant, `offline_access` only with refresh_token.
fn granted_scopes(
    asked: Option<&str>,
    grants: &[GrantType],
    resources: &[Resource],
) -> Result<Vec<String>, MetadataReason> {
    let refreshes = grants.contains(&GrantType::RefreshToken);
    let user_grant = grants
        .iter()
        .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::DeviceCode));
    let allowed: Vec<String> = self_registered_client_limits(resources, refreshes)
        .scopes
        .into_iter()
        .filter(|s| user_grant || !(is_oidc_scope(s) || s == "offline_access"))
        .collect();
    let Some(asked) = asked else {
        return Ok(allowed);
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in asked.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.iter().any(|a| a == scope) {
            return Err(bad(
                "scope",
                format!(
                    "`{scope}` is not available to dynamically registered clients (only the scopes of resources open to them, and user scopes with a user grant)"
                ),
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}

/// The human-readable members: stored and shown as text only.
fn check_texts(m: &UnverifiedMetadata) -> Result<(), MetadataReason> {
    if let Some(name) = &m.client_name
        && (name.chars().count() > MAX_CLIENT_NAME_CHARS || name.chars().any(char::is_control))
    {
        return Err(bad(
            "client_name",
            format!("is longer than {MAX_CLIENT_NAME_CHARS} characters or has control characters"),
        ));
    }
    for (field, value) in [
        ("client_uri", &m.client_uri),
        ("logo_uri", &m.logo_uri),
        ("policy_uri", &m.policy_uri),
        ("tos_uri", &m.tos_uri),
    ] {
        if let Some(value) = value
            && !Url::parse(value).is_ok_and(|u| u.scheme() == "https")
        {
            return Err(bad(field, "is not an https URL".into()));
        }
    }
    let contacts = m.contacts.as_deref().unwrap_or_default();
    if contacts.len() > MAX_CONTACTS
        || contacts
            .iter()
            .any(|c| c.chars().count() > MAX_CONTACT_CHARS || c.chars().any(char::is_control))
    {
        return Err(bad(
            "contacts",
            format!(
                "has more than {MAX_CONTACTS} entries, or one longer than {MAX_CONTACT_CHARS} characters or with control characters"
            ),
        ));
    }
    for (field, value) in [
        ("software_id", &m.software_id),
        ("software_version", &m.software_version),
    ] {
        if value.as_ref().is_some_and(|v| {
            v.chars().count() > MAX_CLIENT_NAME_CHARS || v.chars().any(char::is_control)
        }) {
            return Err(bad(field, "is too long or has control characters".into()));
        }
    }
    Ok(())
}

/// The registered metadata as the answers repeat it.
fn echo(
    m: &UnverifiedMetadata,
    method: &str,
    grants: &[GrantType],
    response_types: &[String],
    scopes: &[String],
) -> Map<String, Value> {
    let mut out = Map::new();
    let grants: Vec<&str> = grants.iter().map(|g| g.as_str()).collect();
    out.insert("token_endpoint_auth_method".into(), json!(method));
    out.insert("grant_types".into(), json!(grants));
    out.insert("response_types".into(), json!(response_types));
    out.insert("scope".into(), json!(scopes.join(" ")));
    out.insert(
        "redirect_uris".into(),
        json!(m.redirect_uris.clone().unwrap_or_default()),
    );
    let optional = [
        ("client_name", m.client_name.as_ref().map(|v| json!(v))),
        ("client_uri", m.client_uri.as_ref().map(|v| json!(v))),
        ("logo_uri", m.logo_uri.as_ref().map(|v| json!(v))),
        ("policy_uri", m.policy_uri.as_ref().map(|v| json!(v))),
        ("tos_uri", m.tos_uri.as_ref().map(|v| json!(v))),
        ("contacts", m.contacts.as_ref().map(|v| json!(v))),
        ("jwks", m.jwks.clone()),
        (
            "post_logout_redirect_uris",
            m.post_logout_redirect_uris.as_ref().map(|v| json!(v)),
        ),
        ("software_id", m.software_id.as_ref().map(|v| json!(v))),
        (
            "software_version",
            m.software_version.as_ref().map(|v| json!(v)),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out.insert(key.into(), value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_resource() -> Resource {
        Resource {
            identifier: "https://mcp.example.com/mcp".into(),
            name: None,
            scopes: vec!["tools:read".into()],
            default_scopes: vec!["tools:read".into()],
            dynamic_clients: true,
            scope_descriptions: Default::default(),
            source: RecordSource::Config,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn an_mcp_sdk_registration_is_a_public_code_client() {
        let body = json!({
            "redirect_uris": ["http://localhost:3000/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "MCP client",
        });
        let checked = check_metadata(&body, &[open_resource()]).unwrap();
        assert!(!checked.needs_secret());
        let client = checked
            .into_client("dcr-abc", None, ClientProfile::Default, 1)
            .unwrap();
        assert_eq!(client.source, RecordSource::Dynamic);
        assert!(!client.skip_consent);
        assert!(client.scopes.contains(&"tools:read".to_owned()));
        assert!(client.scopes.contains(&"offline_access".to_owned()));
        assert_eq!(
            client.audiences,
            vec!["https://mcp.example.com/mcp".to_owned()]
        );
    }

    #[test]
    fn rejects_the_implicit_response_type_and_password_grant() {
        let token = json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]});
        assert!(matches!(
            check_metadata(&token, &[]),
            Err(MetadataReason::Metadata {
                field: "response_types",
                ..
            })
        ));
        let password = json!({"grant_types": ["password"]});
        assert!(matches!(
            check_metadata(&password, &[]),
            Err(MetadataReason::Metadata {
                field: "grant_types",
                ..
            })
        ));
    }

    #[test]
    fn rejects_a_scope_of_a_closed_resource() {
        let mut closed = open_resource();
        closed.dynamic_clients = false;
        let body = json!({"redirect_uris": ["https://a.example/cb"], "scope": "tools:read"});
        assert!(matches!(
            check_metadata(&body, &[closed]),
            Err(MetadataReason::Metadata { field: "scope", .. })
        ));
    }
}
