//! `POST /v1/principals`, `GET /v1/principals/me`.

use agentid_sdk::keys::KeyPair;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::auth::new_token;
use crate::error::ApiError;
use crate::Wallet;

/// Creates a principal with a fresh key; answers the DID and the bearer token, once.
pub(crate) async fn create(
    State(w): State<Wallet>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let key = KeyPair::generate();
    let did = key.did_key();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (token, token_hash) = new_token(&id);
    let sealed = w.0.vault.seal(&key, did.as_str());
    sqlx::query(
        "INSERT INTO wallet_principals (id, did, token_hash, sealed_key, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(did.as_str())
    .bind(&token_hash)
    .bind(&sealed)
    .bind(w.0.clock.now())
    .execute(&w.0.store.pool)
    .await?;
    tracing::info!(principal = %id, did = %did, "principal created");
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "principalId": id,
            "did": did.as_str(),
            "token": token,
            "note": "the token is shown once; the wallet stores only its hash",
        })),
    ))
}

/// The authenticated principal.
pub(crate) async fn me(
    State(w): State<Wallet>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let p = w.authenticate(&headers).await?;
    Ok(axum::Json(json!({ "principalId": p.id, "did": p.did })))
}
