//! Starting the service: storage, secrets, the registry, the wallet and the verifier, over one
//! database, behind one listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentid_registry::Registry;
use agentid_resolver::http::HttpSource;
use agentid_sdk::verify::{TrustPolicy, Verifier};
use agentid_spec::clock::{Clock, SystemClock};
use agentid_spec::id::Did;
use agentid_store::TokenKey;
use agentid_wallet::vault::{Vault, VaultError};
use agentid_wallet::{Wallet, WalletConfig};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::config::ServeConfig;
use crate::source::LocalSource;
use crate::{store, AppState};

/// Why the service could not start. Nothing is written (no secret, no setting) before every
/// check that can fail has passed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory or a key file.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The database.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database holds a migration this binary does not know: a newer agentid wrote it.
    #[error(
        "the database holds migration {version} ({description}), which this agentid does not \
         know: a newer version brought the database forward. Run that version (or a newer one), \
         or restore a backup taken before the upgrade"
    )]
    UnknownMigration {
        /// The unknown version.
        version: i64,
        /// Its description, as recorded.
        description: String,
    },
    /// The master key.
    #[error("master key: {0}")]
    Vault(#[from] VaultError),
    /// The database holds keys sealed by a master key and none was given.
    #[error(
        "the database holds keys sealed by a master key, and none was found: give it with \
         --master-key-file, --master-key-fd or AGENTID_MASTER_KEY, or put it at {0}"
    )]
    MasterKeyMissing(String),
    /// The master key given is not the one the database's keys are sealed under.
    #[error(
        "the master key from {0} is not the one this database's keys are sealed under \
         (recorded by the first node to start on it): give that one"
    )]
    MasterKeyWrong(String),
    /// The admin token given is not the root operator's token recorded in the database.
    #[error(
        "the admin token from {0} is not this database's root operator token (recorded, hashed, \
         by the first node to start on it): give that one (--admin-token, AGENTID_ADMIN_TOKEN, or \
         a copy of that node's admin.token in the data directory), or none: every node accepts \
         the recorded token without a copy of it"
    )]
    AdminTokenMismatch(String),
    /// The root token's stored form is an earlier release's, and nothing here vouches for it.
    #[error(
        "the root operator token is recorded in an earlier release's form (a bare SHA-256), \
         which anyone able to write the database could have written, and this node neither holds \
         the token nor is upgrading from that release: start once with the root token \
         (--admin-token, AGENTID_ADMIN_TOKEN, or the first node's admin.token in the data \
         directory) to convert it"
    )]
    LegacyRootToken,
    /// The database was set up, and records no root token.
    #[error(
        "this database was set up by an earlier start (its public URL is recorded) but records \
         no root operator token: it was deleted behind the service's back. Start once with the \
         root token (--admin-token, AGENTID_ADMIN_TOKEN, or the first node's admin.token in the \
         data directory) to record it again"
    )]
    RootTokenMissing,
    /// The public URL differs from the one recorded at first start.
    #[error(
        "this database was set up for the public URL {recorded}, and this start's is {given}: \
         every delegation, status list URL and the wallet's did:web name the recorded one, so \
         each would fail (status_unavailable). Start with --public-url {recorded}, or add \
         --move-public-url to record {given} (what was issued before stops verifying)"
    )]
    PublicUrlChanged {
        /// The URL recorded.
        recorded: String,
        /// The URL of this start.
        given: String,
    },
    /// The HTTP client for status lists on other origins.
    #[error("verifier: {0}")]
    Verifier(String),
    /// A setting that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The log no longer extends the checkpoint kept outside the database.
    #[error("log restored: {0}")]
    LogRestored(String),
    /// The registry's stored log could not be read.
    #[error("registry: {0}")]
    Registry(String),
}

