//! The service's HTTP API as types (spec sections 5 to 11): the bodies each route takes and
//! answers, shared by the service that serves them and the SDK's client that calls them
//! (`agentid_sdk::client`), so the two cannot drift. Only data lives here; what a route does
//! with it is the service's business.
//!
//! Amounts are minor units of their currency; times are RFC 3339 strings, as on the wire.

use serde::{Deserialize, Serialize};

use crate::code::{ErrorCode, Reason};
use crate::credential::SpendingLimitFields;
use crate::document::DidDocument;

/// `{"error": {"code", "message"}}`: every failed request's body (section 1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The failure.
    pub error: ErrorDetail,
}

/// A failure: its stable code and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The machine code, as written on the wire (a code newer than this crate is kept as
    /// written: see [`ErrorDetail::known`]).
    pub code: String,
    /// Human-readable detail.
    pub message: String,
    /// For `spend_refused`: each check the spend request failed, with its verifier code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

impl ErrorDetail {
    /// The code, if this crate knows it.
    pub fn known(&self) -> Option<ErrorCode> {
        serde_json::from_value(serde_json::Value::String(self.code.clone())).ok()
    }
}

/// `POST /v1/agents` and `POST /v1/agents/{did}/operations`: a signed registry operation
/// (section 5.3), as its compact JWS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitOperation {
    /// The operation's compact JWS.
    pub operation: String,
}

/// `POST /v1/agents`' answer (201; a retry's is the first one's, 200).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The new DID.
    pub did: String,
    /// The claimed name, if any.
    pub name: Option<String>,
    /// The DID document.
    pub document: DidDocument,
    /// Sequence number of the log entry.
    pub log_seq: i64,
}

/// `POST /v1/agents/{did}/operations`' answer: where the agent stands after the operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operated {
    /// The agent.
    pub did: String,
    /// `active` or `deactivated`.
    pub status: String,
    /// The hash of its latest operation: the `prev` of its next.
    pub head: String,
    /// Sequence number of the log entry.
    pub log_seq: i64,
    /// The hashes of operations a recovery undid.
    pub nullified: Vec<String>,
}

/// `GET /v1/agents/{did}/operations`' answer: the agent's signed operations in the order
/// received, undone ones included, with the time the registry received each (what a resolver
/// replays from the genesis, section 5.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentOperations {
    /// The agent.
    pub did: String,
    /// Its operations, oldest first.
    pub operations: Vec<ServedOperation>,
}

/// One operation of [`AgentOperations`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedOperation {
    /// Its log sequence number.
    pub seq: i64,
    /// Its compact JWS.
    pub operation: String,
    /// When the registry received it, RFC 3339.
    pub received_at: String,
}

/// `GET /v1/agents/{did}/log`'s answer: the agent's entries in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLog {
    /// The agent.
    pub did: String,
    /// Its entries, oldest first.
    pub entries: Vec<crate::log::LogEntry>,
}

/// `POST /v1/principals`' answer (201): a new principal's account, shown once.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPrincipal {
    /// The account id.
    pub principal_id: String,
    /// The principal's `did:key`.
    pub did: String,
    /// The bearer token, `<account id>.<secret>`.
    pub token: String,
    /// A reminder for whoever reads the answer.
    pub note: String,
}

impl std::fmt::Debug for NewPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPrincipal")
            .field("principal_id", &self.principal_id)
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

/// `GET /v1/principals/me`'s answer: the authenticated principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalAccount {
    /// The account id.
    pub principal_id: String,
    /// The principal's `did:key`.
    pub did: String,
}

/// The scope of a [`DelegationRequest`], before section 6.2's bounds are checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeRequest {
    /// Merchant DIDs the agent may pay (none: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchants: Option<Vec<String>>,
    /// Categories it may buy in (none: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

/// `POST /v1/delegations`: what a principal asks for (section 6): an agent, a scope, a limit
/// and a validity period. The service parses each member into its type, each failure with its
/// own code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DelegationRequest {
    /// The agent's DID.
    pub agent: String,
    /// Where it may spend.
    #[serde(default)]
    pub scope: ScopeRequest,
    /// How much.
    pub spending_limit: SpendingLimitFields,
    /// RFC 3339; now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// RFC 3339.
    pub valid_until: String,
    /// How many times it may be passed on (0 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u8>,
}

