//! HTTP for the client (reqwest over rustls): timeouts, no redirects, capped bodies,
//! OAuth error responses (RFC 6749 §5.2), and the rule that every URL the client
//! talks to is https, or http on a loopback host (OAuth 2.1 §1.5; RFC 8252 §8.3).

use super::UsageError;
use super::client_auth::ClientAuth;
use super::terminal::sanitize;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};
use std::time::Duration;
use url::{Host, Url};

/// The HTTP client. Redirects are not followed: metadata, keys and tokens are fetched
/// from the URLs the issuer published and nowhere else (a redirect could carry client
/// credentials or a refresh token to another host, or point the client at an internal
/// service).
pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot set up the HTTP client")
}

/// Parses `raw` (`what` names it in errors) and requires https, or http on a loopback
/// host: tokens and client secrets must not cross a network in clear (OAuth 2.1 §1.5);
/// loopback is allowed for development servers and native apps (RFC 8252 §8.3).
pub fn secure_url(what: &str, raw: &str) -> Result<Url> {
    let url = Url::parse(raw)
        .map_err(|e| UsageError(format!("the {what} `{}` is not a URL: {e}", sanitize(raw))))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(UsageError(format!(
                "refusing the {what} `{url}`: it must use https (plain http is allowed only on loopback: 127.0.0.1, [::1], localhost)"
            ))
            .into());
        }
        other => {
            return Err(UsageError(format!(
                "refusing the {what} `{url}`: scheme `{}` (https required)",
                sanitize(other)
            ))
            .into());
        }
    }
    if url.fragment().is_some() {
        bail!("the {what} `{url}` has a fragment");
    }
    Ok(url)
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

/// An OAuth error response (RFC 6749 §5.2; RFC 8628 §3.5 adds the device flow's
/// codes), or an answer that is not one.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// RFC 6749 §5.2 `error`, if the body had one.
    pub error: Option<String>,
    /// RFC 6749 §5.2 `error_description`, if any.
    pub description: Option<String>,
}

impl Refusal {
    /// The `error` code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

impl std::fmt::Display for Refusal {
    /// `error: description` with control characters removed (the text comes from the
    /// server and is printed to a terminal), or the HTTP status.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.error, &self.description) {
            (Some(error), Some(description)) => {
                write!(f, "{}: {}", sanitize(error), sanitize(description))
            }
            (Some(error), None) => f.write_str(&sanitize(error)),
            (None, _) => write!(f, "HTTP {}", self.status),
        }
    }
}

/// An answer to a POST: the JSON object of a 2xx answer or the refusal, and the
/// `DPoP-Nonce` header (RFC 9449 §8), which may come with either.
pub struct Posted {
    /// `Ok` for a 2xx JSON object; `Err` for any other answer.
    pub answer: Result<Map<String, Value>, Refusal>,
    /// RFC 9449 §8.1 `DPoP-Nonce`, if the server sent one (unchecked text).
    pub dpop_nonce: Option<String>,
}

/// POSTs `form` (RFC 6749 §3.2: form-urlencoded) to `url` with the client's
/// credentials and, when given, a `DPoP` proof header (RFC 9449 §4.1).
pub async fn post_form(
    http: &reqwest::Client,
    url: &Url,
    mut form: Vec<(&'static str, String)>,
    auth: &ClientAuth,
    dpop_proof: Option<&str>,
) -> Result<Posted> {
    let mut request = auth.apply(http.post(url.clone()), &mut form)?;
    if let Some(proof) = dpop_proof {
        request = request.header(DPOP, proof);
    }
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let dpop_nonce = response
        .headers()
        .get(DPOP_NONCE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(response)
        .await
        .with_context(|| format!("cannot read the answer of {url}"))?;
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    if status.is_success() {
        return match parsed {
            Some(Value::Object(map)) => Ok(Posted {
                answer: Ok(map),
                dpop_nonce,
            }),
            _ => bail!("{url} answered HTTP {status} without a JSON object"),
        };
    }
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(Posted {
        answer: Err(Refusal {
            status,
            error: field("error"),
            description: field("error_description"),
        }),
        dpop_nonce,
    })
}

/// An answer to a GET: its status and (capped) body.
pub struct Fetched {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The body, at most [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

impl Fetched {
    /// The body as JSON, if the status is 2xx and the body parses; otherwise why not,
    /// for an error message.
    pub fn json(&self) -> Result<Value, String> {
        if !self.status.is_success() {
            return Err(format!("HTTP {}", self.status));
        }
        serde_json::from_slice(&self.body).map_err(|_| "not JSON".to_owned())
    }
}

/// GETs `url`. Only a failure to get an answer at all (connection, timeout, a body
/// over the cap) is an error; any status is an answer.
pub async fn get(http: &reqwest::Client, url: &Url) -> Result<Fetched> {
    let response = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = read_body(response)
        .await
        .with_context(|| format!("cannot read {url}"))?;
    Ok(Fetched { status, body })
}

/// GETs `url` and parses its JSON body; any other answer than 2xx JSON is an error.
pub async fn get_json(http: &reqwest::Client, url: &Url) -> Result<Value> {
    get(http, url)
        .await?
        .json()
        .map_err(|why| anyhow!("{url} answered {why}"))
}

/// Reads a response body of at most [`MAX_BODY`] bytes (a hostile server cannot make
/// the client buffer without bound).
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(reqwest::Error::without_url)?
    {
        if body.len().saturating_add(chunk.len()) > MAX_BODY {
            bail!("the answer is larger than {MAX_BODY} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Time allowed to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// RFC 9449 §4.1 request header carrying the proof.
const DPOP: &str = "DPoP";
/// RFC 9449 §8.1 response header carrying the server's nonce.
const DPOP_NONCE: &str = "DPoP-Nonce";
/// Largest response body read (metadata, JWKS and token responses are a few KiB).
const MAX_BODY: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        for ok in [
            "https://login.example.com",
            "http://127.0.0.1:8080",
            "http://[::1]:9000/issuer",
            "http://localhost:3000",
            "http://127.0.0.2",
        ] {
            assert!(secure_url("issuer", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://login.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://x.example.com/#frag",
            "not a url",
        ] {
            assert!(secure_url("issuer", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusal_text_is_one_line() {
        let refusal = Refusal {
            status: reqwest::StatusCode::UNAUTHORIZED,
            error: Some("invalid_client".into()),
            description: Some("bad\nsecret\u{1b}[31m".into()),
        };
        let shown = refusal.to_string();
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown}"
        );
        assert!(shown.starts_with("invalid_client: bad"), "{shown}");
    }
}