impl StartError {
    /// A stable machine code for the failure, printed by `agentid serve`.
    pub fn code(&self) -> &'static str {
        match self {
            StartError::Io(..) => "io_error",
            StartError::Database(_) => "database_error",
            StartError::Migrate(_) => "migration_failed",
            StartError::UnknownMigration { .. } => "unknown_migration",
            StartError::Vault(_) => "master_key_invalid",
            StartError::MasterKeyMissing(_) => "master_key_missing",
            StartError::MasterKeyWrong(_) => "master_key_wrong",
            StartError::AdminTokenMismatch(_) => "admin_token_mismatch",
            StartError::LegacyRootToken => "legacy_root_token",
            StartError::RootTokenMissing => "root_token_missing",
            StartError::PublicUrlChanged { .. } => "public_url_changed",
            StartError::Verifier(_) | StartError::Registry(_) => "start_failed",
            StartError::Config(_) => "invalid_config",
            StartError::LogRestored(_) => "log_restored",
        }
    }
}

/// Longest hold a wallet grants: one day.
const MAX_HOLD_SECS: i64 = 24 * 3600;

/// A started service: its address and the future that runs it.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The URL clients reach it at.
    pub public_url: String,
    /// Path of the admin token file; `None` when this node keeps no copy (the token is the one
    /// recorded by the first node on the database, or was given).
    pub admin_token_file: Option<PathBuf>,
    /// The connections' limits in force (the cap fitted to the open-file limit).
    pub conn_limits: crate::conn::ConnLimits,
    /// The event streams' limits in force.
    pub event_streams: crate::EventStreamLimits,
    server: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>,
}

impl Running {
    /// Serves until the process receives Ctrl-C or SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Writes a file readable only by its owner; refuses to overwrite one.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Sets `path`'s permission bits to `mode` (Unix; elsewhere nothing).
fn restrict(path: &Path, mode: u32) -> Result<(), StartError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| StartError::Io(path.display().to_string(), e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Checks the configuration, binds the listener, opens storage and applies migrations, checks
/// the secrets and settings against those the database recorded, and builds the app. Secrets
/// and settings are written last, once everything that can refuse the start has passed: a
/// failing start leaves no `master.key`, no `admin.token` and no record behind.
pub async fn start(config: ServeConfig) -> Result<Running, StartError> {
    let (conn_limits, event_streams) = connection_limits(&config)?;
    check_config(&config)?;
    let master_given = master_key_source(&config)?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Io(config.listen.to_string(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Io(config.listen.to_string(), e))?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();

    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::Io(config.data_dir.display().to_string(), e))?;
    // The data directory and the database in it are the service's user's alone.
    restrict(&config.data_dir, 0o700)?;
    let url = config
        .database_url
        .clone()
        .unwrap_or_else(|| store::sqlite_url(&config.data_dir));
    let db = store::open(&url).await?;
    let pool = db.pool().clone();
    if config.database_url.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let file = config.data_dir.join(format!("agentid.db{suffix}"));
            if file.exists() {
                restrict(&file, 0o600)?;
            }
        }
    }