/// What the wallet answers on issuance: the credential and where its status lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedDelegation {
    /// Credential id (`urn:uuid:...`).
    pub id: String,
    /// The `vc+jwt`.
    pub credential: String,
    /// The principal's DID.
    pub issuer: String,
    /// The agent's DID.
    pub agent: String,
    /// Status list credential URL.
    pub status_list_credential: String,
    /// Bit index in it.
    pub status_list_index: u64,
}

/// A delegation as the principal sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegationRecord {
    /// Credential id.
    pub id: String,
    /// The agent's DID.
    pub agent: String,
    /// RFC 3339 start.
    pub valid_from: String,
    /// RFC 3339 end.
    pub valid_until: String,
    /// Status list credential URL.
    pub status_list_credential: String,
    /// Bit index in it.
    pub status_list_index: i64,
    /// Whether it is revoked.
    pub revoked: bool,
    /// When, RFC 3339.
    pub revoked_at: Option<String>,
    /// Why, as the principal said.
    pub revocation_reason: Option<String>,
    /// Whether it is suspended (no new holds until reinstated).
    pub suspended: bool,
    /// Since when, RFC 3339.
    pub suspended_at: Option<String>,
    /// For a sub-delegation: the delegation it narrows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// For a sub-delegation: the agent that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Its place in the chain: 0 for the principal's own delegation.
    pub depth: i64,
    /// False while a prepared sub-delegation waits for its agent's signature.
    pub signed: bool,
}

/// `GET /v1/delegations`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegations {
    /// The principal's delegations and the sub-delegations below them.
    pub delegations: Vec<DelegationRecord>,
}

/// `POST /v1/delegations/{id}/revoke`'s optional body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why (at most 1,024 bytes, no NUL), kept with the revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/subdelegations`: an agent asks for a sub-delegation (section 6.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubDelegationSubmission {
    /// A `subdelegation-request+jwt` signed by the delegating agent.
    pub request: String,
}

/// `POST /v1/subdelegations`' answer (201): the credential to sign, as the wallet prepared it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreparedLink {
    /// The credential id (`urn:uuid:...`).
    pub id: String,
    /// base64url of the credential's payload, to be signed as it is.
    pub payload: String,
    /// The delegating agent (the credential's issuer).
    pub issuer: String,
    /// The sub-agent.
    pub agent: String,
    /// The principal's status list the credential's bit is in.
    pub status_list_credential: String,
    /// Bit index in it.
    pub status_list_index: u64,
}

/// `POST /v1/subdelegations/signed`: the prepared payload, signed by the delegating agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedSubDelegation {
    /// The `vc+jwt`.
    pub credential: String,
}

/// `POST /v1/spend/authorizations`: the agent's signed spend request (section 11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendAuthorizationRequest {
    /// The spend request presentation (a compact JWS).
    pub presentation: String,
}

/// Where a hold stands: an approval past its deadline reads as `approval_expired`, a hold past
/// its expiry as `expired`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Waiting for the principal's approval (step-up); counted against the budget meanwhile.
    Pending,
    /// The principal denied it.
    Denied,
    /// The principal did not decide in time.
    ApprovalExpired,
    /// Counted against the budget until it expires.
    Held,
    /// Spent for good.
    Captured,
    /// Given back (a cancelled order).
    Released,
    /// Not captured in time: given back.
    Expired,
}

/// A hold as the agent, the merchant and the principal see it: the answer of a spend
/// authorization (201 held, 202 waiting for approval), of its poll and of its settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// The hold id (the authorization's `urn:uuid:`).
    pub hold: String,
    /// The delegation it draws on.
    pub delegation: String,
    /// The merchant.
    pub merchant: String,
    /// The merchant's nonce.
    pub nonce: String,
    /// Amount in minor units.
    pub amount: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// Where it stands.
    pub state: HoldState,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; a held amount returns to the budget then unless captured.
    pub expires_at: String,
    /// The spend authorization (`vc+jwt`) the agent presents; absent while the hold waits
    /// for approval, or once it was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
}

