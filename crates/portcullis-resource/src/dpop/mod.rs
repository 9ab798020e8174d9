//! RFC 9449 DPoP: verifying a proof (§4.3), the key thumbprint it binds tokens to
//! (RFC 7638, §6.1 `jkt`), and a client-side key that signs proofs (§4.2).
//!
//! This module is the one implementation of the proof checks: the resource library's
//! validator and layer use it, and so does the Portcullis authorization server at its
//! token and userinfo endpoints. What it does **not** do is remember `jti`s: replay
//! (§11.1) is the caller's job, because only the caller knows where proofs are kept
//! (the server in its database across nodes, the resource library in a per-process
//! cache).
//!
//! ```
//! use portcullis_resource::dpop::{DpopKey, NonceCheck, ProofCheck, verify_proof};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = DpopKey::generate()?;
//! let now = 1_800_000_000;
//! let proof = key.proof_at(now, "GET", "https://api.example/orders?page=2", Some("the-token"), None)?;
//! let verified = verify_proof(&proof, &ProofCheck {
//!     htm: "GET",
//!     htu: "https://API.example:443/orders",
//!     access_token: Some("the-token"),
//!     now,
//!     max_age: 300,
//!     leeway: 60,
//!     nonce: NonceCheck::Ignore,
//! })?;
//! assert_eq!(verified.jkt, key.jkt());
//! # Ok(())
//! # }
//! ```

mod htu;
mod key;
mod nonce;
mod thumbprint;

pub use htu::normalize_htu;
pub use key::{DpopKey, DpopKeyError};
pub use nonce::StatelessNonces;
pub use thumbprint::jwk_thumbprint;

use crate::jws::CompactJws;
use crate::key_store::VerificationKey;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::str::FromStr;

/// RFC 9449 §5.1 `dpop_signing_alg_values_supported`: the asymmetric algorithms a
/// proof may use, in the order the metadata lists them. Never `none` nor an HMAC
/// algorithm (§4.3 step 5: the key in the proof must be public).
pub const DPOP_SIGNING_ALG_VALUES_SUPPORTED: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::PS256,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

/// The same list as the space-separated text of the `algs` parameter of a
/// `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1).
pub const DPOP_ALGS: &str = "ES256 PS256 RS256 EdDSA";

/// Largest proof accepted (8 KiB), refused before any parsing
/// ([`DpopProofError::TooLarge`]). A proof is a header with one public key and a
/// handful of short claims; an RSA-4096 key makes it about 1.5 KiB.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// The name of the HTTP header carrying a proof (RFC 9449 §4.1), and of the
/// `Authorization` scheme for DPoP-bound tokens (§7.1).
pub const DPOP: &str = "DPoP";

/// The header a server uses to hand out a nonce (RFC 9449 §8.1, §9).
pub const DPOP_NONCE: &str = "DPoP-Nonce";

/// What a proof must match (RFC 9449 §4.3), for one request.
#[derive(Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The request's HTTP method, compared exactly with `htm` (§4.3 step 8; methods
    /// are case-sensitive, RFC 9110 §9.1).
    pub htm: &'a str,
    /// The request's absolute URL as the client addressed it (behind a proxy: the
    /// external URL). Compared with `htu` after both drop their query and fragment
    /// and go through [`normalize_htu`] (§4.3 step 9; RFC 3986 §6.2.2, §6.2.3).
    pub htu: &'a str,
    /// The access token the request presents, if any: then the proof must carry
    /// `ath` = base64url(SHA-256(token)) (§4.3 step 11, §4.2). `None` at the token
    /// endpoint, where there is no access token yet (`ath` is then not checked).
    pub access_token: Option<&'a str>,
    /// Now, in seconds since the Unix epoch.
    pub now: u64,
    /// How old `iat` may be, in seconds (§4.3 step 11, §11.1): a proof with
    /// `iat < now - max_age` is [`DpopProofError::IatTooOld`]. Replay caches keep a
    /// `jti` for `max_age + leeway`.
    pub max_age: u64,
    /// Clock skew tolerated on a proof from the future, in seconds: `iat > now +
    /// leeway` is [`DpopProofError::IatInFuture`].
    pub leeway: u64,
    /// The server-nonce check (§4.3 step 10, §8, §9).
    pub nonce: NonceCheck<'a>,
}

