//! Storage set-up: the database (agentid-store's [`Db`]) opened, checked for migrations this
//! binary does not know, and brought up to date with every crate's migrations.

use agentid_store::db::Migrations;
use agentid_store::Db;

pub use agentid_store::db::sqlite_url;

/// Every crate's migrations, as [`open`] applies them.
const ALL_MIGRATIONS: [Migrations; 5] = [
    agentid_wallet::MIGRATIONS,
    agentid_registry::MIGRATIONS,
    crate::nonces::MIGRATIONS,
    crate::operators::MIGRATIONS,
    crate::settings::MIGRATIONS,
];

/// Connects to `url`, refuses a database holding a migration this binary does not know, and
/// brings the registry's, the wallet's and the service's tables up to date.
pub async fn open(url: &str) -> Result<Db, crate::start::StartError> {
    let db = Db::connect(url).await?;
    if let Some((version, description)) = db.unknown_migration(&ALL_MIGRATIONS).await? {
        return Err(crate::start::StartError::UnknownMigration {
            version,
            description,
        });
    }
    for migrations in ALL_MIGRATIONS {
        db.migrate(migrations).await?;
    }
    Ok(db)
}
