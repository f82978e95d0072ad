//! Verifying a checkout presentation (spec section 8), one trust state per module:
//!
//! | module | steps | produces |
//! |---|---|---|
//! | `parse` | 1-4: structure of both tokens | `Parsed` (untrusted) |
//! | `signatures` | 5-9: resolution, keys, both signatures, subject binding | `Authenticated` |
//! | `policy` | 10-17: standing, validity, audience, nonce, scope, limits, order | `PolicyChecked` |
//! | `status` | 18: revocation, failing closed; 19: the wallet's authorization | `StatusChecked` |
//! | `replay` | 14 last: the nonce is consumed | a [`Decision`], with a [`VerifiedAuthorization`] only when accepted |
//!
//! Each state is a type with private fields that only the step before it can produce. Steps 1-9
//! stop at the first failure (nothing after them can be trusted); steps 10-18 all run and every
//! failure is reported.

use std::sync::Arc;

use agentid_resolver::{ResolvedDid, Source};
use agentid_spec::authorization::{Settlement, SignedRequest};
use agentid_spec::code::{Code, Reason};
use agentid_spec::id::split_did_url;
use agentid_spec::jose::CompactJws;

use crate::clock::Clock;

mod cache;
mod context;
mod decision;
mod fetch;
mod limits;
mod links;
mod parse;
mod policy;
mod replay;
mod signatures;
mod status;
mod trust;

pub use context::CheckoutContext;
pub use decision::{Decision, Verdict};
pub use limits::Limits;
pub use links::{LinkRefusal, VerifiedLink, VerifiedLinkRequest};
pub use replay::{
    Consumed, Live, MemoryNonces, NonceKey, NonceQuotas, NonceStore, VerifiedAuthorization,
};
pub use signatures::SignedClaims;
pub use signatures::VerifiedSpendRequest;
pub use trust::{Anchors, TrustPolicy};

/// Verifies checkout presentations, caching DID resolutions and status lists from a [`Source`]
/// and remembering nonces in a [`NonceStore`] (this process's memory by default). One verifier
/// serves many merchants; share it behind an `Arc`.
pub struct Verifier<S, N = MemoryNonces> {
    source: S,
    policy: TrustPolicy,
    clock: Arc<dyn Clock>,
    limits: Limits,
    dids: cache::TtlCache<ResolvedDid>,
    /// DIDs the source answered `notFound` for (negative caching).
    missing: cache::TtlCache<()>,
    /// DID fetches in progress: one per DID at a time.
    resolving: cache::Flights,
    status_lists: cache::TtlCache<fetch::VerifiedList>,
    verified_credentials: cache::VerifiedCredentials,
    nonces: N,
}

impl<S: Source> Verifier<S> {
    /// A verifier fetching from `source`, trusting what `policy` names, reading time from
    /// `clock`, remembering nonces in this process.
    pub fn new(source: S, policy: TrustPolicy, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Verifier::with_nonces(source, policy, clock, limits, MemoryNonces::new())
    }
}

