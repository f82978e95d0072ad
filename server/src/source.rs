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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The registry and the wallet of this process, and HTTP for status lists elsewhere.
pub struct LocalSource {
    registries: Registries,
    wallet: Wallet,
    /// Status lists on other allowed origins.
    remote: HttpSource,
}

/// This registry and the foreign ones the trust policy names, with what relaying between them
/// remembers: cheap to clone, so a relay can run on its own task.
#[derive(Clone)]
struct Registries {
    registry: Registry,
    /// This service's own origin: never fetched over HTTP.
    own_origin: String,
    /// The foreign registries the trust policy names (`--trust-registry`), asked in turn for a
    /// `did:agentid` or a name this registry does not have; each answer replayed from the
    /// agent's signed operations, as any remote verifier does.
    foreign: Arc<Vec<HttpSource>>,
    relays: Arc<Relays>,
}

/// What relaying remembers ([`Registries::relay`]).
struct Relays {
    /// When each agent's registries were last compared, so that an agent is compared at most
    /// once per [`RELAY_EVERY`]; the oldest is forgotten first past [`MAX_RELAYS_TRACKED`].
    last: Mutex<HashMap<String, Instant>>,
    /// Agents waiting to be compared after an operation accepted here.
    scheduled: Mutex<HashSet<String>>,
    /// Comparisons running at once, at most [`RELAYS_AT_ONCE`].
    running: tokio::sync::Semaphore,
}

