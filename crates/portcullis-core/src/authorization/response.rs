//! RFC 6749 §4.1.2 / §4.1.2.1 authorization responses, with RFC 9207 `iss`: the
//! `Location` the browser is sent to, for a code or an error. Every response carries
//! `iss` (why: it lets a client that talks to several servers detect a mix-up attack,
//! RFC 9700 §4.4) and `state` when the request had one.

use super::request::{AuthorizeReason, ValidatedAuthorizationRequest};
use portcullis_proto::ErrorCode;
use portcullis_proto::error::sanitize_description;
use url::form_urlencoded;

/// An error to send to the client's verified redirect URI (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RedirectError {
    /// The verified redirect URI.
    pub redirect_uri: String,
    /// The request's `state`, returned unchanged.
    pub state: Option<String>,
    /// Why the request failed.
    pub reason: AuthorizeReason,
}

impl RedirectError {
    /// An error for a request that passed validation (denied consent, `prompt=none`
    /// that cannot be honoured, a server failure).
    pub fn new(request: &ValidatedAuthorizationRequest, reason: AuthorizeReason) -> Self {
        Self {
            redirect_uri: request.redirect_uri().to_owned(),
            state: request.state().map(str::to_owned),
            reason,
        }
    }

    /// `error_description`: what to fix, limited to the characters RFC 6749 §4.1.2.1
    /// allows; generic for server-side failures.
    pub fn description(&self) -> String {
        sanitize_description(&self.reason.to_string())
    }

    /// The `Location`: the redirect URI with `error`, `error_description`, `state` (if
    /// any) and `iss` added to its query.
    pub fn location(&self, issuer: &str) -> String {
        let description = self.description();
        let mut params: Vec<(&str, &str)> = vec![
            ("error", ErrorCode::from(self).as_str()),
            ("error_description", &description),
        ];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        response_uri(&self.redirect_uri, &params)
    }
}

/// RFC 6749 §4.1.2: the `Location` carrying the code: `code`, `state` (if the request
/// had one) and `iss` (RFC 9207 §2) added to the redirect URI's query.
pub fn success_location(
    request: &ValidatedAuthorizationRequest,
    code: &str,
    issuer: &str,
) -> String {
    let mut params: Vec<(&str, &str)> = vec![("code", code)];
    if let Some(state) = request.state() {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    response_uri(request.redirect_uri(), &params)
}

/// Adds `params` to the query of `redirect_uri`, form-urlencoded (RFC 6749 Appendix B),
/// keeping any query it already has (RFC 6749 §3.1.2: it "MUST be retained"). The URI
/// is otherwise left byte for byte as registered (no re-serialisation). Registered URIs
/// have no fragment; if one were there, the query would go before it.
pub fn response_uri(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = match redirect_uri.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (redirect_uri, None),
    };
    let added = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut out = String::with_capacity(redirect_uri.len() + added.len() + 2);
    out.push_str(base);
    if !added.is_empty() {
        match base.find('?') {
            None => out.push('?'),
            Some(_) if base.ends_with('?') || base.ends_with('&') => {}
            Some(_) => out.push('&'),
        }
        out.push_str(&added);
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::request::{Prompt, StoredAuthorizationRequest};
    use std::collections::BTreeSet;

    fn request(redirect_uri: &str, state: Option<&str>) -> ValidatedAuthorizationRequest {
        ValidatedAuthorizationRequest::from_stored(StoredAuthorizationRequest {
            client_id: "app".into(),
            redirect_uri: redirect_uri.into(),
            redirect_uri_sent: true,
            scopes: BTreeSet::new(),
            state: state.map(Into::into),
            nonce: None,
            code_challenge: None,
            resources: vec![],
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            dpop_jkt: None,
        })
        .unwrap()
    }

    #[test]
    fn appends_a_query_to_a_uri_without_one() {
        assert_eq!(
            response_uri(
                "https://app.example/cb",
                &[("code", "abc"), ("iss", "https://id.example")]
            ),
            "https://app.example/cb?code=abc&iss=https%3A%2F%2Fid.example"
        );
    }

    #[test]
    fn keeps_an_existing_query() {
        assert_eq!(
            response_uri("https://app.example/cb?tenant=a%20b", &[("code", "x")]),
            "https://app.example/cb?tenant=a%20b&code=x"
        );
        assert_eq!(
            response_uri("https://app.example/cb?", &[("code", "x")]),
            "https://app.example/cb?code=x"
        );
    }

    #[test]
    fn encodes_values() {
        assert_eq!(
            response_uri("http://127.0.0.1:5000/cb", &[("state", "a b&c=d#e/é")]),
            "http://127.0.0.1:5000/cb?state=a+b%26c%3Dd%23e%2F%C3%A9"
        );
    }

    #[test]
    fn puts_the_query_before_a_fragment() {
        assert_eq!(
            response_uri("https://app.example/cb#frag", &[("code", "x")]),
            "https://app.example/cb?code=x#frag"
        );
    }

    #[test]
    fn success_carries_code_state_and_iss() {
        let r = request("https://app.example/cb?x=1", Some("s 1"));
        assert_eq!(
            success_location(&r, "the-code", "https://id.example"),
            "https://app.example/cb?x=1&code=the-code&state=s+1&iss=https%3A%2F%2Fid.example"
        );
        let r = request("https://app.example/cb", None);
        assert_eq!(
            success_location(&r, "c", "https://id.example"),
            "https://app.example/cb?code=c&iss=https%3A%2F%2Fid.example"
        );
    }

    #[test]
    fn error_carries_error_description_state_and_iss() {
        let e = RedirectError::new(
            &request("https://app.example/cb", Some("xyz")),
            AuthorizeReason::AccessDenied,
        );
        assert_eq!(ErrorCode::from(&e), ErrorCode::AccessDenied);
        assert_eq!(
            e.location("https://id.example"),
            "https://app.example/cb?error=access_denied&error_description=the+user+denied+the+request&state=xyz&iss=https%3A%2F%2Fid.example"
        );
    }

    #[test]
    fn error_description_is_sanitised() {
        let e = RedirectError {
            redirect_uri: "https://app.example/cb".into(),
            state: None,
            reason: AuthorizeReason::Malformed("bad \"value\" é".into()),
        };
        assert_eq!(e.description(), "bad ?value? ?");
    }
}
