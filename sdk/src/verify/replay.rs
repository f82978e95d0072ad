//! Step 14, last: the nonce is consumed only by a presentation that passed every other check,
//! and only then does a [`VerifiedAuthorization`] come to exist.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use agentid_spec::code::{Code, Reason};
use agentid_spec::presentation::Transaction;
use serde::Serialize;

use super::signatures::SignedClaims;
use super::status::StatusChecked;
use super::{Decision, Limits};

/// The authority a presentation proved. Only an accepted [`Decision`] holds one: it cannot be
/// built any other way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct VerifiedAuthorization(SignedClaims);

impl VerifiedAuthorization {
    /// The agent's DID.
    pub fn agent(&self) -> &str {
        self.0.agent()
    }
    /// The principal's DID (the credential issuer).
    pub fn principal(&self) -> &str {
        self.0.principal()
    }
    /// The delegation credential's id.
    pub fn credential_id(&self) -> &str {
        self.0.credential_id()
    }
    /// The verification method that signed the presentation.
    pub fn agent_key(&self) -> &str {
        self.0.agent_key()
    }
    /// The transaction authorized.
    pub fn transaction(&self) -> &Transaction {
        self.0.transaction()
    }
    /// Everything the signatures proved.
    pub fn claims(&self) -> &SignedClaims {
        &self.0
    }
}

/// What recording a nonce found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consumed {
    /// The nonce was not live for this audience and holder; it is now, until its presentation
    /// expires.
    Fresh,
    /// The nonce is live for this audience and holder: a replay.
    Replayed,
    /// The memory (or this merchant's or this agent's share of it) is full of live nonces, or
    /// cannot be written: the nonce cannot be recorded, and the presentation is refused rather
    /// than risk a replay.
    Unrecorded(String),
}

/// What a nonce is remembered under: the audience (merchant) it was presented to, the agent
/// that presented it, and the nonce. The agent is part of the key so that nobody burns a
/// merchant's nonce for its customers by presenting it first: a replay is the same agent
/// presenting the same nonce to the same merchant again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceKey<'a> {
    /// The presentation's `aud`.
    pub audience: &'a str,
    /// The presentation's `holder`.
    pub holder: &'a str,
    /// The presentation's `nonce`.
    pub nonce: &'a str,
    /// Whether the merchant issued the nonce ([`agentid_spec::nonce`]): only the merchant can
    /// make one, so it does not count against the merchant's share, which others' checkouts
    /// can fill.
    pub issued: bool,
}

impl NonceKey<'_> {
    fn joined(&self) -> String {
        let mut key =
            String::with_capacity(self.audience.len() + self.holder.len() + self.nonce.len() + 2);
        for (i, part) in [self.audience, self.holder, self.nonce].iter().enumerate() {
            if i > 0 {
                key.push('\n');
            }
            key.push_str(part);
        }
        key
    }
}

/// Where a verifier remembers the nonces of accepted presentations, per audience (merchant)
/// and holder (agent), until they expire: in this process ([`MemoryNonces`]), or shared by many
/// verifiers and kept across restarts (a database, as `agentid serve` does).
pub trait NonceStore: Send + Sync {
    /// Records `key` until `expires` (Unix seconds) unless it is live at `now`, within the
    /// bounds of `limits` (`max_nonces` in all, `max_nonces_per_merchant`,
    /// `max_nonces_per_agent`).
    fn consume(
        &self,
        key: NonceKey<'_>,
        expires: i64,
        now: i64,
        limits: &Limits,
    ) -> impl std::future::Future<Output = Consumed> + Send;
}

/// Live nonces counted per merchant and per agent, so that nobody's checkouts fill the replay
/// memory for others: an agent's flood, at any merchants, fills its own share, and the
/// checkouts addressed to a merchant with nonces it did not issue at most that merchant's share
/// (a merchant that issues its nonces is never refused for it). Counts are of nonces recorded
/// through this value (in `agentid serve`, per node).
#[derive(Debug, Default)]
pub struct NonceQuotas {
    merchants: HashMap<String, Live>,
    agents: HashMap<String, Live>,
    /// Admissions since the last sweep of emptied entries.
    since_sweep: usize,
}

/// A count of live nonces: their expiry times, soonest first, less those given back (a place
/// taken for a nonce that turned out to be a replay), each until its expiry.
#[derive(Debug, Default)]
pub struct Live {
    expiries: BinaryHeap<Reverse<i64>>,
    /// Places given back, by expiry: as many of the heap's entries of that expiry count for
    /// nothing.
    given_back: HashMap<i64, usize>,
    given_back_total: usize,
}

impl Live {
    /// How many are live at `now`.
    pub fn count(&mut self, now: i64) -> usize {
        while let Some(Reverse(exp)) = self.expiries.peek().copied().filter(|e| e.0 < now) {
            self.expiries.pop();
            if let Some(n) = self.given_back.get_mut(&exp) {
                *n -= 1;
                self.given_back_total = self.given_back_total.saturating_sub(1);
                if *n == 0 {
                    self.given_back.remove(&exp);
                }
            }
        }
        self.expiries.len().saturating_sub(self.given_back_total)
    }

