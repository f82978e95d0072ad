//! # agentid-server
//!
//! The top of agentid: the HTTP surface over the registry (`agentid-registry`) and the wallet
//! (`agentid-wallet`), checkout verification (`agentid-sdk`) reading both in memory through
//! [`source::LocalSource`], configuration ([`config`]), the command line ([`cli`]) and the one
//! binary, `agentid`. Routes, extractors, limits and the one mapping of errors to statuses
//! ([`error`]) live here and nowhere below.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use agentid_server::config::ServeConfig;
//! let config = ServeConfig::new("127.0.0.1:0".parse()?, "./data".into());
//! let running = agentid_server::start::start(config).await?;
//! println!("listening on {}", running.addr);
//! running.run().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use agentid_registry::Registry;
use agentid_sdk::verify::Verifier;
use agentid_wallet::Wallet;
use axum::extract::{DefaultBodyLimit, Request};
use axum::Router;

pub mod changes;
pub mod cli;
pub mod config;
pub mod conn;
pub mod dns;
pub mod error;
pub mod keyfile;
pub mod nonces;
pub mod operators;
pub mod ratelimit;
mod routes;
pub mod settings;
pub mod source;
pub mod start;
pub mod store;
#[cfg(test)]
mod vectors;
pub mod witness;

/// The verifier behind `POST /v1/verify`: this process's registry and wallet, and the replay
/// memory in the database.
pub type SharedVerifier = Arc<Verifier<source::LocalSource, nonces::DbNonces>>;

/// What every route may use. Cloned for every request, so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
pub struct Shared {
    registry: Registry,
    wallet: Wallet,
    verifier: SharedVerifier,
    /// Who may moderate and administer.
    operators: operators::Operators,
    /// Requests received, for `/metrics`.
    requests: AtomicU64,
    /// Per-client limits on writes that create.
    write_limiter: ratelimit::WriteLimiter,
    /// Limits of `GET /v1/events`.
    event_streams: EventStreamLimits,
}

/// Limits of the event streams (`GET /v1/events`) one node serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventStreamLimits {
    /// Most streams at once; more are 429 `rate_limited`. Below the connection cap
    /// ([`conn::event_stream_cap`]).
    pub max: usize,
    /// How often an idle stream writes a comment line: shorter than the connection idle
    /// timeout ([`conn::keep_alive_for`]).
    pub keep_alive: std::time::Duration,
}

impl Default for EventStreamLimits {
    fn default() -> Self {
        Self {
            max: 1024,
            keep_alive: conn::MAX_KEEP_ALIVE,
        }
    }
}

