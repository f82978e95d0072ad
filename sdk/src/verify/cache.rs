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

/// One fetch per key at a time: callers that miss the cache for a key another caller is
/// fetching wait for that fetch and then read its answer from the cache, so many concurrent
/// callers cost the source one request. Holds only the keys being fetched.
pub(super) struct Flights(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

/// A turn to fetch a key: the key's lock, held until dropped, which also forgets the key.
pub(super) struct Flight<'a> {
    flights: &'a Flights,
    key: String,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Flights {
    pub(super) fn new() -> Self {
        Self(std::sync::Mutex::new(HashMap::new()))
    }

    /// Waits for any fetch of `key` in progress to end, then takes the turn to fetch it.
    pub(super) async fn turn(&self, key: &str) -> Flight<'_> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.to_owned()).or_default().clone()
        };
        Flight {
            flights: self,
            key: key.to_owned(),
            _turn: lock.lock_owned().await,
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        // Callers already waiting hold the lock itself; a later one starts afresh (and finds the
        // answer in the cache).
        self.flights
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turns for one key are taken one after another; the map forgets a key once no turn is
    /// taken.
    #[tokio::test]
    async fn one_turn_per_key_at_a_time() {
        let f = Flights::new();
        let first = f.turn("a").await;
        let other = f.turn("b").await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), f.turn("a"));
        assert!(waiting.await.is_err(), "a second turn for a waits");
        drop(first);
        drop(other);
        let again = f.turn("a").await;
        drop(again);
        assert!(f.0.lock().unwrap().is_empty());
    }

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
/// under and what parsing them gave. A merchant sees the same delegation chain at every checkout
/// of an agent: a repeat check neither parses those bytes again nor verifies their signature,
/// provided the issuer's current key for the credential's `kid` is still the one it verified
/// under. Bounded: cleared when full.
///
/// Found by the credential's signature (its last 86 characters: an Ed25519 signature binds one
/// message under one key), then compared byte for byte with the token remembered: hashing 64
/// bytes rather than the whole credential keeps a lookup cheap, and a token that merely shares a
/// signature is not the one remembered.
pub(super) struct VerifiedCredentials(RwLock<HashMap<String, (String, Remembered)>>);

/// What is remembered of a credential: the key it verified under, its SHA-256 (base64url), and
/// the credential as parsed.
#[derive(Clone)]
pub(super) struct Remembered {
    pub(super) key: [u8; 32],
    pub(super) hash: Arc<str>,
    pub(super) parsed: Arc<super::parse::KnownCredential>,
}

/// The signature part of a compact JWS.
fn signature_of(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(_, s)| s)
}

impl VerifiedCredentials {
    pub(super) fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    /// What was remembered of `token`, if it verified before (under the key it names).
    pub(super) fn get(&self, token: &str) -> Option<Remembered> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(signature_of(token))
            .filter(|(t, _)| t == token)
            .map(|(_, r)| r.clone())
    }

    /// Remembers that `token` verified under `key`, with its hash and its parse.
    pub(super) fn insert(&self, token: &str, remembered: Remembered, max: usize) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= max {
            map.clear();
        }
        map.insert(
            signature_of(token).to_owned(),
            (token.to_owned(), remembered),
        );
    }

    pub(super) fn clear(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod memo_tests {
    use super::*;
    use crate::verify::parse::KnownCredential;

    /// A remembered credential is found by its exact bytes only, and a full memo is cleared,
    /// not grown. (That the key must still be current is checked where it is used.)
    #[test]
    fn verified_credentials_are_bound_to_bytes() {
        let v = VerifiedCredentials::new();
        let known = Arc::new(KnownCredential::example());
        let r = |k: u8| Remembered {
            key: [k; 32],
            hash: "h".into(),
            parsed: known.clone(),
        };
        v.insert("a.b.c", r(1), 2);
        assert_eq!(v.get("a.b.c").map(|r| r.key), Some([1; 32]));
        assert!(v.get("a.b.d").is_none());
        assert!(v.get("x.b.c").is_none(), "same signature, other bytes");
        v.insert("d.e.f", r(1), 2);
        v.insert("g.h.i", r(1), 2);
        assert!(
            v.get("a.b.c").is_none(),
            "a full memo is cleared, not grown"
        );
        assert!(v.get("g.h.i").is_some());
    }
}
