//! The `[[clients]]` tables: clients registered by configuration, validated at load
//! (RFC 7591 §2 metadata names) and upserted at start-up.

use super::file::FileClient;
use portcullis_core::client::{Client, ClientProfile, ClientRegistration, RecordSource};
use std::collections::BTreeSet;

/// Validates each `[[clients]]` table into a [`Client`] (timestamps are set when it is
/// stored); an entry without `profile` gets `default_profile` (`[authorization]`).
///
/// # Errors
/// The first client that is invalid or whose `client_id` appears twice, named.
pub(super) fn resolve_clients(
    file: Vec<FileClient>,
    default_profile: ClientProfile,
) -> Result<Vec<Client>, String> {
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
            jwks: c.jwks,
            jwks_uri: c.jwks_uri,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            scopes: c.scopes,
            default_scopes: c.default_scopes,
            audiences: c.audiences,
            skip_consent: c.skip_consent,
            introspection_audiences: c.introspection_audiences,
            allowed_origins: c.allowed_origins,
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            claims: c.claims,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            profile: Some(
                c.profile
                    .unwrap_or_else(|| default_profile.as_str().to_owned()),
            ),
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
        let dup = "[[clients]]\nclient_id=\"a\"\nredirect_uris=[\"https://a/cb\"]\nscopes=[\"openid\"]\n[[clients]]\nclient_id=\"a\"\nredirect_uris=[\"https://a/cb\"]";
        assert!(
            resolve(dup, &[])
                .unwrap_err()
                .message
                .contains("appears twice")
        );
    }

    #[test]
    fn rejects_bad_allowed_origins_naming_the_client_and_the_fix() {
        let cases = [
            (
                "https://app.example.com/",
                "ends with a slash; an origin has no path: write `https://app.example.com`",
            ),
            (
                "https://app.example.com/spa",
                "has a path, query or fragment",
            ),
            ("https://*.example.com", "wildcards are not supported"),
            ("null", "`null`, the origin of sandboxed and file: pages"),
            (
                "https://APP.example.com:443",
                "browsers send it as `https://app.example.com`",
            ),
        ];
        for (origin, message) in cases {
            let text = format!(
                "[[clients]]\nclient_id = \"spa\"\nredirect_uris = [\"https://app.example.com/cb\"]\nscopes = [\"openid\"]\nallowed_origins = [\"{origin}\"]"
            );
            let e = resolve(&text, &[]).unwrap_err();
            let named = format!("[[clients]]: client `spa`: `allowed_origins` has `{origin}`");
            assert!(e.message.contains(&named), "{e}");
            assert!(e.message.contains(message), "{origin}: {e}");
        }
    }

    #[test]
    fn allowed_origins_are_read_and_default_to_empty() {
        let text = "[[clients]]\nclient_id = \"spa\"\nredirect_uris = [\"https://app.example.com/cb\"]\nscopes = [\"openid\"]\nallowed_origins = [\"https://other.example.com\", \"http://localhost:5173\"]\n[[clients]]\nclient_id = \"plain\"\nredirect_uris = [\"https://plain.example.com/cb\"]\nscopes = [\"openid\"]";
        let config = resolve(text, &[]).unwrap();
        let spa = config
            .clients
            .iter()
            .find(|c| c.client_id == "spa")
            .unwrap();
        assert_eq!(
            spa.allowed_origins,
            ["https://other.example.com", "http://localhost:5173"]
        );
        let plain = config
            .clients
            .iter()
            .find(|c| c.client_id == "plain")
            .unwrap();
        assert!(plain.allowed_origins.is_empty());
        assert_eq!(plain.web_origins(), ["https://plain.example.com"]);
    }

    #[test]
    fn rejects_private_key_material_in_jwks_naming_the_client() {
        let text = "[[clients]]\nclient_id = \"svc\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\ngrant_types = [\"client_credentials\"]\naudiences = [\"https://api.example.com\"]\njwks = { keys = [ { kty = \"EC\", crv = \"P-256\", x = \"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\", y = \"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\", d = \"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\" } ] }";
        let e = resolve(text, &[]).unwrap_err();
        assert!(
            e.message
                .contains("client `svc`: `jwks` key 0: has the private key member `d`"),
            "{e}"
        );
        let public = text.replace(", d = \"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"", "");
        let config = resolve(&public, &[]).unwrap();
        assert_eq!(config.clients[0].jwks.as_ref().unwrap().keys().len(), 1);
    }

    #[test]
    fn rejects_a_private_key_jwt_client_without_jwks() {
        let text = "[[clients]]\nclient_id = \"svc\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\ngrant_types = [\"client_credentials\"]\naudiences = [\"https://api.example.com\"]";
        let e = resolve(text, &[]).unwrap_err();
        assert!(
            e.message.contains("client `svc`: `jwks` is required"),
            "{e}"
        );
    }

    /// Issue 16 item 6: a pattern was stored as a literal redirect URI.
    #[test]
    fn rejects_a_wildcard_redirect_uri_naming_the_rule() {
        let text = "[[clients]]\nclient_id = \"web\"\nredirect_uris = [\"https://*.example.com/cb\"]\nscopes = [\"openid\"]";
        let e = resolve(text, &[]).unwrap_err();
        assert!(
            e.message.contains(
                "client `web`: `redirect_uris` has `https://*.example.com/cb`, which has a `*`"
            ),
            "{e}"
        );
        assert!(e.message.contains("wildcards are not supported"), "{e}");
    }

    /// Issue 16 item 6: a user-grant client without scopes could never get a code.
    #[test]
    fn rejects_a_user_grant_client_without_scopes_naming_the_rule() {
        let text =
            "[[clients]]\nclient_id = \"web\"\nredirect_uris = [\"https://app.example.com/cb\"]";
        let e = resolve(text, &[]).unwrap_err();
        assert!(
            e.message
                .contains("client `web`: `scopes` is empty, but every authorization_code"),
            "{e}"
        );
    }

    /// Issue 16 item 6: `openid` on a client credentials client could never be granted.
    #[test]
    fn rejects_openid_on_a_client_credentials_client_naming_the_rule() {
        let text = "[[clients]]\nclient_id = \"svc\"\nclient_secret = \"svc-secret-0123456789abcdefghijklmnop\"\ngrant_types = [\"client_credentials\"]\naudiences = [\"https://api.example.com\"]\nscopes = [\"read\", \"openid\"]";
        let e = resolve(text, &[]).unwrap_err();
        assert!(
            e.message
                .contains("client `svc`: `scopes` has `openid`, a user scope"),
            "{e}"
        );
    }
}
