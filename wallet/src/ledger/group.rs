//! Group commit of spend authorizations (spec section 11.2, "Group commit" and "Running
//! counters").
//!
//! Authorizations that draw on a principal's own delegation (no chain) are queued to the
//! ledger's thread, which takes all that are waiting (up to [`MAX_GROUP`]) in one transaction
//! whatever their number: lock every delegation concerned; sweep their expired holds; read what
//! each has used from its running counters (or, where they are not known for this period, sum
//! its holds) in the statement that finds which requests were seen before (retries); insert the
//! new holds; store the counters; commit.
//! Each authorization is decided in order, in memory, against the budget as the ones before it
//! left it, so the answers are those of the same authorizations taken one after another. A
//! refusal refuses only its own request; a database error fails the whole group (nothing of it
//! is written) and each of its requests answers an internal error, safe to retry.
//!
//! Locks: on PostgreSQL a group locks its delegations in the order of their ids (`SELECT ...
//! ORDER BY id FOR UPDATE`), so two groups (on one node or two) never wait for each other in a
//! cycle. Every other writer of the ledger locks one principal's delegation first and then, if
//! at all, only delegations below it, which a group never locks (a sub-agent's authorization
//! takes the one-at-a-time path): no cycle with them either. On SQLite the group takes the
//! database's write lock before it reads anything (`BEGIN IMMEDIATE`), and takes its turn with
//! the other writers of this process.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};

use agentid_sdk::verify::VerifiedSpendRequest;
use agentid_spec::authorization::credential_hash;
use agentid_spec::credential::DelegationCredential;
use sqlx::pool::PoolConnection;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::decide::{standing, within_limits, Counters, Used};
use super::{
    bound, hold_of, holds_insert, retry_key, retry_keys, statement, stored_credential, HoldRow,
    NewHold, Presigned,
};
use crate::{Authorized, Error, Hold, Inner, Wallet};
use agentid_store::statement::{Param, Statement};

/// An authorization signed before its group (see [`Wallet::presign`]) is used only if signed at
/// most this many seconds before the group decides it...
const PRESIGNED_MAX_AGE_SECS: i64 = 2;
/// ...and at most this many after (a clock stepped back meanwhile).
const PRESIGNED_AHEAD_SECS: i64 = 1;

/// Most authorizations in one transaction.
pub(crate) const MAX_GROUP: usize = 64;
/// Authorizations waiting for a group; beyond it, callers wait to join the queue.
const QUEUE: usize = 4096;

/// One authorization waiting for its group, and where its answer goes.
pub(crate) struct Job {
    asked: Asked,
    reply: oneshot::Sender<Result<Authorized, Error>>,
}

/// What an authorization of a group asks for.
struct Asked {
    req: VerifiedSpendRequest,
    /// Its `Idempotency-Key`, if it has one.
    key: Option<String>,
    /// Its request hash (what decides the hold).
    hash: String,
    /// Its authorization, signed before the group (see [`Wallet::presign`]).
    signed: Option<Presigned>,
}

/// The queue to a wallet's group task.
pub(crate) type Queue = mpsc::Sender<Job>;

/// True when `req` draws on a principal's own delegation only (no chain), which groups take.
pub(super) fn alone(req: &VerifiedSpendRequest) -> bool {
    match req.chain() {
        [] => true,
        [(id, hash)] => *id == req.delegation() && *hash == req.delegation_hash(),
        _ => false,
    }
}

impl Wallet {
    /// Starts the ledger's group thread now rather than at the first authorization: the thread,
    /// and the database connections it opens, are created by the calling thread and keep its
    /// scheduling priority (`agentid serve` runs its HTTP workers below it).
    pub fn start_ledger(&self) {
        self.0.group.get_or_init(|| start(&self.0));
    }

