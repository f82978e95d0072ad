//! # agentid-wallet
//!
//! The credential wallet, as a domain library. A principal (a person) gets an account with an
//! Ed25519 key and a `did:key`; the key is sealed at rest ([`vault`]) under a master key kept
//! outside the database. The principal authenticates with a bearer token shown once ([`auth`]).
//! With it they issue delegation credentials (VC 2.0 as `vc+jwt`, signed with josekit) to their
//! agents, list them and revoke them. Each principal's credentials point into a W3C Bitstring
//! Status List that the wallet signs with the principal's key.
//!
//! The wallet owns its tables ([`MIGRATIONS`]) and is handed a connected pool; it knows nothing
//! of HTTP. `agentid-server` puts it on the wire. Every change that a verifier may have cached
//! (a revocation) moves [`Wallet::generation`].
//!
//! The wallet has an identity of its own, a `did:web` of its public URL (`identity`), and
//! vouches for its principals and their budgets by signing spend authorizations: holds against
//! a delegation's total, taken atomically and idempotently ([`ledger`]).
//!
//! Budgets hold per transaction, per calendar period (day, week or month, UTC) and in total.
//!
//! An agent may pass a narrower part of its delegation to a sub-agent (`subdelegations`); a
//! sub-agent's spends count against every budget above it, and revoking a link revokes
//! everything below it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use agentid_sdk::keys::KeyPair;
use agentid_spec::clock::Clock;
use agentid_spec::id::{did_web_for_url, Did};
use sqlx::AnyPool;

pub mod auth;
mod delegations;
mod error;
mod identity;
pub mod ledger;
mod principals;
mod status;
mod subdelegations;
pub mod vault;

pub use delegations::{DelegationRecord, DelegationTerms, IssuedDelegation};
pub use error::Error;
pub use ledger::{Authorized, Budget, Hold, HoldState, PeriodBudget};
pub use principals::{NewPrincipal, Principal};
pub use subdelegations::{PreparedLink, MAX_UNSIGNED_LINKS};

/// The wallet's migrations, `(version, description, SQL)`, versions 1000-1999. Portable SQL:
/// they run unchanged on SQLite and PostgreSQL.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1001,
        "wallet",
        include_str!("../migrations/0001_wallet.sql"),
    ),
    (
        1002,
        "ledger",
        include_str!("../migrations/0002_ledger.sql"),
    ),
    (
        1003,
        "approvals",
        include_str!("../migrations/0003_approvals.sql"),
    ),
    (
        1004,
        "suspension",
        include_str!("../migrations/0004_suspension.sql"),
    ),
    (
        1005,
        "key actor",
        include_str!("../migrations/0005_key_actor.sql"),
    ),
    (
        1006,
        "chains",
        include_str!("../migrations/0006_chains.sql"),
    ),
    (
        1007,
        "key retirement",
        include_str!("../migrations/0007_key_retirement.sql"),
    ),
    (
        1008,
        "retry key",
        include_str!("../migrations/0008_retry_key.sql"),
    ),
    (
        1009,
        "spend counters",
        include_str!("../migrations/0009_spend_counters.sql"),
    ),
];

/// Longest revocation reason kept, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Most delegations one list returns.
pub const MAX_LIST: i64 = 1000;

/// Wallet settings.
#[derive(Clone, Debug)]
pub struct WalletConfig {
    /// The base URL clients reach this service at; status list URLs are built from it.
    pub public_url: String,
    /// Entries per status list. At least the specification's 131,072.
    pub status_list_bits: usize,
    /// Longest validity period a delegation may have, in seconds. Default 366 days.
    pub max_delegation_secs: i64,
    /// How long a hold lasts unless captured, in seconds. Default 900.
    pub hold_secs: i64,
    /// How long a purchase waits for the principal's approval, in seconds. Default 600.
    pub approval_secs: i64,
}

impl WalletConfig {
    /// Defaults for a service reachable at `public_url`.
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            status_list_bits: agentid_spec::status_list::MIN_BITS,
            max_delegation_secs: 366 * 24 * 3600,
            hold_secs: 900,
            approval_secs: 600,
        }
    }
}

