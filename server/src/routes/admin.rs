//! Operator actions, authenticated with the admin bearer token and recorded in the log with who
//! took them: `POST /v1/admin/agents/{did}/deplatform`, `GET /v1/admin/log`,
//! `POST /v1/admin/wallet/keys` (rotate the wallet's signing key),
//! `POST /v1/admin/wallet/keys/{fragment}/retire` (retire an older one).

use agentid_registry::{MAX_LOG_PAGE, MAX_REASON_BYTES};
use agentid_spec::ErrorCode;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, Json, Path, Query};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/agents/{did}/deplatform", post(deplatform))
        .route("/v1/admin/log", get(log))
        .route("/v1/admin/wallet/keys", post(rotate_wallet_key))
        .route(
            "/v1/admin/wallet/keys/{fragment}/retire",
            post(retire_wallet_key),
        )
}

/// Retires a wallet key (say, one suspected stolen), recorded with the operator who asked: it
/// leaves the wallet's DID document, and every authorization it signed stops verifying.
async fn retire_wallet_key(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(fragment): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = s.operator(&headers)?;
    s.wallet.retire_key(&fragment, actor).await?;
    Ok(axum::Json(json!({ "retired": fragment, "actor": actor })))
}

/// Adds a wallet signing key, recorded with the operator who asked; the wallet signs with it
/// from now on and keeps the older ones published.
async fn rotate_wallet_key(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = s.operator(&headers)?;
    let key = s.wallet.rotate_key(actor).await?;
    Ok(axum::Json(json!({ "key": key, "actor": actor })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeplatformRequest {
    reason: String,
}

async fn deplatform(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(did): Path<String>,
    Json(body): Json<DeplatformRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = s.operator(&headers)?;
    let did = super::agents::parse_did(&did)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidReason,
            format!("a reason of 1 to {MAX_REASON_BYTES} bytes is required"),
        ));
    }
    Ok(axum::Json(
        s.registry.deplatform(&did, reason, actor).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    limit: Option<i64>,
}

async fn log(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Result<axum::Json<Value>, ApiError> {
    s.operator(&headers)?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_LOG_PAGE).contains(&limit) || page.after < 0 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("limit is 1..={MAX_LOG_PAGE}, after >= 0"),
        ));
    }
    Ok(axum::Json(
        json!({ "entries": s.registry.log_since(page.after, limit).await? }),
    ))
}
