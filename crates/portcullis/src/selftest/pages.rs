//! Checks of the pages a browser sees at the authorization endpoint: the security
//! headers (CSP, framing, MIME sniffing, referrer; RFC 9700 §4.16 clickjacking,
//! §4.2.4 referrer leaks) and that a crafted value is never reflected unescaped
//! (RFC 6749 §10.14 code injection: an error page is still a page of the issuer).

use super::Target;
use super::probe::{self, Answer, shown};
use super::report::{Outcome, Status};

/// The page checks (skipped without an authorization endpoint).
pub async fn check(target: &Target) -> Vec<Outcome> {
    let Some(endpoint) = target.endpoint("authorization_endpoint") else {
        return vec![
            Outcome::new(
                HEADERS,
                HEADERS_SECTION,
                Status::Skip,
                "no authorization_endpoint",
            ),
            Outcome::new(
                REFLECTION,
                REFLECTION_SECTION,
                Status::Skip,
                "no authorization_endpoint",
            ),
        ];
    };
    let page = page(target, &endpoint).await;
    let crafted = probe::get(
        &target.http,
        &probe::with_query(
            &endpoint,
            &[
                ("response_type", MARKER),
                ("client_id", MARKER),
                ("redirect_uri", MARKER),
                ("state", MARKER),
            ],
        ),
    )
    .await;
    vec![security_headers(&page), not_reflected(&crafted)]
}

/// The page a browser gets: the authorization endpoint without parameters, which
/// every server answers with its error page (no state is created).
async fn page(target: &Target, endpoint: &url::Url) -> Result<(url::Url, Answer), String> {
    let answer = probe::get(&target.http, endpoint).await?;
    // A server may first send the browser to its own page (sign-in, error): follow
    // one same-origin redirect.
    if let Some(to) = answer.location(endpoint)
        && to.origin() == endpoint.origin()
    {
        let next = probe::get(&target.http, &to).await?;
        return Ok((to, next));
    }
    Ok((endpoint.clone(), answer))
}

/// CSP, `X-Frame-Options` or CSP `frame-ancestors`, `X-Content-Type-Options:
/// nosniff`, and a `Referrer-Policy`, on the page.
fn security_headers(page: &Result<(url::Url, Answer), String>) -> Outcome {
    let (url, answer) = match page {
        Ok(page) => page,
        Err(why) => return Outcome::new(HEADERS, HEADERS_SECTION, Status::Fail, why),
    };
    let csp = answer
        .header_all("content-security-policy")
        .to_ascii_lowercase();
    let mut missing = Vec::new();
    if csp.is_empty() {
        missing.push("Content-Security-Policy");
    }
    if answer.header("x-frame-options").is_none() && !csp.contains("frame-ancestors") {
        missing.push("X-Frame-Options or CSP frame-ancestors");
    }
    if !answer
        .header("x-content-type-options")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff"))
    {
        missing.push("X-Content-Type-Options: nosniff");
    }
    if answer.header("referrer-policy").is_none() {
        missing.push("Referrer-Policy");
    }
    let (status, reason) = if missing.is_empty() {
        (Status::Pass, format!("all present on {}", shown(url)))
    } else {
        (
            Status::Fail,
            format!(
                "missing on {} (HTTP {}): {}",
                shown(url),
                answer.status,
                missing.join(", ")
            ),
        )
    };
    Outcome::new(HEADERS, HEADERS_SECTION, status, &reason)
}

/// The crafted `<script>` sent as every parameter does not come back as markup in an
/// HTML answer (escaped is fine; so is JSON).
fn not_reflected(crafted: &Result<Answer, String>) -> Outcome {
    let answer = match crafted {
        Ok(answer) => answer,
        Err(why) => return Outcome::new(REFLECTION, REFLECTION_SECTION, Status::Fail, why),
    };
    let reflected = answer.is_html() && answer.text().contains(MARKER_TAG);
    let in_location = answer
        .header("location")
        .is_some_and(|l| l.contains(MARKER_TAG));
    let (status, reason) = if reflected {
        (
            Status::Fail,
            format!("`{MARKER_TAG}` is reflected unescaped in the HTML page"),
        )
    } else if in_location {
        (
            Status::Fail,
            "the crafted value is redirected to unencoded".to_owned(),
        )
    } else {
        (
            Status::Pass,
            format!("not reflected (HTTP {})", answer.status),
        )
    };
    Outcome::new(REFLECTION, REFLECTION_SECTION, status, &reason)
}

/// Check id: security headers.
const HEADERS: &str = "headers.login_page";
/// Section of [`HEADERS`].
const HEADERS_SECTION: &str = "RFC 9700 §4.16";
/// Check id: reflection.
const REFLECTION: &str = "errors.html_not_reflected";
/// Section of [`REFLECTION`].
const REFLECTION_SECTION: &str = "RFC 6749 §10.14";
/// The crafted value.
const MARKER: &str = "<script>portcullis_selftest()</script>";
/// What an unescaped reflection of [`MARKER`] contains.
const MARKER_TAG: &str = "<script>portcullis_selftest";
