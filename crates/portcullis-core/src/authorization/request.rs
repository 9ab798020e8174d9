//! RFC 6749 §4.1.1 / OIDC Core §3.1.2.1–3.1.2.2: validating an authorization request.
//!
//! Order matters (RFC 6749 §4.1.2.1): the client and the redirect URI are checked
//! first, and if either is wrong the user sees an error page and is never redirected
//! (an open redirector otherwise). Every later error is sent to the verified redirect
//! URI with `state` and `iss` (RFC 9207), built by [`RedirectError::location`].
//!
//! What passes is a [`ValidatedAuthorizationRequest`], a type no other code can build.
//! The pending-request row keeps it in its stored form ([`StoredAuthorizationRequest`]),
//! which comes back only through [`ValidatedAuthorizationRequest::from_stored`].

pub use super::response::{RedirectError, response_uri, success_location};
pub use stored::StoredAuthorizationRequest;

use crate::client::Client;
use crate::client::authentication::ClientDirectory;
use crate::client::check_resource_uri;
use crate::client::redirect_uri::{RedirectUriReason, match_redirect_uri};
use crate::dpop::is_jkt;
use crate::pkce::{CodeChallenge, PkceReason, parse_challenge};
use crate::resource::{
    Resource, default_scopes, effective_resources, registered_resources, scope_outside_resources,
};
use crate::scope::parse_scope;
use crate::store::StoreError;
use portcullis_proto::authorize::AuthorizationRequest;
use portcullis_proto::error::echo;
use portcullis_proto::grant::GrantType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Validates an authorization request.
///
/// Rules, in order:
/// 1. `client_id` names a registered client, and `redirect_uri` matches one of its
///    URIs ([`match_redirect_uri`]); otherwise [`AuthorizationError::ErrorPage`].
/// 2. From here every failure is an [`AuthorizationError::Redirect`] carrying `state`
///    unchanged (even when other parameters, or `state` itself, are bad: the client
///    needs it to match the answer to its request).
/// 3. `request` / `request_uri` (OIDC Core §6): not supported.
/// 4. `response_type` exactly `code` (OAuth 2.1 §4.1.1: no implicit or hybrid);
///    `response_mode` absent or `query`.
/// 5. The client is registered for `authorization_code` (`unauthorized_client`).
/// 6. `resource` (RFC 8707 §2): absolute URIs without a fragment, each one of the
///    client's audiences (`invalid_target`); duplicates dropped, order kept.
/// 7. `scope`: scope-tokens, each allowed for the client (`invalid_scope`). Without
///    `scope`, the default (RFC 6749 §3.3, [`default_scopes`]): the requested
///    registered resources' `default_scopes`, else the client's. With no default, a
///    scope is required (RFC 6749 §3.3 lets the server refuse a missing scope): an
///    empty request would otherwise get a code, and a token with the user's `sub` and
///    claims, without ever showing the consent page. When every requested resource is
///    registered, each scope must be one they define or an OpenID Connect scope
///    ([`scope_outside_resources`], `invalid_scope`).
/// 8. PKCE (RFC 7636, RFC 9700 §2.1.1): `S256` only. A public client, and a client of
///    the FAPI 2.0 profile (§5.3.2.2 item 5), must send a challenge; a confidential client without one is accepted only for an OpenID
///    request with a `nonce` (RFC 9700 §2.1.1 allows the nonce as the injection
///    countermeasure: it binds the id_token to the client's session).
/// 9. OIDC `prompt` (`none`, `login`, `consent`; `none` alone), `max_age` (a
///    non-negative integer), and lengths: `state` and `nonce` at most 2048 bytes,
///    `login_hint` at most 255 characters (they are stored with the request).
///
/// # Errors
/// An [`AuthorizationError`].
pub async fn validate(
    directory: &dyn ClientDirectory,
    params: AuthorizationRequest,
) -> Result<(Arc<Client>, ValidatedAuthorizationRequest), AuthorizationError> {
    let Some(client_id) = params.client_id.as_deref() else {
        return Err(ErrorPageReason::MissingClientId.into());
    };
    let client = match directory.find_client(client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(ErrorPageReason::UnknownClient(echo(client_id)).into()),
        Err(e) => return Err(ErrorPageReason::Store(e).into()),
    };
    let (redirect_uri, redirect_uri_sent) =
        match_redirect_uri(&client, params.redirect_uri.as_deref())
            .map_err(ErrorPageReason::RedirectUri)?;
    // The redirect URI is now verified: errors go back to the client, with `state`
    // unless it is itself refused (why: a 60 KB `state` must not be echoed; issue 16).
    let state = params
        .state
        .clone()
        .filter(|state| is_returnable_state(state));
    let redirect = |reason| {
        AuthorizationError::Redirect(RedirectError {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            reason,
        })
    };
    // Only the client's own audiences are looked up: the number of lookups is bounded
    // by its registration, not by the request.
    let audiences = effective_resources(&client, &params.resource);
    let registered = registered_resources(directory, &audiences)
        .await
        .map_err(|e| redirect(AuthorizeReason::for_store_error(&e)))?;
    let request = validate_redirectable(
        &client,
        &registered,
        params,
        redirect_uri.clone(),
        redirect_uri_sent,
    )
    .map_err(redirect)?;
    Ok((client, request))
}