impl std::fmt::Debug for ProofCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofCheck")
            .field("htm", &self.htm)
            .field("htu", &self.htu)
            .field("access_token", &self.access_token.map(|_| "…"))
            .field("now", &self.now)
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// How the `nonce` claim is checked (RFC 9449 §4.3 step 10).
#[derive(Clone, Copy, Default)]
pub enum NonceCheck<'a> {
    /// No nonce is required; a `nonce` claim, if any, is returned unchecked.
    #[default]
    Ignore,
    /// The proof must carry exactly this nonce.
    Equals(&'a str),
    /// The proof must carry a nonce this function accepts (e.g. a stateless nonce
    /// whose MAC and time window it checks).
    Accepts(&'a (dyn Fn(&str) -> bool + Send + Sync)),
}

impl std::fmt::Debug for NonceCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ignore => f.write_str("Ignore"),
            Self::Equals(_) => f.write_str("Equals(…)"),
            Self::Accepts(_) => f.write_str("Accepts(…)"),
        }
    }
}

/// A proof that passed every check of [`verify_proof`]. Only this module builds
/// one (CONVENTIONS.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DpopProof {
    /// RFC 7638 SHA-256 thumbprint of the proof's public key, base64url without
    /// padding: the `jkt` a bound token's `cnf` must hold (RFC 9449 §6.1).
    pub jkt: String,
    /// The proof's `jti`, for the caller's replay check (§11.1).
    pub jti: String,
    /// The proof's `iat`, seconds since the epoch.
    pub iat: u64,
    /// The proof's `htm` (equal to the request's method).
    pub htm: String,
    /// The proof's `htu` after [`normalize_htu`] (query and fragment removed): the
    /// key to scope a replay check by.
    pub htu: String,
    /// The proof's `nonce`, when it carried one.
    pub nonce: Option<String>,
    /// The algorithm the proof was signed with.
    pub alg: Algorithm,
}

/// Why a DPoP proof was refused (RFC 9449 §4.3), one variant per check. On the wire
/// all of them are `invalid_dpop_proof` except the two nonce failures, which are
/// `use_dpop_nonce` (§8); see [`error_code`](Self::error_code). `Display` is fit
/// for an `error_description`: it never includes the proof, the token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopProofError {
    /// The proof is longer than [`MAX_PROOF_BYTES`].
    #[error("the DPoP proof is too large")]
    TooLarge,
    /// §4.1, §7.1: the request uses the `DPoP` scheme (or its client must use DPoP)
    /// but carries no `DPoP` header.
    #[error("the request has no DPoP proof")]
    MissingProof,
    /// §4.3 step 1: the request carries more than one `DPoP` header.
    #[error("more than one DPoP header")]
    NotSingleHeader,
    /// §4.3 step 2: not a JWS in compact serialization, a part is not base64url
    /// JSON, a claim has the wrong JSON type, or a member appears twice.
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// §4.3 step 4: the header `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    WrongTyp,
    /// RFC 7515 §4.1.11: the header has `crit` extensions, none of which are
    /// understood here.
    #[error("the DPoP proof has critical header extensions that are not supported")]
    UnsupportedCriticalHeader,
    /// §4.3 step 5: `alg` is `none`, an HMAC algorithm, or outside
    /// [`DPOP_SIGNING_ALG_VALUES_SUPPORTED`].
    #[error("the DPoP proof's alg is not one of ES256 PS256 RS256 EdDSA")]
    AlgNotAllowed,
    /// §4.2: the header has no `jwk`.
    #[error("the DPoP proof has no jwk header")]
    MissingJwk,
    /// §4.3 step 7: the `jwk` holds private key material (`d`, RSA primes, or a
    /// symmetric `k`).
    #[error("the DPoP proof's jwk contains a private key")]
    PrivateKeyInJwk,
    /// The `jwk` is not a usable public signature key (unknown `kty` or curve,
    /// `use`/`key_ops` not for signatures, bad coordinates).
    #[error("the DPoP proof's jwk is not a supported public key")]
    UnsupportedJwk,
    /// §4.3 step 5 / RFC 8725 §3.1: `alg` does not fit the key (e.g. `RS256` with an
    /// EC key).
    #[error("the DPoP proof's alg does not match its jwk")]
    AlgKeyMismatch,
    /// §4.3 step 6: the signature does not verify with the embedded key.
    #[error("the DPoP proof's signature does not verify")]
    BadSignature,
    /// §4.3 step 3: a required claim (`jti`, `htm`, `htu`, `iat`) is absent or empty.
    #[error("the DPoP proof has no {0} claim")]
    MissingClaim(&'static str),
    /// §4.3 step 8: `htm` is not the request's method.
    #[error("the DPoP proof's htm does not match the request method")]
    HtmMismatch,
    /// §4.3 step 9: `htu` is not the request's URL (without query and fragment).
    #[error("the DPoP proof's htu does not match the request URL")]
    HtuMismatch,
    /// §4.3 step 11: `iat` is older than the allowed window.
    #[error("the DPoP proof is too old (iat)")]
    IatTooOld,
    /// §4.3 step 11: `iat` lies in the future beyond the leeway.
    #[error("the DPoP proof was issued in the future (iat)")]
    IatInFuture,
    /// §4.3 step 12: the request presents an access token but the proof has no
    /// `ath`.
    #[error("the DPoP proof has no ath claim for the access token")]
    AthMissing,
    /// §4.3 step 12: `ath` is not the hash of the presented access token.
    #[error("the DPoP proof's ath does not match the access token")]
    AthMismatch,
    /// §8 / §9: a nonce is required and the proof has none (`use_dpop_nonce`).
    #[error("a DPoP nonce is required")]
    NonceMissing,
    /// §8 / §9: the proof's nonce is not the expected one, or no longer valid
    /// (`use_dpop_nonce`).
    #[error("the DPoP nonce is invalid or expired")]
    NonceMismatch,
    /// §11.1: the proof's `jti` was seen before (reported by the caller's replay
    /// check, never by [`verify_proof`]).
    #[error("the DPoP proof was already used (jti)")]
    Replayed,
}

