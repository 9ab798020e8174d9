//! Client metadata as the config file and `portcullis client create` give it
//! (`ClientRegistration::validate`: `client_id`, redirect URIs, scopes, audiences,
//! allowed origins, RFC 6749 §3.1.2, RFC 8252 §7, RFC 8707 §2), then the
//! redirect-URI matching of an authorization request against the accepted client.
//!
//! Input: `\0`-separated fields: client_id, redirect URIs (`\n`-separated), scopes,
//! audiences, allowed origins, the requested redirect URI; flags in the first byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client::redirect_uri::match_redirect_uri;
use portcullis_core::client::{ClientRegistration, RecordSource, check_resource_uri};
use secrecy::SecretString;

fn lines(field: &str) -> Vec<String> {
    field
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut fields = text.split('\0');
    let mut next = || fields.next().unwrap_or("");
    let client_id = next().to_owned();
    let redirect_uris = lines(next());
    let scopes = lines(next());
    let audiences = lines(next());
    let allowed_origins = lines(next());
    let requested = next();
    for audience in &audiences {
        let _ = check_resource_uri(audience);
    }
    let grant_types = match flags % 4 {
        0 => None,
        1 => Some(vec![
            "authorization_code".to_owned(),
            "refresh_token".to_owned(),
        ]),
        2 => Some(vec!["client_credentials".to_owned()]),
        _ => Some(vec![
            "urn:ietf:params:oauth:grant-type:device_code".to_owned(),
        ]),
    };
    let registration = ClientRegistration {
        client_id,
        client_secret: (flags & 4 != 0)
            .then(|| SecretString::from("0123456789abcdef0123456789abcdef")),
        grant_types,
        redirect_uris,
        scopes,
        audiences,
        allowed_origins,
        ..Default::default()
    };
    let Ok(client) = registration.validate(RecordSource::Config, 0) else {
        return;
    };
    let requested = (flags & 8 == 0).then_some(requested);
    if let Ok((uri, sent)) = match_redirect_uri(&client, requested) {
        assert_eq!(sent, requested.is_some());
        let registered = client.redirect_uris.iter().any(|r| *r == uri);
        let loopback = uri.starts_with("http://127.0.0.1") || uri.starts_with("http://[::1]");
        assert!(
            registered || (client.is_public() && loopback),
            "matched {uri:?}"
        );
    }
});
