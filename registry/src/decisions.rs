//! The service's own decisions, recorded in the log beside the agents' history (spec 5.3,
//! "Service decisions"): a principal's revocation, suspension and reinstatement of a delegation,
//! and the root operator's revocation of an operator account and retirement of a wallet key.
//! The log is sealed, hash-chained and checkpointed outside the database, so a decision recorded
//! there cannot be undone by changing a column, and a database restored from before it no
//! longer extends the kept checkpoint. The wallet and the operators keep their rows as before;
//! what the log records overrides them where it is stricter.
//!
//! A credential is named in the public log by a commitment only this service can compute (a
//! seal over the decision's kind, the credential's id and its principal's DID), never by its
//! id, and the actor of a principal's decision is `principal`: the log says that some delegation
//! was revoked or suspended, and, for a revocation, which bit of which status list (which the
//! list shows anyway). Commitments differ by kind, so a revocation is not linked to the
//! suspensions before it; and they bind the principal, so a decision recorded by anyone else
//! (through an owner rewritten in the database) is about nothing the principal's lookups find.
//!
//! An entry without this service's seal is read only where it is stricter (a revocation, a
//! suspension, an operator's revocation, a key's retirement): stripping a seal drops nothing.
//! While the log holds such an entry, the registry reports it untrusted, and the wallet
//! refuses what depends on the log's decisions.

use agentid_spec::log::{LogEntry, LogRecord};
use serde::Deserialize;

use crate::{log, Error, Registry};

/// A principal revoked a delegation credential: `{"type", "credential" (its commitment),
/// "statusList", "statusListIndex"}`. The entry's DID is the wallet's; its actor `principal`.
pub const REVOKE_CREDENTIAL: &str = "revoke-credential";
/// A principal suspended a delegation credential: `{"type", "credential" (its commitment)}`.
pub const SUSPEND_CREDENTIAL: &str = "suspend-credential";
/// A principal lifted a delegation's suspension: `{"type", "credential" (its commitment)}`.
pub const REINSTATE_CREDENTIAL: &str = "reinstate-credential";
/// Most suspensions and reinstatements recorded for one credential; more are refused
/// (`too_many_operations`), so no principal grows the log without end by toggling one.
pub const MAX_SUSPENSION_DECISIONS: u32 = 100;
/// The root operator revoked a named operator account: `{"type", "operator"}`. A revoked name
/// is never given to an operator again. The entry's DID is the service's; its actor `admin`.
pub const REVOKE_OPERATOR: &str = "revoke-operator";
/// The root operator retired a wallet key: `{"type", "key", "publicKeyMultibase"}`. The
/// entry's DID is the wallet's; its actor `admin`.
pub const RETIRE_KEY: &str = "retire-key";

/// The actor recorded with a principal's decision.
const PRINCIPAL_ACTOR: &str = "principal";

/// A decision to record.
#[derive(Clone, Debug)]
pub enum Decision<'a> {
    /// A delegation credential revoked by its principal.
    RevokeCredential {
        /// The credential's `id` (`urn:uuid:...`).
        credential: &'a str,
        /// The principal's DID (the first credential's issuer).
        principal: &'a str,
        /// The status list credential it names (an id of the wallet's lists).
        status_list: &'a str,
        /// Its index there.
        index: i64,
    },
    /// A delegation credential suspended (`true`) or reinstated by its principal.
    SuspendCredential {
        /// The credential's `id`.
        credential: &'a str,
        /// The principal's DID.
        principal: &'a str,
        /// Suspended, or reinstated.
        suspended: bool,
    },
    /// A named operator account revoked.
    RevokeOperator {
        /// The operator's name.
        name: &'a str,
    },
    /// A wallet key retired, identified by its public key.
    RetireKey {
        /// Its verification method's fragment (`key-2`).
        key: &'a str,
        /// Its `publicKeyMultibase`.
        public_key: &'a str,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Revoked {
    credential: String,
    status_list: String,
    status_list_index: i64,
}

