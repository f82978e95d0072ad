//! The registry's log (spec section 5.2): every accepted operation and every operator decision,
//! each entry chained to the one before by hash.

use serde::{Deserialize, Serialize};

use crate::id::hash_b32;

/// The `prevHash` of the first entry.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000";

/// What happened, before it is placed in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The agent concerned.
    pub did: String,
    /// `create`, `deactivate`, `deplatform`, ...
    pub kind: String,
    /// The signed operation, or the decision's JSON.
    pub operation: String,
    /// Who did it: the signing rotation key, or the operator.
    pub actor: String,
    /// The operator's reason, for decisions.
    pub reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// One entry of the log as it is stored and served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// The agent concerned.
    pub did: String,
    /// `create`, `deactivate`, `deplatform`, ...
    pub kind: String,
    /// The signed operation, or the decision's JSON.
    pub operation: String,
    /// Who did it.
    pub actor: String,
    /// The operator's reason, for decisions.
    pub reason: Option<String>,
    /// `entryHash` of the entry before, or [`GENESIS_PREV`].
    pub prev_hash: String,
    /// base32(SHA-256) of the hashed form (section 5.2).
    pub entry_hash: String,
    /// When, RFC 3339 on the wire.
    #[serde(with = "crate::time::unix_as_rfc3339")]
    pub created_at: i64,
}

/// The hashed form of an entry, in this member order (section 5.2).
#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    did: &'a str,
    kind: &'a str,
    operation: &'a str,
    actor: &'a str,
    reason: Option<&'a str>,
    prev_hash: &'a str,
    created_at: i64,
}

impl LogEntry {
    /// The entry that appends `record` after the entry `(seq, entryHash)` (`None`: the first).
    pub fn chain(prev: Option<(i64, &str)>, record: LogRecord) -> Self {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, GENESIS_PREV.to_owned()),
        };
        let mut entry = Self::stored(seq, record, prev_hash, String::new());
        entry.entry_hash = entry.computed_hash();
        entry
    }

    /// An entry as a store kept it: its hash is taken as stored, not recomputed (compare with
    /// [`LogEntry::computed_hash`] to check it).
    pub fn stored(seq: i64, record: LogRecord, prev_hash: String, entry_hash: String) -> Self {
        Self {
            seq,
            did: record.did,
            kind: record.kind,
            operation: record.operation,
            actor: record.actor,
            reason: record.reason,
            prev_hash,
            entry_hash,
            created_at: record.created_at,
        }
    }

    /// The hash this entry's contents give; equal to `entry_hash` unless it was altered.
    pub fn computed_hash(&self) -> String {
        let hashed = Hashed {
            seq: self.seq,
            did: &self.did,
            kind: &self.kind,
            operation: &self.operation,
            actor: &self.actor,
            reason: self.reason.as_deref(),
            prev_hash: &self.prev_hash,
            created_at: self.created_at,
        };
        // A struct of strings and integers always serialises.
        hash_b32(&serde_json::to_vec(&hashed).expect("log entry serialises"))
    }
}

/// The `typ` of a signed checkpoint (section 5.2, "The transparency log").
pub const CHECKPOINT_TYP: &str = "agentid-checkpoint+jwt";

/// `typ` of the service's signed list of the keys its checkpoints were signed with.
pub const LOG_KEYS_TYP: &str = "agentid-log-keys+jwt";

/// Longest signed key list accepted, in bytes.
pub const MAX_LOG_KEYS_BYTES: usize = 64 * 1024;

/// Every key the service has signed checkpoints with (section 5.2, "Checkpoints across key
/// changes"), signed by a key of its current DID document: a checkpoint signed before a
/// rotation or a retirement still verifies under the key it names, if its `timestamp` is not
/// after that key's retirement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogKeys {
    /// The service's DID.
    pub iss: String,
    /// The keys, oldest first.
    pub keys: Vec<LogKey>,
    /// When it was signed, RFC 3339.
    #[serde(with = "crate::time::unix_as_rfc3339")]
    pub timestamp: i64,
}

/// One key of [`LogKeys`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogKey {
    /// Its verification method id (`<did>#key-N`).
    pub id: String,
    /// Ed25519 `publicKeyMultibase`.
    pub public_key_multibase: String,
    /// When it was retired, Unix seconds; absent while it is in the DID document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
}

/// Longest signed checkpoint accepted, in bytes.
pub const MAX_CHECKPOINT_BYTES: usize = 4096;

/// One entry as the public log serves it and as its Merkle leaf covers it (section 5.2, "The transparency log"): the
/// operator's free-text reason only by its hash, so the public log carries no personal data and
/// the reason stays checkable by whoever holds it. Members are declared in the order RFC 8785
/// (JCS) sorts them, and every value is a string or an integer, so serialising it is its JCS
/// canonical form: [`PublicEntry::leaf`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicEntry {
    /// Who did it: the signing rotation key, or the operator.
    pub actor: String,
    /// When, RFC 3339.
    #[serde(with = "crate::time::unix_as_rfc3339")]
    pub created_at: i64,
    /// The agent concerned.
    pub did: String,
    /// The entry's hash in the chain (section 5.2).
    pub entry_hash: String,
    /// `create`, `deactivate`, `deplatform`, ...
    pub kind: String,
    /// The signed operation, or the decision's JSON.
    pub operation: String,
    /// `entryHash` of the entry before.
    pub prev_hash: String,
    /// base64url(SHA-256) of the operator's reason, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_hash: Option<String>,
    /// Position in the log, from 1; the Merkle leaf index is `seq - 1`.
    pub seq: i64,
}