/// `GET /v1/delegations/{id}/holds`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holds {
    /// Newest first.
    pub holds: Vec<Hold>,
}

/// `GET /v1/approvals`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approvals {
    /// Oldest first.
    pub approvals: Vec<Hold>,
}

/// `POST /v1/spend/authorizations/{hold}/capture` and `.../release`: the merchant's signed
/// settlement (section 11.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    /// The settlement's compact JWS.
    pub settlement: String,
}

/// What is left of a delegation's budget, in minor units of its currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// ISO 4217 code.
    pub currency: String,
    /// Largest single purchase.
    pub per_transaction: u64,
    /// The total the principal set.
    pub total: u64,
    /// Held and not yet captured, released or expired.
    pub held: u64,
    /// Captured.
    pub captured: u64,
    /// `total - held - captured`.
    pub remaining: u64,
    /// The current period's budget, if the delegation has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<PeriodBudget>,
}

/// What is left of a delegation's budget for the current calendar period (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodBudget {
    /// `day`, `week` or `month`.
    pub period: String,
    /// The budget per period.
    pub amount: u64,
    /// Held and captured in this period.
    pub used: u64,
    /// `amount - used`, and never more than what remains of the total.
    pub remaining: u64,
    /// RFC 3339: when the next period starts.
    pub resets_at: String,
}

/// `POST /v1/verify`: the presentation and the merchant's context side by side (not
/// `flatten`: serde buffers flattened numbers in a way that breaks integer amounts under
/// `arbitrary_precision`). Every member is parsed into its type; a bad one is
/// `invalid_request`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyRequest {
    /// The checkout presentation (a compact JWS).
    pub presentation: String,
    /// The merchant's DID: the presentation's audience.
    pub merchant: crate::id::Did,
    /// The nonce the merchant issued for this checkout.
    pub nonce: crate::presentation::Nonce,
    /// The amount to be paid, minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<crate::credential::Amount>,
    /// Its currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<crate::credential::Currency>,
    /// The order's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_hash: Option<crate::presentation::OrderHash>,
    /// The purchase's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<crate::credential::Category>,
}

/// `POST /v1/verify`'s answer as a remote client reads it: the service's decision and its
/// reasons. A record of what the service said, not a verified authorization: a program that
/// must hold proof verifies the presentation itself (`agentid_sdk::verify`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationAnswer {
    /// `accepted` or `rejected`.
    pub decision: Outcome,
    /// Why not (empty when accepted).
    pub reasons: Vec<Reason>,
    /// The claims the service checked, as it reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<serde_json::Value>,
    /// When it decided, Unix seconds.
    pub checked_at: i64,
}

/// Yes or no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every check passed.
    Accepted,
    /// At least one check failed.
    Rejected,
}

/// `GET /v1/log/checkpoint`'s answer: the log's size and root now, signed by the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedCheckpoint {
    /// The signed [`Checkpoint`](crate::log::Checkpoint), a compact JWS.
    pub checkpoint: String,
    /// Its tree size, as signed.
    pub tree_size: u64,
    /// Its root hash, base64url, as signed.
    pub root_hash: String,
    /// Its time, RFC 3339.
    pub timestamp: String,
}

/// `POST /v1/zones`: a signed zone operation (section 5.6), with the free text of a moderation
/// decision, whose hash the operation carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSubmission {
    /// The operation's compact JWS (`agentid-zone+jws`).
    pub operation: String,
    /// A moderation decision's reason; absent for the other operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/zones`' answer: what the operation did, and its place in the log. Which members
/// are there depends on the operation: a claim or delegation names the zone and its owner (and
/// its parent, or whether it was claimed as a DNS domain); a binding the name, the agent and
/// the zone (`unbound` once released); a moderation decision what a [`ModerationDecision`]
/// holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneOperated {
    /// The zone claimed, delegated, or that names the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The zone's owner (`did:key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The zone that delegated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Claimed as a DNS domain, with DNS proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<bool>,
    /// The name bound or released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The agent named, or moderated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    /// The name was released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unbound: Option<bool>,
    /// A moderation decision's outcome: `suspended`, `deplatformed` or `active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A moderation decision's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A suspension's reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// base64url SHA-256 of a suspension's evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
    /// A decision's time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// A suspension's end, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The operation's position in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_seq: Option<i64>,
    /// A decision's log entry hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_hash: Option<String>,
}

