//! Our extractors own their rejections (CONVENTIONS §7).

mod authorization;
mod client_ip;
mod oauth_form;
mod origin;
mod page_form;
mod pending_request;
mod request_id;

pub use authorization::{AccessToken, ClientAuthorization, DpopHeader, RegistrationBearer};
pub use client_ip::{ClientIp, PeerIp, client_address};
pub use oauth_form::{MAX_BODY_BYTES, OAuthForm, OAuthParams, is_form_urlencoded, parse};
pub use origin::RequestOrigin;
pub use page_form::PageForm;
pub use pending_request::PendingRequest;
pub use request_id::{REQUEST_ID_HEADER, RequestId, request_id_header};
