//! Registering, changing and resolving agents (spec section 5).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use agentid_spec::document::{
    AgentStatus, Deplatforming, DidDocument, DocumentMetadata, ResolutionResult, Suspension,
    SUSPENSION_REASON_CODES,
};
use agentid_spec::history::{History, Rejection, MAX_HISTORY};
use agentid_spec::id::{hash_b32, AgentDid, AgentName, NAME_URI_PREFIX};
use agentid_spec::log::{LogEntry, LogRecord};
use agentid_spec::operation::MAX_OPERATION_LEN;
use agentid_spec::time::format_rfc3339;

use crate::log;
use crate::names::why_reserved;
use crate::{Error, Registry};

/// The result of a successful `create`: the answer, and whether it is a retry's.
#[derive(Clone, Debug)]
pub struct Registered {
    /// What the registration answers.
    pub answer: agentid_spec::api::Registered,
    /// True when this genesis was registered before: the answer is the first one's (a retry).
    pub replayed: bool,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// How many times [`Registry::operate`] decides an operation again after losing a race for
/// the agent's head before answering `stale_prev`.
const OPERATE_ATTEMPTS: usize = 8;

/// How an attempt of [`Registry::operate`] lost a race with another write to the agent.
#[derive(Clone, Copy, Debug)]
enum Raced {
    /// Between reading its head and reading its operations.
    Read,
    /// Between reading and the conditional write.
    Write,
}

impl Registry {
    /// Accepts a signed genesis operation.
    pub async fn register(&self, jws: &str) -> Result<Registered, Error> {
        let now = self.0.clock.now();
        let history = History::genesis(jws, now)?;
        let signer = history.entries()[0].signer.clone();
        let state = history.state();
        let (name, rotation_keys) = (state.name.clone(), &state.rotation_keys);
        if let Some(why) = name.as_ref().and_then(why_reserved) {
            return Err(Error::NameReserved(why));
        }
        let did = history.did().clone();
        let doc = state.document(&did, name.as_ref());
        let doc_json = serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        let keys_json =
            serde_json::to_string(rotation_keys).map_err(|e| Error::Internal(e.to_string()))?;

        // Who holds which name and zone, read before the transaction: inside it, no second
        // connection is taken (on SQLite the pool's others may all be waiting for this one's
        // write lock).
        self.catch_up().await?;
        let _turn = self.0.db.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // A name held by an agent deactivated longer ago than the grace period is released to
        // this registration, in the same transaction, and the release is logged for the old DID.
        let mut released = None;
        if let Some(n) = &name {
            let grace = self.0.name_grace_secs.load(Ordering::Relaxed);
            let cutoff = now.saturating_sub(grace);
            let old: Option<(String, String)> = sqlx::query_as(
                "UPDATE registry_agents SET name = NULL, updated_at = $1 \
                 WHERE name = $2 AND status = 'deactivated' AND status_changed_at <= $3 \
                 RETURNING did, document",
            )
            .bind(now)
            .bind(n.as_str())
            .bind(cutoff)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((old, document)) = old {
                // The log, not the row, says the agent was deactivated long enough ago.
                let deactivated: Option<log::SealedRow> = sqlx::query_as(&format!(
                    "{} WHERE did = $1 AND kind = 'deactivate' ORDER BY seq LIMIT 1",
                    log::SELECT_SEALED
                ))
                .bind(&old)
                .fetch_optional(&mut *tx)
                .await?;
                let proved = deactivated
                    .map(log::sealed_entry)
                    .is_some_and(|r| r.holds(&self.0.sealer) && r.entry.created_at <= cutoff);
                if !proved {
                    return Err(self.unproven(
                        n,
                        &format!("its row says {old} was deactivated, and the log does not"),
                    ));
                }
                // Its document no longer claims the name.
                let mut document: DidDocument = serde_json::from_str(&document)
                    .map_err(|e| Error::Internal(format!("stored document: {e}")))?;
                let uri = format!("{NAME_URI_PREFIX}{n}");
                document.also_known_as.retain(|a| *a != uri);
                let document =
                    serde_json::to_string(&document).map_err(|e| Error::Internal(e.to_string()))?;
                sqlx::query("UPDATE registry_agents SET document = $1 WHERE did = $2")
                    .bind(&document)
                    .bind(&old)
                    .execute(&mut *tx)
                    .await?;
                let record = serde_json::json!({ "type": "releaseName", "did": old, "name": n });
                log::append(
                    &mut tx,
                    &self.0.db,
                    &self.0.sealer,
                    LogRecord {
                        did: old.clone(),
                        kind: "release-name".into(),
                        operation: record.to_string(),
                        actor: "registry".into(),
                        reason: Some("deactivated past the name's grace period".into()),
                        created_at: now,
                    },
                    Some(n.as_str()),
                )
                .await?;
                log::notify(&mut tx, &self.0.db, "registry").await?;
                released = Some(old);
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO registry_agents (did, name, document, rotation_keys, status, head, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $6)",
        )
        .bind(did.as_str())
        .bind(name.as_ref().map(AgentName::as_str))
        .bind(&doc_json)
        .bind(&keys_json)
        .bind(did.id())
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            if is_unique_violation(&e) {
                drop(tx);
                // The DID is the hash of this very genesis: registered before, this is a retry,
                // answered as the first registration was.
                if let Some(seq) = self.logged(&did, "create").await? {
                    return Ok(Registered {
                        answer: agentid_spec::api::Registered {
                            did: did.to_string(),
                            name: name.map(String::from),
                            document: doc,
                            log_seq: seq,
                        },
                        replayed: true,
                    });
                }
                return Err(self.conflict(&did, name.as_ref()).await);
            }
            return Err(e.into());
        }
        let entry = log::append(
            &mut tx,
            &self.0.db,
            &self.0.sealer,
            LogRecord {
                did: did.to_string(),
                kind: "create".into(),
                operation: jws.to_owned(),
                actor: signer.to_string(),
                reason: None,
                created_at: now,
            },
            name.as_ref().map(AgentName::as_str),
        )
        .await?;
        // After the log's lock: a zone claimed meanwhile is seen.
        if let Some(n) = &name {
            self.check_unzoned(&mut tx, n).await?;
            self.check_name_free(n, &did, released.as_deref()).await?;
        }
        if released.is_none() {
            // Nothing cached changed, but the log grew: wake other nodes' event streams.
            log::notify(&mut tx, &self.0.db, "log").await?;
        }
        tx.commit().await?;
        self.read_own_append().await;
        self.appended();
        if let Some(old) = released {
            self.changed();
            tracing::info!(%old, name = ?name.as_ref().map(AgentName::as_str), "name released");
        }
        tracing::info!(%did, name = ?name.as_ref().map(AgentName::as_str), "agent registered");
        Ok(Registered {
            answer: agentid_spec::api::Registered {
                did: did.to_string(),
                name: name.map(String::from),
                document: doc,
                log_seq: entry.seq,
            },
            replayed: false,
        })
    }