/// An operator's (or a zone owner's) decision on an agent, as recorded in the log (section
/// 5.4): `POST /v1/admin/agents/{did}/suspend`, `.../deplatform`, `.../reinstate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModerationDecision {
    /// The agent.
    pub did: String,
    /// `suspended`, `deplatformed` or `active`.
    pub status: String,
    /// The decision's reason.
    pub reason: String,
    /// A suspension's reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// base64url SHA-256 of a suspension's evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
    /// When, RFC 3339.
    pub at: String,
    /// A suspension's end, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The decision's position in the log.
    pub log_seq: i64,
    /// The decision's log entry hash.
    pub entry_hash: String,
}

/// `POST /v1/admin/agents/{did}/suspend`: a suspension for `durationSecs`, with a reason code,
/// a reason and optionally the evidence's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentSuspension {
    /// One of the suspension reason codes (section 5.4).
    pub reason_code: String,
    /// The operator's reason.
    pub reason: String,
    /// base64url SHA-256 (32 bytes) of the evidence, which stays with the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
    /// How long, in seconds.
    pub duration_secs: i64,
}

/// `POST /v1/admin/agents/{did}/deplatform` and `.../reinstate`: the operator's reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModerationReason {
    /// 1 to 1,024 bytes once trimmed.
    pub reason: String,
}

/// `POST /v1/admin/operators`: a named operator to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    /// Its name, as decisions record it.
    pub name: String,
}

/// `POST /v1/admin/operators`' answer (201): the operator's token, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedOperator {
    /// Its name.
    pub name: String,
    /// Its bearer token: keep it; the service stores only a keyed hash.
    pub token: String,
    /// The root operator who created it.
    pub created_by: String,
}

/// An operator account as listed (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorAccount {
    /// Its name.
    pub name: String,
    /// When it was created, RFC 3339.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Who revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
}

/// `GET /v1/admin/operators`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operators {
    /// Every account, oldest first.
    pub operators: Vec<OperatorAccount>,
}

/// `POST /v1/admin/operators/{name}/revoke`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokedOperator {
    /// The operator revoked.
    pub revoked: String,
    /// The root operator who revoked it.
    pub revoked_by: String,
}

/// A zone as the registry holds it (`GET /v1/zones/{zone}`), checked against the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    /// The zone.
    pub zone: String,
    /// Its owner's `did:key`.
    pub owner: String,
    /// The zone that delegated it, if any.
    pub parent: Option<String>,
    /// Claimed as a DNS domain.
    pub dns: bool,
}

/// `GET /v1/log/keys`' answer: every key the service has signed checkpoints with, as a
/// compact JWS of [`LogKeys`](crate::log::LogKeys) (`typ` `agentid-log-keys+jwt`) signed by a
/// key of its current DID document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedLogKeys {
    /// The signed key list.
    pub keys: String,
}

/// `GET /v1/log/entries?after=&limit=`' answer: public entries after `after`, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// The entries, at most `limit`.
    pub entries: Vec<crate::log::PublicEntry>,
}

/// `GET /v1/log/proofs/inclusion?seq=&treeSize=`' answer (RFC 9162 2.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// The entry at `seq`, as its leaf covers it.
    pub entry: crate::log::PublicEntry,
    /// `seq - 1`.
    pub leaf_index: u64,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// The audit path, base64url.
    pub hashes: Vec<String>,
}

/// `GET /v1/log/proofs/consistency?first=&second=`' answer (RFC 9162 2.1.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The smaller tree's size.
    pub first: u64,
    /// The larger tree's size.
    pub second: u64,
    /// The proof, base64url.
    pub hashes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code newer than this crate stays readable as written.
    #[test]
    fn unknown_codes_are_kept() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"delegation_revoked","message":"m"}}"#)
                .unwrap();
        assert_eq!(body.error.known(), Some(ErrorCode::DelegationRevoked));
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"from_the_future","message":"m"}}"#).unwrap();
        assert_eq!(body.error.known(), None);
        assert_eq!(body.error.code, "from_the_future");
    }
}
