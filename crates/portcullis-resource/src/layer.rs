//! RFC 6750 §2.1 bearer tokens and RFC 9449 §7.1 DPoP-bound tokens in the
//! `Authorization` header, as a tower layer ([`RequireAccessToken`]) and an axum
//! extractor ([`AccessToken`]), answering failures per RFC 6750 §3 and RFC 9449
//! §7.1 (and RFC 9728 §5.1 `resource_metadata`).

use crate::dpop::{self, DPOP_ALGS, DPOP_NONCE, DpopProofError};
use crate::validator::is_b64token;
use crate::{AccessToken, DpopRequest, ValidationError, Validator};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri};
use http::header::{AUTHORIZATION, HOST, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// A tower layer that lets a request through only with a valid access token, and
/// puts the validated [`AccessToken`] into the request extensions for the
/// [`AccessToken`] extractor. It reads the `Authorization` header only (tokens in a
/// form body or the query string are not read, RFC 9700 §4.3.2 advises against
/// them), with either scheme:
/// * `Bearer <token>` (RFC 6750 §2.1): [`Validator::validate`]; a DPoP-bound token
///   (`cnf`) is refused (RFC 9449 §7.2);
/// * `DPoP <token>` with one `DPoP: <proof>` header (RFC 9449 §7.1):
///   [`Validator::validate_dpop`], with the request's method as `htm` and its URL
///   as `htu`. The URL is [`public_origin`](Self::public_origin) + the request
///   path when set (**set it behind a reverse proxy**, e.g.
///   `https://api.example.com`); otherwise the request's absolute URI, or
///   `https://<Host><path>` (`http` when the `Host` is loopback).
///
/// Failures are answered with an empty body:
/// * no `Authorization` header, or another scheme (e.g. `Basic`): 401 with a bare
///   `WWW-Authenticate: Bearer` (RFC 6750 §3.1: no error code when the request
///   carried no bearer authentication), and a second challenge
///   `DPoP algs="ES256 PS256 RS256 EdDSA"` (RFC 9449 §7.1);
/// * a request with the `DPoP` scheme is answered with `DPoP` challenges carrying
///   `algs`: a proof failure (missing, repeated, bad, replayed) is 401
///   `error="invalid_dpop_proof"` with an `error_description` naming the check (it
///   describes the client's own proof, nothing about the token); a required nonce
///   missing or stale is 401 `error="use_dpop_nonce"` with a `DPoP-Nonce` header
///   (RFC 9449 §9); token failures are `error="invalid_token"` as below;
/// * a DPoP-bound token presented as `Bearer`: 401
///   `DPoP error="invalid_token", algs="…"`;
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
/// `resource_metadata="<url>"` (RFC 9728 §5.1); with
/// [`challenge_scopes`](Self::challenge_scopes), the 401 challenges for a missing or
/// invalid token carry `scope="<scopes>"` (RFC 6750 §3), e.g.
/// `Bearer scope="tools:read", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp"`. When the validator requires DPoP
/// nonces, every answer to a `DPoP` request carries a current `DPoP-Nonce`.
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
    challenge_scopes: Vec<String>,
    resource_metadata: Option<String>,
    public_origin: Option<String>,
}

impl RequireAccessToken {
    /// Requires a token that `validator` accepts (with the validator's own required
    /// scopes). The validator is cheap to clone; share one per issuer/audience.
    pub fn new(validator: Validator) -> Self {
        Self {
            validator,
            scopes: Vec::new(),
            challenge_scopes: Vec::new(),
            resource_metadata: None,
            public_origin: None,
        }
    }

    /// The external origin clients use to reach this API, e.g.
    /// `https://api.example.com` (optionally with a path prefix a proxy strips,
    /// `https://example.com/api`): a DPoP proof's `htu` must equal it followed by
    /// the request's path (RFC 9449 §4.3 step 9). Behind a reverse proxy or load
    /// balancer, where the API sees another scheme, host or port than the client,
    /// this is required for DPoP. A trailing `/` is ignored.
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        self.public_origin = Some(origin.trim_end_matches('/').to_owned());
        self
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

