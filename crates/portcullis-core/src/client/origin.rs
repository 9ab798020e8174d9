//! Web origins of browser clients (RFC 6454 §4 and §6.2: `scheme "://" host [":" port]`),
//! the per-client half of CORS (Fetch standard §3.2).
//!
//! A browser sends the page's origin in the `Origin` request header (RFC 6454 §7). A
//! client may be called from the origins it lists in `allowed_origins`, or, when it lists
//! none, from the origins of its `redirect_uris` (so a registered single-page app works
//! with no extra setting). A request whose origin the identified client does not allow
//! is refused before anything happens (a code is not consumed, a token not revoked): the
//! browser would hide any answer from the page anyway (no `Access-Control-Allow-Origin`),
//! so going on would only waste what the request spends. node-oidc-provider's
//! client-based CORS recipe does the same ("fail the moment the client is identified").

use super::{Client, is_loopback};
use portcullis_proto::error::echo;
use url::Url;

/// The page origin a browser sends when it has none to tell (sandboxed frames, `file:`
/// pages, some redirects: RFC 6454 §7.3). Any page can produce it, so no client may
/// allow it.
pub const NULL_ORIGIN: &str = "null";

/// A request came from an origin its client does not allow: `invalid_request` (400), and
/// no `Access-Control-Allow-Origin` on the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this client does not allow requests from origin `{origin}`; add it to the client's allowed_origins (the default is the origins of its redirect_uris)"
)]
pub struct OriginNotAllowed {
    /// The request's `Origin`, bounded with [`echo`].
    pub origin: String,
}

impl Client {
    /// The origins a browser page may call the token, revocation, device authorization
    /// and UserInfo endpoints from for this client: `allowed_origins`, or when that is
    /// empty the origins of its `http`/`https` `redirect_uris` (a private-use scheme
    /// has no web origin), without duplicates.
    pub fn web_origins(&self) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.clone();
        }
        let mut origins: Vec<String> = Vec::new();
        for origin in self.redirect_uris.iter().filter_map(|uri| origin_of(uri)) {
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        origins
    }

    /// Whether a page at `origin` (the `Origin` header, exactly as sent) may call this
    /// client's endpoints. Compared as exact strings: browsers send the ASCII
    /// serialisation (RFC 6454 §6.2), which is what [`check_allowed_origin`] requires.
    pub fn allows_origin(&self, origin: &str) -> bool {
        origin != NULL_ORIGIN && self.web_origins().iter().any(|o| o == origin)
    }
}

/// A request's `Origin` against its identified client: no `Origin` (not a browser's
/// cross-origin request) passes; otherwise the client must allow it.
///
/// # Errors
/// [`OriginNotAllowed`] with the origin quoted.
pub fn check_request_origin(client: &Client, origin: Option<&str>) -> Result<(), OriginNotAllowed> {
    match origin {
        Some(origin) if !client.allows_origin(origin) => Err(OriginNotAllowed {
            origin: echo(origin),
        }),
        _ => Ok(()),
    }
}

/// The web origin of `uri` (RFC 6454 §4) if it is an `http` or `https` URL.
pub fn origin_of(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    matches!(url.scheme(), "https" | "http").then(|| url.origin().ascii_serialization())
}

