//! An agent's state as its log proves it (section 5.3, "The service proves what it serves"):
//! the document from its signed operations, replayed from the genesis; its name from the
//! registration and the zone bindings; its standing from the moderation decisions. Every entry
//! read must be a leaf of the log's Merkle tree as this node holds it, and carry this service's
//! seal (agentid-store): an entry the service did not write, such as an operator's decision
//! appended to the database directly, proves nothing. Resolution serves this,
//! and compares it with the agent's stored row: a row rewritten behind the registry's back (a
//! key, a status, a name) is refused and reported, never served.

use std::sync::atomic::Ordering;

use agentid_spec::id::AgentDid;
use agentid_spec::log::LogEntry;
use agentid_spec::standing::{self, EntryRef, ProvedState};

use crate::{Error, Registry};

/// What an agent's log entries imply about it now, and its latest entry.
#[derive(Clone, Debug)]
pub(crate) struct Proved {
    pub(crate) state: ProvedState,
    /// The agent's latest log entry.
    pub(crate) latest_seq: i64,
}

/// Most entries without a seal that [`Registry::unsealed_entries`] lists.
pub const MAX_REPORTED: usize = 50;

/// Most entries [`Registry::amend_log`] drops at once.
pub const MAX_DROPPED: usize = 1000;

/// A log entry without a seal of this service that verifies, as shown to an operator.
#[derive(Clone, Debug)]
pub struct Unsealed {
    /// Its number.
    pub seq: i64,
    /// Its kind (`create`, `reinstate`, `revoke-credential`, ...).
    pub kind: String,
    /// The agent it is about.
    pub did: String,
    /// Who it says did it.
    pub actor: String,
    /// When it says it was written (Unix seconds).
    pub created_at: i64,
    /// Whether its stored hash is its contents'.
    pub intact: bool,
}

impl Unsealed {
    fn of(e: &LogEntry) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.clone(),
            did: e.did.clone(),
            actor: e.actor.clone(),
            created_at: e.created_at,
            intact: e.computed_hash() == e.entry_hash,
        }
    }
}

impl std::fmt::Display for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The strings as written into the database, quoted and escaped: a forger's newline
        // or terminal escape cannot fake a line of the listing an operator reads.
        write!(
            f,
            "entry {} ({:?}, about {:?}, by {:?}, at {}{})",
            self.seq,
            self.kind,
            self.did,
            self.actor,
            agentid_spec::time::format_rfc3339(self.created_at),
            if self.intact {
                ""
            } else {
                "; its hash is not its contents'"
            }
        )
    }
}

/// Most log entries of one agent read to prove its state.
const MAX_ENTRIES: i64 = 10_000;

/// The query for an agent's sealed entries, in order, bound to `did`.
fn entries_query(
    did: &AgentDid,
) -> sqlx::query::QueryAs<'static, sqlx::Any, crate::log::SealedRow, sqlx::any::AnyArguments<'static>>
{
    // Built once: the text is the same for every agent.
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "{} WHERE did = $1 ORDER BY seq LIMIT $2",
            crate::log::SELECT_SEALED
        )
    });
    sqlx::query_as(sql.as_str())
        .bind(did.as_str().to_owned())
        .bind(MAX_ENTRIES)
}

impl Registry {
    /// The state `did`'s log entries prove, read at this moment; `Ok(None)` for an agent with
    /// no entries. Entries that are not the leaves of this node's log tree are refused.
    pub(crate) async fn proved(&self, did: &AgentDid) -> Result<Option<Proved>, Error> {
        let rows: Vec<crate::log::Sealed> = entries_query(did)
            .fetch_all(&self.0.pool)
            .await?
            .into_iter()
            .map(crate::log::sealed_entry)
            .collect();
        let entries: Vec<LogEntry> = rows.iter().map(|r| r.entry.clone()).collect();
        let Some(last) = entries.last() else {
            return Ok(None);
        };
        let leaves: Vec<agentid_spec::merkle::Hash> =
            entries.iter().map(|e| e.public().leaf_hash()).collect();
        if !self.are_leaves(&entries, &leaves).await? {
            return Err(self.unproven(did, "its log entries are not the log's leaves"));
        }
        self.none_gone(did, &rows)?;
        // The same entries prove the same state: the replay (its signature checks) runs once
        // per change of the agent's log, not once per resolution.
        if let Some(known) = self.0.proofs.get(did.as_str()) {
            if known.0 == leaves {
                return Ok(Some(Proved {
                    state: known.1.clone(),
                    latest_seq: last.seq,
                }));
            }
        }
        let state = self.sealed_state(did, &rows)?;
        self.0.proofs.insert(
            did.as_str().to_owned(),
            std::sync::Arc::new((leaves, state.clone())),
        );
        Ok(Some(Proved {
            state,
            latest_seq: last.seq,
        }))
    }

