//! The service's own decisions, recorded in the log beside the agents' history (spec 5.3,
//! "Service decisions"): a principal's revocation, suspension and reinstatement of a delegation,
//! and the root operator's revocation of an operator account and retirement of a wallet key.
//! The log is sealed, hash-chained and checkpointed outside the database, so a decision recorded
//! there cannot be undone by changing a column, and a database restored from before it no
//! longer extends the kept checkpoint. The wallet and the operators keep their rows as before;
//! what the log records overrides them where it is stricter.
//!
//! A credential is named in the public log by a commitment only this service can compute (a
//! seal over its id), never by its id: the log says that some delegation was revoked or
//! suspended, and, for a revocation, which bit of which status list (which the list shows
//! anyway).

use agentid_spec::log::{LogEntry, LogRecord};
use serde::Deserialize;

use crate::{log, Error, Registry};

/// A principal revoked a delegation credential: `{"type", "credential" (its commitment),
/// "statusList", "statusListIndex"}`. The entry's DID is the wallet's; its actor the
/// principal's DID.
pub const REVOKE_CREDENTIAL: &str = "revoke-credential";
/// A principal suspended a delegation credential: `{"type", "credential" (its commitment)}`.
pub const SUSPEND_CREDENTIAL: &str = "suspend-credential";
/// A principal lifted a delegation's suspension: `{"type", "credential" (its commitment)}`.
pub const REINSTATE_CREDENTIAL: &str = "reinstate-credential";
/// Most suspensions and reinstatements recorded for one credential; more are refused
/// (`too_many_operations`), so no principal grows the log without end by toggling one.
pub const MAX_SUSPENSION_DECISIONS: u32 = 100;
/// The root operator revoked a named operator account: `{"type", "operator", "createdAt"}`.
/// The entry's DID is the service's; its actor `admin`.
pub const REVOKE_OPERATOR: &str = "revoke-operator";
/// The root operator retired a wallet key: `{"type", "key", "publicKeyMultibase"}`. The
/// entry's DID is the wallet's; its actor `admin`.
pub const RETIRE_KEY: &str = "retire-key";

