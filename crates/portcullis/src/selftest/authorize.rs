//! Checks at the authorization endpoint with the client the operator named: PKCE
//! required and `plain` refused (RFC 9700 §2.1.1), no implicit grant (RFC 9700 §2.1.2),
//! exact redirect-URI matching (RFC 9700 §4.1.3), and `iss` in authorization
//! responses (RFC 9207). Every request is one a correct server refuses before it
//! stores anything; redirects are inspected, never followed.

use super::probe::{self, Answer, is_loopback, param, redirect_params, shown};
use super::report::{Outcome, Status};
use super::{Target, TestClient};
use url::Url;

/// The answers to the authorization requests, made once and read by several checks.
pub struct Probes {
    /// `response_type=code` without `code_challenge`.
    no_challenge: Option<Result<Answer, String>>,
    /// `code_challenge_method=plain`.
    plain: Option<Result<Answer, String>>,
    /// `response_type=token`.
    implicit: Option<Result<Answer, String>>,
    /// The registered redirect URI changed in one way each, with its answer.
    variants: Vec<(&'static str, Url, Result<Answer, String>)>,
}

impl Probes {
    /// Sends the probes when there is a client and an authorization endpoint.
    pub async fn run(target: &Target) -> Self {
        let mut probes = Self {
            no_challenge: None,
            plain: None,
            implicit: None,
            variants: Vec::new(),
        };
        let (Some(client), Some(endpoint)) =
            (&target.client, target.endpoint("authorization_endpoint"))
        else {
            return probes;
        };
        let redirect = client.redirect_uri.as_str();
        let base = |response_type: &'static str| {
            vec![
                ("response_type", response_type),
                ("client_id", client.id.as_str()),
                ("redirect_uri", redirect),
                ("scope", target.scope.as_str()),
                ("state", STATE),
            ]
        };
        let mut no_challenge = base("code");
        probes.no_challenge = Some(send(target, &endpoint, &no_challenge).await);
        no_challenge.extend([
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ]);
        probes.plain = Some(send(target, &endpoint, &no_challenge).await);
        let mut implicit = base("token");
        implicit.extend(S256);
        probes.implicit = Some(send(target, &endpoint, &implicit).await);
        for (name, variant) in variants(&client.redirect_uri) {
            let mut params = base("code");
            params.retain(|(n, _)| *n != "redirect_uri");
            params.push(("redirect_uri", variant.as_str()));
            params.extend(S256);
            let answer = send(target, &endpoint, &params).await;
            probes.variants.push((name, variant, answer));
        }
        probes
    }
}

impl Probes {
    /// Whether any probe was answered with a redirect to the registered URI: proof that
    /// the server knows the client and the URI, so that its error pages are about what
    /// each probe changed and not about a mistyped `--client-id` / `--redirect-uri`.
    fn reached_client(&self, client: &TestClient) -> bool {
        [&self.no_challenge, &self.plain, &self.implicit]
            .into_iter()
            .flatten()
            .filter_map(|answer| answer.as_ref().ok())
            .filter_map(|answer| answer.location(&client.redirect_uri))
            .any(|to| to.as_str().starts_with(client.redirect_uri.as_str()))
    }
}

/// The checks over the probes' answers (skipped without a client).
pub fn check(target: &Target, probes: &Probes) -> Vec<Outcome> {
    let client = target.client.as_ref();
    let known = client.is_some_and(|c| probes.reached_client(c));
    vec![
        refused(
            "pkce.required",
            "RFC 9700 §2.1.1",
            client,
            probes.no_challenge.as_ref(),
            "a request without code_challenge",
            known,
        ),
        refused(
            "pkce.plain_refused",
            "RFC 9700 §2.1.1",
            client,
            probes.plain.as_ref(),
            "code_challenge_method=plain",
            known,
        ),
        refused(
            "grant.implicit_refused",
            "RFC 9700 §2.1.2",
            client,
            probes.implicit.as_ref(),
            "response_type=token",
            known,
        ),
        exact_redirect(client, probes, known),
        iss_advertised(target),
        iss_in_error_response(target, probes),
    ]
}

