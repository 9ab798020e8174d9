//! The consent page (OIDC Core §3.1.2.4): the client, each scope in plain words (a
//! registered resource's own `scope_descriptions` first), the resources it is for, and
//! for a device authorization the user code to compare (RFC 8628 §5.4).

use crate::app::consent::ConsentPrompt;
use crate::app::state::AppState;
use crate::http::pages::{Chrome, render_page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_proto::routes;

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
    /// The client's display name (askama escapes it: text only).
    pub client_name: String,
    /// A metadata document client's host, shown prominently and labelled unverified.
    pub unverified_host: Option<String>,
    /// The client registered itself (RFC 7591) rather than by a metadata document.
    pub registered_itself: bool,
    /// Who is signed in.
    pub username: String,
    /// The scopes to approve now.
    pub scopes: Vec<ScopeView>,
    /// The registered resources (display names) the access is for; may be empty.
    pub resources: Vec<String>,
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

/// The consent form for `prompt`.
pub fn consent_page(state: &AppState, prompt: ConsentPrompt) -> Response {
    let view = ConsentView {
        chrome: Chrome::new(&state.config().branding),
        action: routes::CONSENT,
        client_name: prompt.client_name,
        unverified_host: prompt.unverified_host,
        registered_itself: prompt.registered_itself,
        username: prompt.username,
        scopes: prompt
            .scopes
            .into_iter()
            .map(|name| ScopeView {
                // The resource's own words first (its `scope_descriptions`).
                description: prompt
                    .scope_descriptions
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| describe_scope(&name)),
                name,
            })
            .collect(),
        resources: prompt.resources,
        already_approved: prompt.already_approved,
        request: prompt.request,
        csrf_token: prompt.csrf_token,
        user_code: prompt.user_code,
    };
    let form_target = prompt.form_target.as_deref();
    render_page(state, StatusCode::OK, &view, form_target)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_described_in_plain_words() {
        assert_eq!(describe_scope("email"), "See your e-mail address");
        assert_eq!(describe_scope("read:orders"), "Read your orders");
        assert_eq!(describe_scope("admin"), "Use the permission “admin”");
    }
}
