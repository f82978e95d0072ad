//! What the verifier fetches through its [`Source`]: DID resolutions and status lists, each
//! cached within the verifier's bounds, and dropped the moment a source that counts its
//! changes says it changed.

use std::sync::Arc;

use agentid_resolver::{ResolveError, ResolvedDid, Source};
use agentid_spec::id::split_did_url;
use agentid_spec::jose::CompactJws;
use agentid_spec::status_list::{Bitstring, BitstringStatusListCredential, STATUS_LIST_TYP};

use super::{NonceStore, Verifier};

/// A status list whose signature, issuer, URL, type and purpose were verified when fetched (they
/// cannot change while cached: the cache key is the URL and the issuer), with its validity
/// window, which is checked again on every use.
pub(crate) struct VerifiedList {
    bits: Bitstring,
    valid_from: i64,
    valid_until: Option<i64>,
}

impl VerifiedList {
    /// The bits, if the list is within its validity window at `now` (with `skew`).
    pub(super) fn bits_at(&self, now: i64, skew: i64) -> Result<&Bitstring, String> {
        if self
            .valid_until
            .is_some_and(|u| now > u.saturating_add(skew))
        {
            return Err("status list credential has expired".into());
        }
        if now.saturating_add(skew) < self.valid_from {
            return Err("status list credential is not valid yet".into());
        }
        Ok(&self.bits)
    }
}

/// The cache key of a status list: its URL, then the issuer it was verified for.
pub(super) fn status_list_key(url: &str, issuer: &str) -> String {
    let mut key = String::with_capacity(url.len() + 1 + issuer.len());
    key.push_str(url);
    key.push('\n');
    key.push_str(issuer);
    key
}

