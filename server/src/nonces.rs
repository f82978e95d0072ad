//! The verifier's replay memory in the database (spec section 8, step 14): per merchant
//! (audience), shared by every node on the database and kept across restarts, bounded (in all,
//! per merchant, per agent and per client that verifies), pruned at expiry. The hot path for a replay is this process's memory: a nonce this process accepted is
//! refused without a database round trip; a new one is recorded with an atomic upsert that only
//! a single verifier, on any node, can win. New nonces are written in batches: a task takes
//! every one waiting (up to [`MAX_BATCH`]) and records them with one statement, so a busy
//! verifier makes a few writes a second to the database rather than one per presentation (on
//! SQLite, each in its turn with the process's other writers instead of contending for the
//! file's write lock, whose busy handler sleeps).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use agentid_sdk::verify::{
    Consumed, Limits, Live, MemoryNonces, NonceKey, NonceQuotas, NonceStore,
};
use agentid_store::statement::{Param, Statement};
use agentid_store::Db;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// The server's migrations, versions 3000-3999.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        3001,
        "verifier",
        include_str!("../migrations/0001_verifier.sql"),
    ),
    (
        3010,
        "replay per agent",
        include_str!("../migrations/0010_replay_per_agent.sql"),
    ),
    (
        3020,
        "replay per client",
        include_str!("../migrations/0020_replay_per_client.sql"),
    ),
];

tokio::task_local! {
    /// The client (its address as [`crate::ratelimit::client_key`] counts it) whose request
    /// is being verified: set by `POST /v1/verify` around the verification, so the nonce it
    /// records counts against that client's share.
    pub static CLIENT: IpAddr;
}

/// Default for `--max-nonces-per-client`.
pub const DEFAULT_MAX_NONCES_PER_CLIENT: usize = 100_000;

/// Expired nonces are deleted at most this often, in seconds.
const PRUNE_EVERY_SECS: i64 = 60;

/// Most nonces recorded by one statement.
pub const MAX_BATCH: usize = 256;
/// Nonces waiting for a batch; beyond it, verifiers wait to join the queue.
const QUEUE: usize = 8192;

/// A nonce waiting to be recorded: the answer is whether this verifier won it.
struct Pending {
    aud: String,
    holder: String,
    nonce: String,
    client: String,
    expires: i64,
    now: i64,
    won: oneshot::Sender<Result<bool, String>>,
}

/// Live nonces counted per client that recorded them, so that no client (a stranger who is its
/// own merchant, with as many agents and merchant keys as it cares to make) fills the memory
/// for the others: filling it takes `max_nonces / max_nonces_per_client` addresses.
#[derive(Debug, Default)]
struct ClientShares {
    live: HashMap<IpAddr, Live>,
    since_sweep: usize,
}

impl ClientShares {
    fn count(&mut self, client: IpAddr, now: i64) -> usize {
        self.live.get_mut(&client).map_or(0, |l| l.count(now))
    }

    fn add(&mut self, client: IpAddr, expires: i64, now: i64) {
        self.live.entry(client).or_default().add(expires);
        self.since_sweep += 1;
        if self.since_sweep >= 4096 {
            self.since_sweep = 0;
            self.live.retain(|_, l| l.count(now) > 0);
        }
    }

    fn give_back(&mut self, client: IpAddr, expires: i64) {
        if let Some(l) = self.live.get_mut(&client) {
            l.give_back(expires);
        }
    }
}

/// The per-merchant and per-agent shares, and the per-client ones, taken under one lock, with
/// the nonces this process is writing.
#[derive(Debug, Default)]
struct Shares {
    quotas: NonceQuotas,
    clients: ClientShares,
    /// Nonces admitted and not yet written, by `audience\nholder\nnonce`: the same one again
    /// meanwhile is a replay (at most one of them can be accepted) and takes no place.
    writing: HashSet<String>,
}