/// A signed status list kept for serving: the `vc+jwt`, when it was signed, and the generation
/// it was built at.
type SignedList = (Arc<str>, i64, u64);

/// A revocation's reason: at most [`MAX_REASON_BYTES`], without NUL (`invalid_reason`).
pub fn check_reason(reason: Option<&str>) -> Result<(), Error> {
    if reason.is_some_and(|r| r.len() > MAX_REASON_BYTES || r.contains('\0')) {
        return Err(Error::InvalidReason);
    }
    Ok(())
}

/// What the service's log records of the wallet's revocations and key retirements, read over
/// the wallet's own rows: a decision recorded there stands whatever the database says (a column
/// cleared behind the service's back revokes or retires nothing back).
pub trait Witness: Send + Sync {
    /// Whether every entry of the log is the service's own (sealed, in sequence): what it says
    /// of decisions is then all it says. While not, the wallet refuses what depends on them.
    fn trusted(&self) -> bool;
    /// Whether the log records the revocation of credential `id` by its principal `principal`.
    fn revoked(&self, id: &str, principal: &str) -> bool;
    /// The indices of status list `list` whose credentials the log records revoked.
    fn revoked_in_list(&self, list: &str) -> Vec<i64>;
    /// When the log records the retirement of the wallet key whose `publicKeyMultibase` is
    /// `public_key`, if it does.
    fn key_retired(&self, public_key: &str) -> Option<i64>;
    /// Whether the latest suspension decision the log records for credential `id` by its
    /// principal `principal` suspended it.
    fn suspended(&self, id: &str, principal: &str) -> bool;
}

/// The wallet. Cheap to clone.
#[derive(Clone)]
pub struct Wallet(Arc<Inner>);

struct Inner {
    pool: AnyPool,
    vault: vault::Vault,
    /// Principals' tokens at rest.
    tokens: agentid_store::TokenKey,
    config: WalletConfig,
    clock: Arc<dyn Clock>,
    /// list id -> (signed status list credential, signed at, generation it was built at), for
    /// serving; an entry from an older generation is never served.
    signed_lists: RwLock<HashMap<String, SignedList>>,
    /// The database: its backend and, on SQLite, the writer turn shared with every writer of
    /// the file in this process.
    db: agentid_store::Db,
    /// Moves on every change a verifier may have cached.
    generation: AtomicU64,
    /// The wallet's `did:web`.
    did: Did,
    /// The key that signs authorizations, and its verification method id.
    signing_key: RwLock<Option<(String, Arc<KeyPair>)>>,
    /// The queue to the task that commits authorizations in groups, started by the first.
    group: std::sync::OnceLock<ledger::group::Queue>,
    /// The log's record of revocations, if the service keeps one.
    witness: std::sync::OnceLock<Arc<dyn Witness>>,
    /// Credentials whose decision this process is recording (in the log, then in the rows),
    /// with how many such: the row lagging the log there is no alteration.
    deciding: std::sync::Mutex<HashMap<String, u32>>,
}

/// A decision on one credential this process is recording; see [`Wallet::deciding`].
#[must_use = "the decision is in progress only while the guard lives"]
pub struct Deciding {
    wallet: Wallet,
    id: String,
}

impl Drop for Deciding {
    fn drop(&mut self) {
        let mut d = self
            .wallet
            .0
            .deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = d.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                d.remove(&self.id);
            }
        }
    }
}

impl Wallet {
    /// A wallet over a database on which [`MIGRATIONS`] have run, sealing keys with `vault` and
    /// keeping principals' tokens in the form `tokens` makes; its DID is the `did:web` of
    /// `config.public_url`. Call [`Wallet::open_identity`] before it signs anything.
    pub fn new(
        db: agentid_store::Db,
        vault: vault::Vault,
        tokens: agentid_store::TokenKey,
        config: WalletConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let did = did_web_for_url(&config.public_url).ok_or(Error::InvalidRequest(
            "the public URL has no did:web (http(s)://host[:port][/path] expected)",
        ))?;
        Ok(Self(Arc::new(Inner {
            pool: db.pool().clone(),
            db,
            did,
            signing_key: RwLock::new(None),
            group: std::sync::OnceLock::new(),
            witness: std::sync::OnceLock::new(),
            deciding: std::sync::Mutex::new(HashMap::new()),
            vault,
            tokens,
            config,
            clock,
            signed_lists: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        })))
    }

