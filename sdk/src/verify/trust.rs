//! Who a verifier trusts to vouch: registries for agents, wallets for principals and their
//! budgets (spec section 8.1). Signatures prove who signed; the policy says whose word counts.

use agentid_resolver::http::origin;
use agentid_spec::id::Did;
use serde::Serialize;

/// The anchors a verifier trusts. Empty by default: a verifier with an empty policy accepts
/// nothing, so every embedder names its registries and wallets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    registries: Vec<String>,
    wallets: Vec<Did>,
    did_web_hosts: Vec<String>,
    did_key_agents: bool,
}

impl TrustPolicy {
    /// A policy trusting nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the registry at `url` (compared by origin, `scheme://host[:port]`) to vouch for
    /// the `did:agentid` agents it resolves and for their standing.
    pub fn trust_registry(mut self, url: &str) -> Self {
        let o = origin(url.trim_end_matches('/'));
        if !self.registries.contains(&o) {
            self.registries.push(o);
        }
        self
    }

    /// Trusts the wallet whose DID is `wallet` to vouch for its principals and their budgets.
    pub fn trust_wallet(mut self, wallet: Did) -> Self {
        if !self.wallets.contains(&wallet) {
            self.wallets.push(wallet);
        }
        self
    }

    /// Accepts agents identified by a bare `did:key`, which no registry vouches for and nobody
    /// can deplatform. Off unless set.
    pub fn allow_did_key_agents(mut self, allow: bool) -> Self {
        self.did_key_agents = allow;
        self
    }

    /// Lets the verifier fetch `did:web` documents from the host of `url` (compared by origin)
    /// for principals and issuers there; trusted wallets' own DIDs are fetched without it.
    /// No other `did:web` is fetched: its host is whatever an untrusted presenter wrote.
    pub fn trust_did_web_host(mut self, url: &str) -> Self {
        let o = origin(url.trim_end_matches('/'));
        if !self.did_web_hosts.contains(&o) {
            self.did_web_hosts.push(o);
        }
        self
    }

    /// Whether the verifier may reach the network for `did` on a presenter's word: a
    /// `did:web` only when it is a trusted wallet or on a host [`Self::trust_did_web_host`]
    /// named. (`did:key` needs no I/O; `did:agentid` and names are asked of the configured
    /// source's registry, never of a host the presenter chose.)
    pub fn may_fetch(&self, did: &str) -> bool {
        if !did.starts_with(agentid_spec::id::DID_WEB_PREFIX) {
            return true;
        }
        if self.trusts_wallet(did) {
            return true;
        }
        agentid_spec::id::did_web_document_url(did)
            .is_some_and(|url| self.did_web_hosts.contains(&origin(&url)))
    }

    /// Whether the registry at origin `registry` is trusted.
    pub fn trusts_registry(&self, registry: &str) -> bool {
        self.registries.iter().any(|r| r == registry)
    }

    /// Whether the wallet `did` is trusted.
    pub fn trusts_wallet(&self, did: &str) -> bool {
        self.wallets.iter().any(|w| w.as_str() == did)
    }

    /// Whether bare `did:key` agents are accepted.
    pub fn allows_did_key_agents(&self) -> bool {
        self.did_key_agents
    }

    /// The trusted registries' origins.
    pub fn registries(&self) -> &[String] {
        &self.registries
    }

    /// The trusted wallets' DIDs.
    pub fn wallets(&self) -> &[Did] {
        &self.wallets
    }
}

/// What a decision relied on: the registry that vouched for the agent (none for an allowed
/// `did:key` agent), and the wallet and key that vouched for the principal and the spend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchors {
    /// The registry's origin, or `None` for a `did:key` agent.
    pub registry: Option<String>,
    /// The wallet's DID, when an authorization was presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    /// The wallet's verification method that signed the authorization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_key: Option<String>,
    /// The hold the authorization is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_registries_by_origin_and_wallets_exactly() {
        let p = TrustPolicy::new()
            .trust_registry("HTTP://127.0.0.1:8080/")
            .trust_wallet(Did::parse("did:web:wallet.example").unwrap());
        assert!(p.trusts_registry("http://127.0.0.1:8080"));
        assert!(!p.trusts_registry("http://127.0.0.1:8081"));
        assert!(p.trusts_wallet("did:web:wallet.example"));
        assert!(!p.trusts_wallet("did:web:wallet.example:x"));
        assert!(!p.allows_did_key_agents());
        assert!(TrustPolicy::new().registries().is_empty());
    }
}