/// The bounds of this process's memory of recorded nonces (its hot path): only the memory's
/// size. It holds nonces the database holds, which the shares counted already; a share
/// refusing one here would only send its replays back through the shares.
fn shortcut(limits: &Limits) -> Limits {
    Limits {
        max_nonces_per_merchant: usize::MAX,
        max_nonces_per_agent: usize::MAX,
        ..limits.clone()
    }
}

/// What a nonce is known by while it is written.
fn writing_key(key: &NonceKey<'_>) -> String {
    format!("{}\n{}\n{}", key.audience, key.holder, key.nonce)
}

/// Nonces in the database, with this process's accepted ones in memory.
pub struct DbNonces {
    pool: AnyPool,
    queue: mpsc::Sender<Pending>,
    local: MemoryNonces,
    /// Nonces recorded before the memory was kept per agent (an empty holder), live for a few
    /// minutes after an upgrade: used, whichever agent presents them.
    legacy: MemoryNonces,
    /// This node's count of live nonces per merchant, per agent and per client.
    shares: std::sync::Mutex<Shares>,
    /// Most live nonces one client's requests may record on this node.
    max_per_client: usize,
    /// Rows believed to be in the table (exact after each prune, counted up between).
    rows: AtomicUsize,
    /// Nonces admitted and not yet written: counted against the memory's room until they are.
    in_flight: AtomicUsize,
    last_prune: AtomicI64,
}