    /// Counts one more, live until `expires`.
    pub fn add(&mut self, expires: i64) {
        self.expiries.push(Reverse(expires));
    }

    /// Gives back a place [`Live::add`]ed with `expires` (once for each such add).
    pub fn give_back(&mut self, expires: i64) {
        *self.given_back.entry(expires).or_default() += 1;
        self.given_back_total += 1;
    }
}

/// Sweep emptied entries after this many admissions.
const SWEEP_EVERY: usize = 4096;

impl NonceQuotas {
    /// Whether `key` fits its merchant's and its agent's shares at `now`; why not otherwise.
    pub fn check(&mut self, key: &NonceKey<'_>, now: i64, limits: &Limits) -> Result<(), String> {
        let merchant = if key.issued {
            0
        } else {
            self.merchants
                .get_mut(key.audience)
                .map_or(0, |l| l.count(now))
        };
        if merchant >= limits.max_nonces_per_merchant {
            return Err(format!(
                "the replay memory holds {} live nonces for this merchant",
                limits.max_nonces_per_merchant
            ));
        }
        let agent = self.agents.get_mut(key.holder).map_or(0, |l| l.count(now));
        if agent >= limits.max_nonces_per_agent {
            return Err(format!(
                "the replay memory holds {} live nonces of this agent",
                limits.max_nonces_per_agent
            ));
        }
        Ok(())
    }

    /// Gives back the places [`NonceQuotas::add`] took for `key` with `expires`: it was not
    /// recorded after all (a replay of a nonce recorded elsewhere), so it costs no share.
    pub fn give_back(&mut self, key: &NonceKey<'_>, expires: i64) {
        if !key.issued {
            if let Some(l) = self.merchants.get_mut(key.audience) {
                l.give_back(expires);
            }
        }
        if let Some(l) = self.agents.get_mut(key.holder) {
            l.give_back(expires);
        }
    }

    /// Counts `key`, live until `expires`.
    pub fn add(&mut self, key: &NonceKey<'_>, expires: i64, now: i64) {
        if !key.issued {
            self.merchants
                .entry(key.audience.to_owned())
                .or_default()
                .add(expires);
        }
        self.agents
            .entry(key.holder.to_owned())
            .or_default()
            .add(expires);
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            self.merchants.retain(|_, l| l.count(now) > 0);
            self.agents.retain(|_, l| l.count(now) > 0);
        }
    }
}

/// Nonces of accepted presentations, per audience and holder, in this process, until their
/// presentations expire.
#[derive(Default)]
pub struct MemoryNonces(Mutex<Memory>);

#[derive(Default)]
struct Memory {
    nonces: HashMap<String, i64>,
    quotas: NonceQuotas,
}

impl MemoryNonces {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `key` is live at `now`.
    pub fn is_live(&self, key: &NonceKey<'_>, now: i64) -> bool {
        let memory = self.0.lock().unwrap_or_else(|p| p.into_inner());
        memory
            .nonces
            .get(&key.joined())
            .is_some_and(|&exp| exp >= now)
    }

    /// Records `key` until `expires`: a replay if it is already live, unrecorded if the
    /// memory or the merchant's or agent's share of it is full of live nonces (refusing rather
    /// than forgetting one that could be replayed).
    pub fn record(&self, key: &NonceKey<'_>, expires: i64, now: i64, limits: &Limits) -> Consumed {
        let joined = key.joined();
        let mut memory = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&exp) = memory.nonces.get(&joined) {
            if exp >= now {
                return Consumed::Replayed;
            }
        }
        let max = limits.max_nonces;
        if memory.nonces.len() >= max {
            memory.nonces.retain(|_, &mut exp| exp >= now);
            if memory.nonces.len() >= max {
                return Consumed::Unrecorded(format!("the replay memory holds {max} live nonces"));
            }
        }
        if let Err(why) = memory.quotas.check(key, now, limits) {
            return Consumed::Unrecorded(why);
        }
        memory.quotas.add(key, expires, now);
        memory.nonces.insert(joined, expires);
        Consumed::Fresh
    }
}

impl NonceStore for MemoryNonces {
    async fn consume(
        &self,
        key: NonceKey<'_>,
        expires: i64,
        now: i64,
        limits: &Limits,
    ) -> Consumed {
        self.record(&key, expires, now, limits)
    }
}

