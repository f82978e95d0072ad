//! Steps 1-4: the presentation and its one enveloped credential, parsed strictly. Nothing here is
//! trusted yet: a [`Parsed`] only says the bytes have the right shape.

use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::{
    DelegationCredential, CREDENTIAL_TYP, DELEGATION_TYPE, VC_CONTEXT_V2,
};
use agentid_spec::id::split_did_url;
use agentid_spec::jose::{CompactJws, JoseError};
use agentid_spec::presentation::{CheckoutPresentation, CHECKOUT_TYPE, PRESENTATION_TYP};

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

        // Step 4: exactly one enveloped delegation credential.
        if presentation.verifiable_credential.len() != 1 {
            return Err(malformed("presentation must carry exactly one credential"));
        }
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
        })
    }
}
