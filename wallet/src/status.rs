//! A principal's Bitstring Status List credential, as a `vc+jwt` signed with the principal's
//! key: re-signed after a revocation and at least hourly when served.

use std::sync::Arc;

use agentid_spec::id::Did;
use agentid_spec::status_list::{Bitstring, BitstringStatusListCredential};
use agentid_spec::time::Timestamp;

use crate::{Error, Wallet};

/// A signed list is re-signed for serving once this old, in seconds.
const RESIGN_AFTER: i64 = 3600;
/// A signed list is valid this long, in seconds.
const VALID_FOR: i64 = 24 * 3600;
/// Suggested verifier cache lifetime, in milliseconds.
const TTL_MS: u64 = 60_000;

impl Wallet {
    /// The signed status list credential `id` to serve: the last one signed, unless a
    /// revocation or an hour has passed since.
    pub async fn signed_status_list(&self, id: &str) -> Result<Arc<str>, Error> {
        let now = self.0.clock.now();
        // Read before building: a list built while a revocation committed carries the older
        // generation and is never served after it.
        let generation = self.generation();
        if let Some((jws, at, built)) = self
            .0
            .signed_lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            if now - at < RESIGN_AFTER && *built == generation {
                return Ok(jws.clone());
            }
        }
        let jws: Arc<str> = self.status_list_credential(id).await?.into();
        self.0
            .signed_lists
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), (jws.clone(), now, generation));
        Ok(jws)
    }

    /// Status list credential `id`, built from the database and signed now.
    pub async fn status_list_credential(&self, id: &str) -> Result<String, Error> {
        if !crate::is_list_id(id) {
            return Err(Error::NotFound("no such status list"));
        }
        let now = self.0.clock.now();
        let row: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT l.size_bits, p.did, p.sealed_key FROM wallet_status_lists l \
             JOIN wallet_principals p ON p.id = l.principal_id WHERE l.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.pool)
        .await?;
        let (size, did, sealed) = row.ok_or(Error::NotFound("no such status list"))?;
        let revoked: Vec<(i64,)> = sqlx::query_as(
            "SELECT status_index FROM wallet_delegations WHERE status_list_id = $1 AND revoked_at IS NOT NULL",
        )
        .bind(id)
        .fetch_all(&self.0.pool)
        .await?;
        let mut bits = Bitstring::new(size as usize);
        for (index,) in revoked {
            bits.set(index as usize, true);
        }
        // What the log records revoked stays revoked, whatever the rows say.
        self.check_witness()?;
        if let Some(w) = self.0.witness.get() {
            for index in w.revoked_in_list(id) {
                if let Ok(i) = usize::try_from(index) {
                    if bits.get(i) == Some(false) {
                        tracing::error!(
                            list = id,
                            index,
                            "a revocation the log records is missing from the database (altered \
                             behind the service's back): the list keeps it"
                        );
                        bits.set(i, true);
                    }
                }
            }
        }
        let issuer = Did::parse(&did).map_err(|e| Error::Internal(format!("stored DID: {e}")))?;
        let time = |t: i64| {
            Timestamp::from_unix(t).ok_or_else(|| Error::Internal("clock out of range".into()))
        };
        let credential = BitstringStatusListCredential::revocation(
            &self.status_list_url(id),
            issuer,
            &bits,
            time(now)?,
            Some(time(now + VALID_FOR)?),
            Some(TTL_MS),
        );
        let key = self
            .0
            .vault
            .unseal(&sealed, &did)
            .map_err(|e| Error::Internal(format!("unseal principal key: {e}")))?;
        let payload =
            serde_json::to_vec(&credential).map_err(|e| Error::Internal(e.to_string()))?;
        crate::delegations::sign_vc_jwt(&key, &payload)
    }
}
