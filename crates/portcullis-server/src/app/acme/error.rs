//! Why an ACME step failed: logged by the manager, never sent to a client.

use portcullis_core::StoreError;
use portcullis_core::keys::KeyRingError;

/// Why an ACME step failed. Logged by the manager; never reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The ACME server or the way to it failed (RFC 8555 §6.7 problem, network, TLS).
    #[error("ACME: {0}")]
    Acme(#[from] instant_acme::Error),
    /// The CA refused: an authorization or the order is not valid.
    #[error("ACME refused: {0}")]
    Refused(String),
    /// Sealing or opening a stored secret failed (another master key).
    #[error("sealed ACME data: {0}")]
    Seal(#[from] KeyRingError),
    /// A certificate or key did not parse or could not be made.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The order took longer than [`ORDER_DEADLINE`](super::renewal::ORDER_DEADLINE).
    #[error(
        "the order took longer than {} s",
        super::renewal::ORDER_DEADLINE.as_secs()
    )]
    Timeout,
}