    let public_url_record = check_public_url(&pool, &public_url, config.move_public_url).await?;
    let master = master_key(&pool, &config.data_dir, master_given).await?;
    let vault = Vault::from_b64u(&master.key)?;
    let tokens = TokenKey::from_b64u(&master.key)
        .ok_or_else(|| StartError::Config("the master key is not 32 bytes of base64url".into()))?;
    let kept = crate::witness::path(&config.data_dir);
    // A node of an earlier release, whose tokens were stored as bare hashes, vouches for them
    // once, at the start that upgrades it.
    let upgrading = crate::witness::keeps_bare_tokens(&kept);
    let root = root_token(&pool, &config, &tokens, upgrading).await?;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut wallet_config = WalletConfig::new(&public_url);
    wallet_config.hold_secs = config.hold_secs;
    wallet_config.approval_secs = config.approval_secs;
    let wallet = Wallet::new(
        db.clone(),
        vault,
        tokens.clone(),
        wallet_config,
        clock.clone(),
    )
    .map_err(|e| StartError::Config(format!("--public-url {public_url}: {e}")))?;
    let mut policy = TrustPolicy::new()
        .trust_registry(&public_url)
        .trust_wallet(wallet.did().clone())
        .allow_did_key_agents(config.allow_did_key_agents);
    for r in &config.trust_registries {
        policy = policy.trust_registry(r);
    }
    for w in &config.trust_wallets {
        let did = Did::parse(w).map_err(|e| StartError::Config(format!("--trust-wallet: {e}")))?;
        policy = policy.trust_wallet(did);
    }
    let sealer = agentid_store::Sealer::from_b64u(&master.key, agentid_registry::SEAL_PURPOSE)
        .ok_or_else(|| StartError::Config("the master key is not 32 bytes of base64url".into()))?;
    let registry = Registry::new(db.clone(), clock.clone(), sealer)
        .with_name_grace(config.name_grace_secs)
        .with_resolution_cache_secs(config.resolution_cache_secs);
    // Revocations are recorded in the log, and read from it over the wallet's rows.
    wallet.set_witness(Arc::new(crate::source::LogWitness(registry.clone())));
    if let Some(dns) =
        crate::dns::Dns::new(config.dns_server.as_deref()).map_err(StartError::Config)?
    {
        registry.set_dns(dns);
    }
    let mut remote = HttpSource::without_registry(Duration::from_secs(5))
        .map_err(|e| StartError::Verifier(e.to_string()))?;
    for o in &config.allow_status_origins {
        remote = remote.allow_status_origin(o);
    }
    // A trusted wallet's status lists are on its own origin.
    for w in &config.trust_wallets {
        if let Some(url) = agentid_spec::id::did_web_document_url(w) {
            remote = remote.allow_status_origin(&agentid_resolver::http::origin(&url));
        }
    }
    // The log's Merkle tree is built before the first answer rather than by it: every
    // resolution carries an inclusion proof, and at a million entries building the tree from
    // the stored log takes seconds that no resolution should wait behind.
    let t0 = std::time::Instant::now();
    let (size, _) = registry
        .log_head()
        .await
        .map_err(|e| StartError::Registry(format!("reading the log: {e}")))?;
    tracing::info!(
        entries = size,
        took_ms = t0.elapsed().as_millis() as u64,
        "log tree built"
    );

    if url.starts_with("postgres") {
        crate::changes::listen(&url, registry.clone(), wallet.clone()).await?;
    }
    let nonces = crate::nonces::DbNonces::open(db.clone(), config.max_nonces_per_client).await?;
    if master.sealed {
        // Loads the wallet's key, writing nothing: a master key that does not unseal it is
        // refused before any setting is recorded.
        open_identity(&wallet).await?;
    }
    // The log still extends the checkpoint kept outside the database (nothing to check on a
    // fresh database, whose wallet has no key yet).
    let restore = crate::witness::Restore {
        accept: config.accept_restored_log,
        seal: config.seal_log_entries.clone(),
        drop_from: config.drop_log_entries_from,
    };
    let judged = crate::witness::judge(&kept, &registry, &wallet, &restore).await?;
    let own = agentid_resolver::http::origin(&public_url);
    let mut foreign = Vec::new();
    for r in &config.trust_registries {
        if agentid_resolver::http::origin(r.trim_end_matches('/')) == own {
            continue;
        }
        foreign.push(
            HttpSource::new(r, Duration::from_secs(5))
                .map_err(|e| StartError::Config(format!("--trust-registry {r}: {e}")))?,
        );
    }

