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
    // Only for a binding signed by the owner of the zone holding the name (anything else is
    // refused below without asking anyone); it fails closed.
    if let Ok((
        agentid_spec::zone::ZoneOperation::BindName {
            name, did, consent, ..
        },
        signer,
    )) = agentid_spec::zone::open(&body.operation)
    {
        // A consent that is no signed consent to this name, agent and owner is refused below
        // whatever the history: nobody is asked for it.
        let signed = agentid_spec::zone::consent_signer(&consent, &name, &did, &signer).is_some();
        if signed && owner_of_zone_holding(&s, &name).await? == Some(signer.to_string()) {
            s.verifier
                .source()
                .bring_up_to_date(&did)
                .await
                .map_err(|why| ApiError::conflict(ErrorCode::Conflict, why))?;
        }
    }
    let (answer, replayed) = s
        .registry
        .zone_operation(&body.operation, body.reason.as_deref())
        .await?;
    Ok(super::agents::answered(StatusCode::OK, replayed, answer))
}

/// The owner of the innermost claimed zone holding `name` (the name itself when it is a zone,
/// as the registry holds it), as the registry proves it.
async fn owner_of_zone_holding(s: &AppState, name: &AgentName) -> Result<Option<String>, ApiError> {
    for zone in agentid_spec::zone::enclosing(name).iter() {
        let Ok(zone) = AgentName::parse(zone) else {
            continue;
        };
        if let Some(z) = s.registry.zone(&zone).await? {
            return Ok(Some(z.owner));
        }
    }
    Ok(None)
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