    /// [`Wallet::authorize`] for a principal's own delegation: queued for the next group.
    pub(super) async fn authorize_in_group(
        &self,
        req: VerifiedSpendRequest,
        key: Option<&str>,
        hash: String,
    ) -> Result<Authorized, Error> {
        let queue = self.0.group.get_or_init(|| start(&self.0));
        // Signed here, on the caller's task, while other groups commit; the group only decides.
        // Should it fail, the group signs (or fails) as it decides.
        let signed = self.presign(&req, self.0.clock.now()).ok();
        let (reply, answer) = oneshot::channel();
        let job = Job {
            asked: Asked {
                req,
                key: key.map(str::to_owned),
                hash,
                signed,
            },
            reply,
        };
        let stopped = || Error::Internal("the ledger's group task stopped".into());
        queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Decides and commits `jobs` in one transaction, and answers each.
    /// False if the group failed (its connection may be unusable).
    async fn commit_group(
        &self,
        jobs: Vec<Job>,
        conn: &mut sqlx::AnyConnection,
        parsed: &mut Parsed,
    ) -> bool {
        let (asked, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| (j.asked, j.reply)).unzip();
        match self.decide_group(&asked, conn, parsed).await {
            Ok(decided) => {
                for (reply, answer) in replies.into_iter().zip(decided) {
                    let _ = reply.send(answer);
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, authorizations = replies.len(), "ledger group failed");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(Error::Internal(message.clone())));
                }
                false
            }
        }
    }

    /// The group's transaction: what it reads (steps 1 to 4), what it decides from that alone,
    /// in memory (step 5), and what it writes (step 6).
    async fn decide_group(
        &self,
        asked: &[Asked],
        conn: &mut sqlx::AnyConnection,
        parsed: &mut Parsed,
    ) -> Result<Vec<Result<Authorized, Error>>, Error> {
        use sqlx::Executor;
        let now = self.0.clock.now();
        let sqlite = !self.0.db.is_postgres();
        let _turn = self.write_turn().await;
        // The transaction is this connection's alone: should the group fail part way, its
        // task closes the connection, which rolls it back. On SQLite the write lock is taken
        // at once (`BEGIN IMMEDIATE`), in the text of the group's first statement: what the
        // group reads next is what it writes over, whoever else shares the file.
        if !sqlite {
            conn.execute("BEGIN").await?;
        }
        let ids: Vec<&str> = asked
            .iter()
            .map(|a| a.req.delegation())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Lists are padded to a power of two with ids no row has, so a handful of statement
        // shapes serve every group: prepared once per connection, planned once.
        let ids = padded(ids, "");
        let mut delegations = self.lock(conn, &ids, parsed, now).await?;
        sweep(conn, &ids, &mut delegations, now, sqlite).await?;
        let keys: Vec<String> = asked
            .iter()
            .map(|a| retry_key(a.req.delegation(), a.key.as_deref(), &a.hash))
            .collect();
        let (mut used, seen) = used_and_seen(conn, &delegations, &keys, now, sqlite).await?;
        let earlier = earlier_holds(conn, seen, sqlite).await?;
        let (answers, rows) = self.decide_all(asked, keys, &delegations, &earlier, &mut used, now);
        write(conn, &rows, &delegations, &used, sqlite).await?;
        for r in &rows {
            tracing::info!(hold = %r.id, delegation = %r.delegation, amount = r.amount, state = r.state, "spend held");
        }
        Ok(answers)
    }

    /// Step 1: the locks, and each delegation as it stands once locked.
    async fn lock(
        &self,
        conn: &mut sqlx::AnyConnection,
        ids: &[&str],
        parsed: &mut Parsed,
        now: i64,
    ) -> Result<HashMap<String, Locked>, Error> {
        let list = placeholders(1, ids.len());
        let columns = "id, credential, revoked_at, \
             (SELECT p.did FROM wallet_principals p WHERE p.id = wallet_delegations.principal_id) \
             AS principal, suspended_at, parent_id, has_links";
        // The counters, on SQLite in the same statement. On PostgreSQL in the next statement
        // (step 2): a statement that waited for a row lock reads the locked rows as they now
        // are, but anything else (a subquery) as it was when the statement began.
        let sql = if self.0.db.is_postgres() {
            format!(
                "SELECT {columns}, CAST(NULL AS BIGINT) AS spent, \
                 CAST(NULL AS BIGINT) AS period_spent, CAST(NULL AS BIGINT) AS counted_period \
                 FROM wallet_delegations WHERE id IN ({list}) ORDER BY id FOR UPDATE"
            )
        } else {
            let counter = |c: &str| {
                format!(
                    "(SELECT c.{c} FROM wallet_spend_counters c \
                     WHERE c.delegation_id = wallet_delegations.id) AS {c}"
                )
            };
            format!(
                "BEGIN IMMEDIATE; SELECT {columns}, {}, {}, {} \
                 FROM wallet_delegations WHERE id IN ({list})",
                counter("spent"),
                counter("period_spent"),
                counter("counted_period"),
            )
        };
        let params: Vec<Param> = ids.iter().map(|id| Param::Text(id)).collect();
        let sql = statement(sql, !self.0.db.is_postgres())?;
        let query = bound(&sql, sqlx::query_as::<_, LockedRow>(sql.sql()), &params)?;
        let mut delegations = HashMap::new();
        for row in query.fetch_all(&mut *conn).await? {
            // Only a principal's own delegation, signed, is grouped; anything else is refused
            // as the one-at-a-time path refuses it.
            let credential = match (&row.parent, row.credential.is_empty()) {
                (None, false) => Some(parsed.get(&row.id, row.credential)?),
                _ => None,
            };
            let period = credential.as_ref().map_or(0, |c| {
                c.credential
                    .credential_subject
                    .spending_limit
                    .per_period()
                    .map_or(0, |p| p.period.bounds(now).0)
            });
            // By the principal the row names: a hold is refused below unless it is the
            // request's (the first credential's issuer, signed).
            let of = row.principal.as_deref().unwrap_or_default();
            let revoked = self.revoked(&row.id, of, row.revoked_at.is_some());
            let suspended = self.suspended(&row.id, of, row.suspended_at.is_some());
            let counters = match (row.spent, row.period_spent) {
                (Some(spent), Some(period_spent)) => Counters {
                    spent,
                    period_spent,
                    counted_period: row.counted_period,
                },
                _ => Counters::UNKNOWN,
            };
            delegations.insert(
                row.id,
                Locked {
                    credential,
                    principal: row.principal,
                    revoked,
                    suspended,
                    has_links: row.has_links != 0,
                    period,
                    counters,
                },
            );
        }
        Ok(delegations)
    }

    /// Step 5: each request in turn, against the budget as the ones before it left it, in
    /// memory: its answer, and the holds to insert.
    fn decide_all(
        &self,
        asked: &[Asked],
        keys: Vec<String>,
        delegations: &HashMap<String, Locked>,
        earlier: &HashMap<String, (HoldRow, String)>,
        used: &mut HashMap<String, Used>,
        now: i64,
    ) -> (Vec<Result<Authorized, Error>>, Vec<NewHold>) {
        let mut answers = Vec::with_capacity(asked.len());
        let mut taken: HashMap<String, (Hold, String)> = HashMap::new();
        let mut rows: Vec<NewHold> = Vec::new();
        for (a, found) in asked.iter().zip(keys) {
            let answer = match issued(&a.req, delegations) {
                Err(e) => Err(e),
                Ok(_) if earlier.contains_key(&found) => {
                    let (row, stored_hash) = &earlier[&found];
                    replay(stored_hash, &a.hash, || hold_of(row.clone(), now))
                }
                Ok(_) if taken.contains_key(&found) => {
                    let (hold, stored_hash) = &taken[&found];
                    replay(stored_hash, &a.hash, || hold.clone())
                }
                Ok((d, credential)) => {
                    self.decide_one(a, d, credential, used, now)
                        .map(|(row, hold)| {
                            taken.insert(found, (hold.clone(), a.hash.clone()));
                            rows.push(row);
                            Authorized {
                                hold,
                                replayed: false,
                            }
                        })
                }
            };
            answers.push(answer);
        }
        (answers, rows)
    }

    /// Decides one authorization of a group, on the delegation and credential it draws on; on
    /// success the amount counts as used.
    fn decide_one(
        &self,
        a: &Asked,
        d: &Locked,
        credential: &DelegationCredential,
        used: &mut HashMap<String, Used>,
        now: i64,
    ) -> Result<(NewHold, Hold), Error> {
        let req = &a.req;
        standing(d.revoked, d.suspended)?;
        let spent = used.entry(req.delegation().to_owned()).or_default();
        let limit = &credential.credential_subject.spending_limit;
        let pending = within_limits(limit, req.transaction(), *spent)?;
        *spent = spent.debit(req.transaction().amount.get())?;
        // Signed beforehand: taken if signed in the budget period this group decides in and
        // not long before (the hold's time is its signature's), else signed again now.
        let signed = a.signed.as_ref().filter(|s| {
            s.at <= now.saturating_add(PRESIGNED_AHEAD_SECS)
                && now.saturating_sub(s.at) <= PRESIGNED_MAX_AGE_SECS
                && limit
                    .per_period()
                    .is_none_or(|p| p.period.bounds(s.at).0 == d.period)
        });
        self.new_hold(
            req,
            a.key.as_deref(),
            &a.hash,
            pending,
            now,
            signed.cloned(),
        )
    }
}

