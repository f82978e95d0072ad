//! Registering, changing and resolving agents (spec section 5).

use agentid_spec::document::{
    AgentStatus, Deplatforming, DidDocument, DocumentMetadata, ResolutionMetadata,
    ResolutionResult, VerificationMethod, DID_CONTEXT, DID_LD_JSON, MULTIKEY_CONTEXT,
    RESOLUTION_CONTEXT,
};
use agentid_spec::id::{hash_b32, split_did_url, AgentDid, AgentName, DidKey};
use agentid_spec::jose::CompactJws;
use agentid_spec::operation::{Operation, MAX_OPERATION_LEN, OPERATION_TYP};
use agentid_spec::time::format_rfc3339;
use agentid_wallet::error::ApiError;
use agentid_wallet::events::Change;
use std::sync::Arc;

use serde::Serialize;

use crate::log::{self, Entry};
use crate::Registry;

/// The result of a successful `create`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The new DID.
    pub did: String,
    /// The claimed name, if any.
    pub name: Option<String>,
    /// The DID document.
    pub document: DidDocument,
    /// Sequence number of the log entry.
    pub log_seq: i64,
}

/// A parsed operation whose signature verified under `signer`.
struct Signed {
    op: Operation,
    signer: DidKey,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_operation", msg)
}

/// Steps common to every operation: strict JWS parse, payload, rules, and a signature by the
/// key named in `kid`, which must be one of `allowed` (or, for a genesis, of its own rotation
/// keys).
fn open(jws: &str, allowed: Option<&[DidKey]>) -> Result<Signed, ApiError> {
    let token = CompactJws::parse(jws, MAX_OPERATION_LEN, OPERATION_TYP)
        .map_err(|e| invalid(e.to_string()))?;
    let op: Operation =
        serde_json::from_slice(&token.payload).map_err(|e| invalid(format!("payload: {e}")))?;
    op.validate().map_err(|e| invalid(e.to_string()))?;
    let kid = token
        .header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("operation has no kid"))?;
    let (signer_did, _) = split_did_url(kid).ok_or_else(|| invalid("kid is not a DID URL"))?;
    let signer = DidKey::parse(signer_did).map_err(|_| invalid("kid is not a did:key"))?;
    if kid != signer.key_id() {
        return Err(invalid("kid is not the did:key's verification method"));
    }
    let rotation_keys: &[DidKey] = match (&op, allowed) {
        (_, Some(keys)) => keys,
        (Operation::Create { rotation_keys, .. }, None) => rotation_keys,
        (_, None) => return Err(invalid("only a create operation may start an agent")),
    };
    if !rotation_keys.contains(&signer) {
        return Err(ApiError::Forbidden(
            "operation is not signed by a rotation key".into(),
        ));
    }
    let key = signer
        .verifying_key()
        .map_err(|_| invalid("signer key is invalid"))?;
    if !token.verify(&key) {
        return Err(ApiError::bad_request(
            "bad_signature",
            "operation signature does not verify",
        ));
    }
    Ok(Signed { op, signer })
}

