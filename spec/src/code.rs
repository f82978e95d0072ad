//! Stable machine codes for every verification failure (spec section 8).
//!
//! A client branches on [`Code::as_str`]; the strings never change meaning once published. The
//! numbered step of the verification algorithm that produces each code is given in its doc comment.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a checkout presentation, a credential, or an agent was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Code {
    /// Step 1-3: not a compact JWS, bad base64url, bad JSON, missing member, over a size limit.
    MalformedToken,
    /// Step 2: `alg` is anything but `EdDSA` (including `none`), or `crit` is present.
    UnsupportedAlgorithm,
    /// Step 8: an Ed25519 signature does not verify.
    BadSignature,
    /// Step 6-7: `kid` names no current verification method of the signer (unknown or rotated out).
    UnknownKey,
    /// Step 6: the signer's DID could not be resolved (registry unreachable, not found, invalid).
    ResolutionFailed,
    /// Step 5: the credential's `kid` is not a key of its `issuer`.
    IssuerMismatch,
    /// Step 9: the presentation's `holder` is not the credential subject.
    SubjectMismatch,
    /// Step 9: the presentation is signed by a key of someone other than the credential subject.
    PresentationNotSignedBySubject,
    /// Step 10: the agent has been deactivated by its controller.
    AgentDeactivated,
    /// Step 10: the agent has been deplatformed by the registry operator.
    AgentDeplatformed,
    /// Step 10: the registry has suspended the agent, until a time it states.
    AgentSuspended,
    /// Step 11: the credential's `validUntil` has passed (beyond the allowed clock skew).
    CredentialExpired,
    /// Step 11: the credential's `validFrom` is in the future (beyond the allowed clock skew).
    CredentialNotYetValid,
    /// Step 12: the presentation's `exp` has passed, or its lifetime exceeds the verifier's limit.
    PresentationExpired,
    /// Step 12: the presentation's `iat` is in the future (beyond the allowed clock skew).
    PresentationNotYetValid,
    /// Step 13: `aud` is not the verifying merchant's DID.
    WrongAudience,
    /// Step 14: `nonce` is not the one the merchant issued.
    NonceMismatch,
    /// Step 14: the nonce was already used in an accepted presentation.
    NonceReplayed,
    /// Step 15: the credential's scope does not list this merchant.
    MerchantNotInScope,
    /// Step 15: the credential's scope does not list this purchase category.
    CategoryNotInScope,
    /// Step 16: the transaction currency is not the currency of the spending limit.
    CurrencyMismatch,
    /// Step 16: the amount is above the per-transaction limit (or not positive).
    LimitExceeded,
    /// Step 17: the presented amount, currency or order hash differs from the merchant's order.
    TransactionMismatch,
    /// Step 18: the credential's bit is set in its revocation status list.
    CredentialRevoked,
    /// Step 18: the status list could not be fetched, failed verification, or is older than the
    /// verifier's bound. Verification fails closed.
    StatusUnavailable,
    /// Step 6: the agent is not vouched for by a registry the verifier trusts: a `did:key` agent
    /// where the policy does not allow them, or an agent resolved through an untrusted registry.
    AgentNotTrusted,
    /// Step 6: the spend authorization is signed by a wallet the verifier does not trust.
    WalletNotTrusted,
    /// Step 19: the presentation carries no spend authorization from the principal's wallet.
    AuthorizationMissing,
    /// Step 19: the spend authorization is for another agent, principal, delegation, merchant,
    /// nonce or transaction than the presentation.
    AuthorizationMismatch,
    /// Step 19: the spend authorization is outside its validity window (the hold expired).
    AuthorizationExpired,
    /// Step 14: the verifier's replay memory is full of live nonces, or cannot be written, so
    /// the nonce cannot be recorded: refused rather than risk a replay (never `nonce_replayed`).
    NonceMemoryFull,
    /// Step 4-5: a sub-delegation does not name the credential before it in the chain (by `id`
    /// and digest), or is not issued by that credential's subject; or the chain holds more
    /// than the spec's most links.
    ChainBroken,
    /// Step 9: a sub-delegation grants more than its parent: a wider scope, higher limits, a
    /// longer validity or a depth its parent does not allow (section 6.4).
    DelegationWidened,
}

