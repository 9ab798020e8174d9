//! RFC 8628 §3.1–3.2 device authorization endpoint, the application step: the per-address
//! budget ([`crate::app::throttle::DeviceAuthorizationThrottle`]), core's
//! [`device_authorization_request`], and the audit of its outcome. The wire answer is the
//! HTTP layer's.

use crate::app::audit;
use crate::app::state::AppState;
use portcullis_core::device::authorization::{
    DeviceAuthorizationError, device_authorization_request,
};
use portcullis_core::store::StoreError;
use portcullis_proto::device::{DeviceAuthorizationRequest, DeviceAuthorizationResponse};
use std::net::IpAddr;
use std::time::Duration;

/// Why a device authorization request got no device code.
#[derive(Debug, thiserror::Error)]
pub enum DeviceAuthorizationFailure {
    /// `ip` has used its budget: retry after this long (at least a second). Checked
    /// before the client is even looked up (each request stores a row and a live user
    /// code, and anyone holding a public device client's id can make them).
    #[error("throttled")]
    Throttled(Duration),
    /// The budget could not be checked (the request was not counted).
    #[error("storage failed: {0}")]
    Store(StoreError),
    /// The request carried two or more `Authorization` headers (checked after the
    /// limit, as the one request of this address it is).
    #[error("several Authorization headers")]
    SeveralAuthorizationHeaders,
    /// Core refused the request, or failed on the server side.
    #[error(transparent)]
    Refused(DeviceAuthorizationError),
}

/// A request carried `Authorization` more than once: ambiguous credentials (RFC 6749
/// §2.3: one client authentication method per request), answered `invalid_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeveralAuthorizationHeaders;

/// Handles one device authorization request from `ip`: `authorization` is the single
/// `Authorization` header value, if any (or several headers, refused after the
/// per-address limit); `origin` the `Origin` header, if any; `request_id` goes to the
/// audit log.
///
/// # Errors
/// A [`DeviceAuthorizationFailure`], already audited (server-side failures are not: the
/// HTTP layer logs them as faults).
pub async fn device_authorization(
    state: &AppState,
    request_id: &str,
    ip: IpAddr,
    authorization: Result<Option<&str>, SeveralAuthorizationHeaders>,
    origin: Option<&str>,
    request: DeviceAuthorizationRequest,
) -> Result<DeviceAuthorizationResponse, DeviceAuthorizationFailure> {
    let store = state.store().as_ref();
    let now = state.clock().now();
    if let Err(wait) = state
        .device_authorization_throttle()
        .check(store, ip, now)
        .await
        .map_err(DeviceAuthorizationFailure::Store)?
    {
        let client_id = request.client_id.as_deref();
        audit::device_authorization_refused(request_id, client_id, "invalid_request", "throttled");
        return Err(DeviceAuthorizationFailure::Throttled(wait));
    }
    let authorization =
        authorization.map_err(|_| DeviceAuthorizationFailure::SeveralAuthorizationHeaders)?;
    let endpoint = state.device_authorization_endpoint();
    let result = device_authorization_request(endpoint, authorization, origin, request, now).await;
    audit::device_authorization_outcome(request_id, &result);
    result
        .map(|issued| issued.response(&state.config().issuer))
        .map_err(DeviceAuthorizationFailure::Refused)
}