/// Step 2: holds past their expiry leave the budget for good, swept out of the counters (which
/// are read here on PostgreSQL, in the same statement).
async fn sweep(
    conn: &mut sqlx::AnyConnection,
    ids: &[&str],
    delegations: &mut HashMap<String, Locked>,
    now: i64,
    sqlite: bool,
) -> Result<(), Error> {
    let list = placeholders(1, ids.len());
    let sweep = format!(
        "UPDATE wallet_holds SET state = CASE WHEN state = 'pending' \
         THEN 'approval_expired' ELSE 'expired' END \
         WHERE delegation_id IN ({list}) AND state IN ('held', 'pending') \
         AND expires_at <= ${now_param} \
         RETURNING 'x', delegation_id, amount, created_at, CAST(NULL AS BIGINT)",
        now_param = ids.len() + 1
    );
    let sql = if sqlite {
        sweep
    } else {
        format!(
            "WITH swept AS ({sweep}) SELECT * FROM swept UNION ALL \
             SELECT 'c', delegation_id, spent, period_spent, counted_period \
             FROM wallet_spend_counters WHERE delegation_id IN ({list})"
        )
    };
    let mut params: Vec<Param> = ids.iter().map(|id| Param::Text(id)).collect();
    params.push(Param::Int(now));
    let sql = statement(sql, sqlite)?;
    let query = sqlx::query_as::<_, (String, String, i64, i64, Option<i64>)>(sql.sql());
    let query = bound(&sql, query, &params)?;
    let mut swept = Vec::new();
    // ('c', delegation, spent, period spent, counted period) or ('x', delegation, amount,
    // created at, NULL).
    for (kind, id, a, b, c) in query.fetch_all(&mut *conn).await? {
        match (kind.as_str(), delegations.get_mut(&id)) {
            ("c", Some(d)) => {
                d.counters = Counters {
                    spent: a,
                    period_spent: b,
                    counted_period: c,
                }
            }
            (_, Some(_)) => swept.push((id, a, b)),
            (_, None) => {}
        }
    }
    for (id, amount, created) in swept {
        if let Some(d) = delegations.get_mut(&id) {
            d.counters.give_back(amount, created);
        }
    }
    Ok(())
}

