//! RFC 6750 §2.1 bearer tokens in the `Authorization` header, as a tower layer
//! ([`RequireAccessToken`]) and an axum extractor ([`AccessToken`]), answering
//! failures per RFC 6750 §3 (and RFC 9728 §5.1 `resource_metadata`).

use crate::validator::is_b64token;
use crate::{AccessToken, ValidationError, Validator};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// A tower layer that lets a request through only with a valid bearer access token
/// (RFC 6750 §2.1, `Authorization: Bearer …`; tokens in a form body or the query
/// string are not read, RFC 9700 §4.3.2 advises against them), and puts the
/// validated [`AccessToken`] into the request extensions for the [`AccessToken`]
/// extractor.
///
/// Failures are answered per RFC 6750 §3, with an empty body:
/// * no `Authorization` header, or another scheme (e.g. `Basic`): 401 with a bare
///   `WWW-Authenticate: Bearer` (RFC 6750 §3.1: no error code when the request
///   carried no bearer authentication);
/// * a malformed `Authorization: Bearer` header (repeated header, empty token,
///   characters outside `b64token`): 400 `error="invalid_request"`;
/// * any token failure: 401 `error="invalid_token"`, the same for every reason so
///   the answer does not help forge a token; the precise [`ValidationError`] is
///   logged at debug level (never the token);
/// * a missing scope: 403 `error="insufficient_scope", scope="<needed scopes>"`;
/// * the issuer's keys or introspection endpoint unreachable: 503 with
///   `Retry-After` (a 401 would wrongly tell clients their tokens are bad).
///
/// With [`resource_metadata`](Self::resource_metadata), every challenge carries
/// `resource_metadata="<url>"` (RFC 9728 §5.1).
///
/// Per-route scopes: add one layer per route (`route_layer`) with its
/// [`scopes`](Self::scopes).
///
/// ```no_run
/// # use portcullis_resource::{RequireAccessToken, Validator, AccessToken};
/// # use axum::{Router, routing::get};
/// # fn app(validator: Validator) -> Router {
/// Router::new()
///     .route("/notes", get(|t: AccessToken| async move { format!("hi {:?}", t.subject()) }))
///     .route_layer(RequireAccessToken::new(validator.clone()).scopes(["notes:read"]))
///     .merge(
///         Router::new()
///             .route("/admin", get(|| async { "ok" }))
///             .route_layer(RequireAccessToken::new(validator).scopes(["admin"])),
///     )
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RequireAccessToken {
    validator: Validator,
    scopes: Vec<String>,
    resource_metadata: Option<String>,
}

impl RequireAccessToken {
    /// Requires a token that `validator` accepts (with the validator's own required
    /// scopes). The validator is cheap to clone; share one per issuer/audience.
    pub fn new(validator: Validator) -> Self {
        Self {
            validator,
            scopes: Vec::new(),
            resource_metadata: None,
        }
    }

    /// Scopes this route requires on top of the validator's (RFC 6750 §3.1
    /// `insufficient_scope` when one is missing). Calls add up.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The URL of this resource's RFC 9728 metadata document, added to every
    /// `WWW-Authenticate` challenge as `resource_metadata="…"` (RFC 9728 §5.1) so a
    /// client can find which authorization server to ask. See
    /// [`ProtectedResourceMetadata::metadata_url`](crate::ProtectedResourceMetadata::metadata_url).
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }
}

impl<S> Layer<S> for RequireAccessToken {
    type Service = RequireAccessTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAccessTokenService {
            inner,
            shared: Arc::new(Shared::new(self)),
        }
    }
}

/// The service [`RequireAccessToken`] wraps around a route.
#[derive(Clone)]
pub struct RequireAccessTokenService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for RequireAccessTokenService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireAccessTokenService")
            .field("validator", &self.shared.validator)
            .field("scopes", &self.shared.scopes)
            .finish_non_exhaustive()
    }
}

struct Shared {
    validator: Validator,
    scopes: Vec<String>,
    /// `, resource_metadata="…"` or empty.
    metadata_param: String,
    missing: HeaderValue,
    invalid_token: HeaderValue,
    invalid_request: HeaderValue,
}

impl Shared {
    fn new(layer: &RequireAccessToken) -> Self {
        let metadata_param = match &layer.resource_metadata {
            Some(url) if HeaderValue::from_str(url).is_ok() => {
                format!(", resource_metadata=\"{}\"", quoted(url))
            }
            Some(url) => {
                tracing::warn!(
                    url,
                    "resource_metadata URL is not a valid header value; left out"
                );
                String::new()
            }
            None => String::new(),
        };
        let missing = match &layer.resource_metadata {
            Some(_) if !metadata_param.is_empty() => {
                // RFC 9728 §5.1: `Bearer resource_metadata="…"`, no error code.
                challenge(&format!(
                    "Bearer {}",
                    metadata_param.trim_start_matches(", ")
                ))
            }
            _ => HeaderValue::from_static("Bearer"),
        };
        Self {
            validator: layer.validator.clone(),
            scopes: layer.scopes.clone(),
            missing,
            invalid_token: challenge(&format!("Bearer error=\"invalid_token\"{metadata_param}")),
            invalid_request: challenge(&format!(
                "Bearer error=\"invalid_request\"{metadata_param}"
            )),
            metadata_param,
        }
    }

