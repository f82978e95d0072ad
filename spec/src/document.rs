//! The DID document profile and the DID Resolution Result (spec section 4; W3C DID Core, DID
//! Resolution; the DIF Universal Resolver's HTTP binding).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{AgentDid, AgentName, DidKey};
use crate::time::format_rfc3339;

/// The DID Core v1 context.
pub const DID_CONTEXT: &str = "https://www.w3.org/ns/did/v1";
/// The Multikey context.
pub const MULTIKEY_CONTEXT: &str = "https://w3id.org/security/multikey/v1";
/// The DID Resolution context.
pub const RESOLUTION_CONTEXT: &str = "https://w3id.org/did-resolution/v1";
/// `contentType` of a DID document.
pub const DID_LD_JSON: &str = "application/did+ld+json";

/// A DID document as agentid publishes it: Multikey Ed25519 verification methods, referenced by
/// `authentication` (may sign presentations) and `assertionMethod`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidDocument {
    /// `[DID_CONTEXT, MULTIKEY_CONTEXT]` in agentid's documents; may be absent from a document
    /// in plain JSON (`application/did+json`, such as a `did:web` host serves).
    #[serde(rename = "@context", default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    /// The DID.
    pub id: String,
    /// Names of the agent as `agentid://<name>` URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_known_as: Vec<String>,
    /// The keys.
    #[serde(default)]
    pub verification_method: Vec<VerificationMethod>,
    /// Key ids that may authenticate as the DID subject (sign checkout presentations).
    #[serde(default)]
    pub authentication: Vec<String>,
    /// Key ids that may issue assertions.
    #[serde(default)]
    pub assertion_method: Vec<String>,
    /// Service endpoints (DID Core 5.4), from the agent's latest operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<ServiceEndpoint>,
}

/// A service of a DID document (DID Core 5.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    /// DID URL `<did>#<fragment>`.
    pub id: String,
    /// The service type.
    #[serde(rename = "type")]
    pub type_: String,
    /// The URL.
    pub service_endpoint: String,
}

impl DidDocument {
    /// The profile document of `did` (section 4.1): one Multikey per `(fragment,
    /// publicKeyMultibase)`, each listed under `authentication` and `assertionMethod`. The one
    /// constructor: the registry, the did:key resolver, the vectors and the benches build
    /// documents here.
    pub fn new<'a>(
        did: &str,
        also_known_as: Vec<String>,
        methods: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let verification_method: Vec<VerificationMethod> = methods
            .into_iter()
            .map(|(fragment, multibase)| VerificationMethod {
                id: format!("{did}#{fragment}"),
                type_: "Multikey".to_owned(),
                controller: did.to_owned(),
                public_key_multibase: multibase.to_owned(),
            })
            .collect();
        let ids: Vec<String> = verification_method.iter().map(|vm| vm.id.clone()).collect();
        Self {
            context: vec![DID_CONTEXT.to_owned(), MULTIKEY_CONTEXT.to_owned()],
            id: did.to_owned(),
            also_known_as,
            verification_method,
            authentication: ids.clone(),
            assertion_method: ids,
            service: Vec::new(),
        }
    }

    /// This document with `services` (fragment -> service) as its `service` entries.
    pub fn with_services(mut self, services: &BTreeMap<String, crate::operation::Service>) -> Self {
        self.service = services
            .iter()
            .map(|(fragment, s)| ServiceEndpoint {
                id: format!("{}#{fragment}", self.id),
                type_: s.type_.clone(),
                service_endpoint: s.endpoint.clone(),
            })
            .collect();
        self
    }

    /// The document a `create` operation defines for an agent (sections 4.1, 5.1): its
    /// verification methods by fragment, and its name in `alsoKnownAs`.
    pub fn agent(
        did: &AgentDid,
        name: Option<&AgentName>,
        methods: &BTreeMap<String, String>,
    ) -> Self {
        Self::new(
            did.as_str(),
            name.map(|n| vec![n.to_uri()]).unwrap_or_default(),
            methods.iter().map(|(f, mb)| (f.as_str(), mb.as_str())),
        )
    }

    /// The document of an Ed25519 `did:key`: its one key, with the multibase as fragment.
    pub fn did_key(key: &DidKey) -> Self {
        Self::new(
            key.as_str(),
            Vec::new(),
            [(key.multibase(), key.multibase())],
        )
    }

    /// The verification method `kid` if it is listed under `authentication`.
    pub fn authentication_key(&self, kid: &str) -> Option<&VerificationMethod> {
        if !self.authentication.iter().any(|a| a == kid) {
            return None;
        }
        self.verification_method.iter().find(|vm| vm.id == kid)
    }
}