/// The DID document a `create` operation defines.
fn document(
    did: &AgentDid,
    name: Option<&AgentName>,
    methods: &std::collections::BTreeMap<String, String>,
) -> DidDocument {
    let vms: Vec<VerificationMethod> = methods
        .iter()
        .map(|(fragment, mb)| VerificationMethod {
            id: format!("{did}#{fragment}"),
            type_: "Multikey".to_owned(),
            controller: did.to_string(),
            public_key_multibase: mb.clone(),
        })
        .collect();
    let ids: Vec<String> = vms.iter().map(|vm| vm.id.clone()).collect();
    DidDocument {
        context: vec![DID_CONTEXT.to_owned(), MULTIKEY_CONTEXT.to_owned()],
        id: did.to_string(),
        also_known_as: name.map(|n| vec![n.to_uri()]).unwrap_or_default(),
        verification_method: vms,
        authentication: ids.clone(),
        assertion_method: ids,
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

impl Registry {
    /// Accepts a signed genesis operation.
    pub async fn register(&self, jws: &str) -> Result<Registered, ApiError> {
        let Signed { op, signer } = open(jws, None)?;
        let Operation::Create {
            verification_methods,
            rotation_keys,
            name,
            ..
        } = op
        else {
            return Err(invalid("expected a create operation"));
        };
        let did = AgentDid::from_genesis(jws);
        let doc = document(&did, name.as_ref(), &verification_methods);
        let now = self.0.clock.now();
        let doc_json =
            serde_json::to_string(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
        let keys_json =
            serde_json::to_string(&rotation_keys).map_err(|e| ApiError::Internal(e.to_string()))?;

        let mut tx = self.0.store.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO registry_agents (did, name, document, rotation_keys, status, head, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $6)",
        )
        .bind(did.as_str())
        .bind(name.as_ref().map(AgentName::as_str))
        .bind(&doc_json)
        .bind(&keys_json)
        .bind(did.id())
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            if is_unique_violation(&e) {
                drop(tx);
                return Err(self.conflict(&did, name.as_ref()).await);
            }
            return Err(e.into());
        }
        let (seq, _) = log::append(
            &mut tx,
            self.0.store.backend,
            Entry {
                did: did.as_str(),
                kind: "create",
                operation: jws,
                actor: signer.as_str(),
                reason: None,
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(%did, name = ?name.as_ref().map(AgentName::as_str), "agent registered");
        Ok(Registered {
            did: did.to_string(),
            name: name.map(String::from),
            document: doc,
            log_seq: seq,
        })
    }

    async fn conflict(&self, did: &AgentDid, name: Option<&AgentName>) -> ApiError {
        let exists: Result<Option<(String,)>, _> =
            sqlx::query_as("SELECT did FROM registry_agents WHERE did = $1")
                .bind(did.as_str())
                .fetch_optional(&self.0.store.pool)
                .await;
        match (exists, name) {
            (Ok(Some(_)), _) => {
                ApiError::conflict("already_registered", format!("{did} is already registered"))
            }
            (Ok(None), Some(n)) => {
                ApiError::conflict("name_taken", format!("the name {n} is taken"))
            }
            (Ok(None), None) => ApiError::conflict("conflict", "conflicting registration"),
            (Err(e), _) => e.into(),
        }
    }

    /// Applies a signed operation to an existing agent (v0.1: `deactivate`).
    pub async fn operate(&self, did: &AgentDid, jws: &str) -> Result<serde_json::Value, ApiError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT rotation_keys, status, head FROM registry_agents WHERE did = $1",
        )
        .bind(did.as_str())
        .fetch_optional(&self.0.store.pool)
        .await?;
        let (keys_json, status, head) =
            row.ok_or_else(|| ApiError::NotFound(format!("{did} is not registered")))?;
        let rotation_keys: Vec<DidKey> = serde_json::from_str(&keys_json)
            .map_err(|e| ApiError::Internal(format!("stored keys: {e}")))?;
        let Signed { op, signer } = open(jws, Some(&rotation_keys))?;
        let Operation::Deactivate {
            did: target, prev, ..
        } = op
        else {
            return Err(invalid("v0.1 accepts only deactivate on an existing agent"));
        };
        if target != *did {
            return Err(invalid("operation names another DID"));
        }
        match AgentStatus::parse(&status) {
            Some(AgentStatus::Active) => {}
            Some(AgentStatus::Deactivated) => {
                return Err(ApiError::Gone(format!("{did} is deactivated")))
            }
            _ => {
                return Err(ApiError::conflict(
                    "agent_deplatformed",
                    format!("{did} is deplatformed"),
                ))
            }
        }
        if prev != head {
            return Err(ApiError::conflict(
                "stale_prev",
                "prev is not the hash of the agent's latest operation",
            ));
        }
        let now = self.0.clock.now();
        let new_head = hash_b32(jws.as_bytes());
        let mut tx = self.0.store.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE registry_agents SET status = 'deactivated', status_changed_at = $1, head = $2, updated_at = $1 \
             WHERE did = $3 AND head = $4 AND status = 'active'",
        )
        .bind(now)
        .bind(&new_head)
        .bind(did.as_str())
        .bind(&head)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            return Err(ApiError::conflict(
                "stale_prev",
                "the agent changed concurrently; retry",
            ));
        }
        let (seq, _) = log::append(
            &mut tx,
            self.0.store.backend,
            Entry {
                did: did.as_str(),
                kind: "deactivate",
                operation: jws,
                actor: signer.as_str(),
                reason: None,
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed(did);
        tracing::info!(%did, "agent deactivated");
        Ok(
            serde_json::json!({ "did": did, "status": "deactivated", "head": new_head, "logSeq": seq }),
        )
    }

    /// Deplatforms an agent: an operator decision, with a reason, recorded in the log.
    pub async fn deplatform(
        &self,
        did: &AgentDid,
        reason: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let now = self.0.clock.now();
        let mut tx = self.0.store.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE registry_agents SET status = 'deplatformed', status_reason = $1, status_changed_at = $2, updated_at = $2 \
             WHERE did = $3 AND status <> 'deplatformed'",
        )
        .bind(reason)
        .bind(now)
        .bind(did.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            drop(tx);
            let status: Option<(String,)> =
                sqlx::query_as("SELECT status FROM registry_agents WHERE did = $1")
                    .bind(did.as_str())
                    .fetch_optional(&self.0.store.pool)
                    .await?;
            return Err(match status {
                None => ApiError::NotFound(format!("{did} is not registered")),
                Some(_) => ApiError::conflict(
                    "already_deplatformed",
                    format!("{did} is already deplatformed"),
                ),
            });
        }
        let decision =
            serde_json::json!({ "type": "deplatform", "did": did, "reason": reason }).to_string();
        let (seq, entry_hash) = log::append(
            &mut tx,
            self.0.store.backend,
            Entry {
                did: did.as_str(),
                kind: "deplatform",
                operation: &decision,
                actor,
                reason: Some(reason),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed(did);
        tracing::warn!(%did, actor, "agent deplatformed");
        Ok(serde_json::json!({
            "did": did, "status": "deplatformed", "reason": reason,
            "at": format_rfc3339(now), "logSeq": seq, "entryHash": entry_hash,
        }))
    }

    /// Looks up an agent by DID or name and builds its resolution result. `None` if unknown.
    pub async fn lookup(&self, key: Lookup<'_>) -> Result<Option<Arc<ResolutionResult>>, ApiError> {
        let cache_key = match key {
            Lookup::Did(did) => did.as_str(),
            Lookup::Name(name) => name.as_str(),
        };
        let now = self.0.clock.now();
        if let Some(hit) = self.0.resolved.get(cache_key, now) {
            return Ok(Some(hit));
        }
        let Some(result) = self.lookup_db(key).await? else {
            return Ok(None);
        };
        let result = Arc::new(result);
        self.0.resolved.put(cache_key, result.clone(), now);
        Ok(Some(result))
    }

    /// Drops cached resolutions and tells co-located verifiers that `did` changed.
    fn changed(&self, did: &AgentDid) {
        self.0.resolved.clear();
        let _ = self.0.changes.send(Change::Did(did.to_string()));
    }

    async fn lookup_db(&self, key: Lookup<'_>) -> Result<Option<ResolutionResult>, ApiError> {
        type AgentRow = (
            String,
            String,
            Option<String>,
            Option<i64>,
            String,
            i64,
            i64,
        );
        const COLUMNS: &str = "SELECT document, status, status_reason, status_changed_at, head, created_at, updated_at FROM registry_agents";
        let (sql, value) = match key {
            Lookup::Did(did) => (format!("{COLUMNS} WHERE did = $1"), did.as_str()),
            Lookup::Name(name) => (format!("{COLUMNS} WHERE name = $1"), name.as_str()),
        };
        let row: Option<AgentRow> = sqlx::query_as(&sql)
            .bind(value)
            .fetch_optional(&self.0.store.pool)
            .await?;
        let Some((doc, status, reason, changed_at, head, created, updated)) = row else {
            return Ok(None);
        };
        let document: DidDocument = serde_json::from_str(&doc)
            .map_err(|e| ApiError::Internal(format!("stored document: {e}")))?;
        let agent_status = AgentStatus::parse(&status)
            .ok_or_else(|| ApiError::Internal("stored status".into()))?;
        let deplatformed = (agent_status == AgentStatus::Deplatformed).then(|| Deplatforming {
            reason: reason.unwrap_or_default(),
            at: format_rfc3339(changed_at.unwrap_or(updated)),
        });
        Ok(Some(ResolutionResult {
            context: Some(RESOLUTION_CONTEXT.to_owned()),
            did_document: Some(document),
            did_resolution_metadata: ResolutionMetadata {
                content_type: Some(DID_LD_JSON.to_owned()),
                ..Default::default()
            },
            did_document_metadata: Some(DocumentMetadata {
                created: Some(format_rfc3339(created)),
                updated: Some(format_rfc3339(updated)),
                version_id: Some(head),
                deactivated: agent_status == AgentStatus::Deactivated,
                agent_status,
                deplatformed,
            }),
        }))
    }

    /// The log entries of one agent, oldest first.
    pub async fn agent_log(&self, did: &AgentDid) -> Result<Vec<serde_json::Value>, ApiError> {
        let rows: Vec<log::Row> = sqlx::query_as(&format!(
            "{} WHERE did = $1 ORDER BY seq LIMIT 1000",
            log::SELECT
        ))
        .bind(did.as_str())
        .fetch_all(&self.0.store.pool)
        .await?;
        Ok(rows.into_iter().map(log::row_json).collect())
    }

    /// Log entries after `after`, oldest first, at most `limit`.
    pub async fn log_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        let rows: Vec<log::Row> = sqlx::query_as(&format!(
            "{} WHERE seq > $1 ORDER BY seq LIMIT $2",
            log::SELECT
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.0.store.pool)
        .await?;
        Ok(rows.into_iter().map(log::row_json).collect())
    }

    /// Whether `token` is the operator's admin token (constant-time).
    pub fn is_admin(&self, token: &str) -> bool {
        agentid_wallet::auth::token_matches(token, &self.0.admin_token_hash)
    }
}

/// How to find an agent.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    /// By DID.
    Did(&'a AgentDid),
    /// By name.
    Name(&'a AgentName),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `spec/vectors/identifiers/genesis.json`: the operation opens, defines the DID, and
    /// yields the document the vector gives.
    #[test]
    fn genesis_vector() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../spec/vectors/identifiers/genesis.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let jws = v["input"]["operation"].as_str().unwrap();
        let Signed { op, .. } = open(jws, None).unwrap();
        let Operation::Create {
            verification_methods,
            name,
            ..
        } = &op
        else {
            panic!("not a create")
        };
        let did = AgentDid::from_genesis(jws);
        assert_eq!(did.as_str(), v["output"]["did"]);
        let doc = document(&did, name.as_ref(), verification_methods);
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            v["output"]["didDocument"]
        );
        // Any change to the signed bytes breaks the signature.
        let mut tampered = jws.to_owned();
        tampered.insert(tampered.find('.').unwrap() + 5, 'A');
        assert!(open(&tampered, None).is_err());
    }
}