/// A decision to record.
#[derive(Clone, Debug)]
pub enum Decision<'a> {
    /// A delegation credential revoked by its principal.
    RevokeCredential {
        /// The credential's `id` (`urn:uuid:...`).
        credential: &'a str,
        /// The status list credential it names (an id of the wallet's lists).
        status_list: &'a str,
        /// Its index there.
        index: i64,
    },
    /// A delegation credential suspended (`true`) or reinstated by its principal.
    SuspendCredential {
        /// The credential's `id`.
        credential: &'a str,
        /// Suspended, or reinstated.
        suspended: bool,
    },
    /// A named operator account revoked, identified by its name and when it was made.
    RevokeOperator {
        /// The operator's name.
        name: &'a str,
        /// When the account was created (Unix seconds).
        created_at: i64,
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
#[serde(rename_all = "camelCase")]
struct OperatorRevoked {
    operator: String,
    created_at: i64,
}

/// What the log's sealed entries say the service decided, read with the tree.
#[derive(Default)]
pub(crate) struct Decisions {
    /// Revoked credentials, by commitment.
    credentials: std::collections::HashSet<String>,
    /// Credentials by commitment: whether the latest suspension decision suspended them, and
    /// how many such decisions there are.
    suspended: std::collections::HashMap<String, (bool, u32)>,
    /// Status list id -> the indices of its revoked credentials.
    by_list: std::collections::HashMap<String, Vec<i64>>,
    /// Revoked operator accounts, by name and creation time.
    operators: std::collections::HashSet<(String, i64)>,
    /// Retired wallet keys, by `publicKeyMultibase`: when.
    keys: std::collections::HashMap<String, i64>,
}

impl Decisions {
    /// Reads a sealed entry (its seal already checked).
    pub(crate) fn read(&mut self, e: &LogEntry) {
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
                    let state = self.suspended.entry(r.credential).or_insert((false, 0));
                    *state = (e.kind == SUSPEND_CREDENTIAL, state.1.saturating_add(1));
                }
            }
            REVOKE_OPERATOR => {
                if let Ok(r) = serde_json::from_str::<OperatorRevoked>(&e.operation) {
                    self.operators.insert((r.operator, r.created_at));
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
    /// Records `decision`, made by `actor`, about `subject` (the wallet's or the service's DID)
    /// in the log, and reads it into this process's view at once. The caller records a decision
    /// before applying it to its own rows: should that fail, the log's word stands.
    pub async fn record_decision(
        &self,
        subject: &str,
        decision: Decision<'_>,
        actor: &str,
    ) -> Result<LogEntry, Error> {
        let (kind, record) = match decision {
            Decision::RevokeCredential {
                credential,
                status_list,
                index,
            } => (
                REVOKE_CREDENTIAL,
                serde_json::json!({
                    "type": REVOKE_CREDENTIAL, "credential": self.commitment(credential),
                    "statusList": status_list, "statusListIndex": index,
                }),
            ),
            Decision::SuspendCredential {
                credential,
                suspended,
            } => {
                let changes = self
                    .decisions()
                    .suspended
                    .get(&self.commitment(credential))
                    .map_or(0, |s| s.1);
                if changes >= MAX_SUSPENSION_DECISIONS {
                    return Err(agentid_spec::history::Rejection::TooManyOperations.into());
                }
                let kind = if suspended {
                    SUSPEND_CREDENTIAL
                } else {
                    REINSTATE_CREDENTIAL
                };
                (
                    kind,
                    serde_json::json!({ "type": kind, "credential": self.commitment(credential) }),
                )
            }
            Decision::RevokeOperator { name, created_at } => (
                REVOKE_OPERATOR,
                serde_json::json!({
                    "type": REVOKE_OPERATOR, "operator": name, "createdAt": created_at,
                }),
            ),
            Decision::RetireKey { key, public_key } => (
                RETIRE_KEY,
                serde_json::json!({
                    "type": RETIRE_KEY, "key": key, "publicKeyMultibase": public_key,
                }),
            ),
        };
        let now = self.0.clock.now();
        let mut tx = self.0.pool.begin().await?;
        let entry = log::append(
            &mut tx,
            self.0.postgres,
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
        .await?;
        log::notify(&mut tx, self.0.postgres, "registry").await?;
        tx.commit().await?;
        self.read_own_append().await;
        self.changed();
        Ok(entry)
    }

    /// Whether the log records the revocation of credential `id` (as far as this process has
    /// read it: its own decisions at once, other nodes' on their change notice).
    pub fn credential_revoked(&self, id: &str) -> bool {
        let commitment = self.commitment(id);
        self.decisions().credentials.contains(&commitment)
    }

    /// Whether the latest suspension decision the log records for credential `id` suspended it.
    pub fn credential_suspended(&self, id: &str) -> bool {
        let commitment = self.commitment(id);
        self.decisions()
            .suspended
            .get(&commitment)
            .is_some_and(|s| s.0)
    }

    /// What names credential `id` in the public log: a seal over it, which only this service
    /// computes.
    fn commitment(&self, id: &str) -> String {
        self.0.sealer.seal(&[b"credential", id.as_bytes()])
    }

    /// The indices of status list `list` whose credentials the log records revoked.
    pub fn revoked_in_list(&self, list: &str) -> Vec<i64> {
        self.decisions()
            .by_list
            .get(list)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the log records the revocation of operator `name` created at `created_at`.
    pub fn operator_revoked(&self, name: &str, created_at: i64) -> bool {
        self.decisions()
            .operators
            .contains(&(name.to_owned(), created_at))
    }

    /// When the log records the retirement of the wallet key `public_key` (its
    /// `publicKeyMultibase`), if it does.
    pub fn key_retired(&self, public_key: &str) -> Option<i64> {
        self.decisions().keys.get(public_key).copied()
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