/// Passes when `answer` refuses: an error redirect to the registered URI (no `code`,
/// no token) or a 4xx page (a warning when no probe reached the redirect URI: the page
/// may be about an unknown client). A redirect elsewhere (a sign-in page) means the
/// request was accepted: fail.
fn refused(
    id: &'static str,
    section: &'static str,
    client: Option<&TestClient>,
    answer: Option<&Result<Answer, String>>,
    what: &str,
    known: bool,
) -> Outcome {
    let (Some(client), Some(answer)) = (client, answer) else {
        return Outcome::new(id, section, Status::Skip, NEEDS_CLIENT);
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(why) => return Outcome::new(id, section, Status::Fail, why),
    };
    let (status, reason) = match verdict(answer, &client.redirect_uri) {
        Verdict::ErrorRedirect(error) => (Status::Pass, format!("{what}: refused with {error}")),
        Verdict::ErrorPage(code) if known => {
            (Status::Pass, format!("{what}: refused (HTTP {code} page)"))
        }
        Verdict::ErrorPage(code) => (
            Status::Warn,
            format!("{what}: HTTP {code} page; {UNPROVEN}"),
        ),
        Verdict::Issued => (Status::Fail, format!("{what}: a code or token was issued")),
        Verdict::Elsewhere(to) => (
            Status::Fail,
            format!("{what}: accepted (redirected to {to})"),
        ),
        Verdict::Unclear(code) => (
            Status::Warn,
            format!("{what}: HTTP {code}, neither an error redirect nor a 4xx refusal"),
        ),
    };
    Outcome::new(id, section, status, &reason)
}

