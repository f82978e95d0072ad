//! The checkout presentation (spec section 7): a VC 2.0 presentation secured as a `vp+jwt`,
//! signed by the agent, bound to one merchant, one nonce and one order.

use serde::{Deserialize, Serialize};

use std::fmt;

use crate::credential::{
    Amount, Category, Currency, AGENTID_CONTEXT_V1, CREDENTIAL_TYP, VC_CONTEXT_V2,
};
use crate::id::Did;

/// `typ` of a checkout presentation.
pub const PRESENTATION_TYP: &str = "vp+jwt";
/// `cty` of a checkout presentation.
pub const PRESENTATION_CTY: &str = "vp";
/// The presentation's specific type.
pub const CHECKOUT_TYPE: &str = "CheckoutPresentation";
/// Prefix of an enveloped credential's `id` (VC-JOSE-COSE section 3.3).
pub const ENVELOPED_PREFIX: &str = "data:application/vc+jwt,";

/// Longest nonce, in bytes.
pub const MAX_NONCE_BYTES: usize = 256;
/// Longest order hash, in bytes.
pub const MAX_ORDER_HASH_BYTES: usize = 128;

/// Why a nonce or an order hash was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A nonce is 1 to 256 bytes of visible ASCII.
    #[error("a nonce is 1 to 256 bytes of visible ASCII")]
    Nonce,
    /// An order hash is 1 to 128 characters of base64url.
    #[error("an order hash is 1 to 128 characters of base64url")]
    OrderHash,
}

/// The merchant's nonce for one checkout: 1 to [`MAX_NONCE_BYTES`] bytes of visible ASCII.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nonce(String);

impl Nonce {
    /// Parses a nonce.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ok =
            (1..=MAX_NONCE_BYTES).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(s.to_owned())).ok_or(ValueError::Nonce)
    }

    /// The nonce.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Nonce {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        Self::parse(&s)
    }
}

impl From<Nonce> for String {
    fn from(n: Nonce) -> String {
        n.0
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `orderHash`: base64url(SHA-256(order bytes)) as the merchant computes it; accepted as 1 to
/// [`MAX_ORDER_HASH_BYTES`] characters of base64url, compared byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderHash(String);

impl OrderHash {
    /// Parses an order hash.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ok = (1..=MAX_ORDER_HASH_BYTES).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned())).ok_or(ValueError::OrderHash)
    }

    /// The hash of `order`, the bytes of the order as the merchant serves them.
    pub fn of(order: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        Self(crate::jose::b64u(&Sha256::digest(order)))
    }

    /// The hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrderHash {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        Self::parse(&s)
    }
}

impl From<OrderHash> for String {
    fn from(h: OrderHash) -> String {
        h.0
    }
}

/// The transaction the presentation authorizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transaction {
    /// Amount in minor units.
    pub amount: Amount,
    /// ISO 4217 code.
    pub currency: Currency,
    /// base64url(SHA-256(order bytes)), as the merchant computes it.
    pub order_hash: OrderHash,
    /// Purchase category, when the merchant has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

/// An `EnvelopedVerifiableCredential` carrying a `vc+jwt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopedCredential {
    /// The VC 2.0 context.
    #[serde(rename = "@context")]
    pub context: String,
    /// `data:application/vc+jwt,<compact JWS>`.
    pub id: String,
    /// `EnvelopedVerifiableCredential`.
    #[serde(rename = "type")]
    pub type_: String,
}

impl EnvelopedCredential {
    /// Wraps a compact `vc+jwt`.
    pub fn new(jws: &str) -> Self {
        Self {
            context: crate::credential::VC_CONTEXT_V2.to_owned(),
            id: format!("{ENVELOPED_PREFIX}{jws}"),
            type_: "EnvelopedVerifiableCredential".to_owned(),
        }
    }

    /// The compact JWS inside, if the envelope is well-formed.
    pub fn jws(&self) -> Option<&str> {
        self.jws_offset().map(|at| &self.id[at..])
    }

