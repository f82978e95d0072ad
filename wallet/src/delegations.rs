//! Issuing, listing, showing and revoking delegation credentials.

use agentid_sdk::keys::KeyPair;
use agentid_spec::credential::{
    DelegationCredential, Grant, Scope, SpendingLimit, CREDENTIAL_CTY, CREDENTIAL_TYP,
};
use agentid_spec::id::AgentDid;
use agentid_spec::jose::{sign_compact, JoseHeader};
use agentid_spec::status_list::BitstringStatusListEntry;
use agentid_spec::time::{format_rfc3339, Timestamp};

use crate::{Error, Principal, Wallet, MAX_LIST};

/// What a principal grants, parsed: an agent, a scope, a limit and a validity period.
#[derive(Clone, Debug)]
pub struct DelegationTerms {
    /// The agent's `did:agentid`.
    pub agent: AgentDid,
    /// Where it may spend.
    pub scope: Scope,
    /// How much.
    pub spending_limit: SpendingLimit,
    /// Start; defaults to now.
    pub valid_from: Option<Timestamp>,
    /// End.
    pub valid_until: Timestamp,
    /// How many sub-delegations may follow (0 ..= 3).
    pub max_depth: agentid_spec::credential::Depth,
}

pub use agentid_spec::api::{DelegationRecord, IssuedDelegation};

