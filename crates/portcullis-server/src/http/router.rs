//! The router: every route from `portcullis_proto::routes`, and the middleware stack
//! (request id, tracing that never logs secrets, body limit, security headers).

use crate::app::admin::dev::DemoPkce;
use crate::app::state::AppState;
use crate::http::endpoints::{
    assets, authorize, consent, dev, device, device_authorization, discovery, end_session, health,
    home, introspection, jwks, login, metrics, par, registration, revocation, token, userinfo,
};
use crate::http::extract::request_id_header;
use crate::http::middleware;
use crate::http::middleware::cors;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::{get, post};
use portcullis_proto::routes;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

/// Builds the router over `state`: the routes, then our middleware around them.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] plus `serve --dev`'s demo callback page ([`routes::DEV_CALLBACK`]),
/// which fills `pkce`'s verifier into the curl it shows.
pub fn dev_router(state: AppState, pkce: DemoPkce) -> Router {
    let dev = Router::new().route(
        routes::DEV_CALLBACK,
        get(move |state, query| dev::dev_callback_get(state, query, pkce.clone())),
    );
    router_with(state, dev)
}

/// The router with `extra` routes merged among the others.
fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let routes = Router::new()
        .merge(oauth_routes(&state))
        .merge(extra)
        .merge(page_routes())
        .merge(public_routes())
        .merge(registration_routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(crate::http::extract::MAX_BODY_BYTES));
    // Around the routes: the request span, fault logging and `nosniff`; around those,
    // the sensitive-header marks and our own request id.
    let https = state.config().issuer.starts_with("https://");
    let router = with_request_id(with_request_span(routes))
        // Outermost, so it sees every response (413 included); inside routing, so the
        // matched route is known.
        .layer(axum::middleware::from_fn(middleware::metrics::track))
        .with_state(state);
    if https { with_hsts(router) } else { router }
}

/// `Strict-Transport-Security: max-age=31536000` (RFC 6797 §6.1: one year, the
/// usual value; no `includeSubDomains`, which would bind hosts we do not serve) on
/// every answer of an https issuer, whether TLS ends here or at a proxy (why: after
/// one visit a browser never again tries `http://`, so an active attacker cannot strip
/// TLS from the login page, RFC 6797 §2.3.1). Browsers ignore it over plain HTTP
/// (RFC 6797 §8.1).
pub(crate) fn with_hsts(router: Router) -> Router {
    router.layer(SetResponseHeaderLayer::if_not_present(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    ))
}

/// The `Strict-Transport-Security` value of an https issuer.
pub const HSTS: &str = "max-age=31536000";

/// The OAuth endpoints clients call (JSON answers; the POST-only ones answer any other
/// method with 405). Browser apps call all but introspection, so those get per-client
/// CORS ([`cors::per_client`]), whose tower-http layer answers every `OPTIONS` as a
/// preflight (without `Access-Control-Allow-Origin` unless some client allows the
/// `Origin`); introspection is for confidential clients (resource servers) and gets
/// none, so `OPTIONS` there is still 405.
fn oauth_routes(state: &AppState) -> Router<AppState> {
    let post_only = Router::new()
        .route(
            routes::TOKEN,
            post(token::token_post).fallback(token::token_method_not_allowed),
        )
        .route(
            routes::REVOCATION,
            post(revocation::revocation_post).fallback(revocation::revocation_method_not_allowed),
        )
        .route(
            routes::DEVICE_AUTHORIZATION,
            post(device_authorization::device_authorization_post)
                .fallback(device_authorization::device_authorization_method_not_allowed),
        )
        .route(
            routes::PUSHED_AUTHORIZATION_REQUEST,
            post(par::par_post).fallback(par::par_method_not_allowed),
        )
        .layer(cors::per_client(state, &[Method::POST]));
    let userinfo = Router::new()
        .route(
            routes::USERINFO,
            get(userinfo::userinfo_handler).post(userinfo::userinfo_handler),
        )
        .layer(cors::per_client(state, &[Method::GET, Method::POST]));
    post_only
        .merge(userinfo)
        // Outside the CORS layer: it strips what that layer added to a refused answer.
        .layer(axum::middleware::from_fn(cors::withhold_refused))
        .route(
            routes::INTROSPECTION,
            post(introspection::introspection_post)
                .fallback(introspection::introspection_method_not_allowed),
        )
}

