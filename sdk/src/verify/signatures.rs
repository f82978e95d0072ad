//! Steps 5-9: who signed. The agent and the issuer are resolved, their keys looked up by `kid`,
//! both signatures verified (as one Ed25519 batch), and the presenter bound to the credential's
//! subject. Only [`Parsed::authenticate`] makes an [`Authenticated`].

use std::sync::Arc;

use agentid_resolver::{ResolvedDid, Source};
use agentid_spec::authorization::{credential_hash, SpendAuthorization};
use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::{DelegationCredential, MAX_CHAIN};
use agentid_spec::id::DID_KEY_PREFIX;
use agentid_spec::presentation::{CheckoutPresentation, Transaction};
use agentid_spec::time::Timestamp;
use serde::Serialize;

use super::cache::Remembered;
use super::parse::{KnownCredential, Parsed};
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
    /// The agents between the principal and the presenting agent, in order of delegation
    /// (empty for a direct delegation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    via: Vec<String>,
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
    /// The agents that sub-delegated, from the principal's agent down (empty when the
    /// principal delegated to the presenting agent directly).
    pub fn via(&self) -> &[String] {
        &self.via
    }
}

/// A spend request whose signatures and policy hold: what the wallet holds budget against
/// (spec section 11.2). Only the verifier makes one ([`Verifier::check_spend_request`]), its
/// fields are private and it cannot be cloned, so the wallet's entry points take nothing the
/// verifier did not check.
///
/// [`Verifier::check_spend_request`]: super::Verifier::check_spend_request
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedSpendRequest {
    claims: SignedClaims,
    agent: agentid_spec::id::Did,
    principal: agentid_spec::id::Did,
    delegation: String,
    delegation_hash: String,
    chain: Vec<(String, String)>,
    merchant: agentid_spec::id::Did,
    nonce: agentid_spec::presentation::Nonce,
    transaction: Transaction,
    expires: i64,
}

impl VerifiedSpendRequest {
    /// What the signatures proved.
    pub fn claims(&self) -> &SignedClaims {
        &self.claims
    }
    /// The agent.
    pub fn agent(&self) -> &agentid_spec::id::Did {
        &self.agent
    }
    /// The principal (the delegation's issuer).
    pub fn principal(&self) -> &agentid_spec::id::Did {
        &self.principal
    }
    /// The presenting agent's delegation (the chain's last) id.
    pub fn delegation(&self) -> &str {
        &self.delegation
    }
    /// [`credential_hash`] of that delegation as presented.
    pub fn delegation_hash(&self) -> &str {
        &self.delegation_hash
    }
    /// The chain, the principal's delegation first: each credential's id and
    /// [`credential_hash`]. The last is [`Self::delegation`].
    pub fn chain(&self) -> &[(String, String)] {
        &self.chain
    }
    /// The merchant (`aud`).
    pub fn merchant(&self) -> &agentid_spec::id::Did {
        &self.merchant
    }
    /// The merchant's nonce.
    pub fn nonce(&self) -> &agentid_spec::presentation::Nonce {
        &self.nonce
    }
    /// The transaction.
    pub fn transaction(&self) -> &Transaction {
        &self.transaction
    }
    /// When the presentation expires, Unix seconds.
    pub fn expires(&self) -> i64 {
        self.expires
    }
}

