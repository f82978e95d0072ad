//! Issuing a delegation credential with a key the principal holds (spec section 6). The wallet
//! service issues the same credentials for principals whose keys it keeps.

use agentid_spec::credential::{DelegationCredential, CREDENTIAL_CTY, CREDENTIAL_TYP};
use agentid_spec::jose::{sign_compact, JoseHeader};

use crate::keys::KeyPair;

/// Signs `credential` as a `vc+jwt` with the issuer's did:key. The credential's `issuer` must be
/// that did:key.
pub fn issue(credential: &DelegationCredential, issuer: &KeyPair) -> String {
    let did = issuer.did_key();
    debug_assert_eq!(credential.issuer.as_str(), did.as_str());
    let header = JoseHeader::eddsa(CREDENTIAL_TYP, Some(CREDENTIAL_CTY), &did.key_id());
    // Strings and integers only: serialising cannot fail.
    let payload = serde_json::to_vec(credential).expect("credential serialises");
    sign_compact(&header, &payload, issuer.signing_key())
}

/// Signs the payload of a sub-delegation (section 6.4) exactly as the wallet prepared it, as a
/// `vc+jwt` by the delegating agent's key `kid` (a DID URL of the agent's assertion key). The
/// bytes are signed as they are: the wallet recognises the credential by them.
pub fn sign_link(payload: &[u8], kid: &str, agent: &KeyPair) -> String {
    let header = JoseHeader::eddsa(CREDENTIAL_TYP, Some(CREDENTIAL_CTY), kid);
    sign_compact(&header, payload, agent.signing_key())
}