    /// The scopes a client should ask for to use this resource, announced in the 401
    /// challenges (no token, or an invalid one) as `scope="…"` (RFC 6750 §3: "the
    /// scope of access required"): a client that omitted `scope` learns what to
    /// request (MCP clients read it). Typically the RFC 9728 `scopes_supported`, or
    /// this route's [`scopes`](Self::scopes). Default: none, and the attribute is left
    /// out. A 403 `insufficient_scope` challenge always names the scopes the token
    /// lacked, whatever this says. Calls add up.
    pub fn challenge_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.challenge_scopes
            .extend(scopes.into_iter().map(Into::into));
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
    public_origin: Option<String>,
    missing: HeaderValue,
    missing_dpop: HeaderValue,
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
        // RFC 6750 §3: `scope="…"` on the 401 challenges, when configured.
        let scope_param = if layer.challenge_scopes.is_empty() {
            String::new()
        } else {
            format!(", scope=\"{}\"", scope_list(&layer.challenge_scopes))
        };
        let params = format!("{scope_param}{metadata_param}");
        let missing = if params.is_empty() {
            HeaderValue::from_static("Bearer")
        } else {
            // RFC 9728 §5.1: `Bearer resource_metadata="…"`, no error code.
            challenge(&format!("Bearer {}", params.trim_start_matches(", ")))
        };
        Self {
            validator: layer.validator.clone(),
            scopes: layer.scopes.clone(),
            public_origin: layer.public_origin.clone(),
            missing,
            missing_dpop: challenge(&format!("DPoP algs=\"{DPOP_ALGS}\"{params}")),
            invalid_token: challenge(&format!("Bearer error=\"invalid_token\"{params}")),
            invalid_request: challenge(&format!(
                "Bearer error=\"invalid_request\"{metadata_param}"
            )),
            metadata_param,
        }
    }

    /// The one mapping from a rejection to the wire (RFC 6750 §3, §3.1; RFC 9449
    /// §7.1, §9).
    fn reject<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let mut response = Response::new(B::default());
        let (error, scheme) = match rejection {
            Rejection::MissingToken => {
                tracing::debug!("request without an access token");
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                let headers = response.headers_mut();
                headers.insert(WWW_AUTHENTICATE, self.missing.clone());
                headers.append(WWW_AUTHENTICATE, self.missing_dpop.clone());
                return response;
            }
            Rejection::Invalid(error, scheme) => (error, scheme),
        };
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        if let ValidationError::KeysUnavailable(_) | ValidationError::IntrospectionUnavailable(_) =
            error
        {
            tracing::warn!(reason = %error, "cannot validate access tokens now");
            headers.insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
            return response;
        }
        tracing::debug!(reason = %error, ?scheme, "access token refused");
        // RFC 9449 §7.2: a bound token sent as a bearer token is answered with the
        // scheme it must use.
        let dpop_challenge =
            scheme == Scheme::Dpop || matches!(error, ValidationError::SenderConstrained);
        if !dpop_challenge {
            let value = match &error {
                ValidationError::InsufficientScope { needed } => HeaderValue::from_str(&format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{}\"{}",
                    scope_list(needed),
                    self.metadata_param
                ))
                .unwrap_or_else(|_| {
                    challenge(&format!(
                        "Bearer error=\"insufficient_scope\"{}",
                        self.metadata_param
                    ))
                }),
                ValidationError::InvalidRequest { .. } => self.invalid_request.clone(),
                _ => self.invalid_token.clone(),
            };
            headers.insert(WWW_AUTHENTICATE, value);
            return response;
        }
        let mut value = format!("DPoP error=\"{}\"", error.error_code());
        match &error {
            // The description names which check of the client's own proof failed;
            // it says nothing about the token.
            ValidationError::InvalidDpopProof(proof_error) => {
                value.push_str(&format!(", error_description=\"{proof_error}\""));
            }
            ValidationError::InsufficientScope { needed } => {
                value.push_str(&format!(", scope=\"{}\"", scope_list(needed)));
            }
            _ => {}
        }
        value.push_str(&format!(", algs=\"{DPOP_ALGS}\"{}", self.metadata_param));
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_str(&value)
                .unwrap_or_else(|_| challenge(&format!("DPoP error=\"{}\"", error.error_code()))),
        );
        if matches!(
            error,
            ValidationError::InvalidDpopProof(
                DpopProofError::NonceMissing | DpopProofError::NonceMismatch
            )
        ) {
            self.add_nonce(headers);
        }
        response
    }

    /// RFC 9449 §9: the current nonce, when the validator requires nonces.
    fn add_nonce(&self, headers: &mut HeaderMap) {
        if let Some(nonce) = self
            .validator
            .dpop_nonce()
            .and_then(|nonce| HeaderValue::from_str(&nonce).ok())
        {
            headers.insert(DPOP_NONCE, nonce);
        }
    }

    /// RFC 9449 §4.3 step 9: the URL the client addressed, for `htu` (see
    /// [`RequireAccessToken`]). The path is the one the client sent, before any
    /// `nest` stripped a prefix (axum's [`OriginalUri`]).
    fn request_url<B>(&self, request: &Request<B>) -> String {
        let path = request
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| request.uri().path(), |original| original.0.path());
        if let Some(origin) = &self.public_origin {
            return format!("{origin}{path}");
        }
        let uri = request.uri();
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            return format!("{scheme}://{authority}{path}");
        }
        let Some(host) = request.headers().get(HOST).and_then(|h| h.to_str().ok()) else {
            return String::new();
        };
        let scheme = if is_loopback_host(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}{path}")
    }
}

