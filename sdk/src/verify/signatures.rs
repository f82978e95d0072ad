//! Steps 5-9: who signed. The agent and the issuer are resolved, their keys looked up by `kid`,
//! both signatures verified (as one Ed25519 batch), and the presenter bound to the credential's
//! subject. Only [`Parsed::authenticate`] makes an [`Authenticated`].

use std::sync::Arc;

use agentid_resolver::{ResolvedDid, Source};
use agentid_spec::authorization::{credential_hash, SpendAuthorization};
use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::DelegationCredential;
use agentid_spec::id::DID_KEY_PREFIX;
use agentid_spec::presentation::{CheckoutPresentation, Transaction};
use agentid_spec::time::Timestamp;
use serde::Serialize;

use super::parse::Parsed;
use super::trust::Anchors;
use super::{NonceStore, Verifier};

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
    anchors: Anchors,
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
    /// The registry and wallet the decision relied on.
    pub fn anchors(&self) -> &Anchors {
        &self.anchors
    }
}

/// A spend request whose signatures and policy hold: what the wallet holds budget against
/// (spec section 11.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendRequest {
    /// What the signatures proved.
    pub claims: SignedClaims,
    /// The agent.
    pub agent: agentid_spec::id::Did,
    /// The principal (the delegation's issuer).
    pub principal: agentid_spec::id::Did,
    /// The delegation's id.
    pub delegation: String,
    /// [`credential_hash`] of the delegation as presented.
    pub delegation_hash: String,
    /// The merchant (`aud`).
    pub merchant: agentid_spec::id::Did,
    /// The merchant's nonce.
    pub nonce: agentid_spec::presentation::Nonce,
    /// The transaction.
    pub transaction: Transaction,
    /// When the presentation expires, Unix seconds.
    pub expires: i64,
}

impl SpendRequest {
    pub(super) fn from_authenticated(a: Authenticated) -> Self {
        let p = &a.presentation;
        Self {
            agent: p.holder.clone(),
            principal: a.credential.issuer.clone(),
            delegation: a.credential.id.clone(),
            delegation_hash: credential_hash(a.vc.token()),
            merchant: p.aud.clone(),
            nonce: p.nonce.clone(),
            transaction: p.transaction.clone(),
            expires: p.exp,
            claims: a.claims,
        }
    }
}

/// A spend authorization whose signature holds, by a trusted wallet.
pub(super) struct SignedAuthorization {
    pub(super) payload: SpendAuthorization,
    pub(super) valid_from: i64,
    pub(super) valid_until: i64,
    /// [`credential_hash`] of the delegation as presented, to compare with the payload's.
    pub(super) delegation_hash: Arc<str>,
}

/// A presentation and credential whose signatures hold, signed by the credential's subject and
/// issuer respectively.
pub(super) struct Authenticated {
    vc: agentid_spec::jose::CompactJws<'static>,
    presentation: CheckoutPresentation,
    credential: DelegationCredential,
    valid_from: i64,
    valid_until: i64,
    agent: Arc<ResolvedDid>,
    authorization: Option<SignedAuthorization>,
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
    /// The wallet's authorization, if one was presented (its signature holds).
    pub(super) fn authorization(&self) -> Option<&SignedAuthorization> {
        self.authorization.as_ref()
    }
    /// What the signatures proved, taking it out.
    pub(super) fn into_claims(self) -> SignedClaims {
        self.claims
    }
}

