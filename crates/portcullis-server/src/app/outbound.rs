//! The one guarded door (CONVENTIONS §14): every fetch the server makes because a
//! client told it to (client ID metadata documents now; `jwks_uri` and back-channel
//! logout later) goes through [`Outbound::fetch`], with the policy in one place. Each
//! guard has a name, a reason and a test (`crates/portcullis/tests/it/cimd/guards.rs`):
//!
//! - **https only** ([`FetchReason::NotHttps`]); no user info in the URL.
//! - **No redirects** ([`FetchReason::Redirect`]): a 3xx is a failure. Following one
//!   would let a document on an allowed host send the server anywhere.
//! - **Every resolved address checked** ([`FetchReason::ForbiddenAddress`],
//!   [`address::check_address`]): the server resolves the name itself, refuses the
//!   whole fetch if any address is loopback, private, link-local, … (unless inside
//!   `[outbound] allow_networks`), and connects only to the addresses it checked: the
//!   HTTP client's resolver *is* the check ([`resolver`]), so no second lookup can
//!   return another address (DNS rebinding). No proxy is used (a proxy would resolve
//!   the name itself).
//! - **Time caps** ([`FetchReason::Timeout`]): connect and total (`[outbound]
//!   connect_timeout`, `timeout`).
//! - **Size cap** ([`FetchReason::TooLarge`]): counted while streaming, so a huge or
//!   endless body is cut off at the cap, whatever `Content-Length` says.
//! - **Content type** ([`FetchReason::ContentType`]): the caller's media type (JSON).
//! - No compression is negotiated (no decompression bomb), no cookies, no `Referer`.

pub mod address;
mod resolver;

use crate::app::config::OutboundSettings;
use crate::app::net::IpNetwork;
use address::{ForbiddenRange, check_address};
use resolver::{AddressRefused, CheckedResolver};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// The guarded fetcher. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_networks: Arc<[IpNetwork]>,
    timeout: Duration,
}

/// What a caller accepts: the media type and the most bytes of body.
#[derive(Debug, Clone, Copy)]
pub struct Accept {
    /// The media type the answer must have (parameters such as `charset` allowed),
    /// e.g. `application/json`.
    pub media_type: &'static str,
    /// The largest body accepted, in bytes.
    pub max_bytes: usize,
}

/// A successful fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The body, at most [`Accept::max_bytes`] long.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age` in seconds (RFC 9111 §5.2.2.1); `Some(0)` for
    /// `no-store` or `no-cache`; `None` without either.
    pub max_age: Option<u64>,
}

/// Why a fetch failed; each is a guard or a transport failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchReason {
    /// The URL is not `https` with a host, or carries user info.
    #[error("the URL is not https (or carries user info)")]
    NotHttps,
    /// The host resolved to (or is) an address in a special-purpose range.
    #[error("{ip} is a {} address, not allowed by [outbound] allow_networks", .range.as_str())]
    ForbiddenAddress {
        /// The refused address.
        ip: IpAddr,
        /// Its range.
        range: ForbiddenRange,
    },
    /// The name did not resolve.
    #[error("the host name did not resolve: {0}")]
    Resolve(String),
    /// No connection (refused, TLS failure, connection closed early).
    #[error("connecting failed: {0}")]
    Connect(String),
    /// The connect or total time limit passed.
    #[error("no complete answer within the time limit")]
    Timeout,
    /// The answer was a redirect (3xx); redirects are never followed.
    #[error("the answer was a redirect ({0}); redirects are not followed")]
    Redirect(u16),
    /// The answer's status was not 2xx.
    #[error("the answer's status was {0}")]
    Status(u16),
    /// The body is longer than the caller accepts.
    #[error("the body is longer than {0} bytes")]
    TooLarge(usize),
    /// The answer's `Content-Type` is not the media type asked for.
    #[error("the answer's content type is {0:?}, not the one required")]
    ContentType(Option<String>),
}

/// Why [`Outbound::new`] failed: a CA file that cannot be read or parsed, or the HTTP
/// client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("[outbound] {0}")]
pub struct OutboundError(String);

