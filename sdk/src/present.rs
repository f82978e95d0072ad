//! Building a checkout presentation (spec section 7): the agent's side of checkout.

use agentid_spec::authorization::{Settlement, SETTLEMENT_TYP};
use agentid_spec::credential::{Amount, Category, Currency};
use agentid_spec::id::Did;
use agentid_spec::jose::{sign_compact, JoseHeader};
use agentid_spec::presentation::{
    CheckoutPresentation, Nonce, OrderHash, Transaction, PRESENTATION_CTY, PRESENTATION_TYP,
};

use crate::keys::KeyPair;

/// Default lifetime of a presentation: two minutes.
pub const DEFAULT_LIFETIME_SECS: i64 = 120;

/// `orderHash`: base64url(SHA-256(order bytes)). Merchant and agent compute it over the same
/// bytes of the order (the cart as the merchant serves it).
pub fn order_hash(order: &[u8]) -> OrderHash {
    OrderHash::of(order)
}

/// A fresh checkout nonce for a merchant to hand an agent: 128 random bits, base64url (22
/// characters). A merchant issues one per checkout, never reuses or predicts one, and checks
/// that the presentation carries the nonce it issued for that checkout (the verifier's
/// `CheckoutContext` nonce). The verifier remembers each accepted nonce per merchant and per
/// presenting agent until the presentation expires, so a replay is refused and nobody else's
/// checkout can use up a merchant's nonce.
pub fn fresh_nonce() -> Nonce {
    let bytes: [u8; 16] = rand::random();
    // 22 base64url characters are a valid nonce.
    Nonce::parse(&agentid_spec::jose::b64u(&bytes)).expect("a base64url nonce parses")
}

/// A checkout nonce issued by the merchant whose `did:key` is `merchant`'s (the DID its
/// presentations name as `aud`), accepted for `ttl_secs` (at most
/// [`agentid_spec::nonce::MAX_ISSUED_NONCE_SECS`]) from `now`, and when it expires. No one else
/// can make one: a verifier counts issued nonces apart from the merchant's share of its replay
/// memory, which anyone's checkouts addressed to the merchant can fill
/// (see [`agentid_spec::nonce`]).
pub fn issued_nonce(merchant: &crate::keys::KeyPair, now: i64, ttl_secs: i64) -> (Nonce, i64) {
    let ttl = ttl_secs.clamp(1, agentid_spec::nonce::MAX_ISSUED_NONCE_SECS);
    let exp = now.saturating_add(ttl);
    let nonce = agentid_spec::nonce::issue(merchant.signing_key(), exp, rand::random());
    (nonce, exp)
}

/// What the agent signs at checkout.
#[derive(Clone, Debug)]
pub struct CheckoutRequest<'a> {
    /// The agent's DID (`holder`).
    pub agent: &'a Did,
    /// The fragment of the agent's verification method that signs, e.g. `key-1`.
    pub key_fragment: &'a str,
    /// The delegation credential, a compact `vc+jwt`: the principal's delegation to this
    /// agent, or, for a sub-agent, the principal's delegation at the top of its chain.
    pub credential: &'a str,
    /// The sub-delegations from `credential` down to this agent, parent first (section 6.4);
    /// empty for an agent the principal delegated to directly.
    pub links: &'a [String],
    /// The merchant's DID.
    pub merchant: &'a Did,
    /// The merchant's nonce.
    pub nonce: &'a Nonce,
    /// Amount in minor units.
    pub amount: Amount,
    /// Currency.
    pub currency: Currency,
    /// [`order_hash`] of the order.
    pub order_hash: OrderHash,
    /// Purchase category, if the merchant gave one.
    pub category: Option<Category>,
    /// Issued-at, Unix seconds.
    pub now: i64,
    /// Seconds until it expires.
    pub lifetime: i64,
    /// The wallet's spend authorization for this checkout (section 11), or `None` for a spend
    /// request, which is what the wallet is asked to authorize.
    pub authorization: Option<&'a str>,
}

/// Signs a checkout presentation with the agent's key.
pub fn present(req: &CheckoutRequest<'_>, key: &KeyPair) -> String {
    let vp = CheckoutPresentation::new(
        req.agent.clone(),
        req.credential,
        req.merchant.clone(),
        req.nonce.clone(),
        req.now,
        req.now.saturating_add(req.lifetime),
        Transaction {
            amount: req.amount,
            currency: req.currency,
            order_hash: req.order_hash.clone(),
            category: req.category.clone(),
        },
    );
    let vp = vp.with_links(req.links);
    let vp = match req.authorization {
        Some(a) => vp.with_authorization(a),
        None => vp,
    };
    let kid = format!("{}#{}", req.agent, req.key_fragment);
    let header = JoseHeader::eddsa(PRESENTATION_TYP, Some(PRESENTATION_CTY), &kid);
    // Strings and integers only: serialising cannot fail.
    let payload = serde_json::to_vec(&vp).expect("presentation serialises");
    sign_compact(&header, &payload, key.signing_key())
}

/// Signs a merchant's settlement instruction (section 11.3) with the merchant's key `kid`.
pub fn settle(claims: &Settlement, kid: &str, key: &KeyPair) -> String {
    let header = JoseHeader::eddsa(SETTLEMENT_TYP, None, kid);
    // Strings and integers only: serialising cannot fail.
    let payload = serde_json::to_vec(claims).expect("settlement serialises");
    sign_compact(&header, &payload, key.signing_key())
}

#[cfg(test)]
mod nonce_tests {
    #[test]
    fn fresh_nonces_differ() {
        let (a, b) = (super::fresh_nonce(), super::fresh_nonce());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 22);
    }
}