/// Step 3: what each delegation has used, by its counters where they are known for this
/// period and for the others summed from the holds, in the statement that also finds which of
/// the retry `keys` were seen before (retries).
async fn used_and_seen(
    conn: &mut sqlx::AnyConnection,
    delegations: &HashMap<String, Locked>,
    keys: &[String],
    now: i64,
    sqlite: bool,
) -> Result<(HashMap<String, Used>, Vec<String>), Error> {
    let mut used: HashMap<String, Used> = HashMap::new();
    let mut live: Vec<(&str, i64)> = Vec::new();
    for (id, d) in delegations {
        if d.credential.is_none() {
            continue;
        }
        match d.counted() {
            Some(spent) => {
                used.insert(id.clone(), spent);
            }
            None => live.push((id.as_str(), d.period)),
        }
    }
    let linked = live.iter().any(|(id, _)| delegations[*id].has_links);
    let live = padded(live, ("", 0));
    let wanted = padded(keys.iter().map(String::as_str).collect(), "");
    // The delegations as an IN list of parameters (an index scan whatever the planner knows
    // of the table), their period starts joined from a VALUES list.
    let values: Vec<String> = (0..live.len())
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let ids: Vec<String> = (0..live.len()).map(|i| format!("${}", 2 * i + 1)).collect();
    let ids = ids.join(", ");
    let now_param = 2 * live.len() + 1;
    let charged = if linked {
        format!(
            "UNION ALL SELECT c.delegation_id, h.amount, h.state, h.created_at, h.expires_at \
             FROM wallet_hold_charges c JOIN wallet_holds h ON h.id = c.hold_id \
             WHERE c.delegation_id IN ({ids})"
        )
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT 's', x.d, \
         CAST(COALESCE(SUM(CASE WHEN x.state = 'captured' THEN 0 ELSE x.amount END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN x.state = 'captured' THEN x.amount ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN x.created_at >= q.column2 THEN x.amount ELSE 0 END), 0) AS BIGINT) \
         FROM (SELECT delegation_id AS d, amount, state, created_at, expires_at FROM wallet_holds \
               WHERE delegation_id IN ({ids}) {charged}) x \
         JOIN (VALUES {values}) AS q ON q.column1 = x.d \
         WHERE x.state = 'captured' OR (x.state IN ('held', 'pending') AND x.expires_at > ${now_param}) \
         GROUP BY x.d \
         UNION ALL SELECT 'r', retry_key, CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT) \
         FROM wallet_holds WHERE retry_key IN ({retries})",
        values = values.join(", "),
        retries = placeholders(now_param + 1, wanted.len()),
    );
    let mut params: Vec<Param> = live
        .iter()
        .flat_map(|(id, since)| [Param::Text(id), Param::Int(*since)])
        .collect();
    params.push(Param::Int(now));
    params.extend(wanted.iter().map(|k| Param::Text(k)));
    let sql = statement(sql, sqlite)?;
    let query = sqlx::query_as::<_, (String, String, i64, i64, i64)>(sql.sql());
    let query = bound(&sql, query, &params)?;
    let mut seen = Vec::new();
    // ('s', delegation, held, captured, in period) or ('r', retry key, 0, 0, 0).
    for (kind, id, held, captured, in_period) in query.fetch_all(&mut *conn).await? {
        if kind == "r" {
            seen.push(id);
        } else {
            used.insert(id, Used::from_sums(held, captured, in_period)?);
        }
    }
    Ok((used, seen))
}

