//! An agent's operation history (spec section 5.3): the rules that decide which signed
//! operations are in force, applied the same way by the registry when it accepts an operation
//! and by a resolver that replays the history from the genesis.
//!
//! The history is every accepted operation in the order the registry received it, with the time
//! it received each. Operations in force form a chain from the genesis, each naming the hash of
//! the one before it in `prev`; the last is the agent's **head**. An operation whose `prev` is an
//! earlier operation in force, not the head, is a **recovery**: it undoes (nullifies) the
//! operations after that point, which is allowed only within [`RECOVERY_WINDOW_SECS`] of the
//! first of them and only when its signer has a higher priority (an earlier position in the
//! rotation keys in force at that point) than the signer of every operation it undoes.
//!
//! Everything here is pure: no clock, no storage. Signatures are checked on every operation, so
//! a replay from the genesis proves that the registry's document is the one the agent's keys
//! signed; what the registry can still do is withhold operations, never forge them.

use std::collections::BTreeMap;

use crate::document::DidDocument;
use crate::id::{hash_b32, split_did_url, AgentDid, AgentName, DidKey};
use crate::jose::CompactJws;
use crate::operation::{Operation, Service, MAX_OPERATION_LEN, OPERATION_TYP};
use crate::ErrorCode;

/// How long after an operation a higher-priority rotation key may still undo it: 72 hours.
pub const RECOVERY_WINDOW_SECS: i64 = 72 * 3600;
/// Most operations (in force or undone) one agent may have before only a recovery or the
/// final deactivation is accepted.
pub const MAX_OPERATIONS: usize = 200;
/// Most operations one agent's history may hold at all: past [`MAX_OPERATIONS`], a recovery
/// (which undoes at least one operation that no other recovery undid) or a deactivation by the
/// first key is still accepted, so that a thief with a lower key cannot fill the history to
/// keep the owner from recovering. Each operation is undone at most once and nothing but a
/// recovery is accepted past the cap, so a history stays well below this.
pub const MAX_HISTORY: usize = 4 * MAX_OPERATIONS;

/// Why an operation was not accepted. Each has its own [`ErrorCode`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Over [`MAX_OPERATION_LEN`] bytes.
    #[error("the operation is over {MAX_OPERATION_LEN} bytes")]
    TooLarge,
    /// Breaks a rule of section 5; the message says which.
    #[error("invalid operation: {0}")]
    Invalid(String),
    /// The signature does not verify under the key named in `kid`.
    #[error("the operation's signature does not verify")]
    BadSignature,
    /// The signer may not make this operation.
    #[error("{0}")]
    KeyNotAuthorized(&'static str),
    /// `prev` is not an operation in force.
    #[error("prev is not the hash of the agent's latest operation, nor of one in force")]
    StalePrev,
    /// Already in the history, and not the head.
    #[error("the operation was accepted before")]
    Duplicate,
    /// The agent is deactivated: final.
    #[error("the agent is deactivated")]
    Deactivated,
    /// A recovery too late.
    #[error("the recovery window of the operations it would undo has passed")]
    RecoveryWindowClosed,
    /// A recovery by a key that does not outrank every operation it would undo.
    #[error("a recovery must be signed by a rotation key of higher priority than every operation it undoes")]
    RecoveryNotHigher,
    /// [`MAX_OPERATIONS`] reached.
    #[error("the agent has reached {MAX_OPERATIONS} operations")]
    TooManyOperations,
}

impl Rejection {
    /// The stable machine code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Rejection::TooLarge => ErrorCode::OperationTooLarge,
            Rejection::Invalid(_) => ErrorCode::InvalidOperation,
            Rejection::BadSignature => ErrorCode::BadSignature,
            Rejection::KeyNotAuthorized(_) => ErrorCode::KeyNotAuthorized,
            Rejection::StalePrev => ErrorCode::StalePrev,
            Rejection::Duplicate => ErrorCode::DuplicateOperation,
            Rejection::Deactivated => ErrorCode::Gone,
            Rejection::RecoveryWindowClosed => ErrorCode::RecoveryWindowClosed,
            Rejection::RecoveryNotHigher => ErrorCode::RecoveryNotHigher,
            Rejection::TooManyOperations => ErrorCode::TooManyOperations,
        }
    }
}

fn invalid(m: impl Into<String>) -> Rejection {
    Rejection::Invalid(m.into())
}

