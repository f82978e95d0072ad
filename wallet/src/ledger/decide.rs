//! The ledger's decision, pure: what a delegation has used ([`Used`]), whether a spend fits its
//! limits ([`within_limits`]), whether its standing allows any ([`standing`]), and its running
//! counters ([`Counters`]). Both paths that take holds, one request at a time along a chain
//! (`Wallet::authorize` for sub-delegations and keyed retries) and in groups (`group.rs`), fetch
//! what they need under the delegation's lock, decide here, and write what was decided: the
//! rules are written once.

use agentid_spec::credential::SpendingLimit;
use agentid_spec::presentation::Transaction;

use crate::Error;

/// What a delegation has used, in minor units: live holds (held or pending approval), captured
/// holds, and of both those taken in its current budget period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Used {
    pub(crate) held: u64,
    pub(crate) captured: u64,
    pub(crate) in_period: u64,
}

impl Used {
    /// From the sums a statement returned (BIGINT): refused if one is negative, which no
    /// ledger the wallet wrote holds.
    pub(crate) fn from_sums(held: i64, captured: i64, in_period: i64) -> Result<Self, Error> {
        let unsigned = |v: i64| {
            u64::try_from(v).map_err(|_| Error::Internal(format!("ledger sum {v} is negative")))
        };
        Ok(Self {
            held: unsigned(held)?,
            captured: unsigned(captured)?,
            in_period: unsigned(in_period)?,
        })
    }

    /// Held and captured together.
    pub(crate) fn total(self) -> Result<u64, Error> {
        self.held.checked_add(self.captured).ok_or_else(overflow)
    }

    /// After a hold of `amount` is taken now.
    pub(crate) fn debit(self, amount: u64) -> Result<Self, Error> {
        Ok(Self {
            held: self.held.checked_add(amount).ok_or_else(overflow)?,
            captured: self.captured,
            in_period: self.in_period.checked_add(amount).ok_or_else(overflow)?,
        })
    }
}

fn overflow() -> Error {
    Error::Internal("ledger sum overflows".into())
}

/// Refuses any spend on a delegation that is revoked (first) or suspended, by its row or by
/// the log's decisions, as the caller found.
pub(crate) fn standing(revoked: bool, suspended: bool) -> Result<(), Error> {
    if revoked {
        return Err(Error::DelegationRevoked);
    }
    if suspended {
        return Err(Error::DelegationSuspended);
    }
    Ok(())
}

/// Checks spend `t` against one delegation's limits, given what the delegation has used:
/// currency, per transaction, total, per period. True when the spend needs the principal's
/// approval (`approvalAbove`).
pub(crate) fn within_limits(
    limit: &SpendingLimit,
    t: &Transaction,
    used: Used,
) -> Result<bool, Error> {
    if t.currency != limit.currency() || t.amount > limit.per_transaction() {
        return Err(Error::Forbidden(
            "the spend is outside the delegation's currency or per-transaction limit",
        ));
    }
    let spent = used.total()?;
    let total = limit.total().get();
    if spent.checked_add(t.amount.get()).is_none_or(|a| a > total) {
        return Err(Error::BudgetExceeded {
            remaining: total.saturating_sub(spent),
            currency: limit.currency().to_string(),
            period: None,
        });
    }
    if let Some(p) = limit.per_period() {
        if used
            .in_period
            .checked_add(t.amount.get())
            .is_none_or(|a| a > p.amount.get())
        {
            return Err(Error::BudgetExceeded {
                remaining: p.amount.get().saturating_sub(used.in_period),
                currency: limit.currency().to_string(),
                period: Some(p.period.as_str()),
            });
        }
    }
    Ok(limit.approval_above().is_some_and(|a| t.amount > a))
}

/// A delegation's running counters as stored (migration 1009): what its own holds stored held,
/// pending or captured use, and those of them created since `counted_period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) spent: i64,
    pub(crate) period_spent: i64,
    /// The period start they were counted for (0: no period budget); `None`: not known.
    pub(crate) counted_period: Option<i64>,
}

impl Counters {
    /// No counters stored yet.
    pub(crate) const UNKNOWN: Counters = Counters {
        spent: 0,
        period_spent: 0,
        counted_period: None,
    };

    /// The counters of `used`, counted for the period starting at `period`.
    pub(crate) fn of(used: Used, period: i64) -> Result<Self, Error> {
        let signed = |v: u64| i64::try_from(v).map_err(|_| overflow());
        Ok(Self {
            spent: signed(used.total()?)?,
            period_spent: signed(used.in_period)?,
            counted_period: Some(period),
        })
    }

    /// What they say was used, when they were counted for the period starting at `period`
    /// (captured use is counted with the held: the limits see only the sum).
    pub(crate) fn used(self, period: i64) -> Option<Used> {
        if self.counted_period != Some(period) {
            return None;
        }
        Some(Used {
            held: u64::try_from(self.spent).ok()?,
            captured: 0,
            in_period: u64::try_from(self.period_spent).ok()?,
        })
    }

