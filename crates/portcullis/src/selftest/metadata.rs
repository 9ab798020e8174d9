//! Checks of the metadata document (RFC 8414 §2, §3; OpenID Connect Discovery 1.0)
//! and of the key set it points at (RFC 7517).

use super::Target;
use super::probe::{self, is_loopback};
use super::report::{Outcome, Status, clean};
use crate::commands::Failure;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use url::Url;

/// Fetches the metadata: RFC 8414 §3.1's location first, then OpenID Connect
/// Discovery's. Returns the document (if one was found) with the `metadata.fetch`
/// outcome.
///
/// # Errors
/// Exit status 2 when the server does not answer at all.
pub async fn fetch(
    http: &reqwest::Client,
    issuer: &str,
    issuer_url: &Url,
) -> Result<(Option<Map<String, Value>>, Vec<Outcome>), Failure> {
    let mut tried = Vec::new();
    for location in well_known_urls(issuer_url) {
        let answer = probe::get(http, &location).await.map_err(|why| Failure {
            message: format!("{}: {why}", clean(location.as_str())),
            exit_code: 2,
        })?;
        match answer.json_object() {
            Some(document) if answer.status == 200 => {
                let outcome = Outcome::new(
                    "metadata.fetch",
                    "RFC 8414 §3",
                    Status::Pass,
                    &format!("metadata at {location}"),
                );
                return Ok((Some(document), vec![outcome]));
            }
            _ => tried.push(format!("{location}: HTTP {}", answer.status)),
        }
    }
    let outcome = Outcome::new(
        "metadata.fetch",
        "RFC 8414 §3",
        Status::Fail,
        &format!(
            "no metadata document for {issuer} ({}); the other checks need it",
            tried.join("; ")
        ),
    );
    Ok((None, vec![outcome]))
}

/// The checks on the document itself.
pub fn check(target: &Target) -> Vec<Outcome> {
    vec![
        issuer_matches(target),
        https_endpoints(target),
        required_fields(target),
        pkce_s256(target),
        no_implicit(target),
        grant_types(target),
    ]
}

/// RFC 8414 §3.3: `issuer` is identical to the issuer the metadata was fetched for
/// (a mismatch lets one server impersonate another: mix-up, RFC 9700 §4.4).
fn issuer_matches(target: &Target) -> Outcome {
    let (status, reason) = match target.field("issuer") {
        Some(stated) if stated == target.issuer => (Status::Pass, format!("issuer is {stated}")),
        Some(stated) => (
            Status::Fail,
            format!("issuer is `{stated}`, not `{}`", target.issuer),
        ),
        None => (Status::Fail, "no issuer in the metadata".to_owned()),
    };
    Outcome::new("metadata.issuer_matches", "RFC 8414 §3.3", status, &reason)
}

/// OAuth 2.1 §1.5 / RFC 8414 §2: every endpoint (and the issuer) is https; plain http
/// only for a loopback issuer (a development server), which is a warning.
fn https_endpoints(target: &Target) -> Outcome {
    let mut plain = Vec::new();
    let mut loopback_only = true;
    for (name, value) in &target.metadata {
        if name != "issuer" && !name.ends_with("_endpoint") && !name.ends_with("_uri") {
            continue;
        }
        let Some(text) = value.as_str() else { continue };
        match Url::parse(text) {
            Ok(url) if url.scheme() == "https" => {}
            Ok(url) => {
                loopback_only &= url.scheme() == "http" && is_loopback(&url);
                plain.push(name.clone());
            }
            Err(_) => {
                loopback_only = false;
                plain.push(format!("{name} (not a URL)"));
            }
        }
    }
    let (status, reason) = if plain.is_empty() {
        (Status::Pass, "every endpoint is https".to_owned())
    } else if loopback_only && is_loopback(&target.issuer_url) {
        (
            Status::Warn,
            format!(
                "plain http on loopback (development only): {}",
                plain.join(", ")
            ),
        )
    } else {
        (Status::Fail, format!("not https: {}", plain.join(", ")))
    };
    Outcome::new("metadata.https_endpoints", "RFC 8414 §2", status, &reason)
}