#[derive(Deserialize)]
struct Credential {
    credential: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyRetired {
    public_key_multibase: String,
}

#[derive(Deserialize)]
struct OperatorRevoked {
    operator: String,
}

/// What the log's entries say the service decided, read with the tree.
#[derive(Default)]
pub(crate) struct Decisions {
    /// Revoked credentials, by commitment.
    credentials: std::collections::HashSet<String>,
    /// Credentials by commitment: whether the latest suspension decision suspended them, and
    /// how many such decisions there are.
    suspended: std::collections::HashMap<String, (bool, u32)>,
    /// Status list id -> the indices of its revoked credentials.
    by_list: std::collections::HashMap<String, Vec<i64>>,
    /// Revoked operator names.
    operators: std::collections::HashSet<String>,
    /// Retired wallet keys, by `publicKeyMultibase`: when.
    keys: std::collections::HashMap<String, i64>,
}

impl Decisions {
    /// Reads an entry: all of a sealed one's decision, of an unsealed one only what is
    /// stricter (a reinstatement without the seal lifts nothing).
    pub(crate) fn read(&mut self, e: &LogEntry, sealed: bool) {
        match e.kind.as_str() {
            REVOKE_CREDENTIAL => {
                if let Ok(r) = serde_json::from_str::<Revoked>(&e.operation) {
                    if self.credentials.insert(r.credential) {
                        self.by_list
                            .entry(r.status_list)
                            .or_default()
                            .push(r.status_list_index);
                    }
                }
            }
            SUSPEND_CREDENTIAL | REINSTATE_CREDENTIAL => {
                if let Ok(r) = serde_json::from_str::<Credential>(&e.operation) {
                    let suspends = e.kind == SUSPEND_CREDENTIAL;
                    let state = self.suspended.entry(r.credential).or_insert((false, 0));
                    if sealed || suspends {
                        state.0 = suspends;
                    }
                    state.1 = state.1.saturating_add(1);
                }
            }
            REVOKE_OPERATOR => {
                if let Ok(r) = serde_json::from_str::<OperatorRevoked>(&e.operation) {
                    self.operators.insert(r.operator);
                }
            }
            RETIRE_KEY => {
                if let Ok(r) = serde_json::from_str::<KeyRetired>(&e.operation) {
                    self.keys
                        .entry(r.public_key_multibase)
                        .or_insert(e.created_at);
                }
            }
            _ => {}
        }
    }
}

impl Registry {
    /// Records `decision` about `subject` (the wallet's or the service's DID) in the log, by
    /// `actor` for an operator's decision (a principal's is recorded as `principal`), and reads
    /// it into this process's view: an error unless it is there when this returns. The caller
    /// records a decision before applying it to its own rows: should that fail, the log's word
    /// stands.
    pub async fn record_decision(
        &self,
        subject: &str,
        decision: Decision<'_>,
        actor: &str,
    ) -> Result<LogEntry, Error> {
        let (kind, record, actor) = match decision {
            Decision::RevokeCredential {
                credential,
                principal,
                status_list,
                index,
            } => (
                REVOKE_CREDENTIAL,
                serde_json::json!({
                    "type": REVOKE_CREDENTIAL,
                    "credential": self.commitment(REVOKE_CREDENTIAL, credential, principal),
                    "statusList": status_list, "statusListIndex": index,
                }),
                PRINCIPAL_ACTOR,
            ),
            Decision::SuspendCredential {
                credential,
                principal,
                suspended,
            } => {
                let commitment = self.commitment(SUSPEND_CREDENTIAL, credential, principal);
                let changes = self
                    .decisions()
                    .suspended
                    .get(&commitment)
                    .map_or(0, |s| s.1);
                if changes >= MAX_SUSPENSION_DECISIONS {
                    return Err(Error::TooManyDecisions(format!(
                        "the delegation has been suspended or reinstated \
                         {MAX_SUSPENSION_DECISIONS} times: revoke it and issue another"
                    )));
                }
                let kind = if suspended {
                    SUSPEND_CREDENTIAL
                } else {
                    REINSTATE_CREDENTIAL
                };
                (
                    kind,
                    serde_json::json!({ "type": kind, "credential": commitment }),
                    PRINCIPAL_ACTOR,
                )
            }
            Decision::RevokeOperator { name } => (
                REVOKE_OPERATOR,
                serde_json::json!({ "type": REVOKE_OPERATOR, "operator": name }),
                actor,
            ),
            Decision::RetireKey { key, public_key } => (
                RETIRE_KEY,
                serde_json::json!({
                    "type": RETIRE_KEY, "key": key, "publicKeyMultibase": public_key,
                }),
                actor,
            ),
        };
        let now = self.0.clock.now();
        // What this node has read: a decision must land after it, or entries were taken away.
        let known = match self.log_head().await {
            Ok((size, _)) => size,
            Err(e) => {
                self.distrust_log();
                return Err(e);
            }
        };
        let _turn = self.0.db.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // The log's lock first (on SQLite, the write lock: a statement that writes), so no
        // other append commits between the read of the last entry and this one.
        log::lock(&mut tx, &self.0.db).await?;
        if !self.0.db.is_postgres() {
            sqlx::query("UPDATE registry_log SET seq = seq WHERE seq < 0")
                .execute(&mut *tx)
                .await?;
        }
        let appended = log::append(
            &mut tx,
            &self.0.db,
            &self.0.sealer,
            LogRecord {
                did: subject.to_owned(),
                kind: kind.into(),
                operation: record.to_string(),
                actor: actor.to_owned(),
                reason: None,
                created_at: now,
            },
            None,
        )
        .await;
        let entry = match appended {
            Ok(entry) if entry.seq as u64 > known => entry,
            Ok(entry) => {
                drop(tx);
                self.distrust_log();
                return Err(Error::Internal(format!(
                    "the log holds fewer entries ({}) than this node has read ({known}): entries \
                     were deleted behind the service's back",
                    entry.seq - 1
                )));
            }
            Err(e) => {
                drop(tx);
                // Refused (an entry written behind the service's back ends the log, say):
                // nothing that depends on the log's decisions goes on as if this one were there.
                self.distrust_log();
                return Err(e);
            }
        };
        log::notify(&mut tx, &self.0.db, "registry").await?;
        tx.commit().await?;
        // This very entry must be what this node now holds at its place.
        let leaf = entry.public().leaf_hash();
        let read = self.catch_up().await.is_ok()
            && self
                .with_leaves_from(entry.seq as u64, |t| {
                    usize::try_from(entry.seq - 1)
                        .ok()
                        .and_then(|i| t.leaf(i))
                        .is_some_and(|l| *l == leaf)
                })
                .await
                .unwrap_or(false);
        self.changed();
        if !read {
            self.distrust_log();
            return Err(Error::Internal(format!(
                "decision {} was recorded but cannot be read back",
                entry.seq
            )));
        }
        Ok(entry)
    }

