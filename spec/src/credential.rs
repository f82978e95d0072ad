//! The delegation credential (spec section 6): a W3C VC 2.0 credential secured as a `vc+jwt`
//! (VC-JOSE-COSE), issued by a principal's DID to an agent's DID.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::Did;
use crate::status_list::BitstringStatusListEntry;
use crate::time::Timestamp;

/// The VC 2.0 base context.
pub const VC_CONTEXT_V2: &str = "https://www.w3.org/ns/credentials/v2";
/// agentid's vocabulary context.
pub const AGENTID_CONTEXT_V1: &str = "https://agentid.dev/ns/v1";
/// `typ` of a secured credential (VC-JOSE-COSE section 3.1.1).
pub const CREDENTIAL_TYP: &str = "vc+jwt";
/// `cty` of a secured credential.
pub const CREDENTIAL_CTY: &str = "vc";
/// The credential's specific type.
pub const DELEGATION_TYPE: &str = "AgentDelegationCredential";
/// Most merchants or categories a scope may list.
pub const MAX_SCOPE_ENTRIES: usize = 64;
/// Largest amount in minor units: 10^15 (ten trillion dollars in cents).
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;
/// Largest `maxDepth` a principal may grant: how many sub-delegations may follow the first
/// delegation (section 6.4).
pub const MAX_DEPTH: u8 = 3;
/// Most delegation credentials in one chain: the principal's, then up to [`MAX_DEPTH`] links.
pub const MAX_CHAIN: usize = MAX_DEPTH as usize + 1;

/// An ISO 4217 alphabetic currency code: three uppercase ASCII letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses `USD`, `EUR`, ...
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        (b.len() == 3 && b.iter().all(u8::is_ascii_uppercase)).then(|| Self([b[0], b[1], b[2]]))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Only ASCII uppercase bytes are ever stored.
        std::str::from_utf8(&self.0).expect("ASCII")
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| "currency must be an ISO 4217 code like USD".to_owned())
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in integer minor units (cents), 1 ..= [`MAX_AMOUNT`]. Never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Amount(u64);

impl Amount {
    /// A positive amount within bounds.
    pub fn new(minor_units: u64) -> Option<Self> {
        (1..=MAX_AMOUNT)
            .contains(&minor_units)
            .then_some(Self(minor_units))
    }

    /// The value in minor units.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Amount {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        Self::new(v).ok_or_else(|| format!("amount must be 1..={MAX_AMOUNT} minor units"))
    }
}

impl From<Amount> for u64 {
    fn from(a: Amount) -> u64 {
        a.0
    }
}

/// Longest scope entry, category or similar label, in bytes.
pub const MAX_ENTRY_BYTES: usize = 256;

/// Why a scope or a spending limit was refused (section 6.2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// A list is empty or holds more than [`MAX_SCOPE_ENTRIES`].
    #[error("scope lists hold 1 to 64 entries")]
    ListSize,
    /// An entry is empty or longer than [`MAX_ENTRY_BYTES`].
    #[error("scope entries are 1 to 256 bytes")]
    EntrySize,
    /// `perTransaction` is above `total`.
    #[error("perTransaction must not exceed total")]
    PerTransactionAboveTotal,
    /// A period's amount is below `perTransaction` or above `total`.
    #[error("perPeriod.amount must be between perTransaction and total")]
    PeriodOutOfRange,
    /// `approvalAbove` is not below `perTransaction` (it would never apply).
    #[error("approvalAbove must be below perTransaction")]
    ApprovalAboveOutOfRange,
}

/// A calendar period of a budget, in UTC: a day from 00:00, an ISO week from Monday 00:00, a
/// month from the 1st at 00:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A UTC day.
    Day,
    /// An ISO week (Monday to Sunday), UTC.
    Week,
    /// A calendar month, UTC.
    Month,
}

impl Period {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The start of the period holding `t` and the start of the next one, Unix seconds, UTC.
    /// `t` is a bounded [`Timestamp`] value, so nothing overflows.
    pub fn bounds(self, t: i64) -> (i64, i64) {
        use chrono::{Datelike, NaiveDate, TimeZone, Utc};
        const DAY: i64 = 86_400;
        let day = t.div_euclid(DAY);
        match self {
            Period::Day => (day * DAY, (day + 1) * DAY),
            Period::Week => {
                // 1970-01-01 was a Thursday: Monday is weekday 0.
                let start = day - (day + 3).rem_euclid(7);
                (start * DAY, (start + 7) * DAY)
            }
            Period::Month => {
                let date = Utc
                    .timestamp_opt(t, 0)
                    .single()
                    .map_or(NaiveDate::MIN, |d| d.date_naive());
                let first = |y: i32, m: u32| {
                    NaiveDate::from_ymd_opt(y, m, 1)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map_or(0, |d| d.and_utc().timestamp())
                };
                let (y, m) = (date.year(), date.month());
                let next = if m == 12 {
                    first(y + 1, 1)
                } else {
                    first(y, m + 1)
                };
                (first(y, m), next)
            }
        }
    }
}