impl DbNonces {
    /// The replay memory over `db` (on which [`MIGRATIONS`] have run), writing in its turn with
    /// the process's other writers on SQLite; one client's requests record at most
    /// `max_per_client` live nonces.
    pub async fn open(db: Db, max_per_client: usize) -> Result<Self, sqlx::Error> {
        let pool = db.pool().clone();
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM verifier_replay")
            .fetch_one(&pool)
            .await?;
        let legacy = MemoryNonces::new();
        let old: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT audience, nonce, expires_at FROM verifier_replay WHERE holder = ''",
        )
        .fetch_all(&pool)
        .await?;
        let unbounded = Limits {
            max_nonces: usize::MAX,
            max_nonces_per_merchant: usize::MAX,
            max_nonces_per_agent: usize::MAX,
            ..Limits::default()
        };
        for (aud, nonce, expires) in &old {
            let key = NonceKey {
                audience: aud,
                holder: "",
                nonce,
                issued: false,
            };
            legacy.record(&key, *expires, i64::MIN, &unbounded);
        }
        // The shares count the live nonces already recorded, so a restart frees nobody's.
        let now = agentid_spec::clock::Clock::now(&agentid_spec::clock::SystemClock);
        let live: Vec<(String, String, String, i64, String)> = sqlx::query_as(
            "SELECT audience, holder, nonce, expires_at, client FROM verifier_replay \
             WHERE expires_at >= $1 AND holder <> ''",
        )
        .bind(now)
        .fetch_all(&pool)
        .await?;
        let mut shares = Shares::default();
        for (audience, holder, nonce, expires, client) in &live {
            if let Ok(client) = client.parse::<IpAddr>() {
                shares.clients.add(client, *expires, now);
            }
            // Only an issued nonce that verified was ever recorded in the issued form for a
            // did:key merchant (one that does not is refused before the memory).
            let issued = nonce.starts_with(agentid_spec::nonce::PREFIX)
                && audience.starts_with(agentid_spec::id::DID_KEY_PREFIX);
            let key = NonceKey {
                audience,
                holder,
                nonce,
                issued,
            };
            shares.quotas.add(&key, *expires, now);
        }
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, waiting));
        Ok(Self {
            pool,
            queue,
            local: MemoryNonces::new(),
            legacy,
            shares: std::sync::Mutex::new(shares),
            max_per_client,
            rows: AtomicUsize::new(rows.max(0) as usize),
            in_flight: AtomicUsize::new(0),
            last_prune: AtomicI64::new(i64::MIN),
        })
    }

    /// Deletes the nonces expired at `now` and recounts.
    async fn prune(&self, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM verifier_replay WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM verifier_replay")
            .fetch_one(&self.pool)
            .await?;
        self.rows.store(rows.max(0) as usize, Ordering::Relaxed);
        self.last_prune.store(now, Ordering::Relaxed);
        Ok(())
    }

    async fn record(
        &self,
        key: &NonceKey<'_>,
        expires: i64,
        now: i64,
        limits: &Limits,
    ) -> Result<Consumed, sqlx::Error> {
        let max = limits.max_nonces;
        let client = CLIENT.try_with(|c| *c).ok();
        let full = |this: &Self| {
            this.rows.load(Ordering::Relaxed) + this.in_flight.load(Ordering::Relaxed) >= max
        };
        if now.saturating_sub(self.last_prune.load(Ordering::Relaxed)) >= PRUNE_EVERY_SECS
            || full(self)
        {
            self.prune(now).await?;
        }
        {
            // The shares and the room are taken here, under one lock, before the write: checkouts
            // that arrive together cannot all pass one check. A nonce refused as a replay keeps
            // its place in the shares until it expires.
            let refused = {
                let mut shares = self.lock_shares();
                if shares.writing.contains(&writing_key(key)) {
                    return Ok(Consumed::Replayed);
                }
                if full(self) {
                    Some(format!("the replay memory holds {max} live nonces"))
                } else if let Err(why) = shares.quotas.check(key, now, limits) {
                    Some(why)
                } else if client
                    .is_some_and(|c| shares.clients.count(c, now) >= self.max_per_client)
                {
                    Some(format!(
                        "the replay memory holds {} live nonces recorded for this client",
                        self.max_per_client
                    ))
                } else {
                    if let Some(c) = client {
                        shares.clients.add(c, expires, now);
                    }
                    shares.quotas.add(key, expires, now);
                    shares.writing.insert(writing_key(key));
                    self.in_flight.fetch_add(1, Ordering::Relaxed);
                    None
                }
            };
            if let Some(why) = refused {
                // A replay of a nonce recorded elsewhere (another node, or before a restart) is
                // a replay, whatever room is left.
                if self.is_recorded(key, now).await? {
                    return Ok(Consumed::Replayed);
                }
                return Ok(Consumed::Unrecorded(why));
            }
        }
        let written = self.write(key, client, expires, now).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let won = {
            let mut shares = self.lock_shares();
            shares.writing.remove(&writing_key(key));
            let won = matches!(written, Ok(true));
            if !won {
                // Recorded before, elsewhere (or not at all): the places taken for it are
                // given back, so nobody's replays of another's presentation fill that agent's,
                // merchant's or client's share.
                shares.quotas.give_back(key, expires);
                if let Some(c) = client {
                    shares.clients.give_back(c, expires);
                }
            }
            won
        };
        if !won {
            written?;
            // Remembered here as used, so its next replays are answered from memory, taking
            // no place even for a moment.
            let _ = self.local.record(key, expires, now, &shortcut(limits));
            return Ok(Consumed::Replayed);
        }
        self.rows.fetch_add(1, Ordering::Relaxed);
        // Remembered here too, for the hot path; the database is the authority, so a full
        // local memory only costs this process its shortcut.
        let _ = self.local.record(key, expires, now, &shortcut(limits));
        Ok(Consumed::Fresh)
    }

    /// Whether `key` is recorded and live at `now` in the database (by any node).
    async fn is_recorded(&self, key: &NonceKey<'_>, now: i64) -> Result<bool, sqlx::Error> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT expires_at FROM verifier_replay \
             WHERE audience = $1 AND holder = $2 AND nonce = $3 AND expires_at >= $4",
        )
        .bind(key.audience)
        .bind(key.holder)
        .bind(key.nonce)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Writes `key` with the next batch: whether this verifier won it (`false`: a replay).
    async fn write(
        &self,
        key: &NonceKey<'_>,
        client: Option<IpAddr>,
        expires: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let (won, answer) = oneshot::channel();
        let pending = Pending {
            aud: key.audience.to_owned(),
            holder: key.holder.to_owned(),
            nonce: key.nonce.to_owned(),
            client: client.map(|c| c.to_string()).unwrap_or_default(),
            expires,
            now,
            won,
        };
        let stopped = || sqlx::Error::WorkerCrashed;
        self.queue.send(pending).await.map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(sqlx::Error::Protocol)
    }

    fn lock_shares(&self) -> std::sync::MutexGuard<'_, Shares> {
        self.shares.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NonceStore for DbNonces {
    async fn consume(
        &self,
        key: NonceKey<'_>,
        expires: i64,
        now: i64,
        limits: &Limits,
    ) -> Consumed {
        let any_agent = NonceKey { holder: "", ..key };
        if self.local.is_live(&key, now) || self.legacy.is_live(&any_agent, now) {
            return Consumed::Replayed;
        }
        match self.record(&key, expires, now, limits).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "replay memory unavailable");
                Consumed::Unrecorded("the replay memory is unavailable".into())
            }
        }
    }
}