/// What an agent's operations in force say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentState {
    /// Fragment -> Ed25519 `publicKeyMultibase`.
    pub verification_methods: BTreeMap<String, String>,
    /// Highest priority first.
    pub rotation_keys: Vec<DidKey>,
    /// Fragment -> service.
    pub services: BTreeMap<String, Service>,
    /// The name the genesis claimed.
    pub name: Option<AgentName>,
    /// Whether a `deactivate` is in force.
    pub deactivated: bool,
}

impl AgentState {
    /// The DID document these keys and services make for `did`, naming `name` (the name the
    /// registry binds to it now, which may differ from the genesis claim once released).
    pub fn document(&self, did: &AgentDid, name: Option<&AgentName>) -> DidDocument {
        DidDocument::agent(did, name, &self.verification_methods).with_services(&self.services)
    }
}

/// One operation of a history.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The compact JWS.
    pub jws: String,
    /// base32 SHA-256 of the JWS: what a later `prev` names.
    pub hash: String,
    /// When the registry received it, Unix seconds.
    pub received_at: i64,
    /// The rotation key that signed it.
    pub signer: DidKey,
    /// The operation's `prev` (`None` for the genesis).
    pub prev: Option<String>,
    /// Undone by a later recovery.
    pub nullified: bool,
    /// The agent's state once this operation applied.
    pub state: AgentState,
}

/// What accepting one operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The operation's hash, the agent's new head.
    pub hash: String,
    /// `create`, `update` or `deactivate`.
    pub kind: &'static str,
    /// The rotation key that signed it.
    pub signer: DidKey,
    /// Hashes of the operations it undid (a recovery), oldest first.
    pub nullified: Vec<String>,
}

/// An agent's history: its DID and its operations, in the order received.
#[derive(Clone, Debug)]
pub struct History {
    did: AgentDid,
    entries: Vec<Entry>,
}

/// Strict parse of an operation JWS and the check of its signature under the `did:key` its
/// `kid` names. Which keys may sign what is decided by the caller.
fn open(jws: &str) -> Result<(Operation, DidKey), Rejection> {
    if jws.len() > MAX_OPERATION_LEN {
        return Err(Rejection::TooLarge);
    }
    let token = CompactJws::parse(jws, MAX_OPERATION_LEN, OPERATION_TYP)
        .map_err(|e| invalid(e.to_string()))?;
    let op: Operation =
        serde_json::from_slice(&token.payload).map_err(|e| invalid(format!("payload: {e}")))?;
    op.validate().map_err(|e| match e {
        crate::operation::OperationError::Invalid(m) => invalid(m),
    })?;
    let kid = token
        .header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("operation has no kid"))?;
    let (signer_did, _) = split_did_url(kid).ok_or_else(|| invalid("kid is not a DID URL"))?;
    let signer = DidKey::parse(signer_did).map_err(|_| invalid("kid is not a did:key"))?;
    if kid != signer.key_id() {
        return Err(invalid("kid is not the did:key's verification method"));
    }
    let key = signer
        .verifying_key()
        .map_err(|_| invalid("signer key is invalid"))?;
    if !token.verify(&key) {
        return Err(Rejection::BadSignature);
    }
    Ok((op, signer))
}

impl History {
    /// Starts a history from a signed genesis (`create`), signed by one of its own rotation
    /// keys. The DID is the hash of `jws`.
    pub fn genesis(jws: &str, received_at: i64) -> Result<Self, Rejection> {
        let (op, signer) = open(jws)?;
        let Operation::Create {
            verification_methods,
            rotation_keys,
            name,
            services,
            ..
        } = op
        else {
            return Err(invalid("only a create operation may start an agent"));
        };
        if !rotation_keys.contains(&signer) {
            return Err(Rejection::KeyNotAuthorized(
                "a genesis must be signed by one of its rotation keys",
            ));
        }
        let hash = hash_b32(jws.as_bytes());
        Ok(Self {
            did: AgentDid::from_genesis(jws),
            entries: vec![Entry {
                jws: jws.to_owned(),
                hash,
                received_at,
                signer,
                prev: None,
                nullified: false,
                state: AgentState {
                    verification_methods,
                    rotation_keys,
                    services,
                    name,
                    deactivated: false,
                },
            }],
        })
    }