/// A budget per calendar period, on top of the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodLimit {
    /// Which period.
    pub period: Period,
    /// Largest sum of purchases in one period.
    pub amount: Amount,
}

/// A scope list: 1 to [`MAX_SCOPE_ENTRIES`] entries of 1 to [`MAX_ENTRY_BYTES`] bytes. An empty
/// list never exists, so it can never be read as "any".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct ScopeList(Vec<String>);

impl ScopeList {
    /// Whether `entry` is listed.
    pub fn contains(&self, entry: &str) -> bool {
        self.0.iter().any(|x| x == entry)
    }

    /// The entries.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl TryFrom<Vec<String>> for ScopeList {
    type Error = GrantError;
    fn try_from(list: Vec<String>) -> Result<Self, GrantError> {
        if list.is_empty() || list.len() > MAX_SCOPE_ENTRIES {
            return Err(GrantError::ListSize);
        }
        if list
            .iter()
            .any(|e| e.is_empty() || e.len() > MAX_ENTRY_BYTES)
        {
            return Err(GrantError::EntrySize);
        }
        Ok(Self(list))
    }
}

impl From<ScopeList> for Vec<String> {
    fn from(l: ScopeList) -> Vec<String> {
        l.0
    }
}

/// Where the agent may spend. An absent list means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Merchant DIDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchants: Option<ScopeList>,
    /// Purchase categories, e.g. `groceries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<ScopeList>,
}

impl Scope {
    /// A scope from optional lists, each checked against section 6.2.
    pub fn new(
        merchants: Option<Vec<String>>,
        categories: Option<Vec<String>>,
    ) -> Result<Self, GrantError> {
        Ok(Self {
            merchants: merchants.map(ScopeList::try_from).transpose()?,
            categories: categories.map(ScopeList::try_from).transpose()?,
        })
    }

    /// Whether the scope lists `merchant` (or lists no merchants at all).
    pub fn allows_merchant(&self, merchant: &str) -> bool {
        self.merchants.as_ref().is_none_or(|m| m.contains(merchant))
    }

    /// Whether the scope lists `category` (or lists no categories at all).
    pub fn allows_category(&self, category: Option<&str>) -> bool {
        match (&self.categories, category) {
            (None, _) => true,
            (Some(list), Some(c)) => list.contains(c),
            (Some(_), None) => false,
        }
    }
}

/// A purchase category: 1 to [`MAX_ENTRY_BYTES`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(String);

impl Category {
    /// Parses a category.
    pub fn parse(s: &str) -> Result<Self, GrantError> {
        if s.is_empty() || s.len() > MAX_ENTRY_BYTES {
            return Err(GrantError::EntrySize);
        }
        Ok(Self(s.to_owned()))
    }

    /// The category.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Category {
    type Error = GrantError;
    fn try_from(s: String) -> Result<Self, GrantError> {
        Self::parse(&s)
    }
}

impl From<Category> for String {
    fn from(c: Category) -> String {
        c.0
    }
}

/// The members of a spending limit before the rule between them is checked: what a request or a
/// credential carries on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpendingLimitFields {
    /// ISO 4217 code.
    pub currency: Currency,
    /// Largest single purchase.
    pub per_transaction: Amount,
    /// Largest sum of all purchases.
    pub total: Amount,
    /// Largest sum of purchases per calendar period, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_period: Option<PeriodLimit>,
    /// Purchases above this amount wait for the principal's approval (step-up), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_above: Option<Amount>,
}

/// The spending limit: a currency, a per-transaction maximum and a total for the credential's
/// lifetime, in minor units, with `perTransaction <= total` (section 6.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SpendingLimitFields", into = "SpendingLimitFields")]
pub struct SpendingLimit(SpendingLimitFields);

impl SpendingLimit {
    /// A limit, if `per_transaction <= total`.
    pub fn new(
        currency: Currency,
        per_transaction: Amount,
        total: Amount,
    ) -> Result<Self, GrantError> {
        Self::try_from(SpendingLimitFields {
            currency,
            per_transaction,
            total,
            per_period: None,
            approval_above: None,
        })
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.0.currency
    }

