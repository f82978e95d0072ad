//! # agentid-resolver
//!
//! Turns identifiers into DID documents: Ed25519 `did:key`, decoded here (no I/O), other
//! methods through ssi (feature `ssi`: `did:jwk`, in `methods`), and
//! `did:agentid` DIDs and agent names through a registry's DIF Universal Resolver endpoint
//! (`GET /1.0/identifiers/{id}`, feature `http`). It also fetches Bitstring Status List
//! credentials. It does not decide trust: `agentid-sdk` verifies what this crate fetches.
//!
//! `did:web` documents (wallet identities) are fetched from their host by [`http::HttpSource`].
//!
//! Non-goals: JSON-LD processing. (DNS zones are proven by the registry, spec 5.6.)
//!
//! ```
//! let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let resolved = rt.block_on(agentid_resolver::did_key::resolve(did)).unwrap();
//! assert_eq!(resolved.document.id, did);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::future::Future;

use agentid_spec::document::{
    AgentStatus, DidDocument, DocumentMetadata, ResolutionErrorCode, ResolutionResult,
};
use agentid_spec::id::parse_multibase_ed25519;
use ed25519_dalek::VerifyingKey;

pub mod did_key;
#[cfg(feature = "http")]
pub mod events;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "ssi")]
pub mod methods;

/// Why resolution failed, with the DID Resolution error code in [`ResolveError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The input is not a valid DID or name.
    #[error("invalid DID: {0}")]
    InvalidDid(String),
    /// The DID method is not one this resolver supports.
    #[error("DID method not supported: {0}")]
    MethodNotSupported(String),
    /// A did:key whose key is not 32 bytes.
    #[error("invalid public key length")]
    InvalidPublicKeyLength,
    /// The DID or name is unknown.
    #[error("not found")]
    NotFound,
    /// The registry or status server could not be reached in time.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The server answered with something that is not a valid result.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The registry's answer is not what the agent's signed operations, replayed from the
    /// genesis, make of it: a registry that forged or withheld part of the history.
    #[error("the registry's answer does not match the agent's signed operations: {0}")]
    NotReplayed(String),
    /// A `did:web` the verifier's trust policy does not name: not fetched, since its host is
    /// whatever an untrusted presenter wrote. The message is the same whatever the host, so
    /// nobody learns about the network from it.
    #[error("not fetched: did:web documents are fetched only from hosts the trust policy names")]
    NotTrusted,
    /// A registry address that is neither `https://` nor `http://` on loopback.
    #[error("registries are reached over https (http only on loopback): {0}")]
    InsecureRegistry(String),
}

impl ResolveError {
    /// The DID Resolution / Universal Resolver error code.
    pub fn code(&self) -> ResolutionErrorCode {
        match self {
            ResolveError::InvalidDid(_) => ResolutionErrorCode::InvalidDid,
            ResolveError::MethodNotSupported(_) => ResolutionErrorCode::MethodNotSupported,
            ResolveError::InvalidPublicKeyLength => ResolutionErrorCode::InvalidPublicKeyLength,
            ResolveError::NotFound => ResolutionErrorCode::NotFound,
            ResolveError::Unreachable(_)
            | ResolveError::InvalidResponse(_)
            | ResolveError::NotReplayed(_)
            | ResolveError::InsecureRegistry(_)
            | ResolveError::NotTrusted => ResolutionErrorCode::InternalError,
        }
    }
}

/// A DID document reduced to what verification needs: its authentication keys, decoded once,
/// and the agent's standing.
#[derive(Clone, Debug)]
pub struct ResolvedDid {
    /// The document as published.
    pub document: DidDocument,
    /// Its metadata; `None` for methods without a registry (did:key).
    pub metadata: Option<DocumentMetadata>,
    /// The origin of the registry that vouched for it (a `did:agentid` or a name), as the
    /// source reported ([`Source::resolve_vouched`]); `None` for other methods.
    pub registry: Option<String>,
    /// `kid` (a full DID URL) -> (key, listed under `authentication`, listed under
    /// `assertionMethod`).
    keys: HashMap<String, (VerifyingKey, bool, bool)>,
}