/// RFC 7591 §3 and RFC 7592 §2 (404 when `[registration] mode = "off"`), with their
/// own body limit ([`crate::http::error::registration::MAX_REGISTRATION_BODY_BYTES`]).
fn registration_routes() -> Router<AppState> {
    Router::new()
        .route(routes::REGISTRATION, post(registration::registration_post))
        .route(
            routes::REGISTRATION_CLIENT,
            get(registration::registration_client_get)
                .put(registration::registration_client_put)
                .delete(registration::registration_client_delete),
        )
        .layer(DefaultBodyLimit::max(
            crate::http::error::registration::MAX_REGISTRATION_BODY_BYTES,
        ))
}

/// The pages a person's browser visits.
fn page_routes() -> Router<AppState> {
    Router::new()
        .route(
            routes::DEVICE,
            get(device::device_get).post(device::device_post),
        )
        .route(
            routes::AUTHORIZE,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(routes::LOGIN, get(login::login_get).post(login::login_post))
        .route(
            routes::CONSENT,
            get(consent::consent_get).post(consent::consent_post),
        )
        .route(
            routes::END_SESSION,
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .route(routes::HOME, get(home::home_get))
        .route(routes::STYLESHEET, get(assets::stylesheet_get))
        .route(routes::FAVICON, get(assets::favicon_get))
}

/// Public documents (CORS for any origin: [`cors::public_documents`]) and the
/// operator's endpoints (no CORS).
fn public_routes() -> Router<AppState> {
    Router::new()
        .route(routes::JWKS, get(jwks::jwks_get))
        .route(
            routes::OAUTH_AUTHORIZATION_SERVER,
            get(discovery::metadata_get),
        )
        .route(routes::OPENID_CONFIGURATION, get(discovery::metadata_get))
        .layer(cors::public_documents())
        .route(routes::HEALTH_LIVE, get(health::live_get))
        .route(routes::HEALTH_READY, get(health::ready_get))
        .route(routes::METRICS, get(metrics::metrics_get))
}

/// `routes` inside the request span (and its one log line per request), the request id
/// copied to the response, fault logging and `X-Content-Type-Options: nosniff`.
fn with_request_span(routes: Router<AppState>) -> Router<AppState> {
    let request_id = HeaderName::from_static(request_id_header());
    routes.layer(
        ServiceBuilder::new()
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(make_span)
                    .on_request(())
                    .on_response(on_response)
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(request_id))
            // Inside the request span and after the request id is set.
            .layer(axum::middleware::from_fn(middleware::log_faults))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            )),
    )
}

/// `routes` behind the sensitive-header marks (never logged) and a fresh request id.
fn with_request_id(routes: Router<AppState>) -> Router<AppState> {
    let request_id = HeaderName::from_static(request_id_header());
    routes.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
            .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
            // Always our own id (why: a client-chosen id could forge audit correlation).
            .map_request(|mut req: Request| {
                req.headers_mut().remove(request_id_header());
                req
            })
            .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid)),
    )
}

impl crate::app::state::App {
    /// The router with every endpoint and middleware.
    pub fn router(&self) -> Router {
        router(self.state().clone())
    }

    /// [`Self::router`] plus `serve --dev`'s demo callback page ([`dev_router`]).
    pub fn dev_router(&self, pkce: DemoPkce) -> Router {
        dev_router(self.state().clone(), pkce)
    }
}

/// The request span: method, path (never the query string, which may carry codes) and
/// request id. Headers are not recorded.
fn make_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get(request_id_header())
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// One log line per request: server errors at error, client errors at info, the rest
/// at debug (a busy token endpoint would otherwise flood the log).
fn on_response(response: &Response, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    if status >= 500 {
        tracing::error!(status, latency_us, "request finished");
    } else if status >= 400 {
        tracing::info!(status, latency_us, "request finished");
    } else {
        tracing::debug!(status, latency_us, "request finished");
    }
}

/// The answer for a path we do not serve ([`crate::http::error::not_found`]).
async fn not_found() -> Response {
    crate::http::error::not_found()
}