    /// Replays `operations` (`(jws, received_at)`, in the order received, the genesis first),
    /// applying every rule to each as [`History::apply`] does.
    pub fn replay<'a>(
        operations: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> Result<Self, (usize, Rejection)> {
        let mut operations = operations.into_iter();
        let (genesis, at) = operations
            .next()
            .ok_or((0, invalid("a history starts with its genesis")))?;
        let mut history = Self::genesis(genesis, at).map_err(|e| (0, e))?;
        for (i, (jws, at)) in operations.enumerate() {
            history.apply(jws, at).map_err(|e| (i + 1, e))?;
        }
        Ok(history)
    }

    /// The agent.
    pub fn did(&self) -> &AgentDid {
        &self.did
    }

    /// Every operation, in the order received.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn head_entry(&self) -> &Entry {
        // The genesis is never undone: some entry is always in force.
        self.entries
            .iter()
            .rev()
            .find(|e| !e.nullified)
            .unwrap_or(&self.entries[0])
    }

    /// Hash of the latest operation in force.
    pub fn head(&self) -> &str {
        &self.head_entry().hash
    }

    /// The agent's state now.
    pub fn state(&self) -> &AgentState {
        &self.head_entry().state
    }

    /// The highest-priority rotation key in force, if no recovery can still take that place
    /// from it at `now`: no operation in force up to the one from which it has held it (the
    /// genesis, or the latest that put it there) could still be undone, together with what
    /// follows it, by a recovery (one received within [`RECOVERY_WINDOW_SECS`] of it, by the
    /// first key before it, which signed none of the operations it would undo). A key that a
    /// lower, perhaps stolen, key put first can be undone by a higher one for that long, and
    /// what rests on it (an agent's consent to be named in a zone, section 5.6) must not
    /// outlast the recovery.
    pub fn settled_top_key(&self, now: i64) -> Option<&DidKey> {
        let chain: Vec<&Entry> = self.entries.iter().filter(|e| !e.nullified).collect();
        let top = chain.last()?.state.rotation_keys.first()?;
        let from = chain
            .iter()
            .rposition(|e| e.state.rotation_keys.first() != Some(top))
            .map_or(0, |i| i + 1);
        let recoverable = (0..from).any(|p| {
            let Some(first) = chain[p].state.rotation_keys.first() else {
                return false;
            };
            now.saturating_sub(chain[p + 1].received_at) < RECOVERY_WINDOW_SECS
                && chain[p + 1..].iter().all(|e| e.signer != *first)
        });
        (!recoverable).then_some(top)
    }

    /// Accepts `jws`, received at `received_at`, if section 5.3 allows it.
    pub fn apply(&mut self, jws: &str, received_at: i64) -> Result<Applied, Rejection> {
        if jws.len() > MAX_OPERATION_LEN {
            return Err(Rejection::TooLarge);
        }
        let hash = hash_b32(jws.as_bytes());
        if self.entries.iter().any(|e| e.hash == hash) {
            return Err(Rejection::Duplicate);
        }
        let (op, signer) = open(jws)?;
        if op.did() != Some(&self.did) {
            return Err(match op.did() {
                None => invalid("a create operation cannot change an existing agent"),
                Some(_) => invalid("the operation names another DID"),
            });
        }
        if self.entries.len() >= MAX_HISTORY {
            return Err(Rejection::TooManyOperations);
        }
        if self.state().deactivated {
            return Err(Rejection::Deactivated);
        }
        let prev = op.prev().unwrap_or_default().to_owned();
        let parent = self
            .entries
            .iter()
            .position(|e| !e.nullified && e.hash == prev)
            .ok_or(Rejection::StalePrev)?;
        let keys = &self.entries[parent].state.rotation_keys;
        let priority =
            keys.iter()
                .position(|k| *k == signer)
                .ok_or(Rejection::KeyNotAuthorized(
                    "the operation is not signed by a rotation key in force",
                ))?;
        if matches!(op, Operation::Deactivate { .. }) && priority != 0 {
            return Err(Rejection::KeyNotAuthorized(
                "a deactivation must be signed by the highest-priority rotation key",
            ));
        }
        // The operations in force after `parent`: undone by this one, if it may.
        let undone: Vec<usize> = (parent + 1..self.entries.len())
            .filter(|&i| !self.entries[i].nullified)
            .collect();
        let last_word = !undone.is_empty() || matches!(op, Operation::Deactivate { .. });
        if self.entries.len() >= MAX_OPERATIONS && !last_word {
            return Err(Rejection::TooManyOperations);
        }
        if let Some(&first) = undone.first() {
            let elapsed = received_at.saturating_sub(self.entries[first].received_at);
            if elapsed >= RECOVERY_WINDOW_SECS {
                return Err(Rejection::RecoveryWindowClosed);
            }
            for &i in &undone {
                // A key not in force at `parent` (one the undone operations added) ranks
                // below every key that was.
                let theirs = keys
                    .iter()
                    .position(|k| *k == self.entries[i].signer)
                    .unwrap_or(usize::MAX);
                if priority >= theirs {
                    return Err(Rejection::RecoveryNotHigher);
                }
            }
        }
        let before = &self.entries[parent].state;
        let kind = op.kind();
        let state = match op {
            Operation::Update {
                verification_methods,
                rotation_keys,
                services,
                ..
            } => AgentState {
                verification_methods,
                rotation_keys,
                services,
                name: before.name.clone(),
                deactivated: false,
            },
            Operation::Deactivate { .. } => AgentState {
                deactivated: true,
                ..before.clone()
            },
            Operation::Create { .. } => unreachable!("refused above: a create names no DID"),
        };
        let mut nullified = Vec::with_capacity(undone.len());
        for i in undone {
            self.entries[i].nullified = true;
            nullified.push(self.entries[i].hash.clone());
        }
        self.entries.push(Entry {
            jws: jws.to_owned(),
            hash: hash.clone(),
            received_at,
            signer: signer.clone(),
            prev: Some(prev),
            nullified: false,
            state,
        });
        Ok(Applied {
            hash,
            kind,
            signer,
            nullified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{sign_compact, JoseHeader};
    use crate::time::format_rfc3339;
    use ed25519_dalek::SigningKey;

    const T0: i64 = 1_790_000_000;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    fn did_key(k: &SigningKey) -> DidKey {
        DidKey::from_public_key(&k.verifying_key())
    }

    fn sign(op: &Operation, k: &SigningKey) -> String {
        let header = JoseHeader::eddsa(OPERATION_TYP, None, &did_key(k).key_id());
        sign_compact(&header, &serde_json::to_vec(op).unwrap(), k)
    }

    fn methods(i: u8) -> BTreeMap<String, String> {
        BTreeMap::from([("key-1".to_owned(), did_key(&key(i)).multibase().to_owned())])
    }

    /// A genesis with rotation keys 1 (highest), 2, 3, signed by `signer`.
    fn genesis(signer: u8) -> String {
        let op = Operation::Create {
            verification_methods: methods(10),
            rotation_keys: vec![did_key(&key(1)), did_key(&key(2)), did_key(&key(3))],
            name: None,
            services: BTreeMap::new(),
            created_at: format_rfc3339(T0),
        };
        sign(&op, &key(signer))
    }

    fn update(h: &History, prev: &str, vm: u8, rotation: &[u8], signer: u8) -> String {
        let op = Operation::Update {
            did: h.did().clone(),
            prev: prev.to_owned(),
            verification_methods: methods(vm),
            rotation_keys: rotation.iter().map(|&i| did_key(&key(i))).collect(),
            services: BTreeMap::new(),
            created_at: format_rfc3339(T0),
        };
        sign(&op, &key(signer))
    }

    fn deactivate(h: &History, prev: &str, signer: u8) -> String {
        let op = Operation::Deactivate {
            did: h.did().clone(),
            prev: prev.to_owned(),
            created_at: format_rfc3339(T0),
        };
        sign(&op, &key(signer))
    }

    #[test]
    fn updates_chain_and_replay_agrees() {
        let g = genesis(2);
        let mut h = History::genesis(&g, T0).unwrap();
        let head0 = h.head().to_owned();
        let u1 = update(&h, &head0, 11, &[1, 2, 3], 3);
        let a = h.apply(&u1, T0 + 10).unwrap();
        assert_eq!(a.kind, "update");
        assert!(a.nullified.is_empty());
        assert_eq!(h.head(), a.hash);
        assert_eq!(h.state().verification_methods, methods(11));
        // Rotating the rotation keys: key 4 replaces key 3.
        let u2 = update(&h, &a.hash, 11, &[1, 2, 4], 2);
        h.apply(&u2, T0 + 20).unwrap();
        // The replaced key is no longer in force.
        let u3 = update(&h, h.head(), 12, &[1, 2, 4], 3);
        assert!(matches!(
            h.apply(&u3, T0 + 30),
            Err(Rejection::KeyNotAuthorized(_))
        ));
        let u3 = update(&h, h.head(), 12, &[1, 2, 4], 4);
        h.apply(&u3, T0 + 30).unwrap();
        let replayed =
            History::replay([(&g[..], T0), (&u1, T0 + 10), (&u2, T0 + 20), (&u3, T0 + 30)])
                .unwrap();
        assert_eq!(replayed.head(), h.head());
        assert_eq!(replayed.state(), h.state());
        // Replaying what the registry refused fails, naming the operation.
        let stale = update(&h, &head0, 13, &[1], 1);
        let err = History::replay([(&g[..], T0), (&u1, T0 + 10), (&stale, T0 + 1_000_000)]);
        assert_eq!(err.unwrap_err(), (2, Rejection::RecoveryWindowClosed));
    }

    /// Each rejection, with its code.
    #[test]
    fn rejections_have_their_codes() {
        let g = genesis(1);
        let mut h = History::genesis(&g, T0).unwrap();
        let head = h.head().to_owned();
        // Wrong prev.
        let e = h
            .apply(&update(&h, "nothing", 11, &[1], 1), T0)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::StalePrev);
        // Not a rotation key.
        let e = h.apply(&update(&h, &head, 11, &[1], 9), T0).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KeyNotAuthorized);
        // Bad signature: a payload byte changed after signing.
        let mut forged = update(&h, &head, 11, &[1], 1);
        let dot = forged.find('.').unwrap();
        let payload = &forged[dot + 1..forged.rfind('.').unwrap()];
        let mut bytes = data_encoding::BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let swapped = text.replace(did_key(&key(11)).multibase(), did_key(&key(12)).multibase());
        bytes = swapped.into_bytes();
        forged.replace_range(
            dot + 1..forged.rfind('.').unwrap(),
            &data_encoding::BASE64URL_NOPAD.encode(&bytes),
        );
        assert_eq!(
            h.apply(&forged, T0).unwrap_err().code(),
            ErrorCode::BadSignature
        );
        // Oversize, at the edge.
        let big = "a".repeat(MAX_OPERATION_LEN + 1);
        assert_eq!(
            h.apply(&big, T0).unwrap_err().code(),
            ErrorCode::OperationTooLarge
        );
        let edge = "a".repeat(MAX_OPERATION_LEN);
        assert_eq!(
            h.apply(&edge, T0).unwrap_err().code(),
            ErrorCode::InvalidOperation
        );
        // Duplicate: the genesis again, then an accepted update again after another.
        assert_eq!(
            h.apply(&g, T0).unwrap_err().code(),
            ErrorCode::DuplicateOperation
        );
        let u1 = update(&h, &head, 11, &[1, 2], 1);
        let a1 = h.apply(&u1, T0 + 1).unwrap();
        h.apply(&update(&h, &a1.hash, 12, &[1, 2], 1), T0 + 2)
            .unwrap();
        assert_eq!(
            h.apply(&u1, T0 + 3).unwrap_err().code(),
            ErrorCode::DuplicateOperation
        );
        // A create cannot change an agent; another DID is refused.
        assert_eq!(
            h.apply(&genesis(2), T0).unwrap_err().code(),
            ErrorCode::InvalidOperation
        );
        let other = History::genesis(&genesis(3), T0).unwrap();
        let foreign = update(&other, other.head(), 11, &[1], 1);
        assert_eq!(
            h.apply(&foreign, T0).unwrap_err().code(),
            ErrorCode::InvalidOperation
        );
    }

    /// The highest key is settled from the genesis, and after an operation by the highest key
    /// before it; one a lower key put first is settled only once its window has closed.
    #[test]
    fn a_top_key_is_settled_only_beyond_a_recovery() {
        let mut h = History::genesis(&genesis(1), T0).unwrap();
        assert_eq!(h.settled_top_key(T0), Some(&did_key(&key(1))));
        // The highest key hands first place to key 4: nobody can undo that.
        let handover = update(&h, h.head(), 11, &[4, 2, 3], 1);
        h.apply(&handover, T0 + 10).unwrap();
        assert_eq!(h.settled_top_key(T0 + 10), Some(&did_key(&key(4))));
        // Key 3, perhaps stolen, puts key 5 first: key 4 can undo it for 72 hours.
        let theft = update(&h, h.head(), 12, &[5], 3);
        h.apply(&theft, T0 + 20).unwrap();
        assert_eq!(h.settled_top_key(T0 + 20), None);
        assert_eq!(h.settled_top_key(T0 + 20 + RECOVERY_WINDOW_SECS - 1), None);
        assert_eq!(
            h.settled_top_key(T0 + 20 + RECOVERY_WINDOW_SECS),
            Some(&did_key(&key(5)))
        );
        // Later operations by key 5 itself rest on the theft too.
        let after = update(&h, h.head(), 13, &[5], 5);
        h.apply(&after, T0 + 30).unwrap();
        assert_eq!(h.settled_top_key(T0 + 30), None);
        // A lower key's operation that leaves the first place as it was unsettles nothing
        // before it: key 5 was put first by the theft, still in its window.
        let mut g = History::genesis(&genesis(1), T0).unwrap();
        let lower = update(&g, g.head(), 14, &[1, 2, 3], 2);
        g.apply(&lower, T0 + 5).unwrap();
        assert_eq!(g.settled_top_key(T0 + 5), Some(&did_key(&key(1))));
    }

    /// Fifteenth attack: a lower key's routine update, then the first key's own rotation:
    /// nothing can undo that rotation, so its key is settled at once.
    #[test]
    fn a_rotation_by_the_first_key_is_settled_whatever_came_before() {
        let mut h = History::genesis(&genesis(1), T0).unwrap();
        let routine = update(&h, h.head(), 11, &[1, 2, 3], 2);
        h.apply(&routine, T0 + 5).unwrap();
        let rotation = update(&h, h.head(), 12, &[4, 2, 3], 1);
        h.apply(&rotation, T0 + 10).unwrap();
        assert_eq!(h.settled_top_key(T0 + 10), Some(&did_key(&key(4))));
    }

    /// Fifteenth attack: a thief with a lower key filled the history to the cap, and the
    /// owner's recovery was refused with it. A recovery, and the final deactivation, are
    /// accepted past the cap; nothing else is.
    #[test]
    fn a_full_history_still_takes_a_recovery() {
        let mut h = History::genesis(&genesis(1), T0).unwrap();
        let before = h.head().to_owned();
        let theft = update(&h, &before, 66, &[3], 3);
        h.apply(&theft, T0 + 1).unwrap();
        for i in 0..MAX_OPERATIONS - 2 {
            let next = update(&h, h.head(), (i % 200) as u8, &[3], 3);
            h.apply(&next, T0 + 2).unwrap();
        }
        assert_eq!(h.entries().len(), MAX_OPERATIONS);
        let more = update(&h, h.head(), 201, &[3], 3);
        assert_eq!(
            h.apply(&more, T0 + 3).unwrap_err().code(),
            ErrorCode::TooManyOperations
        );
        let recovery = update(&h, &before, 10, &[1, 2], 1);
        let a = h.apply(&recovery, T0 + 4).unwrap();
        assert_eq!(a.nullified.len(), MAX_OPERATIONS - 1);
        assert_eq!(h.state().rotation_keys[0], did_key(&key(1)));
        let gone = deactivate(&h, h.head(), 1);
        h.apply(&gone, T0 + 5).unwrap();
        assert!(h.state().deactivated);
    }

    /// A thief with the lowest-priority key rotates the others out; the owner, with the
    /// highest, undoes it within the window, and the thief's key no longer counts.
    #[test]
    fn a_stolen_key_is_recovered_from() {
        let g = genesis(1);
        let mut h = History::genesis(&g, T0).unwrap();
        let before = h.head().to_owned();
        // The thief holds key 3: replaces the agent's keys with its own and only key 3.
        let theft = update(&h, &before, 66, &[3], 3);
        h.apply(&theft, T0 + 100).unwrap();
        assert_eq!(h.state().rotation_keys, vec![did_key(&key(3))]);
        // The thief cannot undo its own work with the same key, nor key 2 a key-1 op later.
        // The owner, with key 1, forks from before the theft.
        let recovery = update(&h, &before, 10, &[1, 2], 1);
        let a = h
            .apply(&recovery, T0 + 100 + RECOVERY_WINDOW_SECS - 1)
            .unwrap();
        assert_eq!(a.nullified, vec![hash_b32(theft.as_bytes())]);
        assert_eq!(h.state().verification_methods, methods(10));
        assert_eq!(h.head(), a.hash);
        // The thief's next move builds on nothing in force.
        let again = update(&h, &hash_b32(theft.as_bytes()), 67, &[3], 3);
        assert_eq!(h.apply(&again, T0 + 200).unwrap_err(), Rejection::StalePrev);
        // And key 3 is no longer a rotation key.
        let again = update(&h, &a.hash, 67, &[3], 3);
        assert!(matches!(
            h.apply(&again, T0 + 200),
            Err(Rejection::KeyNotAuthorized(_))
        ));
        // The replayed history agrees.
        let r = History::replay([
            (&g[..], T0),
            (&theft, T0 + 100),
            (&recovery, T0 + 100 + RECOVERY_WINDOW_SECS - 1),
        ])
        .unwrap();
        assert_eq!(r.head(), h.head());
        assert!(r.entries()[1].nullified);
    }

    #[test]
    fn recovery_needs_higher_priority_and_the_window() {
        let g = genesis(1);
        let mut h = History::genesis(&g, T0).unwrap();
        let root = h.head().to_owned();
        let by2 = update(&h, &root, 11, &[1, 2, 3], 2);
        h.apply(&by2, T0 + 10).unwrap();
        // Same priority: refused. Lower: refused.
        for signer in [2, 3] {
            let r = update(&h, &root, 12, &[1, 2, 3], signer);
            assert_eq!(
                h.apply(&r, T0 + 20).unwrap_err(),
                Rejection::RecoveryNotHigher,
                "key {signer}"
            );
        }
        // Higher, one second past the window: refused; at its last second: accepted.
        let late = update(&h, &root, 12, &[1, 2, 3], 1);
        assert_eq!(
            h.clone()
                .apply(&late, T0 + 10 + RECOVERY_WINDOW_SECS)
                .unwrap_err(),
            Rejection::RecoveryWindowClosed
        );
        h.apply(&late, T0 + 10 + RECOVERY_WINDOW_SECS - 1).unwrap();
        // An undone run that includes a key-1 operation cannot be undone by key 1 again... nor
        // by key 2 when key 1 signed any of it.
        let mut h = History::genesis(&g, T0).unwrap();
        let a = h
            .apply(&update(&h, &root, 11, &[1, 2, 3], 3), T0 + 1)
            .unwrap();
        h.apply(&update(&h, &a.hash, 12, &[1, 2, 3], 1), T0 + 2)
            .unwrap();
        let r = update(&h, &root, 13, &[1, 2, 3], 2);
        assert_eq!(
            h.apply(&r, T0 + 3).unwrap_err(),
            Rejection::RecoveryNotHigher
        );
    }

    #[test]
    fn deactivation_is_final_and_needs_the_first_key() {
        let g = genesis(1);
        let mut h = History::genesis(&g, T0).unwrap();
        let root = h.head().to_owned();
        let d = deactivate(&h, &root, 2);
        assert!(matches!(
            h.apply(&d, T0 + 1),
            Err(Rejection::KeyNotAuthorized(_))
        ));
        let d = deactivate(&h, &root, 1);
        let a = h.apply(&d, T0 + 1).unwrap();
        assert!(h.state().deactivated);
        // Nothing follows, or undoes, a deactivation.
        for op in [
            update(&h, &a.hash, 11, &[1], 1),
            update(&h, &root, 11, &[1], 1),
        ] {
            assert_eq!(h.apply(&op, T0 + 2).unwrap_err(), Rejection::Deactivated);
        }
    }

    #[test]
    fn operations_per_agent_are_bounded_at_the_edge() {
        let g = genesis(1);
        let mut h = History::genesis(&g, T0).unwrap();
        for i in 1..MAX_OPERATIONS {
            let op = update(&h, h.head(), 11 + (i % 2) as u8, &[1], 1);
            h.apply(&op, T0 + i as i64).unwrap();
        }
        assert_eq!(h.entries().len(), MAX_OPERATIONS);
        let op = update(&h, h.head(), 20, &[1], 1);
        assert_eq!(
            h.apply(&op, T0 + 1_000).unwrap_err(),
            Rejection::TooManyOperations
        );
    }
}