/// The batch writer: records every nonce waiting, up to [`MAX_BATCH`], with one statement, and
/// answers each; ends when its [`DbNonces`] is dropped.
async fn write_batches(db: Db, mut waiting: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // The same nonce twice in one batch: the later one is a replay of the earlier (one
        // statement may not write a row twice).
        let mut seen = HashSet::new();
        let first: Vec<bool> = batch
            .iter()
            .map(|p| seen.insert((p.aud.as_str(), p.holder.as_str(), p.nonce.as_str())))
            .collect();
        let rows: Vec<&Pending> = batch
            .iter()
            .zip(&first)
            .filter(|(_, f)| **f)
            .map(|(p, _)| p)
            .collect();
        let won = {
            let _turn = db.write_turn().await;
            record_batch(db.pool(), &rows).await
        };
        for (p, first) in batch.drain(..).zip(first) {
            let Pending {
                aud,
                holder,
                nonce,
                won: reply,
                ..
            } = p;
            let answer = match &won {
                Ok(won) => Ok(first && won.contains(&(aud, holder, nonce))),
                Err(e) => Err(e.to_string()),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Records `rows` (distinct nonces) with one statement: each inserted, or an expired row of the
/// same nonce taken over. Answers those this verifier won: the one winner on any node.
async fn record_batch(
    pool: &AnyPool,
    rows: &[&Pending],
) -> Result<HashSet<(String, String, String)>, sqlx::Error> {
    // Taken over only if expired when the earliest of the batch was presented.
    let now = rows.iter().map(|p| p.now).min().unwrap_or(i64::MIN);
    let values: Vec<String> = (0..rows.len())
        .map(|i| {
            let at = 5 * i + 2;
            format!(
                "(${at}, ${}, ${}, ${}, ${})",
                at + 1,
                at + 2,
                at + 3,
                at + 4
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO verifier_replay (audience, holder, nonce, expires_at, client) VALUES {} \
         ON CONFLICT (audience, holder, nonce) DO UPDATE SET expires_at = excluded.expires_at, \
         client = excluded.client \
         WHERE verifier_replay.expires_at < $1 \
         RETURNING audience, holder, nonce",
        values.join(", ")
    );
    let mut params = vec![Param::Int(now)];
    for p in rows {
        params.extend([
            Param::Text(&p.aud),
            Param::Text(&p.holder),
            Param::Text(&p.nonce),
            Param::Int(p.expires),
            Param::Text(&p.client),
        ]);
    }
    let sqlite = pool.connect_options().database_url.scheme() == "sqlite";
    let bad = |e: &dyn std::fmt::Display| sqlx::Error::Protocol(format!("replay memory: {e}"));
    let sql = Statement::new(sql, sqlite).map_err(|e| bad(&e))?;
    let query = sql
        .bind(
            sqlx::query_as::<_, (String, String, String)>(sql.sql()),
            &params,
        )
        .ok_or_else(|| bad(&"a parameter is missing"))?;
    Ok(query.fetch_all(pool).await?.into_iter().collect())
}
