//! Operators: who may moderate and administer the service. The root operator holds the admin
//! token made at first start (actor `admin`); it creates named operator accounts (moderators),
//! each with a bearer token `op_<name>.<secret>` shown once, stored in the keyed form of
//! [`agentid_store::tokens`] and compared in constant time, and revokes them (the stored form
//! is erased: a revocation undone in the database revives nothing). Every operator action is recorded with the operator's name.

use std::sync::Arc;

use agentid_spec::clock::Clock;
use agentid_spec::ErrorCode;
use agentid_store::tokens::{Account as Kind, TokenKey};
use agentid_wallet::auth::{new_token, split_token};
use sqlx::AnyPool;

use crate::error::ApiError;

/// The operators' table, in the service's migration range (3000-3999).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(
    3002,
    "operators",
    include_str!("../migrations/0002_operators.sql"),
)];

/// The root operator's name, recorded with what the admin token does.
pub const ROOT: &str = "admin";
/// Most operator accounts (live and revoked) kept.
pub const MAX_OPERATORS: i64 = 1000;
/// The prefix of an operator token's account part.
const TOKEN_PREFIX: &str = "op_";

/// An authenticated operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The name recorded with each action.
    pub name: String,
}

impl Operator {
    /// Whether this is the root operator.
    pub fn is_root(&self) -> bool {
        self.name == ROOT
    }
}

/// An operator account as listed (never its token).
pub use agentid_spec::api::OperatorAccount as Account;

/// The service's operators: the root token's stored form and the named accounts in the
/// database.
#[derive(Clone)]
pub struct Operators {
    pool: AnyPool,
    root_token_hash: Arc<str>,
    tokens: TokenKey,
    /// Where revocations are recorded (the log), and the DID they are recorded under.
    log: (agentid_registry::Registry, Arc<str>),
    clock: Arc<dyn Clock>,
}

/// Names no operator account takes: the root's, and the other actors the log records
/// (`principal` for a principal's own decisions) or that would read as the service itself.
pub const RESERVED_NAMES: &[&str] = &[
    ROOT,
    "root",
    "principal",
    "registry",
    "wallet",
    "service",
    "system",
    "agentid",
    "operator",
    "anonymous",
];

/// A valid operator name: 1 to 32 of `a-z0-9-`, not starting with `-`, and not one of
/// [`RESERVED_NAMES`].
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !RESERVED_NAMES.contains(&name)
}

