//! The checks of a JWT access token (steps 2–8 of [`Validator`](crate::Validator)),
//! shared by the [`Validator`](crate::Validator) (keys fetched from the issuer) and
//! [`JwtCheck`] (keys in hand, no I/O): one implementation of RFC 9068 §4 validation,
//! which the Portcullis server also runs on the tokens it issued itself (issue 16:
//! what an API refuses, the server's own endpoints refuse too).

use crate::ValidationError;
use crate::claims::{Claims, WireClaims};
use crate::jws::{self, CompactJws};
use crate::key_store::{KeyStore, VerificationKey};
use jsonwebtoken::Algorithm;
use std::str::FromStr;

/// RFC 9068 §4 on a JWT access token with keys in hand: the same checks, in the same
/// order, as [`Validator`](crate::Validator) steps 1–8, synchronously and without
/// fetching anything (the `kid` must be in the [`KeyStore`] already, e.g. one built
/// with [`KeyStore::from_jwks`]). For an authorization server checking the access
/// tokens it issued (its userinfo and introspection endpoints), which serve every
/// audience: `audience` may be `None`.
#[derive(Debug, Clone, Copy)]
pub struct JwtCheck<'a> {
    /// `iss` must equal it exactly (RFC 9068 §4).
    pub issuer: &'a str,
    /// `aud` must contain it (RFC 9068 §4, RFC 8707); `None`: not checked here.
    pub audience: Option<&'a str>,
    /// The `alg` allow-list (RFC 8725 §3.1).
    pub algorithms: &'a [Algorithm],
    /// Allowed clock skew, in seconds, for `exp`, `nbf` and `iat`.
    pub leeway: i64,
    /// The time to check against, in seconds since the epoch.
    pub now: i64,
}

/// A JWT that passed [`JwtCheck::verify`].
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    /// The verified claims.
    pub claims: Claims,
    /// The verified payload (JSON), for a caller that reads it into its own claims
    /// type.
    pub payload: Vec<u8>,
    /// The `kid` of the key that verified the signature.
    pub kid: String,
    /// The verified algorithm.
    pub alg: Algorithm,
}

impl JwtCheck<'_> {
    /// Verifies `token` with a key of `keys` (see [`JwtCheck`]).
    ///
    /// # Errors
    /// The first failed check, as [`Validator::validate`](crate::Validator::validate)
    /// names it: [`ValidationError::Oversized`], `Malformed`, `NotAnAccessToken`,
    /// `UnsupportedCriticalHeader`, `AlgorithmNotAllowed`, `MissingKeyId`,
    /// `UnknownKeyId`, `AlgorithmKeyMismatch`, `BadSignature`, `WrongIssuer`,
    /// `WrongAudience`, `MissingClaim`, `Expired`, `NotYetValid`, `IssuedInTheFuture`.
    pub fn verify(&self, keys: &KeyStore, token: &str) -> Result<VerifiedJwt, ValidationError> {
        check_size(token)?;
        let jws = CompactJws::split(token).ok_or(ValidationError::Malformed)?;
        let (alg, kid) = check_header(&jws, self.algorithms)?;
        let key = keys.key_in_hand(&kid)?;
        let payload = check_signature(&jws, &key, alg)?;
        let claims = check_claims(
            wire_claims(&payload)?,
            &ClaimRules {
                issuer: self.issuer,
                audience: self.audience,
                leeway: self.leeway,
                now: self.now,
            },
            IssuerClaim::Required,
        )?;
        Ok(VerifiedJwt {
            claims,
            payload,
            kid,
            alg,
        })
    }
}

/// Step 1: at most [`MAX_TOKEN_BYTES`](crate::MAX_TOKEN_BYTES), and not empty.
pub(crate) fn check_size(token: &str) -> Result<(), ValidationError> {
    if token.len() > crate::MAX_TOKEN_BYTES {
        return Err(ValidationError::Oversized {
            len: token.len(),
            max: crate::MAX_TOKEN_BYTES,
        });
    }
    if token.is_empty() {
        return Err(ValidationError::Malformed);
    }
    Ok(())
}

