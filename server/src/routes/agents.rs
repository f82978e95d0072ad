//! `POST /v1/agents` (register with a signed genesis operation),
//! `POST /v1/agents/{did}/operations` (update, recover, deactivate), `GET
//! /v1/agents/{did}/operations` (the signed history a resolver replays), `GET
//! /v1/agents/{did}/log`.

use agentid_registry::Registered;
use agentid_spec::api::{AgentLog, AgentOperations, ServedOperation, SubmitOperation};
use agentid_spec::id::AgentDid;
use agentid_spec::ErrorCode;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::{ApiError, Json, Path};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", post(register))
        .route("/v1/agents/{did}/operations", post(operate).get(operations))
        .route("/v1/agents/{did}/log", get(log))
}

pub(crate) fn parse_did(s: &str) -> Result<AgentDid, ApiError> {
    AgentDid::parse(s).map_err(|e| ApiError::bad_request(ErrorCode::InvalidDid, e.to_string()))
}

/// A retry's answer: the first one's body, 200 and `Idempotent-Replayed: true`.
pub(crate) fn answered(first: StatusCode, replayed: bool, body: impl serde::Serialize) -> Response {
    let status = if replayed { StatusCode::OK } else { first };
    let mut response = (status, axum::Json(body)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Registers an agent; the same genesis again is a retry, answered as the first time.
async fn register(
    State(s): State<AppState>,
    Json(body): Json<SubmitOperation>,
) -> Result<Response, ApiError> {
    let registered: Registered = s.registry.register(&body.operation).await?;
    if !registered.replayed {
        // A new copy here is brought up to date with what the trusted registries hold.
        if let Ok(did) = AgentDid::parse(&registered.answer.did) {
            let verifier = s.verifier.clone();
            tokio::spawn(async move { verifier.source().repair_soon(did).await });
        }
    }
    Ok(answered(
        StatusCode::CREATED,
        registered.replayed,
        registered.answer,
    ))
}

/// Applies an operation; the same operation again is a retry, answered as the first time.
async fn operate(
    State(s): State<AppState>,
    Path(did): Path<String>,
    Json(body): Json<SubmitOperation>,
) -> Result<Response, ApiError> {
    let did = parse_did(&did)?;
    let (result, replayed) = s.registry.operate(&did, &body.operation).await?;
    if !replayed {
        // A copy here of what a recovery undid elsewhere takes that recovery now, in this
        // registry's window (spec section 8).
        let verifier = s.verifier.clone();
        tokio::spawn(async move { verifier.source().repair_soon(did).await });
    }
    Ok(answered(StatusCode::OK, replayed, result))
}

async fn log(
    State(s): State<AppState>,
    Path(did): Path<String>,
) -> Result<axum::Json<AgentLog>, ApiError> {
    let did = parse_did(&did)?;
    let entries = s.registry.agent_log(&did).await?;
    if entries.is_empty() {
        return Err(ApiError::NotFound(format!("{did} is not registered")));
    }
    Ok(axum::Json(AgentLog {
        did: did.to_string(),
        entries,
    }))
}

/// The agent's operations in the order received, undone ones included, with the time the
/// registry received each: what a resolver replays from the genesis (section 5.3).
async fn operations(
    State(s): State<AppState>,
    Path(did): Path<String>,
) -> Result<axum::Json<AgentOperations>, ApiError> {
    let did = parse_did(&did)?;
    let operations = s.registry.operations(&did).await?;
    if operations.is_empty() {
        return Err(ApiError::NotFound(format!("{did} is not registered")));
    }
    let operations = operations
        .into_iter()
        .map(|(seq, operation, at)| ServedOperation {
            seq,
            operation,
            received_at: agentid_spec::time::format_rfc3339(at),
        })
        .collect();
    Ok(axum::Json(AgentOperations {
        did: did.to_string(),
        operations,
    }))
}
