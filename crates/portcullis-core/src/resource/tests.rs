//! Tests of the registry's validation and scope rules.

use super::*;
use crate::client::ClientRegistration;

fn mcp() -> ResourceRegistration {
    ResourceRegistration {
        identifier: "https://mcp.example.com/mcp".into(),
        name: Some("Example MCP server".into()),
        scopes: vec!["tools:read".into(), "tools:call".into()],
        default_scopes: vec!["tools:read".into()],
        dynamic_clients: true,
        scope_descriptions: [("tools:read".to_owned(), "See the list of tools".to_owned())].into(),
    }
}

fn field(r: ResourceRegistration) -> &'static str {
    r.validate(RecordSource::Config, 0).unwrap_err().field
}

#[test]
fn accepts_the_issue_example() {
    let r = mcp().validate(RecordSource::Config, 7).unwrap();
    assert_eq!(r.default_scopes, ["tools:read"]);
    assert_eq!(r.created_at, 7);
}

#[test]
fn rejects_an_identifier_that_is_relative_or_has_a_fragment() {
    for bad in ["mcp", "/mcp", "https://mcp.example.com/mcp#x"] {
        let mut r = mcp();
        r.identifier = bad.into();
        assert_eq!(field(r), "identifier", "{bad}");
    }
}

#[test]
fn rejects_malformed_and_user_scopes() {
    for bad in ["a b", "", "openid", "offline_access"] {
        let mut r = mcp();
        r.scopes.push(bad.into());
        assert_eq!(field(r), "scopes", "{bad}");
    }
}

#[test]
fn rejects_default_scopes_outside_scopes_naming_the_key() {
    let mut r = mcp();
    r.default_scopes = vec!["tools:write".into()];
    let e = r.validate(RecordSource::Config, 0).unwrap_err();
    assert_eq!(e.field, "default_scopes");
    assert!(
        e.to_string().starts_with(
            "resource `https://mcp.example.com/mcp`: `default_scopes` has `tools:write`"
        ),
        "{e}"
    );
}

#[test]
fn rejects_descriptions_of_unlisted_scopes() {
    let mut r = mcp();
    r.scope_descriptions
        .insert("tools:write".into(), "Write".into());
    assert_eq!(field(r), "scope_descriptions");
}

fn stored(identifier: &str, scopes: &[&str], defaults: &[&str], open: bool) -> Resource {
    ResourceRegistration {
        identifier: identifier.into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        default_scopes: defaults.iter().map(|s| (*s).to_owned()).collect(),
        dynamic_clients: open,
        ..Default::default()
    }
    .validate(RecordSource::Config, 0)
    .unwrap()
}

#[test]
fn self_registered_clients_get_only_open_resources_and_their_scopes() {
    let registry = [
        stored("https://a.example", &["a:read", "shared"], &[], true),
        stored("https://closed.example", &["secret"], &[], false),
        stored("https://b.example", &["shared", "b:write"], &[], true),
    ];
    let limits = self_registered_client_limits(&registry, false);
    assert_eq!(limits.resources, ["https://a.example", "https://b.example"]);
    assert_eq!(
        limits.scopes,
        ["a:read", "shared", "b:write", "openid", "profile", "email"]
    );
    let limits = self_registered_client_limits(&[], true);
    assert!(limits.resources.is_empty());
    assert_eq!(
        limits.scopes,
        ["openid", "profile", "email", "offline_access"]
    );
}

fn client(scopes: &[&str], defaults: &[&str]) -> Client {
    ClientRegistration {
        client_id: "app".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        default_scopes: defaults.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
    .validate(RecordSource::Config, 0)
    .unwrap()
}

#[test]
fn defaults_come_from_the_resource_then_the_client() {
    let c = client(&["openid", "a:read", "a:write"], &["openid"]);
    let a = Arc::new(stored(
        "https://a.example",
        &["a:read", "a:write"],
        &["a:read"],
        false,
    ));
    let bare = Arc::new(stored("https://b.example", &["b"], &[], false));
    let on_a = ["https://a.example".to_owned()];
    let on_b = ["https://b.example".to_owned()];
    assert_eq!(
        default_scopes(&c, &on_a, &[Arc::clone(&a)]),
        BTreeSet::from(["a:read".to_owned()])
    );
    assert_eq!(
        default_scopes(&c, &on_b, &[Arc::clone(&bare)]),
        BTreeSet::from(["openid".to_owned()])
    );
    assert_eq!(
        default_scopes(&c, &[], &[]),
        BTreeSet::from(["openid".to_owned()])
    );
    // A resource default the client may not request is not granted.
    let other = client(&["openid"], &[]);
    assert!(default_scopes(&other, &on_a, &[a]).is_empty());
    // A client default the registered resource does not define is not granted either.
    let c = client(&["openid", "a:read"], &["a:read"]);
    assert!(default_scopes(&c, &on_b, &[bare]).is_empty());
}

#[test]
fn registered_resources_carry_only_their_scopes() {
    let a = Arc::new(stored("https://a.example", &["a:read"], &[], false));
    let requested = vec!["https://a.example".to_owned()];
    let ok = BTreeSet::from(["a:read".to_owned(), "openid".to_owned()]);
    assert_eq!(
        scope_outside_resources(&ok, &requested, &[Arc::clone(&a)]),
        None
    );
    let bad = BTreeSet::from(["a:read".to_owned(), "orders".to_owned()]);
    assert_eq!(
        scope_outside_resources(&bad, &requested, &[Arc::clone(&a)]).map(String::as_str),
        Some("orders")
    );
    // An unregistered audience among them: the client's scopes govern.
    let mixed = vec![
        "https://a.example".to_owned(),
        "https://legacy.example".to_owned(),
    ];
    assert_eq!(scope_outside_resources(&bad, &mixed, &[a]), None);
    assert_eq!(scope_outside_resources(&bad, &[], &[]), None);
}

fn registered(source: RecordSource, audiences: &[&str], scopes: &[&str]) -> Client {
    ClientRegistration {
        client_id: "agent".into(),
        redirect_uris: vec!["https://agent.example/cb".into()],
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        audiences: audiences.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
    .validate(source, 0)
    .unwrap()
}

#[test]
fn a_closed_or_deleted_resource_narrows_self_registered_clients() {
    let client = registered(
        RecordSource::Dynamic,
        &[
            "https://a.example",
            "https://closed.example",
            "https://gone.example",
        ],
        &["a:read", "secret", "gone:write", "openid", "offline_access"],
    );
    // What the caller found of the client's audiences now: one open, one closed, one
    // deleted (absent).
    let found = [
        stored("https://a.example", &["a:read"], &[], true),
        stored("https://closed.example", &["secret"], &[], false),
    ];
    let narrowed = narrow_self_registered(client, &found);
    assert_eq!(narrowed.audiences, ["https://a.example"]);
    assert_eq!(narrowed.scopes, ["a:read", "openid", "offline_access"]);
}

#[test]
fn narrowing_leaves_operator_registered_clients_alone() {
    let client = registered(
        RecordSource::Admin,
        &["https://closed.example"],
        &["secret"],
    );
    let found = [stored("https://closed.example", &["secret"], &[], false)];
    let narrowed = narrow_self_registered(client.clone(), &found);
    assert_eq!(narrowed, client);
}
