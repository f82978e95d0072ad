//! The routes, one group per module; each module's `routes()` is merged by [`crate::router`].

pub(crate) mod admin;
pub(crate) mod agents;
pub(crate) mod delegations;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod identifiers;
pub(crate) mod log;
pub(crate) mod principals;
pub(crate) mod spend;
pub(crate) mod status;
pub(crate) mod verify;
pub(crate) mod zones;

use agentid_wallet::auth::parse_bearer;
use agentid_wallet::Principal;
use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::operators::Operator;
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

    /// The operator whose bearer token is in `headers` (the root admin token, or a named
    /// operator's, compared in constant time): the actor recorded with what they do.
    pub(crate) async fn operator(&self, headers: &HeaderMap) -> Result<Operator, ApiError> {
        let token = authorization(headers)
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        let found = match token {
            Some(t) => self.operators.authenticate(t).await?,
            None => None,
        };
        found.ok_or_else(|| {
            tracing::warn!("admin request refused: missing or wrong operator token");
            ApiError::Unauthorized
        })
    }

    /// [`AppState::operator`], who must be the root operator (managing operators, the wallet's
    /// keys).
    pub(crate) async fn root_operator(&self, headers: &HeaderMap) -> Result<Operator, ApiError> {
        let op = self.operator(headers).await?;
        if !op.is_root() {
            tracing::warn!(operator = %op.name, "root operator action refused");
            return Err(ApiError::Forbidden(
                "only the root operator (the admin token) may do this".into(),
            ));
        }
        Ok(op)
    }
}
