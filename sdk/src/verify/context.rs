//! What the merchant expects of a presentation.

use agentid_spec::credential::{Amount, Category, Currency};
use agentid_spec::id::Did;
use agentid_spec::presentation::{Nonce, OrderHash};
use serde::{Deserialize, Serialize};

/// What the merchant expects: its own DID, the nonce it issued, and optionally the order. Every
/// member is a parsed type, so a context that exists is well-formed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutContext {
    /// The merchant's DID: the expected `aud`, and the merchant the scope must list.
    pub merchant: Did,
    /// The nonce the merchant issued for this checkout.
    pub nonce: Nonce,
    /// The order total the merchant expects, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// The currency the merchant expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// The order hash the merchant computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_hash: Option<OrderHash>,
    /// The merchant's purchase category; overrides the one the agent claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

impl CheckoutContext {
    /// A checkout at `merchant` with `nonce`, and no expectations of the order yet.
    pub fn new(merchant: Did, nonce: Nonce) -> Self {
        Self {
            merchant,
            nonce,
            amount: None,
            currency: None,
            order_hash: None,
            category: None,
        }
    }
}
