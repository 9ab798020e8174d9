//! Two levels of error (CONVENTIONS.md §2): [`ValidationError`] names the exact check
//! that failed, for logs and tests; [`ValidationError::error_code`] and
//! [`ValidationError::status`] are the one mapping onto the wire (RFC 6750 §3.1).

use http::StatusCode;

/// Why a bearer token was refused. Each variant names the exact check that failed,
/// in the order the [`Validator`](crate::Validator) runs them (RFC 9068 §4,
/// RFC 8725 §3). Values read from the token before its signature was checked are
/// named `unverified_*` (clipped to 256 bytes).
///
/// The precise reason is for logs and tests only: on the wire every token failure
/// is the same `invalid_token` (RFC 6750 §3.1), so a caller learns nothing that
/// helps forge a token. `Display` never includes the token itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The token is neither a JWS in compact serialization (RFC 7515 §7.1) nor, when
    /// no introspection client is configured, anything else this validator can
    /// check; or a JWS part is not base64url JSON.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The token is longer than [`MAX_TOKEN_BYTES`](crate::MAX_TOKEN_BYTES); it is
    /// refused before any parsing so a huge header cannot cost CPU or memory.
    #[error("the token is {len} bytes, over the {max}-byte limit")]
    Oversized {
        /// The token's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// RFC 9068 §4 / RFC 8725 §3.11: the JOSE header `typ` is not `at+jwt`
    /// (nor `application/at+jwt`), e.g. an OpenID Connect ID token (`typ: JWT`)
    /// replayed as an access token. For an introspected token: its `token_type` is
    /// not an access token type (e.g. a refresh token).
    #[error("not an access token (typ {unverified_typ:?})")]
    NotAnAccessToken {
        /// The `typ` header (or introspection `token_type`) as sent.
        unverified_typ: Option<String>,
    },
    /// RFC 7515 §4.1.11: the header lists `crit` extensions this validator does not
    /// understand, so the token must be refused.
    #[error("the header has critical extensions (crit) this validator does not support")]
    UnsupportedCriticalHeader,
    /// RFC 8725 §3.1 / RFC 9068 §4: `alg` is not in the allow-list (`none`, any HMAC
    /// algorithm and unknown names are never allowed).
    #[error("algorithm {unverified_alg:?} is not allowed")]
    AlgorithmNotAllowed {
        /// The `alg` header as sent.
        unverified_alg: String,
    },
    /// RFC 8725 §3.1: the header `alg` does not fit the selected key (its `kty`/`crv`,
    /// or the JWK's own `alg`), e.g. `RS256` with an EC key.
    #[error("the algorithm does not match the key's type")]
    AlgorithmKeyMismatch,
    /// The header has no `kid`, so no key of the issuer can be selected (RFC 7515
    /// §4.1.4; RFC 9068 §4 validates with the issuer's published keys).
    #[error("the header has no kid")]
    MissingKeyId,
    /// No key with this `kid` is published by the issuer (after at most one refetch
    /// per cooldown), or the `kid` is too long or holds characters that are never
    /// looked up remotely.
    #[error("unknown key id {unverified_kid:?}")]
    UnknownKeyId {
        /// The `kid` header as sent.
        unverified_kid: String,
    },
    /// RFC 7515 §5.2: the signature does not verify with the selected key.
    #[error("the signature does not verify")]
    BadSignature,
    /// RFC 9068 §4 / RFC 7519 §4.1.1: `iss` is absent or not exactly the configured
    /// issuer.
    #[error("iss is not the configured issuer")]
    WrongIssuer,
    /// RFC 9068 §4 / RFC 7519 §4.1.3: `aud` is absent or does not contain the
    /// configured audience (RFC 8707 resource indicator).
    #[error("aud does not contain the configured audience")]
    WrongAudience,
    /// A claim the checks need is absent (`exp`: RFC 9068 §2.2 makes it required).
    #[error("the {claim} claim is missing")]
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// RFC 7519 §4.1.4: `exp` lies more than the leeway in the past.
    #[error("the token has expired")]
    Expired,
    /// RFC 7519 §4.1.5: `nbf` lies more than the leeway in the future.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// RFC 7519 §4.1.6: `iat` lies more than the leeway in the future.
    #[error("the token was issued in the future (iat)")]
    IssuedInTheFuture,
    /// RFC 9449 §7.1 / RFC 8705 §3: the token is bound to a key (`cnf`); presented as
    /// a plain bearer token without the proof, it must be refused.
    #[error("the token is sender-constrained (cnf) and cannot be used as a bearer token")]
    SenderConstrained,
    /// RFC 9449 §4.3 / §7.1: the token was presented with the `DPoP` scheme and its
    /// proof failed a check (or was missing, or replayed). Answered 401
    /// `invalid_dpop_proof`, or `use_dpop_nonce` with a fresh `DPoP-Nonce` header
    /// when a required nonce is missing or stale.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(crate::dpop::DpopProofError),
    /// RFC 9449 §7.1: the token was presented with the `DPoP` scheme but is not
    /// DPoP-bound (no `cnf.jkt`).
    #[error("the token is not DPoP-bound (no cnf.jkt)")]
    NotDpopBound,
    /// RFC 9449 §7.1: the proof's key is not the key the token is bound to (its
    /// RFC 7638 thumbprint differs from `cnf.jkt`).
    #[error("the DPoP proof's key is not the key the token is bound to")]
    DpopKeyMismatch,
    /// RFC 6750 §3.1 / RFC 9068 §4: the token lacks a scope the resource requires.
    /// Answered 403 `insufficient_scope` with the needed scopes.
    #[error("insufficient scope; needed {needed:?}")]
    InsufficientScope {
        /// Every scope the resource requires (not only the missing ones), as put in
        /// the `scope` attribute of `WWW-Authenticate`.
        needed: Vec<String>,
    },
    /// RFC 7662 §2.2: the authorization server says the opaque token is not active.
    #[error("the introspection endpoint says the token is not active")]
    Inactive,
    /// The issuer's keys could not be fetched (discovery or JWKS); answered 503 with
    /// `Retry-After`, not 401, so an issuer outage does not look like a bad token.
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// The introspection endpoint could not be reached or answered an error (a
    /// redirect included), or every introspection slot stayed busy past the queue
    /// timeout (see [`IntrospectionClient`](crate::IntrospectionClient)); answered
    /// 503 with `Retry-After`.
    #[error("the introspection endpoint is unavailable: {0}")]
    IntrospectionUnavailable(String),
    /// RFC 6750 §3.1 `invalid_request`: the `Authorization` header is malformed
    /// (repeated, empty `Bearer` credentials, characters outside `b64token`).
    /// Produced by the [`RequireAccessToken`](crate::RequireAccessToken) layer.
    #[error("malformed Authorization header: {reason}")]
    InvalidRequest {
        /// What was wrong with the header.
        reason: &'static str,
    },
}

