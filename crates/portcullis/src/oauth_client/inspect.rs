//! `portcullis token inspect`: verifies a JWT against the keys its issuer publishes
//! (RFC 8414 §2 `jwks_uri`, RFC 7517) and shows its header, its claims, what kind of
//! token it is, and one verdict line: `valid`, `expired at …`, `not yet valid`,
//! `invalid claim exp`, `signature invalid`, `unknown key`, …. Exit status 0 only for
//! `valid`.
//!
//! Without `--issuer` the keys come from the issuer the token itself names, which
//! proves only that whoever runs that issuer signed it: the verdict says so and the
//! exit status is 1 even when the signature and the lifetime are fine. Such an issuer
//! must be https (and so must its `jwks_uri`): a token must not be able to point the
//! client at plain-http services on this machine.
//!
//! Everything shown comes from the token or the issuer: JSON is printed with the
//! characters that could drive a terminal escaped, other text sanitised.

use super::UsageError;
use super::discovery;
use super::http;
use super::jwt::{self, NumericDate, Signature, UnverifiedJwt};
use super::terminal::{self, sanitize};
use crate::cli::InspectArgs;
use anyhow::{Context, Result, bail};
use portcullis_core::Clock;
use portcullis_core::clock::SystemClock;
use serde_json::{Map, Value};
use std::io::Read;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

/// Runs `token inspect`.
pub async fn run(args: InspectArgs) -> Result<()> {
    let token = read_token(&args.token)?;
    let unverified = jwt::unverified(&token)?;
    let issuer = Issuer::choose(args.issuer, &unverified.claims)?;
    let client = http::client()?;
    let metadata = discovery::discover(&client, &issuer.name, &issuer.url).await?;
    if issuer.from_token {
        let jwks_uri = metadata.endpoint("jwks_uri")?;
        if jwks_uri.scheme() != "https" {
            bail!(
                "the issuer the token names publishes its keys at {jwks_uri}, which is not https; pass --issuer to trust it anyway"
            );
        }
    }
    let keys = jwt::key_set(&client, &metadata).await?;
    let signature = jwt::verify_signature(&token, &keys)?;
    let verdict = verdict(&signature, &unverified, &issuer, SystemClock.now());
    crate::output::line(&report(&unverified, &signature, &issuer, &verdict)?);
    match verdict {
        Verdict::Valid { .. } => Ok(()),
        Verdict::UnverifiedIssuer { .. } => bail!(
            "the token's issuer is not verified: it names the issuer itself; pass --issuer to trust that issuer"
        ),
        other => bail!("the token is not valid: {other}"),
    }
}

/// Whose keys the token is checked with.
#[derive(Debug)]
struct Issuer {
    /// The issuer identifier, as given or as the token states it.
    name: String,
    /// `name`, parsed.
    url: Url,
    /// Whether it comes from the token's own (unverified) `iss`, not from `--issuer`.
    from_token: bool,
}

impl Issuer {
    /// `--issuer` (https, or http on loopback), or else the token's `iss`, which must
    /// be https: the token is not trusted yet, and must not steer requests to plain
    /// http services on this machine.
    fn choose(arg: Option<String>, claims: &Map<String, Value>) -> Result<Self> {
        if let Some(name) = arg {
            let url = http::secure_url("issuer", &name)?;
            return Ok(Self {
                name,
                url,
                from_token: false,
            });
        }
        let Some(name) = claims.get("iss").and_then(Value::as_str) else {
            return Err(UsageError("the token has no `iss` claim; pass --issuer".into()).into());
        };
        let url = http::secure_url("issuer the token names", name)?;
        if url.scheme() != "https" {
            return Err(UsageError(format!(
                "the token names the issuer `{}`, which is not https: an issuer taken from the token must be; pass --issuer to use that one anyway",
                sanitize(name)
            ))
            .into());
        }
        Ok(Self {
            name: name.to_owned(),
            url,
            from_token: true,
        })
    }
}

/// The token: the argument, or standard input for `-`.
fn read_token(arg: &str) -> Result<String> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_TOKEN)
        .read_to_string(&mut text)
        .context("cannot read the token from standard input")?;
    let token = text.trim();
    if token.is_empty() {
        return Err(UsageError("no token on standard input".into()).into());
    }
    Ok(token.to_owned())
}