    /// Reads revocations from `witness` over the wallet's rows from now on (once; later calls
    /// change nothing).
    pub fn set_witness(&self, witness: Arc<dyn Witness>) {
        let _ = self.0.witness.set(witness);
    }

    /// Marks a decision on credential `id` (a revocation, a suspension, a reinstatement) as
    /// being recorded by this process, until the guard is dropped: the caller records it in
    /// the log, then in the wallet's rows, and a reader between the two finds the log ahead of
    /// the row, which is then no sign of an alteration.
    pub fn deciding(&self, id: &str) -> Deciding {
        *self
            .0
            .deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_owned())
            .or_default() += 1;
        Deciding {
            wallet: self.clone(),
            id: id.to_owned(),
        }
    }

    /// Refuses what depends on the log's decisions while the log holds entries the service did
    /// not write (a decision there may be missing from what was read).
    pub(crate) fn check_witness(&self) -> Result<(), Error> {
        match self.0.witness.get() {
            Some(w) if !w.trusted() => Err(Error::Internal(
                "the service's log holds entries it did not write: nothing that depends on its \
                 revocations is done until an operator drops them or vouches for them (the \
                 start lists them)"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Whether credential `id`, revoked in its row or not (`stored`), is revoked: the row's word,
    /// or the log's. A revocation the log records and the row lacks is reported: the database
    /// was altered behind the service's back.
    pub(crate) fn revoked(&self, id: &str, principal: &str, stored: bool) -> bool {
        self.row_or_log(id, stored, "revocation", |w| w.revoked(id, principal))
    }

    /// Whether credential `id`, suspended in its row or not (`stored`), is suspended: the row's
    /// word, or the log's latest decision (reported when the row lacks it).
    pub(crate) fn suspended(&self, id: &str, principal: &str, stored: bool) -> bool {
        self.row_or_log(id, stored, "suspension", |w| w.suspended(id, principal))
    }

    /// The row's `stored` word on credential `id`, or else what the log records (`logged`), a
    /// `decision` the row lacks being reported.
    fn row_or_log(
        &self,
        id: &str,
        stored: bool,
        decision: &str,
        logged: impl FnOnce(&dyn Witness) -> bool,
    ) -> bool {
        if stored {
            return true;
        }
        let logged = self.0.witness.get().is_some_and(|w| logged(w.as_ref()));
        let in_progress = || {
            self.0
                .deciding
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(id)
        };
        if logged && !in_progress() {
            tracing::error!(
                credential = id,
                decision,
                "a decision the log records is missing from the database (altered behind the \
                 service's back): it stands"
            );
        }
        logged
    }

    /// The URL of status list `id`.
    pub fn status_list_url(&self, id: &str) -> String {
        format!("{}/v1/status/{id}", self.0.config.public_url)
    }

    /// The id of the status list at `url`, if `url` is one of this wallet's.
    pub fn status_list_id<'a>(&self, url: &'a str) -> Option<&'a str> {
        url.strip_prefix(self.0.config.public_url.as_str())?
            .strip_prefix("/v1/status/")
            .filter(|id| is_list_id(id))
    }

    /// A counter that moves whenever a status list changes (a revocation).
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.0.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A change committed by another process on the same database (from the change feed):
    /// moves the generation, so nothing signed or cached before it is served again.
    pub fn changed_elsewhere(&self) {
        self.changed();
    }

    /// This process's turn to write, on SQLite (see [`agentid_store::Db::write_turn`]).
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.0.db.write_turn().await
    }

    /// Announces a change on the change feed, delivered when `tx` commits (PostgreSQL only).
    async fn notify(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), Error> {
        Ok(self.0.db.notify(tx, "wallet").await?)
    }
}

/// Status list ids are 1 to 64 ASCII letters and digits.
fn is_list_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