    /// Largest single purchase.
    pub fn per_transaction(&self) -> Amount {
        self.0.per_transaction
    }

    /// Largest sum of all purchases.
    pub fn total(&self) -> Amount {
        self.0.total
    }

    /// The budget per calendar period, if any.
    pub fn per_period(&self) -> Option<PeriodLimit> {
        self.0.per_period
    }

    /// The amount above which a purchase waits for the principal's approval, if any.
    pub fn approval_above(&self) -> Option<Amount> {
        self.0.approval_above
    }
}

impl TryFrom<SpendingLimitFields> for SpendingLimit {
    type Error = GrantError;
    fn try_from(f: SpendingLimitFields) -> Result<Self, GrantError> {
        if f.per_transaction > f.total {
            return Err(GrantError::PerTransactionAboveTotal);
        }
        if let Some(p) = f.per_period {
            if p.amount < f.per_transaction || p.amount > f.total {
                return Err(GrantError::PeriodOutOfRange);
            }
        }
        if f.approval_above.is_some_and(|a| a >= f.per_transaction) {
            return Err(GrantError::ApprovalAboveOutOfRange);
        }
        Ok(Self(f))
    }
}

impl From<SpendingLimit> for SpendingLimitFields {
    fn from(l: SpendingLimit) -> SpendingLimitFields {
        l.0
    }
}

/// How many further sub-delegations a delegation allows: 0 ..= [`MAX_DEPTH`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct Depth(u8);

impl Depth {
    /// No sub-delegation allowed.
    pub const ZERO: Depth = Depth(0);

    /// A depth within bounds.
    pub fn new(d: u8) -> Option<Self> {
        (d <= MAX_DEPTH).then_some(Self(d))
    }

    /// The value.
    pub fn get(self) -> u8 {
        self.0
    }

    fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl TryFrom<u8> for Depth {
    type Error = String;
    fn try_from(d: u8) -> Result<Self, String> {
        Self::new(d).ok_or_else(|| format!("maxDepth must be 0..={MAX_DEPTH}"))
    }
}

impl From<Depth> for u8 {
    fn from(d: Depth) -> u8 {
        d.0
    }
}

/// The `credentialSubject` of a delegation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DelegationSubject {
    /// The agent's DID.
    pub id: Did,
    /// Where it may spend.
    pub scope: Scope,
    /// How much.
    pub spending_limit: SpendingLimit,
    /// How many further sub-delegations the agent may make below this one; absent is 0.
    #[serde(default, skip_serializing_if = "Depth::is_zero")]
    pub max_depth: Depth,
}

/// A sub-delegation's link to the delegation it narrows (section 6.4): the parent's `id` and
/// [`credential_hash`](crate::authorization::credential_hash) of its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParentLink {
    /// The parent credential's `id`.
    pub id: String,
    /// base64url(SHA-256(the parent's compact JWS)).
    pub digest: String,
}

/// How a sub-delegation would grant more than its parent (section 6.4): each names the member.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Widening {
    /// The parent allows no further sub-delegation, or the child's `maxDepth` is not smaller.
    #[error("maxDepth: the parent allows no sub-delegation this deep")]
    Depth,
    /// Another currency.
    #[error("currency differs from the parent's")]
    Currency,
    /// A higher per-transaction limit.
    #[error("perTransaction is above the parent's")]
    PerTransaction,
    /// A higher total.
    #[error("total is above the parent's")]
    Total,
    /// No period budget where the parent has one, another period, or a higher amount.
    #[error("perPeriod is missing, of another period, or above the parent's")]
    PerPeriod,
    /// Purchases above the parent's approval threshold without a threshold no higher.
    #[error("approvalAbove is missing or above the parent's")]
    ApprovalAbove,
    /// A merchant the parent does not list (or any merchant where the parent lists some).
    #[error("merchants are not a subset of the parent's")]
    Merchants,
    /// A category the parent does not list (or any category where the parent lists some).
    #[error("categories are not a subset of the parent's")]
    Categories,
    /// Valid before the parent or after it.
    #[error("validity period is outside the parent's")]
    Validity,
}

/// Whether `child` lists only what `parent` lists (`None` is "any").
fn subset(child: &Option<ScopeList>, parent: &Option<ScopeList>) -> bool {
    match (child, parent) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(c), Some(p)) => c.as_slice().iter().all(|e| p.contains(e)),
    }
}

