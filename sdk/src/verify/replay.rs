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

/// Nonces of accepted presentations, per audience, until their presentations expire.
pub(super) struct NonceMemory(Mutex<HashMap<String, i64>>);

impl NonceMemory {
    pub(super) fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    /// Records `nonce` for `aud` until `expires`; false if it is already live, or if the memory
    /// is full of live nonces (refusing rather than forgetting one that could be replayed).
    pub(super) fn consume(
        &self,
        aud: &str,
        nonce: &str,
        expires: i64,
        now: i64,
        max: usize,
    ) -> bool {
        let mut key = String::with_capacity(aud.len() + 1 + nonce.len());
        key.push_str(aud);
        key.push('\n');
        key.push_str(nonce);
        let mut nonces = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&exp) = nonces.get(&key) {
            if exp >= now {
                return false;
            }
        }
        if nonces.len() >= max {
            nonces.retain(|_, &mut exp| exp >= now);
            if nonces.len() >= max {
                return false;
            }
        }
        nonces.insert(key, expires);
        true
    }
}

impl StatusChecked {
    /// The last step: a presentation with no failure consumes its nonce and is accepted.
    pub(super) fn check_replay(self, nonces: &NonceMemory, limits: &Limits, now: i64) -> Decision {
        let (authenticated, mut reasons) = self.into_parts();
        if reasons.is_empty() {
            let p = authenticated.presentation();
            let expires = p.exp.saturating_add(limits.clock_skew_secs);
            if nonces.consume(
                p.aud.as_str(),
                p.nonce.as_str(),
                expires,
                now,
                limits.max_nonces,
            ) {
                return Decision::accepted(VerifiedAuthorization(authenticated.into_claims()), now);
            }
            reasons.push(Reason::new(Code::NonceReplayed, "nonce already used"));
        }
        Decision::rejected(reasons, Some(authenticated.into_claims()), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_memory_is_bounded_and_fails_closed() {
        let v = NonceMemory::new();
        let max = 2;
        assert!(v.consume("m", "1", 100, 0, max));
        assert!(!v.consume("m", "1", 100, 0, max), "replay");
        assert!(
            v.consume("other", "1", 100, 0, max),
            "nonces are per audience"
        );
        // Full of live nonces: refuse rather than forget one.
        assert!(!v.consume("m", "2", 100, 0, max));
        // Once they expire, room is made.
        assert!(v.consume("m", "2", 300, 101, max));
        // An expired nonce may be seen again (its presentation can no longer be accepted).
        assert!(v.consume("m", "1", 400, 102, max));
    }
}
