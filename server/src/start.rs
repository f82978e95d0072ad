//! Starting the service: storage, secrets, the registry, the wallet and the verifier, over one
//! database, behind one listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentid_registry::Registry;
use agentid_resolver::http::HttpSource;
use agentid_sdk::clock::{Clock, SystemClock};
use agentid_sdk::verify::{TrustPolicy, Verifier};
use agentid_spec::id::Did;
use agentid_wallet::vault::{Vault, VaultError};
use agentid_wallet::{Wallet, WalletConfig};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::config::ServeConfig;
use crate::source::LocalSource;
use crate::{store, AppState};

/// Why the service could not start.
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
    /// The master key.
    #[error("master key: {0}")]
    Vault(#[from] VaultError),
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

/// Longest hold a wallet grants: one day.
const MAX_HOLD_SECS: i64 = 24 * 3600;

/// A started service: its address and the future that runs it.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The URL clients reach it at.
    pub public_url: String,
    /// Path of the admin token file.
    pub admin_token_file: PathBuf,
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

/// The secret given in configuration, else the one in `path`, else a fresh one from `create`
/// written to `path` (mode 0600).
fn secret(
    given: Option<&str>,
    path: &Path,
    create: impl FnOnce() -> Zeroizing<String>,
) -> Result<Zeroizing<String>, StartError> {
    if let Some(s) = given {
        return Ok(Zeroizing::new(s.trim().to_owned()));
    }
    let io = |e| StartError::Io(path.display().to_string(), e);
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Zeroizing::new(text.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = create();
            write_private(path, fresh.as_bytes()).map_err(io)?;
            Ok(fresh)
        }
        Err(e) => Err(io(e)),
    }
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

/// Opens storage, applies migrations, binds the listener and builds the app.
pub async fn start(config: ServeConfig) -> Result<Running, StartError> {
    let (conn_limits, event_streams) = connection_limits(&config)?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::Io(config.data_dir.display().to_string(), e))?;
    // The data directory and the database in it are the service's user's alone.
    restrict(&config.data_dir, 0o700)?;
    let url = config
        .database_url
        .clone()
        .unwrap_or_else(|| store::sqlite_url(&config.data_dir));
    let pool = store::open(&url).await?;
    tokio::spawn(store::checkpoints(pool.clone()));
    if config.database_url.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let file = config.data_dir.join(format!("agentid.db{suffix}"));
            if file.exists() {
                restrict(&file, 0o600)?;
            }
        }
    }

    let master = secret(
        config.master_key.as_deref(),
        &config.data_dir.join("master.key"),
        Vault::generate_master_key,
    )?;
    let vault = Vault::from_b64u(&master)?;
    let admin_token_file = config.data_dir.join("admin.token");
    let admin_token = secret(config.admin_token.as_deref(), &admin_token_file, || {
        Zeroizing::new(agentid_wallet::auth::new_token("admin").0)
    })?;
    let admin_token_hash = agentid_wallet::auth::hash_token(&admin_token);

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

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut wallet_config = WalletConfig::new(&public_url);
    if !(1..=MAX_HOLD_SECS).contains(&config.hold_secs) {
        return Err(StartError::Config(format!(
            "--hold-secs must be 1 to {MAX_HOLD_SECS}"
        )));
    }
    wallet_config.hold_secs = config.hold_secs;
    if !(1..=MAX_HOLD_SECS).contains(&config.approval_secs) {
        return Err(StartError::Config(format!(
            "--approval-secs must be 1 to {MAX_HOLD_SECS}"
        )));
    }
    wallet_config.approval_secs = config.approval_secs;
    let wallet = Wallet::new(pool.clone(), vault, wallet_config, clock.clone())
        .map_err(|e| StartError::Config(format!("--public-url {public_url}: {e}")))?;
    wallet
        .open_identity()
        .await
        .map_err(|e| StartError::Config(format!("wallet identity: {e}")))?;
    wallet.start_ledger();
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
    let nonces = crate::nonces::DbNonces::open(pool.clone(), wallet.clone()).await?;
    let operators = crate::operators::Operators::new(pool.clone(), admin_token_hash, clock.clone());
    if !(0..=agentid_registry::cache::MAX_TTL_SECS).contains(&config.resolution_cache_secs) {
        return Err(StartError::Config(format!(
            "--resolution-cache-secs must be 0 to {}",
            agentid_registry::cache::MAX_TTL_SECS
        )));
    }
    let registry = Registry::new(pool, clock.clone())
        .with_name_grace(config.name_grace_secs)
        .with_resolution_cache_secs(config.resolution_cache_secs);
    if let Some(dns) =
        crate::dns::Dns::new(config.dns_server.as_deref()).map_err(StartError::Config)?
    {
        registry.set_dns(dns);
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
    let kept = crate::witness::path(&config.data_dir);
    crate::witness::check(&kept, &registry, &wallet, config.accept_restored_log).await?;
    crate::witness::keep(kept, registry.clone(), wallet.clone()).await?;
    if url.starts_with("postgres") {
        crate::changes::listen(&url, registry.clone(), wallet.clone()).await?;
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
    let mut source = LocalSource::new(registry.clone(), wallet.clone(), &public_url, remote);
    let own = agentid_resolver::http::origin(&public_url);
    for r in &config.trust_registries {
        if agentid_resolver::http::origin(r.trim_end_matches('/')) == own {
            continue;
        }
        let foreign = HttpSource::new(r, Duration::from_secs(5))
            .map_err(|e| StartError::Config(format!("--trust-registry {r}: {e}")))?;
        source = source.with_foreign_registry(foreign);
    }
    let verifier = Arc::new(Verifier::with_nonces(
        source,
        policy,
        clock,
        (&config.limits).into(),
        nonces,
    ));

    if config.write_rate == 0 || config.write_burst == 0 {
        return Err(StartError::Config(
            "--write-rate and --write-burst must be at least 1".into(),
        ));
    }
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
