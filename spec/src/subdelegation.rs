//! Sub-delegation (section 6.4): an agent passes a narrower part of its authority to another
//! agent. The agent asks its principal's wallet with a signed [`SubDelegationRequest`]; the wallet
//! checks that the request narrows the agent's own delegation, places the new credential's status
//! bit in the principal's list, and answers the credential's payload, which the agent signs as
//! it is (a `vc+jwt` issued by the agent) and registers back.

use serde::{Deserialize, Serialize};

use crate::authorization::SignedRequest;
use crate::credential::{Depth, Scope, SpendingLimit};
use crate::id::Did;
use crate::time::Timestamp;

/// `typ` of a sub-delegation request.
pub const SUBDELEGATION_REQUEST_TYP: &str = "subdelegation-request+jwt";

/// What an agent asks its wallet to prepare: the payload of a compact JWS of type
/// [`SUBDELEGATION_REQUEST_TYP`], signed by an authentication key of `iss`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubDelegationRequest {
    /// The delegating agent: the subject of `parent`.
    pub iss: Did,
    /// The wallet's DID.
    pub aud: Did,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The delegating agent's own delegation's `id`.
    pub parent: String,
    /// [`credential_hash`](crate::authorization::credential_hash) of it, as the agent holds it.
    pub parent_digest: String,
    /// The sub-agent.
    pub agent: Did,
    /// Where the sub-agent may spend: no wider than the parent's.
    #[serde(default)]
    pub scope: Scope,
    /// How much: no more than the parent's.
    pub spending_limit: SpendingLimit,
    /// Further sub-delegations allowed: below the parent's.
    #[serde(default)]
    pub max_depth: Depth,
    /// Start of validity; defaults to now (never before the parent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// End of validity (never after the parent's).
    pub valid_until: Timestamp,
}

impl SignedRequest for SubDelegationRequest {
    const TYP: &'static str = SUBDELEGATION_REQUEST_TYP;
    fn iss(&self) -> &Did {
        &self.iss
    }
    fn aud(&self) -> &Did {
        &self.aud
    }
    fn lifetime(&self) -> (i64, i64) {
        (self.iat, self.exp)
    }
}
