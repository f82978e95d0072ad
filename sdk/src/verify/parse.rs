//! Steps 1-4: the presentation and its one enveloped credential, parsed strictly. Nothing here is
//! trusted yet: a [`Parsed`] only says the bytes have the right shape.

use agentid_spec::authorization::SpendAuthorization;
use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::{
    DelegationCredential, CREDENTIAL_TYP, DELEGATION_TYPE, VC_CONTEXT_V2,
};
use agentid_spec::id::split_did_url;
use agentid_spec::jose::{CompactJws, JoseError};
use agentid_spec::presentation::{
    CheckoutPresentation, EnvelopedCredential, CHECKOUT_TYPE, PRESENTATION_TYP,
};

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

/// A presentation whose structure holds, with its credential.
pub(super) struct Parsed<'a> {
    pub(super) vp: CompactJws<'a>,
    pub(super) vc: CompactJws<'static>,
    /// The presentation's `kid`, a DID URL; its DID is `vp_kid[..vp_did_len]`.
    pub(super) vp_kid: String,
    pub(super) vp_did_len: usize,
    /// The credential's `kid`, a DID URL; its DID is `vc_kid[..vc_did_len]`.
    pub(super) vc_kid: String,
    pub(super) vc_did_len: usize,
    /// The presentation, its credential taken out.
    pub(super) presentation: CheckoutPresentation,
    pub(super) credential: DelegationCredential,
    /// The credential's validity window, Unix seconds.
    pub(super) valid_from: i64,
    pub(super) valid_until: i64,
    /// The wallet's spend authorization, when the presentation carries one.
    pub(super) authorization: Option<ParsedAuthorization>,
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
    fn parse(envelope: EnvelopedCredential, limits: &Limits) -> Result<Self, Reason> {
        let at = envelope
            .jws_offset()
            .ok_or_else(|| malformed("authorization is not an enveloped vc+jwt"))?;
        let mut jws = CompactJws::parse_owned(
            envelope.into_id(),
            at,
            limits.max_token_bytes,
            CREDENTIAL_TYP,
        )
        .map_err(|e| jose_reason("authorization", e))?;
        let payload: SpendAuthorization = serde_json::from_slice(&jws.payload)
            .map_err(|e| malformed(format!("authorization payload: {e}")))?;
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
    pub(super) fn parse(token: &'a str, limits: &Limits) -> Result<Self, Reason> {
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

        // Step 4: one enveloped delegation credential, then at most one spend authorization.
        if !(1..=2).contains(&presentation.verifiable_credential.len()) {
            return Err(malformed(
                "presentation must carry a delegation and at most one authorization",
            ));
        }
        let authorization = if presentation.verifiable_credential.len() == 2 {
            let envelope = presentation.verifiable_credential.remove(1);
            Some(ParsedAuthorization::parse(envelope, limits)?)
        } else {
            None
        };
        let envelope = presentation.verifiable_credential.remove(0);
        let at = envelope
            .jws_offset()
            .ok_or_else(|| malformed("credential is not an enveloped vc+jwt"))?;
        let mut vc = CompactJws::parse_owned(
            envelope.into_id(),
            at,
            limits.max_token_bytes,
            CREDENTIAL_TYP,
        )
        .map_err(|e| jose_reason("credential", e))?;
        let credential: DelegationCredential = serde_json::from_slice(&vc.payload)
            .map_err(|e| malformed(format!("credential payload: {e}")))?;
        if !credential.type_.iter().any(|t| t == DELEGATION_TYPE) {
            return Err(malformed("credential is not an AgentDelegationCredential"));
        }
        let (valid_from, valid_until) = credential
            .validate()
            .map_err(|e| malformed(format!("credential: {e}")))?;
        let vc_kid = vc
            .header
            .kid
            .take()
            .ok_or_else(|| malformed("credential has no kid"))?;
        let vc_did_len = split_did_url(&vc_kid)
            .map(|(did, _)| did.len())
            .ok_or_else(|| malformed("credential kid is not a DID URL"))?;
        Ok(Self {
            vp,
            vc,
            vp_kid,
            vp_did_len,
            vc_kid,
            vc_did_len,
            presentation,
            credential,
            valid_from,
            valid_until,
            authorization,
        })
    }
}
