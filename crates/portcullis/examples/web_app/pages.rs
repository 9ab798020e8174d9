//! What the browser sees: small HTML pages with strict headers, redirects, and the
//! error pages (which say little; the log says more, never a token).

use super::orders::Order;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The home page of a signed-in user: their name and orders, and the sign-out form.
pub fn orders_page(display_name: &str, orders: &[Order]) -> Response {
    let mut body = format!(
        "<p>Signed in as <strong>{}</strong>.</p>\n<h2>Your orders</h2>\n",
        escape(display_name)
    );
    if orders.is_empty() {
        body.push_str("<p>No orders yet.</p>\n");
    } else {
        body.push_str("<ul>\n");
        for order in orders {
            body.push_str(&format!(
                "<li>#{} {} &times; {}</li>\n",
                order.id,
                order.quantity,
                escape(&order.item)
            ));
        }
        body.push_str("</ul>\n");
    }
    body.push_str(LOGOUT_FORM);
    page(StatusCode::OK, &body)
}

/// The home page of a visitor.
pub fn signed_out_page() -> Response {
    page(
        StatusCode::OK,
        "<p>You are not signed in.</p>\n<p><a href=\"/login\">Sign in</a></p>",
    )
}

/// A `303 See Other` to `to`, not cached.
pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Why a page could not be shown; the page says little, the log says more (never a
/// token: the errors here carry none).
#[derive(Debug)]
pub enum AppError {
    /// The callback does not belong to a login this browser started.
    Login(&'static str),
    /// The user (or the server) refused: the `error` of the authorization response.
    Denied(String),
    /// The authorization server failed or answered something unusable.
    Provider(String),
    /// The orders API failed.
    Api(String),
    /// The API refused the token for this operation (403).
    Forbidden,
    /// The tokens no longer work and cannot be refreshed, or the session timed out:
    /// sign in again.
    SessionEnded,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::Login(why) => page(
                StatusCode::BAD_REQUEST,
                &format!(
                    "<p>Sign-in failed: {}.</p>\n<p><a href=\"/login\">Try again</a></p>",
                    escape(why)
                ),
            ),
            Self::Denied(error) => page(
                StatusCode::FORBIDDEN,
                &format!(
                    "<p>Sign-in was not completed ({}).</p>\n<p><a href=\"/\">Home</a></p>",
                    escape(&error)
                ),
            ),
            Self::Provider(detail) => {
                eprintln!("web_app: authorization server: {detail}");
                page(
                    StatusCode::BAD_GATEWAY,
                    "<p>The sign-in service did not answer as expected.</p>",
                )
            }
            Self::Api(detail) => {
                eprintln!("web_app: orders API: {detail}");
                page(
                    StatusCode::BAD_GATEWAY,
                    "<p>The orders service did not answer as expected.</p>",
                )
            }
            Self::Forbidden => page(StatusCode::FORBIDDEN, "<p>You may not see the orders.</p>"),
            Self::SessionEnded => page(
                StatusCode::OK,
                "<p>Your session has ended.</p>\n<p><a href=\"/login\">Sign in again</a></p>",
            ),
        }
    }
}

/// A minimal HTML page; `body` is already escaped.
fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Orders</title></head>\n<body>\n<h1>Orders</h1>\n{body}\n</body>\n</html>\n"
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    // Why: the callback URL carries the code; no page leaks its URL to another site.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Escapes text for HTML content and attribute values, with the named references
/// `&lt;`, `&gt;`, `&amp;`, `&quot;` (askama's escaper writes `&#60;` and friends).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const LOGOUT_FORM: &str =
    "<form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>\n";
