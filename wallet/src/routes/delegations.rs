//! `POST /v1/delegations` (issue), `GET /v1/delegations` (list), `GET /v1/delegations/{id}`,
//! `POST /v1/delegations/{id}/revoke`.

use agentid_sdk::keys::KeyPair;
use agentid_spec::credential::{
    DelegationCredential, DelegationSubject, Scope, SpendingLimit, AGENTID_CONTEXT_V1,
    CREDENTIAL_CTY, CREDENTIAL_TYP, DELEGATION_TYPE, VC_CONTEXT_V2,
};
use agentid_spec::id::AgentDid;
use agentid_spec::status_list::BitstringStatusListEntry;
use agentid_spec::time::{format_rfc3339, parse_rfc3339};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ApiError, Json, Path};
use crate::events::Change;
use crate::Wallet;

/// What a principal asks for: an agent, a scope, a limit and a validity period.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DelegationRequest {
    /// The agent's `did:agentid`.
    pub agent: String,
    /// Where it may spend.
    #[serde(default)]
    pub scope: Scope,
    /// How much.
    pub spending_limit: SpendingLimit,
    /// RFC 3339 start; defaults to now.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// RFC 3339 end.
    pub valid_until: String,
}

/// What the wallet answers: the credential and where its status lives.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedDelegation {
    /// Credential id (`urn:uuid:...`).
    pub id: String,
    /// The `vc+jwt`.
    pub credential: String,
    /// The principal's DID.
    pub issuer: String,
    /// The agent's DID.
    pub agent: String,
    /// Status list credential URL.
    pub status_list_credential: String,
    /// Bit index in it.
    pub status_list_index: u64,
}

pub(crate) async fn issue(
    State(w): State<Wallet>,
    headers: HeaderMap,
    Json(req): Json<DelegationRequest>,
) -> Result<(StatusCode, axum::Json<IssuedDelegation>), ApiError> {
    let principal = w.authenticate(&headers).await?;
    let now = w.0.clock.now();
    let agent = AgentDid::parse(&req.agent)
        .map_err(|e| ApiError::bad_request("invalid_agent", e.to_string()))?;
    req.scope
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_scope", e))?;
    if req.spending_limit.per_transaction > req.spending_limit.total {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "perTransaction must not exceed total",
        ));
    }
    let valid_from = match &req.valid_from {
        Some(s) => parse_rfc3339(s)
            .ok_or_else(|| ApiError::bad_request("invalid_time", "validFrom is not RFC 3339"))?,
        None => now,
    };
    let valid_until = parse_rfc3339(&req.valid_until)
        .ok_or_else(|| ApiError::bad_request("invalid_time", "validUntil is not RFC 3339"))?;
    if valid_until <= valid_from || valid_until <= now {
        return Err(ApiError::bad_request(
            "invalid_time",
            "validUntil must be after validFrom and now",
        ));
    }
    if valid_until - valid_from > w.0.config.max_delegation_secs {
        return Err(ApiError::bad_request(
            "invalid_time",
            format!(
                "a delegation may last at most {} s",
                w.0.config.max_delegation_secs
            ),
        ));
    }
    let key =
        w.0.vault
            .unseal(&principal.sealed_key, &principal.did)
            .map_err(|e| ApiError::Internal(format!("unseal principal key: {e}")))?;

    // Allocate a status bit and store the credential in one transaction: either both exist or
    // neither does.
    let mut tx = w.0.store.pool.begin().await?;
    let (list_id, index) = allocate_index(&w, &mut tx, &principal.id, now).await?;
    let list_url = w.status_list_url(&list_id);
    let id = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let credential = DelegationCredential {
        context: vec![VC_CONTEXT_V2.to_owned(), AGENTID_CONTEXT_V1.to_owned()],
        id: id.clone(),
        type_: vec![
            "VerifiableCredential".to_owned(),
            DELEGATION_TYPE.to_owned(),
        ],
        issuer: principal.did.clone(),
        valid_from: format_rfc3339(valid_from),
        valid_until: format_rfc3339(valid_until),
        credential_subject: DelegationSubject {
            id: agent.to_string(),
            scope: req.scope,
            spending_limit: req.spending_limit,
        },
        credential_status: BitstringStatusListEntry {
            id: format!("{list_url}#{index}"),
            type_: "BitstringStatusListEntry".to_owned(),
            status_purpose: "revocation".to_owned(),
            status_list_index: index.to_string(),
            status_list_credential: list_url.clone(),
        },
    };
    let payload = serde_json::to_vec(&credential).map_err(|e| ApiError::Internal(e.to_string()))?;
    let jws = sign_vc_jwt(&key, &payload)?;
    sqlx::query(
        "INSERT INTO wallet_delegations (id, principal_id, agent_did, status_list_id, status_index, \
         credential, valid_from, valid_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&principal.id)
    .bind(agent.as_str())
    .bind(&list_id)
    .bind(index as i64)
    .bind(&jws)
    .bind(valid_from)
    .bind(valid_until)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(principal = %principal.id, credential = %id, agent = %agent, "delegation issued");
    Ok((
        StatusCode::CREATED,
        axum::Json(IssuedDelegation {
            id,
            credential: jws,
            issuer: principal.did,
            agent: agent.to_string(),
            status_list_credential: list_url,
            status_list_index: index,
        }),
    ))
}

