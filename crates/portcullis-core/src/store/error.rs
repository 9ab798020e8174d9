//! The one error every store method returns. A leaf: the per-table traits beside
//! their records import it without importing the composite [`super::Store`].

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same key exists (client_id, username, active key per alg).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The record to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached or timed out: retry later (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded (a bug or manual tampering).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}