impl Operators {
    /// The operators of a service whose root token's stored form (by `tokens`) is
    /// `root_token_hash`, with accounts in `pool` (on which [`MIGRATIONS`] have run), their
    /// revocations recorded in `registry`'s log under the service's DID `service`, reading time
    /// from `clock`.
    pub fn new(
        pool: AnyPool,
        root_token_hash: String,
        tokens: TokenKey,
        (registry, service): (agentid_registry::Registry, &str),
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            pool,
            root_token_hash: root_token_hash.into(),
            tokens,
            log: (registry, service.into()),
            clock,
        }
    }

    /// The operator holding `token`, if any: the root, or a named account not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Operator>, ApiError> {
        if self
            .tokens
            .matches(Kind::Root, &[], token, &self.root_token_hash)
        {
            return Ok(Some(Operator { name: ROOT.into() }));
        }
        let Some((account, token)) = split_token(token) else {
            return Ok(None);
        };
        let Some(name) = account.strip_prefix(TOKEN_PREFIX).filter(|n| valid_name(n)) else {
            return Ok(None);
        };
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT token_hash, created_at FROM service_operators \
             WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        // The stored form binds the name and the creation time; the log's revocation of the
        // name stands whatever its row says.
        let Some((hash, created)) = row else {
            return Ok(None);
        };
        if !self
            .tokens
            .matches(Kind::Operator, &[name, &created.to_string()], token, &hash)
        {
            return Ok(None);
        }
        if self.log.0.operator_revoked(name) {
            tracing::error!(
                operator = name,
                "an operator the log records revoked is live in the database (altered behind \
                 the service's back): refused"
            );
            return Ok(None);
        }
        Ok(Some(Operator { name: name.into() }))
    }

    /// Creates operator `name`, by `by`: its token, shown this once.
    pub async fn create(&self, name: &str, by: &Operator) -> Result<String, ApiError> {
        if !valid_name(name) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                format!(
                    "an operator name is 1 to 32 of a-z, 0-9 and -, and none of {}",
                    RESERVED_NAMES.join(", ")
                ),
            ));
        }
        // A revoked name is never given again: the log's revocation names the account by it.
        if self.log.0.operator_revoked(name) {
            return Err(ApiError::conflict(
                ErrorCode::Conflict,
                format!("the operator {name} was revoked; a revoked name is not given again"),
            ));
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM service_operators")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        if count >= MAX_OPERATORS {
            return Err(ApiError::conflict(
                ErrorCode::Conflict,
                format!("at most {MAX_OPERATORS} operator accounts"),
            ));
        }
        let token = new_token(&format!("{TOKEN_PREFIX}{name}"));
        let now = self.clock.now();
        let hash = self
            .tokens
            .stored(Kind::Operator, &[name, &now.to_string()], &token);
        let inserted = sqlx::query(
            "INSERT INTO service_operators (name, token_hash, created_at, created_by) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(&hash)
        .bind(now)
        .bind(&by.name)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {
                tracing::warn!(operator = name, by = %by.name, "operator created");
                Ok(token.to_string())
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(ApiError::conflict(
                ErrorCode::Conflict,
                format!("the operator {name} exists"),
            )),
            Err(e) => Err(db(e)),
        }
    }

    /// Revokes operator `name`, by `by`: its token stops working at once. The revocation is
    /// recorded in the log first, where no change to the row undoes it.
    pub async fn revoke(&self, name: &str, by: &Operator) -> Result<(), ApiError> {
        let live: Option<(i64,)> = sqlx::query_as(
            "SELECT created_at FROM service_operators WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        if live.is_none() {
            return Err(ApiError::NotFound(format!("no live operator {name}")));
        }
        // Should the log refuse it (an entry written behind the service's back stops every
        // append), the revocation still applies to the row, and the failure is reported.
        if !self.log.0.operator_revoked(name) {
            let recorded = self
                .log
                .0
                .record_decision(
                    &self.log.1,
                    agentid_registry::Decision::RevokeOperator { name },
                    &by.name,
                )
                .await;
            if let Err(e) = recorded {
                tracing::error!(operator = name, error = %e, "an operator's revocation could not be recorded in the log: applied to its row only");
            }
        }
        let done = sqlx::query(
            "UPDATE service_operators SET revoked_at = $1, revoked_by = $2, token_hash = '' \
             WHERE name = $3 AND revoked_at IS NULL",
        )
        .bind(self.clock.now())
        .bind(&by.name)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Err(ApiError::NotFound(format!("no live operator {name}")));
        }
        tracing::warn!(operator = name, by = %by.name, "operator revoked");
        Ok(())
    }

    /// Converts operators' tokens stored in an earlier release's form (a bare SHA-256) to the
    /// keyed form, vouched for by a node upgrading from that release; returns how many.
    pub async fn key_legacy_tokens(&self) -> Result<u64, ApiError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT name, token_hash, created_at FROM service_operators WHERE revoked_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut converted = 0;
        for (name, legacy, created) in rows {
            let bound = [name.as_str(), &created.to_string()];
            let Some(keyed) = (!TokenKey::is_keyed(&legacy))
                .then(|| self.tokens.from_legacy(Kind::Operator, &bound, &legacy))
                .flatten()
            else {
                continue;
            };
            sqlx::query(
                "UPDATE service_operators SET token_hash = $1 WHERE name = $2 AND token_hash = $3",
            )
            .bind(&keyed)
            .bind(&name)
            .bind(&legacy)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            converted += 1;
        }
        Ok(converted)
    }

    /// Every account, oldest first.
    pub async fn list(&self) -> Result<Vec<Account>, ApiError> {
        type Row = (String, i64, String, Option<i64>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT name, created_at, created_by, revoked_at, revoked_by FROM service_operators \
             ORDER BY created_at, name LIMIT $1",
        )
        .bind(MAX_OPERATORS)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        use agentid_spec::time::format_rfc3339;
        Ok(rows
            .into_iter()
            .map(|(name, created, created_by, revoked, revoked_by)| Account {
                name,
                created_at: format_rfc3339(created),
                created_by,
                revoked_at: revoked.map(format_rfc3339),
                revoked_by,
            })
            .collect())
    }
}

fn db(e: sqlx::Error) -> ApiError {
    ApiError::Internal(format!("operators: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        assert!(valid_name("carol"));
        assert!(valid_name("trust-and-safety-2"));
        for bad in [
            "",
            "admin",
            "principal",
            "registry",
            "Carol",
            "-x",
            "a.b",
            &"a".repeat(33),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
