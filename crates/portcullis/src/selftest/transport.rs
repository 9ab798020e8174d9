//! Checks of the token endpoint and the transport: the password grant refused
//! (RFC 9700 §2.4), `Cache-Control: no-store` and safe characters in JSON errors
//! (RFC 6749 §5.1, §5.2), the CORS policy of the token and authorization endpoints
//! (Fetch standard), the negotiated TLS version (RFC 9325 §3.1.1) and HSTS (RFC 6797).

use super::Target;
use super::probe::{self, Answer};
use super::report::{Outcome, Status};
use super::tls;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;

/// The token-endpoint, CORS and transport checks.
pub async fn check(target: &Target) -> Vec<Outcome> {
    let mut out = Vec::new();
    match target.endpoint("token_endpoint") {
        Some(token) => {
            out.push(password_refused(target, &token).await);
            let crafted = probe::send(
                target
                    .http
                    .post(token.clone())
                    .form(&[("grant_type", CRAFTED), ("code", "portcullis-selftest")]),
            )
            .await;
            out.push(no_store(&crafted));
            out.push(json_error_charset(&crafted));
            out.push(cors_token(target, &token).await);
        }
        None => {
            for (id, section) in [
                ("grant.password_refused", "RFC 9700 §2.4"),
                ("headers.token_error_no_store", "RFC 6749 §5.1"),
                ("errors.json_charset", "RFC 6749 §5.2"),
                ("cors.token_endpoint", "Fetch §3.2"),
            ] {
                out.push(Outcome::new(id, section, Status::Skip, "no token_endpoint"));
            }
        }
    }
    out.push(cors_authorize(target).await);
    out.push(tls::version(target).await);
    out.push(hsts(target).await);
    out
}

