//! The verifier's [`Source`] inside `agentid serve`: the registry and the wallet of this process,
//! read in memory. Nothing goes over HTTP to this service itself, and no second cache sits
//! between them and the verifier: the verifier keeps the only one, and drops it the moment the
//! registry or the wallet moves its generation. Status lists on other origins (allowed by
//! configuration) are fetched over HTTP.

use agentid_registry::{Lookup, Registry};
use agentid_resolver::http::{origin, HttpSource};
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

    /// Also resolves agents through `registry`, a trusted foreign registry: those this one
    /// does not have, and, for those it has, whatever the foreign one knows later or refuses
    /// (see [`LocalSource::reconcile`]).
    pub fn with_foreign_registry(mut self, registry: HttpSource) -> Self {
        self.foreign.push(registry);
        self
    }

    /// A `did:agentid` or a name: this registry's answer, else the first foreign registry's
    /// that has it, with the origin that vouched.
    async fn resolve_agent(
        &self,
        id: &str,
    ) -> Result<(ResolutionResult, Option<String>), ResolveError> {
        let short = || id.chars().take(120).collect::<String>();
        let found = if id.starts_with(AGENTID_METHOD_PREFIX) {
            let did = AgentDid::parse(id).map_err(|_| ResolveError::InvalidDid(short()))?;
            self.registry.lookup_fresh(Lookup::Did(&did)).await
        } else {
            let name = AgentName::parse(id).map_err(|_| ResolveError::InvalidDid(short()))?;
            self.registry.lookup_fresh(Lookup::Name(&name)).await
        };
        if let Some(result) = found.map_err(internal)? {
            if let Ok(did) = AgentDid::parse(id) {
                return self.reconcile(&did, result).await;
            }
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
}

impl LocalSource {
    /// This registry's answer `local` for `did`, weighed against the trusted foreign
    /// registries'. A `did:agentid` is the hash of its genesis, which any registry accepts:
    /// anyone can copy an agent another trusted registry holds into this one, with none of its
    /// later operations or decisions. So when a foreign registry the policy trusts also holds
    /// the agent, a refusal there stands here (a deplatforming, a suspension, a deactivation),
    /// and its answer is taken unless this registry's history already holds the foreign one's
    /// head (this registry is as new or newer). A foreign registry that cannot be asked fails
    /// the resolution rather than let a stale copy answer.
    async fn reconcile(
        &self,
        did: &AgentDid,
        local: ResolutionResult,
    ) -> Result<(ResolutionResult, Option<String>), ResolveError> {
        let own = Some(self.own_origin.clone());
        if self.foreign.is_empty() {
            return Ok((local, own));
        }
        let mut known: Option<Vec<String>> = None;
        let mut chosen = (local, own);
        for foreign in &self.foreign {
            let theirs = match foreign.resolve(did.as_str()).await {
                Ok(r) => r,
                Err(ResolveError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            let vouched = Some(origin(foreign.registry_url()));
            if refused(&theirs) {
                return Ok((theirs, vouched));
            }
            if refused(&chosen.0) {
                continue;
            }
            let head = |r: &ResolutionResult| {
                r.did_document_metadata
                    .as_ref()
                    .and_then(|m| m.version_id.clone())
            };
            let Some(their_head) = head(&theirs) else {
                continue;
            };
            if head(&chosen.0).as_deref() == Some(their_head.as_str()) {
                continue;
            }
            if known.is_none() {
                known = Some(self.local_heads(did).await?);
            }
            let ours = known.as_deref().unwrap_or_default();
            if !ours.contains(&their_head) {
                chosen = (theirs, vouched);
            }
        }
        Ok(chosen)
    }

    /// The hashes of every operation this registry holds for `did`.
    async fn local_heads(&self, did: &AgentDid) -> Result<Vec<String>, ResolveError> {
        let ops = self.registry.operations(did).await.map_err(internal)?;
        let history = agentid_spec::history::History::replay(
            ops.iter().map(|(_, op, at)| (op.as_str(), *at)),
        )
        .map_err(|(i, e)| ResolveError::NotReplayed(format!("operation {i}: {e}")))?;
        Ok(history.entries().iter().map(|e| e.hash.clone()).collect())
    }
}

/// Whether `r` refuses the agent: an error, or a standing other than active.
fn refused(r: &ResolutionResult) -> bool {
    r.did_resolution_metadata.error.is_some()
        || r.did_document_metadata
            .as_ref()
            .is_none_or(|m| m.agent_status != agentid_spec::document::AgentStatus::Active)
}

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
