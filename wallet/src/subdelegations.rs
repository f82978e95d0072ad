//! Sub-delegations (spec section 6.4): an agent passes a narrower part of its delegation to a
//! sub-agent. The wallet prepares the credential (checking that it narrows its parent, and
//! placing its status bit in the principal's list, so the principal can revoke any link), the
//! agent signs the exact payload, and the wallet registers the signed credential.

use agentid_sdk::verify::{VerifiedLink, VerifiedLinkRequest};
use agentid_spec::authorization::credential_hash;
use agentid_spec::credential::{DelegationCredential, Grant, ParentLink};
use agentid_spec::jose::b64u;
use agentid_spec::status_list::BitstringStatusListEntry;
use agentid_spec::time::Timestamp;

use crate::ledger::stored_credential;
use crate::{Error, IssuedDelegation, Wallet};

/// Most prepared sub-delegations of one parent waiting for their agent's signature.
pub const MAX_UNSIGNED_LINKS: i64 = 64;

pub use agentid_spec::api::PreparedLink;

type Parent = (String, Option<i64>, Option<i64>, String, String, i64);

impl Wallet {
    /// The DID of principal account `id`.
    async fn principal_did(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
    ) -> Result<String, Error> {
        let did: Option<(String,)> =
            sqlx::query_as("SELECT did FROM wallet_principals WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(did.map(|(d,)| d).unwrap_or_default())
    }

    /// Prepares the sub-delegation `req` asks for: its signature, its agents' trust and
    /// standing were checked by the verifier that made it; here the parent must be `iss`'s own
    /// delegation, as `iss` holds it (by digest), live, and the new credential must narrow it.
    pub async fn prepare_link(&self, req: &VerifiedLinkRequest) -> Result<PreparedLink, Error> {
        let req = req.request();
        let now = self.0.clock.now();
        let valid_from = req.valid_from.map_or(now, Timestamp::unix);
        let valid_until = req.valid_until.unix();
        if valid_until <= valid_from || valid_until <= now {
            return Err(Error::InvalidTime(
                "validUntil must be after validFrom and now".into(),
            ));
        }
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // The parent's lock first, as a revocation takes it: no link is prepared under a
        // delegation after its revocation returned.
        let locked = sqlx::query(
            "UPDATE wallet_delegations SET ledger_version = ledger_version + 1 WHERE id = $1",
        )
        .bind(&req.parent)
        .execute(&mut *tx)
        .await?;
        if locked.rows_affected() != 1 {
            return Err(Error::NotFound("no such delegation"));
        }
        let (parent_jws, revoked, suspended, principal_id, agent, depth): Parent = sqlx::query_as(
            "SELECT credential, revoked_at, suspended_at, principal_id, agent_did, depth \
             FROM wallet_delegations WHERE id = $1",
        )
        .bind(&req.parent)
        .fetch_one(&mut *tx)
        .await?;
        if agent != req.iss.as_str() {
            return Err(Error::Forbidden(
                "the parent is not the requesting agent's delegation",
            ));
        }
        if parent_jws.is_empty() || credential_hash(&parent_jws) != req.parent_digest {
            return Err(Error::Forbidden(
                "parentDigest is not the digest of the parent as the wallet registered it",
            ));
        }
        self.check_witness()?;
        let principal = self.principal_did(&mut tx, &principal_id).await?;
        if self.revoked(&req.parent, &principal, revoked.is_some()) {
            return Err(Error::DelegationRevoked);
        }
        if self.suspended(&req.parent, &principal, suspended.is_some()) {
            return Err(Error::DelegationSuspended);
        }
        let (unsigned,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM wallet_delegations WHERE parent_id = $1 AND credential = ''",
        )
        .bind(&req.parent)
        .fetch_one(&mut *tx)
        .await?;
        if unsigned >= MAX_UNSIGNED_LINKS {
            return Err(Error::Conflict(
                "too many sub-delegations of this delegation wait for their signature",
            ));
        }
        let parent = stored_credential(&parent_jws)?;
        let grant = Grant {
            agent: req.agent.clone(),
            scope: req.scope.clone(),
            spending_limit: req.spending_limit.clone(),
            valid_from: Timestamp::from_unix(valid_from)
                .ok_or_else(|| Error::InvalidTime("validFrom is out of range".into()))?,
            valid_until: req.valid_until,
            max_depth: req.max_depth,
        };
        let id = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        let link = ParentLink {
            id: req.parent.clone(),
            digest: req.parent_digest.clone(),
        };
        // Checked before a status bit is taken: a widening request leaves nothing behind.
        let mut credential = DelegationCredential::link(
            id.clone(),
            req.iss.clone(),
            grant,
            parent.credential_status.clone(),
            link,
        );
        credential
            .narrows(&parent)
            .map_err(|w| Error::DelegationWidened(w.to_string()))?;
        let (list_id, index) = self.allocate_index(&mut tx, &principal_id, now).await?;
        let list_url = self.status_list_url(&list_id);
        credential.credential_status =
            BitstringStatusListEntry::revocation(&list_url, index as usize);
        let payload =
            b64u(&serde_json::to_vec(&credential).map_err(|e| Error::Internal(e.to_string()))?);
        sqlx::query(
            "INSERT INTO wallet_delegations (id, principal_id, agent_did, status_list_id, status_index, \
             credential, valid_from, valid_until, created_at, parent_id, issuer_did, depth, payload) \
             VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(&principal_id)
        .bind(req.agent.as_str())
        .bind(&list_id)
        .bind(index as i64)
        .bind(valid_from)
        .bind(valid_until)
        .bind(now)
        .bind(&req.parent)
        .bind(req.iss.as_str())
        .bind(depth + 1)
        .bind(&payload)
        .execute(&mut *tx)
        .await?;
        // The parent and every delegation above it now have holds charged from below.
        const _: () = assert!(agentid_spec::credential::MAX_DEPTH == 3);
        sqlx::query(
            "UPDATE wallet_delegations SET has_links = 1 WHERE has_links = 0 AND (id = $1 \
               OR id = (SELECT parent_id FROM wallet_delegations WHERE id = $1) \
               OR id = (SELECT parent_id FROM wallet_delegations WHERE id = \
                         (SELECT parent_id FROM wallet_delegations WHERE id = $1)))",
        )
        .bind(&req.parent)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(credential = %id, parent = %req.parent, agent = %req.agent, "sub-delegation prepared");
        Ok(PreparedLink {
            id,
            payload,
            issuer: req.iss.to_string(),
            agent: req.agent.to_string(),
            status_list_credential: list_url,
            status_list_index: index,
        })
    }

    /// Registers a prepared sub-delegation, signed: its signature by the issuer's assertion
    /// key was checked by the verifier that made `link`; it must carry exactly the payload the
    /// wallet prepared. Idempotent.
    pub async fn register_link(&self, link: &VerifiedLink) -> Result<IssuedDelegation, Error> {
        let jws = link.jws();
        let payload = jws
            .split('.')
            .nth(1)
            .ok_or(Error::InvalidRequest("the credential is not a compact JWS"))?;
        let credential = stored_credential(jws)
            .map_err(|_| Error::InvalidRequest("the credential payload is not a delegation"))?;
        let id = credential.id.clone();
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        sqlx::query(
            "UPDATE wallet_delegations SET credential = $1 \
             WHERE id = $2 AND payload = $3 AND credential = '' AND revoked_at IS NULL",
        )
        .bind(jws)
        .bind(&id)
        .bind(payload)
        .execute(&mut *tx)
        .await?;
        type Stored = (
            String,
            Option<String>,
            Option<i64>,
            String,
            String,
            i64,
            Option<String>,
        );
        let row: Option<Stored> = sqlx::query_as(
            "SELECT credential, payload, revoked_at, agent_did, status_list_id, status_index, issuer_did \
             FROM wallet_delegations WHERE id = $1 AND parent_id IS NOT NULL",
        )
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let (stored, prepared, revoked, agent, list, index, issuer) =
            row.ok_or(Error::NotFound("no such sub-delegation"))?;
        if prepared.as_deref() != Some(payload) {
            return Err(Error::Forbidden(
                "the credential is not the payload the wallet prepared",
            ));
        }
        self.check_witness()?;
        let principal: Option<(String,)> = sqlx::query_as(
            "SELECT p.did FROM wallet_principals p JOIN wallet_delegations d \
             ON d.principal_id = p.id WHERE d.id = $1",
        )
        .bind(&id)
        .fetch_optional(&self.0.pool)
        .await?;
        let principal = principal.map(|(d,)| d).unwrap_or_default();
        if self.revoked(&id, &principal, revoked.is_some()) {
            return Err(Error::DelegationRevoked);
        }
        if stored != jws {
            // Signed twice (an Ed25519 signature is deterministic, so only by another key).
            return Err(Error::Conflict(
                "the sub-delegation is registered with another signature",
            ));
        }
        tracing::info!(credential = %id, "sub-delegation registered");
        Ok(IssuedDelegation {
            id,
            credential: stored,
            issuer: issuer.unwrap_or_default(),
            agent,
            status_list_credential: self.status_list_url(&list),
            status_list_index: index.max(0) as u64,
        })
    }
}