    /// Whether the log records the revocation of credential `id` of `principal` (as far as
    /// this process has read it: its own decisions at once, other nodes' on their change
    /// notice).
    pub fn credential_revoked(&self, id: &str, principal: &str) -> bool {
        let commitment = self.commitment(REVOKE_CREDENTIAL, id, principal);
        self.decisions().credentials.contains(&commitment)
    }

    /// Whether the latest suspension decision the log records for credential `id` of
    /// `principal` suspended it.
    pub fn credential_suspended(&self, id: &str, principal: &str) -> bool {
        let commitment = self.commitment(SUSPEND_CREDENTIAL, id, principal);
        self.decisions()
            .suspended
            .get(&commitment)
            .is_some_and(|s| s.0)
    }

    /// What names credential `id` of `principal` in the public log for decisions of `kind`: a
    /// seal, which only this service computes.
    fn commitment(&self, kind: &str, id: &str, principal: &str) -> String {
        let kind = if kind == REVOKE_CREDENTIAL {
            REVOKE_CREDENTIAL
        } else {
            SUSPEND_CREDENTIAL
        };
        self.0.sealer.seal(&[
            b"credential",
            kind.as_bytes(),
            id.as_bytes(),
            principal.as_bytes(),
        ])
    }

    /// The indices of status list `list` whose credentials the log records revoked.
    pub fn revoked_in_list(&self, list: &str) -> Vec<i64> {
        self.decisions()
            .by_list
            .get(list)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the log records the revocation of an operator named `name`.
    pub fn operator_revoked(&self, name: &str) -> bool {
        self.decisions().operators.contains(name)
    }

    /// When the log records the retirement of the wallet key `public_key` (its
    /// `publicKeyMultibase`), if it does.
    pub fn key_retired(&self, public_key: &str) -> Option<i64> {
        self.decisions().keys.get(public_key).copied()
    }

    /// Whether every entry of the log, as this process has read it, carries this service's
    /// seal and follows the one before: what the log's decisions say is then all they say.
    pub fn log_trusted(&self) -> bool {
        let names = self.0.names.read().unwrap_or_else(|e| e.into_inner());
        names.first_unproven().is_none() && !names.unreadable()
    }

    /// Marks the log untrusted (a decision could not be recorded or read back): the wallet
    /// refuses what depends on the log's decisions until the log is read again at a start.
    fn distrust_log(&self) {
        tracing::error!(
            "a decision could not be recorded in the log, or read back: the log is untrusted \
             until the next start"
        );
        self.0
            .names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .distrust();
    }

    fn decisions(&self) -> impl std::ops::Deref<Target = Decisions> + '_ {
        struct View<'a>(std::sync::RwLockReadGuard<'a, crate::tree::Names>);
        impl std::ops::Deref for View<'_> {
            type Target = Decisions;
            fn deref(&self) -> &Decisions {
                self.0.decisions()
            }
        }
        View(self.0.names.read().unwrap_or_else(|e| e.into_inner()))
    }
}
