//! The verifier's [`Source`] inside `agentid serve`: the registry and the wallet of this process,
//! read in memory. Nothing goes over HTTP to this service itself, and no second cache sits
//! between them and the verifier: the verifier keeps the only one, and drops it the moment the
//! registry or the wallet moves its generation. Status lists on other origins (allowed by
//! configuration) are fetched over HTTP.

use agentid_registry::{Lookup, Registry};
use agentid_resolver::http::{origin, Chain, HttpSource};
use agentid_resolver::{is_registry_id, ResolveError, Source};
use agentid_spec::document::{DocumentMetadata, ResolutionResult};
use agentid_spec::id::{AgentDid, AgentName, AGENTID_METHOD_PREFIX, DID_WEB_PREFIX};
use agentid_wallet::Wallet;

/// The registry and the wallet of this process, and HTTP for status lists elsewhere.
pub struct LocalSource {
    registry: Registry,
    wallet: Wallet,
    /// This service's own origin: never fetched over HTTP.
    own_origin: String,
    /// Status lists on other allowed origins.
    remote: HttpSource,
    /// The foreign registries the trust policy names (`--trust-registry`), asked in turn for a
    /// `did:agentid` or a name this registry does not have; each answer replayed from the
    /// agent's signed operations, as any remote verifier does.
    foreign: Vec<HttpSource>,
    /// When each agent's trusted registries were last told what the others hold
    /// ([`LocalSource::relay`]), so that a resolution relays at most once per
    /// [`RELAY_EVERY`] for one agent.
    relayed: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Agents whose registries are to be compared once an operation has been accepted here
    /// ([`LocalSource::repair_soon`]).
    scheduled: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Least time between two relays for one agent from a resolution.
const RELAY_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How long after an accepted operation its agent's registries are compared (operations
/// arriving together are compared once).
const REPAIR_AFTER: std::time::Duration = std::time::Duration::from_millis(300);
/// Most agents remembered for [`RELAY_EVERY`], or waiting for [`REPAIR_AFTER`]; past it a
/// relay waits for the next resolution.
const MAX_RELAYS_TRACKED: usize = 4096;

/// One registry's answer for an agent: from this registry (`from: None`) or the foreign one
/// at that index.
struct Held {
    result: ResolutionResult,
    chain: Chain,
    vouched: String,
    from: Option<usize>,
}

impl LocalSource {
    /// A source over `registry` and `wallet`, serving at `public_url`; `remote` fetches status
    /// lists from the other origins it allows.
    pub fn new(registry: Registry, wallet: Wallet, public_url: &str, remote: HttpSource) -> Self {
        Self {
            registry,
            wallet,
            own_origin: origin(public_url),
            remote,
            foreign: Vec::new(),
            relayed: Default::default(),
            scheduled: Default::default(),
        }
    }

    /// Also resolves agents through `registry`, a trusted foreign registry: names this one
    /// does not have, and every `did:agentid`, weighed with this registry's answer and the
    /// other foreign registries' (see `LocalSource::reconcile`).
    pub fn with_foreign_registry(mut self, registry: HttpSource) -> Self {
        self.foreign.push(registry);
        self
    }