enum Rejection {
    MissingToken,
    Invalid(ValidationError, Scheme),
}

/// The `Authorization` scheme of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

/// The credentials of the `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
enum Presented<'a> {
    Bearer(&'a str),
    Dpop(&'a str),
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
            let result = match presented_token(request.headers()) {
                Ok(Presented::Bearer(token)) => shared
                    .validator
                    .validate_scoped(token, &shared.scopes)
                    .await
                    .map_err(|error| Rejection::Invalid(error, Scheme::Bearer)),
                Ok(Presented::Dpop(token)) => {
                    let htu = shared.request_url(&request);
                    shared
                        .validate_dpop(token, request.headers(), request.method(), &htu)
                        .await
                        .map_err(|error| Rejection::Invalid(error, Scheme::Dpop))
                }
                Err(rejection) => Err(rejection),
            };
            match result {
                Ok(token) => {
                    let dpop = token.dpop.is_some();
                    request.extensions_mut().insert(token);
                    let mut response = inner.call(request).await?;
                    if dpop {
                        shared.add_nonce(response.headers_mut());
                    }
                    Ok(response)
                }
                Err(rejection) => Ok(shared.reject(rejection)),
            }
        })
    }
}

impl Shared {
    /// RFC 9449 §7.1: the token with the request's one proof.
    async fn validate_dpop(
        &self,
        token: &str,
        headers: &HeaderMap,
        method: &http::Method,
        htu: &str,
    ) -> Result<AccessToken, ValidationError> {
        let proof = match dpop::proof_header(headers) {
            Ok(Some(proof)) => proof,
            Ok(None) => {
                return Err(ValidationError::InvalidDpopProof(
                    DpopProofError::MissingProof,
                ));
            }
            Err(error) => return Err(ValidationError::InvalidDpopProof(error)),
        };
        let dpop = DpopRequest {
            proof,
            htm: method.as_str(),
            htu,
        };
        self.validator
            .validate_presented(token, Some(&dpop), &self.scopes)
            .await
    }
}

/// RFC 6750 §2.1 / RFC 9449 §7.1: the token of the one `Authorization: Bearer
/// <b64token>` or `Authorization: DPoP <b64token>` header. The scheme compares
/// case-insensitively (RFC 9110 §11.1).
fn presented_token(headers: &HeaderMap) -> Result<Presented<'_>, Rejection> {
    // Before the scheme is known, a malformed header is answered as bearer.
    let malformed =
        |reason| Rejection::Invalid(ValidationError::InvalidRequest { reason }, Scheme::Bearer);
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::MissingToken);
    };
    if values.next().is_some() {
        return Err(malformed("more than one Authorization header"));
    }
    let Ok(value) = value.to_str() else {
        return Err(malformed("Authorization header is not visible ASCII"));
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("Bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(dpop::DPOP) {
        Scheme::Dpop
    } else {
        // RFC 6750 §3.1: a request with another scheme carries no bearer
        // authentication: a bare challenge, no error code.
        return Err(Rejection::MissingToken);
    };
    let invalid = |reason| Rejection::Invalid(ValidationError::InvalidRequest { reason }, scheme);
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(invalid("empty access token"));
    }
    if !is_b64token(token) {
        return Err(invalid("access token has characters outside b64token"));
    }
    Ok(match scheme {
        Scheme::Bearer => Presented::Bearer(token),
        Scheme::Dpop => Presented::Dpop(token),
    })
}

/// The scopes of an `insufficient_scope` challenge, space-separated and escaped.
fn scope_list(needed: &[String]) -> String {
    needed
        .iter()
        .map(|s| quoted(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a `Host` header (with or without port) names a loopback host.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.split(':').next().unwrap_or(host),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
            presented_token(&headers(&["Bearer abc.def.ghi"])).ok(),
            Some(Presented::Bearer("abc.def.ghi"))
        );
        assert_eq!(
            presented_token(&headers(&["bearer  abc"])).ok(),
            Some(Presented::Bearer("abc"))
        );
        assert_eq!(
            presented_token(&headers(&["dpop abc"])).ok(),
            Some(Presented::Dpop("abc"))
        );
        assert!(matches!(
            presented_token(&headers(&[])),
            Err(Rejection::MissingToken)
        ));
        assert!(matches!(
            presented_token(&headers(&["Basic YTpi"])),
            Err(Rejection::MissingToken)
        ));
        for bad in [
            &["Bearer"][..],
            &["Bearer "],
            &["Bearer a b"],
            &["Bearer a", "Bearer b"],
            &["DPoP"],
            &["DPoP a b"],
        ] {
            assert!(
                matches!(
                    presented_token(&headers(bad)),
                    Err(Rejection::Invalid(
                        ValidationError::InvalidRequest { .. },
                        _
                    ))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:3000",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "api.example",
            "10.0.0.1:80",
            "localhost.example",
            "[2001:db8::1]:443",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