    /// The state `did`'s log entries prove, read in `tx` (no other connection is taken, and the
    /// node's tree is not read from the database): every entry sealed, none this process has
    /// read gone. For the checks a zone operation makes inside its transaction.
    pub(crate) async fn proved_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        did: &AgentDid,
    ) -> Result<Option<ProvedState>, Error> {
        let rows: Vec<crate::log::Sealed> = entries_query(did)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(crate::log::sealed_entry)
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        self.none_gone(did, &rows)?;
        self.sealed_state(did, &rows).map(Some)
    }

    /// Refuses `did` if an entry of it this process has read is not among `rows` (deleted from
    /// the database since).
    fn none_gone(&self, did: &AgentDid, rows: &[crate::log::Sealed]) -> Result<(), Error> {
        let gone = {
            let names = self.0.names.read().unwrap_or_else(|e| e.into_inner());
            names
                .entries_of(did.as_str())
                .iter()
                .find(|seq| rows.binary_search_by_key(*seq, |r| r.entry.seq).is_err())
                .copied()
        };
        match gone {
            Some(seq) => Err(self.unproven(
                did,
                &format!("its log entry {seq} is gone from the database"),
            )),
            None => Ok(()),
        }
    }

    /// The state `rows` (all of `did`'s entries) prove, each written by this service: its seal
    /// (under the master key, which the database never holds) verifies over its contents. A
    /// decision, a binding or an operation appended or altered by anything else proves nothing.
    fn sealed_state(
        &self,
        did: &AgentDid,
        rows: &[crate::log::Sealed],
    ) -> Result<ProvedState, Error> {
        if let Some(r) = rows.iter().find(|r| !r.holds(&self.0.sealer)) {
            return Err(self.unproven(
                did,
                &format!(
                    "its log entry {} ({}) does not carry this service's seal",
                    r.entry.seq, r.entry.kind
                ),
            ));
        }
        let refs = rows.iter().map(|r| EntryRef {
            kind: &r.entry.kind,
            operation: &r.entry.operation,
            created_at: r.entry.created_at,
            reason: r.entry.reason.as_deref(),
        });
        standing::prove(did, refs).map_err(|why| self.unproven(did, &why))
    }

    /// Whether every entry (whose leaf hashes are `hashes`) is the leaf of this node's log
    /// tree at its position.
    async fn are_leaves(
        &self,
        entries: &[LogEntry],
        hashes: &[agentid_spec::merkle::Hash],
    ) -> Result<bool, Error> {
        let Some(last) = entries.last().and_then(|e| u64::try_from(e.seq).ok()) else {
            return Ok(true);
        };
        let leaves: Vec<(usize, &agentid_spec::merkle::Hash)> = entries
            .iter()
            .zip(hashes)
            .filter_map(|(e, h)| Some((usize::try_from(e.seq.checked_sub(1)?).ok()?, h)))
            .collect();
        if leaves.len() != entries.len() {
            return Ok(false);
        }
        self.with_leaves_from(last, |t| {
            leaves
                .iter()
                .all(|(i, hash)| t.leaf(*i).is_some_and(|l| l == *hash))
        })
        .await
    }

    /// Reports an agent (or a zone) whose stored state the log does not prove (logged, and counted for
    /// `/metrics`): the error that refuses to serve it.
    pub(crate) fn unproven(&self, subject: &dyn std::fmt::Display, what: &str) -> Error {
        self.0.unproven.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%subject, what, "stored state is not what the log proves: refused");
        Error::Unproven(format!("{subject}: {what}"))
    }

    /// Seals the log's entries up to `upto` that carry no seal (written before seals existed)
    /// and whose stored hash is their contents': entries the caller vouches this service wrote
    /// (a checkpoint it signed, kept outside the database, covers them). Returns how many it
    /// sealed and how many of the whole log remain without a seal that verifies.
    pub async fn seal_earlier(&self, upto: u64) -> Result<(u64, u64), Error> {
        let upto = i64::try_from(upto).unwrap_or(i64::MAX);
        let (mut sealed, mut left) = (0u64, 0u64);
        let mut after = 0i64;
        loop {
            let rows = self.log_page(after).await?;
            let Some(last) = rows.last().map(|r| r.entry.seq) else {
                break;
            };
            after = last;
            let _turn = self.0.db.write_turn().await;
            let mut tx = self.0.pool.begin().await?;
            for r in rows {
                if r.holds(&self.0.sealer) {
                    continue;
                }
                let e = &r.entry;
                if r.seal.is_some() || e.seq > upto || e.computed_hash() != e.entry_hash {
                    left += 1;
                    continue;
                }
                write_seal(&mut tx, &self.0.sealer, e).await?;
                sealed += 1;
            }
            tx.commit().await?;
        }
        Ok((sealed, left))
    }

    /// Up to 1,000 of the log's entries after `after`, in order, as stored.
    async fn log_page(&self, after: i64) -> Result<Vec<crate::log::Sealed>, Error> {
        let rows: Vec<crate::log::SealedRow> = sqlx::query_as(&format!(
            "{} WHERE seq > $1 ORDER BY seq LIMIT 1000",
            crate::log::SELECT_SEALED
        ))
        .bind(after)
        .fetch_all(&self.0.pool)
        .await?;
        Ok(rows.into_iter().map(crate::log::sealed_entry).collect())
    }

    /// The log's entries that carry no seal of this service that verifies, in order: the first
    /// [`MAX_REPORTED`] of them, and how many there are in all. An operator reads them before
    /// vouching for some or dropping a tail of them ([`Registry::amend_log`]).
    pub async fn unsealed_entries(&self) -> Result<(Vec<Unsealed>, u64), Error> {
        let (mut found, mut total, mut after) = (Vec::new(), 0u64, 0i64);
        loop {
            let rows = self.log_page(after).await?;
            let Some(last) = rows.last().map(|r| r.entry.seq) else {
                break;
            };
            after = last;
            for r in rows {
                if r.holds(&self.0.sealer) {
                    continue;
                }
                total += 1;
                if found.len() < MAX_REPORTED {
                    found.push(Unsealed::of(&r.entry));
                }
            }
        }
        Ok((found, total))
    }

    /// An operator's amendment of the log at a start, in one transaction (nothing is changed
    /// when any part cannot be done): first the entries from `drop_from` on are deleted, when
    /// not one of them carries this service's seal (entries written behind its back, which end
    /// the log and stop every append; a sealed entry is this service's word and is never
    /// dropped); then the entries numbered `seal` are sealed on the operator's word, each after
    /// its stored hash is checked to be its contents' and its `prevHash` the hash of the entry
    /// before it: the operator read them (see [`Registry::unsealed_entries`]) and vouches that
    /// this service wrote them. Entries already sealed are left as they are. Returns the
    /// entries dropped and the entries sealed. The caller rereads the log
    /// ([`Registry::reread_log`]).
    ///
    /// `proven` is how many of the log's first entries a checkpoint this service signed, kept
    /// outside the database, covers: those are its own whatever their seal columns say (a seal
    /// corrupted in the database), and none of them is ever dropped.
    pub async fn amend_log(
        &self,
        drop_from: Option<u64>,
        seal: &[u64],
        proven: u64,
    ) -> Result<(Vec<Unsealed>, Vec<Unsealed>), Error> {
        self.amend(drop_from, seal, proven, true).await
    }

    /// What [`Registry::amend_log`] would answer, refusals included, with nothing written: a
    /// start checks the operator's decisions before anything else is written.
    pub async fn rehearse_amend_log(
        &self,
        drop_from: Option<u64>,
        seal: &[u64],
        proven: u64,
    ) -> Result<(Vec<Unsealed>, Vec<Unsealed>), Error> {
        self.amend(drop_from, seal, proven, false).await
    }

    async fn amend(
        &self,
        drop_from: Option<u64>,
        seal: &[u64],
        proven: u64,
        commit: bool,
    ) -> Result<(Vec<Unsealed>, Vec<Unsealed>), Error> {
        if let Some(from) = drop_from.filter(|from| *from <= proven) {
            return Err(Error::InvalidOperation(format!(
                "log entry {from} is covered by the checkpoint this service keeps ({proven} \
                 entries): it wrote it, whatever its seal column says. Seal it with \
                 --seal-log-entries instead"
            )));
        }
        let _turn = self.0.db.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        let dropped = match drop_from {
            Some(from) => drop_entries_from(&mut tx, &self.0.sealer, from).await?,
            None => Vec::new(),
        };
        let sealed = vouch_entries(&mut tx, &self.0.sealer, seal).await?;
        if commit {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok((dropped, sealed))
    }

    /// How many times this process refused an agent whose stored state its log does not prove.
    pub fn unproven_count(&self) -> u64 {
        self.0.unproven.load(Ordering::Relaxed)
    }
}

