//! Sub-delegations (spec section 6.4) as a wallet receives them: the agent's signed request,
//! and the link once the agent signed it. The verifier checks each (signature, trust policy,
//! standing of both agents) and only then makes the type the wallet takes, so no wallet entry
//! point acts on input a caller merely says it checked.

use agentid_resolver::Source;
use agentid_spec::code::{Code, Reason};
use agentid_spec::credential::DelegationCredential;
use agentid_spec::document::AgentStatus;
use agentid_spec::subdelegation::SubDelegationRequest;

use super::replay::NonceStore;
use super::Verifier;

/// A sub-delegation request signed by its `iss`, an agent in good standing through a trusted
/// registry, for a sub-agent that exists, is trusted and in good standing. Only
/// [`Verifier::check_link_request`] makes one.
#[derive(Debug)]
pub struct VerifiedLinkRequest {
    request: SubDelegationRequest,
}

impl VerifiedLinkRequest {
    /// The request.
    pub fn request(&self) -> &SubDelegationRequest {
        &self.request
    }
}

/// A sub-delegation credential whose signature verifies under a current assertion key of its
/// issuer, naming a parent. Only [`Verifier::check_link`] makes one.
#[derive(Debug)]
pub struct VerifiedLink {
    jws: String,
    credential: DelegationCredential,
}

impl VerifiedLink {
    /// The compact JWS, as signed.
    pub fn jws(&self) -> &str {
        &self.jws
    }
    /// The credential it carries.
    pub fn credential(&self) -> &DelegationCredential {
        &self.credential
    }
}

/// Why a sub-delegation request or link is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkRefusal {
    /// The token does not parse, its signature or signer is not accepted, or an agent is not
    /// vouched for by the trust policy: the verifier's reason.
    Rejected(Reason),
    /// An agent of the link is not in good standing (suspended, deplatformed, deactivated).
    NotInGoodStanding(String),
    /// The sub-agent does not resolve: nobody registered it.
    UnknownAgent(String),
    /// A credential that names no parent: not a sub-delegation.
    NotALink,
}

impl<S: Source, N: NonceStore> Verifier<S, N> {
    /// Checks a sub-delegation request addressed to the wallet `audience`: signed by a current
    /// authentication key of its `iss`, both agents through a trusted registry (or allowed
    /// `did:key`s), both resolvable and active.
    pub async fn check_link_request(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<VerifiedLinkRequest, LinkRefusal> {
        let (request, signer) = self
            .check_signed::<SubDelegationRequest>(token, audience)
            .await
            .map_err(LinkRefusal::Rejected)?;
        for agent in [&request.iss, &request.agent] {
            self.check_agent_trusted(agent.as_str())
                .map_err(LinkRefusal::Rejected)?;
        }
        if signer.status() != AgentStatus::Active {
            return Err(LinkRefusal::NotInGoodStanding(
                "the delegating agent is not in good standing".into(),
            ));
        }
        let sub_agent = self
            .resolve(request.agent.as_str(), self.now())
            .await
            .map_err(|e| {
                LinkRefusal::UnknownAgent(format!(
                    "the sub-agent {} does not resolve: {e}",
                    request.agent
                ))
            })?;
        if sub_agent.status() != AgentStatus::Active {
            return Err(LinkRefusal::NotInGoodStanding(
                "the sub-agent is not in good standing".into(),
            ));
        }
        Ok(VerifiedLinkRequest { request })
    }

    /// Checks a signed sub-delegation: its signature under a current assertion key of its
    /// issuer, and that it names a parent.
    pub async fn check_link(&self, jws: &str) -> Result<VerifiedLink, LinkRefusal> {
        let credential = self
            .check_credential_signature(jws)
            .await
            .map_err(LinkRefusal::Rejected)?;
        if credential.parent.is_none() {
            return Err(LinkRefusal::NotALink);
        }
        Ok(VerifiedLink {
            jws: jws.to_owned(),
            credential,
        })
    }
}

impl LinkRefusal {
    /// The verifier's code, where there is one.
    pub fn code(&self) -> Option<Code> {
        match self {
            LinkRefusal::Rejected(r) => Some(r.code),
            _ => None,
        }
    }
}
