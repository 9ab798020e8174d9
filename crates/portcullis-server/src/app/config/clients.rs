//! The `[[clients]]` tables: clients registered by configuration, validated at load
//! (RFC 7591 §2 metadata names) and upserted at start-up.

use super::file::FileClient;
use portcullis_core::client::{Client, ClientRegistration, RecordSource};
use std::collections::BTreeSet;

/// Validates each `[[clients]]` table into a [`Client`] (timestamps are set when it is
/// stored).
///
/// # Errors
/// The first client that is invalid or whose `client_id` appears twice, named.
pub(super) fn resolve_clients(file: Vec<FileClient>) -> Result<Vec<Client>, String> {
    let mut seen = BTreeSet::new();
    let mut clients = Vec::with_capacity(file.len());
    for c in file {
        if !seen.insert(c.client_id.clone()) {
            return Err(format!(
                "[[clients]]: client_id `{}` appears twice",
                c.client_id
            ));
        }
        let registration = ClientRegistration {
            client_id: c.client_id,
            client_name: c.client_name,
            client_secret: c.client_secret,
            secret_digest: None,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            scopes: c.scopes,
            audiences: c.audiences,
            skip_consent: c.skip_consent,
            introspection_audiences: c.introspection_audiences,
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            claims: c.claims,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
        };
        let client = registration
            .validate(RecordSource::Config, 0)
            .map_err(|e| format!("[[clients]]: {e}"))?;
        clients.push(client);
    }
    Ok(clients)
}

#[cfg(test)]
mod tests {
    use crate::app::config::tests::{FULL, resolve};

    #[test]
    fn rejects_a_short_client_secret_naming_the_client() {
        let e = resolve("[[clients]]\nclient_id = \"svc\"\nclient_secret = \"tooshort\"\ngrant_types=[\"client_credentials\"]\naudiences=[\"https://a\"]", &[]).unwrap_err();
        assert!(
            e.message
                .contains("client `svc`: `client_secret` is 8 characters"),
            "{e}"
        );
    }

    #[test]
    fn rejects_registered_claim_names() {
        let text = FULL.replace(
            "claims = { tenant_id = \"abc-tenant\" }\n\n[[users]]",
            "claims = { sub = \"x\" }\n\n[[users]]",
        );
        let e = resolve(&text, &[]).unwrap_err();
        assert!(e.message.contains("`claims` sets `sub`"), "{e}");
    }

    #[test]
    fn rejects_a_client_id_that_appears_twice() {
        let dup = "[[clients]]\nclient_id=\"a\"\nredirect_uris=[\"https://a/cb\"]\n[[clients]]\nclient_id=\"a\"\nredirect_uris=[\"https://a/cb\"]";
        assert!(
            resolve(dup, &[])
                .unwrap_err()
                .message
                .contains("appears twice")
        );
    }
}
