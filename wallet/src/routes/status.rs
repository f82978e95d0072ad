//! `GET /v1/status/{id}`: a principal's Bitstring Status List credential, as a `vc+jwt` signed
//! with the principal's key, re-signed after a revocation and at least hourly.

use std::sync::Arc;

use agentid_spec::credential::VC_CONTEXT_V2;
use agentid_spec::status_list::{Bitstring, BitstringStatusList, BitstringStatusListCredential};
use agentid_spec::time::format_rfc3339;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::error::{ApiError, Path};
use crate::Wallet;

/// A signed list is re-signed once this old, in seconds.
const RESIGN_AFTER: i64 = 3600;
/// A signed list is valid this long, in seconds.
const VALID_FOR: i64 = 24 * 3600;
/// Suggested verifier cache lifetime, in milliseconds.
const TTL_MS: u64 = 60_000;

pub(crate) async fn serve(
    State(w): State<Wallet>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::NotFound("no such status list".into()));
    }
    let jws = w.signed_status_list(&id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vc+jwt"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        jws.to_string(),
    ))
}

impl Wallet {
    /// The current signed status list credential `id`.
    pub async fn signed_status_list(&self, id: &str) -> Result<Arc<str>, ApiError> {
        let now = self.0.clock.now();
        if let Some((jws, at)) = self
            .0
            .signed_lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            if now - at < RESIGN_AFTER {
                return Ok(jws.clone());
            }
        }
        let row: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT l.size_bits, p.did, p.sealed_key FROM wallet_status_lists l \
             JOIN wallet_principals p ON p.id = l.principal_id WHERE l.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.store.pool)
        .await?;
        let (size, did, sealed) =
            row.ok_or_else(|| ApiError::NotFound("no such status list".into()))?;
        let revoked: Vec<(i64,)> = sqlx::query_as(
            "SELECT status_index FROM wallet_delegations WHERE status_list_id = $1 AND revoked_at IS NOT NULL",
        )
        .bind(id)
        .fetch_all(&self.0.store.pool)
        .await?;
        let mut bits = Bitstring::new(size as usize);
        for (index,) in revoked {
            bits.set(index as usize, true);
        }
        let url = self.status_list_url(id);
        let credential = BitstringStatusListCredential {
            context: vec![VC_CONTEXT_V2.to_owned()],
            id: url.clone(),
            type_: vec![
                "VerifiableCredential".to_owned(),
                "BitstringStatusListCredential".to_owned(),
            ],
            issuer: did.clone(),
            valid_from: format_rfc3339(now),
            valid_until: Some(format_rfc3339(now + VALID_FOR)),
            credential_subject: BitstringStatusList {
                id: format!("{url}#list"),
                type_: "BitstringStatusList".to_owned(),
                status_purpose: "revocation".to_owned(),
                encoded_list: bits.encode(),
                ttl: Some(TTL_MS),
            },
        };
        let key = self
            .0
            .vault
            .unseal(&sealed, &did)
            .map_err(|e| ApiError::Internal(format!("unseal principal key: {e}")))?;
        let payload =
            serde_json::to_vec(&credential).map_err(|e| ApiError::Internal(e.to_string()))?;
        let jws: Arc<str> = super::delegations::sign_vc_jwt(&key, &payload)?.into();
        self.0
            .signed_lists
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), (jws.clone(), now));
        Ok(jws)
    }
}