impl StatusChecked {
    /// The last step: a presentation with no failure consumes its nonce and is accepted.
    pub(super) async fn check_replay<N: NonceStore>(
        self,
        nonces: &N,
        limits: &Limits,
        now: i64,
    ) -> Decision {
        let (authenticated, mut reasons) = self.into_parts();
        if reasons.is_empty() {
            let p = authenticated.presentation();
            let expires = p.exp.saturating_add(limits.clock_skew_secs);
            use agentid_spec::nonce::{check, Issued};
            let issued = match check(p.nonce.as_str(), p.aud.as_str(), now) {
                Issued::Open => false,
                Issued::Valid => true,
                Issued::Invalid(why) => {
                    reasons.push(Reason::new(Code::NonceMismatch, why));
                    return Decision::rejected(reasons, Some(authenticated.into_claims()), now);
                }
            };
            let key = NonceKey {
                audience: p.aud.as_str(),
                holder: p.holder.as_str(),
                nonce: p.nonce.as_str(),
                issued,
            };
            match nonces.consume(key, expires, now, limits).await {
                Consumed::Fresh => {
                    return Decision::accepted(
                        VerifiedAuthorization(authenticated.into_claims()),
                        now,
                    )
                }
                Consumed::Replayed => {
                    reasons.push(Reason::new(Code::NonceReplayed, "nonce already used"))
                }
                Consumed::Unrecorded(why) => reasons.push(Reason::new(
                    Code::NonceMemoryFull,
                    format!("the nonce cannot be recorded: {why}"),
                )),
            }
        }
        Decision::rejected(reasons, Some(authenticated.into_claims()), now)
    }
}

#[cfg(test)]
mod tests {
    /// A place given back counts for nothing until its expiry, and only once.
    #[test]
    fn places_given_back_count_for_nothing() {
        let mut l = Live::default();
        l.add(10);
        l.add(10);
        l.add(20);
        assert_eq!(l.count(0), 3);
        l.give_back(10);
        assert_eq!(l.count(0), 2);
        assert_eq!(
            l.count(11),
            1,
            "both of 10 expired, the given-back one with them"
        );
        l.add(30);
        assert_eq!(l.count(11), 2);
        l.give_back(30);
        l.give_back(20);
        assert_eq!(l.count(11), 0);
        assert_eq!(l.count(31), 0);
        l.add(40);
        assert_eq!(l.count(31), 1);
    }

    use super::*;

    fn k<'a>(aud: &'a str, holder: &'a str, nonce: &'a str) -> NonceKey<'a> {
        NonceKey {
            audience: aud,
            holder,
            nonce,
            issued: false,
        }
    }

    fn limits(max: usize, per_merchant: usize, per_agent: usize) -> Limits {
        Limits {
            max_nonces: max,
            max_nonces_per_merchant: per_merchant,
            max_nonces_per_agent: per_agent,
            ..Limits::default()
        }
    }

    #[test]
    fn nonce_memory_is_bounded_and_fails_closed() {
        let v = MemoryNonces::new();
        let l = limits(2, 10, 10);
        let fresh = |key, exp, now| v.record(&key, exp, now, &l) == Consumed::Fresh;
        assert!(fresh(k("m", "a", "1"), 100, 0));
        assert_eq!(v.record(&k("m", "a", "1"), 100, 0, &l), Consumed::Replayed);
        assert!(
            fresh(k("other", "a", "1"), 100, 0),
            "nonces are per audience"
        );
        // Full of live nonces: refuse rather than forget one, with its own answer.
        assert!(matches!(
            v.record(&k("m", "a", "2"), 100, 0, &l),
            Consumed::Unrecorded(_)
        ));
        // Once they expire, room is made.
        assert!(fresh(k("m", "a", "2"), 300, 101));
        // An expired nonce may be seen again (its presentation can no longer be accepted).
        assert!(fresh(k("m", "a", "1"), 400, 102));
    }

    /// Nobody burns another agent's nonce, and nobody fills a share but its own.
    #[test]
    fn nonces_are_per_agent_and_shares_are_bounded() {
        let v = MemoryNonces::new();
        let l = limits(100, 4, 2);
        let rec = |key, now| v.record(&key, 100, now, &l);
        assert_eq!(rec(k("m", "stranger", "n-1"), 0), Consumed::Fresh);
        assert_eq!(
            rec(k("m", "customer", "n-1"), 0),
            Consumed::Fresh,
            "the stranger did not burn the customer's nonce"
        );
        assert_eq!(rec(k("m", "stranger", "n-1"), 0), Consumed::Replayed);
        assert_eq!(rec(k("m", "stranger", "n-2"), 0), Consumed::Fresh);
        // The stranger's share at this merchant is full; the customer's is not.
        assert!(
            matches!(rec(k("m", "stranger", "n-3"), 0), Consumed::Unrecorded(m) if m.contains("agent"))
        );
        assert_eq!(rec(k("m", "customer", "n-4"), 0), Consumed::Fresh);
        // The merchant's share: four live nonces in all.
        assert!(
            matches!(rec(k("m", "third", "n-5"), 0), Consumed::Unrecorded(m) if m.contains("merchant"))
        );
        // Other merchants are untouched; the stranger's share is its own everywhere.
        assert_eq!(rec(k("other", "third", "n-3"), 0), Consumed::Fresh);
        assert!(
            matches!(rec(k("other", "stranger", "n-3"), 0), Consumed::Unrecorded(m) if m.contains("agent"))
        );
        // Nonces the merchant issued do not count against its share, which others filled.
        let issued = NonceKey {
            issued: true,
            ..k("m", "fourth", "n-6")
        };
        assert_eq!(rec(issued, 0), Consumed::Fresh);
        assert_eq!(rec(issued, 0), Consumed::Replayed);
        // Shares free up as their nonces expire.
        assert_eq!(rec(k("m", "third", "n-5"), 101), Consumed::Fresh);
    }
}
