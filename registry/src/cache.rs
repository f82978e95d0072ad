//! Resolution answers kept in memory: resolution is the registry's hottest path, and a database
//! round trip costs more than the rest of the request. This process drops the cache on every
//! change it makes; entries also expire after `TTL_SECS`, which bounds how stale an answer can
//! be when several registry processes share one PostgreSQL database.
//!
//! The cache is bounded (`MAX_ENTRIES`) and evicts entry by entry (moka's TinyLFU), and
//! dropping it is a counter moving, not a walk over its entries: a cache that was emptied
//! wholesale when full stalled every resolution behind the drop of a hundred thousand answers
//! (p99 64 ms at a million agents).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use agentid_spec::document::ResolutionResult;

/// Longest an entry is served by default, in seconds.
pub(crate) const TTL_SECS: i64 = 5;
/// The longest TTL a registry may be configured with, in seconds.
pub const MAX_TTL_SECS: i64 = 60;
/// Most entries kept; beyond it the least useful are evicted one by one.
pub(crate) const MAX_ENTRIES: u64 = 100_000;

#[derive(Clone)]
struct Entry {
    result: Arc<ResolutionResult>,
    /// When it was read from the database.
    at: i64,
    /// The [`ResolutionCache::epoch`] it was stored in.
    epoch: u64,
}

pub(crate) struct ResolutionCache {
    entries: moka::sync::Cache<String, Entry>,
    /// Seconds an entry is served; 0: nothing is kept.
    ttl: AtomicI64,
    /// Moves on every [`ResolutionCache::clear`]: entries of an earlier epoch are never served.
    epoch: AtomicU64,
}

impl ResolutionCache {
    pub(crate) fn new() -> Self {
        Self {
            entries: moka::sync::Cache::new(MAX_ENTRIES),
            ttl: AtomicI64::new(TTL_SECS),
            epoch: AtomicU64::new(0),
        }
    }

    /// Serves entries for `secs` (0 to [`MAX_TTL_SECS`]; 0 keeps nothing).
    pub(crate) fn set_ttl(&self, secs: i64) {
        self.ttl
            .store(secs.clamp(0, MAX_TTL_SECS), Ordering::Relaxed);
        self.clear();
    }

    fn ttl(&self) -> i64 {
        self.ttl.load(Ordering::Relaxed)
    }

    pub(crate) fn get(&self, key: &str, now: i64) -> Option<Arc<ResolutionResult>> {
        let ttl = self.ttl();
        if ttl == 0 {
            return None;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        self.entries
            .get(key)
            .filter(|e| e.epoch == epoch && now.saturating_sub(e.at) < ttl)
            .map(|e| e.result)
    }

    pub(crate) fn put(&self, key: &str, result: Arc<ResolutionResult>, now: i64) {
        if self.ttl() == 0 {
            return;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        self.entries.insert(
            key.to_owned(),
            Entry {
                result,
                at: now,
                epoch,
            },
        );
    }

    /// Nothing stored so far is served again.
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        // Frees the memory lazily; the epoch is what guarantees it is not served.
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let c = ResolutionCache::new();
        let r = Arc::new(ResolutionResult::error(
            agentid_spec::document::ResolutionErrorCode::NotFound,
            "x",
        ));
        c.put("a", r.clone(), 100);
        assert!(c.get("a", 100 + TTL_SECS - 1).is_some());
        assert!(c.get("a", 100 + TTL_SECS).is_none());
        c.put("a", r.clone(), 200);
        c.clear();
        assert!(c.get("a", 200).is_none());
        // A TTL of 0 keeps nothing; the TTL is bounded.
        c.set_ttl(0);
        c.put("a", r.clone(), 300);
        assert!(c.get("a", 300).is_none());
        c.set_ttl(TTL_SECS);
        c.put("b", r.clone(), 300);
        c.clear();
        assert!(c.get("b", 300).is_none(), "cleared by the epoch");
        c.set_ttl(i64::MAX);
        c.put("a", r, 400);
        assert!(c.get("a", 400 + MAX_TTL_SECS - 1).is_some());
        assert!(c.get("a", 400 + MAX_TTL_SECS).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_without_emptying() {
        let c = ResolutionCache::new();
        let r = Arc::new(ResolutionResult::error(
            agentid_spec::document::ResolutionErrorCode::NotFound,
            "x",
        ));
        let n = MAX_ENTRIES + 5_000;
        for i in 0..n {
            c.put(&format!("k{i}"), r.clone(), 100);
        }
        c.entries.run_pending_tasks();
        let kept = c.entries.entry_count();
        assert!(kept <= MAX_ENTRIES, "{kept}");
        assert!(
            kept >= MAX_ENTRIES / 2,
            "evicted one by one, not emptied: {kept}"
        );
    }
}
