//! One process: registry, wallet and checkout verification over one database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentid_resolver::http::HttpSource;
use agentid_sdk::clock::{Clock, SystemClock};
use agentid_sdk::verify::{Limits, Verifier};
use agentid_wallet::error::{self, MAX_BODY_BYTES};
use agentid_wallet::events::{self, Change};
use agentid_wallet::store::{self, Store};
use agentid_wallet::vault::{write_private, Vault};
use agentid_wallet::{Wallet, WalletConfig};
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;

use crate::routes::verify::SharedVerifier;
use crate::{Registry, REGISTRY_MIGRATIONS};

/// How to run the service.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory for the SQLite database, the master key and the admin token.
    pub data_dir: PathBuf,
    /// `postgres://...` to store in PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// Base URL clients use; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
    /// Origins besides its own that `/v1/verify` may fetch status lists from.
    pub allowed_status_origins: Vec<String>,
    /// Verification limits of the `/v1/verify` endpoint.
    pub limits: Limits,
}

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
    Vault(#[from] agentid_wallet::vault::VaultError),
    /// The verifier's HTTP client.
    #[error("verifier: {0}")]
    Verifier(String),
}

/// A started service: its address and the future that runs it.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The URL clients reach it at.
    pub public_url: String,
    /// Path of the admin token file.
    pub admin_token_file: PathBuf,
    server: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>,
}

impl Running {
    /// Serves until the process receives Ctrl-C or SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Reads the admin token from `AGENTID_ADMIN_TOKEN` or `<data-dir>/admin.token`, creating the
/// file (mode 0600) with a fresh token on first start. Returns the stored hash.
fn admin_token_hash(path: &std::path::Path) -> Result<String, StartError> {
    if let Ok(token) = std::env::var("AGENTID_ADMIN_TOKEN") {
        return Ok(agentid_wallet::auth::hash_token(token.trim()));
    }
    match std::fs::read_to_string(path) {
        Ok(token) => Ok(agentid_wallet::auth::hash_token(token.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (token, hash) = agentid_wallet::auth::new_token("admin");
            write_private(path, token.as_bytes())
                .map_err(|e| StartError::Io(path.display().to_string(), e))?;
            Ok(hash)
        }
        Err(e) => Err(StartError::Io(path.display().to_string(), e)),
    }
}

/// Opens storage, applies migrations, binds the listener and builds the app.
pub async fn start(config: Config) -> Result<Running, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::Io(config.data_dir.display().to_string(), e))?;
    let url = config
        .database_url
        .clone()
        .unwrap_or_else(|| store::sqlite_url(&config.data_dir));
    let store: Store = store::connect(&url).await?;
    store::migrate(&store, agentid_wallet::store::WALLET_MIGRATIONS).await?;
    store::migrate(&store, REGISTRY_MIGRATIONS).await?;

    let vault = match std::env::var("AGENTID_MASTER_KEY") {
        Ok(k) => Vault::from_b64u(k.trim())?,
        Err(_) => Vault::open_or_create(&config.data_dir.join("master.key"))?,
    };
    let admin_token_file = config.data_dir.join("admin.token");
    let admin_hash = admin_token_hash(&admin_token_file)?;

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
    let changes = events::channel();
    let wallet = Wallet::new(
        store.clone(),
        vault,
        WalletConfig::new(&public_url),
        clock.clone(),
        changes.clone(),
    );
    let registry = Registry::new(store, clock.clone(), changes.clone(), admin_hash);
    let mut source = HttpSource::new(&public_url, Duration::from_secs(5))
        .map_err(|e| StartError::Verifier(e.to_string()))?;
    for o in &config.allowed_status_origins {
        source = source.allow_status_origin(o);
    }
    let verifier: SharedVerifier = Arc::new(Verifier::new(source, clock, config.limits.clone()));
    spawn_invalidation(verifier.clone(), changes.subscribe());

    let app = app(wallet, registry, verifier);
    let server = Box::pin(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
    });
    Ok(Running {
        addr,
        public_url,
        admin_token_file,
        server,
    })
}

/// The whole HTTP surface.
pub fn app(wallet: Wallet, registry: Registry, verifier: SharedVerifier) -> Router {
    let verify = Router::new()
        .route("/v1/verify", post(crate::routes::verify::verify))
        .with_state(verifier);
    Router::new()
        .route("/health", axum::routing::get(health))
        .merge(crate::router(registry))
        .merge(agentid_wallet::router(wallet))
        .merge(verify)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// `GET /health`: liveness, and the version.
async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Drops cached answers the moment the registry or wallet announces a change.
fn spawn_invalidation(verifier: SharedVerifier, mut rx: tokio::sync::broadcast::Receiver<Change>) {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(Change::StatusList(url)) => verifier.invalidate_status_list(&url),
                Ok(Change::Did(did)) => verifier.invalidate_did(&did),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    verifier.invalidate_all()
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
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
}
