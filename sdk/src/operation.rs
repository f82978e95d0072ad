//! Building signed registry operations (spec section 5).

use std::collections::BTreeMap;

use agentid_spec::id::{AgentDid, AgentName};
use agentid_spec::jose::{sign_compact, JoseHeader};
use agentid_spec::operation::{Operation, OPERATION_TYP};
use agentid_spec::time::format_rfc3339;

use crate::keys::KeyPair;

/// The fragment of an agent's first verification method.
pub const FIRST_KEY_FRAGMENT: &str = "key-1";

/// A signed genesis operation and the DID it defines.
#[derive(Clone, Debug)]
pub struct SignedGenesis {
    /// The compact JWS to submit to the registry.
    pub operation: String,
    /// `did:agentid:<hash of operation>`.
    pub did: AgentDid,
}

/// Signs a `create` operation: `signing` becomes verification method `key-1`, `rotation` the
/// only rotation key (they may be the same key), `name` an optional name to claim.
pub fn create(
    signing: &KeyPair,
    rotation: &KeyPair,
    name: Option<AgentName>,
    now: i64,
) -> SignedGenesis {
    let rotation_did = rotation.did_key();
    let op = Operation::Create {
        verification_methods: BTreeMap::from([(
            FIRST_KEY_FRAGMENT.to_owned(),
            signing.did_key().multibase().to_owned(),
        )]),
        rotation_keys: vec![rotation_did.clone()],
        name,
        created_at: format_rfc3339(now),
    };
    let operation = sign(&op, rotation);
    SignedGenesis {
        did: AgentDid::from_genesis(&operation),
        operation,
    }
}

/// Signs a `deactivate` operation for `did`, whose latest operation hash is `prev`.
pub fn deactivate(did: &AgentDid, prev: &str, rotation: &KeyPair, now: i64) -> String {
    let op = Operation::Deactivate {
        did: did.clone(),
        prev: prev.to_owned(),
        created_at: format_rfc3339(now),
    };
    sign(&op, rotation)
}

fn sign(op: &Operation, rotation: &KeyPair) -> String {
    let header = JoseHeader::eddsa(OPERATION_TYP, None, &rotation.did_key().key_id());
    // An Operation is plain strings and maps: serialising cannot fail.
    let payload = serde_json::to_vec(op).expect("operation serialises");
    sign_compact(&header, &payload, rotation.signing_key())
}
