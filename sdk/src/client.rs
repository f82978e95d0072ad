//! A typed client of agentid's HTTP API (feature `client`): what an agent developer, a
//! principal's app and a merchant call over HTTP, with the API's own types in and out
//! ([`agentid_spec::api`]) and the service's stable error codes as failures
//! ([`ClientError::code`]).
//!
//! The client carries what the service answers; it proves nothing by itself. A merchant that
//! must know an agent verifies its presentation with [`crate::verify`], and a monitor audits the
//! log with the resolver's replay; [`Client::verify`] asks the service to do the first for it.
//!
//! ```no_run
//! # async fn run() -> Result<(), agentid_sdk::client::ClientError> {
//! use agentid_sdk::client::Client;
//! use agentid_sdk::keys::KeyPair;
//!
//! let client = Client::new("http://127.0.0.1:8080")?;
//! let key = KeyPair::generate();
//! let now = agentid_sdk::clock::Clock::now(&agentid_sdk::clock::SystemClock);
//! let genesis = agentid_sdk::operation::create(&key, &key, None, now);
//! let registered = client.register(&genesis.operation).await?;
//! println!("{}", registered.value.did);
//! # Ok(()) }
//! ```

use std::time::Duration;

use agentid_resolver::http::encode_path_segment;
use agentid_spec::api::{
    AgentLog, AgentOperations, AgentSuspension, Approvals, Budget, ConsistencyProof,
    CreatedOperator, DelegationRecord, DelegationRequest, Delegations, ErrorBody, ErrorDetail,
    Hold, Holds, InclusionProof, IssuedDelegation, LogPage, ModerationDecision, ModerationReason,
    NewOperator, NewPrincipal, Operated, OperatorAccount, Operators, PreparedLink,
    PrincipalAccount, Registered, RevokeRequest, RevokedOperator, SettlementRequest,
    SignedCheckpoint, SignedLogKeys, SignedSubDelegation, SpendAuthorizationRequest,
    SubDelegationSubmission, SubmitOperation, VerificationAnswer, VerifyRequest, Zone,
    ZoneOperated, ZoneSubmission,
};
use agentid_spec::code::ErrorCode;
use agentid_spec::document::{DidDocument, ResolutionResult};
use agentid_spec::id::AgentDid;
use agentid_spec::log::PublicEntry;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How long a request may take, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read, in bytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service could not be reached, or its answer not read.
    #[error("cannot reach {base}: {message}")]
    Unreachable {
        /// The service's base URL.
        base: String,
        /// What went wrong.
        message: String,
    },
    /// The service refused: its status and `{"error": {"code", "message"}}`.
    #[error("HTTP {status}: {}: {}", detail.code, detail.message)]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The service's error.
        detail: ErrorDetail,
    },
    /// An answer that is not what the API says (the wrong shape, or not JSON).
    #[error("HTTP {status}: unexpected answer: {message}")]
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        message: String,
    },
    /// The client could not be built (its TLS configuration) or the base URL is not one.
    #[error("{0}")]
    Setup(String),
}

impl ClientError {
    /// The service's error code, when it refused with one this crate knows.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused { detail, .. } => detail.known(),
            _ => None,
        }
    }

    /// The verifier's codes of a refused spend request (`spend_refused`), each check it
    /// failed; empty otherwise.
    pub fn reasons(&self) -> &[agentid_spec::code::Reason] {
        match self {
            ClientError::Refused { detail, .. } => &detail.reasons,
            _ => &[],
        }
    }

    /// The HTTP status of the answer, if one came.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// A successful answer: its body, its status, and whether it repeats an earlier one (a retry
/// answered as the first time, `Idempotent-Replayed: true`).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer<T> {
    /// The body.
    pub value: T,
    /// The HTTP status (201 created, 202 waiting for approval, 200 ...).
    pub status: u16,
    /// True when the service answered a retry with the first answer.
    pub replayed: bool,
}

/// The HTTP API of one agentid service.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// How a call authenticates: a principal's or an operator's bearer token, or not at all.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
}

