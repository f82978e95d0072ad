//! Step 14, last: the nonce is consumed only by a presentation that passed every other check,
//! and only then does a [`VerifiedAuthorization`] come to exist.

use std::collections::HashMap;
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
    /// The nonce was not live for this audience; it is now, until its presentation expires.
    Fresh,
    /// The nonce is live for this audience: a replay.
    Replayed,
    /// The memory is full of live nonces, or cannot be written: the nonce cannot be recorded,
    /// and the presentation is refused rather than risk a replay.
    Unrecorded(String),
}

/// Where a verifier remembers the nonces of accepted presentations, per audience (merchant),
/// until they expire: in this process ([`MemoryNonces`]), or shared by many verifiers and kept
/// across restarts (a database, as `agentid serve` does).
pub trait NonceStore: Send + Sync {
    /// Records `nonce` for `aud` until `expires` (Unix seconds) unless it is live at `now`;
    /// at most `max` live nonces are kept.
    fn consume(
        &self,
        aud: &str,
        nonce: &str,
        expires: i64,
        now: i64,
        max: usize,
    ) -> impl std::future::Future<Output = Consumed> + Send;
}

/// Nonces of accepted presentations, per audience, in this process, until their presentations
/// expire.
#[derive(Default)]
pub struct MemoryNonces(Mutex<HashMap<String, i64>>);

impl MemoryNonces {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `nonce` is live for `aud` at `now`.
    pub fn is_live(&self, aud: &str, nonce: &str, now: i64) -> bool {
        let nonces = self.0.lock().unwrap_or_else(|p| p.into_inner());
        nonces.get(&key(aud, nonce)).is_some_and(|&exp| exp >= now)
    }

    /// Records `nonce` for `aud` until `expires`; false if it is already live, or if the memory
    /// is full of live nonces (refusing rather than forgetting one that could be replayed).
    pub fn record(&self, aud: &str, nonce: &str, expires: i64, now: i64, max: usize) -> Consumed {
        let key = key(aud, nonce);
        let mut nonces = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&exp) = nonces.get(&key) {
            if exp >= now {
                return Consumed::Replayed;
            }
        }
        if nonces.len() >= max {
            nonces.retain(|_, &mut exp| exp >= now);
            if nonces.len() >= max {
                return Consumed::Unrecorded(format!("the replay memory holds {max} live nonces"));
            }
        }
        nonces.insert(key, expires);
        Consumed::Fresh
    }
}

impl NonceStore for MemoryNonces {
    async fn consume(
        &self,
        aud: &str,
        nonce: &str,
        expires: i64,
        now: i64,
        max: usize,
    ) -> Consumed {
        self.record(aud, nonce, expires, now, max)
    }
}

fn key(aud: &str, nonce: &str) -> String {
    let mut key = String::with_capacity(aud.len() + 1 + nonce.len());
    key.push_str(aud);
    key.push('\n');
    key.push_str(nonce);
    key
}

impl MemoryNonces {
    #[cfg(test)]
    fn consume_sync(&self, aud: &str, nonce: &str, expires: i64, now: i64, max: usize) -> bool {
        self.record(aud, nonce, expires, now, max) == Consumed::Fresh
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
            match nonces
                .consume(
                    p.aud.as_str(),
                    p.nonce.as_str(),
                    expires,
                    now,
                    limits.max_nonces,
                )
                .await
            {
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
    use super::*;

    #[test]
    fn nonce_memory_is_bounded_and_fails_closed() {
        let v = MemoryNonces::new();
        let max = 2;
        assert!(v.consume_sync("m", "1", 100, 0, max));
        assert_eq!(v.record("m", "1", 100, 0, max), Consumed::Replayed);
        assert!(
            v.consume_sync("other", "1", 100, 0, max),
            "nonces are per audience"
        );
        // Full of live nonces: refuse rather than forget one, with its own answer.
        assert!(matches!(
            v.record("m", "2", 100, 0, max),
            Consumed::Unrecorded(_)
        ));
        // Once they expire, room is made.
        assert!(v.consume_sync("m", "2", 300, 101, max));
        // An expired nonce may be seen again (its presentation can no longer be accepted).
        assert!(v.consume_sync("m", "1", 400, 102, max));
    }
}
