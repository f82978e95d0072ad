//! Steps 5-9: who signed. The agent and the issuer are resolved, their keys looked up by `kid`,
//! both signatures verified (as one Ed25519 batch), and the presenter bound to the credential's
//! subject. Only [`Parsed::authenticate`] makes an [`Authenticated`].

use std::sync::Arc;

use agentid_resolver::{ResolvedDid, Source};
use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::DelegationCredential;
use agentid_spec::presentation::{CheckoutPresentation, Transaction};
use agentid_spec::time::Timestamp;
use serde::Serialize;

use super::parse::Parsed;
use super::Verifier;

/// What the two signatures proved: who presented, under whose credential, for what. Evidence
/// for the merchant's records; on its own it authorizes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedClaims {
    agent: String,
    principal: String,
    credential_id: String,
    agent_key: String,
    transaction: Transaction,
    valid_until: Timestamp,
}

impl SignedClaims {
    /// The agent's DID.
    pub fn agent(&self) -> &str {
        &self.agent
    }
    /// The principal's DID (the credential issuer).
    pub fn principal(&self) -> &str {
        &self.principal
    }
    /// The delegation credential's id.
    pub fn credential_id(&self) -> &str {
        &self.credential_id
    }
    /// The verification method that signed the presentation.
    pub fn agent_key(&self) -> &str {
        &self.agent_key
    }
    /// The transaction presented.
    pub fn transaction(&self) -> &Transaction {
        &self.transaction
    }
    /// End of the credential's validity.
    pub fn valid_until(&self) -> Timestamp {
        self.valid_until
    }
}

/// A presentation and credential whose signatures hold, signed by the credential's subject and
/// issuer respectively.
pub(super) struct Authenticated {
    presentation: CheckoutPresentation,
    credential: DelegationCredential,
    valid_from: i64,
    valid_until: i64,
    agent: Arc<ResolvedDid>,
    claims: SignedClaims,
}

impl Authenticated {
    pub(super) fn presentation(&self) -> &CheckoutPresentation {
        &self.presentation
    }
    pub(super) fn credential(&self) -> &DelegationCredential {
        &self.credential
    }
    /// The credential's validity window, Unix seconds.
    pub(super) fn validity(&self) -> (i64, i64) {
        (self.valid_from, self.valid_until)
    }
    /// The resolved agent (its standing is checked by the policy step).
    pub(super) fn agent(&self) -> &ResolvedDid {
        &self.agent
    }
    /// What the signatures proved, taking it out.
    pub(super) fn into_claims(self) -> SignedClaims {
        self.claims
    }
}

impl Parsed<'_> {
    /// Steps 5-9; the first failure ends verification.
    pub(super) async fn authenticate<S: Source>(
        self,
        v: &Verifier<S>,
        now: i64,
    ) -> Result<Authenticated, Reason> {
        let (vp, vc, vp_kid, presentation, credential) = (
            self.vp,
            self.vc,
            self.vp_kid,
            self.presentation,
            self.credential,
        );
        let signer_did = &vp_kid[..self.vp_did_len];
        let issuer_did = &self.vc_kid[..self.vc_did_len];
        let vc_kid = &self.vc_kid;

        // Step 5: the credential is signed by a key of its issuer.
        if credential.issuer != *issuer_did {
            return Err(Reason::new(
                Code::IssuerMismatch,
                "credential kid is not a key of its issuer",
            ));
        }

        // Step 6: resolve the agent (signer of the presentation) and the issuer.
        let agent = v
            .resolve(signer_did, now)
            .await
            .map_err(|e| Reason::new(Code::ResolutionFailed, format!("agent {signer_did}: {e}")))?;
        let issuer = v.resolve(issuer_did, now).await.map_err(|e| {
            Reason::new(Code::ResolutionFailed, format!("issuer {issuer_did}: {e}"))
        })?;

        // Step 7: the keys named by kid are current keys for their purpose.
        let agent_key = agent.authentication_key(&vp_kid).ok_or_else(|| {
            Reason::new(
                Code::UnknownKey,
                format!("{vp_kid} is not a current authentication key"),
            )
        })?;
        let issuer_key = issuer.assertion_key(vc_kid).ok_or_else(|| {
            Reason::new(
                Code::UnknownKey,
                format!("{vc_kid} is not a current assertion key"),
            )
        })?;

        // Step 8: both signatures, as one batch (keys of small order were refused at
        // resolution); on failure, strict single checks name the one that does not verify.
        let batch = ed25519_dalek::verify_batch(
            &[vp.signing_input().as_bytes(), vc.signing_input().as_bytes()],
            &[*vp.signature(), *vc.signature()],
            &[*agent_key, *issuer_key],
        );
        if batch.is_err() {
            let which = if !vp.verify(agent_key) {
                "presentation signature does not verify"
            } else if !vc.verify(issuer_key) {
                "credential signature does not verify"
            } else {
                "signatures do not verify together"
            };
            return Err(Reason::new(Code::BadSignature, which));
        }

        // Step 9: the agent presenting is the agent the credential was issued to.
        let subject = &credential.credential_subject.id;
        if presentation.holder != *subject {
            return Err(Reason::new(
                Code::SubjectMismatch,
                "holder is not the credential subject",
            ));
        }
        if *subject != *signer_did {
            return Err(Reason::new(
                Code::PresentationNotSignedBySubject,
                "presentation is signed by someone other than the credential subject",
            ));
        }

        let claims = SignedClaims {
            agent: subject.as_str().to_owned(),
            principal: credential.issuer.as_str().to_owned(),
            credential_id: credential.id.clone(),
            agent_key: vp_kid,
            transaction: presentation.transaction.clone(),
            valid_until: credential.valid_until,
        };
        Ok(Authenticated {
            presentation,
            credential,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            agent,
            claims,
        })
    }
}
