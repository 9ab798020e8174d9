//! One named test per guard of the outbound door (`app/outbound.rs`, CONVENTIONS §14),
//! each against a local https server.

use super::server::{Canned, DocServer, TEST_HOST, TestCa};
use portcullis_server::app::config::OutboundSettings;
use portcullis_server::app::outbound::address::ForbiddenRange;
use portcullis_server::app::outbound::{Accept, FetchReason, Fetched, Outbound};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use url::Url;

const JSON_5K: Accept = Accept {
    media_type: "application/json",
    max_bytes: 5 * 1024,
};

/// Loopback allowed (the test servers live there), the test CA trusted.
fn settings(ca: &TestCa) -> OutboundSettings {
    OutboundSettings {
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ca_certificates: vec![ca.ca_file()],
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        resolve_overrides: vec![(TEST_HOST.into(), IpAddr::V4(Ipv4Addr::LOCALHOST))],
    }
}

async fn fetch(settings: &OutboundSettings, url: &str) -> Result<Fetched, FetchReason> {
    Outbound::new(settings)
        .unwrap()
        .fetch(&Url::parse(url).unwrap(), JSON_5K)
        .await
}

#[tokio::test]
async fn fetches_json_through_every_guard() {
    let ca = TestCa::new();
    let server = DocServer::start(
        &ca,
        Canned::json(r#"{"ok":true}"#).header("Cache-Control", "public, max-age=300"),
    )
    .await;
    let fetched = fetch(&settings(&ca), &server.url("/doc")).await.unwrap();
    assert_eq!(fetched.body, br#"{"ok":true}"#);
    assert_eq!(fetched.max_age, Some(300));
    // By name too: the name resolves (test override) to an allowed address.
    let by_name = format!("https://{TEST_HOST}:{}/doc", server.addr.port());
    assert!(fetch(&settings(&ca), &by_name).await.is_ok());
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn rejects_a_redirect() {
    let ca = TestCa::new();
    let server = DocServer::start(
        &ca,
        Canned::json("{}")
            .status(302)
            .header("Location", "https://127.0.0.1:1/elsewhere"),
    )
    .await;
    assert_eq!(
        fetch(&settings(&ca), &server.url("/doc")).await,
        Err(FetchReason::Redirect(302))
    );
    assert_eq!(server.hits(), 1, "the Location is never requested");
}

#[tokio::test]
async fn rejects_a_private_address_after_dns() {
    let ca = TestCa::new();
    let server = DocServer::start(&ca, Canned::json("{}")).await;
    let mut settings = settings(&ca);
    settings.allow_networks.clear();
    // The name looks public; only its resolved address (127.0.0.1) gives it away.
    let url = format!("https://{TEST_HOST}:{}/doc", server.addr.port());
    assert_eq!(
        fetch(&settings, &url).await,
        Err(FetchReason::ForbiddenAddress {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            range: ForbiddenRange::Loopback
        })
    );
    assert_eq!(server.hits(), 0, "no connection was made");
}

#[tokio::test]
async fn rejects_a_private_ip_literal() {
    let ca = TestCa::new();
    let server = DocServer::start(&ca, Canned::json("{}")).await;
    let mut settings = settings(&ca);
    settings.allow_networks.clear();
    for (url, ip, range) in [
        (server.url("/doc"), "127.0.0.1", ForbiddenRange::Loopback),
        (
            "https://169.254.169.254/latest".to_owned(),
            "169.254.169.254",
            ForbiddenRange::LinkLocal,
        ),
        (
            "https://[::ffff:10.0.0.1]/x".to_owned(),
            "::ffff:10.0.0.1",
            ForbiddenRange::Private,
        ),
    ] {
        assert_eq!(
            fetch(&settings, &url).await,
            Err(FetchReason::ForbiddenAddress {
                ip: ip.parse().unwrap(),
                range
            }),
            "{url}"
        );
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn rejects_an_oversize_body() {
    let ca = TestCa::new();
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(6 * 1024));
    let server = DocServer::start(&ca, Canned::json(&big)).await;
    assert_eq!(
        fetch(&settings(&ca), &server.url("/doc")).await,
        Err(FetchReason::TooLarge(5 * 1024))
    );
    // Without Content-Length the cap is enforced while reading.
    let mut streamed = Canned::json(&big);
    streamed.with_length = false;
    server.answer("/streamed", streamed);
    assert_eq!(
        fetch(&settings(&ca), &server.url("/streamed")).await,
        Err(FetchReason::TooLarge(5 * 1024))
    );
}

#[tokio::test]
async fn rejects_a_slow_answer() {
    let ca = TestCa::new();
    let mut slow = Canned::json("{}");
    slow.delay = Duration::from_secs(5);
    let server = DocServer::start(&ca, slow).await;
    let started = std::time::Instant::now();
    assert_eq!(
        fetch(&settings(&ca), &server.url("/doc")).await,
        Err(FetchReason::Timeout)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rejects_non_https() {
    let ca = TestCa::new();
    let server = DocServer::start(&ca, Canned::json("{}")).await;
    let plain = format!("http://127.0.0.1:{}/doc", server.addr.port());
    assert_eq!(
        fetch(&settings(&ca), &plain).await,
        Err(FetchReason::NotHttps)
    );
    let with_user = format!("https://user:pw@127.0.0.1:{}/doc", server.addr.port());
    assert_eq!(
        fetch(&settings(&ca), &with_user).await,
        Err(FetchReason::NotHttps)
    );
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn rejects_a_wrong_content_type() {
    let ca = TestCa::new();
    let server =
        DocServer::start(&ca, Canned::json("{}").header("Content-Type", "text/html")).await;
    assert_eq!(
        fetch(&settings(&ca), &server.url("/doc")).await,
        Err(FetchReason::ContentType(Some("text/html".into())))
    );
}

#[tokio::test]
async fn rejects_an_untrusted_certificate() {
    let ca = TestCa::new();
    let server = DocServer::start(&ca, Canned::json("{}")).await;
    let mut settings = settings(&ca);
    settings.ca_certificates.clear();
    assert!(matches!(
        fetch(&settings, &server.url("/doc")).await,
        Err(FetchReason::Connect(_))
    ));
}

#[tokio::test]
async fn rejects_an_error_status() {
    let ca = TestCa::new();
    let server = DocServer::start(&ca, Canned::json("{}").status(404)).await;
    assert_eq!(
        fetch(&settings(&ca), &server.url("/doc")).await,
        Err(FetchReason::Status(404))
    );
}