impl Code {
    /// Every code, in the order of the verification algorithm.
    pub const ALL: [Code; 33] = [
        Code::MalformedToken,
        Code::UnsupportedAlgorithm,
        Code::BadSignature,
        Code::UnknownKey,
        Code::ResolutionFailed,
        Code::IssuerMismatch,
        Code::SubjectMismatch,
        Code::PresentationNotSignedBySubject,
        Code::AgentDeactivated,
        Code::AgentDeplatformed,
        Code::AgentSuspended,
        Code::CredentialExpired,
        Code::CredentialNotYetValid,
        Code::PresentationExpired,
        Code::PresentationNotYetValid,
        Code::WrongAudience,
        Code::NonceMismatch,
        Code::NonceReplayed,
        Code::MerchantNotInScope,
        Code::CategoryNotInScope,
        Code::CurrencyMismatch,
        Code::LimitExceeded,
        Code::TransactionMismatch,
        Code::CredentialRevoked,
        Code::StatusUnavailable,
        Code::AgentNotTrusted,
        Code::WalletNotTrusted,
        Code::AuthorizationMissing,
        Code::AuthorizationMismatch,
        Code::AuthorizationExpired,
        Code::NonceMemoryFull,
        Code::ChainBroken,
        Code::DelegationWidened,
    ];