    // Everything that can refuse the start has passed: the secrets and settings now.
    let (admin_token_file, root_token_hash) = write_secrets(
        &pool,
        &config.data_dir,
        &master,
        &tokens,
        root,
        &public_url,
        public_url_record,
    )
    .await?;
    let operators = crate::operators::Operators::new(
        pool.clone(),
        root_token_hash,
        tokens,
        (registry.clone(), wallet.did().as_str()),
        clock.clone(),
    );
    if upgrading {
        let principals = wallet
            .key_legacy_tokens()
            .await
            .map_err(|e| StartError::Registry(format!("converting principals' tokens: {e}")))?;
        let named = operators
            .key_legacy_tokens()
            .await
            .map_err(|e| StartError::Registry(format!("converting operators' tokens: {e}")))?;
        if principals + named > 0 {
            tracing::warn!(
                principals,
                operators = named,
                "tokens stored as bare hashes by an earlier release converted to the keyed form \
                 (this node's first start since the upgrade)"
            );
        }
    }
    if !master.sealed {
        // A fresh database: the wallet's key is made and sealed now that the master key is
        // kept.
        open_identity(&wallet).await?;
    }
    // The log's amendments last, once nothing else can refuse the start.
    let kept_size = crate::witness::apply(judged, &registry, &restore).await?;
    wallet.start_ledger();
    crate::witness::keep(kept, registry.clone(), wallet.clone(), kept_size).await?;
    tokio::spawn(db.clone().checkpoints());
    let mut source = LocalSource::new(registry.clone(), wallet.clone(), &public_url, remote);
    for registry in foreign {
        source = source.with_foreign_registry(registry);
    }
    let verifier = Arc::new(Verifier::with_nonces(
        source,
        policy,
        clock,
        (&config.limits).into(),
        nonces,
    ));
    let limiter = crate::ratelimit::WriteLimiter::new(config.write_rate, config.write_burst);
    let app = crate::router(AppState::new(
        registry,
        wallet,
        verifier,
        operators,
        limiter,
        event_streams,
    ));
    let server = Box::pin(crate::conn::serve(
        listener,
        app,
        conn_limits,
        shutdown_signal(),
    ));
    Ok(Running {
        addr,
        public_url,
        admin_token_file,
        conn_limits,
        event_streams,
        server,
    })
}

/// Opens the wallet's identity: loads its signing key, made first on a fresh database.
async fn open_identity(wallet: &Wallet) -> Result<(), StartError> {
    wallet
        .open_identity()
        .await
        .map_err(|e| StartError::Config(format!("wallet identity: {e}")))
}

/// The settings checked before anything is opened.
fn check_config(config: &ServeConfig) -> Result<(), StartError> {
    if !(1..=MAX_HOLD_SECS).contains(&config.hold_secs) {
        return Err(StartError::Config(format!(
            "--hold-secs must be 1 to {MAX_HOLD_SECS}"
        )));
    }
    if !(1..=MAX_HOLD_SECS).contains(&config.approval_secs) {
        return Err(StartError::Config(format!(
            "--approval-secs must be 1 to {MAX_HOLD_SECS}"
        )));
    }
    if !(0..=agentid_registry::cache::MAX_TTL_SECS).contains(&config.resolution_cache_secs) {
        return Err(StartError::Config(format!(
            "--resolution-cache-secs must be 0 to {}",
            agentid_registry::cache::MAX_TTL_SECS
        )));
    }
    if config.write_rate == 0 || config.write_burst == 0 {
        return Err(StartError::Config(
            "--write-rate and --write-burst must be at least 1".into(),
        ));
    }
    for w in &config.trust_wallets {
        Did::parse(w).map_err(|e| StartError::Config(format!("--trust-wallet: {e}")))?;
    }
    if let Some(url) = &config.public_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StartError::Config(format!(
                "--public-url {url}: an http:// or https:// URL"
            )));
        }
    }
    Ok(())
}

/// The public URL against the one recorded: `Ok(Record::New)` to record it (a first start),
/// `Ok(Record::Replace)` to replace the recorded one (`--move-public-url`), `Ok(Record::Kept)`
/// when they agree.
async fn check_public_url(
    pool: &sqlx::AnyPool,
    public_url: &str,
    move_it: bool,
) -> Result<Record, StartError> {
    match crate::settings::get(pool, crate::settings::PUBLIC_URL).await? {
        None => Ok(Record::New),
        Some(recorded) if recorded == public_url => Ok(Record::Kept),
        Some(recorded) if move_it => {
            tracing::warn!(
                from = %recorded,
                to = %public_url,
                "moving the public URL: what was issued under the old one stops verifying"
            );
            Ok(Record::Replace)
        }
        Some(recorded) => Err(StartError::PublicUrlChanged {
            recorded,
            given: public_url.to_owned(),
        }),
    }
}