impl AppState {
    /// The state of a service over `registry` and `wallet`, verifying with `verifier`,
    /// administered by `operators`, limiting each client's writes with `write_limiter` and its
    /// event streams with `event_streams`.
    pub fn new(
        registry: Registry,
        wallet: Wallet,
        verifier: SharedVerifier,
        operators: operators::Operators,
        write_limiter: ratelimit::WriteLimiter,
        event_streams: EventStreamLimits,
    ) -> Self {
        Self(Arc::new(Shared {
            registry,
            wallet,
            verifier,
            operators,
            requests: AtomicU64::new(0),
            write_limiter,
            event_streams,
        }))
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    // The writes that create something anyone may ask for are limited per client.
    let limited = || axum::middleware::from_fn_with_state(state.clone(), ratelimit::limit_writes);
    Router::new()
        .merge(routes::health::routes())
        .merge(routes::identifiers::routes())
        .merge(routes::agents::routes().route_layer(limited()))
        .merge(routes::zones::routes().route_layer(limited()))
        .merge(routes::admin::routes())
        .merge(routes::log::routes())
        .merge(routes::events::routes())
        .merge(routes::principals::routes().route_layer(limited()))
        .merge(routes::delegations::subdelegation_routes().route_layer(limited()))
        .merge(routes::delegations::routes().route_layer(limited()))
        .merge(routes::delegations::decision_routes())
        .merge(routes::status::routes())
        .merge(routes::spend::routes())
        .merge(routes::verify::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(error::MAX_BODY_BYTES))
        .layer(counter(state.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Counts every request received, before routing (no boxing: it runs on every request).
fn counter(state: AppState) -> tower::util::MapRequestLayer<impl Fn(Request) -> Request + Clone> {
    tower::util::MapRequestLayer::new(move |req: Request| {
        state.requests.fetch_add(1, Ordering::Relaxed);
        req
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentid_spec::clock::FixedClock;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{json, Value};
    use tower::ServiceExt as _;

    async fn call(
        app: &Router,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The app over a fresh SQLite database, with status lists of `bits` entries.
    async fn app(dir: &std::path::Path, bits: usize) -> Router {
        let db = store::open(&store::sqlite_url(dir)).await.unwrap();
        let clock: Arc<dyn agentid_spec::clock::Clock> = Arc::new(FixedClock::new(1_767_225_600));
        let mut config = agentid_wallet::WalletConfig::new("http://wallet.test");
        config.status_list_bits = bits;
        let wallet = Wallet::new(
            db.clone(),
            agentid_wallet::vault::Vault::new(&[4; 32]),
            agentid_store::TokenKey::new(&[4; 32]),
            config,
            clock.clone(),
        )
        .unwrap();
        wallet.open_identity().await.unwrap();
        let registry = Registry::new(
            db.clone(),
            clock.clone(),
            agentid_store::Sealer::new(&[4; 32], agentid_registry::SEAL_PURPOSE),
        );
        let remote =
            agentid_resolver::http::HttpSource::without_registry(std::time::Duration::from_secs(1))
                .unwrap();
        let source = source::LocalSource::new(
            registry.clone(),
            wallet.clone(),
            "http://wallet.test",
            remote,
        );
        let policy = agentid_sdk::verify::TrustPolicy::new()
            .trust_registry("http://wallet.test")
            .trust_wallet(wallet.did().clone());
        let nonces = nonces::DbNonces::open(db.clone(), nonces::DEFAULT_MAX_NONCES_PER_CLIENT)
            .await
            .unwrap();
        let verifier = Arc::new(Verifier::with_nonces(
            source,
            policy,
            clock.clone(),
            Default::default(),
            nonces,
        ));
        let operators = operators::Operators::new(
            db.pool().clone(),
            agentid_store::TokenKey::new(&[4; 32]).stored(
                agentid_store::tokens::Account::Root,
                &[],
                "admin.test",
            ),
            agentid_store::TokenKey::new(&[4; 32]),
            (registry.clone(), "did:web:wallet.test"),
            clock.clone(),
        );
        router(AppState::new(
            registry,
            wallet,
            verifier,
            operators,
            ratelimit::WriteLimiter::new(10, 60),
            EventStreamLimits::default(),
        ))
    }

    /// In-process router test: status bits are placed at random; once half a principal's list
    /// is used the next delegation opens a new list, and every list is served signed.
    #[tokio::test]
    async fn status_lists_roll_over_when_full() {
        let dir =
            std::env::temp_dir().join(format!("agentid-wallet-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let app = app(&dir, 4).await;
        let (st, p) = call(&app, "POST", "/v1/principals", None, json!({})).await;
        assert_eq!(st, StatusCode::CREATED);
        let token = p["token"].as_str().unwrap().to_owned();
        let agent = agentid_sdk::operation::create(
            &agentid_sdk::keys::KeyPair::from_seed(&[2; 32]),
            &agentid_sdk::keys::KeyPair::from_seed(&[2; 32]),
            None,
            0,
        )
        .did;
        let req = json!({
            "agent": agent,
            "spendingLimit": { "currency": "USD", "perTransaction": 100, "total": 100 },
            "validUntil": "2026-01-02T00:00:00Z",
        });
        let mut placed = Vec::new();
        for _ in 0..3 {
            let (st, d) = call(&app, "POST", "/v1/delegations", Some(&token), req.clone()).await;
            assert_eq!(st, StatusCode::CREATED, "{d}");
            placed.push((
                d["statusListCredential"].as_str().unwrap().to_owned(),
                d["statusListIndex"].as_u64().unwrap(),
            ));
        }
        assert_eq!(placed[0].0, placed[1].0);
        assert_ne!(placed[0].1, placed[1].1, "one bit per delegation");
        assert!(placed.iter().all(|(_, i)| *i < 4));
        assert_ne!(placed[2].0, placed[0].0, "a half-used list is not reused");
        for (url, _) in &placed {
            let path = url.strip_prefix("http://wallet.test").unwrap();
            let resp = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every error code the service can answer is in the spec's enum, and the admin routes
    /// refuse a wrong token with the common error shape.
    #[tokio::test]
    async fn error_bodies_carry_spec_codes() {
        let dir =
            std::env::temp_dir().join(format!("agentid-server-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let app = app(&dir, 8).await;
        let (st, b) = call(
            &app,
            "GET",
            "/v1/admin/log",
            Some("admin.wrong"),
            json!(null),
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_eq!(b["error"]["code"], "unauthorized");
        let (st, b) = call(
            &app,
            "GET",
            "/v1/admin/log",
            Some("admin.test"),
            json!(null),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let wire: Vec<&str> = agentid_spec::ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        for code in [
            "invalid_json",
            "body_too_large",
            "name_taken",
            "invalid_scope",
        ] {
            assert!(wire.contains(&code), "{code}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