/// Seals the entries numbered `seqs` inside `tx` (see [`Registry::amend_log`]).
async fn vouch_entries(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sealer: &agentid_store::Sealer,
    seqs: &[u64],
) -> Result<Vec<Unsealed>, Error> {
    let mut sealed = Vec::new();
    for &seq in seqs {
        let at = i64::try_from(seq).unwrap_or(i64::MAX);
        let rows: Vec<crate::log::SealedRow> = sqlx::query_as(&format!(
            "{} WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
            crate::log::SELECT_SEALED
        ))
        .bind(at.saturating_sub(1))
        .bind(at)
        .fetch_all(&mut **tx)
        .await?;
        let mut rows: Vec<_> = rows.into_iter().map(crate::log::sealed_entry).collect();
        let Some(r) = rows.pop().filter(|r| r.entry.seq == at) else {
            return Err(Error::InvalidOperation(format!(
                "log entry {seq} does not exist"
            )));
        };
        if r.holds(sealer) {
            continue;
        }
        let e = &r.entry;
        let before = match rows.pop() {
            Some(p) => p.entry.entry_hash,
            None if at == 1 => agentid_spec::log::GENESIS_PREV.to_owned(),
            None => String::new(),
        };
        if e.computed_hash() != e.entry_hash || e.prev_hash != before {
            return Err(Error::InvalidOperation(format!(
                "log entry {seq} is not what its hash says, or does not follow the entry \
                     before it: it cannot be sealed (drop it with --drop-log-entries-from)"
            )));
        }
        write_seal(tx, sealer, e).await?;
        sealed.push(Unsealed::of(e));
    }
    Ok(sealed)
}

