//! RFC 6749 §3.1.2.3 / OAuth 2.1 §2.3.1: choosing the redirect URI of an authorization
//! request. A requested URI must equal a registered one as an exact string (why:
//! prefix or pattern matching is how open redirectors and code leaks happen, RFC 9700
//! §4.1.3). The one exception is RFC 8252 §7.3: a native (public) client's loopback
//! IP-literal URI may come back with any port, since the operating system picks a
//! free one at run time.

use super::Client;
use url::{Host, Url};

/// Why no redirect URI could be chosen. Never redirect after one of these: the user
/// sees an error page (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriReason {
    /// `redirect_uri` omitted, but the client registered several (RFC 6749 §3.1.2.3).
    #[error("the redirect_uri parameter is missing, and the application has several registered")]
    Missing,
    /// The client registered none (a machine client).
    #[error("the application has no registered redirect URI")]
    NoneRegistered,
    /// The requested URI is not one of the registered ones.
    #[error("the redirect_uri is not registered for this application")]
    NotRegistered,
}

/// Chooses the redirect URI: `(uri, sent)` where `sent` says whether the request
/// carried it (then the token request must repeat it, RFC 6749 §4.1.3).
///
/// - `requested` equal (as a string) to a registered URI: that URI.
/// - `requested` omitted: the registered URI if there is exactly one.
/// - Public client, registered `http://127.0.0.1[:port]/…` or `http://[::1][:port]/…`:
///   a requested URI that differs only in the port (RFC 8252 §7.3). Both must be in
///   the canonical form the URL parser prints, so tricks such as user info
///   (`http://127.0.0.1:1@evil/`), case changes or added slashes fail. `localhost`
///   gets no exception (RFC 8252 §8.3: a name can resolve elsewhere), and neither does
///   a confidential client (it is not a native app, and its URIs are fixed).
///
/// # Errors
/// A [`RedirectUriReason`].
pub fn match_redirect_uri(
    client: &Client,
    requested: Option<&str>,
) -> Result<(String, bool), RedirectUriReason> {
    if client.redirect_uris.is_empty() {
        return Err(RedirectUriReason::NoneRegistered);
    }
    let Some(requested) = requested else {
        return match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            _ => Err(RedirectUriReason::Missing),
        };
    };
    if client.redirect_uris.iter().any(|r| r == requested) {
        return Ok((requested.to_owned(), true));
    }
    if client.is_public()
        && client
            .redirect_uris
            .iter()
            .any(|registered| differs_only_in_loopback_port(registered, requested))
    {
        return Ok((requested.to_owned(), true));
    }
    Err(RedirectUriReason::NotRegistered)
}