/// The one-line conclusion.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Signed by the key of the issuer given with `--issuer`, within its lifetime;
    /// expires in this many seconds (`None` without `exp`).
    Valid { expires_in: Option<i64> },
    /// As [`Verdict::Valid`], but the issuer is the one the token names: not trusted.
    UnverifiedIssuer { expires_in: Option<i64> },
    /// `exp` has passed.
    Expired { at: i64, ago: i64 },
    /// `nbf` is in the future.
    NotYetValid { from: i64 },
    /// A NumericDate claim (`exp`, `nbf`) that is not a number.
    InvalidClaim(&'static str),
    /// An RFC 9068 access token without `exp` (§2.2 requires it).
    MissingExp,
    /// The signature does not verify.
    SignatureInvalid,
    /// No published key matches.
    UnknownKey(Option<String>),
    /// An algorithm this client refuses.
    UnsupportedAlgorithm(String),
    /// `iss` is not the issuer whose keys verified it.
    WrongIssuer(Option<String>),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Valid { .. } => f.write_str("valid"),
            Self::UnverifiedIssuer { .. } => f.write_str(
                "signature valid for the issuer the token names (unverified issuer: pass --issuer to trust it)",
            ),
            Self::Expired { at, ago } => write!(f, "expired at {} ({ago} s ago)", rfc3339(*at)),
            Self::NotYetValid { from } => {
                write!(f, "not yet valid (valid from {})", rfc3339(*from))
            }
            Self::InvalidClaim(name) => write!(f, "invalid claim {name} (not a number)"),
            Self::MissingExp => {
                f.write_str("no exp claim (RFC 9068 §2.2: an access token must have one)")
            }
            Self::SignatureInvalid => f.write_str("signature invalid"),
            Self::UnknownKey(Some(kid)) => write!(f, "unknown key (kid {})", sanitize(kid)),
            Self::UnknownKey(None) => f.write_str("unknown key (the token names no kid)"),
            Self::UnsupportedAlgorithm(alg) => {
                write!(
                    f,
                    "signature invalid (algorithm {} not accepted)",
                    sanitize(alg)
                )
            }
            Self::WrongIssuer(iss) => write!(
                f,
                "wrong issuer (iss is {})",
                iss.as_deref().map_or_else(|| "missing".into(), sanitize)
            ),
        }
    }
}

/// The verdict at `now`: signature first, then issuer, then the validity window (read
/// from the verified claims only; the header, `typ` included, is covered by the
/// signature), then whether the issuer was given or taken from the token.
fn verdict(signature: &Signature, jwt: &UnverifiedJwt, issuer: &Issuer, now: i64) -> Verdict {
    let claims = match signature {
        Signature::Verified { claims, .. } => claims,
        Signature::Invalid => return Verdict::SignatureInvalid,
        Signature::UnknownKey(kid) => return Verdict::UnknownKey(kid.clone()),
        Signature::UnsupportedAlgorithm(alg) => {
            return Verdict::UnsupportedAlgorithm(alg.clone());
        }
    };
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss != Some(issuer.name.as_str()) {
        return Verdict::WrongIssuer(iss.map(str::to_owned));
    }
    let exp = match jwt::numeric_date(claims, "exp") {
        NumericDate::Invalid => return Verdict::InvalidClaim("exp"),
        NumericDate::At(exp) => Some(exp),
        NumericDate::Absent => None,
    };
    match jwt::numeric_date(claims, "nbf") {
        NumericDate::Invalid => return Verdict::InvalidClaim("nbf"),
        NumericDate::At(nbf) if now < nbf => return Verdict::NotYetValid { from: nbf },
        NumericDate::At(_) | NumericDate::Absent => {}
    }
    let expires_in = match exp {
        Some(exp) if exp <= now => {
            return Verdict::Expired {
                at: exp,
                ago: now.saturating_sub(exp),
            };
        }
        Some(exp) => Some(exp.saturating_sub(now)),
        None if is_access_token(jwt) => return Verdict::MissingExp,
        None => None,
    };
    if issuer.from_token {
        Verdict::UnverifiedIssuer { expires_in }
    } else {
        Verdict::Valid { expires_in }
    }
}

