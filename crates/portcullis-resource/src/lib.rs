//! Resource-server library for APIs that accept Portcullis (or any RFC 9068)
//! access tokens.
//!
//! * [`Validator`] checks a bearer token as RFC 9068 §4 and RFC 8725 require:
//!   `typ: at+jwt`, an `alg` allow-list matched to the key, the issuer's key by
//!   `kid`, the signature, `iss`, `aud`, `exp`/`nbf`/`iat` against an injected
//!   [`Clock`] with leeway, and scopes. Each failure is a precise
//!   [`ValidationError`]; on the wire they collapse to RFC 6750 §3.1 codes.
//! * [`KeyStore`] finds the issuer's JWKS through RFC 8414 metadata, caches the
//!   parsed keys, and refetches at most once per cooldown for an unknown `kid`
//!   (key rotation without restarts, without letting garbage `kid`s hammer the
//!   issuer).
//! * [`IntrospectionClient`] validates opaque tokens with RFC 7662 introspection,
//!   behind a short, bounded positive cache keyed by the token's SHA-256, with a
//!   bound on requests in flight.
//! * [`RequireAccessToken`] is a tower layer answering per RFC 6750 §3 (and RFC 9728
//!   §5.1 `resource_metadata`); [`AccessToken`] is the axum extractor for handlers.
//! * DPoP (RFC 9449): the layer and [`Validator::validate_dpop`] accept
//!   `Authorization: DPoP <token>` with its `DPoP` proof, check the proof against
//!   the request ([`dpop::verify_proof`]) and the token's `cnf.jkt` against the
//!   proof's key, refuse a bound token sent as `Bearer`, and accept each proof once
//!   (an in-memory `jti` cache per [`Validator`], i.e. per process). Behind a proxy,
//!   set [`RequireAccessToken::public_origin`]. Nonces are optional
//!   ([`ValidatorBuilder::dpop_nonces`]). [`dpop::DpopKey`] is the client side.
//! * [`ProtectedResourceMetadata`] serves the RFC 9728 metadata document.
//! * `testing` (cargo feature `testing`): `TestIssuer`, an in-process issuer with a
//!   generated key that mints valid, expired, not-yet-valid, wrong-issuer,
//!   wrong-audience and DPoP-bound tokens for an API's own tests.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use portcullis_resource::{AccessToken, ProtectedResourceMetadata, RequireAccessToken, Validator};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Tokens of this issuer, meant for this API (its RFC 8707 resource identifier).
//! let validator = Validator::builder("https://auth.example.com", "https://api.example.com")
//!     .required_scopes(["notes"])
//!     .build()?;
//! let metadata = ProtectedResourceMetadata::new("https://api.example.com", "https://auth.example.com")
//!     .scopes_supported(["notes", "notes:write"]);
//! let layer = RequireAccessToken::new(validator)
//!     .resource_metadata(metadata.metadata_url().unwrap_or_default());
//!
//! let app: Router = Router::new()
//!     .route("/notes", get(|token: AccessToken| async move {
//!         format!("notes of {}", token.subject().unwrap_or("?"))
//!     }))
//!     .route_layer(layer.clone())
//!     .merge(
//!         Router::new()
//!             .route("/notes/new", axum::routing::post(|| async { "created" }))
//!             .route_layer(layer.scopes(["notes:write"])),
//!     )
//!     .merge(metadata.router());
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Behind a reverse proxy that terminates TLS, tell the layer the URL clients use,
//! so DPoP proofs (whose `htu` is that URL) verify:
//!
//! ```no_run
//! # use portcullis_resource::{RequireAccessToken, Validator};
//! # fn layer(validator: Validator) -> RequireAccessToken {
//! RequireAccessToken::new(validator).public_origin("https://api.example.com")
//! # }
//! ```
//!
//! Validating directly:
//!
//! ```no_run
//! # async fn run(validator: portcullis_resource::Validator, token: &str) {
//! match validator.validate_with_scopes(token, &["notes:write"]).await {
//!     Ok(access) => println!("client {:?}, scopes {:?}", access.client_id(), access.scopes()),
//!     Err(error) => println!("{} ({})", error.error_code(), error.status()),
//! }
//! # }
//! ```

#![forbid(unsafe_code)]

mod claims;
mod clock;
pub mod dpop;
mod error;
mod fetch;
mod introspection;
mod jws;
mod key_store;
mod layer;
mod metadata;
#[cfg(feature = "testing")]
pub mod testing;
mod validator;

pub use claims::{AccessToken, Claims, TokenSource};
pub use clock::{Clock, SystemClock};
pub use error::{BuildError, ValidationError};
pub use introspection::IntrospectionClient;
pub use key_store::{KeyStore, KeyStoreOptions, MAX_KID_BYTES};
pub use layer::{RequireAccessToken, RequireAccessTokenService};
pub use metadata::{PROTECTED_RESOURCE_METADATA_PATH, ProtectedResourceMetadata};
pub use validator::{
    DEFAULT_ALGORITHMS, DpopRequest, JwtCheck, MAX_TOKEN_BYTES, Validator, ValidatorBuilder,
    VerifiedJwt,
};

/// Re-exported so callers name algorithms and JWK sets without their own
/// `jsonwebtoken` dependency.
pub use jsonwebtoken::{Algorithm, jwk::JwkSet};