/// RFC 8252 §7.3: `registered` is an `http` URI on the IP literal `127.0.0.1` or `[::1]`
/// and `requested` is the same URI with another (or no) port. Both must be canonical
/// (printed back unchanged by the URL parser) and free of user info, so the only
/// possible difference is the port.
fn differs_only_in_loopback_port(registered: &str, requested: &str) -> bool {
    let (Ok(registered_url), Ok(requested_url)) = (Url::parse(registered), Url::parse(requested))
    else {
        return false;
    };
    let loopback_literal = match registered_url.host() {
        Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        _ => false,
    };
    if registered_url.scheme() != "http"
        || !loopback_literal
        || registered_url.as_str() != registered
        || requested_url.as_str() != requested
        || !requested_url.username().is_empty()
        || requested_url.password().is_some()
        || requested_url.fragment().is_some()
    {
        return false;
    }
    let mut with_registered_port = requested_url;
    if with_registered_port
        .set_port(registered_url.port())
        .is_err()
    {
        return false;
    }
    // Scheme, host, path and query are compared through the full serialisation.
    with_registered_port.as_str() == registered
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientRegistration, RecordSource};
    use secrecy::SecretString;

    fn client(uris: &[&str], public: bool) -> Client {
        ClientRegistration {
            client_id: "app".into(),
            client_secret: (!public)
                .then(|| SecretString::from("0123456789abcdef0123456789abcdef")),
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            scopes: vec!["openid".into()],
            ..Default::default()
        }
        .validate(RecordSource::Config, 0)
        .unwrap()
    }

    fn refused(registered: &str, requested: &str, public: bool) {
        assert_eq!(
            match_redirect_uri(&client(&[registered], public), Some(requested)),
            Err(RedirectUriReason::NotRegistered),
            "{requested} against {registered}"
        );
    }

    const WEB: &str = "https://app.example.com/cb";

    #[test]
    fn exact_match_is_accepted() {
        assert_eq!(
            match_redirect_uri(
                &client(&[WEB, "https://app.example.com/other"], false),
                Some(WEB)
            ),
            Ok((WEB.to_owned(), true))
        );
    }

    #[test]
    fn omitted_with_one_registered_uses_it() {
        assert_eq!(
            match_redirect_uri(&client(&[WEB], false), None),
            Ok((WEB.to_owned(), false))
        );
    }

    #[test]
    fn rejects_omitted_with_two_registered() {
        assert_eq!(
            match_redirect_uri(&client(&[WEB, "https://app.example.com/b"], false), None),
            Err(RedirectUriReason::Missing)
        );
    }

    #[test]
    fn rejects_extra_path() {
        refused(WEB, "https://app.example.com/cb/extra", false);
    }

    #[test]
    fn rejects_extra_query() {
        refused(WEB, "https://app.example.com/cb?x=1", false);
        refused(
            "https://app.example.com/cb?a=1",
            "https://app.example.com/cb?a=1&b=2",
            false,
        );
    }

    #[test]
    fn rejects_trailing_slash() {
        refused(WEB, "https://app.example.com/cb/", false);
        refused("https://app.example.com", "https://app.example.com/", false);
    }

    #[test]
    fn rejects_other_host() {
        refused(WEB, "https://evil.example.com/cb", false);
        refused(WEB, "https://app.example.com.evil.example/cb", false);
    }

    #[test]
    fn rejects_other_port_for_a_non_loopback_uri() {
        refused(WEB, "https://app.example.com:8443/cb", true);
        refused(
            "https://app.example.com:8443/cb",
            "https://app.example.com:9443/cb",
            true,
        );
    }

    #[test]
    fn rejects_user_info_tricks() {
        refused(WEB, "https://app.example.com@evil.example/cb", false);
        refused(
            "https://good.example/cb",
            "https://good.example@evil.example/cb",
            false,
        );
        refused("http://127.0.0.1/cb", "http://127.0.0.1:1234@evil/cb", true);
        refused("http://127.0.0.1/cb", "http://user@127.0.0.1:1234/cb", true);
    }

    #[test]
    fn rejects_fragment() {
        refused(WEB, "https://app.example.com/cb#x", false);
        refused("http://127.0.0.1/cb", "http://127.0.0.1:1234/cb#x", true);
    }

    #[test]
    fn rejects_case_change() {
        refused(WEB, "https://APP.example.com/cb", false);
        refused(WEB, "https://app.example.com/CB", false);
        refused("http://127.0.0.1/cb", "HTTP://127.0.0.1:1234/cb", true);
    }

    #[test]
    fn port_change_is_allowed_for_a_public_loopback_v4_uri() {
        let c = client(&["http://127.0.0.1/cb"], true);
        for requested in ["http://127.0.0.1:49152/cb", "http://127.0.0.1/cb"] {
            assert_eq!(
                match_redirect_uri(&c, Some(requested)),
                Ok((requested.to_owned(), true))
            );
        }
        let c = client(&["http://127.0.0.1:8000/cb?app=1"], true);
        assert!(match_redirect_uri(&c, Some("http://127.0.0.1:5000/cb?app=1")).is_ok());
        assert!(match_redirect_uri(&c, Some("http://127.0.0.1/cb?app=1")).is_ok());
    }

    #[test]
    fn port_change_is_allowed_for_a_public_loopback_v6_uri() {
        let c = client(&["http://[::1]/cb"], true);
        assert_eq!(
            match_redirect_uri(&c, Some("http://[::1]:61000/cb")),
            Ok(("http://[::1]:61000/cb".to_owned(), true))
        );
    }

    #[test]
    fn rejects_loopback_uri_differing_in_more_than_the_port() {
        refused("http://127.0.0.1/cb", "http://127.0.0.1:1234/cb/", true);
        refused("http://127.0.0.1/cb", "http://127.0.0.1:1234/other", true);
        refused("http://127.0.0.1/cb", "http://127.0.0.1:1234/cb?x=1", true);
        refused("http://127.0.0.1/cb", "http://[::1]:1234/cb", true);
        refused("http://127.0.0.1/cb", "http://127.0.0.2:1234/cb", true);
        refused("http://127.0.0.1/cb", "https://127.0.0.1:1234/cb", true);
        // Not canonical: the parser prints these differently.
        refused("http://127.0.0.1/cb", "http://127.0.0.1:01234/cb", true);
        refused("http://[::1]/cb", "http://[0:0:0:0:0:0:0:1]:1234/cb", true);
        refused("http://127.0.0.1/cb", "http://127.1:1234/cb", true);
    }

    #[test]
    fn rejects_port_change_for_a_confidential_clients_loopback_uri() {
        refused(
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:9090/cb",
            false,
        );
        refused("http://[::1]:8080/cb", "http://[::1]:9090/cb", false);
    }

    #[test]
    fn rejects_port_change_for_localhost() {
        refused("http://localhost:8080/cb", "http://localhost:9090/cb", true);
    }

    #[test]
    fn rejects_a_client_without_redirect_uris() {
        let mut c = client(&[WEB], false);
        c.redirect_uris.clear();
        assert_eq!(
            match_redirect_uri(&c, Some(WEB)),
            Err(RedirectUriReason::NoneRegistered)
        );
    }
}