/// A Multikey verification method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMethod {
    /// DID URL `<did>#<fragment>`.
    pub id: String,
    /// `Multikey`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The DID that controls it.
    pub controller: String,
    /// `z6Mk...`: base58btc of multicodec 0xed01 and the Ed25519 key.
    pub public_key_multibase: String,
}

/// Where an agent stands with the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// May transact.
    Active,
    /// The registry has suspended it until a stated time (section 5.4).
    Suspended,
    /// Its controller has deactivated it; final.
    Deactivated,
    /// The registry operator has removed it; every credential it holds is void.
    Deplatformed,
}

impl AgentStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Suspended => "suspended",
            AgentStatus::Deactivated => "deactivated",
            AgentStatus::Deplatformed => "deplatformed",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => AgentStatus::Active,
            "suspended" => AgentStatus::Suspended,
            "deactivated" => AgentStatus::Deactivated,
            "deplatformed" => AgentStatus::Deplatformed,
            _ => return None,
        })
    }
}

/// Why and when an agent was deplatformed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deplatforming {
    /// The operator's stated reason.
    pub reason: String,
    /// RFC 3339 time of the decision.
    pub at: String,
}

/// Why and until when the registry suspended an agent (section 5.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suspension {
    /// One of [`SUSPENSION_REASON_CODES`].
    pub reason_code: String,
    /// The moderator's stated reason.
    pub reason: String,
    /// base64url SHA-256 of the evidence the decision rests on, kept by the registry's operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
    /// RFC 3339 time of the decision.
    pub at: String,
    /// RFC 3339 time it ends by itself, unless reinstated earlier.
    pub until: String,
}

/// The reason codes of a suspension (section 5.4), a closed list.
pub const SUSPENSION_REASON_CODES: [&str; 8] = [
    "fraud",
    "abuse",
    "impersonation",
    "compromised_key",
    "spam",
    "legal",
    "policy",
    "other",
];

/// `didDocumentMetadata` (DID Resolution section 7.1.3 plus agentid members).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMetadata {
    /// RFC 3339 time of the genesis operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// RFC 3339 time of the latest change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Hash of the latest operation in the agent's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// DID Core's flag, true when deactivated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivated: bool,
    /// agentid: the agent's standing.
    pub agent_status: AgentStatus,
    /// agentid: present when deplatformed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deplatformed: Option<Deplatforming>,
    /// agentid: present when suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<Suspension>,
    /// agentid: the proof that the agent's latest log entry is in the registry's transparency
    /// log (section 5.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_inclusion: Option<LogInclusion>,
}

/// An RFC 9162 inclusion proof of an agent's latest log entry (section 5.2): the leaf hash of
/// entry `seq`, with `hashes`, gives `rootHash`, the root of the log's first `treeSize` entries,
/// which a signed checkpoint of that size (or a consistency proof to a later one) confirms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogInclusion {
    /// The entry's sequence number (leaf index `seq - 1`).
    pub seq: u64,
    /// base64url of the entry's leaf hash.
    pub leaf_hash: String,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// base64url of that tree's root.
    pub root_hash: String,
    /// The audit path, leaf to root, base64url.
    pub hashes: Vec<String>,
}

