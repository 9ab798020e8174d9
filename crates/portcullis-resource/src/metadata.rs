//! RFC 9728 OAuth 2.0 Protected Resource Metadata: the document that tells a
//! client which authorization server issues tokens for this resource.

use axum::Router;
use axum::routing::get;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde::Serialize;
use url::Url;

/// RFC 9728 §3: where the metadata document of a resource without a path is served.
pub const PROTECTED_RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// RFC 9728 §2 protected-resource metadata, served by [`router`](Self::router) at
/// `GET /.well-known/oauth-protected-resource` (RFC 9728 §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    /// RFC 9728 §2 `resource`: this resource's identifier (an https URL; the
    /// audience its tokens name, RFC 8707).
    pub resource: String,
    /// RFC 9728 §2 `authorization_servers`: issuers whose tokens it accepts.
    pub authorization_servers: Vec<String>,
    /// RFC 9728 §2 `scopes_supported` (left out when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// RFC 9728 §2 `bearer_methods_supported`: `["header"]` (RFC 6750 §2.1), the
    /// only method [`RequireAccessToken`](crate::RequireAccessToken) reads.
    pub bearer_methods_supported: Vec<String>,
    /// RFC 9728 §2 `dpop_signing_alg_values_supported`: the proof algorithms the
    /// layer accepts with the `DPoP` scheme (RFC 9449), in
    /// [`DPOP_SIGNING_ALG_VALUES_SUPPORTED`](crate::dpop::DPOP_SIGNING_ALG_VALUES_SUPPORTED)
    /// order.
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 9728 §2 `resource_name`: a human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource` protected by tokens of `issuer`, bearer tokens in
    /// the header only, and DPoP-bound tokens with the algorithms the layer accepts.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: vec![issuer.into()],
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            dpop_signing_alg_values_supported: crate::dpop::DPOP_ALGS
                .split(' ')
                .map(str::to_owned)
                .collect(),
            resource_name: None,
        }
    }

    /// Sets `scopes_supported`.
    #[must_use]
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `resource_name`.
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// RFC 9728 §3.1: the path of the metadata document: the well-known prefix,
    /// then the resource identifier's path (if any, without a trailing `/`).
    /// `https://api.example` → `/.well-known/oauth-protected-resource`;
    /// `https://api.example/v1` → `/.well-known/oauth-protected-resource/v1`.
    pub fn well_known_path(&self) -> String {
        let path = Url::parse(&self.resource)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{PROTECTED_RESOURCE_METADATA_PATH}{path}")
    }

    /// RFC 9728 §3.1: the absolute URL of the metadata document (for
    /// [`RequireAccessToken::resource_metadata`](crate::RequireAccessToken::resource_metadata));
    /// `None` if `resource` is not an absolute URL.
    pub fn metadata_url(&self) -> Option<String> {
        let mut url = Url::parse(&self.resource).ok()?;
        if url.cannot_be_a_base() {
            return None;
        }
        let path = self.well_known_path();
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        Some(url.into())
    }

    /// A router serving the document as JSON at [`well_known_path`](Self::well_known_path)
    /// (RFC 9728 §3.2), to merge into the application's router (outside any
    /// [`RequireAccessToken`](crate::RequireAccessToken) layer: the document is
    /// public).
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        let path = self.well_known_path();
        // Serializing these plain strings cannot fail; `{}` would be a visible bug.
        let body = bytes_of(&self);
        Router::new().route(
            &path,
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [
                            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                            (CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
                        ],
                        body,
                    )
                }
            }),
        )
    }
}

fn bytes_of(metadata: &ProtectedResourceMetadata) -> axum::body::Bytes {
    axum::body::Bytes::from(serde_json::to_vec(metadata).unwrap_or_else(|_| b"{}".to_vec()))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn well_known_path_follows_rfc9728() {
        let m = ProtectedResourceMetadata::new("https://api.example", "https://as.example");
        assert_eq!(m.well_known_path(), PROTECTED_RESOURCE_METADATA_PATH);
        assert_eq!(
            m.metadata_url().unwrap(),
            "https://api.example/.well-known/oauth-protected-resource"
        );
        let m = ProtectedResourceMetadata::new("https://api.example/v1/", "https://as.example");
        assert_eq!(
            m.well_known_path(),
            "/.well-known/oauth-protected-resource/v1"
        );
        assert_eq!(
            m.metadata_url().unwrap(),
            "https://api.example/.well-known/oauth-protected-resource/v1"
        );
    }

    #[test]
    fn serializes_the_rfc9728_members() {
        let m = ProtectedResourceMetadata::new("https://api.example", "https://as.example")
            .scopes_supported(["notes:read"])
            .resource_name("Notes");
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({
                "resource": "https://api.example",
                "authorization_servers": ["https://as.example"],
                "scopes_supported": ["notes:read"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Notes",
            })
        );
    }
}
