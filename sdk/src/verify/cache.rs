//! The verifier's bounded caches of fetched DIDs and status lists.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

struct Cached<T> {
    value: Arc<T>,
    fetched_at: i64,
    /// The source's generation when the fetch began (`None` for sources without one).
    generation: Option<u64>,
}

/// A bounded map of fetched values, when they were fetched, and the source's generation then.
pub(super) struct TtlCache<T>(RwLock<HashMap<String, Cached<T>>>);

impl<T> TtlCache<T> {
    pub(super) fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    /// The cached value and its age in seconds, if it was fetched at the source's current
    /// `generation`: an entry from before a change is as good as absent.
    pub(super) fn get(
        &self,
        key: &str,
        now: i64,
        generation: Option<u64>,
    ) -> Option<(Arc<T>, i64)> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|c| c.generation == generation)
            .map(|c| (c.value.clone(), now.saturating_sub(c.fetched_at)))
    }

    /// Stores `value`, fetched when the source was at `generation`; when full, first drops
    /// entries older than `refresh`, and stores nothing if that frees no room.
    pub(super) fn insert(
        &self,
        key: &str,
        value: Arc<T>,
        now: i64,
        generation: Option<u64>,
        refresh: i64,
        max: usize,
    ) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= max {
            map.retain(|_, c| now.saturating_sub(c.fetched_at) <= refresh);
        }
        if map.len() < max {
            map.insert(
                key.to_owned(),
                Cached {
                    value,
                    fetched_at: now,
                    generation,
                },
            );
        }
    }

    pub(super) fn remove(&self, key: &str) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Keeps only the entries whose key passes `keep`.
    pub(super) fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| keep(k));
    }

    pub(super) fn clear(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded() {
        let c: TtlCache<u8> = TtlCache::new();
        c.insert("a", Arc::new(1), 0, None, 10, 2);
        c.insert("b", Arc::new(2), 5, None, 10, 2);
        // Full, nothing older than 10 s: the new entry is not stored.
        c.insert("c", Arc::new(3), 9, None, 10, 2);
        assert!(c.get("c", 9, None).is_none());
        assert_eq!(c.get("a", 9, None).map(|(v, age)| (*v, age)), Some((1, 9)));
        // At 11 s "a" is past refresh and makes room.
        c.insert("c", Arc::new(3), 11, None, 10, 2);
        assert!(c.get("a", 11, None).is_none());
        assert!(c.get("c", 11, None).is_some());
        c.remove("c");
        assert!(c.get("c", 11, None).is_none());
        c.insert("u\ni", Arc::new(4), 11, None, 10, 2);
        c.retain(|k| !k.starts_with("u\n"));
        assert!(c.get("u\ni", 11, None).is_none());
    }

    /// An entry fetched at one generation is never served at another.
    #[test]
    fn a_change_hides_older_entries() {
        let c: TtlCache<u8> = TtlCache::new();
        c.insert("a", Arc::new(1), 0, Some(7), 10, 2);
        assert!(c.get("a", 1, Some(7)).is_some());
        assert!(c.get("a", 1, Some(8)).is_none());
        assert!(c.get("a", 1, None).is_none());
    }
}

/// Credentials whose signature verified, by their exact compact bytes, with the key it verified
/// under. A merchant sees the same delegation at every checkout of an agent: a repeat check
/// skips that signature when the issuer's current key for the credential's `kid` is still the one
/// it verified under. Bounded: cleared when full.
pub(super) struct VerifiedCredentials(RwLock<HashMap<String, Remembered>>);

/// The key a credential verified under, and the credential's SHA-256 (base64url).
type Remembered = ([u8; 32], Arc<str>);

impl VerifiedCredentials {
    pub(super) fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    /// If `token` verified before under exactly `key`, its SHA-256 (base64url), computed then.
    pub(super) fn verified_under(
        &self,
        token: &str,
        key: &ed25519_dalek::VerifyingKey,
    ) -> Option<Arc<str>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(token)
            .filter(|(k, _)| k == key.as_bytes())
            .map(|(_, hash)| hash.clone())
    }

    /// Remembers that `token`, whose SHA-256 is `hash`, verified under `key`.
    pub(super) fn insert(
        &self,
        token: &str,
        key: &ed25519_dalek::VerifyingKey,
        hash: Arc<str>,
        max: usize,
    ) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= max {
            map.clear();
        }
        map.insert(token.to_owned(), (*key.as_bytes(), hash));
    }

    pub(super) fn clear(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod memo_tests {
    use super::*;

    /// A remembered credential counts only under the very key it verified under: a rotated key
    /// under the same `kid`, or other bytes, are verified afresh.
    #[test]
    fn verified_credentials_are_bound_to_bytes_and_key() {
        let k1 = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
        let k2 = ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key();
        let v = VerifiedCredentials::new();
        let h: Arc<str> = "h".into();
        v.insert("a.b.c", &k1, h.clone(), 2);
        assert!(v.verified_under("a.b.c", &k1).is_some());
        assert!(v.verified_under("a.b.c", &k2).is_none());
        assert!(v.verified_under("a.b.d", &k1).is_none());
        v.insert("d.e.f", &k1, h.clone(), 2);
        v.insert("g.h.i", &k1, h, 2);
        assert!(
            v.verified_under("a.b.c", &k1).is_none(),
            "a full memo is cleared, not grown"
        );
        assert!(v.verified_under("g.h.i", &k1).is_some());
    }
}