/// Step 4: the holds of the requests seen before (rare: retries), by retry key, with the hash
/// of the request that made each.
async fn earlier_holds(
    conn: &mut sqlx::AnyConnection,
    seen: Vec<String>,
    sqlite: bool,
) -> Result<HashMap<String, (HoldRow, String)>, Error> {
    let mut earlier = HashMap::new();
    if seen.is_empty() {
        return Ok(earlier);
    }
    let seen = padded(seen, String::new());
    let sql = format!(
        "{HOLD_SELECT_RETRIED} WHERE retry_key IN ({})",
        placeholders(1, seen.len())
    );
    let params: Vec<Param> = seen.iter().map(|k| Param::Text(k)).collect();
    let sql = statement(sql, sqlite)?;
    let query = bound(&sql, sqlx::query_as::<_, Retried>(sql.sql()), &params)?;
    for r in query.fetch_all(&mut *conn).await? {
        earlier.insert(r.retry_key, (r.hold, r.request_hash));
    }
    Ok(earlier)
}

/// Step 6: the new holds, in one statement; the counters as they now stand; one commit. On
/// SQLite the three in one text: one round trip to the connection's thread.
async fn write(
    conn: &mut sqlx::AnyConnection,
    rows: &[NewHold],
    delegations: &HashMap<String, Locked>,
    used: &HashMap<String, Used>,
    sqlite: bool,
) -> Result<(), Error> {
    let keys = retry_keys(rows);
    let mut last = Vec::new();
    if !rows.is_empty() {
        last.push(holds_insert(rows, &keys, sqlite)?);
    }
    let mut counted = Vec::new();
    for (id, d) in delegations {
        if d.credential.is_none() || d.has_links {
            continue;
        }
        let now_counted = Counters::of(used.get(id).copied().unwrap_or_default(), d.period)?;
        if now_counted != d.counters {
            counted.push((id.as_str(), now_counted));
        }
    }
    if !counted.is_empty() {
        last.push(counters_upsert(&counted, sqlite)?);
    }
    last.push((statement("COMMIT".into(), sqlite)?, Vec::new()));
    if sqlite {
        let (sql, params) = Statement::chain(last)
            .ok_or_else(|| Error::Internal("the group's last statements".into()))?;
        bound(&sql, sqlx::query(sql.sql()), &params)?
            .execute(&mut *conn)
            .await?;
    } else {
        for (sql, params) in &last {
            bound(sql, sqlx::query(sql.sql()), params)?
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The delegation `req` draws on and its credential, if it is the very one this wallet issued
/// to this principal (checked before anything else, as the one-at-a-time path does).
fn issued<'a>(
    req: &VerifiedSpendRequest,
    delegations: &'a HashMap<String, Locked>,
) -> Result<(&'a Locked, &'a DelegationCredential), Error> {
    let d = delegations
        .get(req.delegation())
        .ok_or(Error::NotFound("no such delegation"))?;
    match &d.credential {
        Some(c)
            if d.principal.as_deref() == Some(req.principal().as_str())
                && c.hash == req.delegation_hash() =>
        {
            Ok((d, &c.credential))
        }
        _ => Err(Error::Forbidden("not a delegation this wallet issued")),
    }
}

/// The statement storing the counters of `delegations` (locked by this transaction), and its
/// parameters.
fn counters_upsert<'a>(
    delegations: &[(&'a str, Counters)],
    sqlite: bool,
) -> Result<(Statement, Vec<Param<'a>>), Error> {
    // Not padded to a power of two: a filler row would need a delegation to reference.
    let values: Vec<String> = (0..delegations.len())
        .map(|i| {
            format!(
                "(${}, ${}, ${}, ${})",
                4 * i + 1,
                4 * i + 2,
                4 * i + 3,
                4 * i + 4
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO wallet_spend_counters (delegation_id, spent, period_spent, counted_period) \
         VALUES {} ON CONFLICT (delegation_id) DO UPDATE SET spent = excluded.spent, \
         period_spent = excluded.period_spent, counted_period = excluded.counted_period",
        values.join(", ")
    );
    let params: Vec<Param> = delegations
        .iter()
        .flat_map(|(id, c)| {
            [
                Param::Text(id),
                Param::Int(c.spent),
                Param::Int(c.period_spent),
                Param::MaybeInt(c.counted_period),
            ]
        })
        .collect();
    Ok((statement(sql, sqlite)?, params))
}

/// A delegation's row as a group locks it (step 1), read by name.
struct LockedRow {
    id: String,
    /// The `vc+jwt` (`""`: none).
    credential: String,
    revoked_at: Option<i64>,
    /// The DID of the principal it belongs to.
    principal: Option<String>,
    suspended_at: Option<i64>,
    /// The delegation it was sub-delegated from.
    parent: Option<String>,
    has_links: i64,
    /// Its running counters, on SQLite (on PostgreSQL read in step 2).
    spent: Option<i64>,
    period_spent: Option<i64>,
    counted_period: Option<i64>,
}

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for LockedRow {
    fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            credential: row.try_get("credential")?,
            revoked_at: row.try_get("revoked_at")?,
            principal: row.try_get("principal")?,
            suspended_at: row.try_get("suspended_at")?,
            parent: row.try_get("parent_id")?,
            has_links: row.try_get("has_links")?,
            spent: row.try_get("spent")?,
            period_spent: row.try_get("period_spent")?,
            counted_period: row.try_get("counted_period")?,
        })
    }
}

/// The columns of a hold seen before, with what identifies its request.
const HOLD_SELECT_RETRIED: &str = "SELECT id, delegation_id, merchant, nonce, amount, currency, \
     state, created_at, expires_at, auth_jws, request_hash, retry_key FROM wallet_holds";

/// A hold seen before (step 4), read by name.
struct Retried {
    hold: HoldRow,
    request_hash: String,
    retry_key: String,
}

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for Retried {
    fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            hold: HoldRow::from_row(row)?,
            request_hash: row.try_get("request_hash")?,
            retry_key: row.try_get("retry_key")?,
        })
    }
}

