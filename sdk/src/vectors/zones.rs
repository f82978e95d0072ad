//! The zone vectors (section 5.6): an agent's consent to a name, and every way it fails.

use std::collections::BTreeMap;

use agentid_spec::id::{AgentDid, AgentName};
use agentid_spec::time::format_rfc3339;
use serde_json::{json, Value};

use super::{dir, pretty, NOW};
use crate::keys::KeyPair;
use crate::operation::create;

/// Zones (section 5.6): an agent's consent to a name, and every way it fails to be one.
pub(super) fn vectors(files: &mut BTreeMap<String, String>) {
    use agentid_spec::id::DidKey;
    let agent_rotation = KeyPair::from_seed(&[20; 32]);
    let agent = create(&agent_rotation, &agent_rotation, None, NOW - 86_400).did;
    let owner = KeyPair::from_seed(&[21; 32]).did_key();
    let stranger = KeyPair::from_seed(&[22; 32]);
    let second_rotation = KeyPair::from_seed(&[23; 32]);
    let name = AgentName::parse("bot.acme").unwrap();
    let other = AgentName::parse("other.acme").unwrap();
    let consent = |n: &AgentName, o: &DidKey, k: &KeyPair, at: i64| {
        crate::operation::name_consent(n, &agent, o, k, at)
    };
    let good = consent(&name, &owner, &agent_rotation, NOW);
    // A signature character well inside the signature, changed: still base64url of 64 bytes,
    // and no longer a signature of the consent.
    let at = good.len() - 10;
    let swap = if &good[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swap}{}", &good[..at], &good[at + 1..]);
    let cases: [(&str, &str, String, Option<&str>); 8] = [
        ("consent_valid", "The agent's consent, signed by its rotation key, to this name and zone owner, made now.", good.clone(), None),
        ("consent_not_rotation_key", "A consent signed by someone else's key: the binding a stranger would make of a victim MUST be refused.", consent(&name, &owner, &stranger, NOW), Some("not_rotation_key")),
        ("consent_other_zone_owner", "A consent given to another zone owner MUST NOT serve this one.", consent(&name, &stranger.did_key(), &agent_rotation, NOW), Some("other_zone_owner")),
        ("consent_other_name", "A consent to another name MUST NOT bind this one.", consent(&other, &owner, &agent_rotation, NOW), Some("other_binding")),
        ("consent_outside_window", "A consent made more than 300 s before the registry's clock MUST be refused.", consent(&name, &owner, &agent_rotation, NOW - 301), Some("outside_window")),
        ("consent_bad_signature", "A consent whose signature does not verify MUST be refused.", tampered, Some("bad_signature")),
        ("consent_second_rotation_key", "A consent signed by a rotation key that is not the agent's highest-priority one (a thief's stolen backup key) MUST be refused.", consent(&name, &owner, &second_rotation, NOW), Some("not_rotation_key")),
        ("consent_wrong_typ", "A zone operation is not a consent (typ agentid-zone+jws).", crate::operation::zone(&agentid_spec::zone::ZoneOperation::UnbindName { name: name.clone(), created_at: format_rfc3339(NOW) }, &agent_rotation), Some("malformed")),
    ];
    for (case, description, jws, error) in cases {
        let mut v = json!({
            "description": description,
            "section": "5.6",
            "input": {
                "consent": jws,
                "name": name,
                "did": agent,
                "zoneOwner": owner,
                "rotationKeys": [agent_rotation.did_key(), second_rotation.did_key()],
                "now": NOW,
            },
        });
        match error {
            None => v["output"] = json!({ "accepted": true }),
            Some(e) => v["error"] = json!(e),
        }
        files.insert(format!("zones/{case}.json"), pretty(&v));
    }

    // A stolen lower key puts a key of the thief's first, and consents with it at once: the
    // owner's highest key may still undo that for 72 hours, so the consent waits as long.
    let (high, low, thief) = (
        KeyPair::from_seed(&[24; 32]),
        KeyPair::from_seed(&[25; 32]),
        KeyPair::from_seed(&[26; 32]),
    );
    let keys = crate::operation::Keys::new(&high, &[&high, &low]);
    let g = crate::operation::create_with(&keys, None, &high, NOW - 86_400);
    let prev = agentid_spec::id::hash_b32(g.operation.as_bytes());
    let promoted = crate::operation::update(
        &g.did,
        &prev,
        &crate::operation::Keys::new(&thief, &[&thief]),
        &low,
        NOW - 60,
    );
    let v = json!({
        "description": "A consent signed by the highest-priority rotation key in force, which a lower key (a thief's) put first 60 s ago: a recovery by the higher key may still undo that, so the consent MUST be refused until 72 hours after the operation that put it first.",
        "section": "5.6",
        "input": {
            "consent": crate::operation::name_consent(&name, &g.did, &owner, &thief, NOW),
            "name": name,
            "did": g.did,
            "zoneOwner": owner,
            "operations": [
                { "operation": g.operation, "receivedAt": NOW - 86_400 },
                { "operation": promoted, "receivedAt": NOW - 60 },
            ],
            "now": NOW,
        },
        "error": "not_settled",
    });
    files.insert("zones/consent_key_not_settled.json".into(), pretty(&v));
}

/// Runs every zone vector from the files on disk against the one consent rule.
#[test]
fn zone_consent_vectors() {
    use agentid_spec::id::DidKey;
    let mut seen = 0;
    for entry in std::fs::read_dir(dir().join("zones")).unwrap() {
        let path = entry.unwrap().path();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let i = &v["input"];
        let name = AgentName::parse(i["name"].as_str().unwrap()).unwrap();
        let did = AgentDid::parse(i["did"].as_str().unwrap()).unwrap();
        let owner = DidKey::parse(i["zoneOwner"].as_str().unwrap()).unwrap();
        let now = i["now"].as_i64().unwrap();
        // The agent's keys as given, or as its operations leave them (and whether the first
        // is settled: given keys are).
        let (keys, top_key_settled): (Vec<DidKey>, bool) = match i["operations"].as_array() {
            Some(ops) => {
                let h = agentid_spec::history::History::replay(ops.iter().map(|o| {
                    (
                        o["operation"].as_str().unwrap(),
                        o["receivedAt"].as_i64().unwrap(),
                    )
                }))
                .unwrap();
                let settled = h.settled_top_key(now).is_some();
                (h.state().rotation_keys.clone(), settled)
            }
            None => (
                i["rotationKeys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| DidKey::parse(k.as_str().unwrap()).unwrap())
                    .collect(),
                true,
            ),
        };
        let binding = agentid_spec::zone::ConsentFor {
            name: &name,
            did: &did,
            zone_owner: &owner,
            rotation_keys: &keys,
            top_key_settled,
            now,
        };
        let got = agentid_spec::zone::check_consent(i["consent"].as_str().unwrap(), &binding);
        match v["error"].as_str() {
            None => assert!(got.is_ok(), "{}: {got:?}", path.display()),
            Some(e) => assert_eq!(got.err().map(|e| e.reason()), Some(e), "{}", path.display()),
        }
        seen += 1;
    }
    assert!(seen >= 9, "{seen} zone vectors");
}
