//! RFC 8628 §3.1–3.2: the device authorization request and response.

use serde::{Deserialize, Serialize};

/// RFC 8628 §3.1 device authorization request, as read from the form body.
///
/// Every member is optional on the wire; empty values have been dropped (RFC 6749
/// §3.1). Client authentication follows RFC 6749 §2.3 as at the token endpoint.
#[derive(Clone, Default, Deserialize)]
pub struct DeviceAuthorizationRequest {
    /// RFC 6749 §2.3.1 `client_id` (body authentication or public client).
    pub client_id: Option<String>,
    /// RFC 6749 §2.3.1 `client_secret` (client_secret_post). Never logged.
    pub client_secret: Option<String>,
    /// RFC 7521 §4.2 `client_assertion_type` (private_key_jwt).
    pub client_assertion_type: Option<String>,
    /// RFC 7521 §4.2 `client_assertion`: a signed JWT (RFC 7523 §2.2). Never logged.
    pub client_assertion: Option<String>,
    /// RFC 8628 §3.1 space-delimited `scope`.
    pub scope: Option<String>,
    /// RFC 8707 §2 `resource`; may repeat.
    #[serde(default)]
    pub resource: Vec<String>,
}

impl DeviceAuthorizationRequest {
    /// Every parameter this type reads; others are ignored (RFC 6749 §3.1).
    pub const PARAMETERS: &'static [&'static str] = &[
        "client_id",
        "client_secret",
        "client_assertion_type",
        "client_assertion",
        "scope",
        "resource",
    ];
    /// Parameters that may appear more than once (RFC 8707 §2).
    pub const MULTI_VALUED: &'static [&'static str] = &["resource"];
}

impl std::fmt::Debug for DeviceAuthorizationRequest {
    /// Redacts `client_secret`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationRequest")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("client_assertion_type", &self.client_assertion_type)
            .field(
                "client_assertion",
                &self.client_assertion.as_ref().map(|_| "[redacted]"),
            )
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .finish()
    }
}

/// RFC 8628 §3.2 device authorization response (JSON, `Cache-Control: no-store`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorizationResponse {
    /// The device verification code the device polls with (256-bit, base64url).
    pub device_code: String,
    /// The code the user types, shown `XXXX-XXXX` (RFC 8628 §6.1).
    pub user_code: String,
    /// Where the user goes to enter the code.
    pub verification_uri: String,
    /// `verification_uri` with the user code in the query (RFC 8628 §3.3.1), for QR codes.
    pub verification_uri_complete: String,
    /// Seconds until `device_code` and `user_code` expire.
    pub expires_in: u64,
    /// Minimum seconds between polls of the token endpoint.
    pub interval: u64,
}

impl std::fmt::Debug for DeviceAuthorizationResponse {
    /// Redacts `device_code`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationResponse")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}
