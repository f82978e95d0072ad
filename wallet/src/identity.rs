//! The wallet's own identity: a `did:web` derived from its public URL, whose document lists the
//! wallet's signing keys. Keys are sealed at rest like principals' keys; the newest key signs,
//! and older ones stay published until retired, so a rotation never breaks an authorization in
//! flight.

use std::sync::Arc;

use agentid_sdk::keys::KeyPair;
use agentid_spec::document::DidDocument;
use agentid_spec::id::Did;

use crate::{Error, Wallet};

/// Associated data binding a sealed wallet key to its row.
fn owner(fragment: &str) -> String {
    format!("agentid-wallet-key:{fragment}")
}

impl Wallet {
    /// The wallet's DID (`did:web` of its public URL).
    pub fn did(&self) -> &Did {
        &self.0.did
    }

    /// Makes sure the wallet has a signing key, creating `key-1` on first start. Safe to run
    /// on many nodes at once: only one insert wins, and every node then loads the same key.
    pub async fn open_identity(&self) -> Result<(), Error> {
        let existing: Option<(i64,)> =
            sqlx::query_as("SELECT COUNT(*) FROM wallet_keys WHERE retired_at IS NULL")
                .fetch_optional(&self.0.pool)
                .await?;
        if existing.is_none_or(|(n,)| n == 0) {
            let key = KeyPair::generate();
            let sealed = self.0.vault.seal(&key, &owner("key-1"));
            sqlx::query(
                "INSERT INTO wallet_keys (id, sealed_key, created_at, created_by) \
                 VALUES ('key-1', $1, $2, 'service') ON CONFLICT (id) DO NOTHING",
            )
            .bind(&sealed)
            .bind(self.0.clock.now())
            .execute(&self.0.pool)
            .await?;
        }
        self.load_signing_key().await
    }

    /// Adds a new signing key on `actor`'s request, which signs from now on in this process
    /// and, on PostgreSQL, on every node once the change feed tells it (a node that has not
    /// heard yet signs with the key it loaded, which stays published); the previous keys stay
    /// published, so authorizations in flight still verify. Returns the new key's verification
    /// method id.
    pub async fn rotate_key(&self, actor: &str) -> Result<String, Error> {
        let key = KeyPair::generate();
        let fragment = {
            let _turn = self.write_turn().await;
            let mut tx = self.0.pool.begin().await?;
            let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM wallet_keys")
                .fetch_one(&mut *tx)
                .await?;
            let fragment = format!("key-{}", n.0 + 1);
            sqlx::query(
                "INSERT INTO wallet_keys (id, sealed_key, created_at, created_by) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&fragment)
            .bind(self.0.vault.seal(&key, &owner(&fragment)))
            .bind(self.0.clock.now())
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            self.notify(&mut tx).await?;
            tx.commit().await?;
            fragment
        };
        self.changed();
        self.load_signing_key().await?;
        tracing::info!(key = %fragment, actor, "wallet key rotated");
        Ok(format!("{}#{fragment}", self.0.did))
    }

    /// Retires the wallet key `fragment` on `actor`'s request: it leaves the DID document, so
    /// every authorization it signed stops verifying (`unknown_key`) once verifiers see the
    /// change (at once in this process and, on PostgreSQL, through the change feed on every
    /// node). The newest key, which signs, cannot be retired: rotate first. Idempotent.
    pub async fn retire_key(&self, fragment: &str, actor: &str) -> Result<(), Error> {
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        if self.retirable(&mut tx, fragment).await?.is_none() {
            return Ok(());
        }
        sqlx::query("UPDATE wallet_keys SET retired_at = $1, retired_by = $2 WHERE id = $3")
            .bind(self.0.clock.now())
            .bind(actor)
            .bind(fragment)
            .execute(&mut *tx)
            .await?;
        self.notify(&mut tx).await?;
        tx.commit().await?;
        self.changed();
        tracing::warn!(key = %fragment, actor, "wallet key retired");
        Ok(())
    }

    /// The `publicKeyMultibase` of the wallet key `fragment` if it may be retired (it exists
    /// and is not the newest, which signs; retired already or not, as its row says): what a
    /// retirement records before it is applied.
    pub async fn key_to_retire(&self, fragment: &str) -> Result<String, Error> {
        let mut tx = self.0.pool.begin().await?;
        self.retirable(&mut tx, fragment).await?;
        let (sealed,): (String,) =
            sqlx::query_as("SELECT sealed_key FROM wallet_keys WHERE id = $1")
                .bind(fragment)
                .fetch_one(&mut *tx)
                .await?;
        let key = self
            .0
            .vault
            .unseal(&sealed, &owner(fragment))
            .map_err(|e| Error::Internal(format!("unseal wallet key: {e}")))?;
        Ok(key.did_key().multibase().to_owned())
    }

    /// The sealed key `fragment` if it may be retired (it exists, is not the newest, which
    /// signs, and is not retired yet); `None` if it is retired already.
    async fn retirable(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        fragment: &str,
    ) -> Result<Option<String>, Error> {
        let newest: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM wallet_keys WHERE retired_at IS NULL \
             ORDER BY created_at DESC, LENGTH(id) DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&mut **tx)
        .await?;
        if newest.is_some_and(|(id,)| id == fragment) {
            return Err(Error::Conflict(
                "the newest key signs: rotate to a new key before retiring it",
            ));
        }
        let exists: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT sealed_key, retired_at FROM wallet_keys WHERE id = $1")
                .bind(fragment)
                .fetch_optional(&mut **tx)
                .await?;
        match exists {
            None => Err(Error::NotFound("no such wallet key")),
            Some((_, Some(_))) => Ok(None),
            Some((sealed, None)) => Ok(Some(sealed)),
        }
    }