type Row = (
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

const SELECT: &str = "SELECT id, agent_did, valid_from, valid_until, status_index, revoked_at, \
                      revocation_reason, status_list_id, suspended_at, parent_id, issuer_did, depth, \
                      CAST(CASE WHEN credential = '' THEN 0 ELSE 1 END AS BIGINT) FROM wallet_delegations";

impl Wallet {
    fn record(&self, r: Row, p: &Principal) -> (DelegationRecord, String) {
        let (
            id,
            agent,
            valid_from,
            valid_until,
            index,
            revoked_at,
            reason,
            list,
            suspended_at,
            parent,
            issuer,
            depth,
            signed,
        ) = r;
        let revoked = self.revoked(&id, &p.did, revoked_at.is_some());
        let suspended = self.suspended(&id, &p.did, suspended_at.is_some());
        let record = DelegationRecord {
            id,
            agent,
            valid_from: format_rfc3339(valid_from),
            valid_until: format_rfc3339(valid_until),
            status_list_credential: self.status_list_url(&list),
            status_list_index: index,
            revoked,
            revoked_at: revoked_at.map(format_rfc3339),
            revocation_reason: reason,
            suspended,
            suspended_at: suspended_at.map(format_rfc3339),
            parent,
            issuer,
            depth,
            signed: signed == 1,
        };
        (record, list)
    }

    /// Issues a delegation credential from `principal` on `terms`: allocates a status bit and
    /// stores the credential in one transaction, and signs it with the principal's key.
    pub async fn issue(
        &self,
        principal: &Principal,
        terms: DelegationTerms,
    ) -> Result<IssuedDelegation, Error> {
        let now = self.0.clock.now();
        let valid_from = terms.valid_from.map_or(now, Timestamp::unix);
        let valid_until = terms.valid_until.unix();
        if valid_until <= valid_from || valid_until <= now {
            return Err(Error::InvalidTime(
                "validUntil must be after validFrom and now".into(),
            ));
        }
        let max = self.0.config.max_delegation_secs;
        if valid_until - valid_from > max {
            return Err(Error::InvalidTime(format!(
                "a delegation may last at most {max} s"
            )));
        }
        let key = self.principal_key(principal)?;
        let issuer = agentid_spec::id::Did::parse(&principal.did)
            .map_err(|e| Error::Internal(format!("stored principal DID: {e}")))?;
        let grant = Grant {
            agent: terms.agent.clone().into(),
            scope: terms.scope,
            spending_limit: terms.spending_limit,
            valid_from: Timestamp::from_unix(valid_from)
                .ok_or_else(|| Error::InvalidTime("validFrom is out of range".into()))?,
            valid_until: terms.valid_until,
            max_depth: terms.max_depth,
        };

        // Allocate a status bit and store the credential in one transaction: either both exist
        // or neither does.
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        let (list_id, index) = self.allocate_index(&mut tx, &principal.id, now).await?;
        let list_url = self.status_list_url(&list_id);
        let id = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        let credential = DelegationCredential::new(
            id.clone(),
            issuer,
            grant,
            BitstringStatusListEntry::revocation(&list_url, index as usize),
        );
        let payload =
            serde_json::to_vec(&credential).map_err(|e| Error::Internal(e.to_string()))?;
        let jws = sign_vc_jwt(&key, &payload)?;
        sqlx::query(
            "INSERT INTO wallet_delegations (id, principal_id, agent_did, status_list_id, status_index, \
             credential, valid_from, valid_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&principal.id)
        .bind(terms.agent.as_str())
        .bind(&list_id)
        .bind(index as i64)
        .bind(&jws)
        .bind(valid_from)
        .bind(valid_until)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(principal = %principal.id, credential = %id, agent = %terms.agent, "delegation issued");
        Ok(IssuedDelegation {
            id,
            credential: jws,
            issuer: principal.did.clone(),
            agent: terms.agent.to_string(),
            status_list_credential: list_url,
            status_list_index: index,
        })
    }

    /// Takes a free bit at a random index of the principal's current list, opening a new list
    /// once half of it is used. Random placement means an index says nothing about how many
    /// delegations the principal has issued (section 6.3); filling at most half keeps the search
    /// for a free bit short. The list row is updated first, so issuances for one principal take
    /// turns and never pick the same bit.
    pub(crate) async fn allocate_index(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        principal: &str,
        now: i64,
    ) -> Result<(String, u64), Error> {
        let bits = self.0.config.status_list_bits as i64;
        // `next_index` counts the bits used. RETURNING works on SQLite and PostgreSQL; the room
        // check is repeated on the row being updated.
        let taken: Option<(String,)> = sqlx::query_as(
            "UPDATE wallet_status_lists SET next_index = next_index + 1 \
             WHERE id = (SELECT id FROM wallet_status_lists WHERE principal_id = $1 AND next_index * 2 < size_bits \
                         ORDER BY created_at DESC, id LIMIT 1) \
             AND next_index * 2 < size_bits \
             RETURNING id",
        )
        .bind(principal)
        .fetch_optional(&mut **tx)
        .await?;
        let list = match taken {
            Some((id,)) => id,
            None => {
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
                id
            }
        };
        // At most half the list is used, so each try finds a free bit with probability >= 1/2.
        for _ in 0..64 {
            let index = rand::Rng::gen_range(&mut rand::thread_rng(), 0..bits);
            let used: Option<(i64,)> = sqlx::query_as(
                "SELECT status_index FROM wallet_delegations WHERE status_list_id = $1 AND status_index = $2",
            )
            .bind(&list)
            .bind(index)
            .fetch_optional(&mut **tx)
            .await?;
            if used.is_none() {
                return Ok((list, index as u64));
            }
        }
        Err(Error::Internal("no free status bit found".into()))
    }

    /// The principal's delegations, newest first, at most [`MAX_LIST`].
    pub async fn delegations(&self, p: &Principal) -> Result<Vec<DelegationRecord>, Error> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE principal_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(&p.id)
        .bind(MAX_LIST)
        .fetch_all(&self.0.pool)
        .await?;
        Ok(rows.into_iter().map(|r| self.record(r, p).0).collect())
    }

    /// The status list and index the principal's delegation `id` names, as its signed credential
    /// says (the row's copy is not taken on faith): what a revocation records.
    pub async fn status_entry(&self, p: &Principal, id: &str) -> Result<(String, i64), Error> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT credential FROM wallet_delegations WHERE id = $1 AND principal_id = $2",
        )
        .bind(id)
        .bind(&p.id)
        .fetch_optional(&self.0.pool)
        .await?;
        let (jws,) = row.ok_or(Error::NotFound("no such delegation"))?;
        if jws.is_empty() {
            // A sub-delegation prepared and never signed: nothing presents it.
            let (record, _) = self.find(p, id).await?;
            let list = self
                .status_list_id(&record.status_list_credential)
                .ok_or_else(|| Error::Internal("a delegation names no list of this wallet".into()))?
                .to_owned();
            return Ok((list, record.status_list_index));
        }
        let credential = crate::ledger::stored_credential(&jws)?;
        let status = &credential.credential_status;
        let list = self
            .status_list_id(&status.status_list_credential)
            .ok_or_else(|| Error::Internal("a delegation names no list of this wallet".into()))?
            .to_owned();
        let index = status
            .status_list_index
            .parse()
            .map_err(|_| Error::Internal("a stored credential's status index".into()))?;
        if credential.id != id {
            return Err(Error::Internal(format!(
                "the credential stored for {id} is another's"
            )));
        }
        Ok((list, index))
    }

    /// The principal's delegation `id`; another principal's is as absent as a missing one.
    pub async fn delegation(&self, p: &Principal, id: &str) -> Result<DelegationRecord, Error> {
        Ok(self.find(p, id).await?.0)
    }

    async fn find(&self, p: &Principal, id: &str) -> Result<(DelegationRecord, String), Error> {
        let row: Option<Row> =
            sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND principal_id = $2"))
                .bind(id)
                .bind(&p.id)
                .fetch_optional(&self.0.pool)
                .await?;
        row.map(|r| self.record(r, p))
            .ok_or(Error::NotFound("no such delegation"))
    }

    /// Revokes the principal's delegation `id`. Idempotent: only the first revocation sets the
    /// time and the reason.
    pub async fn revoke(
        &self,
        p: &Principal,
        id: &str,
        reason: Option<&str>,
    ) -> Result<DelegationRecord, Error> {
        crate::check_reason(reason)?;
        let now = self.0.clock.now();
        // The same row an authorization locks first: a revocation and an authorization of one
        // delegation never interleave (section 11.2).
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE wallet_delegations SET revoked_at = $1, revocation_reason = $2 \
             WHERE id = $3 AND principal_id = $4 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .bind(&p.id)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 1 {
            // Everything below it goes with it (section 6.4): children, grandchildren and
            // great-grandchildren, the most a chain allows.
            const _: () = assert!(agentid_spec::credential::MAX_DEPTH == 3);
            let below = format!("revoked with {id}");
            sqlx::query(
                "UPDATE wallet_delegations SET revoked_at = $1, revocation_reason = $2 \
                 WHERE revoked_at IS NULL AND principal_id = $4 AND (parent_id = $3 \
                   OR parent_id IN (SELECT id FROM wallet_delegations WHERE parent_id = $3) \
                   OR parent_id IN (SELECT id FROM wallet_delegations WHERE parent_id IN \
                        (SELECT id FROM wallet_delegations WHERE parent_id = $3)))",
            )
            .bind(now)
            .bind(&below)
            .bind(id)
            .bind(&p.id)
            .execute(&mut *tx)
            .await?;
            self.notify(&mut tx).await?;
        }
        tx.commit().await?;
        let (record, _) = self.find(p, id).await?;
        self.changed();
        tracing::info!(principal = %p.id, credential = %id, "delegation revoked");
        Ok(record)
    }
}