/// RFC 8414 §2: `issuer`, `authorization_endpoint`, `token_endpoint`,
/// `response_types_supported` are required here (the selftest checks the code flow);
/// `jwks_uri` is required by OpenID Connect and for signed tokens: a warning.
fn required_fields(target: &Target) -> Outcome {
    let missing: Vec<&str> = [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "response_types_supported",
    ]
    .into_iter()
    .filter(|name| !target.metadata.contains_key(*name))
    .collect();
    let (status, reason) = if !missing.is_empty() {
        (Status::Fail, format!("missing: {}", missing.join(", ")))
    } else if target.field("jwks_uri").is_none() {
        (
            Status::Warn,
            "no jwks_uri: tokens cannot be verified offline".to_owned(),
        )
    } else {
        (Status::Pass, "required fields present".to_owned())
    };
    Outcome::new("metadata.required_fields", "RFC 8414 §2", status, &reason)
}

/// RFC 9700 §2.1.1 / OAuth 2.1 §4.1.1: `code_challenge_methods_supported` lists
/// `S256` and not `plain` (a `plain` challenge is the verifier itself: a stolen
/// authorization request gives the code away).
fn pkce_s256(target: &Target) -> Outcome {
    let methods = target.list("code_challenge_methods_supported");
    let has_s256 = methods.iter().any(|m| m == "S256");
    let has_plain = methods.iter().any(|m| m == "plain");
    let (status, reason) = match (has_s256, has_plain) {
        (true, false) => (Status::Pass, "S256 only".to_owned()),
        (_, true) => (Status::Fail, "plain PKCE is advertised".to_owned()),
        (false, false) => (
            Status::Fail,
            "code_challenge_methods_supported does not list S256".to_owned(),
        ),
    };
    Outcome::new("metadata.pkce_s256", "RFC 9700 §2.1.1", status, &reason)
}

/// OAuth 2.1 §4 / RFC 9700 §2.1.2: no response type returns a token from the
/// authorization endpoint (`token`, `code token`, `id_token token`); `id_token` alone or
/// hybrid `code id_token` is a warning (OpenID Connect allows it, OAuth 2.1 does not).
fn no_implicit(target: &Target) -> Outcome {
    let types = target.list("response_types_supported");
    let with_token: Vec<&String> = types
        .iter()
        .filter(|t| t.split(' ').any(|word| word == "token"))
        .collect();
    let with_id_token: Vec<&String> = types
        .iter()
        .filter(|t| t.split(' ').any(|word| word == "id_token"))
        .collect();
    let (status, reason) = if !with_token.is_empty() {
        (
            Status::Fail,
            format!("implicit response types advertised: {with_token:?}"),
        )
    } else if !with_id_token.is_empty() {
        (
            Status::Warn,
            format!("front-channel id_token response types: {with_id_token:?}"),
        )
    } else {
        (Status::Pass, format!("response types {types:?}"))
    };
    Outcome::new("metadata.no_implicit", "RFC 9700 §2.1.2", status, &reason)
}

/// RFC 9700 §2.4 / OAuth 2.1 §10: `grant_types_supported` has neither `password`
/// (the client sees the user's password) nor `implicit`.
fn grant_types(target: &Target) -> Outcome {
    let grants = target.list("grant_types_supported");
    let banned: Vec<&String> = grants
        .iter()
        .filter(|g| matches!(g.as_str(), "password" | "implicit"))
        .collect();
    let (status, reason) = if !banned.is_empty() {
        (Status::Fail, format!("advertised: {banned:?}"))
    } else if !target.metadata.contains_key("grant_types_supported") {
        (
            Status::Warn,
            "no grant_types_supported (RFC 8414 §2 default: authorization_code, implicit)"
                .to_owned(),
        )
    } else {
        (Status::Pass, format!("grant types {grants:?}"))
    };
    Outcome::new("metadata.grant_types", "RFC 9700 §2.4", status, &reason)
}