    /// The sequence number of `did`'s latest log entry of `kind`, if any.
    /// Checks that the log leaves `name` free for `did` (besides `released`, whose name this
    /// registration releases): its latest entry about the name, if any, unbinds or releases
    /// it, and every entry of the log carries this service's seal. The names table said it was
    /// free; a log that disagrees means a name cleared behind the registry's back, and the
    /// registration is refused and reported rather than given someone's name.
    async fn check_name_free(
        &self,
        name: &AgentName,
        did: &AgentDid,
        released: Option<&str>,
    ) -> Result<(), Error> {
        let names = self.0.names.read().unwrap_or_else(|e| e.into_inner());
        if let Some(seq) = names.first_unproven() {
            return Err(self.unproven(
                name,
                &format!(
                    "the log holds an entry ({seq}) without this service's seal: names are \
                     given to nobody until an operator accepts the log"
                ),
            ));
        }
        match names.holder(name.as_str()) {
            Some((kind, holder))
                if matches!(kind.as_str(), "create" | "bind-name")
                    && holder != did.as_str()
                    && Some(holder.as_str()) != released =>
            {
                Err(self.unproven(
                    name,
                    &format!("the log binds it to {holder}, and its row does not"),
                ))
            }
            _ => Ok(()),
        }
    }

    async fn logged(&self, did: &AgentDid, kind: &str) -> Result<Option<i64>, Error> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT seq FROM registry_log WHERE did = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(did.as_str())
        .bind(kind)
        .fetch_optional(&self.0.pool)
        .await?;
        Ok(row.map(|(seq,)| seq))
    }

