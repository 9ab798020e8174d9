//! Why keys could not be built, opened or used: one error for the ring, the master
//! key and signing (a leaf module, so they do not import each other for it).

/// Why the key ring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// A sealed key did not open: the master key differs from the one that sealed it.
    #[error(
        "a signing key in the database cannot be decrypted: the master key (PORTCULLIS_MASTER_KEY or the key file) is not the one it was sealed with"
    )]
    WrongMasterKey,
    /// No active key for an algorithm.
    #[error("no active {0} signing key")]
    NoActiveKey(&'static str),
    /// A cryptographic operation failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}
