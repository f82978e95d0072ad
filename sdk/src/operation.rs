//! Building signed registry operations (spec section 5).

use std::collections::BTreeMap;

use agentid_spec::id::{AgentDid, AgentName, DidKey};
use agentid_spec::jose::{sign_compact, JoseHeader};
use agentid_spec::operation::{Operation, Service, OPERATION_TYP};
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
        services: BTreeMap::new(),
        created_at: format_rfc3339(now),
    };
    let operation = sign(&op, rotation);
    SignedGenesis {
        did: AgentDid::from_genesis(&operation),
        operation,
    }
}

/// What an `update` makes of an agent: its keys and services, in full (section 5.3).
#[derive(Clone, Debug, Default)]
pub struct Keys {
    /// Fragment -> Ed25519 `publicKeyMultibase`.
    pub verification_methods: BTreeMap<String, String>,
    /// Rotation keys, highest priority first.
    pub rotation_keys: Vec<DidKey>,
    /// Fragment -> service.
    pub services: BTreeMap<String, Service>,
}

impl Keys {
    /// `signing` as verification method `key-1`, and `rotation` as the rotation keys in that
    /// order of priority.
    pub fn new(signing: &KeyPair, rotation: &[&KeyPair]) -> Self {
        Self {
            verification_methods: BTreeMap::from([(
                FIRST_KEY_FRAGMENT.to_owned(),
                signing.did_key().multibase().to_owned(),
            )]),
            rotation_keys: rotation.iter().map(|k| k.did_key()).collect(),
            services: BTreeMap::new(),
        }
    }
}

/// Signs a `create` operation making `keys` the agent's, with `signer` (one of `keys`'
/// rotation keys).
pub fn create_with(
    keys: &Keys,
    name: Option<AgentName>,
    signer: &KeyPair,
    now: i64,
) -> SignedGenesis {
    let op = Operation::Create {
        verification_methods: keys.verification_methods.clone(),
        rotation_keys: keys.rotation_keys.clone(),
        name,
        services: keys.services.clone(),
        created_at: format_rfc3339(now),
    };
    let operation = sign(&op, signer);
    SignedGenesis {
        did: AgentDid::from_genesis(&operation),
        operation,
    }
}

/// Signs an `update` of `did` after the operation whose hash is `prev`, making `keys` the
/// agent's, with `signer` (a rotation key in force at `prev`). With a `prev` earlier than the
/// agent's latest operation, it is a recovery (section 5.3).
pub fn update(did: &AgentDid, prev: &str, keys: &Keys, signer: &KeyPair, now: i64) -> String {
    let op = Operation::Update {
        did: did.clone(),
        prev: prev.to_owned(),
        verification_methods: keys.verification_methods.clone(),
        rotation_keys: keys.rotation_keys.clone(),
        services: keys.services.clone(),
        created_at: format_rfc3339(now),
    };
    sign(&op, signer)
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

/// Signs an agent's consent (spec section 5.6) to be named `name` by `zone_owner`, the owner of
/// the zone holding it, with `rotation`, one of the agent's rotation keys. The zone's owner
/// carries it in its `bindName`; it is accepted within 300 seconds of `now`.
pub fn name_consent(
    name: &AgentName,
    did: &AgentDid,
    zone_owner: &DidKey,
    rotation: &KeyPair,
    now: i64,
) -> String {
    let consent = agentid_spec::zone::NameConsent {
        kind: agentid_spec::zone::ConsentKind::NameConsent,
        name: name.clone(),
        did: did.clone(),
        zone_owner: zone_owner.clone(),
        created_at: format_rfc3339(now),
    };
    let header = JoseHeader::eddsa(
        agentid_spec::zone::NAME_CONSENT_TYP,
        None,
        &rotation.did_key().key_id(),
    );
    // A NameConsent is plain strings: serialising cannot fail.
    let payload = serde_json::to_vec(&consent).expect("consent serialises");
    sign_compact(&header, &payload, rotation.signing_key())
}

/// Signs a zone operation (spec section 5.6) with `signer`: the zone's owner for a claim, the
/// owner of the zone above for a delegation, the zone's owner to bind or unbind a name.
pub fn zone(op: &agentid_spec::zone::ZoneOperation, signer: &KeyPair) -> String {
    let header = JoseHeader::eddsa(
        agentid_spec::zone::ZONE_OP_TYP,
        None,
        &signer.did_key().key_id(),
    );
    // A ZoneOperation is plain strings: serialising cannot fail.
    let payload = serde_json::to_vec(op).expect("zone operation serialises");
    sign_compact(&header, &payload, signer.signing_key())
}
