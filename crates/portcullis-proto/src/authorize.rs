//! Authorization request parameters (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2,
//! OIDC Core §3.1.2.1) and the names of the login and consent form fields.

use serde::{Deserialize, Serialize};

/// The parameters of an authorization request, from the query (GET) or the form body
/// (POST, OIDC Core §3.1.2.1). Every member is optional on the wire; empty values are
/// dropped before this is built (RFC 6749 §3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// RFC 6749 §3.1.1 `response_type`: only `code` is supported.
    pub response_type: Option<String>,
    /// RFC 6749 §2.2 `client_id`.
    pub client_id: Option<String>,
    /// RFC 6749 §3.1.2 `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// RFC 6749 §3.3 space-delimited `scope`.
    pub scope: Option<String>,
    /// RFC 6749 §4.1.1 `state`, returned unchanged.
    pub state: Option<String>,
    /// RFC 7636 §4.3 `code_challenge`.
    pub code_challenge: Option<String>,
    /// RFC 7636 §4.3 `code_challenge_method`: only `S256`.
    pub code_challenge_method: Option<String>,
    /// RFC 8707 §2 `resource`; may repeat.
    #[serde(default)]
    pub resource: Vec<String>,
    /// OIDC Core §3.1.2.1 `nonce`, copied into the id_token.
    pub nonce: Option<String>,
    /// OIDC Core §3.1.2.1 `prompt`: space-delimited `none`, `login`, `consent`.
    pub prompt: Option<String>,
    /// OIDC Core §3.1.2.1 `max_age` in seconds.
    pub max_age: Option<String>,
    /// OIDC Core §3.1.2.1 `login_hint`: pre-fills the username.
    pub login_hint: Option<String>,
    /// OAuth 2.0 Multiple Response Types §2.1 `response_mode`: only `query`.
    pub response_mode: Option<String>,
    /// OIDC Core §6.1 `request` (request objects): not supported.
    pub request: Option<String>,
    /// OIDC Core §6.2 `request_uri`: not supported.
    pub request_uri: Option<String>,
    /// RFC 9449 §10 `dpop_jkt`: the JWK SHA-256 thumbprint (RFC 7638) of the DPoP key
    /// the code is bound to.
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    /// Every parameter this type reads; others are ignored (RFC 6749 §3.1).
    pub const PARAMETERS: &'static [&'static str] = &[
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "nonce",
        "prompt",
        "max_age",
        "login_hint",
        "response_mode",
        "request",
        "request_uri",
        "dpop_jkt",
    ];

    /// Parameters that may repeat (RFC 8707 §2); any other repeated is
    /// `invalid_request` (RFC 6749 §3.1).
    pub const MULTI_VALUED: &'static [&'static str] = &["resource"];
}

/// Form field names of the consent page (a contract for tests and automation).
pub mod consent_form {
    /// The submit buttons' name.
    pub const DECISION: &str = "decision";
    /// The value of the approve button.
    pub const APPROVE: &str = "approve";
    /// The value of the deny button.
    pub const DENY: &str = "deny";
    /// The value of the "Not you? Switch account" button: ends the session and returns
    /// to the login page of the same request.
    pub const SWITCH_ACCOUNT: &str = "switch_account";
}
