//! The top-level keys: `listen` (where the server listens), `issuer` (the identifier
//! it advertises, RFC 8414 §2) and `trusted_proxies` (whose `X-Forwarded-For` it
//! believes). `listen` and `issuer` can be set from the environment.

use super::file::{ConfigError, Sources, error_at};
use crate::app::net::{IpNetwork, parse_networks};
use portcullis_core::client::is_loopback;
use std::net::SocketAddr;
use url::Url;

/// Resolves `listen` ([`ENV_LISTEN`] > file > [`DEFAULT_LISTEN`]).
///
/// # Errors
/// A value that is not a socket address, naming the variable or the file.
pub(super) fn resolve_listen(
    sources: &Sources<'_>,
    from_file: Option<String>,
) -> Result<SocketAddr, ConfigError> {
    match sources.pick(ENV_LISTEN, from_file) {
        Some((at, v)) => v.parse::<SocketAddr>().map_err(|e| {
            error_at(
                &at,
                format!("`listen` = {v:?} is not a socket address like 127.0.0.1:8080 ({e})"),
            )
        }),
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|e| error_at("defaults", format!("`listen`: {e}"))),
    }
}

/// Resolves `issuer` ([`ENV_ISSUER`] > file); without one, `http://{listen}` when
/// `listen` is on loopback. Returned without a trailing slash.
///
/// # Errors
/// An issuer that is not an https URL in normal form (see [`check_issuer`]), or none
/// while listening on a non-loopback address.
pub(super) fn resolve_issuer(
    sources: &Sources<'_>,
    from_file: Option<String>,
    listen: SocketAddr,
) -> Result<String, ConfigError> {
    match sources.pick(ENV_ISSUER, from_file) {
        Some((at, v)) => {
            check_issuer(&v).map_err(|m| error_at(&at, format!("`issuer` = {v:?} {m}")))
        }
        None if listen.ip().is_loopback() => Ok(format!("http://{listen}")),
        None => Err(sources.in_file(format!(
            "`issuer` is required when listening on a non-loopback address ({listen}); set it to the public https URL"
        ))),
    }
}

/// Resolves `trusted_proxies`: none by default (the client address is the TCP peer).
///
/// # Errors
/// A message naming `trusted_proxies` and the entry that is not a network.
pub(super) fn resolve_trusted_proxies(
    entries: Option<Vec<String>>,
) -> Result<Vec<IpNetwork>, String> {
    match entries {
        None => Ok(Vec::new()),
        Some(entries) => parse_networks("trusted_proxies", &entries),
    }
}

/// RFC 8414 §2: the issuer is an https URL with no query or fragment; plain http is
/// accepted only on a loopback host (development). Returns it without a trailing slash.
fn check_issuer(value: &str) -> Result<String, String> {
    let url = Url::parse(value).map_err(|e| format!("is not a URL ({e})"))?;
    // The issuer is compared as a string (RFC 8414 §3.3): what is configured must be
    // exactly what is advertised, so refuse anything the URL parser would rewrite
    // (case, dot segments, default port, surrounding spaces).
    let normalized = url.as_str().trim_end_matches('/');
    if value.trim_end_matches('/') != normalized {
        return Err(format!("is not in normal form; write it as {normalized:?}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment (RFC 8414 §2)".to_owned());
    }
    if url.path() != "/" {
        // RFC 8414 §3 puts the well-known segment before such a path; not supported yet.
        return Err(
            "must not have a path: serve Portcullis at the root of its own host name".to_owned(),
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err("must use https; plain http is allowed only on a loopback host (127.0.0.1, [::1], localhost)".to_owned());
        }
        other => return Err(format!("has scheme `{other}`; it must be https")),
    }
    Ok(normalized.to_owned())
}

/// Default listen address: loopback only, so a server started without configuration
/// is not reachable from the network (and may then derive its own `http://` issuer).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Environment variable overriding `issuer`.
pub const ENV_ISSUER: &str = "PORTCULLIS_ISSUER";
/// Environment variable overriding `listen`.
pub const ENV_LISTEN: &str = "PORTCULLIS_LISTEN";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::Config;
    use crate::app::config::tests::resolve;

    #[test]
    fn trusted_proxies_default_to_none_and_name_the_key_of_a_bad_entry() {
        let c = Config::resolve(None, &|_| None).unwrap();
        assert!(c.trusted_proxies.is_empty());
        let c = resolve(
            r#"trusted_proxies = ["10.0.0.0/8", "127.0.0.1/32", "::1"]"#,
            &[],
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(crate::app::net::any_contains(
            &c.trusted_proxies,
            "10.1.2.3".parse().unwrap()
        ));
        let e = resolve(r#"trusted_proxies = ["10.0.0.0/8", "lb.internal"]"#, &[]).unwrap_err();
        assert_eq!(e.origin, "/etc/portcullis.toml");
        assert!(
            e.message.contains("`trusted_proxies`") && e.message.contains("lb.internal"),
            "{e}"
        );
        let e = resolve(r#"trusted_proxies = ["10.0.0.1/8"]"#, &[]).unwrap_err();
        assert!(e.message.contains("10.0.0.0/8"), "{e}");
    }

    #[test]
    fn rejects_plain_http_issuer_off_loopback_naming_the_variable() {
        let e = resolve("", &[(ENV_ISSUER, "http://id.example.com")]).unwrap_err();
        assert_eq!(e.origin, ENV_ISSUER);
        assert!(e.message.contains("must use https"), "{e}");
        let e = resolve("issuer = \"ftp://x\"", &[]).unwrap_err();
        assert_eq!(e.origin, "/etc/portcullis.toml");
    }

    #[test]
    fn rejects_an_issuer_that_is_not_in_normal_form() {
        for bad in [
            "https://id.example.com/.",
            "https://id.example.com/foo/..",
            "HTTPS://ID.example.com",
            " https://id.example.com",
            "https://id.example.com:443",
        ] {
            let e = resolve("", &[(ENV_ISSUER, bad)]).unwrap_err();
            assert!(e.message.contains("normal form"), "{bad}: {e}");
        }
        let e = resolve("", &[(ENV_ISSUER, "https://user:pw@id.example.com")]).unwrap_err();
        assert!(e.message.contains("user name or password"), "{e}");
    }

    #[test]
    fn rejects_an_issuer_with_a_path() {
        let e = resolve("", &[(ENV_ISSUER, "https://id.example.com/auth")]).unwrap_err();
        assert!(e.message.contains("must not have a path"), "{e}");
        assert!(resolve("", &[(ENV_ISSUER, "https://id.example.com/")]).is_ok());
    }

    #[test]
    fn rejects_a_non_loopback_listen_without_issuer() {
        let e = resolve("listen = \"0.0.0.0:8080\"", &[]).unwrap_err();
        assert!(e.message.contains("`issuer` is required"), "{e}");
    }
}