    async fn conflict(&self, did: &AgentDid, name: Option<&AgentName>) -> Error {
        let exists: Result<Option<(String,)>, _> =
            sqlx::query_as("SELECT did FROM registry_agents WHERE did = $1")
                .bind(did.as_str())
                .fetch_optional(&self.0.pool)
                .await;
        match (exists, name) {
            (Ok(Some(_)), _) => Error::AlreadyRegistered(did.to_string()),
            (Ok(None), Some(n)) => Error::NameTaken(n.to_string()),
            (Ok(None), None) => Error::Conflict,
            (Err(e), _) => e.into(),
        }
    }

    /// An agent's operations (`create`, `update`, `deactivate`, in force or undone), in the
    /// order received: `(seq, jws, received_at)`. Empty if unknown.
    pub async fn operations(&self, did: &AgentDid) -> Result<Vec<(i64, String, i64)>, Error> {
        let limit = i64::try_from(MAX_HISTORY).unwrap_or(i64::MAX);
        Ok(sqlx::query_as(
            "SELECT seq, operation, created_at FROM registry_log \
             WHERE did = $1 AND kind IN ('create', 'update', 'deactivate') ORDER BY seq LIMIT $2",
        )
        .bind(did.as_str())
        .bind(limit)
        .fetch_all(&self.0.pool)
        .await?)
    }

