//! The database the registry, the wallet and the service's own tables share: one sqlx `Any`
//! pool over SQLite (the embedded default) or PostgreSQL, the backend known once, at connect;
//! how each SQLite connection is set up; the process's writer turn on SQLite, taken by every
//! writer of the file; the migration runner; and the change feed's announcement. Every query in
//! agentid is portable SQL with `$n` parameters, run unchanged on both.

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, ConnectOptions, Executor};

/// A crate's migrations: `(version, description, SQL)`, each crate numbered in its own range.
pub type Migrations = &'static [(i64, &'static str, &'static str)];

/// The PostgreSQL channel of the change feed: what one node changes, the others hear.
pub use agentid_spec::CHANGE_FEED_CHANNEL;

/// Which database a pool talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A file on this machine, one process writing it.
    Sqlite,
    /// A server, shared by any number of nodes.
    Postgres,
}

impl Backend {
    /// The backend of `url` (`sqlite:...`, `postgres:...` or `postgresql:...`).
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// How every SQLite connection of the service is set up (the shared pool and the ledger's own
/// connections), one statement each, run as the connection opens.
pub const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA busy_timeout = 5000",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    // Each connection's page cache: 64 MiB (the default, 2 MiB, sends the ledger's reads to
    // the operating system's cache on every statement once it outgrows it).
    "PRAGMA cache_size = -65536",
    // Reads of the database file through a shared memory map of up to 64 GiB (SQLite's
    // ceiling, raised from 2 GiB in .cargo/config.toml) instead of a `pread` into each
    // connection's cache: with a million agents the registry's tables (some 2.3 GiB) outgrow
    // every connection's cache, and a resolution then reads pages the operating system
    // already holds. Address space only: what is mapped is the page cache's.
    "PRAGMA mmap_size = 68719476736",
    // The write-ahead log is copied back into the database in the background ([`Db::checkpoints`]
    // every 250 ms), off the path of every commit; a commit copies it itself only
    // when it has grown past 4,096 pages (16 MiB: the checkpointer has fallen behind). SQLite's
    // default, 1,000 pages, has one ledger group in every few pay for a checkpoint and its
    // two `fsync`s while every authorization waits behind it.
    "PRAGMA wal_autocheckpoint = 4096",
    // Statement journals and sorts in memory, not in files under /var/tmp: a multi-row insert
    // with a unique index keeps a statement journal.
    "PRAGMA temp_store = MEMORY",
];

/// Connections to the SQLite database in the shared pool (the ledger keeps its own).
const SQLITE_CONNECTIONS: u32 = 4;

/// Connections to PostgreSQL in the shared pool.
const POSTGRES_CONNECTIONS: u32 = 16;

/// How often [`Db::checkpoints`] copies the write-ahead log back into the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The SQLite URL of the database file in `data_dir`.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("agentid.db").display()
    )
}

/// The database: its pool, its backend and, on SQLite, the writer turn. Cheap to clone; every
/// clone shares the turn.
#[derive(Clone)]
pub struct Db(Arc<Inner>);

struct Inner {
    pool: AnyPool,
    backend: Backend,
    /// On SQLite, one writing transaction at a time in this process: writers queue here rather
    /// than contend for the file's write lock, whose busy handler sleeps.
    writer: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.0.backend)
            .finish()
    }
}

impl Db {
    /// Connects to `url` (`sqlite://...` or `postgres://...`); on SQLite, in write-ahead-log
    /// mode with [`SQLITE_PRAGMAS`] on every connection.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            sqlx::Error::Configuration("database URL must be sqlite: or postgres:".into())
        })?;
        let options: AnyConnectOptions = url
            .parse::<AnyConnectOptions>()?
            .disable_statement_logging();
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(SQLITE_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    // A file on this machine: no connection to lose, so no round trip to the
                    // connection's thread to test it before every statement.
                    .test_before_acquire(false)
                    // Connections are kept for the life of the pool: each is a thread, and
                    // those opened below, by `agentid serve`'s main thread, keep the process's
                    // priority (its HTTP workers run below it); one opened later by a worker
                    // would not.
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS {
                                conn.execute(*pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?
            }
        };
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL").await?;
            // Every connection opened now, on this thread (see `idle_timeout` above).
            let mut open = Vec::new();
            for _ in 0..SQLITE_CONNECTIONS {
                open.push(pool.acquire().await?);
            }
        }
        Ok(Self(Arc::new(Inner {
            pool,
            backend,
            writer: tokio::sync::Mutex::new(()),
        })))
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.0.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.0.backend
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.0.backend == Backend::Postgres
    }

    /// This process's turn to write, on SQLite, held until the guard drops (take it before the
    /// transaction begins, drop it after the commit); PostgreSQL's row locks need no queue
    /// here. Every writer of the database in this process takes it: the registry, the wallet
    /// and the verifier's replay memory.
    pub async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.0.backend {
            Backend::Postgres => None,
            Backend::Sqlite => Some(self.0.writer.lock().await),
        }
    }

    /// Announces a change of `what` (`registry`, `log`, `wallet`, ...) on the change feed,
    /// delivered to the other nodes when `tx` commits (PostgreSQL; on SQLite there is one
    /// process and nothing to tell).
    pub async fn notify(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        what: &str,
    ) -> Result<(), sqlx::Error> {
        if self.is_postgres() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGE_FEED_CHANNEL)
                .bind(what)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Applies `migrations` (a crate's `MIGRATIONS`), ignoring the other crates' rows.
    pub async fn migrate(&self, migrations: Migrations) -> Result<(), sqlx::migrate::MigrateError> {
        let mut migrator = Migrator::new(Embedded(migrations)).await?;
        migrator.set_ignore_missing(true);
        migrator.run(&self.0.pool).await
    }

    /// The first migration applied to the database that none of `known` has: the database was
    /// brought forward by a newer agentid, whose tables this one would misread. Each crate's
    /// migrator ignores the others' rows, so none of them would notice.
    pub async fn unknown_migration(
        &self,
        known: &[Migrations],
    ) -> Result<Option<(i64, String)>, sqlx::Error> {
        let exists = match self.0.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
            }
        };
        let (tables,): (i64,) = sqlx::query_as(exists).fetch_one(&self.0.pool).await?;
        if tables == 0 {
            return Ok(None);
        }
        let applied: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.0.pool)
                .await?;
        Ok(applied.into_iter().find(|(version, _)| {
            !known
                .iter()
                .any(|m| m.iter().any(|(known, _, _)| known == version))
        }))
    }

    /// Copies SQLite's write-ahead log back into the database every [`CHECKPOINT_EVERY`], in
    /// the background (a passive checkpoint: it waits for no reader or writer and none waits
    /// for it), until the pool closes. PostgreSQL needs none: returns at once.
    pub async fn checkpoints(self) {
        if self.is_postgres() {
            return;
        }
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.0.pool.is_closed() {
            tick.tick().await;
            if let Err(e) = self.0.pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %e, "write-ahead log checkpoint failed");
            }
        }
    }
}

/// Migrations compiled into the binary.
#[derive(Debug)]
struct Embedded(Migrations);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send>>
    {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}
