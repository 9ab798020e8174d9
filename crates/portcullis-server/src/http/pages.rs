//! Pages for people: server-rendered askama templates (no JavaScript), one layout,
//! and the headers every page carries.
//!
//! Security headers on every page: a strict `Content-Security-Policy` (nothing but our
//! stylesheet and the configured logo; forms post only to us and to the redirect
//! target of the request, since CSP `form-action` also governs the redirect that
//! follows a form post), `X-Frame-Options: DENY` and `frame-ancestors 'none'`
//! (clickjacking, RFC 6749 §10.13), `Referrer-Policy: no-referrer` (the URL carries a
//! request id), and `Cache-Control: no-store`.

use crate::app::config::Branding;
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

/// The login form. Field names `username` and `password` are a contract.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// The client's display name.
    pub client_name: String,
    /// Pending request id.
    pub request: String,
    /// CSRF token.
    pub csrf_token: String,
    /// Pre-filled username (`login_hint`, or what was typed).
    pub username: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// One scope on the consent page.
#[derive(Debug, Clone)]
pub struct ScopeView {
    /// The scope token.
    pub name: String,
    /// What it allows, in plain words.
    pub description: String,
}

/// The consent form. Buttons `decision=approve|deny` are a contract.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentView {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// The client's display name.
    pub client_name: String,
    /// Who is signed in.
    pub username: String,
    /// The scopes to approve now.
    pub scopes: Vec<ScopeView>,
    /// How many of the requested scopes were approved before.
    pub already_approved: usize,
    /// Pending request id.
    pub request: String,
    /// CSRF token.
    pub csrf_token: String,
    /// For a device authorization: the user code (`XXXX-XXXX`), shown prominently so
    /// the user can compare it with the device's screen (RFC 8628 §5.4 remote phishing).
    pub user_code: Option<String>,
}

/// The device verification page (RFC 8628 §3.3): one field, `user_code` (a contract),
/// and a CSRF token.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DeviceEntryView {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// CSRF token (derived from the browser-binding cookie).
    pub csrf_token: String,
    /// Pre-filled code (from `verification_uri_complete`, RFC 8628 §3.3.1), or what was
    /// typed.
    pub user_code: String,
    /// Why the last entry failed.
    pub error: Option<String>,
}

/// The end of a device authorization in the browser: connected, denied, or too late.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDoneView {
    /// Layout.
    pub chrome: Chrome,
    /// Short title.
    pub title: String,
    /// What happened.
    pub message: String,
    /// What to do next.
    pub advice: String,
    /// Whether the message reports a problem (announced to screen readers).
    pub alert: bool,
    /// The request id, for support.
    pub request_id: Option<String>,
}

/// Shown after logout when there is nowhere to redirect.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutView {
    /// Layout.
    pub chrome: Chrome,
}

/// Asks before logging out when the request did not prove who sent it.
#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmView {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// CSRF token.
    pub csrf_token: String,
    /// The client's display name, if known.
    pub client_name: Option<String>,
    /// Carried through.
    pub client_id: Option<String>,
    /// Carried through (already checked against the client's list).
    pub post_logout_redirect_uri: Option<String>,
    /// Carried through.
    pub state: Option<String>,
}

/// Plain words for a scope on the consent page (OIDC Core §5.4 for the standard ones).
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (your account identifier)".to_owned(),
        "profile" => "See your name and username".to_owned(),
        "email" => "See your e-mail address".to_owned(),
        "address" => "See your postal address".to_owned(),
        "phone" => "See your phone number".to_owned(),
        "offline_access" => "Keep access when you are not using it (stay signed in)".to_owned(),
        other => match other.split_once(':') {
            Some(("read", what)) => format!("Read your {what}"),
            Some(("write", what)) => format!("Change your {what}"),
            _ => format!("Use the permission “{other}”"),
        },
    }
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
        Err(error) => {
            tracing::error!(%error, "page template failed to render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
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

    #[test]
    fn the_device_page_has_a_labelled_user_code_field_and_escapes_it() {
        let view = DeviceEntryView {
            chrome: Chrome::new(&Branding::default()),
            action: routes::DEVICE,
            csrf_token: "tok".into(),
            user_code: "\"><script>".into(),
            error: Some("<b>no</b>".into()),
        };
        let html = view.render().unwrap();
        assert!(html.contains(r#"<label for="user_code">"#), "{html}");
        assert!(html.contains(r#"name="user_code""#), "{html}");
        assert!(html.contains(r#"name="csrf_token" value="tok""#), "{html}");
        assert!(
            !html.contains("<script>") && !html.contains("<b>no</b>"),
            "{html}"
        );
    }

    #[test]
    fn scopes_are_described_in_plain_words() {
        assert_eq!(describe_scope("email"), "See your e-mail address");
        assert_eq!(describe_scope("read:orders"), "Read your orders");
        assert_eq!(describe_scope("admin"), "Use the permission “admin”");
    }
}