    /// Where the compact JWS starts in `id`, if the envelope is well-formed (a `vc+jwt` in a
    /// `data:` URL).
    pub fn jws_offset(&self) -> Option<usize> {
        debug_assert_eq!(CREDENTIAL_TYP, "vc+jwt");
        (self.type_ == "EnvelopedVerifiableCredential" && self.id.starts_with(ENVELOPED_PREFIX))
            .then_some(ENVELOPED_PREFIX.len())
    }

    /// The `id`, taken out (the `data:` URL).
    pub fn into_id(self) -> String {
        self.id
    }
}

/// A checkout presentation, the payload of a `vp+jwt` (section 7.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutPresentation {
    /// `[VC_CONTEXT_V2, AGENTID_CONTEXT_V1]`.
    #[serde(rename = "@context")]
    pub context: Vec<String>,
    /// `["VerifiablePresentation", "CheckoutPresentation"]`.
    #[serde(rename = "type")]
    pub type_: Vec<String>,
    /// The agent's DID.
    pub holder: Did,
    /// The enveloped delegation chain (the principal's delegation first, then each
    /// sub-delegation), then the wallet's spend authorization if any.
    pub verifiable_credential: Vec<EnvelopedCredential>,
    /// The merchant's DID (RFC 7519 `aud`).
    pub aud: Did,
    /// The merchant's nonce.
    pub nonce: Nonce,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Not valid before, Unix seconds (RFC 7519 `nbf`), if the agent sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// What is being bought.
    pub transaction: Transaction,
}

impl CheckoutPresentation {
    /// The presentation by `holder` of the `vc+jwt` `credential` to the merchant `aud`, for
    /// `nonce` and `transaction`, valid from `iat` until `exp` (section 7.1). The one
    /// constructor: the SDK, the vectors and the benches build presentations here.
    pub fn new(
        holder: Did,
        credential: &str,
        aud: Did,
        nonce: Nonce,
        iat: i64,
        exp: i64,
        transaction: Transaction,
    ) -> Self {
        Self {
            context: vec![VC_CONTEXT_V2.to_owned(), AGENTID_CONTEXT_V1.to_owned()],
            type_: vec![
                "VerifiablePresentation".to_owned(),
                CHECKOUT_TYPE.to_owned(),
            ],
            holder,
            verifiable_credential: vec![EnvelopedCredential::new(credential)],
            aud,
            nonce,
            iat,
            exp,
            nbf: None,
            transaction,
        }
    }

    /// The same presentation carrying sub-delegations below its delegation, parent first
    /// (section 6.4): the chain from the principal's delegation down to the presenting agent.
    pub fn with_links<S: AsRef<str>>(mut self, links: &[S]) -> Self {
        self.verifiable_credential
            .extend(links.iter().map(|l| EnvelopedCredential::new(l.as_ref())));
        self
    }

    /// The same presentation carrying the wallet's spend authorization (a `vc+jwt`, section
    /// 11) after the delegation.
    pub fn with_authorization(mut self, authorization: &str) -> Self {
        self.verifiable_credential
            .push(EnvelopedCredential::new(authorization));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_and_order_hashes_at_their_edges() {
        assert!(Nonce::parse("n-1").is_ok());
        assert!(Nonce::parse(&"n".repeat(MAX_NONCE_BYTES)).is_ok());
        for bad in ["", "a b", "é", "\n"] {
            assert_eq!(Nonce::parse(bad), Err(ValueError::Nonce), "{bad:?}");
        }
        assert!(Nonce::parse(&"n".repeat(MAX_NONCE_BYTES + 1)).is_err());
        let h = OrderHash::of(b"order");
        assert_eq!(h.as_str().len(), 43);
        assert!(OrderHash::parse(h.as_str()).is_ok());
        assert!(OrderHash::parse(&"A".repeat(MAX_ORDER_HASH_BYTES)).is_ok());
        for bad in ["", "a+b", "a=", &"A".repeat(MAX_ORDER_HASH_BYTES + 1)] {
            assert_eq!(OrderHash::parse(bad), Err(ValueError::OrderHash), "{bad:?}");
        }
    }
}
