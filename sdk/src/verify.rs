//! Verifying a checkout presentation (spec section 8). Each numbered step fails with its own
//! [`Code`]; steps 1-9 stop at the first failure (nothing after them can be trusted), steps
//! 10-18 all run and every failure is reported.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use agentid_resolver::{ResolveError, ResolvedDid, Source};
use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::{
    DelegationCredential, CREDENTIAL_TYP, DELEGATION_TYPE, VC_CONTEXT_V2,
};
use agentid_spec::document::AgentStatus;
use agentid_spec::id::split_did_url;
use agentid_spec::jose::{CompactJws, JoseError};
use agentid_spec::presentation::{
    CheckoutPresentation, Transaction, CHECKOUT_TYPE, PRESENTATION_TYP,
};
use agentid_spec::status_list::{Bitstring, BitstringStatusListCredential, STATUS_LIST_TYP};
use agentid_spec::time::parse_rfc3339;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// Bounds on untrusted input and on how stale cached answers may be. Every field is a limit
/// with a safe default; tests exercise each at its edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest presentation (and embedded credential) in bytes. Default 16 KiB.
    pub max_token_bytes: usize,
    /// Allowed clock difference, in seconds, on every time check. Default 60.
    pub clock_skew_secs: i64,
    /// Longest `exp - iat` accepted for a presentation. Default 300.
    pub max_presentation_lifetime_secs: i64,
    /// A cached DID resolution is refreshed once older than this. Default 60.
    pub did_refresh_secs: i64,
    /// A cached DID resolution is never used once older than this, even when the registry is
    /// unreachable. Default 300.
    pub did_max_staleness_secs: i64,
    /// A cached status list is refreshed once older than this. Default 60.
    pub status_refresh_secs: i64,
    /// A cached status list is never used once older than this: verification fails closed
    /// with `status_unavailable`. Default 300.
    pub status_max_staleness_secs: i64,
    /// Most nonces remembered for replay detection. Default 1,000,000.
    pub max_nonces: usize,
    /// Most DIDs and status lists cached. Default 100,000.
    pub max_cache_entries: usize,
    /// Largest signed status list credential accepted, in bytes. Default 4 MiB.
    pub max_status_list_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_bytes: 16 * 1024,
            clock_skew_secs: 60,
            max_presentation_lifetime_secs: 300,
            did_refresh_secs: 60,
            did_max_staleness_secs: 300,
            status_refresh_secs: 60,
            status_max_staleness_secs: 300,
            max_nonces: 1_000_000,
            max_cache_entries: 100_000,
            max_status_list_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What the merchant expects: its own DID, the nonce it issued, and optionally the order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutContext {
    /// The merchant's DID: the expected `aud`, and the merchant the scope must list.
    pub merchant: String,
    /// The nonce the merchant issued for this checkout.
    pub nonce: String,
    /// The order total the merchant expects, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    /// The currency the merchant expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The order hash the merchant computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_hash: Option<String>,
    /// The merchant's purchase category; overrides the one the agent claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// The authority a presentation proved. Only verification produces one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedAuthorization {
    agent: String,
    principal: String,
    credential_id: String,
    agent_key: String,
    transaction: Transaction,
    valid_until: String,
}

impl VerifiedAuthorization {
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
    /// The transaction authorized.
    pub fn transaction(&self) -> &Transaction {
        &self.transaction
    }
}

/// The verifier's answer: accepted or rejected, every reason, and what was proven.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// `accepted` or `rejected`.
    pub decision: Verdict,
    /// Why not, when rejected; empty when accepted.
    pub reasons: Vec<Reason>,
    /// What the signatures proved (present once steps 1-9 passed, even if later steps failed),
    /// as evidence the merchant keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<VerifiedAuthorization>,
    /// Unix seconds at which the decision was made.
    pub checked_at: i64,
}

/// Yes or no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed.
    Accepted,
    /// At least one check failed.
    Rejected,
}

