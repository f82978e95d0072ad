//! The wallet's one error type.

use agentid_spec::ErrorCode;

/// Why a wallet operation failed. Each variant has a stable [`ErrorCode`]; how it is answered
/// over HTTP is decided by the service above this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No bearer token, or one that matches no principal.
    #[error("authentication required")]
    Unauthorized,
    /// No such delegation or status list (another principal's delegation is as absent as a
    /// missing one).
    #[error("{0}")]
    NotFound(&'static str),
    /// A validity period that is empty, already over, or longer than the wallet allows.
    #[error("{0}")]
    InvalidTime(String),
    /// A revocation reason over [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES).
    #[error("reason over {} bytes", crate::MAX_REASON_BYTES)]
    InvalidReason,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A key would not unseal, or signing failed: never the caller's fault.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The stable machine code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Unauthorized => ErrorCode::Unauthorized,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::InvalidTime(_) => ErrorCode::InvalidTime,
            Error::InvalidReason => ErrorCode::InvalidReason,
            Error::Database(_) | Error::Internal(_) => ErrorCode::InternalError,
        }
    }
}
