//! The verifier's answer.

use agentid_spec::code::{Code, Reason};
use serde::{Deserialize, Serialize};

use super::replay::VerifiedAuthorization;
use super::signatures::SignedClaims;

/// Yes or no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed.
    Accepted,
    /// At least one check failed.
    Rejected,
}

/// What a decision carries as evidence, serialised as `authorization` either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
enum Evidence {
    /// Every check passed: the authority the merchant may act on.
    Verified(VerifiedAuthorization),
    /// The signatures held but a later check failed: what they proved, nothing more.
    Claims(SignedClaims),
}

/// The verifier's answer: accepted or rejected, every reason, and what was proven. Only an
/// accepted decision holds a [`VerifiedAuthorization`]; a rejected one that got past the
/// signatures holds the [`SignedClaims`] as evidence for the merchant's records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    decision: Verdict,
    reasons: Vec<Reason>,
    #[serde(rename = "authorization", skip_serializing_if = "Option::is_none")]
    evidence: Option<Evidence>,
    checked_at: i64,
}

impl Decision {
    /// An acceptance; only the replay step holds a [`VerifiedAuthorization`] to give.
    pub(super) fn accepted(authorization: VerifiedAuthorization, now: i64) -> Self {
        Self {
            decision: Verdict::Accepted,
            reasons: Vec::new(),
            evidence: Some(Evidence::Verified(authorization)),
            checked_at: now,
        }
    }

    /// A rejection for `reasons` (never empty), with the signed claims if the signatures held.
    pub(super) fn rejected(reasons: Vec<Reason>, claims: Option<SignedClaims>, now: i64) -> Self {
        debug_assert!(!reasons.is_empty());
        Self {
            decision: Verdict::Rejected,
            reasons,
            evidence: claims.map(Evidence::Claims),
            checked_at: now,
        }
    }

    /// Whether the presentation was accepted.
    pub fn is_accepted(&self) -> bool {
        self.decision == Verdict::Accepted
    }

    /// Accepted or rejected.
    pub fn verdict(&self) -> Verdict {
        self.decision
    }

    /// Why not, when rejected; empty when accepted.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The codes of the reasons, in order.
    pub fn codes(&self) -> Vec<Code> {
        self.reasons.iter().map(|r| r.code).collect()
    }

    /// Unix seconds at which the decision was made.
    pub fn checked_at(&self) -> i64 {
        self.checked_at
    }

    /// The authority proven, when accepted.
    pub fn authorization(&self) -> Option<&VerifiedAuthorization> {
        match &self.evidence {
            Some(Evidence::Verified(a)) => Some(a),
            _ => None,
        }
    }

    /// The authority proven, when accepted.
    pub fn into_authorization(self) -> Option<VerifiedAuthorization> {
        match self.evidence {
            Some(Evidence::Verified(a)) => Some(a),
            _ => None,
        }
    }

    /// What the signatures proved, accepted or not (absent when they did not hold).
    pub fn claims(&self) -> Option<&SignedClaims> {
        match &self.evidence {
            Some(Evidence::Verified(a)) => Some(a.claims()),
            Some(Evidence::Claims(c)) => Some(c),
            None => None,
        }
    }
}
