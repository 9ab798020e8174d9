//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-01)
//! as the server reads them: `metadata_document_url` (§3: which `client_id`s are
//! document URLs, and their canonical form), then `client_from_metadata_document` (§4:
//! the fetched JSON body turned into a client under the self-registered limits).
//!
//! Input: a `client_id` `\0` a document body. The body is checked against the input's
//! URL when that is a valid document URL, else against a fixed one. An accepted client
//! is asserted to carry the URL as its `client_id`, to be public, and to hold only
//! scopes and audiences within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client::metadata_document::{
    SelfRegisteredLimits, client_from_metadata_document, metadata_document_url,
};
use portcullis_fuzz::split_nul;
use std::sync::OnceLock;
use url::Url;

const NOW: i64 = 1_800_000_000;

fn limits() -> &'static SelfRegisteredLimits {
    static LIMITS: OnceLock<SelfRegisteredLimits> = OnceLock::new();
    LIMITS.get_or_init(|| SelfRegisteredLimits {
        scopes: ["openid", "profile", "offline_access", "tools:read"]
            .map(str::to_owned)
            .to_vec(),
        audiences: vec!["https://mcp.example/mcp".into()],
    })
}

fn fixed_url() -> &'static Url {
    static URL: OnceLock<Url> = OnceLock::new();
    URL.get_or_init(|| {
        Url::parse("https://agent.example/client.json")
            .unwrap_or_else(|e| panic!("the fixed document URL: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let (client_id, body) = split_nul(data);
    let parsed = std::str::from_utf8(client_id)
        .ok()
        .and_then(metadata_document_url);
    let url = match &parsed {
        Some(Ok(url)) => {
            // §3: only a canonical https URL with a path is a document URL.
            assert_eq!(url.scheme(), "https");
            assert_ne!(url.path(), "/");
            url
        }
        _ => fixed_url(),
    };
    if let Ok(client) = client_from_metadata_document(url, body, limits(), NOW) {
        assert_eq!(client.client_id, url.as_str());
        assert!(client.is_public(), "a document client holds no secret");
        let limits = limits();
        assert!(client.scopes.iter().all(|s| limits.scopes.contains(s)));
        assert!(
            client
                .audiences
                .iter()
                .all(|a| limits.audiences.contains(a))
        );
    }
});