impl Parsed<'_> {
    /// Steps 5-9; the first failure ends verification.
    pub(super) async fn authenticate<S: Source, N: NonceStore>(
        self,
        v: &Verifier<S, N>,
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

        // Step 6: the agent is vouched for by a trusted registry (or is a did:key the policy
        // allows), and the authorization's wallet is trusted; then resolve them and the issuer.
        let registry = if signer_did.starts_with(DID_KEY_PREFIX) {
            if !v.policy.allows_did_key_agents() {
                return Err(Reason::new(
                    Code::AgentNotTrusted,
                    "did:key agents are not accepted by this verifier's trust policy",
                ));
            }
            None
        } else {
            let registry = v.source.registry();
            if !v.policy.trusts_registry(registry) {
                return Err(Reason::new(
                    Code::AgentNotTrusted,
                    format!("registry {registry} is not trusted"),
                ));
            }
            Some(registry.to_owned())
        };
        let auth = self.authorization;
        let wallet = match &auth {
            Some(a) => {
                let wallet_did = &a.kid[..a.did_len];
                if !v.policy.trusts_wallet(wallet_did) {
                    return Err(Reason::new(
                        Code::WalletNotTrusted,
                        format!(
                            "wallet {} is not trusted",
                            wallet_did.chars().take(120).collect::<String>()
                        ),
                    ));
                }
                Some(v.resolve(wallet_did, now).await.map_err(|e| {
                    Reason::new(Code::ResolutionFailed, format!("wallet {wallet_did}: {e}"))
                })?)
            }
            None => None,
        };
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

        let wallet_key = match (&auth, &wallet) {
            (Some(a), Some(w)) => Some(w.assertion_key(&a.kid).ok_or_else(|| {
                Reason::new(
                    Code::UnknownKey,
                    format!("{} is not a current assertion key", a.kid),
                )
            })?),
            _ => None,
        };

        // Step 8: every signature, as one batch (keys of small order were refused at
        // resolution); on failure, strict single checks name the one that does not verify. A
        // credential whose exact bytes verified before under the issuer's current key is not
        // verified again.
        let known_hash = v
            .verified_credentials
            .verified_under(vc.token(), issuer_key);
        let vc_known = known_hash.is_some();
        let mut messages: [&[u8]; 3] = [vp.signing_input().as_bytes(), &[], &[]];
        let mut signatures = [*vp.signature(); 3];
        let mut keys = [*agent_key; 3];
        let mut n = 1;
        if !vc_known {
            (messages[n], signatures[n], keys[n]) =
                (vc.signing_input().as_bytes(), *vc.signature(), *issuer_key);
            n += 1;
        }
        if let (Some(a), Some(wk)) = (&auth, wallet_key) {
            (messages[n], signatures[n], keys[n]) =
                (a.jws.signing_input().as_bytes(), *a.jws.signature(), *wk);
            n += 1;
        }
        let verified = if n == 1 {
            vp.verify(agent_key)
        } else {
            ed25519_dalek::verify_batch(&messages[..n], &signatures[..n], &keys[..n]).is_ok()
        };
        if !verified {
            let which = if !vp.verify(agent_key) {
                "presentation signature does not verify"
            } else if !vc.verify(issuer_key) {
                "credential signature does not verify"
            } else if auth
                .as_ref()
                .zip(wallet_key)
                .is_some_and(|(a, wk)| !a.jws.verify(wk))
            {
                "authorization signature does not verify"
            } else {
                "signatures do not verify together"
            };
            return Err(Reason::new(Code::BadSignature, which));
        }
        let delegation_hash: Arc<str> = match known_hash {
            Some(h) => h,
            None => {
                let h: Arc<str> = credential_hash(vc.token()).into();
                v.verified_credentials.insert(
                    vc.token(),
                    issuer_key,
                    h.clone(),
                    v.limits.max_cache_entries,
                );
                h
            }
        };

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

        let anchors = Anchors {
            registry,
            wallet: auth.as_ref().map(|a| a.kid[..a.did_len].to_owned()),
            wallet_key: auth.as_ref().map(|a| a.kid.clone()),
            hold: auth.as_ref().map(|a| a.payload.hold_id().to_owned()),
        };
        let authorization = auth.map(|a| SignedAuthorization {
            delegation_hash,
            payload: a.payload,
            valid_from: a.valid_from,
            valid_until: a.valid_until,
        });
        let claims = SignedClaims {
            anchors,
            agent: subject.as_str().to_owned(),
            principal: credential.issuer.as_str().to_owned(),
            credential_id: credential.id.clone(),
            agent_key: vp_kid,
            transaction: presentation.transaction.clone(),
            valid_until: credential.valid_until,
        };
        Ok(Authenticated {
            vc,
            presentation,
            credential,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            agent,
            authorization,
            claims,
        })
    }
}
