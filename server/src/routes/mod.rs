//! The routes, one group per module; each module's `routes()` is merged by [`crate::router`].

pub(crate) mod admin;
pub(crate) mod agents;
pub(crate) mod delegations;
pub(crate) mod health;
pub(crate) mod identifiers;
pub(crate) mod principals;
pub(crate) mod spend;
pub(crate) mod status;
pub(crate) mod verify;

use agentid_wallet::auth::{parse_bearer, token_matches};
use agentid_wallet::Principal;
use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::AppState;

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

impl AppState {
    /// The principal whose bearer token is in `headers`.
    pub(crate) async fn principal(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let (_, token) = parse_bearer(authorization(headers)).ok_or(ApiError::Unauthorized)?;
        Ok(self.wallet.authenticate(token).await?)
    }

    /// Checks the operator's bearer token (constant-time) and names the actor recorded with
    /// what they do.
    pub(crate) fn operator(&self, headers: &HeaderMap) -> Result<&'static str, ApiError> {
        let token = authorization(headers)
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            Some(t) if token_matches(t, &self.admin_token_hash) => Ok("admin"),
            _ => {
                tracing::warn!("admin request refused: missing or wrong admin token");
                Err(ApiError::Unauthorized)
            }
        }
    }
}