/// Why an authorization request failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    /// Show an HTML error page; never redirect (the redirect URI is not verified).
    #[error(transparent)]
    ErrorPage(ErrorPageReason),
    /// Redirect to the verified redirect URI with the error ([`RedirectError::location`]).
    #[error(transparent)]
    Redirect(RedirectError),
}

impl From<ErrorPageReason> for AuthorizationError {
    fn from(reason: ErrorPageReason) -> Self {
        Self::ErrorPage(reason)
    }
}

/// Failures shown on an error page (RFC 6749 §4.1.2.1: "MUST NOT automatically redirect
/// the user-agent to the invalid redirection URI"). The texts complete the sentence
/// "The application sent an invalid request: …".
#[derive(Debug, thiserror::Error)]
pub enum ErrorPageReason {
    /// No `client_id`.
    #[error("the client_id parameter is missing")]
    MissingClientId,
    /// No client with this id (bounded with [`echo`]).
    #[error("no application is registered with client_id `{0}`")]
    UnknownClient(String),
    /// The redirect URI is missing, or not registered.
    #[error(transparent)]
    RedirectUri(RedirectUriReason),
    /// The client could not be looked up.
    #[error("storage failed: {0}")]
    Store(StoreError),
    /// RFC 9126 §4: the `request_uri` of a pushed request cannot be redeemed.
    #[error(transparent)]
    PushedRequest(crate::authorization::pushed::RequestUriReason),
}

