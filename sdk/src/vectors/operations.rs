//! The registry operation vectors (section 5.3): an agent's history so far, one more signed
//! operation with the time the registry receives it, and what the rules the registry and every
//! resolver apply (`agentid_spec::history`) make of it: accepted (the new head, what it undid,
//! the agent's keys then) or refused, with the stable code.

use std::collections::BTreeMap;

use agentid_spec::history::{History, Rejection, RECOVERY_WINDOW_SECS};
use agentid_spec::id::{hash_b32, AgentDid};
use agentid_spec::operation::MAX_OPERATION_LEN;
use serde_json::{json, Value};

use super::{pretty, read, NOW};
use crate::keys::KeyPair;
use crate::operation::{create_with, deactivate, update, Keys};

/// One case: the history (operations with their receipt times), the operation, its time.
struct Case {
    name: &'static str,
    description: &'static str,
    history: Vec<(String, i64)>,
    operation: String,
    received_at: i64,
}

/// What the rules make of `operation` after `history`: the vector's `output` or `error`.
fn outcome(history: &[(String, i64)], operation: &str, at: i64) -> Result<Value, Rejection> {
    if history.is_empty() {
        let h = History::genesis(operation, at)?;
        return Ok(json!({
            "kind": "create",
            "did": h.did(),
            "head": h.head(),
            "undone": [],
            "state": state(&h),
        }));
    }
    let mut h = History::replay(history.iter().map(|(op, at)| (op.as_str(), *at)))
        .map_err(|(i, e)| panic!("history operation {i} of a vector is refused: {e}"))
        .unwrap();
    let applied = h.apply(operation, at)?;
    Ok(json!({
        "kind": applied.kind,
        "did": h.did(),
        "head": h.head(),
        "signer": applied.signer,
        "undone": applied.nullified,
        "state": state(&h),
    }))
}

fn state(h: &History) -> Value {
    let s = h.state();
    json!({
        "verificationMethods": s.verification_methods,
        "rotationKeys": s.rotation_keys,
        "deactivated": s.deactivated,
    })
}

