//! Our extractors own their rejections (CONVENTIONS §7).

mod oauth_form;
mod request_id;

pub use oauth_form::{OAuthForm, OAuthParams};
pub use request_id::{RequestId, request_id_header};
