//! Changes the services announce in-process, so that a co-located verifier drops what it cached
//! the moment a delegation is revoked or an agent deplatformed.

/// Something a verifier may have cached has changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The status list credential at this URL was re-issued.
    StatusList(String),
    /// The DID's record changed (deactivated, deplatformed, keys).
    Did(String),
}

/// The sending half shared by the services.
pub type Changes = tokio::sync::broadcast::Sender<Change>;

/// A channel with room for bursts; slow receivers see `Lagged` and must flush their caches.
pub fn channel() -> Changes {
    tokio::sync::broadcast::channel(1024).0
}
