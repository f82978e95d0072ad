//! # agentid-registry
//!
//! The directory service and the server half of the `agentid` command. It accepts signed
//! registry operations (`create`, `deactivate`), derives self-certifying `did:agentid`
//! identifiers from genesis operations, resolves DIDs and agent names at the DIF Universal
//! Resolver's `GET /1.0/identifiers/{id}`, lets an authenticated operator deplatform an agent with
//! a reason, and keeps a hash-chained log of every operation and decision.
//!
//! [`server`] composes the registry, the wallet (`agentid-wallet`) and a checkout verification
//! endpoint into one process over one database.
//!
//! Non-goals in v0.1: key rotation operations, namespace ownership, Merkle proofs of the log,
//! DNS-rooted names.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

use agentid_sdk::clock::Clock;
use agentid_wallet::events::Changes;
use agentid_wallet::store::{Embedded, Store};
use axum::routing::{get, post};
use axum::Router;

mod agents;
mod cache;
mod log;
mod routes;
pub mod server;

pub use agents::Registered;

/// The registry's migrations (versions 2000-2999).
pub const REGISTRY_MIGRATIONS: Embedded = Embedded(&[(
    2001,
    "registry",
    include_str!("../migrations/0001_registry.sql"),
)]);

/// The registry service. Cheap to clone.
#[derive(Clone)]
pub struct Registry(Arc<Inner>);

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    changes: Changes,
    /// SHA-256 (base64url) of the operator's admin token.
    admin_token_hash: String,
    /// Recent resolutions, by DID and by name.
    resolved: cache::ResolutionCache,
}

impl Registry {
    /// A registry over a migrated store. `admin_token_hash` is
    /// `agentid_wallet::auth::hash_token(admin token)`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        changes: Changes,
        admin_token_hash: String,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            clock,
            changes,
            admin_token_hash,
            resolved: cache::ResolutionCache::new(),
        }))
    }
}

/// The registry's routes.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/1.0/identifiers/{id}", get(routes::identifiers::resolve))
        .route("/v1/agents", post(routes::agents::register))
        .route("/v1/agents/{did}/operations", post(routes::agents::operate))
        .route("/v1/agents/{did}/log", get(routes::agents::log))
        .route(
            "/v1/admin/agents/{did}/deplatform",
            post(routes::admin::deplatform),
        )
        .route("/v1/admin/log", get(routes::admin::log))
        .with_state(registry)
}
