//! The spend ledger (spec section 11): holds against a delegation's budget, taken atomically,
//! idempotent under retry, signed as a spend authorization, then captured, released or left to
//! expire.
//!
//! Concurrency: an authorization locks the delegations it draws on (on PostgreSQL their rows,
//! on SQLite the database's write lock) before it reads their budgets, so every other
//! authorization (and every revocation) of those delegations waits for its transaction to end
//! and the budget it reads cannot move under it. Delegations do not wait for each other on
//! PostgreSQL. Authorizations on a principal's own delegation are committed in groups
//! (`group`); a sub-agent's locks its chain, the principal's delegation first, alone.

use agentid_sdk::verify::VerifiedSpendRequest;
use agentid_spec::authorization::{credential_hash, SpendAuthorization, SpendSubject};
use agentid_spec::credential::DelegationCredential;
use agentid_spec::credential::{CREDENTIAL_CTY, CREDENTIAL_TYP};
use agentid_spec::jose::{b64u, b64u_decode, sign_compact, JoseHeader};
use agentid_spec::time::{format_rfc3339, Timestamp};
use sha2::{Digest, Sha256};

use crate::{Error, Principal, Wallet};
use agentid_store::statement::{Bind, Param, Statement};

pub(crate) mod decide;
pub(crate) mod group;
#[cfg(test)]
mod vectors;

use decide::{standing, within_limits, Used};

/// Longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

pub use agentid_spec::api::{Budget, Hold, HoldState, PeriodBudget};

/// A hold's state as stored; an unsettled hold past its expiry reads as `expired`, a pending one
/// past its deadline as `approval_expired`.
fn stored_state(s: &str, expires_at: i64, now: i64) -> HoldState {
    match s {
        "captured" => HoldState::Captured,
        "released" => HoldState::Released,
        "denied" => HoldState::Denied,
        // Swept past their expiry by an authorization (section 11.2, running counters).
        "expired" => HoldState::Expired,
        "approval_expired" => HoldState::ApprovalExpired,
        "pending" if expires_at <= now => HoldState::ApprovalExpired,
        "pending" => HoldState::Pending,
        _ if expires_at <= now => HoldState::Expired,
        _ => HoldState::Held,
    }
}

/// What [`Wallet::authorize`] answers: the hold, and whether it was taken by an earlier
/// identical request (a retry).
#[derive(Clone, Debug)]
pub struct Authorized {
    /// The hold.
    pub hold: Hold,
    /// True when an earlier identical request took it.
    pub replayed: bool,
}

/// A hold as stored: the columns of [`HOLD_SELECT`], read by name.
#[derive(Clone, Debug)]
struct HoldRow {
    id: String,
    delegation: String,
    merchant: String,
    nonce: String,
    amount: i64,
    currency: String,
    state: String,
    created_at: i64,
    expires_at: i64,
    /// The signed authorization (`""`: none yet, a step-up waiting).
    authorization: String,
}

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for HoldRow {
    fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            delegation: row.try_get("delegation_id")?,
            merchant: row.try_get("merchant")?,
            nonce: row.try_get("nonce")?,
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
            state: row.try_get("state")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            authorization: row.try_get("auth_jws")?,
        })
    }
}

const HOLD_SELECT: &str = "SELECT id, delegation_id, merchant, nonce, amount, currency, state, \
                           created_at, expires_at, auth_jws FROM wallet_holds";

fn hold_of(r: HoldRow, now: i64) -> Hold {
    Hold {
        hold: r.id,
        delegation: r.delegation,
        merchant: r.merchant,
        nonce: r.nonce,
        amount: r.amount.max(0) as u64,
        currency: r.currency,
        state: stored_state(&r.state, r.expires_at, now),
        created_at: format_rfc3339(r.created_at),
        expires_at: format_rfc3339(r.expires_at),
        authorization: (!r.authorization.is_empty()).then_some(r.authorization),
    }
}

/// The request's identity for idempotency: everything that decides the hold.
fn request_hash(req: &VerifiedSpendRequest) -> String {
    let t = &req.transaction();
    let canonical = serde_json::json!([
        req.delegation(),
        req.delegation_hash(),
        req.merchant().as_str(),
        req.nonce().as_str(),
        t.amount.get(),
        t.currency.as_str(),
        t.order_hash.as_str(),
        t.category.as_ref().map(|c| c.as_str()),
    ]);
    b64u(&Sha256::digest(canonical.to_string().as_bytes()))
}

