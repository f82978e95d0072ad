//! The wallet's spend authorization (section 11): a `vc+jwt` the wallet signs when it holds part
//! of a delegation's budget for one checkout. It binds the agent, the principal, the exact
//! delegation credential (by hash), the merchant, the nonce and the transaction, and it lasts as
//! long as the hold. The agent puts it in its checkout presentation beside the delegation.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::credential::{AGENTID_CONTEXT_V1, VC_CONTEXT_V2};
use crate::id::Did;
use crate::jose::b64u;
use crate::presentation::{Nonce, Transaction};
use crate::time::Timestamp;

/// `type` of a spend authorization.
pub const AUTHORIZATION_TYPE: &str = "AgentSpendAuthorization";

/// `base64url(SHA-256(compact JWS))` of a delegation credential: how an authorization names
/// the exact bytes it was issued for.
pub fn credential_hash(jws: &str) -> String {
    b64u(&Sha256::digest(jws.as_bytes()))
}

/// The `credentialSubject` of a spend authorization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpendSubject {
    /// The agent's DID (the delegation's subject and the presentation's holder).
    pub id: Did,
    /// The principal's DID (the delegation's issuer).
    pub principal: Did,
    /// The delegation credential's `id`.
    pub delegation: String,
    /// [`credential_hash`] of the delegation credential as presented.
    pub delegation_hash: String,
    /// The merchant (the presentation's `aud`).
    pub merchant: Did,
    /// The merchant's nonce.
    pub nonce: Nonce,
    /// The transaction held for.
    pub transaction: Transaction,
}

/// A spend authorization, the payload of a `vc+jwt` signed by a key of the wallet's DID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpendAuthorization {
    /// `[VC_CONTEXT_V2, AGENTID_CONTEXT_V1]`.
    #[serde(rename = "@context")]
    pub context: Vec<String>,
    /// `urn:uuid:<hold id>`.
    pub id: String,
    /// `["VerifiableCredential", "AgentSpendAuthorization"]`.
    #[serde(rename = "type")]
    pub type_: Vec<String>,
    /// The wallet's DID.
    pub issuer: Did,
    /// When the hold was taken.
    pub valid_from: Timestamp,
    /// When the hold expires unless captured.
    pub valid_until: Timestamp,
    /// What is authorized.
    pub credential_subject: SpendSubject,
}

impl SpendAuthorization {
    /// The authorization of hold `hold_id` by `wallet`, valid from `from` until `until`. The one
    /// constructor: the wallet and the vectors build authorizations here.
    pub fn new(
        hold_id: &str,
        wallet: Did,
        from: Timestamp,
        until: Timestamp,
        subject: SpendSubject,
    ) -> Self {
        Self {
            context: vec![VC_CONTEXT_V2.to_owned(), AGENTID_CONTEXT_V1.to_owned()],
            id: format!("urn:uuid:{hold_id}"),
            type_: vec![
                "VerifiableCredential".to_owned(),
                AUTHORIZATION_TYPE.to_owned(),
            ],
            issuer: wallet,
            valid_from: from,
            valid_until: until,
            credential_subject: subject,
        }
    }

    /// The hold id (`id` without `urn:uuid:`).
    pub fn hold_id(&self) -> &str {
        self.id.strip_prefix("urn:uuid:").unwrap_or(&self.id)
    }

    /// Section 11.1's structural rules; the validity window as Unix seconds.
    pub fn validate(&self) -> Result<(i64, i64), &'static str> {
        if self.context.first().map(String::as_str) != Some(VC_CONTEXT_V2) {
            return Err("first @context must be the VC 2.0 context");
        }
        if !self.type_.iter().any(|t| t == "VerifiableCredential")
            || !self.type_.iter().any(|t| t == AUTHORIZATION_TYPE)
        {
            return Err("type must include VerifiableCredential and AgentSpendAuthorization");
        }
        let (from, until) = (self.valid_from.unix(), self.valid_until.unix());
        if until <= from {
            return Err("validUntil must be after validFrom");
        }
        Ok((from, until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{Amount, Currency};
    use crate::presentation::OrderHash;

    #[test]
    fn round_trips_and_refuses_unknown_members() {
        let did = |s: &str| Did::parse(s).unwrap();
        let a = SpendAuthorization::new(
            "0f1e",
            did("did:web:wallet.example"),
            Timestamp::from_unix(100).unwrap(),
            Timestamp::from_unix(200).unwrap(),
            SpendSubject {
                id: did("did:agentid:a"),
                principal: did("did:key:z6Mk"),
                delegation: "urn:uuid:1".into(),
                delegation_hash: credential_hash("a.b.c"),
                merchant: did("did:key:z6Mm"),
                nonce: Nonce::parse("n-1").unwrap(),
                transaction: Transaction {
                    amount: Amount::new(1).unwrap(),
                    currency: Currency::parse("USD").unwrap(),
                    order_hash: OrderHash::of(b"o"),
                    category: None,
                },
            },
        );
        assert_eq!(a.hold_id(), "0f1e");
        assert_eq!(a.validate(), Ok((100, 200)));
        let mut json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            serde_json::from_value::<SpendAuthorization>(json.clone()).unwrap(),
            a
        );
        json["credentialSubject"]["remaining"] = 5.into();
        assert!(serde_json::from_value::<SpendAuthorization>(json).is_err());
    }
}

/// `typ` of a merchant's settlement instruction.
pub const SETTLEMENT_TYP: &str = "spend-settle+jwt";

/// What a merchant does with a hold (section 11.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettleAction {
    /// The order shipped: the held amount is spent for good.
    Capture,
    /// The order was cancelled: the held amount returns to the budget.
    Release,
}

impl SettleAction {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            SettleAction::Capture => "capture",
            SettleAction::Release => "release",
        }
    }
}

/// A merchant's signed instruction to capture or release a hold: the payload of a compact JWS
/// of type [`SETTLEMENT_TYP`] signed by a key of the merchant the hold is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settlement {
    /// The merchant's DID.
    pub iss: Did,
    /// The wallet's DID.
    pub aud: Did,
    /// The hold id.
    pub hold: String,
    /// Capture or release.
    pub action: SettleAction,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// A short-lived request signed by an authentication key of its `iss` and addressed to `aud`
/// (section 11.3, section 6.4): what a verifier checks before it reads the rest.
pub trait SignedRequest: serde::de::DeserializeOwned {
    /// The JOSE `typ` of the request.
    const TYP: &'static str;
    /// Who signed it.
    fn iss(&self) -> &Did;
    /// Whom it is for.
    fn aud(&self) -> &Did;
    /// Issued at and expires at, Unix seconds.
    fn lifetime(&self) -> (i64, i64);
}

impl SignedRequest for Settlement {
    const TYP: &'static str = SETTLEMENT_TYP;
    fn iss(&self) -> &Did {
        &self.iss
    }
    fn aud(&self) -> &Did {
        &self.aud
    }
    fn lifetime(&self) -> (i64, i64) {
        (self.iat, self.exp)
    }
}