impl VerifiedSpendRequest {
    pub(super) fn from_authenticated(a: Authenticated) -> Self {
        let p = &a.presentation;
        let leaf = a.credential();
        Self {
            agent: p.holder.clone(),
            principal: a.chain[0].credential.issuer.clone(),
            delegation: leaf.id.clone(),
            delegation_hash: a.hashes.last().map(|h| h.to_string()).unwrap_or_default(),
            chain: a
                .chain
                .iter()
                .zip(&a.hashes)
                .map(|(c, h)| (c.credential.id.clone(), h.to_string()))
                .collect(),
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

/// A presentation and its delegation chain whose signatures hold: each credential signed by its
/// issuer, each sub-delegation naming and narrowing its parent, the presentation signed by the
/// last credential's subject.
pub(super) struct Authenticated {
    presentation: CheckoutPresentation,
    /// The principal's delegation first; never empty.
    chain: Vec<Arc<KnownCredential>>,
    /// [`credential_hash`] of each credential in `chain`.
    hashes: Vec<Arc<str>>,
    /// The last credential's validity window (within every other's: each narrows its parent).
    valid_from: i64,
    valid_until: i64,
    agent: Arc<ResolvedDid>,
    /// The agents that sub-delegated, in chain order.
    intermediaries: Vec<Arc<ResolvedDid>>,
    authorization: Option<SignedAuthorization>,
    claims: SignedClaims,
}

impl Authenticated {
    pub(super) fn presentation(&self) -> &CheckoutPresentation {
        &self.presentation
    }
    /// The presenting agent's delegation: the chain's last, the narrowest.
    pub(super) fn credential(&self) -> &DelegationCredential {
        &self
            .chain
            .last()
            .expect("a chain is never empty")
            .credential
    }
    /// The whole chain, the principal's delegation first.
    pub(super) fn chain(&self) -> impl Iterator<Item = &DelegationCredential> {
        self.chain.iter().map(|k| &k.credential)
    }
    /// How many credentials the chain holds.
    pub(super) fn chain_len(&self) -> usize {
        self.chain.len()
    }
    /// The principal: the issuer of the chain's first delegation.
    pub(super) fn principal(&self) -> &str {
        self.chain[0].credential.issuer.as_str()
    }
    /// The agents that sub-delegated (their standing is checked by the policy step).
    pub(super) fn intermediaries(&self) -> &[Arc<ResolvedDid>] {
        &self.intermediaries
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

/// Step 6's rule for an agent DID: a `did:key` only where the policy allows them, otherwise an
/// agent of a trusted registry. The registry's origin when there is one.
pub(super) fn trusted_agent<S: Source, N: NonceStore>(
    v: &Verifier<S, N>,
    did: &str,
) -> Result<Option<String>, Reason> {
    if did.starts_with(DID_KEY_PREFIX) {
        if !v.policy.allows_did_key_agents() {
            return Err(Reason::new(
                Code::AgentNotTrusted,
                "did:key agents are not accepted by this verifier's trust policy",
            ));
        }
        return Ok(None);
    }
    let registry = v.source.registry();
    if !v.policy.trusts_registry(registry) {
        return Err(Reason::new(
            Code::AgentNotTrusted,
            format!("registry {registry} is not trusted"),
        ));
    }
    Ok(Some(registry.to_owned()))
}

/// Step 6's rule once an agent resolved: the registry that vouched for it (the source's, or
/// the foreign one that answered) is trusted. `expected` is [`trusted_agent`]'s answer.
fn vouched<S: Source, N: NonceStore>(
    v: &Verifier<S, N>,
    resolved: &ResolvedDid,
    expected: Option<String>,
) -> Result<Option<String>, Reason> {
    let Some(expected) = expected else {
        return Ok(None);
    };
    let by = resolved.registry.clone().unwrap_or(expected);
    if !v.policy.trusts_registry(&by) {
        return Err(Reason::new(
            Code::AgentNotTrusted,
            format!("registry {by} is not trusted"),
        ));
    }
    Ok(Some(by))
}

/// Signatures checked together: at most the presentation, every credential of a chain and the
/// authorization.
const MAX_SIGNATURES: usize = MAX_CHAIN + 2;

impl Parsed<'_> {
    /// Steps 5-9; the first failure ends verification.
    pub(super) async fn authenticate<S: Source, N: NonceStore>(
        self,
        v: &Verifier<S, N>,
        now: i64,
    ) -> Result<Authenticated, Reason> {
        let (vp, vp_kid, presentation, mut links) =
            (self.vp, self.vp_kid, self.presentation, self.chain);
        let signer_did = &vp_kid[..self.vp_did_len];
        let n_links = links.len();

        // Step 5 (each credential's kid is its issuer's: checked when parsed): the chain
        // starts at a principal's delegation, and each sub-delegation is issued by its
        // parent's subject.
        if links[0].credential().parent.is_some() {
            return Err(Reason::new(
                Code::ChainBroken,
                "the chain starts with a sub-delegation, not a principal's delegation",
            ));
        }
        for (i, pair) in links.windows(2).enumerate() {
            let (parent, child) = (pair[0].credential(), pair[1].credential());
            if child.parent.is_none() {
                return Err(Reason::new(
                    Code::ChainBroken,
                    format!("credential {} names no parent", i + 1),
                ));
            }
            if child.issuer != parent.credential_subject.id {
                return Err(Reason::new(
                    Code::ChainBroken,
                    format!(
                        "credential {} is not issued by the subject of the one before it",
                        i + 1
                    ),
                ));
            }
        }

        // Step 6: every agent (the presenter and each that sub-delegated) is vouched for by a
        // trusted registry (or is a did:key the policy allows), and the authorization's wallet
        // is trusted; then resolve them, the principal, and the wallet.
        let registry = trusted_agent(v, signer_did)?;
        let mut link_registries = Vec::with_capacity(n_links);
        for link in &links[1..] {
            link_registries.push(trusted_agent(v, link.issuer())?);
        }
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
        let registry = vouched(v, &agent, registry)?;
        let mut issuers = Vec::with_capacity(n_links);
        for link in &links {
            let did = link.issuer();
            let who = if issuers.is_empty() {
                "issuer"
            } else {
                "delegating agent"
            };
            issuers.push(
                v.resolve(did, now).await.map_err(|e| {
                    Reason::new(Code::ResolutionFailed, format!("{who} {did}: {e}"))
                })?,
            );
        }
        // Every delegating agent, too, through a trusted registry.
        for (issuer, expected) in issuers[1..].iter().zip(link_registries) {
            vouched(v, issuer, expected)?;
        }

        // Step 7: the keys named by kid are current keys for their purpose.
        let agent_key = agent.authentication_key(&vp_kid).ok_or_else(|| {
            Reason::new(
                Code::UnknownKey,
                format!("{vp_kid} is not a current authentication key"),
            )
        })?;
        let mut issuer_keys = Vec::with_capacity(n_links);
        for (link, issuer) in links.iter().zip(&issuers) {
            issuer_keys.push(*issuer.assertion_key(link.kid()).ok_or_else(|| {
                Reason::new(
                    Code::UnknownKey,
                    format!("{} is not a current assertion key", link.kid()),
                )
            })?);
        }
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
        // credential whose exact bytes verified before under its issuer's current key is not
        // verified again.
        let known: Vec<Option<Arc<str>>> = links
            .iter()
            .zip(&issuer_keys)
            .map(|(l, k)| {
                l.remembered
                    .as_ref()
                    .filter(|r| r.key == *k.as_bytes())
                    .map(|r| r.hash.clone())
            })
            .collect();
        for (link, known) in links.iter_mut().zip(&known) {
            if known.is_none() {
                link.ensure_jws(&v.limits)?;
            }
        }
        let mut messages: [&[u8]; MAX_SIGNATURES] = [vp.signing_input().as_bytes(); MAX_SIGNATURES];
        let mut signatures = [*vp.signature(); MAX_SIGNATURES];
        let mut keys = [*agent_key; MAX_SIGNATURES];
        let mut n = 1;
        for ((link, key), hash) in links.iter().zip(&issuer_keys).zip(&known) {
            if let (None, Some(jws)) = (hash, &link.jws) {
                (messages[n], signatures[n], keys[n]) =
                    (jws.signing_input().as_bytes(), *jws.signature(), *key);
                n += 1;
            }
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
                "presentation signature does not verify".to_owned()
            } else if let Some(i) =
                links
                    .iter()
                    .zip(&issuer_keys)
                    .zip(&known)
                    .position(|((l, k), known)| {
                        known.is_none() && l.jws.as_ref().is_some_and(|j| !j.verify(k))
                    })
            {
                if n_links == 1 {
                    "credential signature does not verify".to_owned()
                } else {
                    format!("credential {i} signature does not verify")
                }
            } else if auth
                .as_ref()
                .zip(wallet_key)
                .is_some_and(|(a, wk)| !a.jws.verify(wk))
            {
                "authorization signature does not verify".to_owned()
            } else {
                "signatures do not verify together".to_owned()
            };
            return Err(Reason::new(Code::BadSignature, which));
        }
        let hashes: Vec<Arc<str>> = links
            .iter()
            .zip(&issuer_keys)
            .zip(known)
            .map(|((link, key), known)| {
                known.unwrap_or_else(|| {
                    let h: Arc<str> = credential_hash(link.token()).into();
                    v.verified_credentials.insert(
                        link.token(),
                        Remembered {
                            key: *key.as_bytes(),
                            hash: h.clone(),
                            parsed: link.known.clone(),
                        },
                        v.limits.max_cache_entries,
                    );
                    h
                })
            })
            .collect();

        // Step 9: each sub-delegation names its parent's exact bytes and narrows it; the agent
        // presenting is the agent the last credential was issued to.
        for (i, pair) in links.windows(2).enumerate() {
            let (parent, child) = (pair[0].credential(), pair[1].credential());
            let named = child
                .parent
                .as_ref()
                .is_some_and(|p| p.id == parent.id && p.digest.as_bytes() == hashes[i].as_bytes());
            if !named {
                return Err(Reason::new(
                    Code::ChainBroken,
                    format!(
                        "credential {} does not name the exact credential before it",
                        i + 1
                    ),
                ));
            }
            child.narrows(parent).map_err(|w| {
                Reason::new(
                    Code::DelegationWidened,
                    format!("credential {} widens its parent: {w}", i + 1),
                )
            })?;
        }
        let leaf = &links[n_links - 1];
        let subject = &leaf.credential().credential_subject.id;
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
            delegation_hash: hashes[n_links - 1].clone(),
            payload: a.payload,
            valid_from: a.valid_from,
            valid_until: a.valid_until,
        });
        let (valid_from, valid_until) = (leaf.known.valid_from, leaf.known.valid_until);
        let chain: Vec<Arc<KnownCredential>> = links.into_iter().map(|l| l.known).collect();
        let leaf = &chain[n_links - 1].credential;
        let claims = SignedClaims {
            anchors,
            agent: leaf.credential_subject.id.as_str().to_owned(),
            principal: chain[0].credential.issuer.as_str().to_owned(),
            credential_id: leaf.id.clone(),
            agent_key: vp_kid,
            transaction: presentation.transaction.clone(),
            valid_until: leaf.valid_until,
            via: chain[1..]
                .iter()
                .map(|c| c.credential.issuer.as_str().to_owned())
                .collect(),
        };
        issuers.remove(0);
        Ok(Authenticated {
            presentation,
            chain,
            hashes,
            valid_from,
            valid_until,
            agent,
            intermediaries: issuers,
            authorization,
            claims,
        })
    }
}