impl DpopProofError {
    /// The RFC 9449 error code: `use_dpop_nonce` for [`NonceMissing`](Self::NonceMissing)
    /// and [`NonceMismatch`](Self::NonceMismatch) (§8: answered with a fresh
    /// `DPoP-Nonce` header), `invalid_dpop_proof` for every other reason (§5, §7.1).
    /// The status is 400 at the token endpoint, 401 at a resource.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::NonceMissing | Self::NonceMismatch => "use_dpop_nonce",
            Self::TooLarge
            | Self::MissingProof
            | Self::NotSingleHeader
            | Self::Malformed
            | Self::WrongTyp
            | Self::UnsupportedCriticalHeader
            | Self::AlgNotAllowed
            | Self::MissingJwk
            | Self::PrivateKeyInJwk
            | Self::UnsupportedJwk
            | Self::AlgKeyMismatch
            | Self::BadSignature
            | Self::MissingClaim(_)
            | Self::HtmMismatch
            | Self::HtuMismatch
            | Self::IatTooOld
            | Self::IatInFuture
            | Self::AthMissing
            | Self::AthMismatch
            | Self::Replayed => "invalid_dpop_proof",
        }
    }
}

/// RFC 9449 §4.3 step 1: the one `DPoP` header of a request.
///
/// # Errors
/// [`DpopProofError::NotSingleHeader`] when there are several, [`DpopProofError::Malformed`]
/// when the value is not visible ASCII. `Ok(None)` when there is none.
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, DpopProofError> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(DpopProofError::NotSingleHeader);
    }
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| DpopProofError::Malformed)
}