/// A delegation of a group, as locked.
struct Locked {
    /// Its credential, when it is a principal's own and signed.
    credential: Option<Arc<Credential>>,
    principal: Option<String>,
    revoked: bool,
    suspended: bool,
    has_links: bool,
    /// The start of its current period (0: no period budget).
    period: i64,
    /// Its running counters, as locked and then swept.
    counters: Counters,
}

impl Locked {
    /// What it has used (live and captured, and in its period) by its counters, when they hold
    /// for this period: a principal's own delegation with no sub-delegation (whose holds would
    /// be charged to it without being its own).
    fn counted(&self) -> Option<Used> {
        if self.has_links {
            return None;
        }
        self.counters.used(self.period)
    }
}

/// A stored credential as a group uses it.
struct Credential {
    /// The `vc+jwt` as stored.
    jws: String,
    /// Its [`credential_hash`].
    hash: String,
    credential: DelegationCredential,
}

/// Most credentials a group task keeps parsed.
const PARSED: usize = 4096;

/// The credentials of the delegations a group task saw last, parsed, by delegation id: a group
/// compares the stored text with the one it parsed (a byte comparison) instead of decoding and
/// hashing every credential again.
#[derive(Default)]
pub(crate) struct Parsed(HashMap<String, Arc<Credential>>);