impl ResolvedDid {
    /// Decodes the keys of a resolution result for `did`. Refuses a document for another DID.
    pub fn from_result(did: &str, result: ResolutionResult) -> Result<Self, ResolveError> {
        let document = result
            .did_document
            .ok_or_else(|| ResolveError::InvalidResponse("no didDocument".into()))?;
        if document.id != did {
            return Err(ResolveError::InvalidResponse(
                "didDocument.id differs from the DID asked for".into(),
            ));
        }
        Self::from_document(document, result.did_document_metadata)
    }

    /// Decodes the keys of a document.
    pub fn from_document(
        document: DidDocument,
        metadata: Option<DocumentMetadata>,
    ) -> Result<Self, ResolveError> {
        let mut keys = HashMap::new();
        for vm in &document.verification_method {
            let auth = document.authentication.contains(&vm.id);
            let assertion = document.assertion_method.contains(&vm.id);
            if !(auth || assertion) || vm.type_ != "Multikey" || vm.controller != document.id {
                continue;
            }
            let bytes = parse_multibase_ed25519(&vm.public_key_multibase)
                .map_err(|_| ResolveError::InvalidResponse("bad publicKeyMultibase".into()))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| ResolveError::InvalidResponse("not an Ed25519 point".into()))?;
            // A key of small order verifies signatures on many messages: never trust one.
            if key.is_weak() {
                return Err(ResolveError::InvalidResponse(
                    "Ed25519 key of small order".into(),
                ));
            }
            keys.insert(vm.id.clone(), (key, auth, assertion));
        }
        Ok(Self {
            document,
            metadata,
            registry: None,
            keys,
        })
    }

    /// The key `kid`, if it is a current `authentication` key (may sign presentations).
    pub fn authentication_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid).filter(|k| k.1).map(|k| &k.0)
    }

    /// The key `kid`, if it is a current `assertionMethod` key (may issue credentials).
    pub fn assertion_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid).filter(|k| k.2).map(|k| &k.0)
    }

    /// The agent's standing (`active` for DIDs without a registry).
    pub fn status(&self) -> AgentStatus {
        self.metadata.as_ref().map_or(AgentStatus::Active, |m| {
            if m.deactivated && m.agent_status == AgentStatus::Active {
                AgentStatus::Deactivated
            } else {
                m.agent_status
            }
        })
    }
}

/// Whether `id` is resolved through a registry: a `did:agentid` DID, or an agent name (no DID
/// method at all).
pub fn is_registry_id(id: &str) -> bool {
    id.starts_with(agentid_spec::id::AGENTID_METHOD_PREFIX) || !agentid_spec::id::is_did_syntax(id)
}

/// Where a verifier gets what it does not have cached. Implemented over HTTP by
/// [`http::HttpSource`]; `agentid serve` implements it over its own registry and wallet in
/// memory; tests and embedders may implement it over anything.
pub trait Source: Send + Sync {
    /// A counter that changes whenever an answer of this source may have changed, for sources
    /// that know (an in-process source over the registry and the wallet that publish the
    /// answers). A verifier drops what it cached from such a source the moment the counter
    /// moves, and never keeps an answer fetched while it moved. `None` (the default): answers can
    /// change unseen, and caches rely on their age alone.
    fn generation(&self) -> Option<u64> {
        None
    }

    /// The registry this source resolves `did:agentid` DIDs and names through: its origin
    /// (`scheme://host[:port]`), which a verifier's trust policy names.
    fn registry(&self) -> &str;

    /// Resolves a `did:agentid` DID (or an agent name) through [`Source::registry`], or a
    /// `did:web` (a wallet's identity) from its host, to a resolution result. A deactivated or
    /// deplatformed agent is a successful resolution whose metadata says so.
    fn resolve(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<ResolutionResult, ResolveError>> + Send;

    /// [`Source::resolve`], with the origin of the registry that vouched for the answer: a
    /// source over several registries (a service trusting foreign ones) says which answered.
    /// By default [`Source::registry`] for `did:agentid` DIDs and names, none for others.
    fn resolve_vouched(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<(ResolutionResult, Option<String>), ResolveError>> + Send {
        async move {
            let result = self.resolve(id).await?;
            let by = is_registry_id(id).then(|| self.registry().to_owned());
            Ok((result, by))
        }
    }

    /// Fetches the compact JWS of the status list credential at `url`.
    fn fetch_status_list(
        &self,
        url: &str,
    ) -> impl Future<Output = Result<String, ResolveError>> + Send;
}