/// Verifies a DPoP proof JWT against one request (RFC 9449 §4.3), in the order:
/// size ([`MAX_PROOF_BYTES`]); compact JWS; header `typ` = `dpop+jwt`
/// (case-insensitive, optional `application/` prefix, RFC 7515 §4.1.9); no `crit`;
/// `alg` in [`DPOP_SIGNING_ALG_VALUES_SUPPORTED`]; `jwk` present, public only, and
/// fitting `alg`; the signature with that key (jsonwebtoken on aws-lc-rs); claims
/// `jti`, `htm`, `htu`, `iat` present; `htm`; `htu`; `nonce`; `iat` window; `ath`.
///
/// The `jti` is **not** checked for replay: see the module docs.
///
/// # Errors
/// The first failed check, see [`DpopProofError`].
pub fn verify_proof(proof: &str, check: &ProofCheck<'_>) -> Result<DpopProof, DpopProofError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopProofError::TooLarge);
    }
    let jws = CompactJws::split(proof).ok_or(DpopProofError::Malformed)?;
    let header: HeaderWire = decode_json(jws.header)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| crate::jws::is_typ(typ, "dpop+jwt"))
    {
        return Err(DpopProofError::WrongTyp);
    }
    if header.crit.is_some() {
        return Err(DpopProofError::UnsupportedCriticalHeader);
    }
    let alg = header
        .alg
        .as_deref()
        .and_then(|alg| Algorithm::from_str(alg).ok())
        .filter(|alg| DPOP_SIGNING_ALG_VALUES_SUPPORTED.contains(alg))
        .ok_or(DpopProofError::AlgNotAllowed)?;
    let raw_jwk = header.jwk.ok_or(DpopProofError::MissingJwk)?;
    // §4.3 step 7: a proof carrying its private key would let anyone who sees it
    // sign new proofs; `k` is a symmetric secret, never a public key.
    if PRIVATE_JWK_MEMBERS
        .iter()
        .any(|member| raw_jwk.contains_key(*member))
    {
        return Err(DpopProofError::PrivateKeyInJwk);
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(raw_jwk))
        .map_err(|_| DpopProofError::UnsupportedJwk)?;
    let key = VerificationKey::from_jwk(&jwk).ok_or(DpopProofError::UnsupportedJwk)?;
    if !key.permits(alg) {
        return Err(DpopProofError::AlgKeyMismatch);
    }
    if !key.verifies(&jws, alg) {
        return Err(DpopProofError::BadSignature);
    }
    let jkt = jwk_thumbprint(&jwk)?;
    let claims: ClaimsWire = decode_json(jws.payload)?;
    let jti = required(claims.jti, "jti")?;
    let htm = required(claims.htm, "htm")?;
    let htu = required(claims.htu, "htu")?;
    let iat = claims.iat.ok_or(DpopProofError::MissingClaim("iat"))?;
    if htm != check.htm {
        return Err(DpopProofError::HtmMismatch);
    }
    let htu = match (normalize_htu(&htu), normalize_htu(check.htu)) {
        (Some(proof_htu), Some(request_htu)) if proof_htu == request_htu => proof_htu,
        _ => return Err(DpopProofError::HtuMismatch),
    };
    match check.nonce {
        NonceCheck::Ignore => {}
        NonceCheck::Equals(expected) => match claims.nonce.as_deref() {
            None => return Err(DpopProofError::NonceMissing),
            Some(nonce) if nonce == expected => {}
            Some(_) => return Err(DpopProofError::NonceMismatch),
        },
        NonceCheck::Accepts(accepts) => match claims.nonce.as_deref() {
            None => return Err(DpopProofError::NonceMissing),
            Some(nonce) if accepts(nonce) => {}
            Some(_) => return Err(DpopProofError::NonceMismatch),
        },
    }
    let iat = iat_seconds(&iat)?;
    if iat < check.now.saturating_sub(check.max_age) {
        return Err(DpopProofError::IatTooOld);
    }
    if iat > check.now.saturating_add(check.leeway) {
        return Err(DpopProofError::IatInFuture);
    }
    if let Some(token) = check.access_token {
        let Some(ath) = claims.ath else {
            return Err(DpopProofError::AthMissing);
        };
        if ath != access_token_hash(token) {
            return Err(DpopProofError::AthMismatch);
        }
    }
    Ok(DpopProof {
        jkt,
        jti,
        iat,
        htm,
        htu,
        nonce: claims.nonce,
        alg,
    })
}

/// RFC 9449 §4.2 `ath`: base64url (no padding) of the SHA-256 of the access token's
/// ASCII text.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, access_token.as_bytes()))
}

/// The JOSE header members a proof is checked on. Other members are ignored;
/// a member named twice fails parsing ([`DpopProofError::Malformed`]).
#[derive(Deserialize)]
struct HeaderWire {
    typ: Option<String>,
    alg: Option<String>,
    jwk: Option<Map<String, Value>>,
    crit: Option<serde::de::IgnoredAny>,
}

/// The proof's claims (RFC 9449 §4.2).
#[derive(Deserialize)]
struct ClaimsWire {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, DpopProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| DpopProofError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| DpopProofError::Malformed)
}

fn required(value: Option<String>, claim: &'static str) -> Result<String, DpopProofError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or(DpopProofError::MissingClaim(claim))
}

/// RFC 7519 §2 NumericDate: integer or fractional seconds (truncated); a negative
/// one is simply very old.
fn iat_seconds(iat: &serde_json::Number) -> Result<u64, DpopProofError> {
    if let Some(seconds) = iat.as_u64() {
        return Ok(seconds);
    }
    if iat.as_i64().is_some() {
        return Ok(0);
    }
    match iat.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds <= 0.0 => Ok(0),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(seconds) if seconds.is_finite() => Ok(seconds as u64),
        _ => Err(DpopProofError::Malformed),
    }
}

/// JWK members that hold private or symmetric key material (RFC 7518 §6.2.2,
/// §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[cfg(test)]
mod tests;