impl LogInclusion {
    /// Whether the proof holds: the leaf and the path give the root (RFC 9162 2.1.3.2).
    pub fn verify(&self) -> bool {
        let decode = |s: &str| -> Option<crate::merkle::Hash> {
            crate::jose::b64u_decode(s)?.try_into().ok()
        };
        let (Some(leaf), Some(root)) = (decode(&self.leaf_hash), decode(&self.root_hash)) else {
            return false;
        };
        let Some(path) = self
            .hashes
            .iter()
            .map(|h| decode(h))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let Some(index) = self.seq.checked_sub(1) else {
            return false;
        };
        crate::merkle::verify_inclusion(index, self.tree_size, &leaf, &path, &root).is_ok()
    }
}

impl DocumentMetadata {
    /// The metadata of an agent the registry keeps: created and updated (Unix seconds), the hash
    /// of its latest operation, its standing and, when deplatformed, why.
    pub fn registered(
        created: i64,
        updated: i64,
        version_id: String,
        agent_status: AgentStatus,
        deplatformed: Option<Deplatforming>,
    ) -> Self {
        Self {
            created: Some(format_rfc3339(created)),
            updated: Some(format_rfc3339(updated)),
            version_id: Some(version_id),
            deactivated: agent_status == AgentStatus::Deactivated,
            agent_status,
            deplatformed,
            suspended: None,
            log_inclusion: None,
        }
    }

    /// The metadata of a DID no registry keeps (did:key): active, nothing else known.
    pub fn unregistered() -> Self {
        Self {
            created: None,
            updated: None,
            version_id: None,
            deactivated: false,
            agent_status: AgentStatus::Active,
            deplatformed: None,
            suspended: None,
            log_inclusion: None,
        }
    }
}

/// A DID Resolution error code (W3C DID Resolution; the DIF Universal Resolver's), the
/// `didResolutionMetadata.error` of a failed resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ResolutionErrorCode {
    /// Not a valid DID (or agent name).
    InvalidDid,
    /// No such DID or name.
    NotFound,
    /// A DID method the resolver does not support.
    MethodNotSupported,
    /// A did:key whose key has the wrong length.
    InvalidPublicKeyLength,
    /// The resolver failed.
    InternalError,
    /// The caller accepts no representation the resolver produces (`Accept`).
    RepresentationNotSupported,
}

impl ResolutionErrorCode {
    /// The wire string, e.g. `notFound`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionErrorCode::InvalidDid => "invalidDid",
            ResolutionErrorCode::NotFound => "notFound",
            ResolutionErrorCode::MethodNotSupported => "methodNotSupported",
            ResolutionErrorCode::InvalidPublicKeyLength => "invalidPublicKeyLength",
            ResolutionErrorCode::InternalError => "internalError",
            ResolutionErrorCode::RepresentationNotSupported => "representationNotSupported",
        }
    }
}

/// `didResolutionMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionMetadata {
    /// Media type of the document, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// DID Resolution error code: `invalidDid`, `notFound`, `methodNotSupported`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Human-readable detail of `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// A DID Resolution Result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionResult {
    /// The DID Resolution context.
    #[serde(rename = "@context", default)]
    pub context: Option<String>,
    /// The document; absent on error.
    #[serde(default)]
    pub did_document: Option<DidDocument>,
    /// Resolution metadata.
    pub did_resolution_metadata: ResolutionMetadata,
    /// Document metadata; absent on error.
    #[serde(default)]
    pub did_document_metadata: Option<DocumentMetadata>,
}

impl ResolutionResult {
    /// A successful resolution of `document`, with its metadata.
    pub fn found(document: DidDocument, metadata: DocumentMetadata) -> Self {
        Self {
            context: Some(RESOLUTION_CONTEXT.to_owned()),
            did_document: Some(document),
            did_resolution_metadata: ResolutionMetadata {
                content_type: Some(DID_LD_JSON.to_owned()),
                ..Default::default()
            },
            did_document_metadata: Some(metadata),
        }
    }

    /// A result carrying only an error.
    pub fn error(code: ResolutionErrorCode, message: impl Into<String>) -> Self {
        Self {
            context: Some(RESOLUTION_CONTEXT.to_owned()),
            did_document: None,
            did_resolution_metadata: ResolutionMetadata {
                content_type: None,
                error: Some(code.as_str().to_owned()),
                error_message: Some(message.into()),
            },
            did_document_metadata: None,
        }
    }
}
