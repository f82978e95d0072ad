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
    /// A revocation reason over [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES), or holding NUL.
    #[error("a reason is at most {} bytes, without NUL", crate::MAX_REASON_BYTES)]
    InvalidReason,
    /// A request member is invalid.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// Authenticated or signed, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Conflicts with what is stored.
    #[error("{0}")]
    Conflict(&'static str),
    /// The `Idempotency-Key` was used before with a different request.
    #[error("the Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// The delegation is revoked.
    #[error("the delegation is revoked")]
    DelegationRevoked,
    /// The delegation is suspended: no new holds until it is reinstated.
    #[error("the delegation is suspended")]
    DelegationSuspended,
    /// The spend would pass the delegation's total, or its budget for the current period.
    #[error("the spend would pass the {} budget: {remaining} {currency} remain", period.unwrap_or("total"))]
    BudgetExceeded {
        /// What remains, in minor units.
        remaining: u64,
        /// Its currency.
        currency: String,
        /// The period (`day`, `week`, `month`) whose budget it would pass; `None` for the total.
        period: Option<&'static str>,
    },
    /// The hold expired before it was settled.
    #[error("the hold expired")]
    HoldExpired,
    /// The hold was captured or released already.
    #[error("the hold was already settled")]
    HoldSettled,
    /// The principal denied the purchase.
    #[error("the principal denied this purchase")]
    ApprovalDenied,
    /// The principal did not decide in time.
    #[error("the principal did not approve this purchase in time")]
    ApprovalExpired,
    /// The hold is not waiting for approval.
    #[error("the hold is not waiting for approval")]
    NotPending,
    /// A sub-delegation would grant more than its parent (section 6.4).
    #[error("the sub-delegation widens its parent: {0}")]
    DelegationWidened(String),
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
            Error::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Error::DelegationRevoked => ErrorCode::DelegationRevoked,
            Error::DelegationSuspended => ErrorCode::DelegationSuspended,
            Error::BudgetExceeded { .. } => ErrorCode::BudgetExceeded,
            Error::HoldExpired => ErrorCode::HoldExpired,
            Error::HoldSettled => ErrorCode::HoldSettled,
            Error::ApprovalDenied => ErrorCode::ApprovalDenied,
            Error::ApprovalExpired => ErrorCode::ApprovalExpired,
            Error::NotPending => ErrorCode::NotPending,
            Error::DelegationWidened(_) => ErrorCode::DelegationWidened,
            Error::Database(_) | Error::Internal(_) => ErrorCode::InternalError,
        }
    }
}
