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
        /// RFC 3339 creation time, chosen by the signer.
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
    /// Checks the rules of section 5.1 that need no registry state.
    pub fn validate(&self) -> Result<(), OperationError> {
        let bad = |m: &str| Err(OperationError::Invalid(m.to_owned()));
        match self {
            Operation::Create {
                verification_methods,
                rotation_keys,
                created_at,
                ..
            } => {
                if verification_methods.is_empty() || verification_methods.len() > MAX_KEYS {
                    return bad("verificationMethods must hold 1 to 4 keys");
                }
                if rotation_keys.is_empty() || rotation_keys.len() > MAX_KEYS {
                    return bad("rotationKeys must hold 1 to 4 keys");
                }
                for (fragment, mb) in verification_methods {
                    let ok_fragment = (1..=32).contains(&fragment.len())
                        && fragment
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                    if !ok_fragment {
                        return bad("verification method fragments are 1-32 of a-z, 0-9, -");
                    }
                    let key = crate::id::parse_multibase_ed25519(mb)
                        .map_err(|_| OperationError::Invalid("not an Ed25519 Multikey".into()))?;
                    if ed25519_dalek::VerifyingKey::from_bytes(&key).map_or(true, |k| k.is_weak()) {
                        return bad("verification method is not a valid Ed25519 key");
                    }
                }
                for k in rotation_keys {
                    if k.verifying_key().is_err() {
                        return bad("rotation key is not a valid Ed25519 point");
                    }
                }
                crate::time::parse_rfc3339(created_at)
                    .ok_or_else(|| OperationError::Invalid("createdAt is not RFC 3339".into()))?;
            }
            Operation::Deactivate { created_at, .. } => {
                crate::time::parse_rfc3339(created_at)
                    .ok_or_else(|| OperationError::Invalid("createdAt is not RFC 3339".into()))?;
            }
        }
        Ok(())
    }
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
                created_at: "2026-01-01T00:00:00Z".into(),
            };
            assert_eq!(op.validate().is_ok(), ok, "{fragment}");
        }
        let op = Operation::Create {
            verification_methods,
            rotation_keys,
            name: None,
            created_at: "yesterday".into(),
        };
        assert!(op.validate().is_err());
        // Unknown members are refused.
        let json =
            r#"{"type":"deactivate","did":"did:agentid:x","prev":"p","createdAt":"t","extra":1}"#;
        assert!(serde_json::from_str::<Operation>(json).is_err());
    }
}