impl Parsed {
    /// Delegation `id`'s credential, stored as `jws`.
    fn get(&mut self, id: &str, jws: String) -> Result<Arc<Credential>, Error> {
        if let Some(c) = self.0.get(id).filter(|c| c.jws == jws) {
            return Ok(c.clone());
        }
        let parsed = Arc::new(Credential {
            hash: credential_hash(&jws),
            credential: stored_credential(&jws)?,
            jws,
        });
        if self.0.len() >= PARSED {
            self.0.clear();
        }
        self.0.insert(id.to_owned(), parsed.clone());
        Ok(parsed)
    }
}

/// The answer to a retry of a request whose hash was `stored`: the same hold, or a refusal if
/// the request under that key differs.
fn replay(stored: &str, hash: &str, hold: impl FnOnce() -> Hold) -> Result<Authorized, Error> {
    if stored != hash {
        return Err(Error::IdempotencyKeyReused);
    }
    Ok(Authorized {
        hold: hold(),
        replayed: true,
    })
}

/// `$first, $first+1, ...`, `n` of them.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `items` padded with `filler` to the next power of two.
fn padded<T: Clone>(mut items: Vec<T>, filler: T) -> Vec<T> {
    let n = items.len().next_power_of_two();
    items.resize(n, filler);
    items
}

