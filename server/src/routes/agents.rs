//! `POST /v1/agents` (register with a signed genesis operation),
//! `POST /v1/agents/{did}/operations`, `GET /v1/agents/{did}/log`.

use agentid_registry::Registered;
use agentid_spec::id::AgentDid;
use agentid_spec::ErrorCode;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, Json, Path};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", post(register))
        .route("/v1/agents/{did}/operations", post(operate))
        .route("/v1/agents/{did}/log", get(log))
}

/// A signed operation, as submitted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    operation: String,
}

pub(crate) fn parse_did(s: &str) -> Result<AgentDid, ApiError> {
    AgentDid::parse(s).map_err(|e| ApiError::bad_request(ErrorCode::InvalidDid, e.to_string()))
}

async fn register(
    State(s): State<AppState>,
    Json(body): Json<Submit>,
) -> Result<(StatusCode, axum::Json<Registered>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.registry.register(&body.operation).await?),
    ))
}

async fn operate(
    State(s): State<AppState>,
    Path(did): Path<String>,
    Json(body): Json<Submit>,
) -> Result<axum::Json<Value>, ApiError> {
    let did = parse_did(&did)?;
    Ok(axum::Json(s.registry.operate(&did, &body.operation).await?))
}

async fn log(
    State(s): State<AppState>,
    Path(did): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let did = parse_did(&did)?;
    let entries = s.registry.agent_log(&did).await?;
    if entries.is_empty() {
        return Err(ApiError::NotFound(format!("{did} is not registered")));
    }
    Ok(axum::Json(json!({ "did": did, "entries": entries })))
}
