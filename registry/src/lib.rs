//! # agentid-registry
//!
//! The directory of agents, as a domain library. It accepts signed registry operations
//! (`create`, `update`, `deactivate`), derives self-certifying `did:agentid` identifiers from genesis
//! operations, resolves DIDs and agent names to DID Resolution Results, records operator
//! decisions (deplatforming, with a reason and who took it), and keeps a hash-chained log of
//! every operation and decision (spec section 5). Names in [`RESERVED_AS_WRITTEN`] and
//! [`RESERVED_WITH_LOOK_ALIKES`] (with their look-alikes) cannot be registered; a deactivated agent's name is released to the next registration after a grace
//! period ([`Registry::with_name_grace`]).
//!
//! The registry owns its tables ([`MIGRATIONS`]) and is handed a connected pool; it knows
//! nothing of HTTP or of operators' credentials. `agentid-server` puts it on the wire. Every
//! change that a verifier may have cached moves [`Registry::generation`].
//!
//! The log is also an RFC 9162 Merkle tree ([`Registry::log_head`], [`Registry::log_inclusion`],
//! [`Registry::log_consistency`]) whose leaves anyone can recompute from the public entries.
//!
//! Operations on an agent (`update`, recovery, `deactivate`) follow the rules of
//! [`agentid_spec::history`], the same rules a resolver replays.
//!
//! Zones ([`Registry::zone_operation`], spec 5.6) give names owners: a platform claims a zone
//! (a top-level name, or a DNS domain proven through [`TxtLookup`]), binds names in it,
//! delegates sub-zones and moderates the agents named there.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use agentid_spec::clock::Clock;
use agentid_store::Sealer;
use sqlx::AnyPool;

mod agents;
pub mod cache;
pub mod decisions;
mod error;
mod log;
pub mod names;
mod proved;
mod tree;
mod zones;

pub use agents::{Lookup, Registered, Suspend};
pub use decisions::Decision;
pub use error::Error;
pub use names::{
    is_public_suffix, look_alike, never_a_zone, reserved, under_dns_tld, why_reserved,
    RESERVED_AS_WRITTEN, RESERVED_WITH_LOOK_ALIKES,
};
pub use proved::{Unsealed, MAX_DROPPED, MAX_REPORTED};
pub use tree::Inclusion;
pub use zones::{TxtLookup, Zone};

/// The registry's migrations, `(version, description, SQL)`, versions 2000-2999. Portable SQL:
/// they run unchanged on SQLite and PostgreSQL.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        2001,
        "registry",
        include_str!("../migrations/0001_registry.sql"),
    ),
    (
        2002,
        "suspension",
        include_str!("../migrations/0002_suspension.sql"),
    ),
    (2003, "zones", include_str!("../migrations/0003_zones.sql")),
    (
        2004,
        "log by agent",
        include_str!("../migrations/0004_log_by_agent.sql"),
    ),
    (
        2005,
        "log seals",
        include_str!("../migrations/0005_log_seals.sql"),
    ),
];

/// The purpose of the registry's [`Sealer`] (its seals on log entries).
pub const SEAL_PURPOSE: &str = "registry-log";

/// Longest suspension, in seconds: 366 days (longer is deplatforming).
pub const MAX_SUSPENSION_SECS: i64 = 366 * 86_400;

/// Longest operator reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Most log entries one read returns.
pub const MAX_LOG_PAGE: i64 = 1000;

/// The registry. Cheap to clone.
#[derive(Clone)]
pub struct Registry(Arc<Inner>);

struct Inner {
    pool: AnyPool,
    /// Seals every log entry this service writes; an entry without its seal proves nothing.
    sealer: Sealer,
    /// The database: its backend, and on SQLite the writer turn every writer of the file in
    /// this process takes.
    db: agentid_store::Db,
    clock: Arc<dyn Clock>,
    /// Recent resolutions, by DID and by name, for the resolution endpoint.
    resolved: cache::ResolutionCache,
    /// Moves on every change a verifier may have cached.
    generation: AtomicU64,
    /// How long a deactivated agent keeps its name before another may register it, in seconds.
    name_grace_secs: std::sync::atomic::AtomicI64,
    /// The log's Merkle leaves, as far as this process has read them.
    leaves: tree::Leaves,
    /// Who holds each name and zone, read with the leaves.
    names: std::sync::RwLock<tree::Names>,
    /// Moves after every append to the log, here or (through the change feed) elsewhere.
    appends: tokio::sync::watch::Sender<u64>,
    /// How DNS zone claims are proven; none: they are refused.
    dns: std::sync::OnceLock<Arc<dyn zones::TxtLookup>>,
    /// Agents refused because their stored state is not what their log proves.
    unproven: AtomicU64,

    /// The state each agent's log entries (by their leaf hashes) proved last: bounded.
    proofs: moka::sync::Cache<
        String,
        Arc<(
            Vec<agentid_spec::merkle::Hash>,
            agentid_spec::standing::ProvedState,
        )>,
    >,
}

/// How long a deactivated agent's name stays bound to it by default: 30 days.
pub const DEFAULT_NAME_GRACE_SECS: i64 = 30 * 86_400;

impl Registry {
    /// A registry over a database on which [`MIGRATIONS`] have run, sealing its log entries with
    /// `sealer` (purpose [`SEAL_PURPOSE`], under the service's master key).
    pub fn new(db: agentid_store::Db, clock: Arc<dyn Clock>, sealer: Sealer) -> Self {
        Self(Arc::new(Inner {
            pool: db.pool().clone(),
            db,
            sealer,
            clock,
            resolved: cache::ResolutionCache::new(),
            generation: AtomicU64::new(0),
            name_grace_secs: std::sync::atomic::AtomicI64::new(DEFAULT_NAME_GRACE_SECS),
            leaves: tree::Leaves::default(),
            names: Default::default(),
            appends: tokio::sync::watch::Sender::new(0),
            dns: std::sync::OnceLock::new(),
            unproven: AtomicU64::new(0),

            proofs: moka::sync::Cache::new(cache::MAX_ENTRIES),
        }))
    }

    /// [`Registry::new`] keeping a deactivated agent's name bound to it for `secs` (at least 0)
    /// before another agent may register it.
    pub fn with_name_grace(self, secs: i64) -> Self {
        self.0.name_grace_secs.store(secs.max(0), Ordering::Relaxed);
        self
    }

    /// Proves DNS zone claims with `dns` (section 5.6). Set once; later calls are ignored.
    pub fn set_dns(&self, dns: Arc<dyn zones::TxtLookup>) {
        let _ = self.0.dns.set(dns);
    }

    /// [`Registry::new`] serving resolutions from memory for `secs` (0 to
    /// [`cache::MAX_TTL_SECS`]; 0 reads the database every time; default 5). The bound on how
    /// stale an answer can be when another process changed the agent and no change feed
    /// reached this one.
    pub fn with_resolution_cache_secs(self, secs: i64) -> Self {
        self.0.resolved.set_ttl(secs);
        self
    }

    /// The registry's clock, Unix seconds (the time its checkpoints state).
    pub fn now(&self) -> i64 {
        self.0.clock.now()
    }

    /// A receiver that sees a change after every append to the log (here, or on another node
    /// sharing the database): what an event stream waits on.
    pub fn log_appends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.appends.subscribe()
    }

    /// A counter that moves whenever an agent's record changes (deactivated, deplatformed).
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }
}
