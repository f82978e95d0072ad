//! The registry's hash-chained log of operations and operator decisions, stored. The entry
//! format and its hash are `agentid_spec::log`.

use agentid_spec::log::{LogEntry, LogRecord};

use agentid_store::Sealer;

use crate::Error;

/// The seal of `entry` and the name (agent name or zone) it is about: over its hash as its
/// contents give it, and that name (so a stored entry whose contents, position or name were
/// altered, or one written by anything but this service, has none that verifies).
pub(crate) fn seal(sealer: &Sealer, entry: &LogEntry, name: Option<&str>) -> String {
    sealer.seal(&sealed_parts(&entry.computed_hash(), name))
}

fn sealed_parts<'a>(hash: &'a str, name: Option<&'a str>) -> [&'a [u8]; 2] {
    [hash.as_bytes(), name.unwrap_or_default().as_bytes()]
}

/// Whether `entry`'s stored hash is its contents' and `seal` is this service's seal of it and
/// `name`.
pub(crate) fn sealed(
    sealer: &Sealer,
    entry: &LogEntry,
    name: Option<&str>,
    seal: Option<&str>,
) -> bool {
    let hash = entry.computed_hash();
    hash == entry.entry_hash && seal.is_some_and(|s| sealer.verify(&sealed_parts(&hash, name), s))
}

/// Announces a change on the change feed, delivered to listeners when `tx` commits (PostgreSQL;
/// on SQLite there is one process and nothing to tell).
pub(crate) async fn notify(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    db: &agentid_store::Db,
    what: &str,
) -> Result<(), Error> {
    Ok(db.notify(tx, what).await?)
}

/// Takes the log's lock now (PostgreSQL; on SQLite the transaction's first write does), so
/// that what the transaction reads next is not changed by another append before it commits.
pub(crate) async fn lock(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    db: &agentid_store::Db,
) -> Result<(), Error> {
    if db.is_postgres() {
        sqlx::query("LOCK TABLE registry_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Appends `record`, about the agent name or zone `name` if any (a registration with a name, a
/// binding, a release, a zone claim), inside `tx`, sealed by `sealer` (see [`seal`]); returns
/// the entry.
pub(crate) async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    db: &agentid_store::Db,
    sealer: &Sealer,
    record: LogRecord,
    name: Option<&str>,
) -> Result<LogEntry, Error> {
    // Appends are serialised: on PostgreSQL by a table lock held to commit, on SQLite by the
    // write lock the caller's earlier write in this transaction already holds.
    if db.is_postgres() {
        sqlx::query("LOCK TABLE registry_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await?;
    }
    let last: Option<SealedRow> =
        sqlx::query_as(&format!("{SELECT_SEALED} ORDER BY seq DESC LIMIT 1"))
            .fetch_optional(&mut **tx)
            .await?;
    let last = last.map(sealed_entry);
    // Only what this service wrote is extended: an entry added behind its back (out of
    // sequence, or without its seal) stops every append until an operator accepts the log.
    if let Some(l) = last.as_ref().filter(|l| !l.holds(sealer)) {
        tracing::error!(
            seq = l.entry.seq,
            "the log's last entry does not carry this service's seal: nothing is appended after \
             it (start with --drop-log-entries-from or --seal-log-entries: the start lists it)"
        );
        return Err(Error::Internal(format!(
            "the log's last entry ({}) was not written by this service",
            l.entry.seq
        )));
    }
    let entry = LogEntry::chain(
        last.as_ref()
            .map(|l| (l.entry.seq, l.entry.entry_hash.as_str())),
        record,
    );
    sqlx::query(
        "INSERT INTO registry_log (seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at, seal, name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(entry.seq)
    .bind(&entry.did)
    .bind(&entry.kind)
    .bind(&entry.operation)
    .bind(&entry.actor)
    .bind(entry.reason.as_deref())
    .bind(&entry.prev_hash)
    .bind(&entry.entry_hash)
    .bind(entry.created_at)
    .bind(seal(sealer, &entry, name))
    .bind(name)
    .execute(&mut **tx)
    .await?;
    // The agent's latest entry, read by every resolution (none if the entry names no agent).
    sqlx::query("UPDATE registry_agents SET log_seq = $1 WHERE did = $2")
        .bind(entry.seq)
        .bind(&entry.did)
        .execute(&mut **tx)
        .await?;
    Ok(entry)
}

/// A stored entry.
pub(crate) type Row = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
);

/// An entry as stored, read back (its hash is not recomputed here: readers can).
pub(crate) fn entry(r: Row) -> LogEntry {
    let (seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at) = r;
    let record = LogRecord {
        did,
        kind,
        operation,
        actor,
        reason,
        created_at,
    };
    LogEntry::stored(seq, record, prev_hash, entry_hash)
}

/// The columns of [`Row`].
pub(crate) const SELECT: &str = "SELECT seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at FROM registry_log";

/// A stored entry, its name and its seal.
pub(crate) type SealedRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
);

/// An entry as stored, with the name it is about and its seal.
pub(crate) struct Sealed {
    pub(crate) entry: LogEntry,
    pub(crate) name: Option<String>,
    pub(crate) seal: Option<String>,
}

impl Sealed {
    /// Whether this service sealed it as it is.
    pub(crate) fn holds(&self, sealer: &Sealer) -> bool {
        sealed(
            sealer,
            &self.entry,
            self.name.as_deref(),
            self.seal.as_deref(),
        )
    }
}

/// An entry, its name and its seal as stored.
pub(crate) fn sealed_entry(r: SealedRow) -> Sealed {
    let (seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at, seal, name) =
        r;
    Sealed {
        entry: entry((
            seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at,
        )),
        name,
        seal,
    }
}

/// The columns of [`SealedRow`].
pub(crate) const SELECT_SEALED: &str = "SELECT seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at, seal, name FROM registry_log";
