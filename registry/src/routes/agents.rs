//! `POST /v1/agents` (register with a signed genesis operation),
//! `POST /v1/agents/{did}/operations`, `GET /v1/agents/{did}/log`.

use agentid_spec::id::AgentDid;
use agentid_wallet::error::{ApiError, Json, Path};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{Registered, Registry};

/// A signed operation, as submitted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Submit {
    operation: String,
}

fn parse_did(s: &str) -> Result<AgentDid, ApiError> {
    AgentDid::parse(s).map_err(|e| ApiError::bad_request("invalid_did", e.to_string()))
}

pub(crate) async fn register(
    State(r): State<Registry>,
    Json(body): Json<Submit>,
) -> Result<(StatusCode, axum::Json<Registered>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(r.register(&body.operation).await?),
    ))
}

pub(crate) async fn operate(
    State(r): State<Registry>,
    Path(did): Path<String>,
    Json(body): Json<Submit>,
) -> Result<axum::Json<Value>, ApiError> {
    let did = parse_did(&did)?;
    Ok(axum::Json(r.operate(&did, &body.operation).await?))
}

pub(crate) async fn log(
    State(r): State<Registry>,
    Path(did): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let did = parse_did(&did)?;
    let entries = r.agent_log(&did).await?;
    if entries.is_empty() {
        return Err(ApiError::NotFound(format!("{did} is not registered")));
    }
    Ok(axum::Json(json!({ "did": did, "entries": entries })))
}