impl Wallet {
    /// Suspends (`true`) or reinstates the principal's delegation `id`: while suspended, the
    /// wallet holds nothing under it (`delegation_suspended`), like a frozen card; holds already
    /// granted stay until they are settled or expire. Idempotent. A revoked delegation is final.
    pub async fn set_suspended(
        &self,
        p: &Principal,
        id: &str,
        suspended: bool,
    ) -> Result<DelegationRecord, Error> {
        let now = self.0.clock.now();
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // The row an authorization locks first: a hold is never granted after this returns.
        let update = if suspended {
            sqlx::query(
                "UPDATE wallet_delegations SET suspended_at = $1 \
                 WHERE id = $2 AND principal_id = $3 AND suspended_at IS NULL AND revoked_at IS NULL",
            )
            .bind(now)
        } else {
            sqlx::query(
                "UPDATE wallet_delegations SET suspended_at = NULL \
                 WHERE id = $1 AND principal_id = $2 AND revoked_at IS NULL",
            )
        };
        update.bind(id).bind(&p.id).execute(&mut *tx).await?;
        tx.commit().await?;
        let (record, _) = self.find(p, id).await?;
        if record.revoked {
            return Err(Error::DelegationRevoked);
        }
        tracing::info!(principal = %p.id, credential = %id, suspended, "delegation suspension changed");
        Ok(record)
    }
}

/// Signs a `vc+jwt` with the principal's key (`spec::jose`, the one JWS signer of agentid).
pub(crate) fn sign_vc_jwt(key: &KeyPair, payload: &[u8]) -> Result<String, Error> {
    sign_jwt(key, &key.did_key().key_id(), payload)
}

/// Signs a `vc+jwt` with `key`, named `kid` (`spec::jose`).
pub(crate) fn sign_jwt(key: &KeyPair, kid: &str, payload: &[u8]) -> Result<String, Error> {
    let header = JoseHeader::eddsa(CREDENTIAL_TYP, Some(CREDENTIAL_CTY), kid);
    Ok(sign_compact(&header, payload, key.signing_key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the wallet signs verifies in an independent implementation (josekit, over
    /// OpenSSL's Ed25519), with its `typ`, `cty` and `kid`.
    #[test]
    fn josekit_verifies_what_the_wallet_signs() {
        let key = KeyPair::from_seed(&[5; 32]);
        let token = sign_vc_jwt(&key, br#"{"hello":"world"}"#).unwrap();
        let jwk = josekit::jwk::Jwk::from_bytes(key.to_private_jwk().as_bytes()).unwrap();
        let public = jwk.to_public_key().unwrap();
        let verifier = josekit::jws::EdDSA.verifier_from_jwk(&public).unwrap();
        let (payload, header) = josekit::jws::deserialize_compact(&token, &verifier).unwrap();
        assert_eq!(payload, br#"{"hello":"world"}"#);
        assert_eq!(header.token_type(), Some(CREDENTIAL_TYP));
        assert_eq!(header.content_type(), Some(CREDENTIAL_CTY));
        assert_eq!(header.key_id(), Some(key.did_key().key_id().as_str()));
        // And a flipped payload does not.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = agentid_spec::jose::b64u(br#"{"hello":"there"}"#);
        assert!(josekit::jws::deserialize_compact(parts.join("."), &verifier).is_err());
    }
}