    /// A `did:agentid` or a name: with the origin that vouched. A name is this registry's,
    /// else the first foreign registry's that has it (names are each registry's own); a DID
    /// is weighed across every registry the policy trusts ([`LocalSource::reconcile`]).
    async fn resolve_agent(
        &self,
        id: &str,
    ) -> Result<(ResolutionResult, Option<String>), ResolveError> {
        let short = || id.chars().take(120).collect::<String>();
        if id.starts_with(AGENTID_METHOD_PREFIX) {
            let did = AgentDid::parse(id).map_err(|_| ResolveError::InvalidDid(short()))?;
            let local = self
                .registry
                .lookup_fresh(Lookup::Did(&did))
                .await
                .map_err(internal)?;
            return self.reconcile(&did, local).await;
        }
        let name = AgentName::parse(id).map_err(|_| ResolveError::InvalidDid(short()))?;
        if let Some(result) = self
            .registry
            .lookup_fresh(Lookup::Name(&name))
            .await
            .map_err(internal)?
        {
            return Ok((result, Some(self.own_origin.clone())));
        }
        for foreign in &self.foreign {
            match foreign.resolve(id).await {
                Ok(result) => return Ok((result, Some(origin(foreign.registry_url())))),
                Err(ResolveError::NotFound) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ResolveError::NotFound)
    }

    /// `did` as every trusted registry that holds it has it (`local`: this registry's answer).
    /// A `did:agentid` is the hash of its genesis, which any registry accepts: anyone can copy
    /// an agent into another registry, and whoever holds one of its old keys can go on there
    /// from an earlier operation (in a recovery window the copy's own receipt times opened
    /// again). So the registries' chains of operations in force, each its own
    /// ([`agentid_resolver::http::agreed`]), must each be the longest or its beginning (a
    /// registry not yet told of the latest): the longest then gives the document, its keys
    /// included, and
    /// the gravest standing any of them reports stands on it (deactivated, deplatformed,
    /// suspended). Chains that part ways are refused (`NotReplayed`): a denial to whoever holds
    /// an old key, never the agent for them; a refusal's own document is never the one whose
    /// keys are checked. A trusted registry that cannot be asked fails the resolution, unless
    /// one that can refuses the agent for good (deactivated or deplatformed).
    async fn reconcile(
        &self,
        did: &AgentDid,
        local: Option<ResolutionResult>,
    ) -> Result<(ResolutionResult, Option<String>), ResolveError> {
        if self.foreign.is_empty() {
            return match local {
                Some(result) => Ok((result, Some(self.own_origin.clone()))),
                None => Err(ResolveError::NotFound),
            };
        }
        let (mut held, mut unreachable) = self.gather(did, local).await?;
        if unreachable.is_none() && !held.is_empty() && self.parted(&held) && self.may_relay(did) {
            self.relay(did, &held).await;
            let local = self
                .registry
                .lookup_fresh(Lookup::Did(did))
                .await
                .map_err(internal)?;
            (held, unreachable) = self.gather(did, local).await?;
        }
        let gravest = (0..held.len())
            .filter(|i| gravity(&held[*i].result) > 0)
            .max_by_key(|i| gravity(&held[*i].result));
        if let Some(e) = unreachable {
            // Only a standing nothing lifts may answer without every registry's word; a
            // suspension refuses too, and not as an outage (which a verifier answers from its
            // cache while that lasts: the agent as it stood before the suspension).
            return match gravest {
                Some(i) if gravity(&held[i].result) >= PERMANENT => {
                    let h = held.swap_remove(i);
                    Ok((h.result, Some(h.vouched)))
                }
                Some(_) => Err(ResolveError::NotReplayed(
                    "a trusted registry reports the agent suspended, and another cannot be \
                     asked: refused until it can"
                        .into(),
                )),
                None => Err(e),
            };
        }
        let chains: Vec<&Chain> = held.iter().map(|h| &h.chain).collect();
        let Some(longest) = agentid_resolver::http::agreed(&chains) else {
            if held.is_empty() {
                return Err(ResolveError::NotFound);
            }
            return Err(ResolveError::NotReplayed(
                "the trusted registries hold histories of this agent that part ways (a copy \
                 continued from an earlier operation): refused until they agree"
                    .into(),
            ));
        };
        let standing = gravest.map(|i| {
            (
                held[i].result.did_resolution_metadata.clone(),
                held[i].result.did_document_metadata.clone(),
            )
        });
        let Held {
            mut result,
            vouched,
            ..
        } = held.swap_remove(longest);
        if let Some((resolution, Some(grave))) = standing {
            // The longest chain's document, with the gravest standing reported of it.
            result.did_resolution_metadata = resolution;
            if let Some(m) = result.did_document_metadata.as_mut() {
                m.agent_status = grave.agent_status;
                m.deactivated = m.deactivated || grave.deactivated;
                m.deplatformed = grave.deplatformed;
                m.suspended = grave.suspended;
            }
        }
        Ok((result, Some(vouched)))
    }

    /// `did` as this registry (`local`) and each trusted foreign one holds it, and the first
    /// failure to ask one.
    async fn gather(
        &self,
        did: &AgentDid,
        local: Option<ResolutionResult>,
    ) -> Result<(Vec<Held>, Option<ResolveError>), ResolveError> {
        let mut held = Vec::new();
        if let Some(result) = local {
            let chain = self.local_chain(did).await?;
            held.push(Held {
                result,
                chain,
                vouched: self.own_origin.clone(),
                from: None,
            });
        }
        let mut unreachable = None;
        for (i, foreign) in self.foreign.iter().enumerate() {
            match foreign.resolve_history(did.as_str()).await {
                Ok((result, chain)) => held.push(Held {
                    result,
                    chain,
                    vouched: origin(foreign.registry_url()),
                    from: Some(i),
                }),
                Err(ResolveError::NotFound) => continue,
                Err(e) => unreachable = unreachable.or(Some(e)),
            }
        }
        Ok((held, unreachable))
    }

    /// Whether the chains in `held` part ways.
    fn parted(&self, held: &[Held]) -> bool {
        let chains: Vec<&Chain> = held.iter().map(|h| &h.chain).collect();
        agentid_resolver::http::agreed(&chains).is_none()
    }

    /// Tells each registry in `held` the operations another holds in force and it does not,
    /// in order, each judged by that registry by its own rules and clock (a recovery it has
    /// not been told undoes, in the window its own receipt of what it undoes opened; what its
    /// own recovery undid, or what forks from its history, it refuses). So a copy made
    /// without a public recovery is repaired as soon as it is seen, with nothing taken on any
    /// registry's word but its own. Nothing is copied into a registry that does not hold the
    /// agent.
    async fn relay(&self, did: &AgentDid, held: &[Held]) {
        for to in held {
            for from in held.iter().filter(|h| h.from != to.from) {
                let mut told = 0usize;
                for op in from.chain.beyond(&to.chain) {
                    let taken = match to.from {
                        None => self.registry.operate(did, op).await.is_ok(),
                        Some(i) => self.foreign[i]
                            .submit_operation(did, op)
                            .await
                            .is_ok_and(|st| (200..300).contains(&st)),
                    };
                    if !taken {
                        break;
                    }
                    told += 1;
                }
                if told > 0 {
                    tracing::info!(
                        did = did.as_str(),
                        from = from.vouched.as_str(),
                        to = to.vouched.as_str(),
                        operations = told,
                        "a trusted registry took operations another holds of the agent"
                    );
                }
            }
        }
    }

    /// Whether a resolution of `did` may relay now ([`RELAY_EVERY`]).
    fn may_relay(&self, did: &AgentDid) -> bool {
        let now = std::time::Instant::now();
        let mut relayed = self.relayed.lock().unwrap_or_else(|e| e.into_inner());
        if relayed.len() >= MAX_RELAYS_TRACKED {
            relayed.retain(|_, at| now.duration_since(*at) < RELAY_EVERY);
        }
        match relayed.get(did.as_str()) {
            Some(at) if now.duration_since(*at) < RELAY_EVERY => false,
            _ if relayed.len() >= MAX_RELAYS_TRACKED => false,
            _ => {
                relayed.insert(did.as_str().to_owned(), now);
                true
            }
        }
    }

    /// Once an operation of `did` has been accepted here: compares, [`REPAIR_AFTER`] later,
    /// the agent's chains at every trusted registry and, if they part ways, relays
    /// ([`LocalSource::relay`]). So a stranger's copy here of an operation a recovery undid
    /// elsewhere takes the recovery at once, in this registry's window, and nobody need be
    /// watching. Nothing when no foreign registry is trusted.
    pub async fn repair_soon(&self, did: AgentDid) {
        if self.foreign.is_empty() {
            return;
        }
        {
            let mut scheduled = self.scheduled.lock().unwrap_or_else(|e| e.into_inner());
            if scheduled.len() >= MAX_RELAYS_TRACKED || !scheduled.insert(did.as_str().to_owned()) {
                return;
            }
        }
        tokio::time::sleep(REPAIR_AFTER).await;
        self.scheduled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(did.as_str());
        let Ok(local) = self.registry.lookup_fresh(Lookup::Did(&did)).await else {
            return;
        };
        if let Ok((held, None)) = self.gather(&did, local).await {
            if !held.is_empty() && self.parted(&held) {
                self.relay(&did, &held).await;
            }
        }
    }

    /// The chain of operations this registry holds for `did`.
    async fn local_chain(&self, did: &AgentDid) -> Result<Chain, ResolveError> {
        let ops = self.registry.operations(did).await.map_err(internal)?;
        let history = agentid_spec::history::History::replay(
            ops.iter().map(|(_, op, at)| (op.as_str(), *at)),
        )
        .map_err(|(i, e)| ResolveError::NotReplayed(format!("operation {i}: {e}")))?;
        Ok(Chain::of(&history))
    }
}

/// How gravely `r` refuses the agent: 0 not at all; a suspension; at least [`PERMANENT`] a
/// standing nothing lifts (deplatformed, deactivated, or no standing to be read).
fn gravity(r: &ResolutionResult) -> u8 {
    use agentid_spec::document::AgentStatus;
    match r.did_document_metadata.as_ref().map(|m| m.agent_status) {
        _ if r.did_resolution_metadata.error.is_some() && r.did_document_metadata.is_none() => 3,
        None => 3,
        Some(AgentStatus::Active) => 0,
        Some(AgentStatus::Suspended) => 1,
        Some(AgentStatus::Deplatformed) => 2,
        Some(AgentStatus::Deactivated) => 3,
    }
}

/// The least [`gravity`] that no later change lifts.
const PERMANENT: u8 = 2;

fn internal(e: impl std::fmt::Display) -> ResolveError {
    ResolveError::Unreachable(e.to_string())
}

impl Source for LocalSource {
    fn generation(&self) -> Option<u64> {
        // Both counters only grow, so their sum moves whenever either does.
        Some(
            self.registry
                .generation()
                .wrapping_add(self.wallet.generation()),
        )
    }