/// What a principal grants an agent: the subject and the validity period of a delegation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The agent's DID.
    pub agent: Did,
    /// Where it may spend.
    pub scope: Scope,
    /// How much.
    pub spending_limit: SpendingLimit,
    /// Start of validity.
    pub valid_from: Timestamp,
    /// End of validity.
    pub valid_until: Timestamp,
    /// How many further sub-delegations the agent may make.
    pub max_depth: Depth,
}

/// A delegation credential, the payload of a `vc+jwt` (section 6.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegationCredential {
    /// `[VC_CONTEXT_V2, AGENTID_CONTEXT_V1]`.
    #[serde(rename = "@context")]
    pub context: Vec<String>,
    /// `urn:uuid:...`.
    pub id: String,
    /// `["VerifiableCredential", "AgentDelegationCredential"]`.
    #[serde(rename = "type")]
    pub type_: Vec<String>,
    /// The principal's DID.
    pub issuer: Did,
    /// Start of validity.
    pub valid_from: Timestamp,
    /// End of validity.
    pub valid_until: Timestamp,
    /// The agent and its authority.
    pub credential_subject: DelegationSubject,
    /// Where its revocation bit lives.
    pub credential_status: BitstringStatusListEntry,
    /// For a sub-delegation, the delegation it narrows; absent on a principal's delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
}

impl DelegationCredential {
    /// The credential `id` (a `urn:uuid:`) that `issuer` issues for `grant`, whose revocation
    /// bit is `status`. The one constructor: the wallet, the vectors and the benches all build
    /// credentials here.
    pub fn new(id: String, issuer: Did, grant: Grant, status: BitstringStatusListEntry) -> Self {
        Self {
            context: vec![VC_CONTEXT_V2.to_owned(), AGENTID_CONTEXT_V1.to_owned()],
            id,
            type_: vec![
                "VerifiableCredential".to_owned(),
                DELEGATION_TYPE.to_owned(),
            ],
            issuer,
            valid_from: grant.valid_from,
            valid_until: grant.valid_until,
            credential_subject: DelegationSubject {
                id: grant.agent,
                scope: grant.scope,
                spending_limit: grant.spending_limit,
                max_depth: grant.max_depth,
            },
            credential_status: status,
            parent: None,
        }
    }

    /// The sub-delegation `id` by `issuer` (the parent's subject) for `grant`, below `parent`
    /// (section 6.4). Whether it narrows its parent is [`DelegationCredential::narrows`].
    pub fn link(
        id: String,
        issuer: Did,
        grant: Grant,
        status: BitstringStatusListEntry,
        parent: ParentLink,
    ) -> Self {
        Self {
            parent: Some(parent),
            ..Self::new(id, issuer, grant, status)
        }
    }

    /// Section 6.4: whether this credential grants at most what `parent` grants: a smaller
    /// depth, the same currency, limits no higher, a scope no wider, a validity period within
    /// the parent's. (That it names the parent and is issued by the parent's subject is checked
    /// by whoever holds both credentials' bytes.)
    pub fn narrows(&self, parent: &DelegationCredential) -> Result<(), Widening> {
        let (c, p) = (&self.credential_subject, &parent.credential_subject);
        if p.max_depth.get() == 0 || c.max_depth.get() >= p.max_depth.get() {
            return Err(Widening::Depth);
        }
        let (cl, pl) = (&c.spending_limit, &p.spending_limit);
        if cl.currency() != pl.currency() {
            return Err(Widening::Currency);
        }
        if cl.per_transaction() > pl.per_transaction() {
            return Err(Widening::PerTransaction);
        }
        if cl.total() > pl.total() {
            return Err(Widening::Total);
        }
        if let Some(pp) = pl.per_period() {
            if cl
                .per_period()
                .is_none_or(|cp| cp.period != pp.period || cp.amount > pp.amount)
            {
                return Err(Widening::PerPeriod);
            }
        }
        if let Some(pa) = pl.approval_above() {
            // Either a threshold no higher, or no purchase the child allows can pass the
            // parent's threshold.
            if cl.per_transaction() > pa && cl.approval_above().is_none_or(|ca| ca > pa) {
                return Err(Widening::ApprovalAbove);
            }
        }
        if !subset(&c.scope.merchants, &p.scope.merchants) {
            return Err(Widening::Merchants);
        }
        if !subset(&c.scope.categories, &p.scope.categories) {
            return Err(Widening::Categories);
        }
        if self.valid_from.unix() < parent.valid_from.unix()
            || self.valid_until.unix() > parent.valid_until.unix()
        {
            return Err(Widening::Validity);
        }
        Ok(())
    }