    /// The stable wire string, e.g. `credential_revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MalformedToken => "malformed_token",
            Code::UnsupportedAlgorithm => "unsupported_algorithm",
            Code::BadSignature => "bad_signature",
            Code::UnknownKey => "unknown_key",
            Code::ResolutionFailed => "resolution_failed",
            Code::IssuerMismatch => "issuer_mismatch",
            Code::SubjectMismatch => "subject_mismatch",
            Code::PresentationNotSignedBySubject => "presentation_not_signed_by_subject",
            Code::AgentDeactivated => "agent_deactivated",
            Code::AgentDeplatformed => "agent_deplatformed",
            Code::AgentSuspended => "agent_suspended",
            Code::CredentialExpired => "credential_expired",
            Code::CredentialNotYetValid => "credential_not_yet_valid",
            Code::PresentationExpired => "presentation_expired",
            Code::PresentationNotYetValid => "presentation_not_yet_valid",
            Code::WrongAudience => "wrong_audience",
            Code::NonceMismatch => "nonce_mismatch",
            Code::NonceReplayed => "nonce_replayed",
            Code::MerchantNotInScope => "merchant_not_in_scope",
            Code::CategoryNotInScope => "category_not_in_scope",
            Code::CurrencyMismatch => "currency_mismatch",
            Code::LimitExceeded => "limit_exceeded",
            Code::TransactionMismatch => "transaction_mismatch",
            Code::CredentialRevoked => "credential_revoked",
            Code::StatusUnavailable => "status_unavailable",
            Code::AgentNotTrusted => "agent_not_trusted",
            Code::WalletNotTrusted => "wallet_not_trusted",
            Code::AuthorizationMissing => "authorization_missing",
            Code::AuthorizationMismatch => "authorization_mismatch",
            Code::AuthorizationExpired => "authorization_expired",
            Code::NonceMemoryFull => "nonce_memory_full",
            Code::ChainBroken => "chain_broken",
            Code::DelegationWidened => "delegation_widened",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares [`ErrorCode`] from `(variant, wire string, doc)` rows, with its `as_str` and `ALL`.
macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident => $wire:literal, )*) => {
        /// Why a service request failed: the `code` of `{"error":{"code","message"}}` (spec
        /// section 1.3). Stable, like [`Code`]: a client branches on it. Which HTTP status goes
        /// with which code is the service's business, decided in one place there.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* #[serde(rename = $wire)] $variant, )*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable wire string, e.g. `name_taken`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON.
    InvalidJson => "invalid_json",
    /// The body is JSON of the wrong shape, or a member is invalid.
    InvalidRequest => "invalid_request",
    /// A path parameter is invalid.
    InvalidPath => "invalid_path",
    /// The query string is invalid.
    InvalidQuery => "invalid_query",
    /// A DID in the request is invalid.
    InvalidDid => "invalid_did",
    /// The delegation's agent is not a `did:agentid`.
    InvalidAgent => "invalid_agent",
    /// A scope list breaks section 6.2.
    InvalidScope => "invalid_scope",
    /// A spending limit breaks section 6.2.
    InvalidLimit => "invalid_limit",
    /// A time is not RFC 3339, or a validity period is empty, past or too long.
    InvalidTime => "invalid_time",
    /// A reason is empty or over 1024 bytes.
    InvalidReason => "invalid_reason",
    /// A registry operation breaks section 5.
    InvalidOperation => "invalid_operation",
    /// A registry operation's signature does not verify.
    BadSignature => "bad_signature",
    /// Missing or wrong credentials.
    Unauthorized => "unauthorized",
    /// Authenticated, or signed, but not allowed (e.g. not a rotation key).
    Forbidden => "forbidden",
    /// No such resource.
    NotFound => "not_found",
    /// The route exists, the method does not.
    MethodNotAllowed => "method_not_allowed",
    /// The DID is already registered.
    AlreadyRegistered => "already_registered",
    /// The name is bound to another agent.
    NameTaken => "name_taken",
    /// The name is in the registry's reserved list (section 5.1).
    NameReserved => "name_reserved",
    /// `prev` is not the agent's latest operation (nor, for a recovery, one of its operations
    /// still in force), or the agent changed concurrently.
    StalePrev => "stale_prev",
    /// The operation's signer may not make it: not a current rotation key, or a deactivation
    /// not signed by the highest-priority rotation key (section 5.3).
    KeyNotAuthorized => "key_not_authorized",
    /// The operation is over 8 KiB.
    OperationTooLarge => "operation_too_large",
    /// The operation is already in the agent's history (and is not its latest, which would be a
    /// retry).
    DuplicateOperation => "duplicate_operation",
    /// A recovery came after the recovery window of the first operation it would undo.
    RecoveryWindowClosed => "recovery_window_closed",
    /// A recovery is not signed by a rotation key of higher priority than every operation it
    /// would undo.
    RecoveryNotHigher => "recovery_not_higher",
    /// The agent has reached the most operations one agent may have.
    TooManyOperations => "too_many_operations",
    /// The zone is already claimed (section 5.6).
    ZoneTaken => "zone_taken",
    /// The zone cannot be claimed: names under it are already held.
    ZoneOccupied => "zone_occupied",
    /// The name or zone is inside a zone someone owns: only its owner binds names or delegates
    /// sub-zones there.
    ZoneOwned => "zone_owned",
    /// The DNS domain's `_agentid` TXT record does not name the claimed owner.
    DnsProofFailed => "dns_proof_failed",
    /// The name is a DNS name (its last label is a DNS top-level domain): it is had only in the
    /// zone of its domain, claimed with DNS proof, never first come (section 5.6).
    DnsProofRequired => "dns_proof_required",
    /// A `bindName` without the agent's consent: the consent is not signed by one of the
    /// agent's rotation keys, or is for another name, agent or zone owner (section 5.6).
    ConsentInvalid => "consent_invalid",
    /// The same operation again, after a later operation undid its effect: it is not answered
    /// as done (section 5.6).
    OperationSuperseded => "operation_superseded",
    /// The agent is deplatformed.
    AgentDeplatformed => "agent_deplatformed",
    /// The agent is already deplatformed.
    AlreadyDeplatformed => "already_deplatformed",
    /// Conflicts with existing state.
    Conflict => "conflict",
    /// The resource existed and is gone (a deactivated agent).
    Gone => "gone",
    /// An event-stream cursor past the end of the log: the log was restored from an older
    /// state, or this is another registry (section 5.5).
    CursorPastEnd => "cursor_past_end",
    /// The body is over the limit.
    BodyTooLarge => "body_too_large",
    /// The body did not arrive within the service's body timeout (a stalled or trickled
    /// upload); the connection is closed after the answer.
    RequestTimeout => "request_timeout",
    /// The body is not `application/json`.
    UnsupportedMediaType => "unsupported_media_type",
    /// The verifier refused a spend request; `reasons` says why (section 11.2).
    SpendRefused => "spend_refused",
    /// The spend would pass the delegation's total or period budget.
    BudgetExceeded => "budget_exceeded",
    /// The delegation is revoked: the wallet authorizes no spend under it.
    DelegationRevoked => "delegation_revoked",
    /// The delegation is suspended: no new spend until the principal reinstates it.
    DelegationSuspended => "delegation_suspended",
    /// The `Idempotency-Key` was used before with a different request.
    IdempotencyKeyReused => "idempotency_key_reused",
    /// The hold expired before it was captured.
    HoldExpired => "hold_expired",
    /// The hold was already captured or released.
    HoldSettled => "hold_settled",
    /// The principal denied the purchase that needed approval.
    ApprovalDenied => "approval_denied",
    /// The principal did not approve the purchase in time.
    ApprovalExpired => "approval_expired",
    /// The hold is not waiting for approval (already decided).
    NotPending => "not_pending",
    /// A sub-delegation would grant more than its parent (section 6.4).
    DelegationWidened => "delegation_widened",
    /// Too many writes from this client: retry after the `Retry-After` seconds.
    RateLimited => "rate_limited",
    /// Something failed inside the service; logged there, never detailed.
    InternalError => "internal_error",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason for a rejection: a stable code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The machine code.
    pub code: Code,
    /// Human-readable detail; never contains key material.
    pub message: String,
}

impl Reason {
    /// A reason with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_match_serde() {
        for code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: Code = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    /// The JSON schema of error bodies lists exactly the codes of [`ErrorCode`].
    #[test]
    fn error_schema_lists_every_code() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../schemas/error.schema.json")).unwrap();
        let listed: Vec<&str> = schema["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, ours);
    }
}
