//! The spend ledger over HTTP (spec section 11):
//!
//! - `POST /v1/spend/authorizations`: the agent sends a spend request (a checkout presentation
//!   without an authorization); the verifier checks it, the wallet holds the amount and answers
//!   the signed authorization. `Idempotency-Key` makes retries safe.
//! - `POST /v1/spend/authorizations/{hold}/capture` and `.../release`: the merchant, with a
//!   signed settlement instruction, makes the spend final or gives the budget back.
//! - `GET /v1/delegations/{id}/budget` and `GET /v1/delegations/{id}/holds`: the principal sees
//!   what is left and where it went.
//! - `GET /v1/spend/authorizations/{hold}`: the agent polls a hold waiting for approval.
//! - `GET /v1/approvals`, `POST /v1/approvals/{hold}/approve`, `.../deny`: the principal
//!   decides purchases above the delegation's `approvalAbove` (step-up).
//! - `GET /.well-known/did.json` (and `/did.json`): the wallet's `did:web` document.

use agentid_spec::api::{Approvals, Holds, SettlementRequest, SpendAuthorizationRequest};
use agentid_spec::authorization::SettleAction;
use agentid_spec::ErrorCode;
use agentid_wallet::{Budget, Hold, HoldState};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::error::{ApiError, Json, Path};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/spend/authorizations", post(authorize))
        .route("/v1/spend/authorizations/{hold}", get(hold))
        .route("/v1/approvals", get(approvals))
        .route("/v1/approvals/{hold}/approve", post(approve))
        .route("/v1/approvals/{hold}/deny", post(deny))
        .route("/v1/spend/authorizations/{hold}/capture", post(capture))
        .route("/v1/spend/authorizations/{hold}/release", post(release))
        .route("/v1/delegations/{id}/budget", get(budget))
        .route("/v1/delegations/{id}/holds", get(holds))
        .route("/.well-known/did.json", get(did_document))
        .route("/did.json", get(did_document))
}

async fn authorize(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<SpendAuthorizationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "Idempotency-Key must be visible ASCII",
            )
        })?),
    };
    let request = s
        .verifier
        .check_spend_request(&req.presentation)
        .await
        .map_err(|reasons| ApiError::SpendRefused { reasons })?;
    let done = s.wallet.authorize(request, key).await?;
    // 202 while the purchase waits for the principal's approval (step-up).
    let status = if done.hold.state == HoldState::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    let mut response = (status, axum::Json(done.hold)).into_response();
    if done.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn settle(
    s: AppState,
    hold: String,
    req: SettlementRequest,
    action: SettleAction,
) -> Result<axum::Json<Hold>, ApiError> {
    let claims = s
        .verifier
        .check_settlement(&req.settlement, s.wallet.did().as_str())
        .await
        .map_err(|r| {
            ApiError::Forbidden(format!("settlement refused: {}: {}", r.code, r.message))
        })?;
    if claims.hold != hold || claims.action != action {
        return Err(ApiError::Forbidden(
            "the settlement is for another hold or action".into(),
        ));
    }
    Ok(axum::Json(
        s.wallet.settle(&hold, claims.iss.as_str(), action).await?,
    ))
}

async fn capture(
    State(s): State<AppState>,
    Path(hold): Path<String>,
    Json(req): Json<SettlementRequest>,
) -> Result<axum::Json<Hold>, ApiError> {
    settle(s, hold, req, SettleAction::Capture).await
}

async fn release(
    State(s): State<AppState>,
    Path(hold): Path<String>,
    Json(req): Json<SettlementRequest>,
) -> Result<axum::Json<Hold>, ApiError> {
    settle(s, hold, req, SettleAction::Release).await
}

async fn budget(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<Budget>, ApiError> {
    let p = s.principal(&headers).await?;
    Ok(axum::Json(s.wallet.budget(&p, &id).await?))
}

async fn holds(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<Holds>, ApiError> {
    let p = s.principal(&headers).await?;
    let holds = s.wallet.holds(&p, &id).await?;
    Ok(axum::Json(Holds { holds }))
}

/// The agent polls its hold: pending, held (with the authorization), or the principal's
/// decision as an error code (`approval_denied`, `approval_expired`). The hold id is the
/// capability: it is unguessable and known only to the agent and the merchant.
async fn hold(
    State(s): State<AppState>,
    Path(hold): Path<String>,
) -> Result<axum::Json<Hold>, ApiError> {
    Ok(axum::Json(s.wallet.hold(&hold).await?))
}

async fn approvals(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Approvals>, ApiError> {
    let p = s.principal(&headers).await?;
    let approvals = s.wallet.approvals(&p).await?;
    Ok(axum::Json(Approvals { approvals }))
}

async fn approve(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(hold): Path<String>,
) -> Result<axum::Json<Hold>, ApiError> {
    let p = s.principal(&headers).await?;
    Ok(axum::Json(s.wallet.decide(&p, &hold, true).await?))
}

async fn deny(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(hold): Path<String>,
) -> Result<axum::Json<Hold>, ApiError> {
    let p = s.principal(&headers).await?;
    Ok(axum::Json(s.wallet.decide(&p, &hold, false).await?))
}

async fn did_document(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let doc = s.wallet.did_document().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/did+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        axum::Json(doc),
    ))
}
