//! The registry's hash-chained log of operations and operator decisions.

use agentid_spec::id::hash_b32;
use agentid_wallet::error::ApiError;
use agentid_wallet::store::Backend;
use serde::Serialize;

/// The hash the first entry chains from.
pub(crate) const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000";

/// What is hashed for one entry, in this field order.
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

/// One entry to append.
pub(crate) struct Entry<'a> {
    pub(crate) did: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) operation: &'a str,
    pub(crate) actor: &'a str,
    pub(crate) reason: Option<&'a str>,
    pub(crate) created_at: i64,
}

/// Appends `entry` inside `tx`; returns its sequence number and hash.
pub(crate) async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    entry: Entry<'_>,
) -> Result<(i64, String), ApiError> {
    // Appends are serialised: on PostgreSQL by a table lock held to commit, on SQLite by the
    // write lock the caller's earlier write in this transaction already holds.
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE registry_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await?;
    }
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, entry_hash FROM registry_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_PREV.to_owned()),
    };
    let hashed = Hashed {
        seq,
        did: entry.did,
        kind: entry.kind,
        operation: entry.operation,
        actor: entry.actor,
        reason: entry.reason,
        prev_hash: &prev_hash,
        created_at: entry.created_at,
    };
    let entry_hash =
        hash_b32(&serde_json::to_vec(&hashed).map_err(|e| ApiError::Internal(e.to_string()))?);
    sqlx::query(
        "INSERT INTO registry_log (seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(entry.did)
    .bind(entry.kind)
    .bind(entry.operation)
    .bind(entry.actor)
    .bind(entry.reason)
    .bind(&prev_hash)
    .bind(&entry_hash)
    .bind(entry.created_at)
    .execute(&mut **tx)
    .await?;
    Ok((seq, entry_hash))
}

/// A stored entry, as served.
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

/// The JSON of a stored entry.
pub(crate) fn row_json(r: Row) -> serde_json::Value {
    let (seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at) = r;
    serde_json::json!({
        "seq": seq,
        "did": did,
        "kind": kind,
        "operation": operation,
        "actor": actor,
        "reason": reason,
        "prevHash": prev_hash,
        "entryHash": entry_hash,
        "createdAt": agentid_spec::time::format_rfc3339(created_at),
    })
}

/// The columns of [`Row`].
pub(crate) const SELECT: &str = "SELECT seq, did, kind, operation, actor, reason, prev_hash, entry_hash, created_at FROM registry_log";
