//! Steps 1-4: the presentation and its one enveloped credential, parsed strictly. Nothing here is
//! trusted yet: a [`Parsed`] only says the bytes have the right shape.

use agentid_spec::authorization::{SpendAuthorization, AUTHORIZATION_TYPE};
use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::{
    DelegationCredential, CREDENTIAL_TYP, DELEGATION_TYPE, MAX_CHAIN, VC_CONTEXT_V2,
};
use agentid_spec::id::split_did_url;
use agentid_spec::jose::{CompactJws, JoseError};
use agentid_spec::presentation::{
    CheckoutPresentation, EnvelopedCredential, CHECKOUT_TYPE, PRESENTATION_TYP,
};

use std::sync::Arc;

use super::cache::{Remembered, VerifiedCredentials};
use super::Limits;

pub(super) fn malformed(msg: impl Into<String>) -> Reason {
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

/// A presentation whose structure holds, with its delegation chain.
pub(super) struct Parsed<'a> {
    pub(super) vp: CompactJws<'a>,
    /// The presentation's `kid`, a DID URL; its DID is `vp_kid[..vp_did_len]`.
    pub(super) vp_kid: String,
    pub(super) vp_did_len: usize,
    /// The presentation, its credentials taken out.
    pub(super) presentation: CheckoutPresentation,
    /// The delegation chain: the principal's delegation first, then each sub-delegation; the
    /// last is the presenting agent's. 1 ..= [`MAX_CHAIN`] credentials.
    pub(super) chain: Vec<ParsedCredential>,
    /// The wallet's spend authorization, when the presentation carries one.
    pub(super) authorization: Option<ParsedAuthorization>,
}

/// A delegation credential as parsed: what its bytes say, once its structure holds.
pub(crate) struct KnownCredential {
    pub(super) credential: DelegationCredential,
    /// Its `kid`, a DID URL; its DID is `kid[..did_len]`.
    pub(super) kid: String,
    pub(super) did_len: usize,
    /// Its validity window, Unix seconds.
    pub(super) valid_from: i64,
    pub(super) valid_until: i64,
}

impl KnownCredential {
    /// The issuer's DID.
    pub(super) fn issuer(&self) -> &str {
        &self.kid[..self.did_len]
    }

    #[cfg(test)]
    pub(super) fn example() -> Self {
        let vp = vector_presentation("valid");
        let mut parsed = Parsed::parse(&vp, &Limits::default(), None).unwrap();
        let known = parsed.chain.remove(0).known;
        Arc::try_unwrap(known).unwrap_or_else(|_| panic!("shared"))
    }
}

/// A delegation credential whose structure holds (section 6.1): parsed now, or remembered from
/// an earlier check of the very same bytes.
pub(super) struct ParsedCredential {
    /// The compact JWS, parsed; absent while the credential is remembered and its signature
    /// need not be verified again.
    pub(super) jws: Option<CompactJws<'static>>,
    /// The `data:` URL holding the JWS from `at`, while `jws` is absent.
    source: String,
    at: usize,
    pub(super) known: Arc<KnownCredential>,
    /// What an earlier check remembered of these bytes.
    pub(super) remembered: Option<Remembered>,
}

impl ParsedCredential {
    /// Steps 1-3 and 5 on an enveloped credential, or what `memo` remembers of its bytes.
    pub(super) fn parse(
        envelope: EnvelopedCredential,
        limits: &Limits,
        memo: Option<&VerifiedCredentials>,
    ) -> Result<Self, Reason> {
        let at = envelope
            .jws_offset()
            .ok_or_else(|| malformed("credential is not an enveloped vc+jwt"))?;
        let source = envelope.into_id();
        if let Some(r) = memo.and_then(|m| m.get(&source[at..])) {
            return Ok(Self::remembered(source, at, r));
        }
        let jws = CompactJws::parse_owned(source, at, limits.max_token_bytes, CREDENTIAL_TYP)
            .map_err(|e| jose_reason("credential", e))?;
        Self::from_jws(jws)
    }

    /// A credential whose bytes (the JWS at `at` in `source`) an earlier check remembered.
    fn remembered(source: String, at: usize, r: Remembered) -> Self {
        Self {
            jws: None,
            source,
            at,
            known: r.parsed.clone(),
            remembered: Some(r),
        }
    }

