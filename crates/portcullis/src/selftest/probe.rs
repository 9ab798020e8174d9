//! The requests the selftest makes: one HTTP client that never follows a redirect
//! (a `Location` is inspected, not visited), with a 10 s timeout and a cap on every
//! body read, and the answers kept whole (status, headers, body) for the checks.

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};
use std::time::Duration;
use url::{Host, Url};

/// The HTTP client of the selftest: no redirects, no cookies, a timeout.
///
/// # Errors
/// If the TLS back end cannot be set up.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("portcullis-selftest/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// An answer: status, headers and the body (at most [`MAX_BODY`] bytes).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, capped.
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name` as text, if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of header `name` joined with `, `.
    pub fn header_all(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the status is 3xx.
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }

    /// `Location` resolved against `base`, for a redirect.
    pub fn location(&self, base: &Url) -> Option<Url> {
        if !self.is_redirect() {
            return None;
        }
        base.join(self.header("location")?).ok()
    }

    /// The body as a JSON object, if it is one.
    pub fn json_object(&self) -> Option<Map<String, Value>> {
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether `Content-Type` says HTML (or is missing: browsers sniff).
    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_none_or(|t| t.to_ascii_lowercase().contains("text/html"))
    }
}

/// Sends `request` and reads the whole answer (body capped at [`MAX_BODY`]).
///
/// # Errors
/// A one-line reason when there is no answer (connection, timeout, an oversized body).
pub async fn send(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {}", e.without_url()))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("the answer broke off: {}", e.without_url()))?
    {
        if body.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// GETs `url`.
///
/// # Errors
/// As [`send`].
pub async fn get(http: &reqwest::Client, url: &Url) -> Result<Answer, String> {
    send(http.get(url.clone())).await
}

/// `url` with the query pairs `params` appended.
pub fn with_query(url: &Url, params: &[(&str, &str)]) -> Url {
    let mut url = url.clone();
    {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in params {
            pairs.append_pair(name, value);
        }
    }
    url
}

/// The parameters of a redirect's query and fragment (RFC 6749 §4.1.2.1 errors come
/// in the query, §4.2.2.1 implicit errors in the fragment).
pub fn redirect_params(location: &Url) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    if let Some(fragment) = location.fragment() {
        params.extend(url::form_urlencoded::parse(fragment.as_bytes()).into_owned());
    }
    params
}

/// The value of `name` in `params`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether `url`'s host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `url` without its query and fragment, for a reason line (a redirect's query may
/// carry a code).
pub fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// Time allowed for connecting and for each whole request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body read (metadata, JWKS and error pages are a few KiB).
pub const MAX_BODY: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_params_read_query_and_fragment() {
        let url = Url::parse("https://a.example/cb?error=x&iss=y#error=z").unwrap();
        let params = redirect_params(&url);
        assert_eq!(param(&params, "error"), Some("x"));
        assert_eq!(param(&params, "iss"), Some("y"));
        assert_eq!(params.len(), 3);
        assert_eq!(shown(&url), "https://a.example/cb");
    }
}