impl PublicEntry {
    /// The leaf's bytes: the entry's RFC 8785 canonical JSON.
    pub fn leaf(&self) -> Vec<u8> {
        // Strings and integers in sorted member order always serialise, canonically.
        serde_json::to_vec(self).expect("public log entry serialises")
    }

    /// The Merkle leaf hash of this entry (RFC 9162: SHA-256 of 0x00 and the leaf).
    pub fn leaf_hash(&self) -> crate::merkle::Hash {
        crate::merkle::leaf_hash(&self.leaf())
    }
}

/// How a reason appears in public: base64url of its SHA-256 (`reasonHash`).
pub fn reason_hash(reason: &str) -> String {
    use sha2::Digest;
    crate::jose::b64u(&sha2::Sha256::digest(reason.as_bytes()))
}

impl LogEntry {
    /// The entry as the public log serves it.
    pub fn public(&self) -> PublicEntry {
        PublicEntry {
            actor: self.actor.clone(),
            created_at: self.created_at,
            did: self.did.clone(),
            entry_hash: self.entry_hash.clone(),
            kind: self.kind.clone(),
            operation: self.operation.clone(),
            prev_hash: self.prev_hash.clone(),
            reason_hash: self.reason.as_deref().map(reason_hash),
            seq: self.seq,
        }
    }
}

/// A signed statement of the log's size and root at a time (section 5.2, "The transparency log"), the payload of a
/// compact JWS of type [`CHECKPOINT_TYP`] signed by a key of the service's DID document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkpoint {
    /// The service's DID, whose document publishes the signing key.
    pub iss: String,
    /// Entries in the log.
    pub tree_size: u64,
    /// base64url of the RFC 9162 root of the first `treeSize` entries' leaves.
    pub root_hash: String,
    /// When it was signed, RFC 3339.
    #[serde(with = "crate::time::unix_as_rfc3339")]
    pub timestamp: i64,
}

impl Checkpoint {
    /// The root, decoded.
    pub fn root(&self) -> Option<crate::merkle::Hash> {
        crate::jose::b64u_decode(&self.root_hash)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public form is the JCS canonical form of the served JSON, with the reason by hash.
    #[test]
    fn public_entries_are_canonical() {
        use sha2::Digest;
        let entry = LogEntry::chain(
            None,
            LogRecord {
                did: "did:agentid:x".into(),
                kind: "deplatform".into(),
                operation: "{\"a\":\"\u{e9}\n\"}".into(),
                actor: "op:alice".into(),
                reason: Some("fraud reports".into()),
                created_at: 1_767_225_600,
            },
        );
        let public = entry.public();
        let leaf = String::from_utf8(public.leaf()).unwrap();
        let reason_hash = crate::jose::b64u(&sha2::Sha256::digest(b"fraud reports"));
        let expected = [
            r#"{"actor":"op:alice","createdAt":"2026-01-01T00:00:00Z","did":"did:agentid:x","#,
            &format!(r#""entryHash":"{}","kind":"deplatform","#, entry.entry_hash),
            "\"operation\":\"{\\\"a\\\":\\\"\u{e9}\\n\\\"}\",",
            &format!(r#""prevHash":"{GENESIS_PREV}","reasonHash":"{reason_hash}","seq":1}}"#),
        ]
        .concat();
        assert_eq!(leaf, expected);
        assert!(!leaf.contains("fraud"));
        // The same bytes as a JSON value with sorted members gives (the JCS ordering).
        let sorted: std::collections::BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&leaf).unwrap();
        assert_eq!(serde_json::to_string(&sorted).unwrap(), leaf);
        let back: PublicEntry = serde_json::from_str(&leaf).unwrap();
        assert_eq!(back, public);
        assert_eq!(back.leaf_hash(), crate::merkle::leaf_hash(leaf.as_bytes()));
    }

    #[test]
    fn entries_chain() {
        let record = |kind: &str| LogRecord {
            did: "did:agentid:x".into(),
            kind: kind.into(),
            operation: "op".into(),
            actor: "did:key:z".into(),
            reason: None,
            created_at: 1_767_225_600,
        };
        let first = LogEntry::chain(None, record("create"));
        assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_PREV));
        let second = LogEntry::chain(Some((first.seq, &first.entry_hash)), record("deactivate"));
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, first.entry_hash);
        assert_eq!(second.computed_hash(), second.entry_hash);
        let mut altered = second.clone();
        altered.kind = "create".into();
        assert_ne!(altered.computed_hash(), second.entry_hash);
        let json = serde_json::to_value(&first).unwrap();
        assert_eq!(json["createdAt"], "2026-01-01T00:00:00Z");
        assert_eq!(json["prevHash"], GENESIS_PREV);
        let back: LogEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, first);
    }
}