/// What to do with a recorded setting at the end of the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Record {
    New,
    Replace,
    Kept,
}

/// A master key given outside the data directory: the key and where it came from.
struct GivenKey {
    key: Zeroizing<String>,
    from: String,
}

/// The master key from configuration (`AGENTID_MASTER_KEY`, `--master-key-file`,
/// `--master-key-fd`), if one is given.
fn master_key_source(config: &ServeConfig) -> Result<Option<GivenKey>, StartError> {
    let read = |path: PathBuf, from: String| {
        std::fs::read_to_string(&path)
            .map(|text| GivenKey {
                key: Zeroizing::new(text.trim().to_owned()),
                from: from.clone(),
            })
            .map_err(|e| StartError::Io(from, e))
    };
    if let Some(key) = &config.master_key {
        return Ok(Some(GivenKey {
            key: Zeroizing::new(key.trim().to_owned()),
            from: "AGENTID_MASTER_KEY".into(),
        }));
    }
    if let Some(path) = &config.master_key_file {
        return read(path.clone(), path.display().to_string()).map(Some);
    }
    if let Some(fd) = config.master_key_fd {
        // The descriptor as a path: reading it needs no unsafe code.
        return read(
            PathBuf::from(format!("/dev/fd/{fd}")),
            format!("--master-key-fd {fd}"),
        )
        .map(Some);
    }
    Ok(None)
}

/// The master key to open the vault with, checked against the database.
struct MasterKey {
    key: Zeroizing<String>,
    /// Made now, for a fresh database: written to this file at the end of the start.
    write_to: Option<PathBuf>,
    /// Its check value, to record (a database without one yet).
    record_check: Option<String>,
    /// Whether the database holds keys sealed under a master key already.
    sealed: bool,
}