/// Steps 2–4 up to the key: `typ` is `at+jwt`, no `crit`, `alg` allowed, a `kid`.
pub(crate) fn check_header(
    jws: &CompactJws<'_>,
    algorithms: &[Algorithm],
) -> Result<(Algorithm, String), ValidationError> {
    let header = jws::unverified_header(jws.header)?;
    match header.unverified_typ {
        Some(ref typ) if jws::is_access_token_typ(typ) => {}
        unverified_typ => {
            return Err(ValidationError::NotAnAccessToken {
                unverified_typ: unverified_typ.map(jws::clipped),
            });
        }
    }
    if header.has_crit {
        return Err(ValidationError::UnsupportedCriticalHeader);
    }
    let Some(alg) = Algorithm::from_str(&header.unverified_alg)
        .ok()
        .filter(|alg| algorithms.contains(alg))
    else {
        return Err(ValidationError::AlgorithmNotAllowed {
            unverified_alg: jws::clipped(header.unverified_alg),
        });
    };
    let Some(kid) = header.unverified_kid else {
        return Err(ValidationError::MissingKeyId);
    };
    Ok((alg, kid))
}

/// Steps 4–5 with the key: `alg` fits it, the signature verifies; returns the payload.
pub(crate) fn check_signature(
    jws: &CompactJws<'_>,
    key: &VerificationKey,
    alg: Algorithm,
) -> Result<Vec<u8>, ValidationError> {
    if !key.permits(alg) {
        return Err(ValidationError::AlgorithmKeyMismatch);
    }
    if !key.verifies(jws, alg) {
        return Err(ValidationError::BadSignature);
    }
    jws::decode_payload(jws.payload)
}

/// The verified payload as claims.
pub(crate) fn wire_claims(payload: &[u8]) -> Result<WireClaims, ValidationError> {
    WireClaims::from_jwt_payload(payload).map_err(|_| ValidationError::Malformed)
}

/// What steps 6–8 compare the claims with.
pub(crate) struct ClaimRules<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: Option<&'a str>,
    pub(crate) leeway: i64,
    pub(crate) now: i64,
}

/// Whether `iss` must be present (a JWT) or may be absent (an introspection answer).
#[derive(Clone, Copy)]
pub(crate) enum IssuerClaim {
    Required,
    Optional,
}

/// Steps 6–8: `iss`, `aud`, then `exp` (required), `nbf`, `iat`.
pub(crate) fn check_claims(
    wire: WireClaims,
    rules: &ClaimRules<'_>,
    iss: IssuerClaim,
) -> Result<Claims, ValidationError> {
    let iss = match (wire.iss, iss) {
        (Some(value), _) if value == rules.issuer => value,
        // RFC 7662 §2.2: `iss` is optional in an introspection answer; the answer
        // comes from the configured issuer's endpoint.
        (None, IssuerClaim::Optional) => rules.issuer.to_owned(),
        _ => return Err(ValidationError::WrongIssuer),
    };
    if let Some(audience) = rules.audience
        && !wire.aud.iter().any(|aud| aud == audience)
    {
        return Err(ValidationError::WrongAudience);
    }
    let Some(exp) = wire.exp else {
        return Err(ValidationError::MissingClaim { claim: "exp" });
    };
    check_times(exp, wire.nbf, wire.iat, rules.now, rules.leeway)?;
    Ok(Claims {
        iss,
        sub: wire.sub,
        aud: wire.aud,
        exp,
        iat: wire.iat,
        nbf: wire.nbf,
        jti: wire.jti,
        client_id: wire.client_id,
        scope: wire.scope,
        extra: wire.extra,
    })
}

/// RFC 7519 §4.1.4–§4.1.6 with the leeway: expired when `now > exp + leeway`
/// (accepted at exactly the leeway), not yet valid when `nbf > now + leeway`,
/// issued in the future when `iat > now + leeway`.
pub(crate) fn check_times(
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: i64,
    leeway: i64,
) -> Result<(), ValidationError> {
    if now > exp.saturating_add(leeway) {
        return Err(ValidationError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(ValidationError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(ValidationError::IssuedInTheFuture);
    }
    Ok(())
}
