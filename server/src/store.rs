//! Storage: one sqlx `Any` pool over SQLite (the embedded default) or PostgreSQL, handed to the
//! registry and the wallet, and the migrations each of them embeds, applied here. Every query in
//! agentid is portable SQL with `$n` parameters, run unchanged on both.

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, ConnectOptions, Executor};

/// Which database a pool talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The SQLite URL of the database file in `data_dir`.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("agentid.db").display()
    )
}

/// Connections to the SQLite database (besides the ledger's own).
const SQLITE_CONNECTIONS: u32 = 4;

/// How often [`checkpoints`] copies the write-ahead log back into the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Connects to `url` (`sqlite://...` or `postgres://...`).
pub async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        return Err(sqlx::Error::Configuration(
            "database URL must be sqlite: or postgres:".into(),
        ));
    };
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
                // Connections are kept for the life of the pool: each is a thread, and those
                // opened below, by `agentid serve`'s main thread, keep the process's priority
                // (its HTTP workers run below it); one opened later by a worker would not.
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        for pragma in agentid_wallet::SQLITE_PRAGMAS {
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
                .max_connections(16)
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
    Ok(pool)
}

/// Copies SQLite's write-ahead log back into the database every [`CHECKPOINT_EVERY`], in the
/// background (a passive checkpoint: it waits for no reader or writer and none waits for it),
/// until the pool closes. A PostgreSQL pool needs none: returns at once.
pub async fn checkpoints(pool: AnyPool) {
    if pool.connect_options().database_url.scheme() != "sqlite" {
        return;
    }
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(e) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
            tracing::warn!(error = %e, "write-ahead log checkpoint failed");
        }
    }
}

/// Migrations compiled into the binary: `(version, description, SQL)`. Each crate owns its own,
/// numbered in its own range, and ignores the others' rows in `_sqlx_migrations`.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

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

/// Applies `migrations` (a crate's `MIGRATIONS`) to the pool.
pub async fn migrate(
    pool: &AnyPool,
    migrations: &'static [(i64, &'static str, &'static str)],
) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = Migrator::new(Embedded(migrations)).await?;
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

/// Every crate's migrations, as [`open`] applies them.
const ALL_MIGRATIONS: [&[(i64, &str, &str)]; 5] = [
    agentid_wallet::MIGRATIONS,
    agentid_registry::MIGRATIONS,
    crate::nonces::MIGRATIONS,
    crate::operators::MIGRATIONS,
    crate::settings::MIGRATIONS,
];

/// Connects to `url`, refuses a database holding a migration this binary does not know, and
/// brings the registry's, the wallet's and the service's tables up to date.
pub async fn open(url: &str) -> Result<AnyPool, crate::start::StartError> {
    let pool = connect(url).await?;
    if let Some((version, description)) = unknown_migration(&pool).await? {
        return Err(crate::start::StartError::UnknownMigration {
            version,
            description,
        });
    }
    for migrations in ALL_MIGRATIONS {
        migrate(&pool, migrations).await?;
    }
    Ok(pool)
}

/// The first migration applied to the database that no crate of this binary has: the
/// database was brought forward by a newer agentid, whose tables this one would misread. Each
/// crate's migrator ignores the others' rows, so none of them would notice.
async fn unknown_migration(pool: &AnyPool) -> Result<Option<(i64, String)>, sqlx::Error> {
    let exists = if pool.connect_options().database_url.scheme() == "sqlite" {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
    } else {
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
    };
    let (tables,): (i64,) = sqlx::query_as(exists).fetch_one(pool).await?;
    if tables == 0 {
        return Ok(None);
    }
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(applied.into_iter().find(|(version, _)| {
        !ALL_MIGRATIONS
            .iter()
            .any(|m| m.iter().any(|(known, _, _)| known == version))
    }))
}
