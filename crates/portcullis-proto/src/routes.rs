//! The route table: every path the server answers, in one place.
//!
//! The router mounts handlers on these constants and the discovery document
//! (RFC 8414 §2) advertises them from the same table, so the two cannot drift.

/// RFC 6749 §3.2 token endpoint.
pub const TOKEN: &str = "/token";
/// RFC 7517 JWK Set (`jwks_uri`).
pub const JWKS: &str = "/jwks";
/// OpenID Connect Discovery 1.0 §4.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// RFC 8414 §3 authorization server metadata.
pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
/// RFC 6749 §3.1 authorization endpoint (GET and POST).
pub const AUTHORIZE: &str = "/authorize";
/// OIDC Core §5.3 UserInfo endpoint (GET and POST, Bearer).
pub const USERINFO: &str = "/userinfo";
/// OIDC RP-Initiated Logout 1.0 §2 `end_session_endpoint` (GET and POST).
pub const END_SESSION: &str = "/logout";
/// RFC 7662 §2 token introspection endpoint (POST, client authentication).
pub const INTROSPECTION: &str = "/introspect";
/// RFC 7009 §2 token revocation endpoint (POST, client authentication).
pub const REVOCATION: &str = "/revoke";
/// RFC 8628 §3.1 device authorization endpoint (POST, client authentication).
pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
/// RFC 9126 §2 pushed authorization request endpoint (POST, client authentication).
pub const PUSHED_AUTHORIZATION_REQUEST: &str = "/par";
/// RFC 7591 §3 client registration endpoint (only when `[registration] mode` is on).
pub const REGISTRATION: &str = "/register";
/// RFC 7592 §2 client configuration endpoint: `registration_client_uri` is this with
/// the client's id as the last segment.
pub const REGISTRATION_CLIENT: &str = "/register/{client_id}";
/// RFC 8628 §3.3 `verification_uri`: the page where the user enters the user code
/// (a Portcullis page).
pub const DEVICE: &str = "/device";
/// The login page (a Portcullis page, not an OAuth endpoint).
pub const LOGIN: &str = "/login";
/// The consent page (a Portcullis page, not an OAuth endpoint).
pub const CONSENT: &str = "/consent";
/// The stylesheet of the pages (served by us: the CSP allows only `'self'` styles).
pub const STYLESHEET: &str = "/assets/portcullis.css";
/// Browsers ask for it on every page; answered 204 (no icon) rather than 404.
pub const FAVICON: &str = "/favicon.ico";
/// Liveness: the process answers.
pub const HEALTH_LIVE: &str = "/health/live";
/// Readiness: the database answers (503 otherwise).
pub const HEALTH_READY: &str = "/health/ready";
/// The landing page for a person who opens the issuer in a browser (`Accept:
/// text/html`); other clients get the JSON 404 that names the metadata document.
pub const HOME: &str = "/";
/// `serve --dev` only: the demo public client's redirect URI, a page that shows the
/// authorization response (RFC 6749 §4.1.2, RFC 9207 `iss`) and the curl that redeems
/// the code. Not routed without `--dev`.
pub const DEV_CALLBACK: &str = "/dev/callback";
/// Prometheus text exposition for scrapers on allowed addresses (not advertised).
pub const METRICS: &str = "/metrics";

/// An endpoint that the metadata document advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertisedEndpoint {
    /// The metadata member, e.g. `token_endpoint` (RFC 8414 §2).
    pub metadata_name: &'static str,
    /// The path under the issuer, e.g. `/token`.
    pub path: &'static str,
}

/// Endpoints that are implemented and therefore advertised. A later issue adds a
/// row here when it mounts a new endpoint; discovery picks it up from this table.
pub const ADVERTISED: &[AdvertisedEndpoint] = &[
    AdvertisedEndpoint {
        metadata_name: "authorization_endpoint",
        path: AUTHORIZE,
    },
    AdvertisedEndpoint {
        metadata_name: "userinfo_endpoint",
        path: USERINFO,
    },
    AdvertisedEndpoint {
        metadata_name: "end_session_endpoint",
        path: END_SESSION,
    },
    AdvertisedEndpoint {
        metadata_name: "introspection_endpoint",
        path: INTROSPECTION,
    },
    AdvertisedEndpoint {
        metadata_name: "revocation_endpoint",
        path: REVOCATION,
    },
    AdvertisedEndpoint {
        metadata_name: "device_authorization_endpoint",
        path: DEVICE_AUTHORIZATION,
    },
    AdvertisedEndpoint {
        metadata_name: "pushed_authorization_request_endpoint",
        path: PUSHED_AUTHORIZATION_REQUEST,
    },
    AdvertisedEndpoint {
        metadata_name: "token_endpoint",
        path: TOKEN,
    },
    AdvertisedEndpoint {
        metadata_name: "jwks_uri",
        path: JWKS,
    },
];
