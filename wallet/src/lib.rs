//! # agentid-wallet
//!
//! The credential wallet. A principal (a person) gets an account with an Ed25519 key and a
//! `did:key`; the key is sealed at rest under a master key kept outside the database. The
//! principal authenticates with a bearer token shown once. With it they issue delegation
//! credentials (VC 2.0 as `vc+jwt`, signed with josekit) to their agents, list them and revoke
//! them. Each principal's credentials point into a W3C Bitstring Status List that the wallet
//! serves, signed by the principal's key, at `GET /v1/status/{id}`.
//!
//! This crate also holds what agentid's services share: the HTTP error type ([`error`]), the
//! storage layer ([`store`]) and in-process change notifications ([`events`]).
//!
//! Non-goals in v0.1: the spend ledger (cumulative limits), approval prompts, sub-delegation.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use agentid_sdk::clock::Clock;
use axum::routing::{get, post};
use axum::Router;

pub mod auth;
pub mod error;
pub mod events;
pub mod keyfile;
mod routes;
pub mod store;
pub mod vault;

pub use routes::delegations::{DelegationRequest, IssuedDelegation};

/// Wallet settings.
#[derive(Clone, Debug)]
pub struct WalletConfig {
    /// The base URL clients reach this service at; status list URLs are built from it.
    pub public_url: String,
    /// Entries per status list. At least the specification's 131,072.
    pub status_list_bits: usize,
    /// Longest validity period a delegation may have, in seconds. Default 366 days.
    pub max_delegation_secs: i64,
}

impl WalletConfig {
    /// Defaults for a service reachable at `public_url`.
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            status_list_bits: agentid_spec::status_list::MIN_BITS,
            max_delegation_secs: 366 * 24 * 3600,
        }
    }
}

/// The wallet service. Cheap to clone.
#[derive(Clone)]
pub struct Wallet(Arc<Inner>);

struct Inner {
    store: store::Store,
    vault: vault::Vault,
    config: WalletConfig,
    clock: Arc<dyn Clock>,
    changes: events::Changes,
    /// list id -> (signed status list credential, signed at).
    signed_lists: RwLock<HashMap<String, (Arc<str>, i64)>>,
}

impl Wallet {
    /// A wallet over a migrated store.
    pub fn new(
        store: store::Store,
        vault: vault::Vault,
        config: WalletConfig,
        clock: Arc<dyn Clock>,
        changes: events::Changes,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            vault,
            config,
            clock,
            changes,
            signed_lists: RwLock::new(HashMap::new()),
        }))
    }

    /// The URL of status list `id`.
    pub fn status_list_url(&self, id: &str) -> String {
        format!("{}/v1/status/{id}", self.0.config.public_url)
    }
}

/// The wallet's routes: `/v1/principals`, `/v1/delegations`, `/v1/status`.
pub fn router(wallet: Wallet) -> Router {
    Router::new()
        .route("/v1/principals", post(routes::principals::create))
        .route("/v1/principals/me", get(routes::principals::me))
        .route(
            "/v1/delegations",
            post(routes::delegations::issue).get(routes::delegations::list),
        )
        .route("/v1/delegations/{id}", get(routes::delegations::show))
        .route(
            "/v1/delegations/{id}/revoke",
            post(routes::delegations::revoke),
        )
        .route("/v1/status/{id}", get(routes::status::serve))
        .with_state(wallet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentid_sdk::clock::FixedClock;
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

    /// In-process router test: when a principal's status list is full, the next delegation
    /// opens a new list at index 0, and every list is served signed.
    #[tokio::test]
    async fn status_lists_roll_over_when_full() {
        let dir =
            std::env::temp_dir().join(format!("agentid-wallet-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = store::connect(&store::sqlite_url(&dir)).await.unwrap();
        store::migrate(&store, store::WALLET_MIGRATIONS)
            .await
            .unwrap();
        let mut config = WalletConfig::new("http://wallet.test");
        config.status_list_bits = 2;
        let wallet = Wallet::new(
            store,
            vault::Vault::new(&[4; 32]),
            config,
            Arc::new(FixedClock::new(1_767_225_600)),
            events::channel(),
        );
        let app = router(wallet);
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
        assert_eq!((placed[0].1, placed[1].1), (0, 1));
        assert_ne!(placed[2].0, placed[0].0, "a full list is not reused");
        assert_eq!(placed[2].1, 0);
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
}
