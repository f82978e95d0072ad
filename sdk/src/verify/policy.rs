//! Steps 10-17: what the signed claims allow, here and now: the agent's standing, the
//! credential's and the presentation's validity, audience, nonce, scope, limits and the
//! merchant's order. Every failure is collected; none ends verification early. Only
//! [`Authenticated::check_policy`] makes a [`PolicyChecked`].

use agentid_spec::code::{Code, Reason};
use agentid_spec::document::AgentStatus;

use super::signatures::Authenticated;
use super::{CheckoutContext, Limits};

/// An authenticated presentation and the policy failures found, if any.
pub(super) struct PolicyChecked {
    authenticated: Authenticated,
    reasons: Vec<Reason>,
}

impl PolicyChecked {
    pub(super) fn into_parts(self) -> (Authenticated, Vec<Reason>) {
        (self.authenticated, self.reasons)
    }
}

impl Authenticated {
    /// Steps 10-17 against the merchant's `ctx` at `now`.
    pub(super) fn check_policy(
        self,
        ctx: &CheckoutContext,
        limits: &Limits,
        now: i64,
    ) -> PolicyChecked {
        let mut reasons = Vec::new();
        let mut push = |code: Code, msg: String| reasons.push(Reason::new(code, msg));
        let skew = limits.clock_skew_secs;
        let presentation = self.presentation();
        let credential = self.credential();
        let (valid_from, valid_until) = self.validity();

        // Step 10: the standing of the agent, and of every agent that sub-delegated to it
        // (deplatforming an agent stops every credential below it).
        let agents =
            std::iter::once(self.agent()).chain(self.intermediaries().iter().map(|a| &**a));
        for (i, agent) in agents.enumerate() {
            let who = if i == 0 {
                "agent".to_owned()
            } else {
                format!("delegating agent {}", agent.document.id)
            };
            match agent.status() {
                AgentStatus::Active => {}
                AgentStatus::Deactivated => {
                    push(Code::AgentDeactivated, format!("{who} is deactivated"))
                }
                AgentStatus::Suspended => {
                    let suspension = agent.metadata.as_ref().and_then(|m| m.suspended.as_ref());
                    // A suspension ends by itself at its `until` (an unreadable one never does).
                    let until = suspension
                        .and_then(|s| agentid_spec::time::parse_rfc3339(&s.until))
                        .unwrap_or(i64::MAX);
                    if now < until {
                        let why = suspension.map_or_else(String::new, |s| {
                            format!(" until {} ({}: {})", s.until, s.reason_code, s.reason)
                        });
                        push(Code::AgentSuspended, format!("{who} is suspended{why}"));
                    }
                }
                AgentStatus::Deplatformed => {
                    let why = agent
                        .metadata
                        .as_ref()
                        .and_then(|m| m.deplatformed.as_ref())
                        .map_or_else(String::new, |d| format!(": {}", d.reason));
                    push(
                        Code::AgentDeplatformed,
                        format!("{who} is deplatformed{why}"),
                    );
                }
            }
        }

        // Step 11: the credential's validity period (timestamps are bounded, so no overflow).
        if now > valid_until + skew {
            push(
                Code::CredentialExpired,
                format!("credential expired at {}", credential.valid_until),
            );
        }
        if now + skew < valid_from {
            push(
                Code::CredentialNotYetValid,
                format!("credential valid from {}", credential.valid_from),
            );
        }

        // Step 12: the presentation's lifetime.
        if now > presentation.exp.saturating_add(skew) {
            push(Code::PresentationExpired, "presentation expired".into());
        } else if presentation.exp.saturating_sub(presentation.iat)
            > limits.max_presentation_lifetime_secs
            || presentation.exp < presentation.iat
        {
            push(
                Code::PresentationExpired,
                format!(
                    "presentation lifetime exceeds {} s",
                    limits.max_presentation_lifetime_secs
                ),
            );
        }
        if presentation.iat > now + skew {
            push(
                Code::PresentationNotYetValid,
                "presentation issued in the future".into(),
            );
        } else if presentation.nbf.is_some_and(|nbf| nbf > now + skew) {
            // RFC 7519 section 4.1.5: not to be accepted before `nbf`.
            push(
                Code::PresentationNotYetValid,
                "presentation not valid before its nbf".into(),
            );
        }

        // Step 13: audience.
        if presentation.aud != ctx.merchant {
            push(
                Code::WrongAudience,
                "presentation is for another merchant".into(),
            );
        }

        // Step 14: nonce (replay is checked last, when everything else holds).
        if presentation.nonce != ctx.nonce {
            push(Code::NonceMismatch, "nonce is not the merchant's".into());
        }

        // Step 15: scope.
        let grant = &credential.credential_subject;
        if !grant.scope.allows_merchant(ctx.merchant.as_str()) {
            push(
                Code::MerchantNotInScope,
                "merchant is not in the credential's scope".into(),
            );
        }
        let tx = &presentation.transaction;
        let category = ctx.category.as_ref().or(tx.category.as_ref());
        if !grant.scope.allows_category(category.map(|c| c.as_str())) {
            push(
                Code::CategoryNotInScope,
                format!(
                    "category {:?} is not in scope",
                    category.map(|c| c.as_str())
                ),
            );
        }

        // Step 16: limits.
        let limit = &grant.spending_limit;
        if tx.currency != limit.currency() {
            push(
                Code::CurrencyMismatch,
                format!("limit is in {}, not {}", limit.currency(), tx.currency),
            );
        } else if tx.amount > limit.per_transaction() {
            push(
                Code::LimitExceeded,
                format!(
                    "{} exceeds the per-transaction limit of {}",
                    tx.amount.get(),
                    limit.per_transaction().get()
                ),
            );
        }

        // Step 17: the transaction is the merchant's order.
        let mismatch = ctx.amount.is_some_and(|a| a != tx.amount)
            || ctx.currency.is_some_and(|c| c != tx.currency)
            || ctx.order_hash.as_ref().is_some_and(|h| *h != tx.order_hash)
            || (ctx.category.is_some() && tx.category.is_some() && ctx.category != tx.category);
        if mismatch {
            push(
                Code::TransactionMismatch,
                "presented transaction differs from the merchant's order".into(),
            );
        }

        PolicyChecked {
            authenticated: self,
            reasons,
        }
    }
}
