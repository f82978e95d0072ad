//! The DID document profile and the DID Resolution Result (spec section 4; W3C DID Core, DID
//! Resolution; the DIF Universal Resolver's HTTP binding).

use serde::{Deserialize, Serialize};

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
    /// `[DID_CONTEXT, MULTIKEY_CONTEXT]`.
    #[serde(rename = "@context")]
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
}

impl DidDocument {
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
    /// The registry operator has suspended it (reserved; not yet produced).
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
    /// A result carrying only an error.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self {
            context: Some(RESOLUTION_CONTEXT.to_owned()),
            did_document: None,
            did_resolution_metadata: ResolutionMetadata {
                content_type: None,
                error: Some(code.to_owned()),
                error_message: Some(message.into()),
            },
            did_document_metadata: None,
        }
    }
}
