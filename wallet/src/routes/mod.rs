pub(crate) mod delegations;
pub(crate) mod principals;
pub(crate) mod status;

use axum::http::HeaderMap;

use crate::auth::{parse_bearer, token_matches};
use crate::error::ApiError;
use crate::Wallet;

/// An authenticated principal.
pub(crate) struct Principal {
    pub(crate) id: String,
    pub(crate) did: String,
    pub(crate) sealed_key: String,
}

impl Wallet {
    /// The principal whose bearer token is in `headers`.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let (id, token) = parse_bearer(header).ok_or(ApiError::Unauthorized)?;
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT did, token_hash, sealed_key FROM wallet_principals WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.store.pool)
        .await?;
        // Hash and compare even for unknown ids, so timing does not reveal which ids exist.
        let (did, stored, sealed_key) =
            row.unwrap_or_else(|| (String::new(), "-".repeat(43), String::new()));
        if !token_matches(token, &stored) || did.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        Ok(Principal {
            id: id.to_owned(),
            did,
            sealed_key,
        })
    }
}