/// How a retry finds the hold of its first request: the delegation and the `Idempotency-Key`,
/// or without one the request's hash (as migration 1008 computes it for older holds).
fn retry_key(delegation: &str, idempotency_key: Option<&str>, request_hash: &str) -> String {
    match idempotency_key {
        Some(k) => format!("{delegation} k {k}"),
        None => format!("{delegation} h {request_hash}"),
    }
}

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn valid_idempotency_key(key: &str) -> bool {
    (1..=MAX_IDEMPOTENCY_KEY_BYTES).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The delegation credential the wallet signed, read back from its own store.
/// A hold's authorization signed before its hold was decided ([`Wallet::presign`]).
#[derive(Clone)]
pub(crate) struct Presigned {
    /// The hold's id.
    pub(crate) id: String,
    /// When it was signed: the hold's creation time.
    pub(crate) at: i64,
    /// When the hold expires.
    pub(crate) expires: i64,
    /// The signed authorization.
    pub(crate) jws: String,
}

/// A new hold's id: time-ordered (UUIDv7), so a hold's row lands at the end of the id index,
/// not on a random page of it, and a group commit writes few of its pages.
fn new_hold_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What a hold's authorization says of the spend `req`.
fn spend_subject(req: &VerifiedSpendRequest) -> SpendSubject {
    SpendSubject {
        id: req.agent().clone(),
        principal: req.principal().clone(),
        delegation: req.delegation().to_owned(),
        delegation_hash: req.delegation_hash().to_owned(),
        merchant: req.merchant().clone(),
        nonce: req.nonce().clone(),
        transaction: req.transaction().clone(),
    }
}

pub(crate) fn stored_credential(jws: &str) -> Result<DelegationCredential, Error> {
    let payload = jws
        .split('.')
        .nth(1)
        .and_then(b64u_decode)
        .ok_or_else(|| Error::Internal("stored credential is not a JWS".into()))?;
    serde_json::from_slice(&payload).map_err(|e| Error::Internal(format!("stored credential: {e}")))
}

/// How an earlier identical request is found: by its `Idempotency-Key`, or without one by the
/// request's hash.
#[derive(Clone, Copy)]
enum Earlier<'a> {
    Key(&'a str),
    Request(&'a str),
}

/// A ledger sum as stored (BIGINT), as an amount.
/// The statement summing a delegation's live held and captured amounts (`$1` the delegation,
/// `$2` now, `$3` the start of its period), with `extra` columns. BIGINT sums of amounts of at
/// most 10^15, so an overflow is a database error, never a wrong sum. Holds charged from below
/// exist only under a delegation with sub-delegations; the others keep the one-index query (the
/// two halves of the union each use an index; an OR across them would not, on PostgreSQL).
fn sums_sql(has_links: bool, extra: &str) -> String {
    const SUMS: &str = "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'captured' THEN 0 ELSE amount END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN state = 'captured' THEN amount ELSE 0 END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN created_at >= $3 THEN amount ELSE 0 END), 0) AS BIGINT)";
    const LIVE: &str = "(state = 'captured' OR (state IN ('held', 'pending') AND expires_at > $2))";
    if has_links {
        format!(
            "{SUMS}{extra} FROM (SELECT amount, state, created_at, expires_at FROM wallet_holds \
             WHERE delegation_id = $1 \
             UNION ALL \
             SELECT h.amount, h.state, h.created_at, h.expires_at FROM wallet_hold_charges c \
             JOIN wallet_holds h ON h.id = c.hold_id WHERE c.delegation_id = $1) x WHERE {LIVE}"
        )
    } else {
        format!("{SUMS}{extra} FROM wallet_holds WHERE delegation_id = $1 AND {LIVE}")
    }
}

/// Takes a hold of `amount` created at `created`, just released or denied, out of its
/// delegation's running counters (migration 1009, when it has them), in the caller's transaction, which holds the
/// delegation's lock.
async fn give_back(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    delegation: &str,
    amount: i64,
    created: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE wallet_spend_counters SET spent = spent - $1, \
         period_spent = period_spent - CASE WHEN counted_period <= $2 THEN $1 ELSE 0 END \
         WHERE delegation_id = $3",
    )
    .bind(amount)
    .bind(created)
    .bind(delegation)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A hold to insert.
struct NewHold {
    id: String,
    delegation: String,
    merchant: String,
    nonce: String,
    amount: u64,
    currency: String,
    request_hash: String,
    idempotency_key: Option<String>,
    jws: String,
    state: &'static str,
    created: i64,
    expires: i64,
    subject: Option<String>,
}

/// Columns of a [`NewHold`], in its insert's order.
const NEW_HOLD_COLUMNS: usize = 14;

/// Inserts `rows` in one statement (at most [`group::MAX_GROUP`] of them).
async fn insert_holds(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[NewHold],
    sqlite: bool,
) -> Result<(), Error> {
    let keys = retry_keys(rows);
    let (sql, params) = holds_insert(rows, &keys, sqlite)?;
    bound(&sql, sqlx::query(sql.sql()), &params)?
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The retry key of each of `rows`.
fn retry_keys(rows: &[NewHold]) -> Vec<String> {
    rows.iter()
        .map(|r| retry_key(&r.delegation, r.idempotency_key.as_deref(), &r.request_hash))
        .collect()
}

/// The statement inserting `rows` (with their retry keys, `keys`), and its parameters.
fn holds_insert<'a>(
    rows: &'a [NewHold],
    keys: &'a [String],
    sqlite: bool,
) -> Result<(Statement, Vec<Param<'a>>), Error> {
    let values: Vec<String> = (0..rows.len())
        .map(|r| {
            let first = r * NEW_HOLD_COLUMNS + 1;
            let params: Vec<String> = (first..first + NEW_HOLD_COLUMNS)
                .map(|i| format!("${i}"))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO wallet_holds (id, delegation_id, merchant, nonce, amount, currency, \
         request_hash, idempotency_key, auth_jws, state, created_at, expires_at, subject, \
         retry_key) VALUES {}",
        values.join(", ")
    );
    let mut params: Vec<Param> = Vec::with_capacity(rows.len() * NEW_HOLD_COLUMNS);
    for (r, key) in rows.iter().zip(keys) {
        let amount = i64::try_from(r.amount)
            .map_err(|_| Error::Internal("amount out of the ledger's range".into()))?;
        params.extend([
            Param::Text(&r.id),
            Param::Text(&r.delegation),
            Param::Text(&r.merchant),
            Param::Text(&r.nonce),
            Param::Int(amount),
            Param::Text(&r.currency),
            Param::Text(&r.request_hash),
            Param::MaybeText(r.idempotency_key.as_deref()),
            Param::Text(&r.jws),
            Param::Text(r.state),
            Param::Int(r.created),
            Param::Int(r.expires),
            Param::MaybeText(r.subject.as_deref()),
            Param::Text(key),
        ]);
    }
    Ok((statement(sql, sqlite)?, params))
}

/// `sql` (portable SQL, numbered parameters) as this database takes it (see
/// [`Statement`]).
pub(crate) fn statement(sql: String, sqlite: bool) -> Result<Statement, Error> {
    Statement::new(sql, sqlite).map_err(|e| Error::Internal(format!("statement: {e}")))
}

/// `query`, made from `sql`, with `params` bound.
pub(crate) fn bound<'q, B: Bind<'q>>(
    sql: &Statement,
    query: B,
    params: &[Param<'q>],
) -> Result<B, Error> {
    sql.bind(query, params)
        .ok_or_else(|| Error::Internal("a statement names a parameter it is not given".into()))
}

impl Wallet {
    /// Holds `req`'s amount against its delegation's budget and signs the spend authorization
    /// for it; the caller has verified `req` (signatures, scope, per-transaction limit, status).
    /// The same request again (the same `idempotency_key`, or without one the same merchant and
    /// nonce) answers the same hold; a different request under either is refused.
    pub async fn authorize(
        &self,
        req: VerifiedSpendRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Authorized, Error> {
        if idempotency_key.is_some_and(|k| !valid_idempotency_key(k)) {
            return Err(Error::InvalidRequest(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        self.check_witness()?;
        let hash = request_hash(&req);
        let done = if group::alone(&req) {
            self.authorize_in_group(req, idempotency_key, hash).await?
        } else {
            self.authorize_chain(&req, idempotency_key, hash).await?
        };
        // A retry of a purchase the principal refused, or did not approve in time, is answered
        // with that outcome, never as a hold granted.
        match done.hold.state {
            HoldState::Denied if done.replayed => Err(Error::ApprovalDenied),
            HoldState::ApprovalExpired if done.replayed => Err(Error::ApprovalExpired),
            _ => Ok(done),
        }
    }

    /// [`Wallet::authorize`] for a sub-agent: in a transaction of its own, which locks every
    /// delegation of the chain, the principal's first.
    async fn authorize_chain(
        &self,
        req: &VerifiedSpendRequest,
        idempotency_key: Option<&str>,
        hash: String,
    ) -> Result<Authorized, Error> {
        let now = self.0.clock.now();
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // First statements: the locks of every delegation of the chain, the principal's first
        // (see the module docs); always in that order, so two chains sharing a top never wait
        // for each other in a cycle.
        let chain: Vec<(&str, &str)> = if req.chain().is_empty() {
            vec![(req.delegation(), req.delegation_hash())]
        } else {
            req.chain()
                .iter()
                .map(|(id, hash)| (id.as_str(), hash.as_str()))
                .collect()
        };
        let mut links = Vec::with_capacity(chain.len());
        for (i, (id, hash)) in chain.iter().enumerate() {
            // The lock and the read in one statement.
            type Locked = (
                String,
                Option<i64>,
                Option<String>,
                Option<i64>,
                Option<String>,
                i64,
            );
            let row: Option<Locked> = sqlx::query_as(
                "UPDATE wallet_delegations SET ledger_version = ledger_version + 1 WHERE id = $1 \
                 RETURNING credential, revoked_at, \
                 (SELECT p.did FROM wallet_principals p WHERE p.id = wallet_delegations.principal_id), \
                 suspended_at, parent_id, has_links",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let (credential_jws, revoked_at, principal_did, suspended_at, parent, has_links) =
                row.ok_or(Error::NotFound("no such delegation"))?;
            // Each credential presented must be the very one this wallet issued (or registered)
            // for this principal, below the one before it.
            let parent_ok = match i {
                0 => parent.is_none(),
                _ => parent.as_deref() == Some(chain[i - 1].0),
            };
            if principal_did.as_deref() != Some(req.principal().as_str())
                || credential_jws.is_empty()
                || credential_hash(&credential_jws) != *hash
                || !parent_ok
            {
                return Err(Error::Forbidden("not a delegation this wallet issued"));
            }
            let principal = req.principal().as_str();
            let revoked = self.revoked(id, principal, revoked_at.is_some());
            let suspended = self.suspended(id, principal, suspended_at.is_some());
            links.push((credential_jws, revoked, suspended, has_links != 0));
        }

        // A retry answers what the first request got: the same Idempotency-Key, or without
        // one the same request (merchant, nonce, transaction) still held or settled. Looked up
        // in the same statement that sums the presenting agent's own delegation.
        let leaf = chain.len() - 1;
        let leaf_credential = stored_credential(&links[leaf].0)?;
        let leaf_period = leaf_credential
            .credential_subject
            .spending_limit
            .per_period()
            .map(|p| p.period.bounds(now).0);
        let (earlier_id, leaf_spent) = self
            .spent_since_with_earlier(
                &mut *tx,
                req.delegation(),
                links[leaf].3,
                now,
                leaf_period,
                idempotency_key.map_or(Earlier::Request(&hash), Earlier::Key),
            )
            .await?;
        let earlier: Option<(HoldRow, String)> = match earlier_id {
            None => None,
            Some(id) => Some((
                sqlx::query_as::<_, HoldRow>(&format!("{HOLD_SELECT} WHERE id = $1"))
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?,
                String::new(),
            )),
        };
        if let Some((row, _)) = earlier {
            let (stored_hash,): (String,) =
                sqlx::query_as("SELECT request_hash FROM wallet_holds WHERE id = $1")
                    .bind(&row.id)
                    .fetch_one(&mut *tx)
                    .await?;
            tx.rollback().await?;
            if stored_hash != hash {
                return Err(Error::IdempotencyKeyReused);
            }
            return Ok(Authorized {
                hold: hold_of(row, now),
                replayed: true,
            });
        }

        standing(links.iter().any(|l| l.1), links.iter().any(|l| l.2))?;
        let t = &req.transaction();
        // Every budget of the chain, the principal's first: a sub-agent's spend counts against
        // each delegation above it.
        let mut pending = false;
        for (i, ((id, _), (jws, _, _, has_links))) in chain.iter().zip(&links).enumerate() {
            let credential = if i == leaf {
                leaf_credential.clone()
            } else {
                stored_credential(jws)?
            };
            let limit = &credential.credential_subject.spending_limit;
            let spent = if i == leaf {
                leaf_spent
            } else {
                let period_start = limit.per_period().map(|p| p.period.bounds(now).0);
                self.spent_since(&mut *tx, id, *has_links, now, period_start)
                    .await?
            };
            pending |= within_limits(limit, t, spent)?;
        }

        let (row, hold) = self.new_hold(req, idempotency_key, &hash, pending, now, None)?;
        insert_holds(
            &mut tx,
            std::slice::from_ref(&row),
            !self.0.db.is_postgres(),
        )
        .await?;
        for (ancestor, _) in &chain[..chain.len() - 1] {
            sqlx::query("INSERT INTO wallet_hold_charges (delegation_id, hold_id) VALUES ($1, $2)")
                .bind(ancestor)
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(hold = %row.id, delegation = %req.delegation(), amount = row.amount, state = row.state, "spend held");
        Ok(Authorized {
            hold,
            replayed: false,
        })
    }

    /// A new hold for `req`, as stored and as answered: held with a signed authorization, or
    /// pending the principal's approval (step-up: the amount is reserved meanwhile and nothing
    /// is signed yet).
    ///
    /// `signed`, an authorization of this very request signed beforehand ([`Wallet::presign`]),
    /// is taken as it is for a held one: its id, its time (`now` is ignored) and its signature.
    fn new_hold(
        &self,
        req: &VerifiedSpendRequest,
        idempotency_key: Option<&str>,
        hash: &str,
        pending: bool,
        now: i64,
        signed: Option<Presigned>,
    ) -> Result<(NewHold, Hold), Error> {
        let t = &req.transaction();
        // A pending hold keeps the subject to sign on approval; a held one has it in its
        // authorization (and the row stays small enough to be stored inline).
        let (id, now, state, expires, jws, subject) = match (pending, signed) {
            (true, _) => {
                let deadline = now.saturating_add(self.0.config.approval_secs);
                let subject = serde_json::to_string(&spend_subject(req))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                (
                    new_hold_id(),
                    now,
                    "pending",
                    deadline,
                    String::new(),
                    Some(subject),
                )
            }
            (false, Some(s)) => (s.id, s.at, "held", s.expires, s.jws, None),
            (false, None) => {
                let s = self.presign(req, now)?;
                (s.id, s.at, "held", s.expires, s.jws, None)
            }
        };
        let hold = Hold {
            hold: id.clone(),
            delegation: req.delegation().to_owned(),
            merchant: req.merchant().to_string(),
            nonce: req.nonce().as_str().to_owned(),
            amount: t.amount.get(),
            currency: t.currency.to_string(),
            state: if pending {
                HoldState::Pending
            } else {
                HoldState::Held
            },
            created_at: format_rfc3339(now),
            expires_at: format_rfc3339(expires),
            authorization: (!jws.is_empty()).then(|| jws.clone()),
        };
        let row = NewHold {
            id,
            delegation: req.delegation().to_owned(),
            merchant: req.merchant().to_string(),
            nonce: req.nonce().as_str().to_owned(),
            amount: t.amount.get(),
            currency: t.currency.to_string(),
            request_hash: hash.to_owned(),
            idempotency_key: idempotency_key.map(str::to_owned),
            jws,
            state,
            created: now,
            expires,
            subject,
        };
        Ok((row, hold))
    }

    /// Signs the authorization `req` would get as a hold taken at `now` (a new hold id, valid
    /// for the wallet's hold time), before anything is decided: a group signs nothing while
    /// every authorization waits behind it (spec 11.2, "Group commit"). Used only if the hold is
    /// granted, as it is.
    pub(crate) fn presign(&self, req: &VerifiedSpendRequest, now: i64) -> Result<Presigned, Error> {
        let id = new_hold_id();
        let expires = now.saturating_add(self.0.config.hold_secs);
        let jws = self.sign_authorization(&id, spend_subject(req), now, expires)?;
        Ok(Presigned {
            id,
            at: now,
            expires,
            jws,
        })
    }

    /// Signs the authorization of hold `id` for `subject`, valid from `now` until `expires`.
    fn sign_authorization(
        &self,
        id: &str,
        subject: SpendSubject,
        now: i64,
        expires: i64,
    ) -> Result<String, Error> {
        let time = |t: i64| {
            Timestamp::from_unix(t).ok_or_else(|| Error::Internal("clock out of range".into()))
        };
        let authorization =
            SpendAuthorization::new(id, self.0.did.clone(), time(now)?, time(expires)?, subject);
        let (kid, key) = self.signing_key()?;
        let payload =
            serde_json::to_vec(&authorization).map_err(|e| Error::Internal(e.to_string()))?;
        // Signed with dalek through the spec's JWS profile, not josekit: authorizations are the
        // ledger's hot path, and OpenSSL 3 looks up its algorithm providers (under global locks)
        // on every josekit signature. The bytes are the same standard compact JWS, checked by
        // the `jose` and `jwcrypto` interop test.
        let header = JoseHeader::eddsa(CREDENTIAL_TYP, Some(CREDENTIAL_CTY), &kid);
        Ok(sign_compact(&header, &payload, key.signing_key()))
    }

    /// The hold `id`, as its agent polls it: a decided step-up answers with its code.
    pub async fn hold(&self, id: &str) -> Result<Hold, Error> {
        let row: Option<HoldRow> = sqlx::query_as(&format!("{HOLD_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await?;
        let hold = hold_of(
            row.ok_or(Error::NotFound("no such hold"))?,
            self.0.clock.now(),
        );
        match hold.state {
            HoldState::Denied => Err(Error::ApprovalDenied),
            HoldState::ApprovalExpired => Err(Error::ApprovalExpired),
            _ => Ok(hold),
        }
    }

    /// The principal's purchases waiting for approval, oldest first.
    pub async fn approvals(&self, p: &Principal) -> Result<Vec<Hold>, Error> {
        let now = self.0.clock.now();
        let rows: Vec<HoldRow> = sqlx::query_as(
            "SELECT h.id, h.delegation_id, h.merchant, h.nonce, h.amount, h.currency, h.state, \
             h.created_at, h.expires_at, h.auth_jws FROM wallet_holds h \
             JOIN wallet_delegations d ON d.id = h.delegation_id \
             WHERE d.principal_id = $1 AND h.state = 'pending' AND h.expires_at > $2 \
             ORDER BY h.created_at, h.id LIMIT $3",
        )
        .bind(&p.id)
        .bind(now)
        .bind(crate::MAX_LIST)
        .fetch_all(&self.0.pool)
        .await?;
        Ok(rows.into_iter().map(|r| hold_of(r, now)).collect())
    }

    /// The principal approves (`true`) or denies the purchase waiting as hold `id`. Approval
    /// signs a one-time authorization for that transaction only, and the hold lasts the usual
    /// hold lifetime from now.
    pub async fn decide(&self, p: &Principal, id: &str, approve: bool) -> Result<Hold, Error> {
        let now = self.0.clock.now();
        let found: Option<(String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT h.delegation_id, h.state, h.expires_at, h.subject FROM wallet_holds h \
             JOIN wallet_delegations d ON d.id = h.delegation_id \
             WHERE h.id = $1 AND d.principal_id = $2",
        )
        .bind(id)
        .bind(&p.id)
        .fetch_optional(&self.0.pool)
        .await?;
        let (delegation, _, _, _) = found.ok_or(Error::NotFound("no such approval"))?;
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // The delegation's lock first, as an authorization takes it.
        sqlx::query(
            "UPDATE wallet_delegations SET ledger_version = ledger_version + 1 WHERE id = $1",
        )
        .bind(&delegation)
        .execute(&mut *tx)
        .await?;
        type Pending = (String, i64, Option<String>, Option<i64>, Option<i64>);
        let (state, deadline, subject, revoked, suspended): Pending = sqlx::query_as(
                "SELECT h.state, h.expires_at, h.subject, d.revoked_at, d.suspended_at FROM wallet_holds h \
                 JOIN wallet_delegations d ON d.id = h.delegation_id WHERE h.id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        match stored_state(&state, deadline, now) {
            HoldState::Pending => {}
            HoldState::ApprovalExpired => return Err(Error::ApprovalExpired),
            _ => return Err(Error::NotPending),
        }
        // The delegations above it (a sub-agent's purchase) must be live too.
        let above: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT d.id, d.revoked_at, d.suspended_at FROM wallet_hold_charges c \
             JOIN wallet_delegations d ON d.id = c.delegation_id WHERE c.hold_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        self.check_witness()?;
        let revoked = self.revoked(&delegation, &p.did, revoked.is_some())
            || above
                .iter()
                .any(|a| self.revoked(&a.0, &p.did, a.1.is_some()));
        let suspended = self.suspended(&delegation, &p.did, suspended.is_some())
            || above
                .iter()
                .any(|a| self.suspended(&a.0, &p.did, a.2.is_some()));
        if approve {
            standing(revoked, suspended)?;
        }
        if approve {
            let subject: SpendSubject = serde_json::from_str(subject.as_deref().unwrap_or(""))
                .map_err(|e| Error::Internal(format!("stored subject: {e}")))?;
            // Only the principal the authorization names approves it: a verifier accepts the
            // authorization only with a chain whose first credential that principal signed, so
            // a delegation's owner rewritten in the database gets nobody's approval signed.
            if subject.principal.as_str() != p.did {
                tracing::error!(
                    hold = id,
                    principal = %p.id,
                    "a waiting purchase names another principal than the delegation's stored \
                     owner: the database was altered; the approval is refused"
                );
                return Err(Error::NotFound("no such approval"));
            }
            let expires = now.saturating_add(self.0.config.hold_secs);
            let jws = self.sign_authorization(id, subject, now, expires)?;
            sqlx::query(
                "UPDATE wallet_holds SET state = 'held', auth_jws = $1, expires_at = $2 WHERE id = $3",
            )
            .bind(&jws)
            .bind(expires)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("UPDATE wallet_holds SET state = 'denied', settled_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let row: HoldRow = sqlx::query_as(&format!("{HOLD_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if !approve {
            give_back(&mut tx, &row.delegation, row.amount, row.created_at).await?;
        }
        tx.commit().await?;
        tracing::info!(hold = %id, approve, "step-up decided");
        Ok(hold_of(row, now))
    }

    /// Held (live) and captured sums of a delegation's holds (its own and those charged to it
    /// from below), and the sum of both taken since `period_start`, in one statement.
    async fn spent_since<'c, E>(
        &self,
        db: E,
        delegation: &str,
        has_links: bool,
        now: i64,
        period_start: Option<i64>,
    ) -> Result<Used, Error>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        let sql = sums_sql(has_links, "");
        let (held, captured, in_period): (i64, i64, i64) = sqlx::query_as(&sql)
            .bind(delegation)
            .bind(now)
            .bind(period_start.unwrap_or(i64::MAX))
            .fetch_one(db)
            .await?;
        Used::from_sums(held, captured, in_period)
    }

    /// [`Wallet::spent_since`], and in the same statement the hold an earlier identical
    /// request took under this delegation, if any.
    async fn spent_since_with_earlier<'c, E>(
        &self,
        db: E,
        delegation: &str,
        has_links: bool,
        now: i64,
        period_start: Option<i64>,
        earlier: Earlier<'_>,
    ) -> Result<(Option<String>, Used), Error>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        let key = match earlier {
            Earlier::Key(k) => retry_key(delegation, Some(k), ""),
            Earlier::Request(h) => retry_key(delegation, None, h),
        };
        let sql = sums_sql(
            has_links,
            ", (SELECT id FROM wallet_holds WHERE retry_key = $4 LIMIT 1)",
        );
        let (held, captured, in_period, id): (i64, i64, i64, Option<String>) = sqlx::query_as(&sql)
            .bind(delegation)
            .bind(now)
            .bind(period_start.unwrap_or(i64::MAX))
            .bind(key)
            .fetch_one(db)
            .await?;
        Ok((id, Used::from_sums(held, captured, in_period)?))
    }

    /// Captures or releases hold `id` for `merchant`, who proved it signed the instruction.
    /// Idempotent: the same action on a hold already in that state answers it unchanged.
    pub async fn settle(
        &self,
        id: &str,
        merchant: &str,
        action: agentid_spec::authorization::SettleAction,
    ) -> Result<Hold, Error> {
        use agentid_spec::authorization::SettleAction;
        let now = self.0.clock.now();
        let target = action
            .as_str()
            .replace("capture", "captured")
            .replace("release", "released");
        let _turn = self.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // The delegation's lock first, as an authorization takes it (which may sweep this hold).
        sqlx::query(
            "UPDATE wallet_delegations SET ledger_version = ledger_version + 1 \
             WHERE id = (SELECT delegation_id FROM wallet_holds WHERE id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let changed: Option<(String, i64, i64)> = sqlx::query_as(
            "UPDATE wallet_holds SET state = $1, settled_at = $2 \
             WHERE id = $3 AND merchant = $4 AND state = 'held' AND expires_at > $2 \
             RETURNING delegation_id, amount, created_at",
        )
        .bind(&target)
        .bind(now)
        .bind(id)
        .bind(merchant)
        .fetch_optional(&mut *tx)
        .await?;
        if let (Some((delegation, amount, created)), SettleAction::Release) = (&changed, action) {
            give_back(&mut tx, delegation, *amount, *created).await?;
        }
        let row: Option<HoldRow> = sqlx::query_as(&format!("{HOLD_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        let row = row.ok_or(Error::NotFound("no such hold"))?;
        if row.merchant != merchant {
            // Another merchant's hold is as absent as a missing one.
            return Err(Error::NotFound("no such hold"));
        }
        let hold = hold_of(row, now);
        if changed.is_some() {
            tracing::info!(hold = %id, action = action.as_str(), "hold settled");
            return Ok(hold);
        }
        match (hold.state, action) {
            (HoldState::Captured, SettleAction::Capture)
            | (HoldState::Released, SettleAction::Release) => Ok(hold),
            (HoldState::Expired, _) => Err(Error::HoldExpired),
            (HoldState::Pending, _) => Err(Error::Conflict(
                "the hold waits for the principal's approval",
            )),
            (HoldState::Denied, _) => Err(Error::ApprovalDenied),
            (HoldState::ApprovalExpired, _) => Err(Error::ApprovalExpired),
            _ => Err(Error::HoldSettled),
        }
    }

    /// The budget of the principal's delegation `id`.
    pub async fn budget(&self, p: &Principal, id: &str) -> Result<Budget, Error> {
        let (jws, has_links): (String, i64) = sqlx::query_as(
            "SELECT credential, has_links FROM wallet_delegations WHERE id = $1 AND principal_id = $2",
        )
        .bind(id)
        .bind(&p.id)
        .fetch_optional(&self.0.pool)
        .await?
        .ok_or(Error::NotFound("no such delegation"))?;
        let limit = stored_credential(&jws)?.credential_subject.spending_limit;
        let now = self.0.clock.now();
        // The same sums an authorization reads, in one statement.
        let period_start = limit.per_period().map(|p| p.period.bounds(now).0);
        let Used {
            held,
            captured,
            in_period,
        } = self
            .spent_since(&self.0.pool, id, has_links != 0, now, period_start)
            .await?;
        let total = limit.total().get();
        let remaining = total.saturating_sub(held.saturating_add(captured));
        let period = match limit.per_period() {
            None => None,
            Some(p) => {
                let (_, next) = p.period.bounds(now);
                let used = in_period;
                Some(PeriodBudget {
                    period: p.period.as_str().to_owned(),
                    amount: p.amount.get(),
                    used,
                    remaining: p.amount.get().saturating_sub(used).min(remaining),
                    resets_at: format_rfc3339(next),
                })
            }
        };
        Ok(Budget {
            currency: limit.currency().to_string(),
            per_transaction: limit.per_transaction().get(),
            total,
            held,
            captured,
            remaining,
            period,
        })
    }

    /// The holds on the principal's delegation `id` and on every sub-delegation below it,
    /// newest first, at most
    /// [`MAX_LIST`](crate::MAX_LIST).
    pub async fn holds(&self, p: &Principal, id: &str) -> Result<Vec<Hold>, Error> {
        self.delegation(p, id).await?;
        let rows: Vec<HoldRow> = sqlx::query_as(&format!(
            "{HOLD_SELECT} WHERE delegation_id = $1 \
             OR id IN (SELECT hold_id FROM wallet_hold_charges WHERE delegation_id = $1) \
             ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(id)
        .bind(crate::MAX_LIST)
        .fetch_all(&self.0.pool)
        .await?;
        let now = self.0.clock.now();
        Ok(rows.into_iter().map(|r| hold_of(r, now)).collect())
    }
}