impl ValidationError {
    /// The RFC 6750 §3.1 error code this failure is answered with: `invalid_token`,
    /// `insufficient_scope` or `invalid_request`; RFC 9449 §7.1 `invalid_dpop_proof`
    /// or `use_dpop_nonce` for a DPoP proof; `temporarily_unavailable` for an
    /// outage of the issuer (answered 503, no `WWW-Authenticate` error).
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::KeysUnavailable(_) | Self::IntrospectionUnavailable(_) => {
                "temporarily_unavailable"
            }
            Self::InvalidDpopProof(error) => error.error_code(),
            Self::Malformed
            | Self::Oversized { .. }
            | Self::NotAnAccessToken { .. }
            | Self::UnsupportedCriticalHeader
            | Self::AlgorithmNotAllowed { .. }
            | Self::AlgorithmKeyMismatch
            | Self::MissingKeyId
            | Self::UnknownKeyId { .. }
            | Self::BadSignature
            | Self::WrongIssuer
            | Self::WrongAudience
            | Self::MissingClaim { .. }
            | Self::Expired
            | Self::NotYetValid
            | Self::IssuedInTheFuture
            | Self::SenderConstrained
            | Self::NotDpopBound
            | Self::DpopKeyMismatch
            | Self::Inactive => "invalid_token",
        }
    }

    /// The HTTP status (RFC 6750 §3.1, RFC 9449 §7.1): 401 for `invalid_token`,
    /// `invalid_dpop_proof` and `use_dpop_nonce`, 403 for
    /// `insufficient_scope`, 400 for `invalid_request`, 503 when the issuer's keys
    /// or its introspection endpoint are unavailable.
    pub fn status(&self) -> StatusCode {
        match self.error_code() {
            "insufficient_scope" => StatusCode::FORBIDDEN,
            "invalid_request" => StatusCode::BAD_REQUEST,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Why [`ValidatorBuilder::build`](crate::ValidatorBuilder::build) refused its
/// configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The issuer is not an absolute URL without query or fragment (RFC 8414 §2).
    #[error("issuer {issuer:?} is not a valid issuer URL: {reason}")]
    InvalidIssuer {
        /// The issuer as configured.
        issuer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The issuer is `http` on a host that is not loopback: its keys could be
    /// swapped in transit (RFC 8414 §2 requires `https`).
    #[error("issuer {0:?} must use https (http is allowed only on loopback)")]
    InsecureIssuer(String),
    /// The audience is empty: every token would have to be refused (RFC 9068 §4).
    #[error("the audience must not be empty")]
    EmptyAudience,
    /// The algorithm allow-list is empty.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// RFC 8725 §3.1/§2.1: an HMAC algorithm was allowed. A resource server holds
    /// only public keys; allowing HS* lets an attacker sign with the public key.
    #[error("algorithm {0:?} is not allowed for access tokens (HMAC with a public key)")]
    SymmetricAlgorithm(jsonwebtoken::Algorithm),
    /// A remote [`KeyStore`](crate::KeyStore) was built for another issuer.
    #[error("the key store fetches keys of {key_store:?}, not of the issuer {issuer:?}")]
    KeyStoreIssuerMismatch {
        /// The validator's issuer.
        issuer: String,
        /// The key store's issuer.
        key_store: String,
    },
    /// The introspection endpoint is not an https URL (http only on loopback); the
    /// client secret would travel in clear (RFC 7662 §4).
    #[error("introspection endpoint {0:?} must be an https URL (http only on loopback)")]
    InvalidIntrospectionEndpoint(String),
}