impl Client {
    /// A client of the service at `base` (`http://host:port`, no path), with
    /// [`DEFAULT_TIMEOUT`] per request.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Self::with_timeout(base, DEFAULT_TIMEOUT)
    }

    /// A client of the service at `base`, each request within `timeout`.
    pub fn with_timeout(base: &str, timeout: Duration) -> Result<Self, ClientError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "{base}: the service's URL is http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The service's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    // Registry (spec section 5).

    /// Registers an agent with its signed genesis operation (`POST /v1/agents`): 201, or 200
    /// with [`Answer::replayed`] for the same genesis again.
    pub async fn register(&self, operation: &str) -> Result<Answer<Registered>, ClientError> {
        let body = SubmitOperation {
            operation: operation.to_owned(),
        };
        self.send(
            reqwest::Method::POST,
            "/v1/agents",
            Auth::None,
            None,
            Some(&body),
        )
        .await
    }

    /// Applies a signed operation to `did` (update, recover, deactivate:
    /// `POST /v1/agents/{did}/operations`).
    pub async fn operate(
        &self,
        did: &AgentDid,
        operation: &str,
    ) -> Result<Answer<Operated>, ClientError> {
        let body = SubmitOperation {
            operation: operation.to_owned(),
        };
        let path = format!("/v1/agents/{did}/operations");
        self.send(reqwest::Method::POST, &path, Auth::None, None, Some(&body))
            .await
    }

    /// The agent's signed operations as the registry serves them (`GET
    /// /v1/agents/{did}/operations`): what `agentid_spec::history::History::replay` checks.
    pub async fn operations(&self, did: &AgentDid) -> Result<AgentOperations, ClientError> {
        let path = format!("/v1/agents/{}/operations", path_segment(did.as_str())?);
        self.get(&path, Auth::None).await
    }

    /// The agent's entries in the log (`GET /v1/agents/{did}/log`).
    pub async fn agent_log(&self, did: &str) -> Result<AgentLog, ClientError> {
        let path = format!("/v1/agents/{}/log", path_segment(did)?);
        self.get(&path, Auth::None).await
    }

    /// What the service says `id` (a DID or an agent name) resolves to (`GET
    /// /1.0/identifiers/{id}`), a deactivated or deplatformed agent's result (410) included:
    /// its standing is in `didDocumentMetadata`. The service's word: `agentid_resolver`
    /// replays an agent's operations to prove its document.
    pub async fn resolve(&self, id: &str) -> Result<ResolutionResult, ClientError> {
        Ok(self.resolution(id).await?.value)
    }

    /// [`Client::resolve`] with the HTTP status: 200, or 410 for an agent deactivated or
    /// deplatformed, whose result says which (and is no success).
    pub async fn resolution(&self, id: &str) -> Result<Answer<ResolutionResult>, ClientError> {
        let path = format!("/1.0/identifiers/{}", path_segment(id)?);
        self.send_accepting::<(), _>(reqwest::Method::GET, &path, Auth::None, None, None, 410)
            .await
    }

    // Wallet (sections 6, 7 and 11).

    /// Creates a principal (`POST /v1/principals`): its DID and bearer token, shown once.
    pub async fn create_principal(&self) -> Result<NewPrincipal, ClientError> {
        self.post::<(), _>("/v1/principals", Auth::None, None).await
    }

    /// The service's own DID document (`GET /.well-known/did.json`): the wallet's DID and
    /// the keys it signs with.
    pub async fn service_document(&self) -> Result<DidDocument, ClientError> {
        self.get("/.well-known/did.json", Auth::None).await
    }

    /// The principal whose token this is (`GET /v1/principals/me`).
    pub async fn principal(&self, token: &str) -> Result<PrincipalAccount, ClientError> {
        self.get("/v1/principals/me", Auth::Bearer(token)).await
    }

    /// Issues a delegation to an agent on the principal's behalf (`POST /v1/delegations`).
    pub async fn delegate(
        &self,
        token: &str,
        request: &DelegationRequest,
    ) -> Result<IssuedDelegation, ClientError> {
        self.post("/v1/delegations", Auth::Bearer(token), Some(request))
            .await
    }

    /// The principal's delegations (`GET /v1/delegations`).
    pub async fn delegations(&self, token: &str) -> Result<Vec<DelegationRecord>, ClientError> {
        let list: Delegations = self.get("/v1/delegations", Auth::Bearer(token)).await?;
        Ok(list.delegations)
    }

    /// Revokes the principal's delegation `id`, with an optional reason (`POST
    /// /v1/delegations/{id}/revoke`).
    pub async fn revoke(
        &self,
        token: &str,
        id: &str,
        reason: Option<&str>,
    ) -> Result<DelegationRecord, ClientError> {
        let body = RevokeRequest {
            reason: reason.map(str::to_owned),
        };
        let path = format!("/v1/delegations/{}/revoke", path_segment(id)?);
        self.post(&path, Auth::Bearer(token), Some(&body)).await
    }

    /// Suspends (`true`) or reinstates the principal's delegation `id`.
    pub async fn set_suspended(
        &self,
        token: &str,
        id: &str,
        suspended: bool,
    ) -> Result<DelegationRecord, ClientError> {
        let action = if suspended { "suspend" } else { "reinstate" };
        let path = format!("/v1/delegations/{}/{action}", path_segment(id)?);
        self.post::<(), _>(&path, Auth::Bearer(token), None).await
    }

    /// What is left of the principal's delegation `id` (`GET /v1/delegations/{id}/budget`).
    pub async fn budget(&self, token: &str, id: &str) -> Result<Budget, ClientError> {
        let path = format!("/v1/delegations/{}/budget", path_segment(id)?);
        self.get(&path, Auth::Bearer(token)).await
    }

    /// The holds on the principal's delegation `id` and below it.
    pub async fn holds(&self, token: &str, id: &str) -> Result<Vec<Hold>, ClientError> {
        let path = format!("/v1/delegations/{}/holds", path_segment(id)?);
        let list: Holds = self.get(&path, Auth::Bearer(token)).await?;
        Ok(list.holds)
    }

    /// The principal's purchases waiting for approval (`GET /v1/approvals`).
    pub async fn approvals(&self, token: &str) -> Result<Vec<Hold>, ClientError> {
        let list: Approvals = self.get("/v1/approvals", Auth::Bearer(token)).await?;
        Ok(list.approvals)
    }

    /// Approves (`true`) or denies a purchase waiting for the principal.
    pub async fn decide(
        &self,
        token: &str,
        hold: &str,
        approve: bool,
    ) -> Result<Hold, ClientError> {
        let action = if approve { "approve" } else { "deny" };
        let path = format!("/v1/approvals/{}/{action}", path_segment(hold)?);
        self.post::<(), _>(&path, Auth::Bearer(token), None).await
    }

    /// Asks for a sub-delegation with the delegating agent's signed request (`POST
    /// /v1/subdelegations`): the credential to sign.
    pub async fn prepare_subdelegation(&self, request: &str) -> Result<PreparedLink, ClientError> {
        let body = SubDelegationSubmission {
            request: request.to_owned(),
        };
        self.post("/v1/subdelegations", Auth::None, Some(&body))
            .await
    }

    /// Registers the sub-delegation the agent signed (`POST /v1/subdelegations/signed`).
    pub async fn register_subdelegation(
        &self,
        credential: &str,
    ) -> Result<IssuedDelegation, ClientError> {
        let body = SignedSubDelegation {
            credential: credential.to_owned(),
        };
        self.post("/v1/subdelegations/signed", Auth::None, Some(&body))
            .await
    }

    /// Asks the wallet to hold a purchase with the agent's signed spend request (`POST
    /// /v1/spend/authorizations`): 201 held (with the authorization to present), 202 waiting
    /// for the principal's approval; `idempotency_key` makes a retry safe.
    pub async fn authorize_spend(
        &self,
        presentation: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Answer<Hold>, ClientError> {
        let body = SpendAuthorizationRequest {
            presentation: presentation.to_owned(),
        };
        self.send(
            reqwest::Method::POST,
            "/v1/spend/authorizations",
            Auth::None,
            idempotency_key.map(|k| ("idempotency-key", k)),
            Some(&body),
        )
        .await
    }

    /// The hold `id` as it stands (`GET /v1/spend/authorizations/{id}`).
    pub async fn hold(&self, id: &str) -> Result<Hold, ClientError> {
        let path = format!("/v1/spend/authorizations/{}", path_segment(id)?);
        self.get(&path, Auth::None).await
    }

    /// Captures (`true`) or releases the hold `id` with the merchant's signed settlement.
    pub async fn settle(
        &self,
        hold: &str,
        settlement: &str,
        capture: bool,
    ) -> Result<Hold, ClientError> {
        let action = if capture { "capture" } else { "release" };
        let path = format!("/v1/spend/authorizations/{}/{action}", path_segment(hold)?);
        let body = SettlementRequest {
            settlement: settlement.to_owned(),
        };
        self.post(&path, Auth::None, Some(&body)).await
    }

    // Zones (section 5.6) and moderation (section 5.4).

    /// Submits a signed zone operation (`POST /v1/zones`) with a moderation decision's reason:
    /// what it did, or with [`Answer::replayed`] the first answer to the same operation.
    pub async fn zone_operation(
        &self,
        submission: &ZoneSubmission,
    ) -> Result<Answer<ZoneOperated>, ClientError> {
        self.send(
            reqwest::Method::POST,
            "/v1/zones",
            Auth::None,
            None,
            Some(submission),
        )
        .await
    }

    /// A zone and its owner (`GET /v1/zones/{zone}`), as the log proves it.
    pub async fn zone(&self, zone: &str) -> Result<Zone, ClientError> {
        let path = format!("/v1/zones/{}", path_segment(zone)?);
        self.get(&path, Auth::None).await
    }

    /// Suspends an agent, as the operator whose token this is (`POST
    /// /v1/admin/agents/{did}/suspend`).
    pub async fn suspend_agent(
        &self,
        token: &str,
        did: &str,
        suspension: &AgentSuspension,
    ) -> Result<ModerationDecision, ClientError> {
        let path = format!("/v1/admin/agents/{}/suspend", path_segment(did)?);
        self.post(&path, Auth::Bearer(token), Some(suspension))
            .await
    }

    /// Deplatforms an agent, as the operator whose token this is, with its reason.
    pub async fn deplatform_agent(
        &self,
        token: &str,
        did: &str,
        reason: &str,
    ) -> Result<ModerationDecision, ClientError> {
        self.decide_on_agent(token, did, "deplatform", reason).await
    }

    /// Reinstates a suspended or deplatformed agent, as the operator whose token this is.
    pub async fn reinstate_agent(
        &self,
        token: &str,
        did: &str,
        reason: &str,
    ) -> Result<ModerationDecision, ClientError> {
        self.decide_on_agent(token, did, "reinstate", reason).await
    }

    /// `POST /v1/admin/agents/{did}/{action}` with the operator's reason.
    async fn decide_on_agent(
        &self,
        token: &str,
        did: &str,
        action: &str,
        reason: &str,
    ) -> Result<ModerationDecision, ClientError> {
        let path = format!("/v1/admin/agents/{}/{action}", path_segment(did)?);
        let body = ModerationReason {
            reason: reason.to_owned(),
        };
        self.post(&path, Auth::Bearer(token), Some(&body)).await
    }

    /// Creates a named operator, as the root operator (`POST /v1/admin/operators`): its token,
    /// shown this once.
    pub async fn add_operator(
        &self,
        root_token: &str,
        name: &str,
    ) -> Result<CreatedOperator, ClientError> {
        let body = NewOperator {
            name: name.to_owned(),
        };
        self.post("/v1/admin/operators", Auth::Bearer(root_token), Some(&body))
            .await
    }

    /// Every operator account (`GET /v1/admin/operators`).
    pub async fn operators(&self, token: &str) -> Result<Vec<OperatorAccount>, ClientError> {
        let list: Operators = self.get("/v1/admin/operators", Auth::Bearer(token)).await?;
        Ok(list.operators)
    }

    /// Revokes a named operator, as the root operator.
    pub async fn revoke_operator(
        &self,
        root_token: &str,
        name: &str,
    ) -> Result<RevokedOperator, ClientError> {
        let path = format!("/v1/admin/operators/{}/revoke", path_segment(name)?);
        self.post::<(), _>(&path, Auth::Bearer(root_token), None)
            .await
    }

    // Verification (section 8) and the log (section 5.5).

    /// Asks the service to verify a checkout presentation in the merchant's context (`POST
    /// /v1/verify`): its decision, and why.
    pub async fn verify(&self, request: &VerifyRequest) -> Result<VerificationAnswer, ClientError> {
        self.post("/v1/verify", Auth::None, Some(request)).await
    }

    /// The log's signed checkpoint now (`GET /v1/log/checkpoint`).
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint, ClientError> {
        self.get("/v1/log/checkpoint", Auth::None).await
    }

    /// Every key the service has signed checkpoints with, signed (`GET /v1/log/keys`).
    pub async fn log_keys(&self) -> Result<SignedLogKeys, ClientError> {
        self.get("/v1/log/keys", Auth::None).await
    }

    /// Up to `limit` public log entries after `after` (`GET /v1/log/entries`).
    pub async fn log_entries(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<PublicEntry>, ClientError> {
        let path = format!("/v1/log/entries?after={after}&limit={limit}");
        let page: LogPage = self.get(&path, Auth::None).await?;
        Ok(page.entries)
    }

    /// The proof that entry `seq` is in the log of `tree_size` entries.
    pub async fn inclusion_proof(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, ClientError> {
        let path = format!("/v1/log/proofs/inclusion?seq={seq}&treeSize={tree_size}");
        self.get(&path, Auth::None).await
    }

    /// The proof that the log of `first` entries is the beginning of the log of `second`.
    pub async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyProof, ClientError> {
        let path = format!("/v1/log/proofs/consistency?first={first}&second={second}");
        self.get(&path, Auth::None).await
    }

    /// `POST path` with `body`: the answer's body.
    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        auth: Auth<'_>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let answer = self
            .send(reqwest::Method::POST, path, auth, None, body)
            .await?;
        Ok(answer.value)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, auth: Auth<'_>) -> Result<T, ClientError> {
        let answer = self
            .send::<(), _>(reqwest::Method::GET, path, auth, None, None)
            .await?;
        Ok(answer.value)
    }

    /// Sends one request and reads its answer: the body as `T` for a 2xx, the service's error
    /// otherwise.
    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Auth<'_>,
        header: Option<(&str, &str)>,
        body: Option<&B>,
    ) -> Result<Answer<T>, ClientError> {
        self.send_accepting(method, path, auth, header, body, 200)
            .await
    }

    /// [`Client::send`], reading a body of status `also` as `T` too.
    async fn send_accepting<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Auth<'_>,
        header: Option<(&str, &str)>,
        body: Option<&B>,
        also: u16,
    ) -> Result<Answer<T>, ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Auth::Bearer(token) = auth {
            req = req.bearer_auth(token);
        }
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            base: self.base.clone(),
            message: e.without_url().to_string(),
        };
        let mut resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let replayed = resp
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes() == b"true");
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(ClientError::Unexpected {
                    status,
                    message: format!("more than {MAX_ANSWER_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let unexpected = |e: serde_json::Error| ClientError::Unexpected {
            status,
            message: e.to_string(),
        };
        if (200..300).contains(&status) || status == also {
            let value = serde_json::from_slice(&bytes).map_err(unexpected)?;
            return Ok(Answer {
                value,
                status,
                replayed,
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Refused {
                status,
                detail: body.error,
            }),
            // A resolution's failure is a DID Resolution Result, not an error body.
            Err(e) => match serde_json::from_slice::<ResolutionResult>(&bytes) {
                Ok(r) => Err(ClientError::Refused {
                    status,
                    detail: ErrorDetail {
                        code: r
                            .did_resolution_metadata
                            .error
                            .map(|c| c.as_str().to_owned())
                            .unwrap_or_else(|| "http_error".into()),
                        message: r.did_resolution_metadata.error_message.unwrap_or_default(),
                        reasons: Vec::new(),
                    },
                }),
                Err(_) => Err(unexpected(e)),
            },
        }
    }
}

/// `s` as one path segment ([`encode_path_segment`]: every byte but the unreserved ones
/// percent-encoded, so an id cannot add a segment or a query); `.` and `..`, which a URL reads
/// as moves, are refused.
fn path_segment(s: &str) -> Result<String, ClientError> {
    if s.is_empty() || s == "." || s == ".." {
        return Err(ClientError::Setup(format!("{s:?} is not an id")));
    }
    Ok(encode_path_segment(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id is one segment whatever it holds.
    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(path_segment("urn:uuid:0-1").unwrap(), "urn:uuid:0-1");
        assert_eq!(path_segment("a/../b?x#y").unwrap(), "a%2F..%2Fb%3Fx%23y");
        assert_eq!(path_segment("é").unwrap(), "%C3%A9");
        for bad in ["", ".", ".."] {
            assert!(path_segment(bad).is_err(), "{bad:?}");
        }
    }

    /// The base URL is checked before anything is sent.
    #[test]
    fn a_base_is_a_service_url() {
        assert!(matches!(Client::new("ftp://x"), Err(ClientError::Setup(_))));
        assert_eq!(Client::new("http://x:1/").unwrap().base(), "http://x:1");
    }
}