/// Why an authorization request failed after its redirect URI was verified: sent to
/// the client as `error` (from [`crate::error_code`]) and `error_description`.
/// Quoted values are bounded with [`echo`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeReason {
    /// The parameters could not be read (e.g. a repeated parameter); the text says why.
    #[error("{0}")]
    Malformed(String),
    /// OIDC Core §6.1 `request` (request objects).
    #[error("the request parameter (request objects) is not supported")]
    RequestObject,
    /// OIDC Core §6.2 `request_uri` (a URL: request objects by reference).
    #[error("the request_uri parameter is not supported")]
    RequestUri,
    /// RFC 9126 §6: the client (`require_pushed_authorization_requests`) or the server
    /// (`[authorization] require_pushed_authorization_requests`) accepts authorization
    /// requests only through the pushed authorization request endpoint.
    #[error(
        "this application must push its authorization requests to the pushed authorization request endpoint first (RFC 9126) and send only client_id and request_uri here"
    )]
    PushedAuthorizationRequired,
    /// No `response_type`.
    #[error("the response_type parameter is missing; use response_type=code")]
    MissingResponseType,
    /// Anything but `code`: implicit and hybrid flows are not supported (OAuth 2.1).
    #[error("response_type `{0}` is not supported; use response_type=code")]
    UnsupportedResponseType(String),
    /// Anything but `query` (OAuth 2.0 Multiple Response Type Encoding Practices §2.1).
    #[error("response_mode `{0}` is not supported; omit it or use query")]
    UnsupportedResponseMode(String),
    /// The client is not registered for the authorization code grant.
    #[error("this application is not registered for the authorization_code grant")]
    GrantNotAllowed,
    /// RFC 6749 §3.3: not a scope-token.
    #[error(
        "scope `{0}` is malformed (RFC 6749 section 3.3: visible ASCII, separated by single spaces)"
    )]
    MalformedScope(String),
    /// The scope is not among the client's allowed scopes.
    #[error("scope `{0}` is not allowed for this application")]
    ScopeNotAllowed(String),
    /// No `scope` (or an empty one), and no default: neither a requested registered
    /// resource nor the client has `default_scopes` (RFC 6749 §3.3).
    #[error("scope is required: request at least one scope, e.g. openid")]
    MissingScope,
    /// A scope that none of the requested registered resources defines
    /// ([`crate::resource::scope_outside_resources`]).
    #[error("scope `{0}` is not defined by the requested resource")]
    ScopeNotForResource(String),
    /// `code_challenge` / `code_challenge_method` problems.
    #[error(transparent)]
    Pkce(PkceReason),
    /// A public client without `code_challenge` (RFC 7636 §4.4.1, OAuth 2.1 §4.1.1).
    #[error("code_challenge is required (PKCE with code_challenge_method=S256)")]
    PkceRequired,
    /// A confidential client without PKCE, outside an OpenID request with a nonce.
    #[error(
        "code_challenge is required (PKCE with S256), unless this is an OpenID Connect request with a nonce"
    )]
    PkceOrNonceRequired,
    /// RFC 8707 §2: not an absolute URI, or has a fragment.
    #[error("resource `{0}` must be an absolute URI without a fragment (RFC 8707 section 2)")]
    MalformedResource(String),
    /// The resource is not among the client's audiences.
    #[error("resource `{0}` is not an audience this application may request")]
    ResourceNotAllowed(String),
    /// `state` longer than [`MAX_STATE_BYTES`].
    #[error("state is longer than 2048 bytes")]
    StateTooLong,
    /// `state` holds an ASCII control character (RFC 6749 Appendix A.5: `state` is
    /// `1*VSCHAR`).
    #[error("state contains a control character (RFC 6749 appendix A.5: state is VSCHAR)")]
    StateHasControlCharacter,
    /// `nonce` longer than [`MAX_NONCE_BYTES`].
    #[error("nonce is longer than 2048 bytes")]
    NonceTooLong,
    /// `nonce` holds an ASCII control character.
    #[error("nonce contains a control character")]
    NonceHasControlCharacter,
    /// `login_hint` longer than [`MAX_LOGIN_HINT_CHARS`].
    #[error("login_hint is longer than 255 characters")]
    LoginHintTooLong,
    /// RFC 9449 §10: `dpop_jkt` is not a base64url SHA-256 JWK thumbprint.
    #[error(
        "dpop_jkt `{0}` is not a JWK SHA-256 thumbprint (RFC 9449 section 10: 43 base64url characters)"
    )]
    MalformedDpopJkt(String),
    /// A `prompt` value other than `none`, `login`, `consent` (e.g. `select_account`).
    #[error("prompt `{0}` is not supported; supported: none, login, consent")]
    UnsupportedPrompt(String),
    /// `prompt` with an empty value between spaces.
    #[error("prompt is malformed: values are separated by single spaces")]
    MalformedPrompt,
    /// OIDC Core §3.1.2.1: `none` with any other value.
    #[error("prompt=none cannot be combined with other prompt values")]
    PromptNoneWithOthers,
    /// OIDC Core §3.1.2.1: not a non-negative integer.
    #[error("max_age `{0}` is not a non-negative integer number of seconds")]
    MalformedMaxAge(String),
    /// OIDC Core §3.1.2.6: `prompt=none`, but the user must log in.
    #[error("the user must log in, and prompt=none forbids showing the login page")]
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none`, but the user must approve scopes.
    #[error("the user must approve the request, and prompt=none forbids showing the consent page")]
    ConsentRequired,
    /// RFC 6749 §4.1.2.1: the user denied the request.
    #[error("the user denied the request")]
    AccessDenied,
    /// RFC 6749 §4.1.2.1: the server failed (details in the log only).
    #[error("the server could not complete the request")]
    ServerError,
    /// RFC 6749 §4.1.2.1: the database is unreachable; retry later.
    #[error("the server is temporarily unable to complete the request; retry later")]
    TemporarilyUnavailable,
}

impl AuthorizeReason {
    /// The reason to redirect with when the database fails after the redirect URI was
    /// verified (RFC 6749 §4.1.2.1): `temporarily_unavailable` when it is unreachable,
    /// `server_error` otherwise.
    pub fn for_store_error(error: &StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::TemporarilyUnavailable,
            _ => Self::ServerError,
        }
    }
}

/// OIDC Core §3.1.2.1 `prompt` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: show no page; fail with `login_required` / `consent_required` instead.
    pub none: bool,
    /// `login`: authenticate again even with a session.
    pub login: bool,
    /// `consent`: show the consent page even if approved before.
    pub consent: bool,
}

impl Prompt {
    /// Parses the space-delimited `prompt` parameter.
    ///
    /// # Errors
    /// [`AuthorizeReason::UnsupportedPrompt`] (e.g. `select_account`: there is one
    /// account per browser session), [`AuthorizeReason::MalformedPrompt`],
    /// [`AuthorizeReason::PromptNoneWithOthers`].
    pub fn parse(value: &str) -> Result<Self, AuthorizeReason> {
        let mut prompt = Self::default();
        let mut others = false;
        for token in value.split(' ') {
            match token {
                "none" => prompt.none = true,
                "login" => {
                    prompt.login = true;
                    others = true;
                }
                "consent" => {
                    prompt.consent = true;
                    others = true;
                }
                "" => return Err(AuthorizeReason::MalformedPrompt),
                other => return Err(AuthorizeReason::UnsupportedPrompt(echo(other))),
            }
        }
        if prompt.none && others {
            return Err(AuthorizeReason::PromptNoneWithOthers);
        }
        Ok(prompt)
    }
}

/// An authorization request that passed every check (CONVENTIONS §4: a proof type).
///
/// Only [`validate`] builds one from the wire,
/// [`crate::device::authorization::pending_request`] from a device authorization
/// checked at its own endpoint, and [`Self::from_stored`] from its stored form
/// ([`StoredAuthorizationRequest`], the pending-request row) after checking it again.
/// The fields are private and it has no `Deserialize`: no other code can make one up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedAuthorizationRequest {
    client_id: String,
    redirect_uri: String,
    redirect_uri_sent: bool,
    scopes: BTreeSet<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<CodeChallenge>,
    resources: Vec<String>,
    prompt: Prompt,
    max_age: Option<i64>,
    login_hint: Option<String>,
    dpop_jkt: Option<String>,
}

impl ValidatedAuthorizationRequest {
    /// The request the pending-authorization row keeps while the user decides a device
    /// authorization (RFC 8628 §3.3), whose client, scopes and resources the device
    /// authorization endpoint checked. `redirect_uri` is `""` and `redirect_uri_sent`
    /// `false` (never used: a device request ends on a page, not a redirect); no
    /// `state`, `nonce` or PKCE challenge; default `prompt`, no `max_age`, no
    /// `login_hint`.
    pub(crate) fn for_device_authorization(
        client_id: String,
        scopes: BTreeSet<String>,
        resources: Vec<String>,
    ) -> Self {
        Self {
            client_id,
            redirect_uri: String::new(),
            redirect_uri_sent: false,
            scopes,
            state: None,
            nonce: None,
            code_challenge: None,
            resources,
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            dpop_jkt: None,
        }
    }

    /// The client.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Where the response goes: the URI the client sent (for a native client's
    /// loopback URI, with the port it sent), or its only registered URI.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Whether `redirect_uri` was in the request (then the token request must repeat
    /// it, RFC 6749 §4.1.3).
    pub fn redirect_uri_sent(&self) -> bool {
        self.redirect_uri_sent
    }

    /// Requested scopes (⊆ the client's scopes).
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }

    /// `state`, returned unchanged (at most [`MAX_STATE_BYTES`]).
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// OIDC `nonce` (at most [`MAX_NONCE_BYTES`]).
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// RFC 7636 `code_challenge` (method S256), if sent.
    pub fn code_challenge(&self) -> Option<&CodeChallenge> {
        self.code_challenge.as_ref()
    }

    /// RFC 8707 resources (⊆ the client's audiences), in request order, no duplicates.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// OIDC `prompt`.
    pub fn prompt(&self) -> Prompt {
        self.prompt
    }

    /// OIDC `max_age` in seconds (non-negative).
    pub fn max_age(&self) -> Option<i64> {
        self.max_age
    }

    /// OIDC `login_hint`, to pre-fill the username (at most [`MAX_LOGIN_HINT_CHARS`]).
    pub fn login_hint(&self) -> Option<&str> {
        self.login_hint.as_deref()
    }

    /// RFC 9449 §10 `dpop_jkt`: the DPoP key the code is bound to.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    /// Whether this is an OpenID Connect request (`openid` requested).
    pub fn is_openid(&self) -> bool {
        self.scopes.contains("openid")
    }
}

/// Rules 3–9 of [`validate`], once the client and redirect URI are known (also the
/// pushed authorization request endpoint's, RFC 9126 §2.1).
pub(crate) fn validate_redirectable(
    client: &Client,
    registered: &[Arc<Resource>],
    params: AuthorizationRequest,
    redirect_uri: String,
    redirect_uri_sent: bool,
) -> Result<ValidatedAuthorizationRequest, AuthorizeReason> {
    if params.request.is_some() {
        return Err(AuthorizeReason::RequestObject);
    }
    if params.request_uri.is_some() {
        return Err(AuthorizeReason::RequestUri);
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        Some(other) => return Err(AuthorizeReason::UnsupportedResponseType(echo(other))),
        None => return Err(AuthorizeReason::MissingResponseType),
    }
    match params.response_mode.as_deref() {
        None | Some("query") => {}
        Some(other) => return Err(AuthorizeReason::UnsupportedResponseMode(echo(other))),
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(AuthorizeReason::GrantNotAllowed);
    }
    let mut resources: Vec<String> = Vec::with_capacity(params.resource.len());
    for resource in params.resource {
        if check_resource_uri(&resource).is_err() {
            return Err(AuthorizeReason::MalformedResource(echo(&resource)));
        }
        if !client.audiences.contains(&resource) {
            return Err(AuthorizeReason::ResourceNotAllowed(echo(&resource)));
        }
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    // The scope rules judge the audience the token will carry (the first audience when
    // no `resource` was sent).
    let effective = effective_resources(client, &resources);
    let scopes = match params.scope.as_deref() {
        // RFC 6749 §3.3: the pre-defined default, if there is one.
        None => default_scopes(client, &effective, registered),
        Some(value) => {
            parse_scope(value).map_err(|bad| AuthorizeReason::MalformedScope(echo(&bad)))?
        }
    };
    if scopes.is_empty() {
        return Err(AuthorizeReason::MissingScope);
    }
    if let Some(denied) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(AuthorizeReason::ScopeNotAllowed(echo(denied)));
    }
    if let Some(foreign) = scope_outside_resources(&scopes, &effective, registered) {
        return Err(AuthorizeReason::ScopeNotForResource(echo(foreign)));
    }
    check_state(params.state.as_deref())?;
    check_nonce(params.nonce.as_deref())?;
    let code_challenge = parse_challenge(
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    )
    .map_err(AuthorizeReason::Pkce)?;
    if code_challenge.is_none() {
        // Why: without PKCE a stolen code can be redeemed (RFC 9700 §4.5); a public
        // client has no other binding, a confidential one may rely on the OIDC nonce.
        // FAPI 2.0 §5.3.2.2 item 5: a `fapi2` client has no nonce fallback either.
        if client.is_public() || client.profile.requires_pkce() {
            return Err(AuthorizeReason::PkceRequired);
        }
        if !(scopes.contains("openid") && params.nonce.is_some()) {
            return Err(AuthorizeReason::PkceOrNonceRequired);
        }
    }
    let prompt = match params.prompt.as_deref() {
        None => Prompt::default(),
        Some(value) => Prompt::parse(value)?,
    };
    let max_age = params.max_age.as_deref().map(parse_max_age).transpose()?;
    check_login_hint(params.login_hint.as_deref())?;
    check_dpop_jkt(params.dpop_jkt.as_deref())?;
    Ok(ValidatedAuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        scopes,
        state: params.state,
        nonce: params.nonce,
        code_challenge,
        resources,
        prompt,
        max_age,
        login_hint: params.login_hint,
        dpop_jkt: params.dpop_jkt,
    })
}

/// RFC 9449 §10: `dpop_jkt` is a JWK SHA-256 thumbprint (43 base64url characters).
fn check_dpop_jkt(jkt: Option<&str>) -> Result<(), AuthorizeReason> {
    match jkt {
        Some(jkt) if !is_jkt(jkt) => Err(AuthorizeReason::MalformedDpopJkt(echo(jkt))),
        _ => Ok(()),
    }
}

/// OIDC Core §3.1.2.1 `max_age`: ASCII digits only (no sign, no spaces), fits an i64.
fn parse_max_age(value: &str) -> Result<i64, AuthorizeReason> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| value.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| AuthorizeReason::MalformedMaxAge(echo(value)))
}

/// `state` at most [`MAX_STATE_BYTES`] (it is carried with the request) and without
/// ASCII control characters (RFC 6749 Appendix A.5: `1*VSCHAR`; why: each one is
/// escaped to six bytes in the sealed request the login page's URL carries, so 2 KiB of
/// them would push that URL past the server's 16 KiB request-head limit).
fn check_state(state: Option<&str>) -> Result<(), AuthorizeReason> {
    match state {
        Some(state) if state.len() > MAX_STATE_BYTES => Err(AuthorizeReason::StateTooLong),
        Some(state) if has_control_character(state) => {
            Err(AuthorizeReason::StateHasControlCharacter)
        }
        _ => Ok(()),
    }
}

/// `nonce` at most [`MAX_NONCE_BYTES`] (it is carried with the request and the code),
/// without ASCII control characters (the same reason as `state`'s).
fn check_nonce(nonce: Option<&str>) -> Result<(), AuthorizeReason> {
    match nonce {
        Some(nonce) if nonce.len() > MAX_NONCE_BYTES => Err(AuthorizeReason::NonceTooLong),
        Some(nonce) if has_control_character(nonce) => {
            Err(AuthorizeReason::NonceHasControlCharacter)
        }
        _ => Ok(()),
    }
}

/// Whether `state` may be returned to the client with an error (RFC 6749 §4.1.2.1):
/// only a value this server would accept ([`MAX_STATE_BYTES`], no control character),
/// so a refused 60 KB `state` is never echoed (issue 16).
pub fn is_returnable_state(state: &str) -> bool {
    state.len() <= MAX_STATE_BYTES && !has_control_character(state)
}

/// An ASCII control character (U+0000–U+001F, U+007F): outside RFC 6749's VSCHAR.
fn has_control_character(value: &str) -> bool {
    value.chars().any(|c| c.is_ascii_control())
}

/// `login_hint` at most [`MAX_LOGIN_HINT_CHARS`] characters.
fn check_login_hint(hint: Option<&str>) -> Result<(), AuthorizeReason> {
    if hint.is_some_and(|hint| hint.chars().count() > MAX_LOGIN_HINT_CHARS) {
        return Err(AuthorizeReason::LoginHintTooLong);
    }
    Ok(())
}

/// Longest `state` kept, in bytes.
pub const MAX_STATE_BYTES: usize = 2048;
/// Longest `nonce` kept, in bytes.
pub const MAX_NONCE_BYTES: usize = 2048;
/// Longest `login_hint` kept, in characters (the longest username).
pub const MAX_LOGIN_HINT_CHARS: usize = 255;

mod stored;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
