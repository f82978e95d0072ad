//! The registry's one error type.

use agentid_spec::ErrorCode;

/// Why a registry operation failed. Each variant has a stable [`ErrorCode`]; how it is answered
/// over HTTP is decided by the service above this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation breaks section 5 (structure, rules, kid); the message says which.
    #[error("{0}")]
    InvalidOperation(String),
    /// Section 5.3 refuses the operation (signature, key, `prev`, size, duplicate, recovery);
    /// each reason has its own code.
    #[error("{0}")]
    Rejected(#[from] agentid_spec::history::Rejection),
    /// No agent with this DID.
    #[error("{0} is not registered")]
    NotRegistered(String),
    /// The DID is already registered.
    #[error("{0} is already registered")]
    AlreadyRegistered(String),
    /// The name is bound to another agent.
    #[error("the name {0} is taken")]
    NameTaken(String),
    /// The name is reserved (section 5.1).
    #[error("the name {0} is reserved")]
    NameReserved(String),
    /// A registration conflicted for another reason.
    #[error("conflicting registration")]
    Conflict,
    /// `prev` is not the agent's latest operation, or the agent changed concurrently.
    #[error("{0}")]
    StalePrev(&'static str),
    /// The agent is deactivated; that is final.
    #[error("{0} is deactivated")]
    Deactivated(String),
    /// The agent is deplatformed.
    #[error("{0} is deplatformed")]
    Deplatformed(String),
    /// The agent is already deplatformed.
    #[error("{0} is already deplatformed")]
    AlreadyDeplatformed(String),
    /// A reinstatement of an agent that is neither suspended nor deplatformed.
    #[error("{0} is not suspended or deplatformed")]
    NotModerated(String),
    /// The zone is already claimed.
    #[error("the zone {0} is already claimed")]
    ZoneTaken(String),
    /// Names under the zone are held by others.
    #[error("{0}")]
    ZoneOccupied(String),
    /// Inside a zone someone owns.
    #[error("{0}")]
    ZoneOwned(String),
    /// The DNS proof of a zone claim failed.
    #[error("DNS proof failed: {0}")]
    DnsProofFailed(String),
    /// A DNS name (under a DNS top-level domain) outside every zone proven by DNS.
    #[error("{0}")]
    DnsProofRequired(String),
    /// An agent's consent to a name is missing, not its own, or not for this binding.
    #[error("{0}")]
    ConsentInvalid(String),
    /// A retried operation whose effect a later operation has undone.
    #[error("{0}")]
    Superseded(String),
    /// A time outside what is accepted.
    #[error("{0}")]
    InvalidTime(String),
    /// A credential has had as many suspensions and reinstatements as the log records for one
    /// ([`MAX_SUSPENSION_DECISIONS`](crate::decisions::MAX_SUSPENSION_DECISIONS)).
    #[error("{0}")]
    TooManyDecisions(String),
    /// A log proof was asked for entries or sizes the log does not have.
    #[error("{0}")]
    InvalidLogRange(&'static str),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The agent's stored state is not what its log proves (a row rewritten behind the
    /// registry's back): refused, logged and counted, never served.
    #[error("{0}")]
    Unproven(String),
    /// Stored data did not read back: never the caller's fault.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The stable machine code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidOperation(_) => ErrorCode::InvalidOperation,
            Error::Rejected(r) => r.code(),
            Error::NotRegistered(_) => ErrorCode::NotFound,
            Error::AlreadyRegistered(_) => ErrorCode::AlreadyRegistered,
            Error::NameTaken(_) => ErrorCode::NameTaken,
            Error::NameReserved(_) => ErrorCode::NameReserved,
            Error::Conflict => ErrorCode::Conflict,
            Error::StalePrev(_) => ErrorCode::StalePrev,
            Error::Deactivated(_) => ErrorCode::Gone,
            Error::Deplatformed(_) => ErrorCode::AgentDeplatformed,
            Error::AlreadyDeplatformed(_) => ErrorCode::AlreadyDeplatformed,
            Error::InvalidLogRange(_) => ErrorCode::InvalidRequest,
            Error::TooManyDecisions(_) => ErrorCode::TooManyOperations,
            Error::ZoneTaken(_) => ErrorCode::ZoneTaken,
            Error::ZoneOccupied(_) => ErrorCode::ZoneOccupied,
            Error::ZoneOwned(_) => ErrorCode::ZoneOwned,
            Error::DnsProofFailed(_) => ErrorCode::DnsProofFailed,
            Error::DnsProofRequired(_) => ErrorCode::DnsProofRequired,
            Error::ConsentInvalid(_) => ErrorCode::ConsentInvalid,
            Error::Superseded(_) => ErrorCode::OperationSuperseded,
            Error::InvalidTime(_) => ErrorCode::InvalidTime,
            Error::NotModerated(_) => ErrorCode::Conflict,
            Error::Database(_) | Error::Internal(_) | Error::Unproven(_) => {
                ErrorCode::InternalError
            }
        }
    }
}
