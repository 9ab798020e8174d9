//! `config check`: each finding from the configuration that causes it, none from the
//! one that fixes it; the resolved view shows no secret.

use super::*;
use crate::app::config::tests::resolve;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Keys of the findings for `toml` (the master key from the environment, so that the
/// layout warning about a key file beside the database does not appear).
fn keys(toml: &str) -> Vec<String> {
    let config = resolve(toml, &[("PORTCULLIS_MASTER_KEY", KEY)]).unwrap();
    findings(&config, None).into_iter().map(|f| f.key).collect()
}

const HTTPS: &str = "issuer = \"https://id.example.com\"\nlisten = \"127.0.0.1:8080\"\n";
const PROXIES: &str = "trusted_proxies = [\"10.0.0.0/24\"]\n";

#[test]
fn a_production_config_with_its_proxy_listed_has_no_finding() {
    assert_eq!(keys(&format!("{HTTPS}{PROXIES}")), Vec::<String>::new());
}

#[test]
fn warns_about_an_http_issuer() {
    let found = keys("issuer = \"http://127.0.0.1:8080\"\n");
    assert_eq!(found, vec!["issuer".to_owned()]);
}

#[test]
fn warns_about_an_https_issuer_without_trusted_proxies() {
    assert_eq!(keys(HTTPS), vec!["trusted_proxies".to_owned()]);
}

#[test]
fn no_trusted_proxies_finding_when_tls_ends_here() {
    let tls = format!("{HTTPS}[tls]\ncertificate = \"fullchain.pem\"\nprivate_key = \"key.pem\"\n");
    assert_eq!(keys(&tls), Vec::<String>::new());
    let config = resolve(&tls, &[("PORTCULLIS_MASTER_KEY", KEY)]).unwrap();
    let view = resolved_view(&config);
    assert_eq!(view["tls"]["source"]["private_key"], "key.pem");
}

#[test]
fn warns_about_an_access_token_lifetime_above_an_hour() {
    let at_limit = format!("{HTTPS}{PROXIES}[tokens]\naccess_token_ttl = 3600\n");
    assert!(keys(&at_limit).is_empty());
    let above = format!("{HTTPS}{PROXIES}[tokens]\naccess_token_ttl = 3601\n");
    assert_eq!(keys(&above), vec!["tokens.access_token_ttl".to_owned()]);
}

const WEB: &str = "[[clients]]\nclient_id = \"web\"\nclient_secret = \"web-secret-0123456789abcdefghijklmnopq\"\ngrant_types = [\"authorization_code\"]\nscopes = [\"openid\"]\nskip_consent = true\n";

#[test]
fn warns_about_skip_consent_for_a_redirect_off_the_issuers_host() {
    let third =
        format!("{HTTPS}{PROXIES}{WEB}redirect_uris = [\"https://partner.example.net/cb\"]\n");
    assert_eq!(keys(&third), vec!["clients[web].skip_consent".to_owned()]);
    let first =
        format!("{HTTPS}{PROXIES}{WEB}redirect_uris = [\"https://id.example.com/app/cb\"]\n");
    assert!(keys(&first).is_empty());
}

#[test]
fn warns_about_open_registration_with_loose_limits() {
    let open = format!("{HTTPS}{PROXIES}[registration]\nmode = \"open\"\n");
    assert!(keys(&open).is_empty(), "the default limits are fine");
    let loose = format!("{open}registrations_per_hour = 1000\n");
    assert_eq!(keys(&loose), vec!["registration.mode".to_owned()]);
}

#[test]
fn the_resolved_view_shows_no_secret() {
    let toml = format!(
        "{HTTPS}{PROXIES}database_url = \"postgres://portcullis:db-pass-9876@db.example/portcullis\"\n{WEB}redirect_uris = [\"https://id.example.com/cb\"]\n[[users]]\nusername = \"alice\"\npassword = \"alice-password-1\"\n"
    );
    let config = resolve(&toml, &[("PORTCULLIS_MASTER_KEY", KEY)]).unwrap();
    let text = resolved_view(&config).to_string();
    for secret in [
        "db-pass-9876",
        "web-secret-0123456789",
        "alice-password-1",
        KEY,
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let view = resolved_view(&config);
    assert_eq!(view["clients"][0]["client_secret"], "***");
    assert_eq!(view["users"][0]["password"], "***");
    assert_eq!(view["master_key"]["key"], "***");
    assert_eq!(view["trusted_proxies"][0], "10.0.0.0/24");
}