/// Takes the next free bit of the principal's current list, opening a new list when full.
async fn allocate_index(
    w: &Wallet,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    principal: &str,
    now: i64,
) -> Result<(String, u64), ApiError> {
    let bits = w.0.config.status_list_bits as i64;
    // An atomic increment on the newest list with room; RETURNING works on SQLite and PostgreSQL.
    // The room check is repeated on the row being updated: a concurrent issuance may have taken
    // the last bit since the subquery looked.
    let taken: Option<(String, i64)> = sqlx::query_as(
        "UPDATE wallet_status_lists SET next_index = next_index + 1 \
         WHERE id = (SELECT id FROM wallet_status_lists WHERE principal_id = $1 AND next_index < size_bits \
                     ORDER BY created_at DESC, id LIMIT 1) \
         AND next_index < size_bits \
         RETURNING id, next_index - 1",
    )
    .bind(principal)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((id, index)) = taken {
        return Ok((id, index as u64));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query(
        "INSERT INTO wallet_status_lists (id, principal_id, size_bits, next_index, created_at) VALUES ($1, $2, $3, 1, $4)",
    )
    .bind(&id)
    .bind(principal)
    .bind(bits)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok((id, 0))
}

/// Signs a `vc+jwt` with the principal's key through josekit (OpenSSL's Ed25519).
pub(crate) fn sign_vc_jwt(key: &KeyPair, payload: &[u8]) -> Result<String, ApiError> {
    let internal = |e: josekit::JoseError| ApiError::Internal(format!("josekit: {e}"));
    let jwk_json = key.to_private_jwk();
    let jwk = josekit::jwk::Jwk::from_bytes(jwk_json.as_bytes()).map_err(internal)?;
    let signer = josekit::jws::EdDSA
        .signer_from_jwk(&jwk)
        .map_err(internal)?;
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type(CREDENTIAL_TYP);
    header.set_content_type(CREDENTIAL_CTY);
    header.set_key_id(key.did_key().key_id());
    josekit::jws::serialize_compact(payload, &header, &signer).map_err(internal)
}

/// Most delegations one list call returns.
pub(crate) const MAX_LIST: i64 = 1000;

type Row = (
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    String,
);

fn row_json(w: &Wallet, r: Row) -> Value {
    let (id, agent, valid_from, valid_until, index, revoked_at, reason, list) = r;
    json!({
        "id": id,
        "agent": agent,
        "validFrom": format_rfc3339(valid_from),
        "validUntil": format_rfc3339(valid_until),
        "statusListCredential": w.status_list_url(&list),
        "statusListIndex": index,
        "revoked": revoked_at.is_some(),
        "revokedAt": revoked_at.map(format_rfc3339),
        "revocationReason": reason,
    })
}

const SELECT: &str = "SELECT id, agent_did, valid_from, valid_until, status_index, revoked_at, \
                      revocation_reason, status_list_id FROM wallet_delegations";

pub(crate) async fn list(
    State(w): State<Wallet>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let p = w.authenticate(&headers).await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE principal_id = $1 ORDER BY created_at DESC, id LIMIT $2"
    ))
    .bind(&p.id)
    .bind(MAX_LIST)
    .fetch_all(&w.0.store.pool)
    .await?;
    let items: Vec<Value> = rows.into_iter().map(|r| row_json(&w, r)).collect();
    Ok(axum::Json(json!({ "delegations": items })))
}

/// The principal's delegation `id`; another principal's is as absent as a missing one.
async fn find(w: &Wallet, id: &str, principal: &str) -> Result<Row, ApiError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND principal_id = $2"))
        .bind(id)
        .bind(principal)
        .fetch_optional(&w.0.store.pool)
        .await?;
    row.ok_or_else(|| ApiError::NotFound("no such delegation".into()))
}

pub(crate) async fn show(
    State(w): State<Wallet>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let p = w.authenticate(&headers).await?;
    let row = find(&w, &id, &p.id).await?;
    Ok(axum::Json(row_json(&w, row)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    #[serde(default)]
    reason: Option<String>,
}

/// Longest revocation reason kept, in bytes.
const MAX_REASON: usize = 1024;

pub(crate) async fn revoke(
    State(w): State<Wallet>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    // The body is optional, so it is read as bytes; its rejections still get the common shape.
    let body = body.map_err(|_| ApiError::TooLarge(crate::error::MAX_BODY_BYTES))?;
    let p = w.authenticate(&headers).await?;
    let req: RevokeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeRequest { reason: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    if req.reason.as_ref().is_some_and(|r| r.len() > MAX_REASON) {
        return Err(ApiError::bad_request(
            "invalid_reason",
            format!("reason over {MAX_REASON} bytes"),
        ));
    }
    let now = w.0.clock.now();
    // Only the first revocation sets the time and reason; revoking again is idempotent.
    sqlx::query(
        "UPDATE wallet_delegations SET revoked_at = $1, revocation_reason = $2 \
         WHERE id = $3 AND principal_id = $4 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(req.reason.as_deref())
    .bind(&id)
    .bind(&p.id)
    .execute(&w.0.store.pool)
    .await?;
    let row = find(&w, &id, &p.id).await?;
    let list_id = row.7.clone();
    w.0.signed_lists
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&list_id);
    let _ =
        w.0.changes
            .send(Change::StatusList(w.status_list_url(&list_id)));
    tracing::info!(principal = %p.id, credential = %id, "delegation revoked");
    Ok(axum::Json(row_json(&w, row)))
}