pub(super) fn vectors(files: &mut BTreeMap<String, String>) {
    let high = KeyPair::from_seed(&[40; 32]);
    let low = KeyPair::from_seed(&[41; 32]);
    let signing = KeyPair::from_seed(&[42; 32]);
    let next = KeyPair::from_seed(&[43; 32]);
    let thief = KeyPair::from_seed(&[44; 32]);
    let stranger = KeyPair::from_seed(&[45; 32]);
    let t0 = NOW - 86_400;
    let both = Keys::new(&signing, &[&high, &low]);
    let g = create_with(&both, None, &high, t0);
    let did: &AgentDid = &g.did;
    let g_hash = hash_b32(g.operation.as_bytes());
    let start = vec![(g.operation.clone(), t0)];
    let rotate = update(
        did,
        &g_hash,
        &Keys::new(&next, &[&high, &low]),
        &high,
        t0 + 60,
    );
    // The lower key, stolen, hands the agent to the thief; the higher one undoes it.
    let stolen = update(did, &g_hash, &Keys::new(&thief, &[&low]), &low, t0 + 60);
    let stolen_history = vec![(g.operation.clone(), t0), (stolen.clone(), t0 + 60)];
    let recover = update(did, &g_hash, &Keys::new(&next, &[&high]), &high, t0 + 120);
    // The higher key's update, which the lower key tries to undo.
    let by_high = vec![(g.operation.clone(), t0), (rotate.clone(), t0 + 60)];
    let low_recovery = update(did, &g_hash, &Keys::new(&thief, &[&low]), &low, t0 + 120);
    let gone = deactivate(did, &g_hash, &high, t0 + 60);
    let gone_history = vec![(g.operation.clone(), t0), (gone.clone(), t0 + 60)];
    let after_gone = update(did, &hash_b32(gone.as_bytes()), &both, &high, t0 + 120);
    let other = create_with(&Keys::new(&signing, &[&stranger]), None, &stranger, t0);
    let other_update = update(
        &other.did,
        &hash_b32(other.operation.as_bytes()),
        &both,
        &stranger,
        t0 + 60,
    );
    let unsigned_genesis = create_with(&both, None, &stranger, t0).operation;
    let mut tampered = rotate.clone();
    let at = tampered.len() - 10;
    let swap = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, swap);
    let oversized = format!("{}.{}.x", "e".repeat(MAX_OPERATION_LEN), "e");

    let cases = [
        Case { name: "genesis_valid", description: "A genesis signed by one of its own rotation keys: the DID is the hash of the operation.", history: vec![], operation: g.operation.clone(), received_at: t0 },
        Case { name: "genesis_not_signed_by_its_rotation_key", description: "A genesis signed by a key it does not name as a rotation key MUST be refused.", history: vec![], operation: unsigned_genesis, received_at: t0 },
        Case { name: "genesis_not_a_create", description: "Only a create operation may start an agent.", history: vec![], operation: rotate.clone(), received_at: t0 },
        Case { name: "update_valid", description: "An update after the head, by the highest rotation key: the new signing key is in force.", history: start.clone(), operation: rotate.clone(), received_at: t0 + 60 },
        Case { name: "update_by_a_lower_rotation_key", description: "Any rotation key in force may update after the head.", history: start.clone(), operation: stolen.clone(), received_at: t0 + 60 },
        Case { name: "update_by_a_stranger", description: "An update signed by a key that is not a rotation key in force MUST be refused.", history: start.clone(), operation: update(did, &g_hash, &both, &stranger, t0 + 60), received_at: t0 + 60 },
        Case { name: "update_bad_signature", description: "An update whose signature does not verify MUST be refused.", history: start.clone(), operation: tampered, received_at: t0 + 60 },
        Case { name: "update_stale_prev", description: "An update whose prev is not an operation in force MUST be refused.", history: by_high.clone(), operation: update(did, &hash_b32(b"nothing"), &both, &high, t0 + 120), received_at: t0 + 120 },
        Case { name: "update_of_another_agent", description: "An operation naming another DID MUST be refused.", history: start.clone(), operation: other_update, received_at: t0 + 60 },
        Case { name: "update_twice", description: "An operation already in the history is a duplicate (the registry answers an exact retry of the head as the first time, section 5.3).", history: by_high.clone(), operation: rotate.clone(), received_at: t0 + 120 },
        Case { name: "recovery_valid", description: "The higher rotation key undoes what the lower one did, within 72 hours of it: the thief's key is no longer in force.", history: stolen_history.clone(), operation: recover.clone(), received_at: t0 + 120 },
        Case { name: "recovery_window_closed", description: "A recovery received 72 hours or more after the first operation it would undo MUST be refused (here exactly 72 hours).", history: stolen_history.clone(), operation: recover.clone(), received_at: t0 + 60 + RECOVERY_WINDOW_SECS },
        Case { name: "recovery_at_the_window_edge", description: "A recovery received one second before 72 hours have passed since the operation it undoes is still in time.", history: stolen_history, operation: recover, received_at: t0 + 60 + RECOVERY_WINDOW_SECS - 1 },
        Case { name: "recovery_not_higher", description: "A lower rotation key MUST NOT undo what a higher one did.", history: by_high.clone(), operation: low_recovery, received_at: t0 + 120 },
        Case { name: "deactivate_valid", description: "A deactivation by a rotation key: final.", history: start.clone(), operation: gone, received_at: t0 + 60 },
        Case { name: "after_deactivation", description: "Nothing is accepted after a deactivation.", history: gone_history, operation: after_gone, received_at: t0 + 120 },
        Case { name: "create_for_an_existing_agent", description: "A create operation cannot change an existing agent.", history: by_high, operation: other.operation, received_at: t0 + 120 },
        Case { name: "too_large", description: "An operation over the size limit MUST be refused before it is parsed.", history: start, operation: oversized, received_at: t0 + 60 },
    ];
    for c in cases {
        let mut v = json!({
            "description": c.description,
            "section": "5.3",
            "input": {
                "history": c.history.iter().map(|(op, at)| json!({ "operation": op, "receivedAt": at })).collect::<Vec<_>>(),
                "operation": c.operation,
                "receivedAt": c.received_at,
            },
        });
        match outcome(&c.history, &c.operation, c.received_at) {
            Ok(output) => v["output"] = output,
            Err(e) => v["error"] = json!(e.code().as_str()),
        }
        files.insert(format!("operations/{}.json", c.name), pretty(&v));
    }
}

/// Runs every operation vector from the files on disk against the history rules.
#[test]
fn operation_vectors() {
    let mut refusals = std::collections::BTreeSet::new();
    let vectors = read("operations");
    for (name, v) in &vectors {
        let i = &v["input"];
        let history: Vec<(String, i64)> = i["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["operation"].as_str().unwrap().to_owned(),
                    e["receivedAt"].as_i64().unwrap(),
                )
            })
            .collect();
        let got = outcome(
            &history,
            i["operation"].as_str().unwrap(),
            i["receivedAt"].as_i64().unwrap(),
        );
        match v["error"].as_str() {
            None => assert_eq!(got.as_ref().ok(), Some(&v["output"]), "{name}"),
            Some(code) => {
                assert_eq!(got.err().map(|e| e.code().as_str()), Some(code), "{name}");
                refusals.insert(code.to_owned());
            }
        }
    }
    assert!(vectors.len() >= 18, "{} operation vectors", vectors.len());
    // Every refusal of section 5.3 but the operation count has a vector.
    for code in [
        "operation_too_large",
        "invalid_operation",
        "bad_signature",
        "key_not_authorized",
        "stale_prev",
        "duplicate_operation",
        "gone",
        "recovery_window_closed",
        "recovery_not_higher",
    ] {
        assert!(refusals.contains(code), "no vector refuses with {code}");
    }
}
