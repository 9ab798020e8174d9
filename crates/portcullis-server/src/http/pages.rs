//! Pages for people: server-rendered askama templates (no JavaScript), one layout,
//! and the headers every page carries; the views of each flow are in the submodules
//! (views only: they render what the application decided).
//!
//! Security headers on every page: a strict `Content-Security-Policy` (nothing but our
//! stylesheet and the configured logo; forms post only to us and to the redirect
//! target of the request, since CSP `form-action` also governs the redirect that
//! follows a form post), `X-Frame-Options: DENY` and `frame-ancestors 'none'`
//! (clickjacking, RFC 6749 §10.13), `Referrer-Policy: no-referrer` (the URL carries a
//! request id), and `Cache-Control: no-store`.

pub mod consent;
pub mod dev;
pub mod device;
pub mod end_session;
pub mod home;
pub mod login;

use crate::app::config::Branding;
use crate::app::state::AppState;
use crate::http::error::template_failed;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_proto::routes;
use url::Url;

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Product name from `[branding]`.
    pub product_name: String,
    /// Logo URL from `[branding]`.
    pub logo_url: Option<String>,
    /// Path of the stylesheet.
    pub stylesheet: &'static str,
}

impl Chrome {
    /// The chrome for `branding`.
    pub fn new(branding: &Branding) -> Self {
        Self {
            product_name: branding.product_name.clone(),
            logo_url: branding.logo_url.as_ref().map(Url::to_string),
            stylesheet: routes::STYLESHEET,
        }
    }
}

/// An error page: what happened and what to do.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPageView {
    /// Layout.
    pub chrome: Chrome,
    /// Short title.
    pub title: String,
    /// What happened, in plain words.
    pub message: String,
    /// What to do next.
    pub advice: String,
    /// The request id, for support.
    pub request_id: Option<String>,
}

/// Renders `view` as an HTML response with the page security headers. `form_target`
/// is an extra CSP `form-action` source: the origin a form on this page may end up
/// redirecting to (the client's redirect URI).
pub fn render(
    status: StatusCode,
    view: &impl Template,
    logo: Option<&Url>,
    form_target: Option<&str>,
) -> Response {
    let html = match view.render() {
        Ok(html) => html,
        Err(error) => return template_failed(&error),
    };
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let csp = content_security_policy(logo, form_target);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// [`render`] with this server's chrome settings: `view` with `status`, the
/// configured logo allowed, and `form_target` as the extra `form-action` source.
pub fn render_page(
    state: &AppState,
    status: StatusCode,
    view: &impl Template,
    form_target: Option<&str>,
) -> Response {
    render(
        status,
        view,
        state.config().branding.logo_url.as_ref(),
        form_target,
    )
}

/// The CSP of a page; see the module docs.
fn content_security_policy(logo: Option<&Url>, form_target: Option<&str>) -> String {
    let img = logo
        .and_then(csp_source)
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let form = form_target
        .and_then(|t| Url::parse(t).ok())
        .and_then(|u| csp_source(&u))
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'{img}; form-action 'self'{form}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// A CSP source expression for a URL: its origin (`https://host:port`) for http(s),
/// its scheme (`com.example.app:`) for a private-use scheme. The URL parser has already
/// normalised it, so it cannot carry `;` or spaces into the header.
fn csp_source(url: &Url) -> Option<String> {
    match url.scheme() {
        "http" | "https" => {
            let origin = url.origin().ascii_serialization();
            (origin != "null").then_some(origin)
        }
        scheme => Some(format!("{scheme}:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_only_our_styles_and_the_redirect_origin_for_forms() {
        let csp = content_security_policy(None, Some("http://127.0.0.1:4000/cb?x=1"));
        assert_eq!(
            csp,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' http://127.0.0.1:4000; frame-ancestors 'none'; base-uri 'none'"
        );
        let csp = content_security_policy(None, Some("com.example.app:/callback"));
        assert!(
            csp.contains("form-action 'self' com.example.app:;"),
            "{csp}"
        );
    }

    #[test]
    fn pages_without_a_redirect_target_post_only_to_us() {
        // The device pages (RFC 8628 §3.3) end on our own pages: no other origin.
        let csp = content_security_policy(None, None);
        assert!(csp.contains("form-action 'self';"), "{csp}");
    }
}