impl<S: Source, N: NonceStore> Verifier<S, N> {
    /// Resolves `did`, from cache when fresh enough, falling back to a stale entry within
    /// [`Limits::did_max_staleness_secs`](super::Limits) when the source fails. A `notFound`
    /// is cached for [`Limits::did_negative_secs`](super::Limits); concurrent callers for one
    /// DID cost the source one request.
    pub async fn resolve(&self, did: &str, now: i64) -> Result<Arc<ResolvedDid>, ResolveError> {
        // Read before fetching: a change during the fetch leaves the entry at the old
        // generation, so it is never served after that change.
        let generation = self.source.generation();
        if did.starts_with(agentid_spec::id::DID_KEY_PREFIX) {
            return self.resolve_did_key(did, now, generation).await;
        }
        // Nothing is fetched before the trust policy allows it.
        if !self.policy.may_fetch(did) {
            return Err(ResolveError::NotTrusted);
        }
        let fresh = || -> Option<Result<Arc<ResolvedDid>, ResolveError>> {
            if let Some((value, age)) = self.dids.get(did, now, generation) {
                if age <= self.limits.did_refresh_secs {
                    return Some(Ok(value));
                }
            }
            match self.missing.get(did, now, generation) {
                Some((_, age)) if age <= self.limits.did_negative_secs => {
                    Some(Err(ResolveError::NotFound))
                }
                _ => None,
            }
        };
        if let Some(answer) = fresh() {
            return answer;
        }
        // One request per DID at a time: a caller that waited for another's fetch reads its
        // answer from the cache.
        let _flight = self.resolving.turn(did).await;
        if let Some(answer) = fresh() {
            return answer;
        }
        let cached = self.dids.get(did, now, generation);
        let fetched = match self.source.resolve_vouched(did).await {
            Ok((result, by)) => ResolvedDid::from_result(did, result).map(|mut r| {
                r.registry = by;
                r
            }),
            Err(e) => Err(e),
        };
        if matches!(fetched, Err(ResolveError::NotFound)) {
            let l = &self.limits;
            let negative = l.did_negative_secs;
            self.missing.insert(
                did,
                Arc::new(()),
                now,
                generation,
                negative,
                l.max_cache_entries,
            );
        }
        match fetched {
            Ok(resolved) => Ok(self.remember(did, resolved, now, generation)),
            // A definitive answer (not found, invalid) is never papered over with a stale entry.
            Err(e @ (ResolveError::Unreachable(_) | ResolveError::InvalidResponse(_))) => {
                match cached {
                    Some((value, age)) if age <= self.limits.did_max_staleness_secs => Ok(value),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A `did:key`: derived from the key alone, cached like any other resolution.
    async fn resolve_did_key(
        &self,
        did: &str,
        now: i64,
        generation: Option<u64>,
    ) -> Result<Arc<ResolvedDid>, ResolveError> {
        if let Some((value, age)) = self.dids.get(did, now, generation) {
            if age <= self.limits.did_refresh_secs {
                return Ok(value);
            }
        }
        let resolved = agentid_resolver::did_key::resolve(did).await?;
        Ok(self.remember(did, resolved, now, generation))
    }

    /// Caches `resolved` as `did`'s resolution at `now`, fetched at `generation`.
    fn remember(
        &self,
        did: &str,
        resolved: ResolvedDid,
        now: i64,
        generation: Option<u64>,
    ) -> Arc<ResolvedDid> {
        let value = Arc::new(resolved);
        let l = &self.limits;
        self.dids.insert(
            did,
            value.clone(),
            now,
            generation,
            l.did_refresh_secs,
            l.max_cache_entries,
        );
        value
    }

    /// The decoded revocation list at `url`, verified as `issuer`'s (the chain's principal).
    /// Cached under the URL *and* the issuer: a list verified for one issuer never answers for
    /// a credential of another that names the same URL.
    pub(super) async fn status_list(
        &self,
        url: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Arc<VerifiedList>, String> {
        let key = status_list_key(url, issuer);
        let generation = self.source.generation();
        let cached = self.status_lists.get(&key, now, generation);
        if let Some((value, age)) = &cached {
            if *age <= self.limits.status_refresh_secs {
                return Ok(value.clone());
            }
        }
        match self.fetch_status_list(url, issuer, now).await {
            Ok(list) => {
                let value = Arc::new(list);
                let l = &self.limits;
                self.status_lists.insert(
                    &key,
                    value.clone(),
                    now,
                    generation,
                    l.status_refresh_secs,
                    l.max_cache_entries,
                );
                Ok(value)
            }
            Err(e) => match cached {
                Some((value, age)) if age <= self.limits.status_max_staleness_secs => Ok(value),
                Some((_, age)) => Err(format!(
                    "status list unavailable ({e}) and cached copy is {age} s old"
                )),
                None => Err(format!("status list unavailable: {e}")),
            },
        }
    }

    /// Fetches and verifies a status list credential: a `vc+jwt` signed by the credential's
    /// issuer, whose `id` is the URL it was fetched from and whose purpose is revocation.
    async fn fetch_status_list(
        &self,
        url: &str,
        issuer: &str,
        now: i64,
    ) -> Result<VerifiedList, String> {
        let jws = self
            .source
            .fetch_status_list(url)
            .await
            .map_err(|e| e.to_string())?;
        let token = CompactJws::parse(&jws, self.limits.max_status_list_bytes, STATUS_LIST_TYP)
            .map_err(|e| e.to_string())?;
        let kid = token
            .header
            .kid
            .as_deref()
            .ok_or("status list has no kid")?;
        let (kid_did, _) = split_did_url(kid).ok_or("status list kid is not a DID URL")?;
        if kid_did != issuer {
            return Err("status list is not signed by the chain's principal".into());
        }
        let signer = self.resolve(issuer, now).await.map_err(|e| e.to_string())?;
        let key = signer
            .assertion_key(kid)
            .ok_or("status list key is not an assertion key")?;
        if !token.verify(key) {
            return Err("status list signature does not verify".into());
        }
        let slc: BitstringStatusListCredential =
            serde_json::from_slice(&token.payload).map_err(|e| format!("status list: {e}"))?;
        if slc.id != url
            || slc.issuer != *issuer
            || slc.credential_subject.status_purpose != "revocation"
            || !slc
                .type_
                .iter()
                .any(|t| t == "BitstringStatusListCredential")
            || slc.credential_subject.type_ != "BitstringStatusList"
        {
            return Err("status list is not the revocation list named by the credential".into());
        }
        let list = VerifiedList {
            bits: Bitstring::decode(&slc.credential_subject.encoded_list)
                .map_err(|e| e.to_string())?,
            valid_from: slc.valid_from.unix(),
            valid_until: slc.valid_until.map(|u| u.unix()),
        };
        list.bits_at(now, self.limits.clock_skew_secs)?;
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The validity window is checked on every use of a cached list, at its edges.
    #[test]
    fn a_cached_list_is_used_only_within_its_window() {
        let list = VerifiedList {
            bits: Bitstring::new(8),
            valid_from: 1_000,
            valid_until: Some(2_000),
        };
        assert!(list.bits_at(2_060, 60).is_ok());
        assert!(list.bits_at(2_061, 60).is_err());
        assert!(list.bits_at(940, 60).is_ok());
        assert!(list.bits_at(939, 60).is_err());
        assert!(list.bits_at(i64::MAX, 60).is_err());
    }
}