    /// An agent's history replayed from its operations in the log, read in `tx`.
    pub(crate) async fn history_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        did: &AgentDid,
    ) -> Result<History, Error> {
        let limit = i64::try_from(MAX_HISTORY).unwrap_or(i64::MAX);
        let operations: Vec<(String, i64)> = sqlx::query_as(
            "SELECT operation, created_at FROM registry_log \
             WHERE did = $1 AND kind IN ('create', 'update', 'deactivate') ORDER BY seq LIMIT $2",
        )
        .bind(did.as_str())
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
        if operations.is_empty() {
            return Err(Error::NotRegistered(did.to_string()));
        }
        History::replay(operations.iter().map(|(j, at)| (j.as_str(), *at))).map_err(|(i, e)| {
            Error::Internal(format!(
                "stored operation {i} of {did} does not replay: {e}"
            ))
        })
    }

    /// Applies a signed operation to an existing agent (section 5.3: `update`, a recovery,
    /// `deactivate`): its result, and whether the same operation had been applied before (a
    /// retry of the agent's latest operation, answered the same).
    pub async fn operate(
        &self,
        did: &AgentDid,
        jws: &str,
    ) -> Result<(serde_json::Value, bool), Error> {
        if jws.len() > MAX_OPERATION_LEN {
            return Err(Rejection::TooLarge.into());
        }
        // Another node, or another request on this one, may change the agent between this
        // reading its history and writing: the write is conditional on the head it read, and an
        // operation that lost that race is decided again on the history that won (so a recovery
        // racing the operation it undoes is still a recovery, and a retry racing its first
        // attempt is still a retry).
        let mut lost = Raced::Write;
        for _ in 0..OPERATE_ATTEMPTS {
            match self.operate_once(did, jws).await? {
                Ok(answer) => return Ok(answer),
                Err(raced) => lost = raced,
            }
        }
        Err(match lost {
            Raced::Write => Error::StalePrev("the agent kept changing concurrently; retry"),
            // The two reads disagreed every time: not a race but a stored history that does
            // not lead to the stored head.
            Raced::Read => {
                Error::Internal(format!("stored head of {did} is not its operations' head"))
            }
        })
    }

    /// One attempt of [`Registry::operate`]: `Err` if another write to the agent came between
    /// its reads or before its write.
    async fn operate_once(
        &self,
        did: &AgentDid,
        jws: &str,
    ) -> Result<Result<(serde_json::Value, bool), Raced>, Error> {
        let row: Option<(Option<String>, String, String)> =
            sqlx::query_as("SELECT name, status, head FROM registry_agents WHERE did = $1")
                .bind(did.as_str())
                .fetch_optional(&self.0.pool)
                .await?;
        let (name, status, head) = row.ok_or_else(|| Error::NotRegistered(did.to_string()))?;
        let operations = self.operations(did).await?;
        let mut history = History::replay(operations.iter().map(|(_, j, at)| (j.as_str(), *at)))
            .map_err(|(i, e)| {
                Error::Internal(format!(
                    "stored operation {i} of {did} does not replay: {e}"
                ))
            })?;
        if history.head() != head {
            // An operation committed between reading the head and reading the operations.
            return Ok(Err(Raced::Read));
        }
        let hash = hash_b32(jws.as_bytes());
        if hash == head {
            // This very operation is the agent's latest: a retry.
            let seq = operations.iter().rfind(|(_, j, _)| j == jws).map(|r| r.0);
            let answer = self.operated(did, &history, seq.unwrap_or_default(), &[]);
            return Ok(Ok((answer, true)));
        }
        // A deplatformed (or suspended) agent still takes operations: its standing is the
        // DID's, which no key change lifts, and a copy held here is so brought up to date
        // with what its other registries hold (a thief's decision on a stale copy would
        // otherwise keep the owner's rotation out).
        let now = self.0.clock.now();
        let applied = history.apply(jws, now)?;
        let state = history.state();
        if state.deactivated && AgentStatus::parse(&status) == Some(AgentStatus::Deplatformed) {
            // Deactivation would end the deplatforming's record and, after the grace, free
            // the agent's name for another DID: a deplatformed agent keeps both.
            return Err(Error::Deplatformed(did.to_string()));
        }
        let name = name
            .as_deref()
            .map(AgentName::parse)
            .transpose()
            .map_err(|e| Error::Internal(format!("stored name: {e}")))?;
        let doc = state.document(did, name.as_ref());
        let doc_json = serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        let keys_json = serde_json::to_string(&state.rotation_keys)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let sql = if state.deactivated {
            "UPDATE registry_agents SET document = $1, rotation_keys = $2, head = $3, updated_at = $4, \
             status = 'deactivated', status_changed_at = $4, status_until = NULL, status_code = NULL \
             WHERE did = $5 AND head = $6 AND status IN ('active', 'suspended', 'deplatformed')"
        } else {
            "UPDATE registry_agents SET document = $1, rotation_keys = $2, head = $3, updated_at = $4 \
             WHERE did = $5 AND head = $6 AND status IN ('active', 'suspended', 'deplatformed')"
        };
        let _turn = self.0.db.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        let changed = sqlx::query(sql)
            .bind(&doc_json)
            .bind(&keys_json)
            .bind(&applied.hash)
            .bind(now)
            .bind(did.as_str())
            .bind(&head)
            .execute(&mut *tx)
            .await?;
        if changed.rows_affected() != 1 {
            return Ok(Err(Raced::Write));
        }
        let entry = log::append(
            &mut tx,
            &self.0.db,
            &self.0.sealer,
            LogRecord {
                did: did.to_string(),
                kind: applied.kind.into(),
                operation: jws.to_owned(),
                actor: applied.signer.to_string(),
                reason: None,
                created_at: now,
            },
            None,
        )
        .await?;
        log::notify(&mut tx, &self.0.db, "registry").await?;
        tx.commit().await?;
        self.read_own_append().await;
        self.changed();
        if applied.nullified.is_empty() {
            tracing::info!(%did, kind = applied.kind, "agent operation");
        } else {
            tracing::warn!(%did, undone = applied.nullified.len(), "agent recovered");
        }
        let mut answer = self.operated(did, &history, entry.seq, &applied.nullified);
        if !state.deactivated && AgentStatus::parse(&status) == Some(AgentStatus::Deplatformed) {
            answer["status"] = "deplatformed".into();
        }
        Ok(Ok((answer, false)))
    }

    /// The answer to an accepted operation.
    fn operated(
        &self,
        did: &AgentDid,
        history: &History,
        seq: i64,
        nullified: &[String],
    ) -> serde_json::Value {
        let status = if history.state().deactivated {
            "deactivated"
        } else {
            "active"
        };
        let answer = agentid_spec::api::Operated {
            did: did.to_string(),
            status: status.to_owned(),
            head: history.head().to_owned(),
            log_seq: seq,
            nullified: nullified.to_vec(),
        };
        serde_json::to_value(answer).unwrap_or_default()
    }

    /// Deplatforms an agent: a decision by `actor`, with a reason, recorded in the log.
    pub async fn deplatform(
        &self,
        did: &AgentDid,
        reason: &str,
        actor: &str,
    ) -> Result<serde_json::Value, Error> {
        let _turn = self.0.db.write_turn().await;
        let tx = self.0.pool.begin().await?;
        self.deplatform_in(tx, did, reason, actor, None).await
    }

    /// [`Registry::deplatform`] in `tx`, on the authority of a zone's owner when `by_zone` is given
    /// (recorded in the decision).
    pub(crate) async fn deplatform_in(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        did: &AgentDid,
        reason: &str,
        actor: &str,
        by_zone: Option<&crate::zones::ZoneAuthority<'_>>,
    ) -> Result<serde_json::Value, Error> {
        let now = self.0.clock.now();
        let changed = sqlx::query(
            "UPDATE registry_agents SET status = 'deplatformed', status_reason = $1, status_changed_at = $2, updated_at = $2, \
             status_until = NULL, status_code = NULL, evidence_hash = NULL \
             WHERE did = $3 AND status IN ('active', 'suspended')",
        )
        .bind(reason)
        .bind(now)
        .bind(did.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            drop(tx);
            return Err(self.not_moderatable(did).await?);
        }
        // The free-text reason is the entry's `reason` (public only by its hash), not part of
        // the decision's JSON.
        let mut record = serde_json::json!({ "type": "deplatform", "did": did });
        crate::zones::ZoneAuthority::record(by_zone, &mut record);
        let entry = self
            .decide(tx, did, "deplatform", record, actor, reason, now)
            .await?;
        tracing::warn!(%did, actor, "agent deplatformed");
        Ok(serde_json::json!({
            "did": did, "status": "deplatformed", "reason": reason,
            "at": format_rfc3339(now), "logSeq": entry.seq, "entryHash": entry.entry_hash,
        }))
    }

    /// Suspends an agent until `until` (Unix seconds): a decision by `actor` with a reason code
    /// (one of [`SUSPENSION_REASON_CODES`]), a reason and the hash of the evidence, recorded in
    /// the log. Every credential it holds is refused (`agent_suspended`) until then, unless it
    /// is reinstated earlier. Suspending a suspended agent again replaces the suspension.
    pub async fn suspend(
        &self,
        did: &AgentDid,
        decision: &Suspend<'_>,
        actor: &str,
    ) -> Result<serde_json::Value, Error> {
        let _turn = self.0.db.write_turn().await;
        let tx = self.0.pool.begin().await?;
        self.suspend_in(tx, did, decision, actor, None).await
    }

    /// [`Registry::suspend`] in `tx`, on the authority of a zone's owner when `by_zone` is given
    /// (recorded in the decision).
    pub(crate) async fn suspend_in(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        did: &AgentDid,
        decision: &Suspend<'_>,
        actor: &str,
        by_zone: Option<&crate::zones::ZoneAuthority<'_>>,
    ) -> Result<serde_json::Value, Error> {
        let now = self.0.clock.now();
        let until = now
            .checked_add(decision.secs)
            .filter(|_| (1..=crate::MAX_SUSPENSION_SECS).contains(&decision.secs))
            .ok_or_else(|| {
                Error::InvalidOperation(format!(
                    "a suspension lasts 1 to {} seconds",
                    crate::MAX_SUSPENSION_SECS
                ))
            })?;
        // Every path to a suspension (an operator's, a zone owner's): the evidence by its
        // SHA-256 only, never free text in the public log.
        if decision
            .evidence_hash
            .is_some_and(|h| agentid_spec::jose::b64u_decode(h).is_none_or(|b| b.len() != 32))
        {
            return Err(Error::InvalidOperation(
                "evidenceHash is the base64url SHA-256 (32 bytes) of the evidence".into(),
            ));
        }
        if !SUSPENSION_REASON_CODES.contains(&decision.reason_code) {
            return Err(Error::InvalidOperation(format!(
                "reasonCode is one of {}",
                SUSPENSION_REASON_CODES.join(", ")
            )));
        }
        let changed = sqlx::query(
            "UPDATE registry_agents SET status = 'suspended', status_reason = $1, status_code = $2, \
             evidence_hash = $3, status_until = $4, status_changed_at = $5, updated_at = $5 \
             WHERE did = $6 AND status IN ('active', 'suspended')",
        )
        .bind(decision.reason)
        .bind(decision.reason_code)
        .bind(decision.evidence_hash)
        .bind(until)
        .bind(now)
        .bind(did.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            drop(tx);
            return Err(self.not_moderatable(did).await?);
        }
        let mut record = serde_json::json!({
            "type": "suspend", "did": did, "reasonCode": decision.reason_code,
            "evidenceHash": decision.evidence_hash, "until": format_rfc3339(until),
        });
        crate::zones::ZoneAuthority::record(by_zone, &mut record);
        let entry = self
            .decide(tx, did, "suspend", record, actor, decision.reason, now)
            .await?;
        tracing::warn!(%did, actor, until, "agent suspended");
        Ok(serde_json::json!({
            "did": did, "status": "suspended", "reasonCode": decision.reason_code,
            "reason": decision.reason, "evidenceHash": decision.evidence_hash,
            "at": format_rfc3339(now), "until": format_rfc3339(until),
            "logSeq": entry.seq, "entryHash": entry.entry_hash,
        }))
    }

    /// Reinstates a suspended or deplatformed agent: a decision by `actor`, with a reason,
    /// recorded in the log. A deactivated agent stays deactivated (410).
    pub async fn reinstate(
        &self,
        did: &AgentDid,
        reason: &str,
        actor: &str,
    ) -> Result<serde_json::Value, Error> {
        let _turn = self.0.db.write_turn().await;
        let tx = self.0.pool.begin().await?;
        self.reinstate_in(tx, did, reason, actor, None).await
    }

    /// [`Registry::reinstate`] in `tx`, on the authority of a zone's owner when `by_zone` is given
    /// (recorded in the decision).
    pub(crate) async fn reinstate_in(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        did: &AgentDid,
        reason: &str,
        actor: &str,
        by_zone: Option<&crate::zones::ZoneAuthority<'_>>,
    ) -> Result<serde_json::Value, Error> {
        let now = self.0.clock.now();
        let changed = sqlx::query(
            "UPDATE registry_agents SET status = 'active', status_reason = NULL, status_code = NULL, \
             evidence_hash = NULL, status_until = NULL, status_changed_at = $1, updated_at = $1 \
             WHERE did = $2 AND status IN ('suspended', 'deplatformed')",
        )
        .bind(now)
        .bind(did.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            drop(tx);
            return Err(match self.not_moderatable(did).await? {
                Error::AlreadyDeplatformed(_) => Error::Internal("status changed".into()),
                e => e,
            });
        }
        let mut record = serde_json::json!({ "type": "reinstate", "did": did });
        crate::zones::ZoneAuthority::record(by_zone, &mut record);
        let entry = self
            .decide(tx, did, "reinstate", record, actor, reason, now)
            .await?;
        tracing::warn!(%did, actor, "agent reinstated");
        Ok(serde_json::json!({
            "did": did, "status": "active", "reason": reason, "at": format_rfc3339(now),
            "logSeq": entry.seq, "entryHash": entry.entry_hash,
        }))
    }

    /// Appends a moderation decision to the log, announces it and commits `tx`; cached
    /// resolutions are dropped.
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        did: &AgentDid,
        kind: &str,
        record: serde_json::Value,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<agentid_spec::log::LogEntry, Error> {
        let entry = log::append(
            &mut tx,
            &self.0.db,
            &self.0.sealer,
            LogRecord {
                did: did.to_string(),
                kind: kind.into(),
                operation: record.to_string(),
                actor: actor.to_owned(),
                reason: Some(reason.to_owned()),
                created_at: now,
            },
            None,
        )
        .await?;
        log::notify(&mut tx, &self.0.db, "registry").await?;
        tx.commit().await?;
        self.read_own_append().await;
        self.changed();
        Ok(entry)
    }

    /// Why a moderation decision did not apply to `did`.
    async fn not_moderatable(&self, did: &AgentDid) -> Result<Error, Error> {
        let status: Option<(String,)> =
            sqlx::query_as("SELECT status FROM registry_agents WHERE did = $1")
                .bind(did.as_str())
                .fetch_optional(&self.0.pool)
                .await?;
        Ok(match status.as_ref().map(|(s,)| s.as_str()) {
            None => Error::NotRegistered(did.to_string()),
            Some("deactivated") => Error::Deactivated(did.to_string()),
            Some("deplatformed") => Error::AlreadyDeplatformed(did.to_string()),
            Some(_) => Error::NotModerated(did.to_string()),
        })
    }

    /// Looks up an agent by DID or name and builds its resolution result, through an in-memory
    /// cache of recent answers (cleared on every change this process makes, and expiring after
    /// a few seconds for changes made by other processes). `None` if unknown.
    pub async fn lookup(&self, key: Lookup<'_>) -> Result<Option<Arc<ResolutionResult>>, Error> {
        let cache_key = match key {
            Lookup::Did(did) => did.as_str(),
            Lookup::Name(name) => name.as_str(),
        };
        let now = self.0.clock.now();
        if let Some(hit) = self.0.resolved.get(cache_key, now) {
            // A suspension that has ended is not answered from the cache.
            let ended = hit
                .did_document_metadata
                .as_ref()
                .and_then(|m| m.suspended.as_ref())
                .and_then(|s| agentid_spec::time::parse_rfc3339(&s.until))
                .is_some_and(|until| until <= now);
            if !ended {
                return Ok(Some(hit));
            }
        }
        // Read before the lookup: an answer read while a change committed is not kept.
        let generation = self.generation();
        let Some(result) = self.lookup_fresh(key).await? else {
            return Ok(None);
        };
        let result = Arc::new(result);
        if self.generation() == generation {
            self.0.resolved.put(cache_key, result.clone(), now);
        }
        Ok(Some(result))
    }

    /// A change committed by another process on the same database (from the change feed):
    /// drops cached resolutions and moves the generation.
    pub fn changed_elsewhere(&self) {
        self.changed();
    }

    /// Another process appended to the log (from the change feed): wakes the event streams.
    pub fn appended_elsewhere(&self) {
        self.appended();
    }

    /// Drops cached resolutions and moves the generation, after a change has committed.
    pub(crate) fn changed(&self) {
        self.0.resolved.clear();
        self.0
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.appended();
    }

    /// Wakes whoever follows the log ([`Registry::log_appends`]), after an append committed.
    fn appended(&self) {
        self.0.appends.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Looks up an agent in the database, bypassing the cache: for a caller that keeps its own
    /// (a co-located verifier, which watches [`Registry::generation`]). `None` if unknown.
    pub async fn lookup_fresh(&self, key: Lookup<'_>) -> Result<Option<ResolutionResult>, Error> {
        const COLUMNS: &str =
            "SELECT did, name, document, status, status_changed_at, head, created_at, \
                               updated_at FROM registry_agents a";
        type AgentRow = (
            String,
            Option<String>,
            String,
            String,
            Option<i64>,
            String,
            i64,
            i64,
        );
        let (sql, value) = match key {
            Lookup::Did(did) => (format!("{COLUMNS} WHERE did = $1"), did.as_str()),
            Lookup::Name(name) => (format!("{COLUMNS} WHERE name = $1"), name.as_str()),
        };
        let row: Option<AgentRow> = sqlx::query_as(&sql)
            .bind(value)
            .fetch_optional(&self.0.pool)
            .await?;
        let Some((did, name, doc, status, changed_at, head, created, updated)) = row else {
            return Ok(None);
        };
        let did = AgentDid::parse(&did).map_err(|e| Error::Internal(format!("stored DID: {e}")))?;
        // What is served is what the log proves; the row only finds the agent, and must agree.
        let proved = self
            .proved(&did)
            .await?
            .ok_or_else(|| self.unproven(&did, "it has no log entries"))?;
        let latest_seq = proved.latest_seq;
        let proved = proved.state;
        let stored: serde_json::Value = serde_json::from_str(&doc)
            .map_err(|_| self.unproven(&did, "its stored document does not parse"))?;
        let derived =
            serde_json::to_value(&proved.document).map_err(|e| Error::Internal(e.to_string()))?;
        if stored != derived {
            return Err(self.unproven(&did, "its stored document is not its operations'"));
        }
        if head != proved.head {
            return Err(self.unproven(&did, "its stored head is not its latest operation"));
        }
        if name.as_deref() != proved.name.as_ref().map(AgentName::as_str) {
            return Err(self.unproven(&did, "its stored name is not the one its log binds"));
        }
        if AgentStatus::parse(&status) != Some(proved.status) {
            return Err(self.unproven(&did, "its stored standing is not its log's decisions'"));
        }
        if let Lookup::Name(n) = key {
            if proved.name.as_ref() != Some(n) {
                return Err(self.unproven(&did, "the name it was found by is not its own"));
            }
        }
        let mut agent_status = proved.status;
        let at = format_rfc3339(changed_at.unwrap_or(updated));
        let suspended = match (agent_status, &proved.suspension) {
            // A suspension past its end is over.
            (AgentStatus::Suspended, Some(s)) if s.until <= self.0.clock.now() => {
                agent_status = AgentStatus::Active;
                None
            }
            (AgentStatus::Suspended, Some(s)) => Some(Suspension {
                reason_code: s.reason_code.clone(),
                reason: s.reason.clone().unwrap_or_default(),
                evidence_hash: s.evidence_hash.clone(),
                at: at.clone(),
                until: format_rfc3339(s.until),
            }),
            _ => None,
        };
        let deplatformed = match (agent_status, proved.deplatformed) {
            (AgentStatus::Deplatformed, Some(reason)) => Some(Deplatforming { reason, at }),
            _ => None,
        };
        let mut metadata =
            DocumentMetadata::registered(created, updated, head, agent_status, deplatformed);
        metadata.suspended = suspended;
        if let Ok(seq) = u64::try_from(latest_seq) {
            metadata.log_inclusion = self.latest_inclusion(seq).await?;
        }
        Ok(Some(ResolutionResult::found(proved.document, metadata)))
    }

    /// The log entries of one agent, oldest first.
    pub async fn agent_log(&self, did: &AgentDid) -> Result<Vec<LogEntry>, Error> {
        let rows: Vec<log::Row> = sqlx::query_as(&format!(
            "{} WHERE did = $1 ORDER BY seq LIMIT $2",
            log::SELECT
        ))
        .bind(did.as_str())
        .bind(crate::MAX_LOG_PAGE)
        .fetch_all(&self.0.pool)
        .await?;
        Ok(rows.into_iter().map(log::entry).collect())
    }

    /// Log entries after `after`, oldest first, at most `limit`.
    pub async fn log_since(&self, after: i64, limit: i64) -> Result<Vec<LogEntry>, Error> {
        let limit = limit.clamp(1, crate::MAX_LOG_PAGE);
        let rows: Vec<log::Row> = sqlx::query_as(&format!(
            "{} WHERE seq > $1 ORDER BY seq LIMIT $2",
            log::SELECT
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.0.pool)
        .await?;
        Ok(rows.into_iter().map(log::entry).collect())
    }
}

/// A suspension as a moderator decides it (section 5.4).
#[derive(Clone, Copy, Debug)]
pub struct Suspend<'a> {
    /// One of [`SUSPENSION_REASON_CODES`].
    pub reason_code: &'a str,
    /// The moderator's reason (1 to [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES) bytes).
    pub reason: &'a str,
    /// base64url SHA-256 of the evidence, if any.
    pub evidence_hash: Option<&'a str>,
    /// How long, in seconds: 1 to [`MAX_SUSPENSION_SECS`](crate::MAX_SUSPENSION_SECS).
    pub secs: i64,
}

/// How to find an agent.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    /// By DID.
    Did(&'a AgentDid),
    /// By name.
    Name(&'a AgentName),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `spec/vectors/identifiers/genesis.json`: the operation opens, defines the DID, and
    /// yields the document the vector gives.
    #[test]
    fn genesis_vector() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../spec/vectors/identifiers/genesis.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let jws = v["input"]["operation"].as_str().unwrap();
        let history = History::genesis(jws, 0).unwrap();
        let did = AgentDid::from_genesis(jws);
        assert_eq!(history.did(), &did);
        assert_eq!(did.as_str(), v["output"]["did"]);
        let doc = history
            .state()
            .document(&did, history.state().name.as_ref());
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            v["output"]["didDocument"]
        );
        // Any change to the signed bytes breaks the signature.
        let mut tampered = jws.to_owned();
        tampered.insert(tampered.find('.').unwrap() + 5, 'A');
        assert!(History::genesis(&tampered, 0).is_err());
    }
}
