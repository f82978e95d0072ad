//! Operator actions, authenticated with an operator's bearer token and recorded with who took
//! them: `POST /v1/admin/agents/{did}/deplatform`, `.../suspend`, `.../reinstate`,
//! `GET /v1/admin/log`, `GET
//! /v1/admin/operators`; and the root operator's (the admin token): `POST /v1/admin/operators`
//! (a named operator, its token shown once), `POST /v1/admin/operators/{name}/revoke`,
//! `POST /v1/admin/wallet/keys` (rotate the wallet's signing key),
//! `POST /v1/admin/wallet/keys/{fragment}/retire` (retire an older one).

use agentid_registry::MAX_REASON_BYTES;
use agentid_spec::api::{
    AgentSuspension, CreatedOperator, ModerationReason, NewOperator, Operators, RevokedOperator,
};
use agentid_spec::ErrorCode;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::error::{ApiError, Json, Path, Query};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/agents/{did}/deplatform", post(deplatform))
        .route("/v1/admin/agents/{did}/suspend", post(suspend))
        .route("/v1/admin/agents/{did}/reinstate", post(reinstate))
        .route("/v1/admin/log", get(log))
        .route(
            "/v1/admin/operators",
            post(create_operator).get(list_operators),
        )
        .route("/v1/admin/operators/{name}/revoke", post(revoke_operator))
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
    let actor = s.root_operator(&headers).await?.name;
    // Recorded in the log first: once there, no change to the wallet's rows revives the key
    // (spec 5.3, "Service decisions").
    let public_key = s.wallet.key_to_retire(&fragment).await?;
    if s.registry.key_retired(&public_key).is_none() {
        s.registry
            .record_decision(
                s.wallet.did().as_str(),
                agentid_registry::Decision::RetireKey {
                    key: &fragment,
                    public_key: &public_key,
                },
                &actor,
            )
            .await?;
    }
    s.wallet.retire_key(&fragment, &actor).await?;
    Ok(axum::Json(json!({ "retired": fragment, "actor": actor })))
}

/// Adds a wallet signing key, recorded with the operator who asked; the wallet signs with it
/// from now on and keeps the older ones published.
async fn rotate_wallet_key(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = s.root_operator(&headers).await?.name;
    let key = s.wallet.rotate_key(&actor).await?;
    Ok(axum::Json(json!({ "key": key, "actor": actor })))
}

/// The root operator creates a named operator (a moderator): its token, shown once.
async fn create_operator(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewOperator>,
) -> Result<(StatusCode, axum::Json<CreatedOperator>), ApiError> {
    let by = s.root_operator(&headers).await?;
    let token = s.operators.create(&body.name, &by).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedOperator {
            name: body.name,
            token,
            created_by: by.name,
        }),
    ))
}

/// Every operator account (never a token).
async fn list_operators(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Operators>, ApiError> {
    s.operator(&headers).await?;
    Ok(axum::Json(Operators {
        operators: s.operators.list().await?,
    }))
}

/// The root operator revokes a named operator: its token stops working at once.
async fn revoke_operator(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<axum::Json<RevokedOperator>, ApiError> {
    let by = s.root_operator(&headers).await?;
    s.operators.revoke(&name, &by).await?;
    Ok(axum::Json(RevokedOperator {
        revoked: name,
        revoked_by: by.name,
    }))
}

/// A moderator's reason: 1 to [`MAX_REASON_BYTES`] bytes once trimmed.
fn moderation_reason(reason: &str) -> Result<&str, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON_BYTES || reason.contains('\0') {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidReason,
            format!("a reason of 1 to {MAX_REASON_BYTES} bytes is required"),
        ));
    }
    Ok(reason)
}

/// Suspends an agent until a time, recorded with the operator who decided (spec 5.4).
async fn suspend(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(did): Path<String>,
    Json(body): Json<AgentSuspension>,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = s.operator(&headers).await?.name;
    let did = super::agents::parse_did(&did)?;
    let reason = moderation_reason(&body.reason)?;
    // The evidence itself stays with the operator; the decision carries its SHA-256.
    if let Some(h) = &body.evidence_hash {
        if agentid_spec::jose::b64u_decode(h).is_none_or(|b| b.len() != 32) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "evidenceHash is the base64url SHA-256 (32 bytes) of the evidence",
            ));
        }
    }
    let decision = agentid_registry::Suspend {
        reason_code: &body.reason_code,
        reason,
        evidence_hash: body.evidence_hash.as_deref(),
        secs: body.duration_secs,
    };
    Ok(axum::Json(
        s.registry.suspend(&did, &decision, &actor).await?,
    ))
}

/// Reinstates a suspended or deplatformed agent, recorded with the operator who decided.
async fn reinstate(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(did): Path<String>,
    Json(body): Json<ModerationReason>,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = s.operator(&headers).await?.name;
    let did = super::agents::parse_did(&did)?;
    let reason = moderation_reason(&body.reason)?;
    Ok(axum::Json(
        s.registry.reinstate(&did, reason, &actor).await?,
    ))
}

async fn deplatform(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(did): Path<String>,
    Json(body): Json<ModerationReason>,
) -> Result<axum::Json<Value>, ApiError> {
    let actor = s.operator(&headers).await?.name;
    let did = super::agents::parse_did(&did)?;
    let reason = moderation_reason(&body.reason)?;
    Ok(axum::Json(
        s.registry.deplatform(&did, reason, &actor).await?,
    ))
}

async fn log(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<super::log::Page>,
) -> Result<axum::Json<Value>, ApiError> {
    s.operator(&headers).await?;
    let (after, limit) = page.checked()?;
    Ok(axum::Json(
        json!({ "entries": s.registry.log_since(after, limit).await? }),
    ))
}
