//! The verifier's replay memory in the database (spec section 8, step 14): per merchant
//! (audience), shared by every node on the database and kept across restarts, bounded, pruned at
//! expiry. The hot path for a replay is this process's memory: a nonce this process accepted is
//! refused without a database round trip; a new one is recorded with one atomic upsert that only
//! a single verifier, on any node, can win.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use agentid_sdk::verify::{Consumed, MemoryNonces, NonceStore};
use sqlx::AnyPool;

/// The server's migrations, versions 3000-3999.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(
    3001,
    "verifier",
    include_str!("../migrations/0001_verifier.sql"),
)];

/// Expired nonces are deleted at most this often, in seconds.
const PRUNE_EVERY_SECS: i64 = 60;

/// Nonces in the database, with this process's accepted ones in memory.
pub struct DbNonces {
    pool: AnyPool,
    local: MemoryNonces,
    /// Rows believed to be in the table (exact after each prune, counted up between).
    rows: AtomicUsize,
    last_prune: AtomicI64,
}

impl DbNonces {
    /// The replay memory over `pool` (on which [`MIGRATIONS`] have run).
    pub async fn open(pool: AnyPool) -> Result<Self, sqlx::Error> {
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM verifier_nonces")
            .fetch_one(&pool)
            .await?;
        Ok(Self {
            pool,
            local: MemoryNonces::new(),
            rows: AtomicUsize::new(rows.max(0) as usize),
            last_prune: AtomicI64::new(i64::MIN),
        })
    }

    /// Deletes the nonces expired at `now` and recounts.
    async fn prune(&self, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM verifier_nonces WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM verifier_nonces")
            .fetch_one(&self.pool)
            .await?;
        self.rows.store(rows.max(0) as usize, Ordering::Relaxed);
        self.last_prune.store(now, Ordering::Relaxed);
        Ok(())
    }

    async fn record(
        &self,
        aud: &str,
        nonce: &str,
        expires: i64,
        now: i64,
        max: usize,
    ) -> Result<Consumed, sqlx::Error> {
        if now.saturating_sub(self.last_prune.load(Ordering::Relaxed)) >= PRUNE_EVERY_SECS
            || self.rows.load(Ordering::Relaxed) >= max
        {
            self.prune(now).await?;
            if self.rows.load(Ordering::Relaxed) >= max {
                return Ok(Consumed::Unrecorded(format!(
                    "the replay memory holds {max} live nonces"
                )));
            }
        }
        // Inserted, or an expired row of the same nonce taken over: the one winner on any node.
        let won: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO verifier_nonces (audience, nonce, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (audience, nonce) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE verifier_nonces.expires_at < $4 \
             RETURNING expires_at",
        )
        .bind(aud)
        .bind(nonce)
        .bind(expires)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if won.is_none() {
            return Ok(Consumed::Replayed);
        }
        self.rows.fetch_add(1, Ordering::Relaxed);
        // Remembered here too, for the hot path; the database is the authority, so a full
        // local memory only costs this process its shortcut.
        let _ = self.local.record(aud, nonce, expires, now, max);
        Ok(Consumed::Fresh)
    }
}

impl NonceStore for DbNonces {
    async fn consume(
        &self,
        aud: &str,
        nonce: &str,
        expires: i64,
        now: i64,
        max: usize,
    ) -> Consumed {
        if self.local.is_live(aud, nonce, now) {
            return Consumed::Replayed;
        }
        match self.record(aud, nonce, expires, now, max).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "replay memory unavailable");
                Consumed::Unrecorded("the replay memory is unavailable".into())
            }
        }
    }
}
