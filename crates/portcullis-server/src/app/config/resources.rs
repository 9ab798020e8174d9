//! The `[[resources]]` tables: the resource registry (RFC 8707 §2 resource
//! indicators, their scopes and default scopes), validated at load and upserted at
//! start-up like `[[clients]]` (config as code: a resource removed from the file is
//! removed from the database).

use portcullis_core::client::RecordSource;
use portcullis_core::resource::{Resource, ResourceRegistration};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// `[[resources]]`: one protected resource.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileResource {
    /// Required: an absolute URI without a fragment (RFC 8707 §2), e.g.
    /// `https://mcp.example.com/mcp`; the `aud` of its tokens.
    pub identifier: String,
    /// Display name; default: the identifier.
    pub name: Option<String>,
    /// The scopes it defines (RFC 6749 §3.3 scope-tokens; not OpenID Connect scopes).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Granted to a request for it that has no `scope`; a subset of `scopes`; default
    /// none.
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Whether self-registered clients (Client ID Metadata Documents, dynamic
    /// registration) may request it; default false.
    #[serde(default)]
    pub dynamic_clients: bool,
    /// Text shown on the consent page for each scope; keys are listed `scopes`.
    #[serde(default)]
    pub scope_descriptions: BTreeMap<String, String>,
}

/// Validates each `[[resources]]` table into a [`Resource`] (timestamps are set when
/// it is stored).
///
/// # Errors
/// The first resource that is invalid or whose `identifier` appears twice, named with
/// its key (`[[resources]]: resource `…`: `default_scopes` has …`).
pub(super) fn resolve_resources(file: Vec<FileResource>) -> Result<Vec<Resource>, String> {
    let mut seen = BTreeSet::new();
    let mut resources = Vec::with_capacity(file.len());
    for r in file {
        if !seen.insert(r.identifier.clone()) {
            return Err(format!(
                "[[resources]]: identifier `{}` appears twice",
                r.identifier
            ));
        }
        let registration = ResourceRegistration {
            identifier: r.identifier,
            name: r.name,
            scopes: r.scopes,
            default_scopes: r.default_scopes,
            dynamic_clients: r.dynamic_clients,
            scope_descriptions: r.scope_descriptions,
        };
        let resource = registration
            .validate(RecordSource::Config, 0)
            .map_err(|e| format!("[[resources]]: {e}"))?;
        resources.push(resource);
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use crate::app::config::tests::resolve;

    const EXAMPLE: &str = r#"
[[resources]]
identifier = "https://mcp.example.com/mcp"
name = "Example MCP server"
scopes = ["tools:read", "tools:call"]
default_scopes = ["tools:read"]
dynamic_clients = true
[resources.scope_descriptions]
"tools:read" = "See the list of tools"
"#;

    #[test]
    fn reads_the_documented_example() {
        let config = resolve(EXAMPLE, &[]).unwrap();
        let [mcp] = config.resources.as_slice() else {
            panic!("one resource expected")
        };
        assert_eq!(mcp.identifier, "https://mcp.example.com/mcp");
        assert_eq!(mcp.default_scopes, ["tools:read"]);
        assert!(mcp.dynamic_clients);
        assert_eq!(
            mcp.scope_descriptions["tools:read"],
            "See the list of tools"
        );
    }

    #[test]
    fn dynamic_clients_defaults_to_false() {
        let config = resolve(
            "[[resources]]\nidentifier = \"https://api.example.com\"\nscopes = [\"read\"]",
            &[],
        )
        .unwrap();
        assert!(!config.resources[0].dynamic_clients);
    }

    #[test]
    fn rejects_errors_naming_the_resource_and_the_key() {
        let cases = [
            (
                EXAMPLE.replace("https://mcp.example.com/mcp", "mcp"),
                "[[resources]]: resource `mcp`: `identifier` has `mcp`, which is not an absolute URI",
            ),
            (
                EXAMPLE.replace(
                    "https://mcp.example.com/mcp",
                    "https://mcp.example.com/mcp#f",
                ),
                "`identifier` has `https://mcp.example.com/mcp#f`, which has a fragment",
            ),
            (
                EXAMPLE.replace(
                    "default_scopes = [\"tools:read\"]",
                    "default_scopes = [\"tools:write\"]",
                ),
                "`default_scopes` has `tools:write`, which is not in `scopes`",
            ),
            (
                EXAMPLE.replace("\"tools:read\" = ", "\"tools:write\" = "),
                "`scope_descriptions` describes `tools:write`, which is not in `scopes`",
            ),
            (
                EXAMPLE.replace("\"tools:call\"]", "\"tools call\"]"),
                "`scopes` has `tools call`, which is not a scope-token",
            ),
            (
                format!("{EXAMPLE}\n[[resources]]\nidentifier = \"https://mcp.example.com/mcp\""),
                "[[resources]]: identifier `https://mcp.example.com/mcp` appears twice",
            ),
        ];
        for (text, message) in cases {
            let e = resolve(&text, &[]).unwrap_err();
            assert!(e.message.contains(message), "{message}: {e}");
            assert_eq!(e.origin, "/etc/portcullis.toml");
        }
    }

    #[test]
    fn rejects_unknown_keys() {
        let e = resolve(&EXAMPLE.replace("dynamic_clients", "dynamic"), &[]).unwrap_err();
        assert!(e.message.contains("unknown field `dynamic`"), "{e}");
    }

    #[test]
    fn rejects_client_default_scopes_outside_its_scopes() {
        let text = "[[clients]]\nclient_id = \"app\"\nredirect_uris = [\"https://app.example.com/cb\"]\nscopes = [\"openid\"]\ndefault_scopes = [\"profile\"]";
        let e = resolve(text, &[]).unwrap_err();
        assert!(
            e.message
                .contains("client `app`: `default_scopes` has `profile`, which is not in `scopes`"),
            "{e}"
        );
    }
}