/// Header, claims, facts and the verdict (last line), for standard output.
fn report(
    jwt: &UnverifiedJwt,
    signature: &Signature,
    issuer: &Issuer,
    verdict: &Verdict,
) -> Result<String> {
    let verified = matches!(signature, Signature::Verified { .. });
    let label = if verified { "" } else { " (NOT verified)" };
    let pretty =
        |map: &Map<String, Value>| terminal::json_text(map).context("cannot format the token");
    let mut lines = vec![
        format!("header{label}:"),
        pretty(&jwt.header)?,
        format!("claims{label}:"),
        pretty(&jwt.claims)?,
        format!("kind: {}", kind(jwt)),
    ];
    let name = sanitize(&issuer.name);
    lines.push(if issuer.from_token {
        format!(
            "issuer: {name} (taken from the unverified token: pass --issuer to require a specific issuer)"
        )
    } else {
        format!("issuer: {name}")
    });
    if let Signature::Verified { kid, alg, .. } = signature {
        let kid = kid.as_deref().map_or_else(|| "(no kid)".into(), sanitize);
        lines.push(format!("key: {kid} ({alg:?})"));
    }
    if let Some(aud) = jwt.claims.get("aud") {
        lines.push(format!("audience: {}", list(aud)));
    }
    if let Some(scope) = jwt.claims.get("scope") {
        lines.push(format!("scope: {}", list(scope)));
    }
    if let Some(cnf) = jwt.claims.get("cnf") {
        lines.push(confirmation(cnf));
    }
    match verdict {
        Verdict::Valid {
            expires_in: Some(s),
        }
        | Verdict::UnverifiedIssuer {
            expires_in: Some(s),
        } => lines.push(format!("expires in {s} s")),
        Verdict::Valid { expires_in: None } | Verdict::UnverifiedIssuer { expires_in: None } => {
            lines.push("never expires (no exp claim)".into());
        }
        _ => {}
    }
    lines.push(verdict.to_string());
    Ok(lines.join("\n"))
}

/// Whether the header says RFC 9068 access token (`typ` `at+jwt`).
fn is_access_token(jwt: &UnverifiedJwt) -> bool {
    jwt.header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        })
}

/// What kind of JWT this is, from its `typ` and claims.
fn kind(jwt: &UnverifiedJwt) -> String {
    if is_access_token(jwt) {
        return "access token (RFC 9068 JWT, typ at+jwt)".into();
    }
    let typ = jwt.header.get("typ").and_then(Value::as_str);
    let typ_lower = typ.map(str::to_ascii_lowercase);
    let oidc = ["nonce", "auth_time", "at_hash", "azp", "acr", "amr"]
        .iter()
        .any(|c| jwt.claims.contains_key(*c));
    let plain_typ = matches!(typ_lower.as_deref(), None | Some("jwt"));
    if plain_typ && oidc {
        return "ID token (OpenID Connect Core §2, typ JWT): it tells the client in `aud` who signed in; it is not for calling APIs".into();
    }
    match typ {
        Some(typ) => format!("JWT (typ {}), not an RFC 9068 access token", sanitize(typ)),
        None => "JWT (no typ), not an RFC 9068 access token".into(),
    }
}

/// RFC 7800 `cnf`, for one line: RFC 9449 §6.1 `jkt` (the token is DPoP-bound: only
/// the holder of that key can use it), or the confirmation as JSON.
fn confirmation(cnf: &Value) -> String {
    match cnf.get("jkt").and_then(Value::as_str) {
        Some(jkt) => format!("bound to a DPoP key (RFC 9449): cnf.jkt {}", sanitize(jkt)),
        None => format!("confirmation (cnf): {}", sanitize(&cnf.to_string())),
    }
}

/// A claim that is a string or a list, for one line (`scope` is space-separated,
/// `aud` a string or an array).
fn list(value: &Value) -> String {
    match value {
        Value::String(s) => sanitize(s),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map_or_else(|| sanitize(&v.to_string()), sanitize)
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => sanitize(&other.to_string()),
    }
}

/// `t` (Unix seconds) as RFC 3339 UTC.
fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{t} (Unix time)"))
}

