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

    /// Also resolves agents through `registry`, a trusted foreign registry, when this one does
    /// not have them.
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