/// The JWKS checks (RFC 7517): fetched, public members only, unique `kid`s, and a key
/// for every signing algorithm the metadata advertises.
pub async fn jwks(target: &Target) -> Vec<Outcome> {
    let ids = [
        ("jwks.no_private_members", "RFC 7517 §4"),
        ("jwks.kids_unique", "RFC 7517 §4.5"),
        ("jwks.advertised_algs_have_keys", "RFC 8414 §2"),
    ];
    let skipped = |why: &str| -> Vec<Outcome> {
        ids.iter()
            .map(|(id, section)| Outcome::new(id, section, Status::Skip, why))
            .collect()
    };
    let Some(location) = target.endpoint("jwks_uri") else {
        let mut out = vec![Outcome::new(
            "jwks.fetch",
            "RFC 7517 §5",
            Status::Skip,
            "no jwks_uri in the metadata",
        )];
        out.extend(skipped("no key set"));
        return out;
    };
    let keys = match probe::get(&target.http, &location).await {
        Ok(answer) if answer.status == 200 => answer
            .json_object()
            .and_then(|set| set.get("keys").and_then(Value::as_array).cloned())
            .ok_or_else(|| "not a JWK set (no `keys` array)".to_owned()),
        Ok(answer) => Err(format!("HTTP {}", answer.status)),
        Err(why) => Err(why),
    };
    let keys = match keys {
        Ok(keys) => keys,
        Err(why) => {
            let mut out = vec![Outcome::new(
                "jwks.fetch",
                "RFC 7517 §5",
                Status::Fail,
                &format!("{location}: {why}"),
            )];
            out.extend(skipped("no key set"));
            return out;
        }
    };
    vec![
        Outcome::new(
            "jwks.fetch",
            "RFC 7517 §5",
            Status::Pass,
            &format!("{} key(s) at {location}", keys.len()),
        ),
        no_private_members(&keys),
        kids_unique(&keys),
        advertised_algs_have_keys(target, &keys),
    ]
}

/// RFC 7517 §4 / RFC 7518 §6: a published key holds no private or symmetric member.
fn no_private_members(keys: &[Value]) -> Outcome {
    let mut found = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        for member in PRIVATE_MEMBERS {
            if key.get(member).is_some() {
                found.push(format!("key {} has `{member}`", kid_or_index(key, index)));
            }
        }
    }
    let (status, reason) = if found.is_empty() {
        (Status::Pass, "public members only".to_owned())
    } else {
        (
            Status::Fail,
            format!("private key material published: {}", found.join(", ")),
        )
    };
    Outcome::new("jwks.no_private_members", "RFC 7517 §4", status, &reason)
}

/// RFC 7517 §4.5: `kid`s are unique (a verifier picks its key by `kid`); a key without
/// one in a set of several is a warning.
fn kids_unique(keys: &[Value]) -> Outcome {
    let mut seen = BTreeSet::new();
    let mut duplicates = BTreeSet::new();
    let mut without = 0usize;
    for key in keys {
        match key.get("kid").and_then(Value::as_str) {
            Some(kid) if !seen.insert(kid) => {
                duplicates.insert(kid);
            }
            Some(_) => {}
            None => without = without.saturating_add(1),
        }
    }
    let (status, reason) = if !duplicates.is_empty() {
        (Status::Fail, format!("duplicate kid(s): {duplicates:?}"))
    } else if without > 0 && keys.len() > 1 {
        (Status::Warn, format!("{without} key(s) without a kid"))
    } else {
        (Status::Pass, format!("{} distinct kid(s)", seen.len()))
    };
    Outcome::new("jwks.kids_unique", "RFC 7517 §4.5", status, &reason)
}

