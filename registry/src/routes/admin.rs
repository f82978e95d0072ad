//! Operator actions, authenticated with the admin bearer token and recorded in the log:
//! `POST /v1/admin/agents/{did}/deplatform`, `GET /v1/admin/log`.

use agentid_spec::id::AgentDid;
use agentid_wallet::error::{ApiError, Json, Path, Query};
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::Registry;

/// Longest deplatforming reason, in bytes.
pub(crate) const MAX_REASON: usize = 1024;
/// Most log entries one call returns.
pub(crate) const MAX_PAGE: i64 = 1000;

fn require_admin(r: &Registry, headers: &HeaderMap) -> Result<(), ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(t) if r.is_admin(t) => Ok(()),
        _ => {
            tracing::warn!("admin request refused: missing or wrong admin token");
            Err(ApiError::Unauthorized)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeplatformRequest {
    reason: String,
}

pub(crate) async fn deplatform(
    State(r): State<Registry>,
    headers: HeaderMap,
    Path(did): Path<String>,
    Json(body): Json<DeplatformRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    require_admin(&r, &headers)?;
    let did =
        AgentDid::parse(&did).map_err(|e| ApiError::bad_request("invalid_did", e.to_string()))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON {
        return Err(ApiError::bad_request(
            "invalid_reason",
            format!("a reason of 1 to {MAX_REASON} bytes is required"),
        ));
    }
    Ok(axum::Json(r.deplatform(&did, reason, "admin").await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    limit: Option<i64>,
}

pub(crate) async fn log(
    State(r): State<Registry>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Result<axum::Json<Value>, ApiError> {
    require_admin(&r, &headers)?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) || page.after < 0 {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit is 1..={MAX_PAGE}, after >= 0"),
        ));
    }
    Ok(axum::Json(
        json!({ "entries": r.log_since(page.after, limit).await? }),
    ))
}