    /// When key `fragment` (`public_key` its multibase) was retired, if it was: its row's word
    /// (`stored`), or the log's. A retirement the log records and the row lacks is reported:
    /// the database was altered behind the service's back.
    fn retired(&self, fragment: &str, public_key: &str, stored: Option<i64>) -> Option<i64> {
        if stored.is_some() {
            return stored;
        }
        let logged = self.0.witness.get().and_then(|w| w.key_retired(public_key));
        if logged.is_some() {
            tracing::error!(
                key = fragment,
                "a wallet key retirement the log records is missing from the database (altered \
                 behind the service's back): the key stays retired"
            );
        }
        logged
    }

    /// Every wallet key, oldest first: its fragment, the key, and when it was retired (by its
    /// row or the log).
    async fn keys(&self) -> Result<Vec<(String, KeyPair, Option<i64>)>, Error> {
        let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, sealed_key, retired_at FROM wallet_keys \
             ORDER BY created_at, LENGTH(id), id",
        )
        .fetch_all(&self.0.pool)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for (fragment, sealed, retired_at) in rows {
            let key = self
                .0
                .vault
                .unseal(&sealed, &owner(&fragment))
                .map_err(|e| Error::Internal(format!("unseal wallet key: {e}")))?;
            let retired = self.retired(&fragment, key.did_key().multibase(), retired_at);
            keys.push((fragment, key, retired));
        }
        Ok(keys)
    }

    /// Loads the signing key again (another node rotated or retired one): keeps signing with
    /// the newest unretired key.
    pub async fn reload_signing_key(&self) -> Result<(), Error> {
        self.load_signing_key().await
    }

    /// Loads the newest unretired key as the signing key.
    async fn load_signing_key(&self) -> Result<(), Error> {
        let (fragment, key, _) = self
            .keys()
            .await?
            .into_iter()
            .rev()
            .find(|(_, _, retired)| retired.is_none())
            .ok_or_else(|| Error::Internal("wallet has no key".into()))?;
        *self
            .0
            .signing_key
            .write()
            .unwrap_or_else(|e| e.into_inner()) =
            Some((format!("{}#{fragment}", self.0.did), Arc::new(key)));
        Ok(())
    }

    /// The key that signs authorizations and its verification method id.
    pub(crate) fn signing_key(&self) -> Result<(String, Arc<KeyPair>), Error> {
        self.0
            .signing_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::Internal("wallet identity not opened".into()))
    }

    /// Signs `payload` as a compact JWS of type `typ` with the service's current key (its
    /// `kid` a verification method of [`Wallet::did_document`]): statements the service makes
    /// about itself, such as the registry log's checkpoints.
    pub fn sign_statement(&self, typ: &str, payload: &[u8]) -> Result<String, Error> {
        let (kid, key) = self.signing_key()?;
        let header = agentid_spec::jose::JoseHeader::eddsa(typ, None, &kid);
        Ok(agentid_spec::jose::sign_compact(
            &header,
            payload,
            key.signing_key(),
        ))
    }

    /// Every key the wallet has had, oldest first: its verification method id, its
    /// `publicKeyMultibase` and, once retired, when. What the registry's checkpoints were
    /// signed with is checkable after a key changes (section 5.2).
    pub async fn key_history(&self) -> Result<Vec<(String, String, Option<i64>)>, Error> {
        Ok(self
            .keys()
            .await?
            .into_iter()
            .map(|(fragment, key, retired)| {
                (
                    format!("{}#{fragment}", self.0.did),
                    key.did_key().multibase().to_owned(),
                    retired,
                )
            })
            .collect())
    }

    /// The wallet's DID document: every unretired key, under `assertionMethod`.
    pub async fn did_document(&self) -> Result<DidDocument, Error> {
        let methods: Vec<(String, String)> = self
            .keys()
            .await?
            .into_iter()
            .filter(|(_, _, retired)| retired.is_none())
            .map(|(fragment, key, _)| (fragment, key.did_key().multibase().to_owned()))
            .collect();
        let mut doc = DidDocument::new(
            self.0.did.as_str(),
            Vec::new(),
            methods.iter().map(|(f, m)| (f.as_str(), m.as_str())),
        );
        // The wallet signs; it does not authenticate as a holder.
        doc.authentication.clear();
        Ok(doc)
    }
}
