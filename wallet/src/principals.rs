//! Principal accounts: a key sealed at rest, a `did:key`, a bearer token shown once.

use agentid_sdk::keys::KeyPair;
use agentid_store::tokens::{Account, TokenKey};
use serde::Serialize;

use crate::auth::{new_token, split_token};
use crate::{Error, Wallet};

/// A principal just created: the token is in no other answer, ever.
pub use agentid_spec::api::NewPrincipal;

/// An authenticated principal.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// The account id.
    #[serde(rename = "principalId")]
    pub id: String,
    /// The principal's `did:key`.
    pub did: String,
    #[serde(skip)]
    sealed_key: String,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("id", &self.id)
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// Creates a principal with a fresh key; the token is returned once and stored as a keyed
    /// hash bound to the principal's id and DID.
    pub async fn create_principal(&self) -> Result<NewPrincipal, Error> {
        let key = KeyPair::generate();
        let did = key.did_key();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let token = new_token(&id);
        let token_hash = self
            .0
            .tokens
            .stored(Account::Principal, &[&id, did.as_str()], &token);
        let sealed = self.0.vault.seal(&key, did.as_str());
        sqlx::query(
            "INSERT INTO wallet_principals (id, did, token_hash, sealed_key, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(did.as_str())
        .bind(&token_hash)
        .bind(&sealed)
        .bind(self.0.clock.now())
        .execute(&self.0.pool)
        .await?;
        tracing::info!(principal = %id, did = %did, "principal created");
        Ok(NewPrincipal {
            principal_id: id,
            did: did.to_string(),
            token: token.to_string(),
            note: "the token is shown once; the wallet stores only its hash".into(),
        })
    }

    /// The principal whose bearer token (`<account id>.<secret>`) this is.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        let (id, token) = split_token(token).ok_or(Error::Unauthorized)?;
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT did, token_hash, sealed_key FROM wallet_principals WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.pool)
        .await?;
        // Hash and compare even for unknown ids, so timing does not reveal which ids exist.
        // The stored form binds the id and the DID: a row whose hash or DID was rewritten in
        // the database opens nothing (and the sealed key is bound to the DID).
        let (did, stored, sealed_key) =
            row.unwrap_or_else(|| (String::new(), String::new(), String::new()));
        let tokens = &self.0.tokens;
        if !tokens.matches(Account::Principal, &[id, &did], token, &stored) || did.is_empty() {
            return Err(Error::Unauthorized);
        }
        Ok(Principal {
            id: id.to_owned(),
            did,
            sealed_key,
        })
    }

    /// Converts principals' tokens stored in an earlier release's form (a bare SHA-256) to the
    /// keyed form, vouched for by a node upgrading from that release; returns how many. Never
    /// called otherwise: a bare hash written into the database later opens nothing.
    pub async fn key_legacy_tokens(&self) -> Result<u64, Error> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, did, token_hash FROM wallet_principals")
                .fetch_all(&self.0.pool)
                .await?;
        let mut converted = 0;
        for (id, did, legacy) in rows {
            if TokenKey::is_keyed(&legacy) {
                continue;
            }
            let Some(keyed) = self
                .0
                .tokens
                .from_legacy(Account::Principal, &[&id, &did], &legacy)
            else {
                continue;
            };
            let _turn = self.write_turn().await;
            sqlx::query(
                "UPDATE wallet_principals SET token_hash = $1 WHERE id = $2 AND token_hash = $3",
            )
            .bind(&keyed)
            .bind(&id)
            .bind(&legacy)
            .execute(&self.0.pool)
            .await?;
            converted += 1;
        }
        Ok(converted)
    }

    /// The principal's key, unsealed for one signature.
    pub(crate) fn principal_key(&self, p: &Principal) -> Result<KeyPair, Error> {
        self.0
            .vault
            .unseal(&p.sealed_key, &p.did)
            .map_err(|e| Error::Internal(format!("unseal principal key: {e}")))
    }
}
