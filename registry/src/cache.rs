//! Resolution answers kept in memory: resolution is the registry's hottest path, and a database
//! round trip costs more than the rest of the request. This process clears the cache on every
//! change it makes; entries also expire after [`TTL_SECS`], which bounds how stale an answer can
//! be when several registry processes share one PostgreSQL database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use agentid_spec::document::ResolutionResult;

/// Longest an entry is served by default, in seconds.
pub(crate) const TTL_SECS: i64 = 5;
/// The longest TTL a registry may be configured with, in seconds.
pub const MAX_TTL_SECS: i64 = 60;
/// Most entries; a full cache is cleared rather than grown.
pub(crate) const MAX_ENTRIES: usize = 100_000;

pub(crate) struct ResolutionCache {
    map: RwLock<HashMap<String, (Arc<ResolutionResult>, i64)>>,
    /// Seconds an entry is served; 0: nothing is kept.
    ttl: std::sync::atomic::AtomicI64,
}

impl ResolutionCache {
    pub(crate) fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            ttl: std::sync::atomic::AtomicI64::new(TTL_SECS),
        }
    }

    /// Serves entries for `secs` (0 to [`MAX_TTL_SECS`]; 0 keeps nothing).
    pub(crate) fn set_ttl(&self, secs: i64) {
        self.ttl.store(
            secs.clamp(0, MAX_TTL_SECS),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.clear();
    }

    fn ttl(&self) -> i64 {
        self.ttl.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn get(&self, key: &str, now: i64) -> Option<Arc<ResolutionResult>> {
        let ttl = self.ttl();
        if ttl == 0 {
            return None;
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, at)| now - at < ttl)
            .map(|(r, _)| r.clone())
    }

    pub(crate) fn put(&self, key: &str, result: Arc<ResolutionResult>, now: i64) {
        if self.ttl() == 0 {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), (result, now));
    }

    pub(crate) fn clear(&self) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).clear();
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
        c.set_ttl(i64::MAX);
        c.put("a", r, 400);
        assert!(c.get("a", 400 + MAX_TTL_SECS - 1).is_some());
        assert!(c.get("a", 400 + MAX_TTL_SECS).is_none());
    }
}
