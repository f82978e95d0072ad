//! Zones (spec section 5.6): `POST /v1/zones` applies a signed zone operation (claim, delegate,
//! bind a name, unbind it); `GET /v1/zones/{zone}` shows who owns a zone.

use agentid_spec::id::AgentName;
use agentid_spec::ErrorCode;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::error::{ApiError, Json, Path};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/zones", post(operate))
        .route("/v1/zones/{zone}", get(show))
}

/// Applies a zone operation; the same operation again (within its window) is a retry,
/// answered as the first time with `Idempotent-Replayed: true`.
async fn operate(
    State(s): State<AppState>,
    Json(body): Json<agentid_spec::api::ZoneSubmission>,
) -> Result<Response, ApiError> {
    // A binding's consent is checked on the agent's latest history among the trusted
    // registries, not on a stale copy here (spec section 5.6).
    if let Ok((agentid_spec::zone::ZoneOperation::BindName { did, .. }, _)) =
        agentid_spec::zone::open(&body.operation)
    {
        s.verifier.source().bring_up_to_date(&did).await;
    }
    let (answer, replayed) = s
        .registry
        .zone_operation(&body.operation, body.reason.as_deref())
        .await?;
    Ok(super::agents::answered(StatusCode::OK, replayed, answer))
}

async fn show(
    State(s): State<AppState>,
    Path(zone): Path<String>,
) -> Result<axum::Json<agentid_registry::Zone>, ApiError> {
    let zone = AgentName::parse(&zone)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidPath, e.to_string()))?;
    s.registry
        .zone(&zone)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::NotFound(format!("no zone {zone}")))
}
