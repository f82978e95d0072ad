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

/// Each SQLite connection's page cache: 64 MiB (the default, 2 MiB, sends the ledger's reads
/// to the operating system's cache on every statement once it outgrows it).
const SQLITE_CACHE: &str = "PRAGMA cache_size = -65536";

/// Reads of the database file through a shared memory map of up to 2 GiB (SQLite's own ceiling)
/// instead of a `pread` into each connection's cache: with a million agents the registry's
/// tables outgrow every connection's cache, and a resolution then reads pages the operating
/// system already holds.
const SQLITE_MMAP: &str = "PRAGMA mmap_size = 2147418112";

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
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute(SQLITE_CACHE).await?;
                        conn.execute(SQLITE_MMAP).await?;
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
    }
    Ok(pool)
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

/// Connects to `url` and brings the registry's, the wallet's and the verifier's tables up to
/// date.
pub async fn open(url: &str) -> Result<AnyPool, crate::start::StartError> {
    let pool = connect(url).await?;
    migrate(&pool, agentid_wallet::MIGRATIONS).await?;
    migrate(&pool, agentid_registry::MIGRATIONS).await?;
    migrate(&pool, crate::nonces::MIGRATIONS).await?;
    migrate(&pool, crate::operators::MIGRATIONS).await?;
    Ok(pool)
}