impl<S: Source, N: NonceStore> Verifier<S, N> {
    /// [`Verifier::new`] remembering nonces in `nonces` (shared by many verifiers, kept across
    /// restarts).
    pub fn with_nonces(
        source: S,
        policy: TrustPolicy,
        clock: Arc<dyn Clock>,
        limits: Limits,
        nonces: N,
    ) -> Self {
        Self {
            source,
            policy,
            clock,
            limits,
            dids: cache::TtlCache::new(),
            missing: cache::TtlCache::new(),
            resolving: cache::Flights::new(),
            status_lists: cache::TtlCache::new(),
            verified_credentials: cache::VerifiedCredentials::new(),
            nonces,
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

    /// The trust policy.
    pub fn policy(&self) -> &TrustPolicy {
        &self.policy
    }

    /// Drops the cached resolution of `did` (on a pushed revocation or deplatforming).
    pub fn invalidate_did(&self, did: &str) {
        self.dids.remove(did);
    }

    /// Forgets which credentials verified before, so the next check of each verifies its
    /// signature again (for measuring a first check).
    pub fn forget_verified_credentials(&self) {
        self.verified_credentials.clear();
    }

    /// Drops every cached resolution, status list and verified credential.
    pub fn invalidate_all(&self) {
        self.dids.clear();
        self.status_lists.clear();
        self.verified_credentials.clear();
    }

    /// Drops the cached status list at `url`, for every issuer it was verified for.
    pub fn invalidate_status_list(&self, url: &str) {
        let prefix = fetch::status_list_key(url, "");
        self.status_lists.retain(|key| !key.starts_with(&prefix));
    }

    /// Runs the verification algorithm of spec section 8 on a compact `vp+jwt`.
    pub async fn verify(&self, token: &str, ctx: &CheckoutContext) -> Decision {
        let now = self.clock.now();
        let parsed =
            match parse::Parsed::parse(token, &self.limits, Some(&self.verified_credentials)) {
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
            .check_authorization(true, self.limits.clock_skew_secs, now)
            .check_replay(&self.nonces, &self.limits, now)
            .await
    }

    /// Checks a merchant's settlement instruction for a hold at the wallet `wallet` (spec
    /// section 11.3): a compact JWS of type `spend-settle+jwt`, signed by an authentication key
    /// of its `iss`, addressed to `wallet`, within its short lifetime. Returns what it says; the
    /// wallet checks that `iss` is the hold's merchant.
    pub async fn check_settlement(&self, token: &str, wallet: &str) -> Result<Settlement, Reason> {
        self.check_signed::<Settlement>(token, wallet)
            .await
            .map(|(claims, _)| claims)
    }

    /// Checks a short-lived signed request `T` addressed to `audience`: a compact JWS of type
    /// `T::TYP` signed by a current authentication key of its `iss`, within the presentation
    /// lifetime bound and the clock skew. Returns the request and its signer's resolution (for
    /// its standing).
    pub async fn check_signed<T: SignedRequest>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<(T, Arc<ResolvedDid>), Reason> {
        let now = self.clock.now();
        let what = T::TYP;
        let bad = |m: &str| Reason::new(Code::MalformedToken, format!("{what}: {m}"));
        let jws = CompactJws::parse(token, self.limits.max_token_bytes, T::TYP)
            .map_err(|e| Reason::new(Code::MalformedToken, format!("{what}: {e}")))?;
        let kid = jws.header.kid.as_deref().ok_or_else(|| bad("no kid"))?;
        let (did, _) = split_did_url(kid).ok_or_else(|| bad("kid is not a DID URL"))?;
        let claims: T = serde_json::from_slice(&jws.payload)
            .map_err(|e| Reason::new(Code::MalformedToken, format!("{what} payload: {e}")))?;
        if claims.iss().as_str() != did {
            return Err(Reason::new(
                Code::IssuerMismatch,
                format!("{what}: kid is not a key of its iss"),
            ));
        }
        if claims.aud().as_str() != audience {
            return Err(Reason::new(
                Code::WrongAudience,
                format!("{what} is for someone else"),
            ));
        }
        let l = &self.limits;
        let (iat, exp) = claims.lifetime();
        if now > exp.saturating_add(l.clock_skew_secs)
            || exp.saturating_sub(iat) > l.max_presentation_lifetime_secs
            || exp < iat
        {
            return Err(Reason::new(
                Code::PresentationExpired,
                format!("{what} expired"),
            ));
        }
        if iat > now.saturating_add(l.clock_skew_secs) {
            return Err(Reason::new(
                Code::PresentationNotYetValid,
                format!("{what} issued in the future"),
            ));
        }
        let signer = self
            .resolve(did, now)
            .await
            .map_err(|e| Reason::new(Code::ResolutionFailed, format!("signer {did}: {e}")))?;
        let key = signer.authentication_key(kid).ok_or_else(|| {
            Reason::new(
                Code::UnknownKey,
                format!("{kid} is not a current authentication key"),
            )
        })?;
        if !jws.verify(key) {
            return Err(Reason::new(
                Code::BadSignature,
                format!("{what} signature does not verify"),
            ));
        }
        Ok((claims, signer))
    }

    /// The verifier's clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Step 6's rule for one agent: whether `did` is an agent this verifier's policy accepts (a
    /// `did:agentid` of a trusted registry, or a `did:key` where the policy allows them).
    pub fn check_agent_trusted(&self, did: &str) -> Result<(), Reason> {
        signatures::trusted_agent(self, did).map(|_| ())
    }

    /// Checks a delegation credential's signature alone: a `vc+jwt` signed by a current
    /// assertion key of its `issuer` (a wallet registering a sub-delegation its agent signed).
    /// Nothing else about it (status, chain, policy) is checked here.
    pub async fn check_credential_signature(
        &self,
        token: &str,
    ) -> Result<agentid_spec::credential::DelegationCredential, Reason> {
        let now = self.clock.now();
        let envelope = agentid_spec::presentation::EnvelopedCredential::new(token);
        let mut parsed = parse::ParsedCredential::parse(envelope, &self.limits, None)?;
        parsed.ensure_jws(&self.limits)?;
        let issuer = self.resolve(parsed.issuer(), now).await.map_err(|e| {
            Reason::new(
                Code::ResolutionFailed,
                format!("issuer {}: {e}", parsed.issuer()),
            )
        })?;
        let key = issuer.assertion_key(parsed.kid()).ok_or_else(|| {
            Reason::new(
                Code::UnknownKey,
                format!("{} is not a current assertion key", parsed.kid()),
            )
        })?;
        if !parsed.jws.as_ref().is_some_and(|j| j.verify(key)) {
            return Err(Reason::new(
                Code::BadSignature,
                "credential signature does not verify",
            ));
        }
        Ok(parsed.credential().clone())
    }

    /// Checks a spend request: a checkout presentation without an authorization, sent by the
    /// agent to its wallet to obtain one (spec section 11.2). Every step but 13-14 (the
    /// merchant's audience and nonce, which only the merchant can check) and 19 runs; nothing
    /// is consumed. On success, what the signatures proved and the request, for the wallet to
    /// hold budget against.
    pub async fn check_spend_request(
        &self,
        token: &str,
    ) -> Result<VerifiedSpendRequest, Vec<Reason>> {
        let now = self.clock.now();
        let parsed = parse::Parsed::parse(token, &self.limits, Some(&self.verified_credentials))
            .map_err(|r| vec![r])?;
        if parsed.authorization.is_some() {
            return Err(vec![Reason::new(
                Code::MalformedToken,
                "a spend request carries no authorization",
            )]);
        }
        let authenticated = parsed.authenticate(self, now).await.map_err(|r| vec![r])?;
        let p = authenticated.presentation();
        let ctx = CheckoutContext::new(p.aud.clone(), p.nonce.clone());
        let (authenticated, reasons) = authenticated
            .check_policy(&ctx, &self.limits, now)
            .check_status(self, now)
            .await
            .check_authorization(false, self.limits.clock_skew_secs, now)
            .into_parts();
        if !reasons.is_empty() {
            return Err(reasons);
        }
        Ok(VerifiedSpendRequest::from_authenticated(authenticated))
    }
}
