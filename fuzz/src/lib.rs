//! Helpers shared by the fuzz targets in `fuzz_targets/` (see fuzz/README.md).
//!
//! Each target feeds raw bytes to one of Portcullis's parsers of untrusted input,
//! through the same public function the server or `portcullis-resource` calls. A
//! panic, an overflow (debug assertions are on) or an abort is a finding.

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::{Client, ClientRegistration, RecordSource};
use portcullis_core::store::StoreError;
use secrecy::SecretString;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};

/// Runs a future that never waits on I/O (the extractors and validators under test
/// answer at once) on a current-thread runtime made once per thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("a current-thread runtime: {e}"));
    }
    RUNTIME.with(|rt| rt.block_on(future))
}

/// Splits `data` at `\n` into values of the header `name`, one field line each
/// (values that are not valid header bytes are dropped, as hyper would refuse them).
pub fn header_lines(headers: &mut HeaderMap, name: &'static str, data: &[u8]) {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
}

/// Splits `data` at the first `\0`: `(before, after)`; `after` is empty without one.
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (
            data.get(..i).unwrap_or(&[]),
            data.get(i + 1..).unwrap_or(&[]),
        ),
        None => (data, &[]),
    }
}

/// Redirect URIs registered by [`directory`]'s clients.
pub const NATIVE_REDIRECT_URIS: &[&str] = &["http://127.0.0.1/cb", "http://[::1]:8080/cb?x=1"];
/// The confidential web client's redirect URIs.
pub const WEB_REDIRECT_URIS: &[&str] = &["https://app.example/cb", "com.example.app:/cb"];

/// A client directory with a public native client (`native`, loopback redirect URIs),
/// a confidential web client (`web`) and a client-credentials client (`machine`).
pub fn directory() -> &'static Directory {
    static DIRECTORY: OnceLock<Directory> = OnceLock::new();
    DIRECTORY.get_or_init(|| {
        let registration =
            |id: &str, secret: bool, grants: &[&str], uris: &[&str]| ClientRegistration {
                client_id: id.into(),
                client_secret: secret
                    .then(|| SecretString::from("0123456789abcdef0123456789abcdef")),
                grant_types: Some(grants.iter().map(|g| (*g).to_owned()).collect()),
                redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
                scopes: vec!["openid".into(), "profile".into(), "read:orders".into()],
                audiences: vec!["https://api.example".into()],
                ..Default::default()
            };
        let clients = [
            registration(
                "native",
                false,
                &["authorization_code"],
                NATIVE_REDIRECT_URIS,
            ),
            registration("web", true, &["authorization_code"], WEB_REDIRECT_URIS),
            // No user scopes without a user grant (core's registration rules).
            ClientRegistration {
                scopes: vec!["read:orders".into()],
                ..registration("machine", true, &["client_credentials"], &[])
            },
        ];
        Directory(
            clients
                .into_iter()
                .map(|r| {
                    let client = r
                        .validate(RecordSource::Config, 0)
                        .unwrap_or_else(|e| panic!("fixture client: {e}"));
                    (client.client_id.clone(), Arc::new(client))
                })
                .collect(),
        )
    })
}

/// Clients by id (see [`directory`]).
pub struct Directory(pub HashMap<String, Arc<Client>>);

#[async_trait]
impl ClientDirectory for Directory {
    async fn find_client(&self, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        Ok(self.0.get(id).cloned())
    }

    async fn find_resource(
        &self,
        _identifier: &str,
    ) -> Result<Option<Arc<portcullis_core::resource::Resource>>, StoreError> {
        Ok(None)
    }
}
