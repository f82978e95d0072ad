//! The delegation credential (spec section 6): a W3C VC 2.0 credential secured as a `vc+jwt`
//! (VC-JOSE-COSE), issued by a principal's DID to an agent's DID.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::status_list::BitstringStatusListEntry;

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

/// Where the agent may spend. An absent list means "any"; a present list must not be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Merchant DIDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchants: Option<Vec<String>>,
    /// Purchase categories, e.g. `groceries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

impl Scope {
    /// Whether the scope lists `merchant` (or lists no merchants at all).
    pub fn allows_merchant(&self, merchant: &str) -> bool {
        self.merchants
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == merchant))
    }

    /// Whether the scope lists `category` (or lists no categories at all).
    pub fn allows_category(&self, category: Option<&str>) -> bool {
        match (&self.categories, category) {
            (None, _) => true,
            (Some(list), Some(c)) => list.iter().any(|x| x == c),
            (Some(_), None) => false,
        }
    }

    /// Section 6.2 bounds: lists non-empty, at most [`MAX_SCOPE_ENTRIES`], entries 1-256 bytes.
    pub fn validate(&self) -> Result<(), &'static str> {
        for list in [&self.merchants, &self.categories].into_iter().flatten() {
            if list.is_empty() || list.len() > MAX_SCOPE_ENTRIES {
                return Err("scope lists hold 1 to 64 entries");
            }
            if list.iter().any(|e| e.is_empty() || e.len() > 256) {
                return Err("scope entries are 1 to 256 bytes");
            }
        }
        Ok(())
    }
}

/// The spending limit: a currency, a per-transaction maximum and a total for the credential's
/// lifetime, in minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpendingLimit {
    /// ISO 4217 code.
    pub currency: Currency,
    /// Largest single purchase.
    pub per_transaction: Amount,
    /// Largest sum of all purchases.
    pub total: Amount,
}

/// The `credentialSubject` of a delegation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DelegationSubject {
    /// The agent's DID.
    pub id: String,
    /// Where it may spend.
    pub scope: Scope,
    /// How much.
    pub spending_limit: SpendingLimit,
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
    pub issuer: String,
    /// RFC 3339 start of validity.
    pub valid_from: String,
    /// RFC 3339 end of validity.
    pub valid_until: String,
    /// The agent and its authority.
    pub credential_subject: DelegationSubject,
    /// Where its revocation bit lives.
    pub credential_status: BitstringStatusListEntry,
}

impl DelegationCredential {
    /// Checks section 6.1's structural rules; returns the validity window as Unix seconds.
    pub fn validate(&self) -> Result<(i64, i64), &'static str> {
        if self.context.first().map(String::as_str) != Some(VC_CONTEXT_V2) {
            return Err("first @context must be the VC 2.0 context");
        }
        if !self.type_.iter().any(|t| t == "VerifiableCredential")
            || !self.type_.iter().any(|t| t == DELEGATION_TYPE)
        {
            return Err("type must include VerifiableCredential and AgentDelegationCredential");
        }
        let from =
            crate::time::parse_rfc3339(&self.valid_from).ok_or("validFrom is not RFC 3339")?;
        let until =
            crate::time::parse_rfc3339(&self.valid_until).ok_or("validUntil is not RFC 3339")?;
        if until <= from {
            return Err("validUntil must be after validFrom");
        }
        self.credential_subject.scope.validate()?;
        let limit = &self.credential_subject.spending_limit;
        if limit.per_transaction > limit.total {
            return Err("perTransaction must not exceed total");
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