    fn registry(&self) -> &str {
        &self.own_origin
    }

    async fn resolve(&self, id: &str) -> Result<ResolutionResult, ResolveError> {
        let short = || id.chars().take(120).collect::<String>();
        if id == self.wallet.did().as_str() {
            let document = self.wallet.did_document().await.map_err(internal)?;
            return Ok(ResolutionResult::found(
                document,
                DocumentMetadata::unregistered(),
            ));
        }
        if id.starts_with(DID_WEB_PREFIX) {
            return self.remote.resolve(id).await;
        }
        if !is_registry_id(id) {
            return Err(ResolveError::MethodNotSupported(short()));
        }
        self.resolve_agent(id).await.map(|(result, _)| result)
    }

    async fn resolve_vouched(
        &self,
        id: &str,
    ) -> Result<(ResolutionResult, Option<String>), ResolveError> {
        if is_registry_id(id) {
            return self.resolve_agent(id).await;
        }
        self.resolve(id).await.map(|r| (r, None))
    }

    async fn fetch_status_list(&self, url: &str) -> Result<String, ResolveError> {
        if origin(url) != self.own_origin {
            return self.remote.fetch_status_list(url).await;
        }
        let id = self
            .wallet
            .status_list_id(url)
            .ok_or(ResolveError::NotFound)?;
        self.wallet
            .status_list_credential(id)
            .await
            .map_err(|e| match e {
                agentid_wallet::Error::NotFound(_) => ResolveError::NotFound,
                other => internal(other),
            })
    }
}

/// The registry's log as the wallet's witness of revocations (spec 5.3, "Service decisions").
pub struct LogWitness(pub Registry);

impl agentid_wallet::Witness for LogWitness {
    fn trusted(&self) -> bool {
        self.0.log_trusted()
    }

    fn revoked(&self, id: &str, principal: &str) -> bool {
        self.0.credential_revoked(id, principal)
    }

    fn revoked_in_list(&self, list: &str) -> Vec<i64> {
        self.0.revoked_in_list(list)
    }

    fn key_retired(&self, public_key: &str) -> Option<i64> {
        self.0.key_retired(public_key)
    }

    fn suspended(&self, id: &str, principal: &str) -> bool {
        self.0.credential_suspended(id, principal)
    }
}