/// Checks one `allowed_origins` entry: an origin exactly as a browser sends it
/// (RFC 6454 §6.2: `scheme "://" host [":" port]`, lower case, no default port), with
/// no path, no trailing slash, no wildcard, and not `null`; `https`, or `http` on a
/// loopback host (as for redirect URIs, OAuth 2.1 §2.3.1).
///
/// # Errors
/// A sentence saying what is wrong with `value` and how to write it.
pub fn check_allowed_origin(value: &str) -> Result<(), String> {
    if value == NULL_ORIGIN {
        return Err(
            "has `null`, the origin of sandboxed and file: pages; any page can send it, so it cannot be allowed".into(),
        );
    }
    if value.contains('*') {
        return Err(format!(
            "has `{value}`: wildcards are not supported; list each origin exactly (scheme://host[:port])"
        ));
    }
    let url = Url::parse(value).map_err(|e| {
        format!("has `{value}`, which is not an origin (scheme://host[:port]): {e}")
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!(
            "has `{value}`: an origin for CORS is https://host[:port] (or http on a loopback host)"
        ));
    }
    if value.ends_with('/') && url.path() == "/" && url.query().is_none() {
        let trimmed = value.trim_end_matches('/');
        return Err(format!(
            "has `{value}`, which ends with a slash; an origin has no path: write `{trimmed}`"
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "has `{value}`, which has a path, query or fragment; an origin is only scheme://host[:port]: write `{}`",
            url.origin().ascii_serialization()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "has `{value}`, which has user information; an origin is only scheme://host[:port]"
        ));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(format!(
            "has `{value}`: plain http is allowed only on a loopback host (OAuth 2.1 §2.3.1); use https"
        ));
    }
    let canonical = url.origin().ascii_serialization();
    if canonical != value {
        return Err(format!(
            "has `{value}`; browsers send it as `{canonical}` (lower case, no default port): write that"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientRegistration, RecordSource};

    fn spa(allowed: &[&str]) -> Client {
        ClientRegistration {
            client_id: "spa".into(),
            redirect_uris: vec![
                "https://app.example.com/callback".into(),
                "https://app.example.com/silent".into(),
                "http://localhost:5173/".into(),
                "com.example.app:/cb".into(),
            ],
            allowed_origins: allowed.iter().map(|s| (*s).to_owned()).collect(),
            scopes: vec!["openid".into()],
            ..Default::default()
        }
        .validate(RecordSource::Config, 0)
        .unwrap()
    }

    #[test]
    fn default_origins_are_those_of_the_redirect_uris() {
        assert_eq!(
            spa(&[]).web_origins(),
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert!(spa(&[]).allows_origin("https://app.example.com"));
        assert!(!spa(&[]).allows_origin("https://app.example.com:8443"));
        assert!(!spa(&[]).allows_origin("https://evil.example"));
    }

    #[test]
    fn explicit_origins_replace_the_default() {
        let client = spa(&["https://other.example.com"]);
        assert_eq!(client.web_origins(), ["https://other.example.com"]);
        assert!(!client.allows_origin("https://app.example.com"));
        assert!(client.allows_origin("https://other.example.com"));
    }

    #[test]
    fn null_is_never_allowed_and_no_origin_passes() {
        let client = spa(&[]);
        assert!(!client.allows_origin("null"));
        assert!(check_request_origin(&client, None).is_ok());
        let refused = check_request_origin(&client, Some("https://evil.example")).unwrap_err();
        assert_eq!(refused.origin, "https://evil.example");
    }

    #[test]
    fn accepts_exact_origins() {
        for ok in [
            "https://app.example.com",
            "https://app.example.com:8443",
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
        ] {
            assert_eq!(check_allowed_origin(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_allowed_origins_that_are_not_exact_origins() {
        let cases = [
            ("null", "cannot be allowed"),
            ("https://*.example.com", "wildcards are not supported"),
            ("*", "wildcards are not supported"),
            ("https://app.example.com/", "ends with a slash"),
            ("https://app.example.com/app", "has a path"),
            (
                "https://app.example.com?x=1",
                "has a path, query or fragment",
            ),
            ("app.example.com", "not an origin"),
            ("ftp://app.example.com", "https://host[:port]"),
            (
                "http://app.example.com",
                "plain http is allowed only on a loopback host",
            ),
            (
                "https://App.Example.com",
                "browsers send it as `https://app.example.com`",
            ),
            (
                "https://app.example.com:443",
                "browsers send it as `https://app.example.com`",
            ),
            ("https://user@app.example.com", "user information"),
        ];
        for (bad, message) in cases {
            let problem = check_allowed_origin(bad).unwrap_err();
            assert!(problem.contains(message), "{bad}: {problem}");
        }
    }
}
