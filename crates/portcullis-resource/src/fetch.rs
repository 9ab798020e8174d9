//! Outbound HTTP for the key store and the introspection client: https only
//! (http on loopback for tests and sidecars), a timeout over the whole exchange, and
//! a body size cap enforced while reading, so a slow or huge answer from a
//! misconfigured or hostile endpoint cannot stall or exhaust the resource server.

use reqwest::redirect;
use std::time::Duration;
use url::{Host, Url};

/// Whether `url`'s host is loopback: `127.0.0.0/8`, `[::1]` or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// RFC 8414 §2 / RFC 7662 §4 / RFC 8725 §3.10: `https`, or `http` on loopback only.
/// Keys or introspection answers fetched over plain http on a network could be
/// replaced in transit, which would let anyone mint accepted tokens.
pub(crate) fn check_transport(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(format!(
            "{url} is not an https URL (http is allowed only on loopback)"
        )),
    }
}

/// The client used when none is given: it follows no redirect. A 3xx answer is a
/// fetch error ([`send_capped`] accepts only 2xx): a metadata document, JWKS or
/// introspection endpoint that moved is reconfigured, not chased. Following would
/// re-post an introspected token to wherever the redirect points, and trust keys or
/// an answer from there.
pub(crate) fn default_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Sends `request`, requires a 2xx answer from `url`'s origin and reads at most
/// `max_bytes` of body, all within `timeout`. The error text names the URL and what
/// went wrong (never a token or secret: those only travel in the request body or
/// headers).
///
/// A 3xx answer is an error (the default client follows no redirect). A caller's own
/// client may follow redirects: an answer that came from another origin (scheme,
/// host, port) is refused, so keys or an introspection answer are only ever taken
/// from the configured endpoint.
pub(crate) async fn send_capped(
    request: reqwest::RequestBuilder,
    url: &Url,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let exchange = async {
        let mut response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| format!("{url}: {}", without_url(&e)))?;
        if response.url().origin() != url.origin() {
            return Err(format!(
                "{url}: the answer came from another origin ({}); redirects are not followed",
                response.url().origin().ascii_serialization()
            ));
        }
        let status = response.status();
        if status.is_redirection() {
            return Err(format!(
                "{url} answered {status}; redirects are not followed"
            ));
        }
        if !status.is_success() {
            return Err(format!("{url} answered {status}"));
        }
        if let Some(len) = response.content_length()
            && len > max_bytes as u64
        {
            return Err(format!("{url}: body of {len} bytes is over {max_bytes}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("{url}: {}", without_url(&e)))?
        {
            if body.len().saturating_add(chunk.len()) > max_bytes {
                return Err(format!("{url}: body is over {max_bytes} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{url}: no complete answer within {timeout:?}"))?
}

fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    if error.is_timeout() {
        text.push_str(" (timeout)");
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn https_or_loopback_http_only() {
        for ok in [
            "https://as.example",
            "http://127.0.0.1:8080",
            "http://127.1.2.3/x",
            "http://[::1]:9000",
            "http://localhost",
            "http://LOCALHOST:1",
        ] {
            assert!(check_transport(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://as.example",
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "ftp://127.0.0.1",
            "file:///etc/passwd",
        ] {
            assert!(check_transport(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