    /// Steps 3 and 5 on a credential's parsed JWS.
    fn from_jws(mut jws: CompactJws<'static>) -> Result<Self, Reason> {
        let credential: DelegationCredential = serde_json::from_slice(&jws.payload)
            .map_err(|e| malformed(format!("credential payload: {e}")))?;
        if !credential.type_.iter().any(|t| t == DELEGATION_TYPE) {
            return Err(malformed("credential is not an AgentDelegationCredential"));
        }
        let (valid_from, valid_until) = credential
            .validate()
            .map_err(|e| malformed(format!("credential: {e}")))?;
        let kid = jws
            .header
            .kid
            .take()
            .ok_or_else(|| malformed("credential has no kid"))?;
        let did_len = split_did_url(&kid)
            .map(|(did, _)| did.len())
            .ok_or_else(|| malformed("credential kid is not a DID URL"))?;
        // Step 5: the credential is signed by a key of its issuer.
        if kid[..did_len] != *credential.issuer.as_str() {
            return Err(Reason::new(
                Code::IssuerMismatch,
                "credential kid is not a key of its issuer",
            ));
        }
        Ok(Self {
            jws: Some(jws),
            source: String::new(),
            at: 0,
            known: Arc::new(KnownCredential {
                credential,
                kid,
                did_len,
                valid_from,
                valid_until,
            }),
            remembered: None,
        })
    }

    /// The compact JWS.
    pub(super) fn token(&self) -> &str {
        match &self.jws {
            Some(j) => j.token(),
            None => &self.source[self.at..],
        }
    }

    /// The parsed JWS, parsing the remembered bytes now if need be (the issuer's key changed).
    pub(super) fn ensure_jws(&mut self, limits: &Limits) -> Result<(), Reason> {
        if self.jws.is_none() {
            let source = std::mem::take(&mut self.source);
            self.jws = Some(
                CompactJws::parse_owned(source, self.at, limits.max_token_bytes, CREDENTIAL_TYP)
                    .map_err(|e| jose_reason("credential", e))?,
            );
        }
        Ok(())
    }

    /// The issuer's DID.
    pub(super) fn issuer(&self) -> &str {
        self.known.issuer()
    }

    /// Its `kid`.
    pub(super) fn kid(&self) -> &str {
        &self.known.kid
    }

    /// The credential.
    pub(super) fn credential(&self) -> &DelegationCredential {
        &self.known.credential
    }
}

/// Whether a `vc+jwt` payload is a spend authorization, by its `type`.
fn is_authorization(payload: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type", default)]
        type_: Vec<String>,
    }
    serde_json::from_slice::<Typed>(payload)
        .is_ok_and(|t| t.type_.iter().any(|t| t == AUTHORIZATION_TYPE))
}

/// A spend authorization whose structure holds (section 11.1).
pub(super) struct ParsedAuthorization {
    pub(super) jws: CompactJws<'static>,
    /// Its `kid`, a DID URL; its DID is `kid[..did_len]`.
    pub(super) kid: String,
    pub(super) did_len: usize,
    pub(super) payload: SpendAuthorization,
    /// Its validity window, Unix seconds.
    pub(super) valid_from: i64,
    pub(super) valid_until: i64,
}

impl ParsedAuthorization {
    fn from_payload(
        mut jws: CompactJws<'static>,
        payload: SpendAuthorization,
    ) -> Result<Self, Reason> {
        let (valid_from, valid_until) = payload
            .validate()
            .map_err(|e| malformed(format!("authorization: {e}")))?;
        let kid = jws
            .header
            .kid
            .take()
            .ok_or_else(|| malformed("authorization has no kid"))?;
        let did_len = split_did_url(&kid)
            .map(|(did, _)| did.len())
            .ok_or_else(|| malformed("authorization kid is not a DID URL"))?;
        if kid[..did_len] != *payload.issuer.as_str() {
            return Err(Reason::new(
                Code::IssuerMismatch,
                "authorization kid is not a key of its issuer",
            ));
        }
        Ok(Self {
            jws,
            kid,
            did_len,
            payload,
            valid_from,
            valid_until,
        })
    }
}