/// RFC 9700 §2.4 / OAuth 2.1 §10: `grant_type=password` is refused as an unsupported
/// grant. A made-up user and random password are sent: a server that supports the
/// grant answers `invalid_grant` (fail) and never issues a token.
async fn password_refused(target: &Target, token: &url::Url) -> Outcome {
    const ID: &str = "grant.password_refused";
    const SECTION: &str = "RFC 9700 §2.4";
    let mut form = vec![
        ("grant_type", "password".to_owned()),
        ("username", "portcullis-selftest".to_owned()),
        ("password", "portcullis-selftest-not-a-password".to_owned()),
    ];
    let mut request = target.http.post(token.clone());
    // The secret goes only to a token endpoint on the issuer's own origin over https
    // (or loopback http): the metadata under test names the endpoint, and a wrong one
    // must not receive the client's secret (it is flagged by `metadata.*` instead).
    let secret_safe = token.origin() == target.issuer_url.origin()
        && (token.scheme() == "https"
            || token.host().is_some_and(|h| {
                matches!(h, url::Host::Ipv4(ip) if ip.is_loopback())
                    || matches!(h, url::Host::Ipv6(ip) if ip.is_loopback())
                    || matches!(h, url::Host::Domain("localhost"))
            }));
    let with_client = match &target.client {
        Some(client) => {
            match client.secret.as_ref().filter(|_| secret_safe) {
                Some(secret) => {
                    request = request.basic_auth(&client.id, Some(secret.expose_secret()));
                }
                None => form.push(("client_id", client.id.clone())),
            }
            true
        }
        None => false,
    };
    let answer = match probe::send(request.form(&form)).await {
        Ok(answer) => answer,
        Err(why) => return Outcome::new(ID, SECTION, Status::Fail, &why),
    };
    let error = error_code(&answer);
    let (status, reason) = match error.as_deref() {
        _ if (200..300).contains(&answer.status) => {
            (Status::Fail, "the password grant answered 2xx".to_owned())
        }
        Some("unsupported_grant_type") => (Status::Pass, "unsupported_grant_type".to_owned()),
        Some("invalid_grant") => (
            Status::Fail,
            "invalid_grant: the server checked the password (the grant is supported)".to_owned(),
        ),
        Some(other) if !with_client => (
            Status::Warn,
            format!("{other} (HTTP {}); pass --client-id to tell", answer.status),
        ),
        Some(other) => (Status::Warn, format!("{other} (HTTP {})", answer.status)),
        None => (
            Status::Warn,
            format!("HTTP {} without an OAuth error", answer.status),
        ),
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// RFC 6749 §5.1 (and §5.2 answers, OAuth 2.1 §3.2.4): token endpoint answers carry
/// `Cache-Control: no-store`, so no cache keeps them.
fn no_store(crafted: &Result<Answer, String>) -> Outcome {
    const ID: &str = "headers.token_error_no_store";
    const SECTION: &str = "RFC 6749 §5.1";
    let answer = match crafted {
        Ok(answer) => answer,
        Err(why) => return Outcome::new(ID, SECTION, Status::Fail, why),
    };
    let cache = answer.header_all("cache-control").to_ascii_lowercase();
    let (status, reason) = if cache.split(',').any(|d| d.trim() == "no-store") {
        (Status::Pass, format!("Cache-Control: {cache}"))
    } else {
        (
            Status::Fail,
            format!("the error answer has no Cache-Control: no-store (`{cache}`)"),
        )
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// RFC 6749 §5.2: `error` and `error_description` use only %x20-21 / %x23-5B /
/// %x5D-7E, even when the server echoes a crafted value (`"`, `\`, `<`, non-ASCII).
fn json_error_charset(crafted: &Result<Answer, String>) -> Outcome {
    const ID: &str = "errors.json_charset";
    const SECTION: &str = "RFC 6749 §5.2";
    let answer = match crafted {
        Ok(answer) => answer,
        Err(why) => return Outcome::new(ID, SECTION, Status::Fail, why),
    };
    let Some(body) = answer.json_object() else {
        return Outcome::new(
            ID,
            SECTION,
            Status::Fail,
            &format!("HTTP {} without a JSON error object", answer.status),
        );
    };
    let bad: Vec<&str> = ["error", "error_description"]
        .into_iter()
        .filter(|name| {
            body.get(*name)
                .and_then(Value::as_str)
                .is_some_and(|text| !text.chars().all(allowed))
        })
        .collect();
    let (status, reason) = if bad.is_empty() {
        (
            Status::Pass,
            "error fields use the allowed characters".to_owned(),
        )
    } else {
        (
            Status::Fail,
            format!(
                "characters outside %x20-21/%x23-5B/%x5D-7E in {bad:?} (a crafted value is echoed)"
            ),
        )
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// RFC 6749 §5.2's character set for `error` and `error_description`.
fn allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{21}' | '\u{23}'..='\u{5B}' | '\u{5D}'..='\u{7E}')
}

/// Fetch §3.2 (CORS protocol): a preflight from an unknown origin at the token
/// endpoint gets neither `*` nor its own origin back together with
/// `Access-Control-Allow-Credentials: true`; reflecting any origin without credentials
/// is a warning.
async fn cors_token(target: &Target, token: &url::Url) -> Outcome {
    const ID: &str = "cors.token_endpoint";
    const SECTION: &str = "Fetch §3.2";
    let answer = match preflight(target, token, "POST").await {
        Ok(answer) => answer,
        Err(why) => return Outcome::new(ID, SECTION, Status::Fail, &why),
    };
    let allow = answer.header("access-control-allow-origin").unwrap_or("");
    let credentials = answer
        .header("access-control-allow-credentials")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let any = allow == "*" || allow == UNKNOWN_ORIGIN;
    let (status, reason) = match (any, credentials) {
        (true, true) => (
            Status::Fail,
            format!("an unknown origin is allowed (`{allow}`) with credentials"),
        ),
        (true, false) => (
            Status::Warn,
            format!("an unknown origin is allowed (`{allow}`), without credentials"),
        ),
        (false, _) => (
            Status::Pass,
            "no CORS allowance for an unknown origin".to_owned(),
        ),
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// The authorization endpoint is navigated to, never fetched by scripts: it answers no
/// CORS header at all, to a preflight or to a GET with an `Origin`.
async fn cors_authorize(target: &Target) -> Outcome {
    const ID: &str = "cors.authorize_endpoint";
    const SECTION: &str = "Fetch §3.2";
    let Some(endpoint) = target.endpoint("authorization_endpoint") else {
        return Outcome::new(ID, SECTION, Status::Skip, "no authorization_endpoint");
    };
    let answers = [
        preflight(target, &endpoint, "GET").await,
        probe::send(
            target
                .http
                .get(endpoint.clone())
                .header("origin", UNKNOWN_ORIGIN),
        )
        .await,
    ];
    let mut allowed_by = Vec::new();
    for answer in &answers {
        match answer {
            Ok(answer) => {
                if let Some(allow) = answer.header("access-control-allow-origin") {
                    allowed_by.push(allow.to_owned());
                }
            }
            Err(why) => return Outcome::new(ID, SECTION, Status::Fail, why),
        }
    }
    let (status, reason) = if allowed_by.is_empty() {
        (Status::Pass, "no CORS headers".to_owned())
    } else {
        (
            Status::Fail,
            format!("Access-Control-Allow-Origin: {}", allowed_by.join(", ")),
        )
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// An `OPTIONS` preflight for `method` from [`UNKNOWN_ORIGIN`].
async fn preflight(target: &Target, url: &url::Url, method: &str) -> Result<Answer, String> {
    probe::send(
        target
            .http
            .request(Method::OPTIONS, url.clone())
            .header("origin", UNKNOWN_ORIGIN)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            ),
    )
    .await
}

/// RFC 6797 §6.1: an https issuer sends `Strict-Transport-Security` with `max-age`
/// of at least a year (the HSTS preload rule); skipped for http.
async fn hsts(target: &Target) -> Outcome {
    const ID: &str = "tls.hsts";
    const SECTION: &str = "RFC 6797 §6.1";
    if target.issuer_url.scheme() != "https" {
        return Outcome::new(ID, SECTION, Status::Skip, "http issuer (no TLS to pin)");
    }
    // Every https answer should carry it; the first of these that does is read.
    let candidates = [
        Some(target.issuer_url.clone()),
        target.endpoint("authorization_endpoint"),
        target.endpoint("jwks_uri"),
    ];
    let mut header = None;
    for url in candidates.iter().flatten() {
        match probe::get(&target.http, url).await {
            Ok(answer) => {
                if let Some(value) = answer.header("strict-transport-security") {
                    header = Some(value.to_owned());
                    break;
                }
            }
            Err(why) => return Outcome::new(ID, SECTION, Status::Fail, &why),
        }
    }
    let (status, reason) = match header {
        None => (
            Status::Fail,
            "no Strict-Transport-Security header".to_owned(),
        ),
        Some(value) => match max_age(&value) {
            Some(age) if age >= ONE_YEAR => (Status::Pass, format!("max-age={age}")),
            Some(age) => (
                Status::Fail,
                format!("max-age={age} is under a year ({ONE_YEAR})"),
            ),
            None => (Status::Fail, format!("no max-age in `{value}`")),
        },
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// RFC 6797 §6.1.1 `max-age` of an HSTS header value.
fn max_age(value: &str) -> Option<u64> {
    value.split(';').find_map(|directive| {
        let (name, age) = directive.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        age.trim().trim_matches('"').parse().ok()
    })
}

/// The OAuth `error` of a JSON answer.
fn error_code(answer: &Answer) -> Option<String> {
    answer
        .json_object()?
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// An origin no server registers.
const UNKNOWN_ORIGIN: &str = "https://portcullis-selftest.invalid";
/// A grant type a server may echo in its error: a quote, a backslash, markup and a
/// non-ASCII letter.
const CRAFTED: &str = "sélftest\"\\<script>x</script>";
/// RFC 6797's customary minimum for preloading, in seconds.
const ONE_YEAR: u64 = 31_536_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_reads_the_directive() {
        assert_eq!(
            max_age("max-age=31536000; includeSubDomains"),
            Some(31_536_000)
        );
        assert_eq!(max_age("includeSubDomains; Max-Age=\"60\""), Some(60));
        assert_eq!(max_age("includeSubDomains"), None);
    }

    #[test]
    fn allowed_is_rfc_6749_section_5_2() {
        assert!("invalid_request: a b!".chars().all(allowed));
        for bad in ['"', '\\', '\n', 'é', '\u{7f}'] {
            assert!(!allowed(bad), "{bad:?}");
        }
    }
}
