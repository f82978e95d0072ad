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
        let mut held: Vec<(ResolutionResult, Chain, String)> = Vec::new();
        if let Some(result) = local {
            if self.foreign.is_empty() {
                return Ok((result, Some(self.own_origin.clone())));
            }
            let chain = self.local_chain(did).await?;
            held.push((result, chain, self.own_origin.clone()));
        }
        let mut unreachable = None;
        for foreign in &self.foreign {
            match foreign.resolve_history(did.as_str()).await {
                Ok((result, chain)) => held.push((result, chain, origin(foreign.registry_url()))),
                Err(ResolveError::NotFound) => continue,
                Err(e) => unreachable = unreachable.or(Some(e)),
            }
        }
        let gravest = (0..held.len())
            .filter(|i| gravity(&held[*i].0) > 0)
            .max_by_key(|i| gravity(&held[*i].0));
        if let Some(e) = unreachable {
            // Only a standing nothing lifts may answer without every registry's word; a
            // suspension refuses too, and not as an outage (which a verifier answers from its
            // cache while that lasts: the agent as it stood before the suspension).
            return match gravest {
                Some(i) if gravity(&held[i].0) >= PERMANENT => {
                    let (result, _, vouched) = held.swap_remove(i);
                    Ok((result, Some(vouched)))
                }
                Some(_) => Err(ResolveError::NotReplayed(
                    "a trusted registry reports the agent suspended, and another cannot be \
                     asked: refused until it can"
                        .into(),
                )),
                None => Err(e),
            };
        }
        let chains: Vec<&Chain> = held.iter().map(|(_, c, _)| c).collect();
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
                held[i].0.did_resolution_metadata.clone(),
                held[i].0.did_document_metadata.clone(),
            )
        });
        let (mut result, _, vouched) = held.swap_remove(longest);
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