/// Least time between two comparisons (and relays) of one agent's registries.
const RELAY_EVERY: Duration = Duration::from_secs(5);
/// How long after an accepted operation its agent's registries are compared (operations
/// arriving together are compared once).
const REPAIR_AFTER: Duration = Duration::from_millis(300);
/// Most agents remembered for [`RELAY_EVERY`], and most waiting to be compared.
const MAX_RELAYS_TRACKED: usize = 4096;
/// How long a relay for a registry only behind waits for its turn.
const RELAY_WAIT: Duration = Duration::from_secs(30);
/// How often a relayed operation a registry refused for its rate limit (429) is sent again,
/// and the first wait between (doubled each time).
const RELAY_RETRIES: u32 = 5;
const RELAY_BACKOFF: Duration = Duration::from_millis(500);
/// Most comparisons after accepted operations running at once: each reads every trusted
/// registry's history of the agent, so a stranger's stream of operations asks the trusted
/// registries no faster than this many at a time.
const RELAYS_AT_ONCE: usize = 2;

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
            registries: Registries {
                registry,
                own_origin: origin(public_url),
                foreign: Arc::new(Vec::new()),
                relays: Arc::new(Relays {
                    last: Mutex::default(),
                    scheduled: Mutex::default(),
                    running: tokio::sync::Semaphore::new(RELAYS_AT_ONCE),
                }),
            },
            wallet,
            remote,
        }
    }

    /// Also resolves agents through `registry`, a trusted foreign registry: names this one
    /// does not have, and every `did:agentid`, weighed with this registry's answer and the
    /// other foreign registries' (see `LocalSource::reconcile`).
    pub fn with_foreign_registry(mut self, registry: HttpSource) -> Self {
        Arc::make_mut(&mut self.registries.foreign).push(registry);
        self
    }

    /// A `did:agentid` or a name: with the origin that vouched. A name is this registry's,
    /// else the first foreign registry's that has it (names are each registry's own); a DID
    /// is weighed across every registry the policy trusts ([`LocalSource::reconcile`]).
    async fn resolve_agent(
        &self,
        id: &str,
    ) -> Result<(ResolutionResult, Option<String>), ResolveError> {
        let r = &self.registries;
        let short = || id.chars().take(120).collect::<String>();
        if id.starts_with(AGENTID_METHOD_PREFIX) {
            let did = AgentDid::parse(id).map_err(|_| ResolveError::InvalidDid(short()))?;
            let local = r
                .registry
                .lookup_fresh(Lookup::Did(&did))
                .await
                .map_err(internal)?;
            return self.reconcile(&did, local).await;
        }
        let name = AgentName::parse(id).map_err(|_| ResolveError::InvalidDid(short()))?;
        if let Some(result) = r
            .registry
            .lookup_fresh(Lookup::Name(&name))
            .await
            .map_err(internal)?
        {
            return Ok((result, Some(r.own_origin.clone())));
        }
        for foreign in r.foreign.iter() {
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
    ///
    /// Registries that differ are told what the others hold ([`Registries::relay`]): before
    /// the answer when their chains part ways (the answer is then theirs once told), and on
    /// a task of its own when one is only behind, so that what was posted to one registry
    /// reaches the others (and the owner watching its home registry sees it there).
    async fn reconcile(
        &self,
        did: &AgentDid,
        local: Option<ResolutionResult>,
    ) -> Result<(ResolutionResult, Option<String>), ResolveError> {
        let r = &self.registries;
        if r.foreign.is_empty() {
            return match local {
                Some(result) => Ok((result, Some(r.own_origin.clone()))),
                None => Err(ResolveError::NotFound),
            };
        }
        let (mut held, mut unreachable) = r.gather(did, local).await?;
        if unreachable.is_none() && differ(&held) && r.may_compare(did) {
            if parted(&held) {
                r.relay(did, &held).await;
                let local = r
                    .registry
                    .lookup_fresh(Lookup::Did(did))
                    .await
                    .map_err(internal)?;
                (held, unreachable) = r.gather(did, local).await?;
            } else {
                let (r, did) = (r.clone(), did.clone());
                let chains: Vec<(Chain, Option<usize>)> =
                    held.iter().map(|h| (h.chain.clone(), h.from)).collect();
                tokio::spawn(async move {
                    // Only behind: no answer waits for it; it waits its turn among
                    // [`RELAYS_AT_ONCE`] comparisons, for a while (the next resolution tries
                    // again).
                    let turn = tokio::time::timeout(RELAY_WAIT, r.relays.running.acquire());
                    if let Ok(Ok(_running)) = turn.await {
                        r.relay_chains(&did, &chains).await;
                    }
                });
            }
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

    /// Before this registry decides on what rests on `did`'s keys (a binding's consent): tells
    /// it, and the other trusted registries, what each holds of the agent that another does
    /// not (`Registries::relay`), so that the decision is made on the latest history they
    /// hold, not on a stale copy (where a key rotated out elsewhere would still be first).
    /// Fails closed: `Err` (why) when a trusted registry cannot be asked, when the histories
    /// part ways (a fork: no branch's key may consent), or when no turn among
    /// `RELAYS_AT_ONCE` comes within `RELAY_WAIT`.
    pub async fn bring_up_to_date(&self, did: &AgentDid) -> Result<(), String> {
        let r = &self.registries;
        if r.foreign.is_empty() {
            return Ok(());
        }
        let turn = tokio::time::timeout(RELAY_WAIT, r.relays.running.acquire()).await;
        let Ok(Ok(_running)) = turn else {
            return Err("the registry is busy comparing histories; retry".into());
        };
        let read = |e: ResolveError| format!("the agent's history could not be read: {e}");
        let local = r
            .registry
            .lookup_fresh(Lookup::Did(did))
            .await
            .map_err(|e| read(internal(e)))?;
        let (mut held, mut unreachable) = r.gather(did, local).await.map_err(read)?;
        if unreachable.is_none() && differ(&held) {
            r.mark_compared(did);
            // This registry is told now (what the decision needs); the others on a task of
            // their own, so that a peer slow to take them (or refusing them for its rate
            // limit, retried with backoff) does not hold the binding.
            let chains: Vec<(Chain, Option<usize>)> =
                held.iter().map(|h| (h.chain.clone(), h.from)).collect();
            r.relay_to(did, &chains, true).await;
            let (others, did_) = (r.clone(), did.clone());
            tokio::spawn(async move { others.relay_chains(&did_, &chains).await });
            let local = r
                .registry
                .lookup_fresh(Lookup::Did(did))
                .await
                .map_err(|e| read(internal(e)))?;
            (held, unreachable) = r.gather(did, local).await.map_err(read)?;
        }
        if let Some(e) = unreachable {
            return Err(format!(
                "a trusted registry cannot be asked for the agent's history ({e}); retry"
            ));
        }
        if parted(&held) {
            return Err(
                "the trusted registries hold histories of this agent that part ways".into(),
            );
        }
        Ok(())
    }

    /// Once an operation of `did` has been accepted here: compares, `REPAIR_AFTER` later
    /// (and at most once per `RELAY_EVERY`), the agent's chains at every trusted registry
    /// and tells each what the others hold (`Registries::relay`). So a stranger's copy here
    /// of an operation a recovery undid elsewhere takes the recovery at once, in this
    /// registry's window, and an operation posted here reaches the others; nobody need be
    /// watching. Nothing when no foreign registry is trusted.
    pub async fn repair_soon(&self, did: AgentDid) {
        let r = &self.registries;
        if r.foreign.is_empty() {
            return;
        }
        {
            let mut scheduled = r.relays.scheduled.lock().unwrap_or_else(|e| e.into_inner());
            if scheduled.len() >= MAX_RELAYS_TRACKED || !scheduled.insert(did.as_str().to_owned()) {
                return;
            }
        }
        let since_last = r
            .relays
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(did.as_str())
            .map(Instant::elapsed);
        let wait = match since_last {
            Some(elapsed) if elapsed < RELAY_EVERY => (RELAY_EVERY - elapsed).max(REPAIR_AFTER),
            _ => REPAIR_AFTER,
        };
        tokio::time::sleep(wait).await;
        let permit = r.relays.running.acquire().await;
        r.relays
            .scheduled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(did.as_str());
        r.mark_compared(&did);
        let Ok(local) = r.registry.lookup_fresh(Lookup::Did(&did)).await else {
            return;
        };
        if let Ok((held, None)) = r.gather(&did, local).await {
            if differ(&held) {
                r.relay(&did, &held).await;
            }
        }
        drop(permit);
    }
}

/// Whether the chains in `held` are not all the same.
fn differ(held: &[Held]) -> bool {
    held.windows(2).any(|w| w[0].chain != w[1].chain)
}

/// Whether the chains in `held` part ways.
fn parted(held: &[Held]) -> bool {
    let chains: Vec<&Chain> = held.iter().map(|h| &h.chain).collect();
    !held.is_empty() && agentid_resolver::http::agreed(&chains).is_none()
}

impl Registries {
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

    /// The chain of operations this registry holds for `did`.
    async fn local_chain(&self, did: &AgentDid) -> Result<Chain, ResolveError> {
        let ops = self.registry.operations(did).await.map_err(internal)?;
        let history = agentid_spec::history::History::replay(
            ops.iter().map(|(_, op, at)| (op.as_str(), *at)),
        )
        .map_err(|(i, e)| ResolveError::NotReplayed(format!("operation {i}: {e}")))?;
        Ok(Chain::of(&history))
    }

    /// Tells each registry in `held` the operations another holds in force and it does not,
    /// in order, each judged by that registry by its own rules and clock (a recovery it has
    /// not been told undoes, in the window its own receipt of what it undoes opened; what its
    /// own recovery undid, or what forks from its history, it refuses). So a copy made
    /// without a public recovery is repaired as soon as it is seen, a registry behind is
    /// brought up to date, and nothing is taken on any registry's word but its own. Nothing
    /// is copied into a registry that does not hold the agent.
    async fn relay(&self, did: &AgentDid, held: &[Held]) {
        let chains: Vec<(Chain, Option<usize>)> =
            held.iter().map(|h| (h.chain.clone(), h.from)).collect();
        self.relay_chains(did, &chains).await;
    }

    /// [`Registries::relay`] of each registry's chain (`None`: this one's).
    async fn relay_chains(&self, did: &AgentDid, chains: &[(Chain, Option<usize>)]) {
        self.relay_to(did, chains, false).await;
    }

    /// [`Registries::relay_chains`] to this registry alone when `here_only`.
    async fn relay_to(&self, did: &AgentDid, chains: &[(Chain, Option<usize>)], here_only: bool) {
        for (to_chain, to) in chains.iter().filter(|(_, to)| !here_only || to.is_none()) {
            for (from_chain, from) in chains.iter().filter(|(_, f)| f != to) {
                let mut told = 0usize;
                for op in from_chain.beyond(to_chain) {
                    let taken = match to {
                        None => self.registry.operate(did, op).await.is_ok(),
                        Some(i) => self.submit_with_retries(*i, did, op).await,
                    };
                    if !taken {
                        break;
                    }
                    told += 1;
                }
                if told > 0 {
                    tracing::info!(
                        did = did.as_str(),
                        from = self.name(*from),
                        to = self.name(*to),
                        operations = told,
                        "a trusted registry took operations another holds of the agent"
                    );
                }
            }
        }
    }

    /// Tells foreign registry `i` of `op`: whether it took it. One refused for its rate limit
    /// (a stranger may be flooding it) is sent again after a growing wait, a few times.
    async fn submit_with_retries(&self, i: usize, did: &AgentDid, op: &str) -> bool {
        let mut wait = RELAY_BACKOFF;
        for _ in 0..=RELAY_RETRIES {
            match self.foreign[i].submit_operation(did, op).await {
                Ok(st) if (200..300).contains(&st) => return true,
                Ok(429) => {
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
                _ => return false,
            }
        }
        tracing::warn!(
            did = did.as_str(),
            to = self.name(Some(i)),
            "a trusted registry kept refusing a relayed operation for its rate limit"
        );
        false
    }

    /// The origin of this registry (`None`) or of a foreign one.
    fn name(&self, which: Option<usize>) -> String {
        match which {
            None => self.own_origin.clone(),
            Some(i) => origin(self.foreign[i].registry_url()),
        }
    }

    /// Whether `did`'s registries may be compared now ([`RELAY_EVERY`]); if so, remembered.
    fn may_compare(&self, did: &AgentDid) -> bool {
        let last = self.relays.last.lock().unwrap_or_else(|e| e.into_inner());
        if last
            .get(did.as_str())
            .is_some_and(|at| at.elapsed() < RELAY_EVERY)
        {
            return false;
        }
        drop(last);
        self.mark_compared(did);
        true
    }

    /// Remembers that `did`'s registries are compared now, forgetting the oldest past
    /// [`MAX_RELAYS_TRACKED`].
    fn mark_compared(&self, did: &AgentDid) {
        let mut last = self.relays.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() >= MAX_RELAYS_TRACKED && !last.contains_key(did.as_str()) {
            last.retain(|_, at| at.elapsed() < RELAY_EVERY);
            if last.len() >= MAX_RELAYS_TRACKED {
                let oldest = last
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(d, _)| d.clone());
                if let Some(d) = oldest {
                    last.remove(&d);
                }
            }
        }
        last.insert(did.as_str().to_owned(), Instant::now());
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
            self.registries
                .registry
                .generation()
                .wrapping_add(self.wallet.generation()),
        )
    }

    fn registry(&self) -> &str {
        &self.registries.own_origin
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
        if origin(url) != self.registries.own_origin {
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
