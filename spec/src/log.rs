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

#[cfg(test)]
mod tests {
    use super::*;

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