impl Decision {
    /// Whether the presentation was accepted.
    pub fn is_accepted(&self) -> bool {
        self.decision == Verdict::Accepted
    }

    /// The codes of the reasons, in order.
    pub fn codes(&self) -> Vec<Code> {
        self.reasons.iter().map(|r| r.code).collect()
    }

    fn reject(reason: Reason, now: i64) -> Self {
        Self {
            decision: Verdict::Rejected,
            reasons: vec![reason],
            authorization: None,
            checked_at: now,
        }
    }
}

struct Cached<T> {
    value: Arc<T>,
    fetched_at: i64,
}

/// A bounded map of fetched values and when they were fetched.
struct TtlCache<T>(RwLock<HashMap<String, Cached<T>>>);

impl<T> TtlCache<T> {
    fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    /// The cached value and its age in seconds.
    fn get(&self, key: &str, now: i64) -> Option<(Arc<T>, i64)> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(key).map(|c| (c.value.clone(), now - c.fetched_at))
    }

    /// Stores `value`; when full, first drops entries older than `refresh`, and stores nothing
    /// if that frees no room.
    fn insert(&self, key: &str, value: Arc<T>, now: i64, refresh: i64, max: usize) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= max {
            map.retain(|_, c| now - c.fetched_at <= refresh);
        }
        if map.len() < max {
            map.insert(
                key.to_owned(),
                Cached {
                    value,
                    fetched_at: now,
                },
            );
        }
    }

    fn remove(&self, key: &str) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn clear(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// A decoded, verified status list.
struct StatusList {
    bits: Bitstring,
}

/// Verifies checkout presentations, caching DID resolutions and status lists from a [`Source`]
/// and remembering nonces. One verifier serves many merchants; share it behind an `Arc`.
pub struct Verifier<S> {
    source: S,
    clock: Arc<dyn Clock>,
    limits: Limits,
    dids: TtlCache<ResolvedDid>,
    status_lists: TtlCache<StatusList>,
    nonces: Mutex<HashMap<String, i64>>,
}

fn malformed(msg: impl Into<String>) -> Reason {
    Reason::new(Code::MalformedToken, msg)
}

fn jose_reason(what: &str, e: JoseError) -> Reason {
    match e {
        JoseError::UnsupportedAlgorithm(_) => {
            Reason::new(Code::UnsupportedAlgorithm, format!("{what}: {e}"))
        }
        _ => malformed(format!("{what}: {e}")),
    }
}

impl<S: Source> Verifier<S> {
    /// A verifier fetching from `source`, reading time from `clock`.
    pub fn new(source: S, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Self {
            source,
            clock,
            limits,
            dids: TtlCache::new(),
            status_lists: TtlCache::new(),
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Drops the cached resolution of `did` (on a pushed revocation or deplatforming).
    pub fn invalidate_did(&self, did: &str) {
        self.dids.remove(did);
    }

    /// Drops every cached resolution and status list.
    pub fn invalidate_all(&self) {
        self.dids.clear();
        self.status_lists.clear();
    }

    /// Drops the cached status list at `url`.
    pub fn invalidate_status_list(&self, url: &str) {
        self.status_lists.remove(url);
    }

    /// Runs the verification algorithm of spec section 8 on a compact `vp+jwt`.
    pub async fn verify(&self, token: &str, ctx: &CheckoutContext) -> Decision {
        let now = self.clock.now();
        match self.verify_inner(token, ctx, now).await {
            Ok(d) | Err(d) => d,
        }
    }

    async fn verify_inner(
        &self,
        token: &str,
        ctx: &CheckoutContext,
        now: i64,
    ) -> Result<Decision, Decision> {
        let fail = |r: Reason| Decision::reject(r, now);
        let limits = &self.limits;

        // Steps 1-3: the presentation's structure.
        let vp = CompactJws::parse(token, limits.max_token_bytes, PRESENTATION_TYP)
            .map_err(|e| fail(jose_reason("presentation", e)))?;
        let vp_kid = vp
            .header
            .kid
            .as_deref()
            .ok_or_else(|| fail(malformed("presentation has no kid")))?;
        let (signer_did, _) = split_did_url(vp_kid)
            .ok_or_else(|| fail(malformed("presentation kid is not a DID URL")))?;
        let mut presentation: CheckoutPresentation = serde_json::from_slice(&vp.payload)
            .map_err(|e| fail(malformed(format!("presentation payload: {e}"))))?;
        if presentation.context.first().map(String::as_str) != Some(VC_CONTEXT_V2)
            || !presentation.type_.iter().any(|t| t == CHECKOUT_TYPE)
        {
            return Err(fail(malformed(
                "presentation is not a CheckoutPresentation",
            )));
        }

        // Step 4: exactly one enveloped delegation credential.
        if presentation.verifiable_credential.len() != 1 {
            return Err(fail(malformed(
                "presentation must carry exactly one credential",
            )));
        }
        let envelope = presentation.verifiable_credential.remove(0);
        let vc_token = envelope
            .jws()
            .ok_or_else(|| fail(malformed("credential is not an enveloped vc+jwt")))?;
        let vc = CompactJws::parse(vc_token, limits.max_token_bytes, CREDENTIAL_TYP)
            .map_err(|e| fail(jose_reason("credential", e)))?;
        let credential: DelegationCredential = serde_json::from_slice(&vc.payload)
            .map_err(|e| fail(malformed(format!("credential payload: {e}"))))?;
        if !credential.type_.iter().any(|t| t == DELEGATION_TYPE) {
            return Err(fail(malformed(
                "credential is not an AgentDelegationCredential",
            )));
        }
        let (valid_from, valid_until) = credential
            .validate()
            .map_err(|e| fail(malformed(format!("credential: {e}"))))?;

        // Step 5: the credential is signed by a key of its issuer.
        let vc_kid = vc
            .header
            .kid
            .as_deref()
            .ok_or_else(|| fail(malformed("credential has no kid")))?;
        let (issuer_did, _) = split_did_url(vc_kid)
            .ok_or_else(|| fail(malformed("credential kid is not a DID URL")))?;
        if issuer_did != credential.issuer {
            return Err(fail(Reason::new(
                Code::IssuerMismatch,
                "credential kid is not a key of its issuer",
            )));
        }

        // Step 6: resolve the agent (signer of the presentation) and the issuer.
        let agent = self.resolve(signer_did, now).await.map_err(|e| {
            fail(Reason::new(
                Code::ResolutionFailed,
                format!("agent {signer_did}: {e}"),
            ))
        })?;
        let issuer = self.resolve(issuer_did, now).await.map_err(|e| {
            fail(Reason::new(
                Code::ResolutionFailed,
                format!("issuer {issuer_did}: {e}"),
            ))
        })?;

        // Step 7: both kids are current keys with the right relationship.
        let agent_key = agent.authentication_key(vp_kid).ok_or_else(|| {
            fail(Reason::new(
                Code::UnknownKey,
                format!("{vp_kid} is not a current authentication key"),
            ))
        })?;
        let issuer_key = issuer.assertion_key(vc_kid).ok_or_else(|| {
            fail(Reason::new(
                Code::UnknownKey,
                format!("{vc_kid} is not a current assertion key"),
            ))
        })?;

        // Step 8: both signatures, verified together (Ed25519 batch verification; keys of small
        // order never get this far, resolution refuses them). When the batch fails, each is
        // verified alone, strictly, to say which.
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
            return Err(fail(Reason::new(Code::BadSignature, which)));
        }

        // Step 9: the agent presenting is the agent the credential was issued to.
        let subject = &credential.credential_subject.id;
        if presentation.holder != *subject {
            return Err(fail(Reason::new(
                Code::SubjectMismatch,
                "holder is not the credential subject",
            )));
        }
        if signer_did != subject {
            return Err(fail(Reason::new(
                Code::PresentationNotSignedBySubject,
                "presentation is signed by someone other than the credential subject",
            )));
        }

        let mut reasons = Vec::new();
        let skew = limits.clock_skew_secs;
        let mut push = |code: Code, msg: String| reasons.push(Reason::new(code, msg));

        // Step 10: the agent's standing.
        match agent.status() {
            AgentStatus::Active => {}
            AgentStatus::Deactivated => push(Code::AgentDeactivated, "agent is deactivated".into()),
            AgentStatus::Deplatformed | AgentStatus::Suspended => {
                let why = agent
                    .metadata
                    .as_ref()
                    .and_then(|m| m.deplatformed.as_ref())
                    .map_or_else(String::new, |d| format!(": {}", d.reason));
                push(
                    Code::AgentDeplatformed,
                    format!("agent is deplatformed{why}"),
                );
            }
        }

        // Step 11: the credential's validity period.
        if now > valid_until + skew {
            push(
                Code::CredentialExpired,
                format!("credential expired at {}", credential.valid_until),
            );
        }
        if now + skew < valid_from {
            push(
                Code::CredentialNotYetValid,
                format!("credential valid from {}", credential.valid_from),
            );
        }

        // Step 12: the presentation's lifetime.
        if now > presentation.exp + skew {
            push(Code::PresentationExpired, "presentation expired".into());
        } else if presentation.exp - presentation.iat > limits.max_presentation_lifetime_secs
            || presentation.exp < presentation.iat
        {
            push(
                Code::PresentationExpired,
                format!(
                    "presentation lifetime exceeds {} s",
                    limits.max_presentation_lifetime_secs
                ),
            );
        }
        if presentation.iat > now + skew {
            push(
                Code::PresentationNotYetValid,
                "presentation issued in the future".into(),
            );
        }

        // Step 13: audience.
        if presentation.aud != ctx.merchant {
            push(
                Code::WrongAudience,
                "presentation is for another merchant".into(),
            );
        }

        // Step 14: nonce (replay is checked last, when everything else holds).
        let nonce_ok = presentation.nonce == ctx.nonce && !ctx.nonce.is_empty();
        if !nonce_ok {
            push(Code::NonceMismatch, "nonce is not the merchant's".into());
        }

        // Step 15: scope.
        let grant = &credential.credential_subject;
        if !grant.scope.allows_merchant(&ctx.merchant) {
            push(
                Code::MerchantNotInScope,
                "merchant is not in the credential's scope".into(),
            );
        }
        let tx = &presentation.transaction;
        let category = ctx.category.as_deref().or(tx.category.as_deref());
        if !grant.scope.allows_category(category) {
            push(
                Code::CategoryNotInScope,
                format!("category {category:?} is not in scope"),
            );
        }

        // Step 16: limits.
        let limit = &grant.spending_limit;
        if tx.currency != limit.currency {
            push(
                Code::CurrencyMismatch,
                format!("limit is in {}, not {}", limit.currency, tx.currency),
            );
        } else if tx.amount > limit.per_transaction {
            push(
                Code::LimitExceeded,
                format!(
                    "{} exceeds the per-transaction limit of {}",
                    tx.amount.get(),
                    limit.per_transaction.get()
                ),
            );
        }

        // Step 17: the transaction is the merchant's order.
        let mismatch = ctx.amount.is_some_and(|a| a != tx.amount.get())
            || ctx
                .currency
                .as_deref()
                .is_some_and(|c| c != tx.currency.as_str())
            || ctx
                .order_hash
                .as_deref()
                .is_some_and(|h| h != tx.order_hash)
            || (ctx.category.is_some() && tx.category.is_some() && ctx.category != tx.category);
        if mismatch {
            push(
                Code::TransactionMismatch,
                "presented transaction differs from the merchant's order".into(),
            );
        }

        // Step 18: revocation status, fail closed.
        match self.status_list(&credential, now).await {
            Ok(list) => {
                let index = credential.credential_status.index().unwrap_or(usize::MAX);
                match list.bits.get(index) {
                    Some(false) => {}
                    Some(true) => push(Code::CredentialRevoked, "credential is revoked".into()),
                    None => push(
                        Code::StatusUnavailable,
                        "status index is past the end of the list".into(),
                    ),
                }
            }
            Err(msg) => push(Code::StatusUnavailable, msg),
        }

        // Step 14, replay: consume the nonce only for a presentation that passes everything else.
        if reasons.is_empty()
            && !self.consume_nonce(
                &presentation.aud,
                &presentation.nonce,
                presentation.exp + skew,
                now,
            )
        {
            reasons.push(Reason::new(Code::NonceReplayed, "nonce already used"));
        }

        let authorization = VerifiedAuthorization {
            agent: subject.clone(),
            principal: credential.issuer.clone(),
            credential_id: credential.id.clone(),
            agent_key: vp_kid.to_owned(),
            transaction: presentation.transaction,
            valid_until: credential.valid_until.clone(),
        };
        Ok(Decision {
            decision: if reasons.is_empty() {
                Verdict::Accepted
            } else {
                Verdict::Rejected
            },
            reasons,
            authorization: Some(authorization),
            checked_at: now,
        })
    }

    /// Resolves `did`, from cache when fresh enough, falling back to a stale entry within
    /// [`Limits::did_max_staleness_secs`] when the source fails.
    pub async fn resolve(&self, did: &str, now: i64) -> Result<Arc<ResolvedDid>, ResolveError> {
        let cached = self.dids.get(did, now);
        if let Some((value, age)) = &cached {
            if *age <= self.limits.did_refresh_secs {
                return Ok(value.clone());
            }
        }
        let fetched = if did.starts_with(agentid_spec::id::DID_KEY_PREFIX) {
            agentid_resolver::did_key::resolve(did).await
        } else {
            match self.source.resolve(did).await {
                Ok(result) => ResolvedDid::from_result(did, result),
                Err(e) => Err(e),
            }
        };
        match fetched {
            Ok(resolved) => {
                let value = Arc::new(resolved);
                let l = &self.limits;
                self.dids.insert(
                    did,
                    value.clone(),
                    now,
                    l.did_refresh_secs,
                    l.max_cache_entries,
                );
                Ok(value)
            }
            // A definitive answer (not found, invalid) is never papered over with a stale entry.
            Err(e @ (ResolveError::Unreachable(_) | ResolveError::InvalidResponse(_))) => {
                match cached {
                    Some((value, age)) if age <= self.limits.did_max_staleness_secs => Ok(value),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn status_list(
        &self,
        credential: &DelegationCredential,
        now: i64,
    ) -> Result<Arc<StatusList>, String> {
        let url = &credential.credential_status.status_list_credential;
        let cached = self.status_lists.get(url, now);
        if let Some((value, age)) = &cached {
            if *age <= self.limits.status_refresh_secs {
                return Ok(value.clone());
            }
        }
        match self.fetch_status_list(url, &credential.issuer, now).await {
            Ok(list) => {
                let value = Arc::new(list);
                let l = &self.limits;
                self.status_lists.insert(
                    url,
                    value.clone(),
                    now,
                    l.status_refresh_secs,
                    l.max_cache_entries,
                );
                Ok(value)
            }
            Err(e) => match cached {
                Some((value, age)) if age <= self.limits.status_max_staleness_secs => Ok(value),
                Some((_, age)) => Err(format!(
                    "status list unavailable ({e}) and cached copy is {age} s old"
                )),
                None => Err(format!("status list unavailable: {e}")),
            },
        }
    }

    /// Fetches and verifies a status list credential: a `vc+jwt` signed by the credential's
    /// issuer, whose `id` is the URL it was fetched from and whose purpose is revocation.
    async fn fetch_status_list(
        &self,
        url: &str,
        issuer: &str,
        now: i64,
    ) -> Result<StatusList, String> {
        let jws = self
            .source
            .fetch_status_list(url)
            .await
            .map_err(|e| e.to_string())?;
        let token = CompactJws::parse(&jws, self.limits.max_status_list_bytes, STATUS_LIST_TYP)
            .map_err(|e| e.to_string())?;
        let kid = token
            .header
            .kid
            .as_deref()
            .ok_or("status list has no kid")?;
        let (kid_did, _) = split_did_url(kid).ok_or("status list kid is not a DID URL")?;
        if kid_did != issuer {
            return Err("status list is not signed by the credential's issuer".into());
        }
        let signer = self.resolve(issuer, now).await.map_err(|e| e.to_string())?;
        let key = signer
            .assertion_key(kid)
            .ok_or("status list key is not an assertion key")?;
        if !token.verify(key) {
            return Err("status list signature does not verify".into());
        }
        let slc: BitstringStatusListCredential =
            serde_json::from_slice(&token.payload).map_err(|e| format!("status list: {e}"))?;
        if slc.id != url
            || slc.issuer != issuer
            || slc.credential_subject.status_purpose != "revocation"
        {
            return Err("status list is not the revocation list named by the credential".into());
        }
        if let Some(until) = slc.valid_until.as_deref().and_then(parse_rfc3339) {
            if now > until + self.limits.clock_skew_secs {
                return Err("status list credential has expired".into());
            }
        }
        let bits =
            Bitstring::decode(&slc.credential_subject.encoded_list).map_err(|e| e.to_string())?;
        Ok(StatusList { bits })
    }

    fn consume_nonce(&self, aud: &str, nonce: &str, expires: i64, now: i64) -> bool {
        let key = format!("{aud}\n{nonce}");
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&exp) = nonces.get(&key) {
            if exp >= now {
                return false;
            }
        }
        if nonces.len() >= self.limits.max_nonces {
            nonces.retain(|_, &mut exp| exp >= now);
            if nonces.len() >= self.limits.max_nonces {
                // Full of live nonces: refuse rather than forget one that could be replayed.
                return false;
            }
        }
        nonces.insert(key, expires);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentid_spec::document::ResolutionResult;

    struct NoSource;

    impl Source for NoSource {
        async fn resolve(&self, _: &str) -> Result<ResolutionResult, ResolveError> {
            Err(ResolveError::NotFound)
        }
        async fn fetch_status_list(&self, _: &str) -> Result<String, ResolveError> {
            Err(ResolveError::NotFound)
        }
    }

    #[test]
    fn cache_is_bounded() {
        let c: TtlCache<u8> = TtlCache::new();
        c.insert("a", Arc::new(1), 0, 10, 2);
        c.insert("b", Arc::new(2), 5, 10, 2);
        // Full, nothing older than 10 s: the new entry is not stored.
        c.insert("c", Arc::new(3), 9, 10, 2);
        assert!(c.get("c", 9).is_none());
        assert_eq!(c.get("a", 9).map(|(v, age)| (*v, age)), Some((1, 9)));
        // At 11 s "a" is past refresh and makes room.
        c.insert("c", Arc::new(3), 11, 10, 2);
        assert!(c.get("a", 11).is_none());
        assert!(c.get("c", 11).is_some());
        c.remove("c");
        assert!(c.get("c", 11).is_none());
    }

    #[test]
    fn nonce_memory_is_bounded_and_fails_closed() {
        let limits = Limits {
            max_nonces: 2,
            ..Limits::default()
        };
        let v = Verifier::new(NoSource, Arc::new(crate::clock::FixedClock::new(0)), limits);
        assert!(v.consume_nonce("m", "1", 100, 0));
        assert!(!v.consume_nonce("m", "1", 100, 0), "replay");
        assert!(
            v.consume_nonce("other", "1", 100, 0),
            "nonces are per audience"
        );
        // Full of live nonces: refuse rather than forget one.
        assert!(!v.consume_nonce("m", "2", 100, 0));
        // Once they expire, room is made.
        assert!(v.consume_nonce("m", "2", 300, 101));
        // An expired nonce may be seen again (its presentation can no longer be accepted).
        assert!(v.consume_nonce("m", "1", 400, 102));
    }
}