/// Largest token read from standard input.
const MAX_TOKEN: u64 = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_client::mock::{self, MockServer};
    use axum::Router;
    use jsonwebtoken::Algorithm;
    use serde_json::json;

    const ISS: &str = "https://as.example.com";

    fn verified(claims: Value) -> Signature {
        Signature::Verified {
            kid: None,
            alg: Algorithm::ES256,
            claims: claims.as_object().unwrap().clone(),
        }
    }

    fn unverified(header: Value, claims: Value) -> UnverifiedJwt {
        UnverifiedJwt {
            header: header.as_object().unwrap().clone(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    fn given(name: &str) -> Issuer {
        Issuer {
            name: name.into(),
            url: Url::parse(name).unwrap(),
            from_token: false,
        }
    }

    /// The verdict on a verified token with `claims` and header `typ`, for `--issuer ISS`.
    fn judge(typ: &str, claims: Value, now: i64) -> Verdict {
        let jwt = unverified(json!({"alg": "ES256", "typ": typ}), claims.clone());
        verdict(&verified(claims), &jwt, &given(ISS), now)
    }

    #[test]
    fn expiry_boundaries() {
        let t = json!({"iss": ISS, "exp": 1000});
        assert_eq!(
            judge("at+jwt", t.clone(), 999),
            Verdict::Valid {
                expires_in: Some(1)
            }
        );
        assert_eq!(
            judge("at+jwt", t.clone(), 1000),
            Verdict::Expired { at: 1000, ago: 0 }
        );
        assert_eq!(
            judge("at+jwt", t, 1001),
            Verdict::Expired { at: 1000, ago: 1 }
        );
        assert_eq!(
            Verdict::Expired { at: 0, ago: 5 }.to_string(),
            "expired at 1970-01-01T00:00:00Z (5 s ago)"
        );
    }

    #[test]
    fn an_exp_or_nbf_that_is_not_a_number_is_invalid_not_absent() {
        let now = 2_000_000_000;
        for exp in [
            json!("1000000000"),
            json!(null),
            json!(true),
            json!([1]),
            json!({}),
        ] {
            let claims = json!({"iss": ISS, "exp": exp});
            assert_eq!(
                judge("at+jwt", claims.clone(), now),
                Verdict::InvalidClaim("exp")
            );
            assert_eq!(judge("JWT", claims, now), Verdict::InvalidClaim("exp"));
        }
        assert_eq!(
            Verdict::InvalidClaim("exp").to_string(),
            "invalid claim exp (not a number)"
        );
        let claims = json!({"iss": ISS, "exp": now + 10, "nbf": "0"});
        assert_eq!(judge("at+jwt", claims, now), Verdict::InvalidClaim("nbf"));
    }

    #[test]
    fn fractional_numeric_dates_are_read_rounded_down() {
        let claims = json!({"iss": ISS, "exp": 1_000_000_000.5});
        assert_eq!(
            judge("at+jwt", claims, 2_000_000_000),
            Verdict::Expired {
                at: 1_000_000_000,
                ago: 1_000_000_000
            }
        );
        let claims = json!({"iss": ISS, "exp": 1_000.9, "nbf": 500.5});
        assert_eq!(
            judge("at+jwt", claims.clone(), 499),
            Verdict::NotYetValid { from: 500 }
        );
        assert_eq!(
            judge("at+jwt", claims, 999),
            Verdict::Valid {
                expires_in: Some(1)
            }
        );
    }

    #[test]
    fn an_access_token_without_exp_is_not_valid() {
        let claims = json!({"iss": ISS});
        assert_eq!(judge("at+jwt", claims.clone(), 5), Verdict::MissingExp);
        assert_eq!(
            judge("application/AT+JWT", claims.clone(), 5),
            Verdict::MissingExp
        );
        assert!(Verdict::MissingExp.to_string().contains("RFC 9068"));
        // Another JWT may have no exp: it never expires, and the report says so.
        assert_eq!(judge("JWT", claims, 5), Verdict::Valid { expires_in: None });
    }

    #[test]
    fn not_yet_valid_and_wrong_issuer() {
        let claims = json!({"iss": ISS, "exp": 2000, "nbf": 1500});
        assert_eq!(
            judge("at+jwt", claims.clone(), 1499),
            Verdict::NotYetValid { from: 1500 }
        );
        assert!(matches!(
            judge("at+jwt", claims.clone(), 1500),
            Verdict::Valid { .. }
        ));
        let jwt = unverified(json!({"alg": "ES256"}), claims.clone());
        assert_eq!(
            verdict(
                &verified(claims),
                &jwt,
                &given("https://other.example.com"),
                1500
            ),
            Verdict::WrongIssuer(Some(ISS.into()))
        );
    }

    #[test]
    fn a_bad_signature_wins_over_everything_else() {
        let jwt = unverified(json!({}), json!({}));
        assert_eq!(
            verdict(&Signature::Invalid, &jwt, &given(ISS), 5),
            Verdict::SignatureInvalid
        );
        assert_eq!(
            verdict(
                &Signature::UnknownKey(Some("k1".into())),
                &jwt,
                &given(ISS),
                5
            )
            .to_string(),
            "unknown key (kid k1)"
        );
    }

    #[test]
    fn an_issuer_taken_from_the_token_is_never_valid_and_must_be_https() {
        let claims = json!({"iss": ISS, "exp": 2000});
        let from_token = Issuer::choose(None, claims.as_object().unwrap()).unwrap();
        assert!(from_token.from_token);
        let jwt = unverified(json!({"alg": "ES256", "typ": "at+jwt"}), claims.clone());
        let v = verdict(&verified(claims), &jwt, &from_token, 1000);
        assert_eq!(
            v,
            Verdict::UnverifiedIssuer {
                expires_in: Some(1000)
            }
        );
        assert_eq!(
            v.to_string(),
            "signature valid for the issuer the token names (unverified issuer: pass --issuer to trust it)"
        );

        for iss in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:9000",
            "http://internal.example.com",
            "file:///etc/passwd",
        ] {
            let claims = json!({ "iss": iss });
            let e = Issuer::choose(None, claims.as_object().unwrap()).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{iss}: {e}");
        }
        // Given with --issuer, loopback http is fine (a development server).
        let given = Issuer::choose(Some("http://127.0.0.1:8080".into()), &Map::new()).unwrap();
        assert!(!given.from_token);
        // No iss and no --issuer.
        assert!(Issuer::choose(None, &Map::new()).is_err());
    }

    #[test]
    fn the_report_shows_no_control_characters_from_the_token() {
        let evil = "x\u{1b}]0;owned\u{7}\u{1b}[2J\u{7f}\u{9b}31m\u{85}\u{202e}y";
        let jwt = unverified(
            json!({"alg": "ES256", "typ": evil, "kid": evil, evil: evil}),
            json!({"iss": evil, "aud": [evil, {evil: evil}], "scope": evil, evil: [evil]}),
        );
        let signature = Signature::Verified {
            kid: Some(evil.into()),
            alg: Algorithm::ES256,
            claims: jwt.claims.clone(),
        };
        let issuer = Issuer {
            name: evil.into(),
            url: Url::parse(ISS).unwrap(),
            from_token: true,
        };
        for verdict in [
            Verdict::UnknownKey(Some(evil.into())),
            Verdict::WrongIssuer(Some(evil.into())),
            Verdict::UnsupportedAlgorithm(evil.into()),
            Verdict::UnverifiedIssuer { expires_in: None },
        ] {
            let text = report(&jwt, &signature, &issuer, &verdict).unwrap();
            assert!(
                !text
                    .chars()
                    .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_report_shows_a_dpop_binding() {
        let jwt = unverified(
            json!({"alg": "ES256", "typ": "at+jwt"}),
            json!({"iss": ISS, "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
        );
        let signature = verified(json!(jwt.claims));
        let text = report(
            &jwt,
            &signature,
            &given(ISS),
            &Verdict::Valid { expires_in: None },
        )
        .unwrap();
        assert!(
            text.lines().any(|l| l
                == "bound to a DPoP key (RFC 9449): cnf.jkt 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
            "{text}"
        );
        assert_eq!(
            confirmation(&json!({"x5t#S256": "abc"})),
            r#"confirmation (cnf): {"x5t#S256":"abc"}"#
        );
    }

    #[test]
    fn kinds() {
        let mut t = unverified(
            json!({"alg": "ES256", "typ": "at+jwt"}),
            json!({"nonce": "n"}),
        );
        assert!(kind(&t).starts_with("access token"));
        t.header.insert("typ".into(), json!("JWT"));
        assert!(kind(&t).starts_with("ID token"));
        t.claims.clear();
        assert!(kind(&t).starts_with("JWT (typ JWT)"));
    }

    /// `token inspect --issuer <mock>` on tokens signed with the mock issuer's key.
    #[tokio::test]
    async fn inspect_against_a_hostile_issuer() {
        let (pair, jwks) = mock::es256_key();
        let server = MockServer::start(|base| {
            let metadata = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")});
            Router::new()
                .route(
                    "/.well-known/oauth-authorization-server",
                    mock::Script::new([(200, metadata)]).route(),
                )
                .route("/jwks", mock::Script::new([(200, jwks)]).route())
        })
        .await;
        let inspect = |claims: Value| {
            let token = pair.sign_jwt("at+jwt", &claims).unwrap();
            let issuer = Some(server.base.clone());
            async move { run(InspectArgs { token, issuer }).await }
        };
        let now = SystemClock.now();
        let base = server.base.clone();

        inspect(json!({"iss": base, "exp": now + 60}))
            .await
            .unwrap();
        for (claims, expected) in [
            (
                json!({"iss": base, "exp": "1000000000"}),
                "invalid claim exp",
            ),
            (
                json!({"iss": base, "exp": 1_000_000_000.5}),
                "expired at 2001-09-09T01:46:40Z",
            ),
            (
                json!({"iss": base, "exp": now + 60, "nbf": "x"}),
                "invalid claim nbf",
            ),
            (json!({"iss": base}), "no exp claim"),
            (
                json!({"iss": "https://evil.example.com", "exp": now + 60}),
                "wrong issuer",
            ),
        ] {
            let message = inspect(claims.clone()).await.unwrap_err().to_string();
            assert!(message.contains(expected), "{claims}: {message}");
        }
    }
}
