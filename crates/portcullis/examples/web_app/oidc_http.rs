//! The HTTP client the `openidconnect` crate sends its requests with.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The `openidconnect` HTTP client over reqwest 0.13 (the crate's own reqwest feature
/// pulls an older reqwest). It does not follow redirects: the crate's documented guard
/// against SSRF through discovery and token requests.
#[derive(Clone)]
pub struct OidcHttp(pub reqwest::Client);

impl OidcHttp {
    /// No redirects, a 10 s timeout.
    ///
    /// # Errors
    /// The TLS backend cannot be initialised.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()?,
        ))
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for OidcHttp {
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| std::io::Error::other(e.without_url()))?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| std::io::Error::other(e.without_url()))?;
            builder.body(bytes.to_vec()).map_err(std::io::Error::other)
        })
    }
}

/// How long one request to the authorization server or the API may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