impl Outbound {
    /// The fetcher for `settings`: reads `ca_certificates` (PEM) and builds the one
    /// HTTP client (rustls, platform roots plus those certificates).
    ///
    /// # Errors
    /// [`OutboundError`] naming the CA file and what is wrong with it.
    pub fn new(settings: &OutboundSettings) -> Result<Self, OutboundError> {
        let mut roots = Vec::new();
        for path in &settings.ca_certificates {
            let shown = path.display();
            let pem = std::fs::read(path)
                .map_err(|e| OutboundError(format!("ca_certificates: cannot read {shown}: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                OutboundError(format!(
                    "ca_certificates: {shown} is not PEM certificates: {e}"
                ))
            })?;
            if certs.is_empty() {
                return Err(OutboundError(format!(
                    "ca_certificates: {shown} holds no certificate"
                )));
            }
            roots.extend(certs);
        }
        let allow_networks: Arc<[IpNetwork]> = settings.allow_networks.clone().into();
        let resolver = CheckedResolver::new(
            Arc::clone(&allow_networks),
            settings.resolve_overrides.iter().cloned().collect(),
        );
        let client = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .retry(reqwest::retry::never())
            .dns_resolver(resolver)
            .tls_certs_merge(roots)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| OutboundError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            allow_networks,
            timeout: settings.timeout,
        })
    }

    /// GETs `url` through every guard (module docs) and returns the body and its
    /// `Cache-Control: max-age`.
    ///
    /// # Errors
    /// The first [`FetchReason`] met.
    pub async fn fetch(&self, url: &Url, accept: Accept) -> Result<Fetched, FetchReason> {
        if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
            return Err(FetchReason::NotHttps);
        }
        // An IP literal never reaches the resolver: check it here.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
            None => return Err(FetchReason::NotHttps),
        };
        if let Some(ip) = literal {
            check_address(ip, &self.allow_networks)
                .map_err(|range| FetchReason::ForbiddenAddress { ip, range })?;
        }
        tokio::time::timeout(self.timeout, self.exchange(url, accept))
            .await
            .map_err(|_| FetchReason::Timeout)?
    }

    async fn exchange(&self, url: &Url, accept: Accept) -> Result<Fetched, FetchReason> {
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, accept.media_type)
            .send()
            .await
            .map_err(|e| transport_reason(&e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchReason::Redirect(status.as_u16()));
        }
        if !status.is_success() {
            return Err(FetchReason::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !content_type
            .as_deref()
            .is_some_and(|v| is_media_type(v, accept.media_type))
        {
            return Err(FetchReason::ContentType(content_type));
        }
        let max_age = response
            .headers()
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(cache_max_age)
            .fold(None, |acc, next| match (acc, next) {
                (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                (a, b) => a.or(b),
            });
        if response
            .content_length()
            .is_some_and(|len| len > accept.max_bytes as u64)
        {
            return Err(FetchReason::TooLarge(accept.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_reason(&e))? {
            if body.len().saturating_add(chunk.len()) > accept.max_bytes {
                return Err(FetchReason::TooLarge(accept.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, max_age })
    }
}

/// RFC 9110 §8.3.1: the media type before any `;` parameter, compared without case.
fn is_media_type(content_type: &str, wanted: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(wanted))
}

/// RFC 9111 §5.2.2: `max-age=N` of one `Cache-Control` value; `no-store` and
/// `no-cache` count as 0. `None` when the value says neither.
fn cache_max_age(value: &str) -> Option<u64> {
    let mut found = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            found = argument.and_then(|a| a.parse::<u64>().ok()).or(Some(0));
        }
    }
    found
}

/// The reason behind a transport error: our resolver's refusal (found in the error's
/// source chain), a timeout, a name that did not resolve, or a connection failure.
fn transport_reason(error: &reqwest::Error) -> FetchReason {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<AddressRefused>() {
            return FetchReason::ForbiddenAddress {
                ip: refused.ip,
                range: refused.range,
            };
        }
        source = current.source();
    }
    if error.is_timeout() {
        return FetchReason::Timeout;
    }
    let text = chain_text(error);
    if text.contains("dns error") || text.contains("failed to lookup") {
        return FetchReason::Resolve(text);
    }
    FetchReason::Connect(text)
}

/// The error's sources, joined (reqwest's own text is short: "error sending request").
fn chain_text(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(current) = source {
        parts.push(current.to_string());
        source = current.source();
    }
    parts.join(": ")
}

/// Sent with every fetch, so a host's operator can tell who is asking.
const USER_AGENT: &str = concat!("portcullis/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age_and_treats_no_store_as_zero() {
        assert_eq!(cache_max_age("max-age=300"), Some(300));
        assert_eq!(cache_max_age("public, Max-Age=\"60\""), Some(60));
        assert_eq!(cache_max_age("no-store"), Some(0));
        assert_eq!(cache_max_age("max-age=600, no-cache"), Some(0));
        assert_eq!(cache_max_age("max-age=junk"), Some(0));
        assert_eq!(cache_max_age("public"), None);
    }

    #[test]
    fn compares_the_media_type_without_parameters_or_case() {
        assert!(is_media_type("application/json", "application/json"));
        assert!(is_media_type(
            "Application/JSON; charset=utf-8",
            "application/json"
        ));
        assert!(!is_media_type("text/html", "application/json"));
        assert!(!is_media_type("application/jsonx", "application/json"));
    }
}
