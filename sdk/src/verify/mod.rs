//! Verifying a checkout presentation (spec section 8), one trust state per module:
//!
//! | module | steps | produces |
//! |---|---|---|
//! | `parse` | 1-4: structure of both tokens | `Parsed` (untrusted) |
//! | `signatures` | 5-9: resolution, keys, both signatures, subject binding | `Authenticated` |
//! | `policy` | 10-17: standing, validity, audience, nonce, scope, limits, order | `PolicyChecked` |
//! | `status` | 18: revocation, failing closed | `StatusChecked` |
//! | `replay` | 14 last: the nonce is consumed | a [`Decision`], with a [`VerifiedAuthorization`] only when accepted |
//!
//! Each state is a type with private fields that only the step before it can produce. Steps 1-9
//! stop at the first failure (nothing after them can be trusted); steps 10-18 all run and every
//! failure is reported.

use std::sync::Arc;

use agentid_resolver::{ResolvedDid, Source};
use agentid_spec::status_list::Bitstring;

use crate::clock::Clock;

mod cache;
mod context;
mod decision;
mod fetch;
mod limits;
mod parse;
mod policy;
mod replay;
mod signatures;
mod status;

pub use context::CheckoutContext;
pub use decision::{Decision, Verdict};
pub use limits::Limits;
pub use replay::VerifiedAuthorization;
pub use signatures::SignedClaims;

/// Verifies checkout presentations, caching DID resolutions and status lists from a [`Source`]
/// and remembering nonces. One verifier serves many merchants; share it behind an `Arc`.
pub struct Verifier<S> {
    source: S,
    clock: Arc<dyn Clock>,
    limits: Limits,
    dids: cache::TtlCache<ResolvedDid>,
    status_lists: cache::TtlCache<Bitstring>,
    nonces: replay::NonceMemory,
}

impl<S: Source> Verifier<S> {
    /// A verifier fetching from `source`, reading time from `clock`.
    pub fn new(source: S, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Self {
            source,
            clock,
            limits,
            dids: cache::TtlCache::new(),
            status_lists: cache::TtlCache::new(),
            nonces: replay::NonceMemory::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Drops the cached resolution of `did` (on a pushed revocation or deplatforming).
    pub fn invalidate_did(&self, did: &str) {
        self.dids.remove(did);
    }

    /// Drops every cached resolution and status list.
    pub fn invalidate_all(&self) {
        self.dids.clear();
        self.status_lists.clear();
    }

    /// Drops the cached status list at `url`, for every issuer it was verified for.
    pub fn invalidate_status_list(&self, url: &str) {
        let prefix = fetch::status_list_key(url, "");
        self.status_lists.retain(|key| !key.starts_with(&prefix));
    }

    /// Runs the verification algorithm of spec section 8 on a compact `vp+jwt`.
    pub async fn verify(&self, token: &str, ctx: &CheckoutContext) -> Decision {
        let now = self.clock.now();
        let parsed = match parse::Parsed::parse(token, &self.limits) {
            Ok(p) => p,
            Err(reason) => return Decision::rejected(vec![reason], None, now),
        };
        let authenticated = match parsed.authenticate(self, now).await {
            Ok(a) => a,
            Err(reason) => return Decision::rejected(vec![reason], None, now),
        };
        authenticated
            .check_policy(ctx, &self.limits, now)
            .check_status(self, now)
            .await
            .check_replay(&self.nonces, &self.limits, now)
    }
}
