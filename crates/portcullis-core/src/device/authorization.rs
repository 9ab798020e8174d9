//! RFC 8628 §3.1–3.2: the device authorization endpoint.