impl<'a> Parsed<'a> {
    /// Steps 1-4 on a compact `vp+jwt`; the first failure ends verification.
    pub(super) fn parse(
        token: &'a str,
        limits: &Limits,
        memo: Option<&VerifiedCredentials>,
    ) -> Result<Self, Reason> {
        // Steps 1-3: the presentation's structure.
        let mut vp = CompactJws::parse(token, limits.max_token_bytes, PRESENTATION_TYP)
            .map_err(|e| jose_reason("presentation", e))?;
        let vp_kid = vp
            .header
            .kid
            .take()
            .ok_or_else(|| malformed("presentation has no kid"))?;
        let vp_did_len = split_did_url(&vp_kid)
            .map(|(did, _)| did.len())
            .ok_or_else(|| malformed("presentation kid is not a DID URL"))?;
        let mut presentation: CheckoutPresentation = serde_json::from_slice(&vp.payload)
            .map_err(|e| malformed(format!("presentation payload: {e}")))?;
        if presentation.context.first().map(String::as_str) != Some(VC_CONTEXT_V2)
            || !presentation.type_.iter().any(|t| t == CHECKOUT_TYPE)
        {
            return Err(malformed("presentation is not a CheckoutPresentation"));
        }

        // Step 4: the delegation chain (1 to MAX_CHAIN credentials), then at most one spend
        // authorization, last.
        let mut envelopes = std::mem::take(&mut presentation.verifiable_credential);
        if envelopes.len() > MAX_CHAIN + 1 {
            return Err(Reason::new(
                Code::ChainBroken,
                format!("a chain holds at most {MAX_CHAIN} delegations and one authorization"),
            ));
        }
        // The last of several is the authorization when its type says so (a credential this
        // verifier remembers never is); its JWS is parsed once either way.
        let mut last_credential = None;
        let mut authorization = None;
        if envelopes.len() > 1 {
            if let Some(last) = envelopes.pop() {
                let at = last
                    .jws_offset()
                    .ok_or_else(|| malformed("credential is not an enveloped vc+jwt"))?;
                if let Some(r) = memo.and_then(|m| m.get(&last.id[at..])) {
                    last_credential = Some(ParsedCredential::remembered(last.into_id(), at, r));
                } else {
                    let jws = CompactJws::parse_owned(
                        last.into_id(),
                        at,
                        limits.max_token_bytes,
                        CREDENTIAL_TYP,
                    )
                    .map_err(|e| jose_reason("credential", e))?;
                    // Parsed once as an authorization: what it is when its type says so.
                    match serde_json::from_slice::<SpendAuthorization>(&jws.payload) {
                        Ok(payload) if payload.type_.iter().any(|t| t == AUTHORIZATION_TYPE) => {
                            authorization = Some(ParsedAuthorization::from_payload(jws, payload)?);
                        }
                        Err(e) if is_authorization(&jws.payload) => {
                            return Err(malformed(format!("authorization payload: {e}")));
                        }
                        _ => last_credential = Some(ParsedCredential::from_jws(jws)?),
                    }
                }
            }
        }
        let n = envelopes.len() + usize::from(last_credential.is_some());
        if n == 0 {
            return Err(malformed("presentation carries no delegation credential"));
        }
        if n > MAX_CHAIN {
            return Err(Reason::new(
                Code::ChainBroken,
                format!("a chain holds at most {MAX_CHAIN} delegations"),
            ));
        }
        let mut chain = envelopes
            .into_iter()
            .map(|e| ParsedCredential::parse(e, limits, memo))
            .collect::<Result<Vec<_>, _>>()?;
        chain.extend(last_credential);
        Ok(Self {
            vp,
            vp_kid,
            vp_did_len,
            presentation,
            chain,
            authorization,
        })
    }
}

/// The presentation of the verification vector `name` (`spec/vectors/verification`).
#[cfg(test)]
fn vector_presentation(name: &str) -> String {
    let path = format!(
        "{}/../spec/vectors/verification/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["input"]["presentation"].as_str().unwrap().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last envelope, typed as an authorization but not one, is refused as an
    /// authorization, with what is wrong with it, not read as a further delegation.
    #[test]
    fn a_malformed_authorization_is_refused_as_one() {
        let vp = vector_presentation("authorization_malformed");
        let Err(reason) = Parsed::parse(&vp, &Limits::default(), None) else {
            panic!("accepted");
        };
        assert_eq!(reason.code, Code::MalformedToken);
        assert!(
            reason
                .message
                .starts_with("authorization payload: unknown field `overrides`"),
            "{}",
            reason.message
        );
    }
}