/// Deletes the entries from `seq` on inside `tx` (see [`Registry::amend_log`]).
async fn drop_entries_from(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sealer: &agentid_store::Sealer,
    seq: u64,
) -> Result<Vec<Unsealed>, Error> {
    let from = i64::try_from(seq).unwrap_or(i64::MAX);
    let rows: Vec<crate::log::SealedRow> = sqlx::query_as(&format!(
        "{} WHERE seq >= $1 ORDER BY seq LIMIT $2",
        crate::log::SELECT_SEALED
    ))
    .bind(from)
    .bind(i64::try_from(MAX_DROPPED).unwrap_or(i64::MAX) + 1)
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Err(Error::InvalidOperation(format!(
            "the log has no entry {seq}"
        )));
    }
    if rows.len() > MAX_DROPPED {
        return Err(Error::InvalidOperation(format!(
            "more than {MAX_DROPPED} entries from {seq} on: not dropped (restore a backup)"
        )));
    }
    let mut dropped = Vec::new();
    for r in rows.into_iter().map(crate::log::sealed_entry) {
        if r.holds(sealer) {
            return Err(Error::InvalidOperation(format!(
                "log entry {} carries this service's seal: entries are dropped only where \
                     none from there on does",
                r.entry.seq
            )));
        }
        dropped.push(Unsealed::of(&r.entry));
    }
    sqlx::query("DELETE FROM registry_log WHERE seq >= $1")
        .bind(from)
        .execute(&mut **tx)
        .await?;
    Ok(dropped)
}

/// Seals entry `e` inside `tx`, with the name it is about read from the entry itself (entries
/// from before seals have none stored).
async fn write_seal(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sealer: &agentid_store::Sealer,
    e: &LogEntry,
) -> Result<(), Error> {
    let name = crate::zones::entry_subject(e);
    sqlx::query("UPDATE registry_log SET seal = $1, name = $2 WHERE seq = $3")
        .bind(crate::log::seal(sealer, e, name.as_deref()))
        .bind(name.as_deref())
        .bind(e.seq)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
