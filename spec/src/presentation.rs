//! The checkout presentation (spec section 7): a VC 2.0 presentation secured as a `vp+jwt`,
//! signed by the agent, bound to one merchant, one nonce and one order.

use serde::{Deserialize, Serialize};

use crate::credential::{Amount, Currency, CREDENTIAL_TYP};

/// `typ` of a checkout presentation.
pub const PRESENTATION_TYP: &str = "vp+jwt";
/// `cty` of a checkout presentation.
pub const PRESENTATION_CTY: &str = "vp";
/// The presentation's specific type.
pub const CHECKOUT_TYPE: &str = "CheckoutPresentation";
/// Prefix of an enveloped credential's `id` (VC-JOSE-COSE section 3.3).
pub const ENVELOPED_PREFIX: &str = "data:application/vc+jwt,";

/// The transaction the presentation authorizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transaction {
    /// Amount in minor units.
    pub amount: Amount,
    /// ISO 4217 code.
    pub currency: Currency,
    /// base64url(SHA-256(order bytes)), as the merchant computes it.
    pub order_hash: String,
    /// Purchase category, when the merchant has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
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
        debug_assert_eq!(CREDENTIAL_TYP, "vc+jwt");
        (self.type_ == "EnvelopedVerifiableCredential")
            .then(|| self.id.strip_prefix(ENVELOPED_PREFIX))
            .flatten()
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
    pub holder: String,
    /// Exactly one enveloped delegation credential.
    pub verifiable_credential: Vec<EnvelopedCredential>,
    /// The merchant's DID (RFC 7519 `aud`).
    pub aud: String,
    /// The merchant's nonce.
    pub nonce: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// What is being bought.
    pub transaction: Transaction,
}
