//! Registry operations (spec section 5): signed, hash-chained changes to an agent's record.
//!
//! An operation is a compact JWS (`typ` [`OPERATION_TYP`]) whose payload is an [`Operation`],
//! signed by one of the agent's rotation keys. The agent's DID is derived from the exact bytes of
//! its signed genesis (`create`) operation; every later operation names the hash of the one
//! before it in `prev`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{AgentDid, AgentName, DidKey};

/// `typ` of an operation JWS.
pub const OPERATION_TYP: &str = "agentid-op+jws";
/// Largest operation JWS the registry accepts, in bytes.
pub const MAX_OPERATION_LEN: usize = 8 * 1024;
/// Most verification methods or rotation keys an agent may list.
pub const MAX_KEYS: usize = 4;

/// The payload of an operation JWS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Operation {
    /// Creates an agent (section 5.1).
    #[serde(rename_all = "camelCase")]
    Create {
        /// Fragment -> Ed25519 `publicKeyMultibase`. These keys sign presentations.
        verification_methods: BTreeMap<String, String>,
        /// Keys that may sign later operations; the genesis must be signed by one of them.
        rotation_keys: Vec<DidKey>,
        /// A name to claim, e.g. `shopper.alice`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<AgentName>,
        /// Fragment -> service endpoint, published in the document's `service`.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        services: BTreeMap<String, Service>,
        /// RFC 3339 creation time, chosen by the signer.
        created_at: String,
    },
    /// Replaces an agent's keys and services (section 5.3): a key update, a rotation of its
    /// rotation keys, or, when `prev` is not the latest operation, a recovery.
    #[serde(rename_all = "camelCase")]
    Update {
        /// The agent.
        did: AgentDid,
        /// Hash of the operation this one follows.
        prev: String,
        /// The new verification methods, in full.
        verification_methods: BTreeMap<String, String>,
        /// The new rotation keys, in full, highest priority first.
        rotation_keys: Vec<DidKey>,
        /// The new services, in full.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        services: BTreeMap<String, Service>,
        /// RFC 3339 time, chosen by the signer.
        created_at: String,
    },
    /// Deactivates an agent, permanently (section 5.3).
    #[serde(rename_all = "camelCase")]
    Deactivate {
        /// The agent.
        did: AgentDid,
        /// Hash of the previous operation.
        prev: String,
        /// RFC 3339 time, chosen by the signer.
        created_at: String,
    },
}

/// Why an operation's content is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// A rule of section 5 is broken; the message says which.
    #[error("invalid operation: {0}")]
    Invalid(String),
}

impl Operation {
    /// Checks the rules of section 5 that need no registry state.
    pub fn validate(&self) -> Result<(), OperationError> {
        match self {
            Operation::Create {
                verification_methods,
                rotation_keys,
                services,
                created_at,
                ..
            }
            | Operation::Update {
                verification_methods,
                rotation_keys,
                services,
                created_at,
                ..
            } => {
                validate_keys(verification_methods, rotation_keys)?;
                validate_services(services, verification_methods)?;
                validate_time(created_at)
            }
            Operation::Deactivate { created_at, .. } => validate_time(created_at),
        }
    }

    /// `prev` of an operation on an existing agent; `None` for a genesis.
    pub fn prev(&self) -> Option<&str> {
        match self {
            Operation::Create { .. } => None,
            Operation::Update { prev, .. } | Operation::Deactivate { prev, .. } => Some(prev),
        }
    }

    /// The agent an operation on an existing agent names; `None` for a genesis.
    pub fn did(&self) -> Option<&AgentDid> {
        match self {
            Operation::Create { .. } => None,
            Operation::Update { did, .. } | Operation::Deactivate { did, .. } => Some(did),
        }
    }

    /// The wire `type`, also the log entry's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::Create { .. } => "create",
            Operation::Update { .. } => "update",
            Operation::Deactivate { .. } => "deactivate",
        }
    }
}

/// A service endpoint of an agent (DID Core 5.4), as an operation states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// The service type, e.g. `AgentCheckout`: 1 to 64 of `A-Za-z0-9._-`.
    #[serde(rename = "type")]
    pub type_: String,
    /// An `https://` URL (`http://` only for a loopback host), at most
    /// [`MAX_SERVICE_ENDPOINT_LEN`] bytes.
    pub endpoint: String,
}

/// Most services an agent may list.
pub const MAX_SERVICES: usize = 4;
/// Longest service endpoint URL, in bytes.
pub const MAX_SERVICE_ENDPOINT_LEN: usize = 512;

fn bad<T>(m: &str) -> Result<T, OperationError> {
    Err(OperationError::Invalid(m.to_owned()))
}