    /// Checks section 6.1's structural rules that span members; returns the validity window as
    /// Unix seconds.
    pub fn validate(&self) -> Result<(i64, i64), &'static str> {
        if self.context.first().map(String::as_str) != Some(VC_CONTEXT_V2) {
            return Err("first @context must be the VC 2.0 context");
        }
        if !self.type_.iter().any(|t| t == "VerifiableCredential")
            || !self.type_.iter().any(|t| t == DELEGATION_TYPE)
        {
            return Err("type must include VerifiableCredential and AgentDelegationCredential");
        }
        let (from, until) = (self.valid_from.unix(), self.valid_until.unix());
        if until <= from {
            return Err("validUntil must be after validFrom");
        }
        let status = &self.credential_status;
        if status.type_ != "BitstringStatusListEntry" || status.status_purpose != "revocation" {
            return Err("credentialStatus must be a revocation BitstringStatusListEntry");
        }
        if status.index().is_none() {
            return Err("statusListIndex is not a canonical index");
        }
        Ok((from, until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_at_their_edges() {
        let list = |n: usize, len: usize| vec!["m".repeat(len); n];
        assert!(ScopeList::try_from(list(MAX_SCOPE_ENTRIES, MAX_ENTRY_BYTES)).is_ok());
        assert_eq!(ScopeList::try_from(list(0, 1)), Err(GrantError::ListSize));
        assert_eq!(
            ScopeList::try_from(list(MAX_SCOPE_ENTRIES + 1, 1)),
            Err(GrantError::ListSize)
        );
        assert_eq!(
            ScopeList::try_from(list(1, MAX_ENTRY_BYTES + 1)),
            Err(GrantError::EntrySize)
        );
        assert_eq!(ScopeList::try_from(list(1, 0)), Err(GrantError::EntrySize));
        assert!(serde_json::from_str::<Scope>(r#"{"merchants":[]}"#).is_err());
        let s = Scope::new(Some(vec!["a".into()]), None).unwrap();
        assert!(s.allows_merchant("a") && !s.allows_merchant("b"));
        assert!(s.allows_category(None));
    }

    #[test]
    fn periods_are_utc_calendar_periods() {
        // 2026-01-01T00:00:00Z is a Thursday.
        let t = 1_767_225_600;
        assert_eq!(Period::Day.bounds(t), (t, t + 86_400));
        assert_eq!(Period::Day.bounds(t + 86_399), (t, t + 86_400));
        // Its ISO week began on Monday 2025-12-29.
        assert_eq!(Period::Week.bounds(t), (t - 3 * 86_400, t + 4 * 86_400));
        assert_eq!(
            Period::Week.bounds(t + 4 * 86_400),
            (t + 4 * 86_400, t + 11 * 86_400)
        );
        assert_eq!(Period::Month.bounds(t), (t, t + 31 * 86_400));
        assert_eq!(Period::Month.bounds(t - 1), (t - 31 * 86_400, t));
        // February 2028 has 29 days.
        let feb = 1_832_976_000; // 2028-02-01
        assert_eq!(Period::Month.bounds(feb + 100), (feb, feb + 29 * 86_400));
    }

    #[test]
    fn limits_hold_their_rule() {
        let usd = Currency::parse("USD").unwrap();
        let a = |n| Amount::new(n).unwrap();
        assert!(SpendingLimit::new(usd, a(5), a(5)).is_ok());
        assert_eq!(
            SpendingLimit::new(usd, a(6), a(5)),
            Err(GrantError::PerTransactionAboveTotal)
        );
        let json = r#"{"currency":"USD","perTransaction":6,"total":5}"#;
        assert!(serde_json::from_str::<SpendingLimit>(json).is_err());
        let ok = SpendingLimit::new(usd, a(1), a(2)).unwrap();
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"currency":"USD","perTransaction":1,"total":2}"#
        );
        let json = r#"{"currency":"USD","perTransaction":5,"total":50,"perPeriod":{"period":"week","amount":4}}"#;
        assert!(
            serde_json::from_str::<SpendingLimit>(json).is_err(),
            "period below perTransaction"
        );
        let json = r#"{"currency":"USD","perTransaction":5,"total":50,"perPeriod":{"period":"week","amount":20}}"#;
        let l: SpendingLimit = serde_json::from_str(json).unwrap();
        assert_eq!(l.per_period().unwrap().period, Period::Week);
        assert_eq!(serde_json::to_string(&l).unwrap(), json);
        assert!(Category::parse("").is_err());
        assert!(Category::parse(&"c".repeat(MAX_ENTRY_BYTES)).is_ok());
    }
}
