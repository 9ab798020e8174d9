//! Readiness for load balancers and orchestrators: whether this node can serve
//! requests, which is whether its database answers in time.

use crate::app::state::AppState;
use portcullis_core::store::StoreError;
use std::time::Duration;

/// How long readiness waits for the database before answering "not ready".
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why this node is not ready.
#[derive(Debug, thiserror::Error)]
pub enum Unready {
    /// The database answered with an error.
    #[error(transparent)]
    Store(StoreError),
    /// The database did not answer within [`READY_TIMEOUT`].
    #[error("timed out")]
    TimedOut,
}

/// `Ok` when the database answers a ping within [`READY_TIMEOUT`].
///
/// # Errors
/// [`Unready`]: the store's error, or the timeout.
pub async fn readiness(state: &AppState) -> Result<(), Unready> {
    match tokio::time::timeout(READY_TIMEOUT, state.store().ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Unready::Store(e)),
        Err(_elapsed) => Err(Unready::TimedOut),
    }
}