    /// The one mapping from a rejection to the wire (RFC 6750 §3, §3.1).
    fn reject<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let mut response = Response::new(B::default());
        let headers = response.headers_mut();
        match rejection {
            Rejection::MissingToken => {
                tracing::debug!("request without a bearer token");
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, self.missing.clone());
            }
            Rejection::Invalid(error) => {
                let status = error.status();
                match &error {
                    ValidationError::InsufficientScope { needed } => {
                        tracing::debug!(reason = %error, "bearer token refused");
                        let scope = needed
                            .iter()
                            .map(|s| quoted(s))
                            .collect::<Vec<_>>()
                            .join(" ");
                        let value = HeaderValue::from_str(&format!(
                            "Bearer error=\"insufficient_scope\", scope=\"{scope}\"{}",
                            self.metadata_param
                        ))
                        .unwrap_or_else(|_| {
                            challenge(&format!(
                                "Bearer error=\"insufficient_scope\"{}",
                                self.metadata_param
                            ))
                        });
                        headers.insert(WWW_AUTHENTICATE, value);
                    }
                    ValidationError::InvalidRequest { .. } => {
                        tracing::debug!(reason = %error, "malformed Authorization header");
                        headers.insert(WWW_AUTHENTICATE, self.invalid_request.clone());
                    }
                    ValidationError::KeysUnavailable(_)
                    | ValidationError::IntrospectionUnavailable(_) => {
                        tracing::warn!(reason = %error, "cannot validate bearer tokens now");
                        headers.insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
                    }
                    _ => {
                        tracing::debug!(reason = %error, "bearer token refused");
                        headers.insert(WWW_AUTHENTICATE, self.invalid_token.clone());
                    }
                }
                *response.status_mut() = status;
            }
        }
        response
    }
}

enum Rejection {
    MissingToken,
    Invalid(ValidationError),
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAccessTokenService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready handles this request (tower's idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let result = match bearer_token(request.headers()) {
                Ok(token) => shared
                    .validator
                    .validate_scoped(token, &shared.scopes)
                    .await
                    .map_err(Rejection::Invalid),
                Err(rejection) => Err(rejection),
            };
            match result {
                Ok(token) => {
                    request.extensions_mut().insert(token);
                    inner.call(request).await
                }
                Err(rejection) => Ok(shared.reject(rejection)),
            }
        })
    }
}

/// RFC 6750 §2.1: the token of the one `Authorization: Bearer <b64token>` header.
/// The scheme compares case-insensitively (RFC 9110 §11.1).
fn bearer_token(headers: &HeaderMap) -> Result<&str, Rejection> {
    let invalid = |reason| Rejection::Invalid(ValidationError::InvalidRequest { reason });
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::MissingToken);
    };
    if values.next().is_some() {
        return Err(invalid("more than one Authorization header"));
    }
    let Ok(value) = value.to_str() else {
        return Err(invalid("Authorization header is not visible ASCII"));
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        // RFC 6750 §3.1: a request with another scheme carries no bearer
        // authentication: a bare challenge, no error code.
        return Err(Rejection::MissingToken);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(invalid("empty bearer token"));
    }
    if !is_b64token(token) {
        return Err(invalid("bearer token has characters outside b64token"));
    }
    Ok(token)
}

/// Escapes a value for an RFC 9110 §5.6.4 quoted-string.
fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

fn challenge(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// `Retry-After` on a 503 (seconds).
const RETRY_AFTER_SECONDS: &str = "5";

/// Handlers behind [`RequireAccessToken`] take the validated token as an extractor.
/// Without the layer on the route this is a server bug: 500 `layer missing`
/// (logged at error level), never an unauthenticated pass.
impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AccessToken>() {
            Some(token) => Ok(token.clone()),
            None => {
                tracing::error!(
                    path = %parts.uri.path(),
                    "AccessToken extractor used on a route without the RequireAccessToken layer"
                );
                Err((StatusCode::INTERNAL_SERVER_ERROR, "layer missing"))
            }
        }
    }
}

/// `Option<AccessToken>`: `None` when no [`RequireAccessToken`] layer validated a
/// token for this request.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AccessToken {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<AccessToken>().cloned())
    }
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

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn reads_the_bearer_token() {
        assert_eq!(
            bearer_token(&headers(&["Bearer abc.def.ghi"])).ok(),
            Some("abc.def.ghi")
        );
        assert_eq!(bearer_token(&headers(&["bearer  abc"])).ok(), Some("abc"));
        assert!(matches!(
            bearer_token(&headers(&[])),
            Err(Rejection::MissingToken)
        ));
        assert!(matches!(
            bearer_token(&headers(&["Basic YTpi"])),
            Err(Rejection::MissingToken)
        ));
        for bad in [
            &["Bearer"][..],
            &["Bearer "],
            &["Bearer a b"],
            &["Bearer a", "Bearer b"],
        ] {
            assert!(
                matches!(
                    bearer_token(&headers(bad)),
                    Err(Rejection::Invalid(ValidationError::InvalidRequest { .. }))
                ),
                "{bad:?}"
            );
        }
    }
}