/// RFC 9700 §4.1.3 / OAuth 2.1 §2.3.1: the registered redirect URI with an extra path
/// segment, an extra query parameter or another port (not for loopback URIs, whose
/// port may vary: RFC 8252 §7.3) is refused and never redirected to.
fn exact_redirect(client: Option<&TestClient>, probes: &Probes, known: bool) -> Outcome {
    const ID: &str = "redirect_uri.exact_match";
    const SECTION: &str = "RFC 9700 §4.1.3";
    if client.is_none() {
        return Outcome::new(ID, SECTION, Status::Skip, NEEDS_CLIENT);
    }
    let mut failures = Vec::new();
    let mut unclear = Vec::new();
    for (name, variant, answer) in &probes.variants {
        match answer {
            Err(why) => failures.push(format!("{name}: {why}")),
            Ok(answer) if (400..500).contains(&answer.status) => {}
            Ok(answer) => match answer.location(variant) {
                Some(to) if to.as_str().starts_with(variant.as_str()) => {
                    failures.push(format!("{name}: redirected to {}", shown(&to)));
                }
                Some(to) => {
                    failures.push(format!("{name}: accepted (redirected to {})", shown(&to)))
                }
                None => unclear.push(format!("{name}: HTTP {}", answer.status)),
            },
        }
    }
    let tried: Vec<&str> = probes.variants.iter().map(|(name, _, _)| *name).collect();
    let (status, reason) = if !failures.is_empty() {
        (Status::Fail, failures.join("; "))
    } else if !unclear.is_empty() {
        (
            Status::Warn,
            format!("not refused with 4xx: {}", unclear.join("; ")),
        )
    } else if !known {
        (
            Status::Warn,
            format!("refused: {}; {UNPROVEN}", tried.join(", ")),
        )
    } else {
        (Status::Pass, format!("refused: {}", tried.join(", ")))
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// RFC 9207 §3: the metadata says `authorization_response_iss_parameter_supported`.
fn iss_advertised(target: &Target) -> Outcome {
    let advertised = target
        .metadata
        .get("authorization_response_iss_parameter_supported")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    let (status, reason) = if advertised {
        (
            Status::Pass,
            "authorization_response_iss_parameter_supported: true",
        )
    } else {
        (
            Status::Fail,
            "authorization_response_iss_parameter_supported is not true (mix-up defence, RFC 9700 §4.4)",
        )
    };
    Outcome::new("iss.advertised", "RFC 9207 §3", status, reason)
}

/// RFC 9207 §2: an error response at the redirect URI carries `iss`, equal to the
/// issuer.
fn iss_in_error_response(target: &Target, probes: &Probes) -> Outcome {
    const ID: &str = "iss.in_error_response";
    const SECTION: &str = "RFC 9207 §2";
    let Some(client) = &target.client else {
        return Outcome::new(ID, SECTION, Status::Skip, NEEDS_CLIENT);
    };
    let redirects = [&probes.plain, &probes.no_challenge, &probes.implicit]
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_ref().ok())
        .filter_map(|a| a.location(&client.redirect_uri))
        .find(|to| {
            to.as_str().starts_with(client.redirect_uri.as_str())
                && param(&redirect_params(to), "error").is_some()
        });
    let Some(to) = redirects else {
        return Outcome::new(
            ID,
            SECTION,
            Status::Skip,
            "no error response reached the redirect URI",
        );
    };
    let params = redirect_params(&to);
    let (status, reason) = match param(&params, "iss") {
        Some(iss) if iss == target.issuer => (Status::Pass, format!("iss={iss}")),
        Some(iss) => (Status::Fail, format!("iss=`{iss}`, not the issuer")),
        None => (Status::Fail, "an error response without iss".to_owned()),
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// How an authorization request was answered.
enum Verdict {
    /// Redirected to the client with `error`.
    ErrorRedirect(String),
    /// A 4xx page.
    ErrorPage(u16),
    /// Redirected to the client with a code or token.
    Issued,
    /// Redirected somewhere else (accepted: on to sign-in).
    Elsewhere(String),
    /// Anything else.
    Unclear(u16),
}

fn verdict(answer: &Answer, redirect_uri: &Url) -> Verdict {
    if (400..500).contains(&answer.status) {
        return Verdict::ErrorPage(answer.status);
    }
    let Some(to) = answer.location(redirect_uri) else {
        return Verdict::Unclear(answer.status);
    };
    if !to.as_str().starts_with(redirect_uri.as_str()) {
        return Verdict::Elsewhere(shown(&to));
    }
    let params = redirect_params(&to);
    if param(&params, "code").is_some() || param(&params, "access_token").is_some() {
        return Verdict::Issued;
    }
    match param(&params, "error") {
        Some(error) => Verdict::ErrorRedirect(error.to_owned()),
        None => Verdict::Unclear(answer.status),
    }
}

/// The registered URI changed in one way each (RFC 9700 §4.1.3's attacks).
fn variants(registered: &Url) -> Vec<(&'static str, Url)> {
    let mut out = Vec::new();
    let mut path = registered.clone();
    path.set_path(&format!(
        "{}/selftest",
        registered.path().trim_end_matches('/')
    ));
    out.push(("extra path segment", path));
    let mut query = registered.clone();
    query.query_pairs_mut().append_pair("selftest", "1");
    out.push(("extra query", query));
    if !is_loopback(registered)
        && let Some(port) = registered.port_or_known_default()
    {
        let mut other = registered.clone();
        if other.set_port(Some(port.wrapping_add(1).max(1))).is_ok() {
            out.push(("another port", other));
        }
    }
    out
}

/// Sends an authorization request (GET, RFC 6749 §4.1.1).
async fn send(target: &Target, endpoint: &Url, params: &[(&str, &str)]) -> Result<Answer, String> {
    probe::get(&target.http, &probe::with_query(endpoint, params)).await
}

/// Why a check that needs a client was skipped.
const NEEDS_CLIENT: &str = "needs --client-id and --redirect-uri";
/// Why a refusal by an error page proves nothing.
const UNPROVEN: &str = "no probe reached the redirect URI, so the page may be about the client: check --client-id and --redirect-uri";
/// The `state` of every probe.
const STATE: &str = "portcullis-selftest";
/// RFC 7636 Appendix B's verifier (sent as a `plain` challenge).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// RFC 7636 Appendix B's S256 challenge of [`VERIFIER`].
const S256: [(&str, &str); 2] = [
    (
        "code_challenge",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    ),
    ("code_challenge_method", "S256"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_change_path_query_and_port_but_not_a_loopback_port() {
        let names: Vec<_> = variants(&Url::parse("https://app.example.com/cb").unwrap())
            .into_iter()
            .map(|(n, u)| (n, u.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                (
                    "extra path segment",
                    "https://app.example.com/cb/selftest".to_owned()
                ),
                (
                    "extra query",
                    "https://app.example.com/cb?selftest=1".to_owned()
                ),
                ("another port", "https://app.example.com:444/cb".to_owned()),
            ]
        );
        assert_eq!(
            variants(&Url::parse("http://127.0.0.1:8400/cb").unwrap()).len(),
            2
        );
    }
}