fn is_fragment(fragment: &str) -> bool {
    (1..=32).contains(&fragment.len())
        && fragment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn validate_keys(
    verification_methods: &BTreeMap<String, String>,
    rotation_keys: &[DidKey],
) -> Result<(), OperationError> {
    if verification_methods.is_empty() || verification_methods.len() > MAX_KEYS {
        return bad("verificationMethods must hold 1 to 4 keys");
    }
    if rotation_keys.is_empty() || rotation_keys.len() > MAX_KEYS {
        return bad("rotationKeys must hold 1 to 4 keys");
    }
    for (fragment, mb) in verification_methods {
        if !is_fragment(fragment) {
            return bad("verification method fragments are 1-32 of a-z, 0-9, -");
        }
        let key = crate::id::parse_multibase_ed25519(mb)
            .map_err(|_| OperationError::Invalid("not an Ed25519 Multikey".into()))?;
        if ed25519_dalek::VerifyingKey::from_bytes(&key).map_or(true, |k| k.is_weak()) {
            return bad("verification method is not a valid Ed25519 key");
        }
    }
    for (i, k) in rotation_keys.iter().enumerate() {
        if k.verifying_key().is_err() {
            return bad("rotation key is not a valid Ed25519 point");
        }
        // Priority is the position in the list: a key listed twice would have two.
        if rotation_keys[..i].contains(k) {
            return bad("a rotation key is listed twice");
        }
    }
    Ok(())
}

fn validate_services(
    services: &BTreeMap<String, Service>,
    verification_methods: &BTreeMap<String, String>,
) -> Result<(), OperationError> {
    if services.len() > MAX_SERVICES {
        return bad("services must hold at most 4 entries");
    }
    for (fragment, service) in services {
        if !is_fragment(fragment) {
            return bad("service fragments are 1-32 of a-z, 0-9, -");
        }
        if verification_methods.contains_key(fragment) {
            return bad("a service fragment is also a verification method's");
        }
        let ok_type = (1..=64).contains(&service.type_.len())
            && service
                .type_
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok_type {
            return bad("service types are 1-64 of A-Z, a-z, 0-9, ., _, -");
        }
        if service.endpoint.len() > MAX_SERVICE_ENDPOINT_LEN
            || !crate::id::is_service_url(&service.endpoint)
        {
            return bad(
                "service endpoints are https URLs (http only on loopback), at most 512 bytes",
            );
        }
    }
    Ok(())
}

fn validate_time(created_at: &str) -> Result<(), OperationError> {
    crate::time::parse_rfc3339(created_at)
        .map(|_| ())
        .ok_or_else(|| OperationError::Invalid("createdAt is not RFC 3339".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(methods: usize, rotation: usize) -> Operation {
        let key = |i: u8| {
            let k = ed25519_dalek::SigningKey::from_bytes(&[i; 32]).verifying_key();
            DidKey::from_public_key(&k)
        };
        Operation::Create {
            verification_methods: (0..methods)
                .map(|i| (format!("key-{i}"), key(i as u8 + 1).multibase().to_owned()))
                .collect(),
            rotation_keys: (0..rotation).map(|i| key(i as u8 + 1)).collect(),
            name: None,
            services: BTreeMap::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// Section 5.1 bounds, at their edges.
    #[test]
    fn key_counts_at_the_edges() {
        assert!(create(1, 1).validate().is_ok());
        assert!(create(MAX_KEYS, MAX_KEYS).validate().is_ok());
        assert!(create(MAX_KEYS + 1, 1).validate().is_err());
        assert!(create(1, MAX_KEYS + 1).validate().is_err());
        assert!(create(0, 1).validate().is_err());
        assert!(create(1, 0).validate().is_err());
    }

    #[test]
    fn fragments_and_times() {
        let Operation::Create {
            verification_methods,
            rotation_keys,
            ..
        } = create(1, 1)
        else {
            unreachable!()
        };
        let mb = verification_methods.values().next().unwrap().clone();
        for (fragment, ok) in [
            ("a", true),
            (&"a".repeat(32)[..], true),
            (&"a".repeat(33)[..], false),
            ("A", false),
            ("", false),
        ] {
            let op = Operation::Create {
                verification_methods: BTreeMap::from([(fragment.to_owned(), mb.clone())]),
                rotation_keys: rotation_keys.clone(),
                name: None,
                services: BTreeMap::new(),
                created_at: "2026-01-01T00:00:00Z".into(),
            };
            assert_eq!(op.validate().is_ok(), ok, "{fragment}");
        }
        let op = Operation::Create {
            verification_methods,
            rotation_keys,
            name: None,
            services: BTreeMap::new(),
            created_at: "yesterday".into(),
        };
        assert!(op.validate().is_err());
        // Unknown members are refused.
        let json =
            r#"{"type":"deactivate","did":"did:agentid:x","prev":"p","createdAt":"t","extra":1}"#;
        assert!(serde_json::from_str::<Operation>(json).is_err());
    }
}
