//! The registry's transparency log, public (spec section 5.2, "The transparency log"):
//!
//! - `GET /v1/log/checkpoint`: the log's size and root now, signed by the service's key.
//! - `GET /v1/log/entries?after=&limit=`: public entries (the operator's reason by its hash).
//! - `GET /v1/log/proofs/inclusion?seq=&treeSize=`: an entry and its audit path.
//! - `GET /v1/log/proofs/consistency?first=&second=`: that one size's tree is a prefix of another's.
//!
//! Hashes are base64url without padding.

use agentid_registry::MAX_LOG_PAGE;
use agentid_spec::jose::b64u;
use agentid_spec::log::{Checkpoint, CHECKPOINT_TYP};
use agentid_spec::ErrorCode;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiError, Query};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/keys", get(keys))
        .route("/v1/log/entries", get(entries))
        .route("/v1/log/proofs/inclusion", get(inclusion))
        .route("/v1/log/proofs/consistency", get(consistency))
}

async fn checkpoint(State(s): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(signed_checkpoint(&s).await?))
}

/// Every key checkpoints were signed with, signed by the service's current key: a monitor
/// checks a checkpoint saved before a key change against it.
async fn keys(
    State(s): State<AppState>,
) -> Result<axum::Json<agentid_spec::api::SignedLogKeys>, ApiError> {
    let keys = s
        .wallet
        .key_history()
        .await?
        .into_iter()
        .map(
            |(id, public_key_multibase, retired_at)| agentid_spec::log::LogKey {
                id,
                public_key_multibase,
                retired_at,
            },
        )
        .collect();
    let statement = agentid_spec::log::LogKeys {
        iss: s.wallet.did().to_string(),
        keys,
        timestamp: s.registry.now(),
    };
    let payload = serde_json::to_vec(&statement).map_err(|e| ApiError::Internal(e.to_string()))?;
    let signed = s
        .wallet
        .sign_statement(agentid_spec::log::LOG_KEYS_TYP, &payload)?;
    Ok(axum::Json(agentid_spec::api::SignedLogKeys {
        keys: signed,
    }))
}

/// The log's size and root now, signed by the service's key.
pub(crate) async fn signed_checkpoint(s: &AppState) -> Result<Value, ApiError> {
    let (tree_size, root) = s.registry.log_head().await?;
    let statement = Checkpoint {
        iss: s.wallet.did().to_string(),
        tree_size,
        root_hash: b64u(&root),
        timestamp: s.registry.now(),
    };
    let payload = serde_json::to_vec(&statement).map_err(|e| ApiError::Internal(e.to_string()))?;
    let signed = s.wallet.sign_statement(CHECKPOINT_TYP, &payload)?;
    let answer = agentid_spec::api::SignedCheckpoint {
        checkpoint: signed,
        tree_size: statement.tree_size,
        root_hash: statement.root_hash,
        timestamp: agentid_spec::time::format_rfc3339(statement.timestamp),
    };
    serde_json::to_value(answer).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A page of the log: entries after `after`, at most `limit` (1 to [`MAX_LOG_PAGE`], 100 by
/// default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    limit: Option<i64>,
}

impl Page {
    /// `(after, limit)`, checked.
    pub(crate) fn checked(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=MAX_LOG_PAGE).contains(&limit) || self.after < 0 {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                format!("limit is 1..={MAX_LOG_PAGE}, after >= 0"),
            ));
        }
        Ok((self.after, limit))
    }
}

async fn entries(
    State(s): State<AppState>,
    Query(page): Query<Page>,
) -> Result<axum::Json<agentid_spec::api::LogPage>, ApiError> {
    let (after, limit) = page.checked()?;
    let entries: Vec<_> = s
        .registry
        .log_since(after, limit)
        .await?
        .iter()
        .map(|e| e.public())
        .collect();
    Ok(axum::Json(agentid_spec::api::LogPage { entries }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InclusionQuery {
    seq: u64,
    tree_size: u64,
}

async fn inclusion(
    State(s): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> Result<axum::Json<agentid_spec::api::InclusionProof>, ApiError> {
    let proof = s.registry.log_inclusion(q.seq, q.tree_size).await?;
    Ok(axum::Json(agentid_spec::api::InclusionProof {
        entry: proof.entry,
        leaf_index: q.seq - 1,
        tree_size: proof.tree_size,
        hashes: proof.hashes.iter().map(|h| b64u(h)).collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    first: u64,
    second: u64,
}

async fn consistency(
    State(s): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<axum::Json<agentid_spec::api::ConsistencyProof>, ApiError> {
    let hashes = s.registry.log_consistency(q.first, q.second).await?;
    Ok(axum::Json(agentid_spec::api::ConsistencyProof {
        first: q.first,
        second: q.second,
        hashes: hashes.iter().map(|h| b64u(h)).collect(),
    }))
}