/// Starts the ledger's thread for `inner`: the queue to it. The thread has a runtime and a
/// connection pool of its own, so a group's statements are answered as soon as the database
/// answers, not after the HTTP work queued on the service's runtime. It ends with the wallet.
fn start(inner: &Arc<Inner>) -> Queue {
    let (queue, jobs) = mpsc::channel(QUEUE);
    let wallet = Arc::downgrade(inner);
    let options = (*inner.pool.connect_options()).clone();
    let postgres = inner.db.is_postgres();
    let spawned = std::thread::Builder::new()
        .name("agentid-ledger".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(serve(wallet, jobs, options, postgres)),
                // The queue's receiver is dropped: every authorization answers an error.
                Err(e) => tracing::error!(error = %e, "the ledger's runtime did not start"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the ledger's thread did not start");
    }
    queue
}

/// Groups in flight at once on PostgreSQL (each on a connection of its own; their row locks
/// order them where they share a delegation). SQLite has one writer: one.
const POSTGRES_GROUPS: u32 = 2;

/// The ledger thread's work: [`POSTGRES_GROUPS`] (or one) tasks taking groups from the queue.
async fn serve(
    wallet: Weak<Inner>,
    jobs: mpsc::Receiver<Job>,
    options: sqlx::any::AnyConnectOptions,
    postgres: bool,
) {
    let tasks = if postgres { POSTGRES_GROUPS } else { 1 };
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(tasks)
        // Each task keeps its connection: no round trip to test it before every group.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                if postgres {
                    // A group's statements differ only in their parameters; a generic plan
                    // made while the tables were small would scan them whole ever after.
                    conn.execute("SET plan_cache_mode = force_custom_plan")
                        .await?;
                } else {
                    for pragma in agentid_store::db::SQLITE_PRAGMAS {
                        conn.execute(*pragma).await?;
                    }
                }
                Ok(())
            })
        })
        .connect_lazy_with(options);
    let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
    let running: Vec<_> = (0..tasks)
        .map(|_| tokio::spawn(run(wallet.clone(), jobs.clone(), pool.clone())))
        .collect();
    for task in running {
        let _ = task.await;
    }
    pool.close().await;
}

/// A group task: takes whatever authorizations wait, up to [`MAX_GROUP`], and commits them
/// together; ends with its wallet.
async fn run(
    wallet: Weak<Inner>,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    pool: AnyPool,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut parsed = Parsed::default();
    // The task's connection, kept from one group to the next: returned to the pool after
    // every group, a connection is tested on its way back (a round trip to its thread) and
    // acquired again, before the next group may begin. Closed after a failed group.
    let mut kept: Option<PoolConnection<sqlx::Any>> = None;
    loop {
        // One task takes from the queue at a time; the other is committing meanwhile.
        if jobs.lock().await.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let Some(inner) = wallet.upgrade() else {
            return;
        };
        let wallet = Wallet(inner);
        let jobs = std::mem::take(&mut group);
        let mut conn = match kept.take() {
            Some(conn) => conn,
            None => match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::error!(error = %e, authorizations = jobs.len(), "ledger group failed");
                    for job in jobs {
                        let _ = job.reply.send(Err(Error::Internal(e.to_string())));
                    }
                    continue;
                }
            },
        };
        if wallet.commit_group(jobs, &mut conn, &mut parsed).await {
            kept = Some(conn);
        } else {
            // Closed, not given back to the pool: closing rolls back what the group began.
            drop(conn.detach());
        }
    }
}
