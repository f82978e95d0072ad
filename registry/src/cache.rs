//! Resolution answers kept in memory: resolution is the registry's hottest path, and a database
//! round trip costs more than the rest of the request. This process clears the cache on every
//! change it makes; entries also expire after [`TTL_SECS`], which bounds how stale an answer can
//! be when several registry processes share one PostgreSQL database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use agentid_spec::document::ResolutionResult;

/// Longest an entry is served, in seconds.
pub(crate) const TTL_SECS: i64 = 5;
/// Most entries; a full cache is cleared rather than grown.
pub(crate) const MAX_ENTRIES: usize = 100_000;

pub(crate) struct ResolutionCache(RwLock<HashMap<String, (Arc<ResolutionResult>, i64)>>);

impl ResolutionCache {
    pub(crate) fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    pub(crate) fn get(&self, key: &str, now: i64) -> Option<Arc<ResolutionResult>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, at)| now - at < TTL_SECS)
            .map(|(r, _)| r.clone())
    }

    pub(crate) fn put(&self, key: &str, result: Arc<ResolutionResult>, now: i64) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), (result, now));
    }

    pub(crate) fn clear(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).clear();
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
        c.put("a", r, 200);
        c.clear();
        assert!(c.get("a", 200).is_none());
    }
}