    /// A hold of `amount` created at `created` no longer counts.
    pub(crate) fn give_back(&mut self, amount: i64, created: i64) {
        let in_period = self.counted_period.is_some_and(|p| created >= p);
        match (
            self.spent.checked_sub(amount),
            self.period_spent
                .checked_sub(if in_period { amount } else { 0 }),
        ) {
            (Some(spent), Some(period_spent)) => {
                self.spent = spent;
                self.period_spent = period_spent;
            }
            // Not a sum any more: recounted.
            _ => self.counted_period = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentid_spec::credential::{Amount, Currency, Period, PeriodLimit, SpendingLimitFields};
    use agentid_spec::presentation::OrderHash;

    fn limit(per_tx: u64, total: u64, period: Option<u64>, approval: Option<u64>) -> SpendingLimit {
        SpendingLimit::try_from(SpendingLimitFields {
            currency: Currency::parse("USD").unwrap(),
            per_transaction: Amount::new(per_tx).unwrap(),
            total: Amount::new(total).unwrap(),
            per_period: period.map(|p| PeriodLimit {
                period: Period::Month,
                amount: Amount::new(p).unwrap(),
            }),
            approval_above: approval.map(|a| Amount::new(a).unwrap()),
        })
        .unwrap()
    }

    fn spend(amount: u64) -> Transaction {
        spend_in(amount, "USD")
    }

    fn spend_in(amount: u64, currency: &str) -> Transaction {
        Transaction {
            amount: Amount::new(amount).unwrap(),
            currency: Currency::parse(currency).unwrap(),
            order_hash: OrderHash::of(b"order"),
            category: None,
        }
    }

    fn used(held: u64, captured: u64, in_period: u64) -> Used {
        Used {
            held,
            captured,
            in_period,
        }
    }

    #[test]
    fn the_total_holds_at_its_edge() {
        let l = limit(5_000, 20_000, None, None);
        assert!(matches!(
            within_limits(&l, &spend(5_000), used(10_000, 5_000, 0)),
            Ok(false)
        ));
        match within_limits(&l, &spend(5_000), used(10_000, 5_001, 0)) {
            Err(Error::BudgetExceeded {
                remaining, period, ..
            }) => assert_eq!((remaining, period), (4_999, None)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_period_holds_at_its_edge() {
        let l = limit(5_000, 100_000, Some(8_000), None);
        assert!(matches!(
            within_limits(&l, &spend(3_000), used(50_000, 0, 5_000)),
            Ok(false)
        ));
        match within_limits(&l, &spend(3_001), used(50_000, 0, 5_000)) {
            Err(Error::BudgetExceeded {
                remaining, period, ..
            }) => assert_eq!((remaining, period), (3_000, Some("month"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn per_transaction_currency_and_approval() {
        let l = limit(5_000, 100_000, None, Some(2_000));
        assert!(matches!(
            within_limits(&l, &spend(5_001), Used::default()),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            within_limits(&l, &spend_in(100, "EUR"), Used::default()),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            within_limits(&l, &spend(2_000), Used::default()),
            Ok(false)
        ));
        assert!(matches!(
            within_limits(&l, &spend(2_001), Used::default()),
            Ok(true)
        ));
    }

    #[test]
    fn sums_that_overflow_are_refused_not_wrapped() {
        let l = limit(5_000, 100_000, None, None);
        assert!(matches!(
            within_limits(&l, &spend(1), used(u64::MAX, 1, 0)),
            Err(Error::Internal(_))
        ));
        assert!(used(u64::MAX, 0, 0).debit(1).is_err());
        assert!(used(0, 0, u64::MAX).debit(1).is_err());
        assert!(Used::from_sums(-1, 0, 0).is_err());
        assert!(Counters::of(used(u64::MAX, 0, 0), 0).is_err());
    }

    #[test]
    fn revoked_comes_before_suspended() {
        assert!(matches!(
            standing(true, true),
            Err(Error::DelegationRevoked)
        ));
        assert!(matches!(
            standing(false, true),
            Err(Error::DelegationSuspended)
        ));
        assert!(standing(false, false).is_ok());
    }

    /// No sequence of spends passes a limit: amounts from a fixed pseudo-random sequence, taken
    /// whenever [`within_limits`] allows, with periods turning over, never sum past the total or
    /// a period's budget, and every refusal is of a spend that would have.
    #[test]
    fn no_sequence_of_spends_passes_a_limit() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let per_tx = 1 + next() % 10_000;
            let total = per_tx + next() % 100_000;
            let period = per_tx + next() % (total - per_tx + 1);
            let l = limit(per_tx, total, Some(period), None);
            let mut u = Used::default();
            for step in 0..300 {
                if step % 50 == 49 {
                    // A new period: only the period's use starts again.
                    u.in_period = 0;
                }
                let amount = 1 + next() % (per_tx + per_tx / 4 + 1);
                match within_limits(&l, &spend(amount), u) {
                    Ok(_) => {
                        u = u.debit(amount).unwrap();
                        assert!(u.total().unwrap() <= total);
                        assert!(u.in_period <= period);
                    }
                    Err(_) => assert!(
                        amount > per_tx
                            || u.total().unwrap() + amount > total
                            || u.in_period + amount > period
                    ),
                }
            }
        }
    }

    #[test]
    fn a_given_back_hold_leaves_the_counters_or_makes_them_unknown() {
        let mut c = Counters::of(used(7_000, 0, 3_000), 1_000).unwrap();
        // Created in the period: out of both.
        c.give_back(2_000, 1_000);
        assert_eq!(
            (c.spent, c.period_spent, c.counted_period),
            (5_000, 1_000, Some(1_000))
        );
        // Created before it: out of the total only.
        c.give_back(1_000, 999);
        assert_eq!((c.spent, c.period_spent), (4_000, 1_000));
        assert_eq!(c.used(1_000), Some(used(4_000, 0, 1_000)));
        assert_eq!(c.used(2_000), None, "counted for another period");
        // More than was counted: below zero, no longer what was used, so recounted from the
        // holds; past the integers' range, not counted at all.
        c.give_back(5_000, 1_500);
        assert_eq!(c.used(1_000), None);
        c.give_back(i64::MAX, 1_500);
        assert_eq!(c.counted_period, None);
    }
}