/// RFC 8414 §2 / OIDC Discovery §3: every algorithm the server says it signs with
/// (`id_token_…`, `userinfo_…`, `introspection_…`, `authorization_signing_alg_values_supported`)
/// has a published signing key.
fn advertised_algs_have_keys(target: &Target, keys: &[Value]) -> Outcome {
    let mut missing = BTreeSet::new();
    for field in SERVER_SIGNING_ALG_FIELDS {
        for alg in target.list(field) {
            if alg != "none" && !keys.iter().any(|key| key_fits(key, &alg)) {
                missing.insert(alg);
            }
        }
    }
    let (status, reason) = if missing.is_empty() {
        (
            Status::Pass,
            "a key for every advertised signing algorithm".to_owned(),
        )
    } else {
        (Status::Fail, format!("no key for {missing:?}"))
    };
    Outcome::new(
        "jwks.advertised_algs_have_keys",
        "RFC 8414 §2",
        status,
        &reason,
    )
}

/// Whether `key` can verify signatures made with `alg`: its `alg` says so, or (without
/// an `alg`) its type and curve fit (RFC 7518 §3.1, RFC 8037 §3.1).
fn key_fits(key: &Value, alg: &str) -> bool {
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|u| u != "sig") {
        return false;
    }
    if let Some(stated) = text("alg") {
        return stated == alg;
    }
    match (text("kty"), text("crv")) {
        (Some("RSA"), _) => alg.starts_with("RS") || alg.starts_with("PS"),
        (Some("EC"), Some("P-256")) => alg == "ES256",
        (Some("EC"), Some("P-384")) => alg == "ES384",
        (Some("EC"), Some("P-521")) => alg == "ES512",
        (Some("OKP"), Some("Ed25519")) => matches!(alg, "EdDSA" | "Ed25519"),
        _ => false,
    }
}

/// `kid` of `key`, or its position.
fn kid_or_index(key: &Value, index: usize) -> String {
    key.get("kid")
        .and_then(Value::as_str)
        .map_or_else(|| format!("#{index}"), |kid| format!("`{kid}`"))
}

/// RFC 8414 §3.1 then OpenID Connect Discovery §4.1 locations.
fn well_known_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    oauth.set_query(None);
    let mut openid = issuer.clone();
    openid.set_path(&format!("{path}/.well-known/openid-configuration"));
    openid.set_query(None);
    vec![oauth, openid]
}

/// RFC 7518 §6.2.2 (EC `d`), §6.3.2 (RSA `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`), §6.4
/// (symmetric `k`), RFC 8037 §2 (OKP `d`).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Metadata fields naming algorithms the server itself signs with.
const SERVER_SIGNING_ALG_FIELDS: [&str; 4] = [
    "id_token_signing_alg_values_supported",
    "userinfo_signing_alg_values_supported",
    "introspection_signing_alg_values_supported",
    "authorization_signing_alg_values_supported",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_fits_by_alg_or_by_type_and_curve() {
        assert!(key_fits(&json!({"kty": "EC", "crv": "P-256"}), "ES256"));
        assert!(!key_fits(&json!({"kty": "EC", "crv": "P-256"}), "RS256"));
        assert!(key_fits(&json!({"kty": "RSA", "alg": "RS256"}), "RS256"));
        assert!(!key_fits(&json!({"kty": "RSA", "alg": "PS256"}), "RS256"));
        assert!(!key_fits(&json!({"kty": "RSA", "use": "enc"}), "RS256"));
    }

    #[test]
    fn well_known_locations_follow_rfc_8414_and_oidc() {
        let urls = well_known_urls(&Url::parse("https://id.example.com/tenant/").unwrap());
        assert_eq!(
            urls[0].as_str(),
            "https://id.example.com/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(
            urls[1].as_str(),
            "https://id.example.com/tenant/.well-known/openid-configuration"
        );
    }
}
