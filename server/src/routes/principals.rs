//! `POST /v1/principals`, `GET /v1/principals/me`.

use agentid_wallet::{NewPrincipal, Principal};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/principals", post(create))
        .route("/v1/principals/me", get(me))
}

/// Creates a principal with a fresh key; answers the DID and the bearer token, once.
async fn create(
    State(s): State<AppState>,
) -> Result<(StatusCode, axum::Json<NewPrincipal>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.wallet.create_principal().await?),
    ))
}

/// The authenticated principal.
async fn me(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Principal>, ApiError> {
    Ok(axum::Json(s.principal(&headers).await?))
}
