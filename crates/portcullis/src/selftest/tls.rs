//! RFC 9325 §3.1.1 (BCP 195): the TLS version a normal client negotiates with the
//! issuer's host is 1.2 or 1.3. The handshake uses rustls with the platform's
//! certificate verifier, as the HTTP client does; an untrusted certificate fails.

use super::Target;
use super::report::{Outcome, Status};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ProtocolVersion, crypto};

/// The negotiated version of one handshake with the issuer's host; skipped for an
/// http issuer.
pub async fn version(target: &Target) -> Outcome {
    const ID: &str = "tls.version";
    const SECTION: &str = "RFC 9325 §3.1.1";
    if target.issuer_url.scheme() != "https" {
        return Outcome::new(ID, SECTION, Status::Skip, "http issuer (no TLS)");
    }
    let (status, reason) = match negotiate(target).await {
        Ok(ProtocolVersion::TLSv1_3) => (Status::Pass, "TLS 1.3".to_owned()),
        Ok(ProtocolVersion::TLSv1_2) => (Status::Pass, "TLS 1.2".to_owned()),
        Ok(other) => (Status::Fail, format!("negotiated {other:?}, below TLS 1.2")),
        Err(why) => (Status::Fail, why),
    };
    Outcome::new(ID, SECTION, status, &reason)
}

/// One handshake (TLS 1.2 and 1.3 offered, aws-lc-rs, platform roots); the version
/// the server chose.
async fn negotiate(target: &Target) -> Result<ProtocolVersion, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let url = &target.issuer_url;
    let host = url
        .host_str()
        .ok_or("the issuer has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(443);
    let config =
        ClientConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(BuilderVerifierExt::with_platform_verifier)
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        tls.get_ref()
            .1
            .protocol_version()
            .ok_or_else(|| "no protocol version after the handshake".to_owned())
    };
    tokio::time::timeout(TIMEOUT, handshake)
        .await
        .map_err(|_| format!("no TLS handshake within {} s", TIMEOUT.as_secs()))?
}

/// Time allowed for connecting and the handshake.
const TIMEOUT: Duration = Duration::from_secs(10);