/// The master key: the one given, else `DATA_DIR/master.key`, else (for a database with no
/// sealed key) a fresh one, written only at the end of the start. Refused when the database
/// recorded another key's check value, or holds sealed keys and no key is found.
async fn master_key(
    pool: &sqlx::AnyPool,
    data_dir: &Path,
    given: Option<GivenKey>,
) -> Result<MasterKey, StartError> {
    let path = data_dir.join("master.key");
    let found = match given {
        Some(g) => Some(g),
        None => match std::fs::read_to_string(&path) {
            Ok(text) => Some(GivenKey {
                key: Zeroizing::new(text.trim().to_owned()),
                from: path.display().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StartError::Io(path.display().to_string(), e)),
        },
    };
    let recorded = crate::settings::get(pool, crate::settings::MASTER_KEY_CHECK).await?;
    // A database this check was added to after its first start: its keys, if any, tell.
    let (sealed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM wallet_keys")
        .fetch_one(pool)
        .await?;
    let Some(found) = found else {
        if recorded.is_some() || sealed > 0 {
            return Err(StartError::MasterKeyMissing(path.display().to_string()));
        }
        let key = Vault::generate_master_key();
        let check = crate::settings::master_key_check(&key);
        return Ok(MasterKey {
            key,
            write_to: Some(path),
            record_check: check,
            sealed: false,
        });
    };
    // Invariant of a key that parses; one that does not is refused by the vault next.
    let check = crate::settings::master_key_check(&found.key);
    match (&recorded, &check) {
        (Some(r), Some(c)) if r != c => Err(StartError::MasterKeyWrong(found.from)),
        _ => Ok(MasterKey {
            key: found.key,
            write_to: None,
            record_check: if recorded.is_none() { check } else { None },
            sealed: sealed > 0,
        }),
    }
}

/// The root operator's token as this start found it.
enum RootToken {
    /// Given, or in the data directory, and matching the recorded stored form (or none
    /// recorded).
    Held {
        hash: String,
        file: Option<PathBuf>,
        from: String,
        /// The recorded form, of an earlier release, that this token converts.
        legacy: Option<String>,
    },
    /// Recorded by another node; this one has no copy.
    Recorded {
        hash: String,
        /// The recorded form, of an earlier release, converted by this upgrading node.
        legacy: Option<String>,
    },
    /// Made now for a database with none: written to the file and recorded at the end.
    Fresh {
        token: Zeroizing<String>,
        file: PathBuf,
    },
}

/// The root operator's token: the one given or in `DATA_DIR/admin.token` (refused unless it
/// is the one recorded), else the recorded one's stored form (this node keeps no copy), else a
/// fresh one for an empty database. A stored form of an earlier release (a bare SHA-256) is
/// converted when the token held here matches it, or when this node is `upgrading` from that
/// release; otherwise the start is refused, since anyone who can write the database can write
/// such a form.
async fn root_token(
    pool: &sqlx::AnyPool,
    config: &ServeConfig,
    tokens: &TokenKey,
    upgrading: bool,
) -> Result<RootToken, StartError> {
    use agentid_store::tokens::Account;
    let file = config.data_dir.join("admin.token");
    let held = match &config.admin_token {
        Some(t) => Some((
            Zeroizing::new(t.trim().to_owned()),
            "--admin-token (AGENTID_ADMIN_TOKEN)".to_owned(),
            None,
        )),
        None => match std::fs::read_to_string(&file) {
            Ok(text) => Some((
                Zeroizing::new(text.trim().to_owned()),
                file.display().to_string(),
                Some(file.clone()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StartError::Io(file.display().to_string(), e)),
        },
    };
    let recorded = crate::settings::get(pool, crate::settings::ROOT_TOKEN_HASH).await?;
    let legacy = recorded.clone().filter(|r| !TokenKey::is_keyed(r));
    match (held, recorded) {
        (Some((token, from, file)), Some(stored)) => {
            let matches = match &legacy {
                Some(l) => tokens
                    .from_legacy(Account::Root, &[], l)
                    .is_some_and(|k| tokens.matches(Account::Root, &[], &token, &k)),
                None => tokens.matches(Account::Root, &[], &token, &stored),
            };
            if !matches {
                return Err(StartError::AdminTokenMismatch(from));
            }
            Ok(RootToken::Held {
                hash: tokens.stored(Account::Root, &[], &token),
                file,
                from,
                legacy,
            })
        }
        (Some((token, from, file)), None) => Ok(RootToken::Held {
            hash: tokens.stored(Account::Root, &[], &token),
            file,
            from,
            legacy: None,
        }),
        (None, Some(stored)) => match legacy {
            None => Ok(RootToken::Recorded {
                hash: stored,
                legacy: None,
            }),
            Some(l) if upgrading => Ok(RootToken::Recorded {
                hash: tokens
                    .from_legacy(Account::Root, &[], &l)
                    .ok_or(StartError::LegacyRootToken)?,
                legacy: Some(l),
            }),
            Some(_) => Err(StartError::LegacyRootToken),
        },
        (None, None) => {
            // A database already set up (its public URL recorded with the root token at its
            // first start) whose root token is gone: deleted behind the service's back. A
            // fresh token minted here would be a root nobody else accepts.
            if crate::settings::get(pool, crate::settings::PUBLIC_URL)
                .await?
                .is_some()
            {
                return Err(StartError::RootTokenMissing);
            }
            Ok(RootToken::Fresh {
                token: agentid_wallet::auth::new_token("admin"),
                file,
            })
        }
    }
}

/// Writes what the start made (a fresh master key and admin token, each to a file of mode
/// 0600) and records the settings a first start records; the admin token file, if this node
/// has one, and the root token's hash in force.
async fn write_secrets(
    pool: &sqlx::AnyPool,
    data_dir: &Path,
    master: &MasterKey,
    tokens: &TokenKey,
    root: RootToken,
    public_url: &str,
    public_url_record: Record,
) -> Result<(Option<PathBuf>, String), StartError> {
    use crate::settings::{self, MASTER_KEY_CHECK, PUBLIC_URL, ROOT_TOKEN_HASH};
    if let Some(path) = &master.write_to {
        write_private(path, master.key.as_bytes())
            .map_err(|e| StartError::Io(path.display().to_string(), e))?;
    }
    let (hash, file, fresh_file, held_from, legacy) = match root {
        RootToken::Held {
            hash,
            file,
            from,
            legacy,
        } => (hash, file, None, Some(from), legacy),
        RootToken::Recorded { hash, legacy } => {
            tracing::info!(
                data_dir = %data_dir.display(),
                "the root admin token is the one the first node on this database made; this \
                 node keeps no copy of it (use that node's admin.token, or give it with \
                 --admin-token)"
            );
            (hash, None, None, None, legacy)
        }
        RootToken::Fresh { token, file } => {
            write_private(&file, token.as_bytes())
                .map_err(|e| StartError::Io(file.display().to_string(), e))?;
            (
                tokens.stored(agentid_store::tokens::Account::Root, &[], &token),
                Some(file.clone()),
                Some(file),
                None,
                None,
            )
        }
    };
    if let Some(legacy) = legacy {
        // Only if the form is still the one read (another node may have converted it).
        if settings::replace_if(pool, ROOT_TOKEN_HASH, &legacy, &hash).await? {
            tracing::warn!("the root token's stored form converted to the keyed form");
        }
    }
    let mut values = vec![(ROOT_TOKEN_HASH, hash.as_str())];
    if public_url_record == Record::New {
        values.push((PUBLIC_URL, public_url));
    }
    if let Some(check) = &master.record_check {
        values.push((MASTER_KEY_CHECK, check.as_str()));
    }
    let recorded = settings::record(pool, &values).await?;
    if public_url_record == Record::Replace {
        settings::replace(pool, PUBLIC_URL, public_url).await?;
    }
    let recorded_hash = recorded[0].clone();
    if recorded_hash != hash {
        // Another node starting at the same time recorded its token first: its token is the
        // root's, and the one held here is refused, the one made here no token at all.
        if let Some(from) = held_from {
            return Err(StartError::AdminTokenMismatch(from));
        }
        if let Some(file) = fresh_file {
            let _ = std::fs::remove_file(&file);
        }
        return Ok((None, recorded_hash));
    }
    Ok((file, hash))
}

/// The connections' timeouts and cap, and the event streams' limits, from `config` and the
/// open-file limit (its soft limit raised to the hard one first); logged.
fn connection_limits(
    config: &ServeConfig,
) -> Result<(crate::conn::ConnLimits, crate::EventStreamLimits), StartError> {
    use crate::conn;
    let (header_timeout, body_timeout, idle_timeout) =
        config.timeouts().map_err(StartError::Config)?;
    if config.max_event_streams == 0 {
        return Err(StartError::Config(
            "--max-event-streams must be at least 1".into(),
        ));
    }
    let files = conn::raise_open_files();
    let max_connections =
        conn::connection_cap(config.max_connections, files.soft).map_err(StartError::Config)?;
    let streams = crate::EventStreamLimits {
        max: conn::event_stream_cap(config.max_event_streams, max_connections),
        keep_alive: conn::keep_alive_for(idle_timeout),
    };
    tracing::info!(
        open_files_found = ?files.found,
        open_files_hard = ?files.hard,
        open_files = ?files.soft,
        max_connections,
        max_event_streams = streams.max,
        "connection limits"
    );
    Ok((
        conn::ConnLimits {
            max_connections,
            header_timeout,
            body_timeout,
            idle_timeout,
        },
        streams,
    ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    crate::routes::events::close_all();
}
