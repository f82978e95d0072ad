//! The log vectors (section 5.2): a registry's log of five entries (operations and operator
//! decisions), each entry's hash and public form, the RFC 9162 Merkle leaves and roots, an
//! inclusion proof for every entry, consistency proofs between every two sizes, a signed
//! checkpoint, and each way a monitor must find them wrong.

use std::collections::BTreeMap;

use agentid_spec::jose::{b64u, b64u_decode, sign_compact, CompactJws, JoseHeader};
use agentid_spec::log::{
    Checkpoint, LogEntry, LogRecord, PublicEntry, CHECKPOINT_TYP, MAX_CHECKPOINT_BYTES,
};
use agentid_spec::merkle::{self, Hash, ProofError};
use serde_json::{json, Value};

use super::{pretty, read, NOW};
use crate::keys::KeyPair;
use crate::operation::{create, deactivate};

const SERVICE: &str = "did:web:registry.example";

fn hashes(h: &[Hash]) -> Vec<String> {
    h.iter().map(|h| b64u(h)).collect()
}

fn hash(s: &Value) -> Hash {
    b64u_decode(s.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn proof(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

/// The five entries of the vectors' log.
fn entries() -> Vec<LogEntry> {
    let key = KeyPair::from_seed(&[50; 32]);
    let g = create(&key, &key, None, NOW - 600);
    let prev = agentid_spec::id::hash_b32(g.operation.as_bytes());
    let other = KeyPair::from_seed(&[51; 32]);
    let g2 = create(&other, &other, None, NOW - 500);
    let decision =
        |kind: &str| json!({ "did": g2.did, "kind": kind, "reasonCode": "fraud" }).to_string();
    let records = [
        (
            g.did.as_str(),
            "create",
            g.operation.clone(),
            key.did_key().to_string(),
            None,
            NOW - 600,
        ),
        (
            g2.did.as_str(),
            "create",
            g2.operation.clone(),
            other.did_key().to_string(),
            None,
            NOW - 500,
        ),
        (
            g2.did.as_str(),
            "suspend",
            decision("suspend"),
            "op:alice".to_owned(),
            Some("card testing reported by two merchants"),
            NOW - 400,
        ),
        (
            g2.did.as_str(),
            "deplatform",
            decision("deplatform"),
            "op:bob".to_owned(),
            Some("confirmed fraud"),
            NOW - 300,
        ),
        (
            g.did.as_str(),
            "deactivate",
            deactivate(&g.did, &prev, &key, NOW - 200),
            key.did_key().to_string(),
            None,
            NOW - 200,
        ),
    ];
    let mut out: Vec<LogEntry> = Vec::new();
    for (did, kind, operation, actor, reason, at) in records {
        let before = out.last().map(|e| (e.seq, e.entry_hash.as_str()));
        let entry = LogEntry::chain(
            before,
            LogRecord {
                did: did.to_owned(),
                kind: kind.to_owned(),
                operation,
                actor,
                reason: reason.map(str::to_owned),
                created_at: at,
            },
        );
        out.push(entry);
    }
    out
}

pub(super) fn vectors(files: &mut BTreeMap<String, String>) {
    let entries = entries();
    let leaves: Vec<Hash> = entries.iter().map(|e| e.public().leaf_hash()).collect();
    let n = leaves.len();
    let roots: Vec<String> = (0..=n).map(|k| b64u(&merkle::root(&leaves[..k]))).collect();
    let inclusion: Vec<Value> = (0..n)
        .map(|i| json!({ "index": i, "treeSize": n, "proof": hashes(&merkle::inclusion_proof(i, &leaves).unwrap()) }))
        .collect();
    let mut consistency = Vec::new();
    for first in 1..n {
        for second in first + 1..=n {
            consistency.push(json!({
                "first": first,
                "second": second,
                "proof": hashes(&merkle::consistency_proof(first, &leaves[..second]).unwrap()),
            }));
        }
    }
    let service_key = KeyPair::from_seed(&[52; 32]);
    let kid = format!("{SERVICE}#key-1");
    let checkpoint = Checkpoint {
        iss: SERVICE.to_owned(),
        tree_size: n as u64,
        root_hash: roots[n].clone(),
        timestamp: NOW,
    };
    let sign = |c: &Checkpoint, k: &KeyPair| {
        let header = JoseHeader::eddsa(CHECKPOINT_TYP, None, &kid);
        sign_compact(&header, &serde_json::to_vec(c).unwrap(), k.signing_key())
    };
    let signed = sign(&checkpoint, &service_key);
    let public: Vec<PublicEntry> = entries.iter().map(LogEntry::public).collect();
    files.insert(
        "log/log.json".into(),
        pretty(&json!({
            "description": "A log of five entries: each entry's hash chains it to the one before (entryHash over the hashed form, prevHash of the first is 52 zeros); the public form carries an operator's reason by its hash only; each Merkle leaf is SHA-256 of 0x00 and the public form's JCS bytes (RFC 9162); roots[k] is the root of the first k leaves; every inclusion and consistency proof verifies; the checkpoint is signed by the service's key named in its DID document.",
            "section": "5.2",
            "entries": entries,
            "publicEntries": public,
            "leafHashes": hashes(&leaves),
            "roots": roots,
            "inclusion": inclusion,
            "consistency": consistency,
            "checkpoint": {
                "jws": signed,
                "payload": checkpoint,
                "publicKeyMultibase": service_key.did_key().multibase(),
                "kid": kid,
            },
        })),
    );

    // What a monitor must refuse.
    let mut altered = entries[2].clone();
    altered.reason = Some("nothing happened".into());
    let mut rechained = entries[3].clone();
    rechained.prev_hash = entries[1].entry_hash.clone();
    rechained.entry_hash = rechained.computed_hash();
    let wrong_leaf = json!({ "index": 1, "treeSize": n, "leafHash": b64u(&leaves[2]), "proof": inclusion[1]["proof"], "root": roots[n] });
    let short_proof = {
        let mut p = inclusion[0]["proof"].as_array().unwrap().clone();
        p.pop();
        json!({ "index": 0, "treeSize": n, "leafHash": b64u(&leaves[0]), "proof": p, "root": roots[n] })
    };
    let forked_root = {
        let mut other = leaves.clone();
        other[1] = merkle::leaf_hash(b"another entry");
        b64u(&merkle::root(&other[..3]))
    };
    let cases: [(&str, &str, Value, &str); 6] = [
        ("entry_altered", "An entry whose contents were changed after it was written no longer has the entryHash it carries.", json!({ "entry": altered }), "entry_hash_mismatch"),
        ("entry_rechained", "An entry whose prevHash is not the entryHash of the entry before it breaks the chain.", json!({ "previous": entries[2], "entry": rechained }), "prev_hash_mismatch"),
        ("inclusion_wrong_leaf", "An inclusion proof shown for another entry's leaf does not lead to the root.", wrong_leaf, "root_mismatch"),
        ("inclusion_short_proof", "An inclusion proof missing a hash has the wrong length.", short_proof, "wrong_length"),
        ("consistency_forked", "A consistency proof from a checkpoint whose tree held another entry (a rewritten history) does not hold.", json!({ "first": 3, "second": n, "firstRoot": forked_root, "secondRoot": roots[n], "proof": consistency.iter().find(|c| c["first"] == 3 && c["second"] == n).unwrap()["proof"] }), "root_mismatch"),
        ("checkpoint_other_key", "A checkpoint signed by a key the service does not publish MUST be refused.", json!({ "jws": sign(&checkpoint, &KeyPair::from_seed(&[53; 32])), "publicKeyMultibase": service_key.did_key().multibase() }), "bad_signature"),
    ];
    for (name, description, input, error) in cases {
        files.insert(
            format!("log/{name}.json"),
            pretty(&json!({ "description": description, "section": "5.2", "input": input, "error": error })),
        );
    }
}

fn proof_code(e: ProofError) -> &'static str {
    match e {
        ProofError::OutOfRange => "out_of_range",
        ProofError::WrongLength => "wrong_length",
        ProofError::RootMismatch => "root_mismatch",
    }
}

/// What a monitor finds of a checkpoint under the key published for it.
fn checkpoint_check(jws: &str, multibase: &str) -> Result<Checkpoint, &'static str> {
    let key = agentid_spec::id::DidKey::parse(&format!("did:key:{multibase}"))
        .and_then(|k| k.verifying_key())
        .map_err(|_| "bad_key")?;
    let jws =
        CompactJws::parse(jws, MAX_CHECKPOINT_BYTES, CHECKPOINT_TYP).map_err(|_| "malformed")?;
    if !jws.verify(&key) {
        return Err("bad_signature");
    }
    serde_json::from_slice(&jws.payload).map_err(|_| "malformed")
}

/// Runs the log vectors from the files on disk: the hashes, roots, proofs and checkpoint of
/// the good log hold, and every refusal is found for its reason.
#[test]
fn log_vectors() {
    let all = read("log");
    let (_, log) = all.iter().find(|(n, _)| n == "log.json").unwrap();
    let entries: Vec<LogEntry> = serde_json::from_value(log["entries"].clone()).unwrap();
    let mut prev = agentid_spec::log::GENESIS_PREV.to_owned();
    let mut leaves = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.computed_hash(), e.entry_hash, "entry {i}");
        assert_eq!(e.prev_hash, prev, "entry {i}");
        prev = e.entry_hash.clone();
        let public: PublicEntry = serde_json::from_value(log["publicEntries"][i].clone()).unwrap();
        assert_eq!(public, e.public());
        assert_eq!(
            b64u(&public.leaf_hash()),
            log["leafHashes"][i].as_str().unwrap()
        );
        leaves.push(public.leaf_hash());
    }
    for (k, root) in log["roots"].as_array().unwrap().iter().enumerate() {
        assert_eq!(merkle::root(&leaves[..k]), hash(root), "root of {k}");
    }
    let n = leaves.len() as u64;
    let root = hash(&log["roots"][leaves.len()]);
    for p in log["inclusion"].as_array().unwrap() {
        let i = p["index"].as_u64().unwrap();
        merkle::verify_inclusion(i, n, &leaves[i as usize], &proof(&p["proof"]), &root).unwrap();
    }
    for c in log["consistency"].as_array().unwrap() {
        let (a, b) = (c["first"].as_u64().unwrap(), c["second"].as_u64().unwrap());
        let ra = hash(&log["roots"][a as usize]);
        let rb = hash(&log["roots"][b as usize]);
        merkle::verify_consistency(a, b, &ra, &rb, &proof(&c["proof"])).unwrap();
    }
    let cp = &log["checkpoint"];
    let checkpoint = checkpoint_check(
        cp["jws"].as_str().unwrap(),
        cp["publicKeyMultibase"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::to_value(&checkpoint).unwrap(), cp["payload"]);
    assert_eq!(checkpoint.root(), Some(root));

    let mut refusals = 0;
    for (name, v) in all.iter().filter(|(n, _)| n != "log.json") {
        let i = &v["input"];
        let got: &str = if let Some(jws) = i["jws"].as_str() {
            checkpoint_check(jws, i["publicKeyMultibase"].as_str().unwrap())
                .err()
                .unwrap_or("accepted")
        } else if i.get("firstRoot").is_some() {
            merkle::verify_consistency(
                i["first"].as_u64().unwrap(),
                i["second"].as_u64().unwrap(),
                &hash(&i["firstRoot"]),
                &hash(&i["secondRoot"]),
                &proof(&i["proof"]),
            )
            .err()
            .map_or("accepted", proof_code)
        } else if i.get("leafHash").is_some() {
            merkle::verify_inclusion(
                i["index"].as_u64().unwrap(),
                i["treeSize"].as_u64().unwrap(),
                &hash(&i["leafHash"]),
                &proof(&i["proof"]),
                &hash(&i["root"]),
            )
            .err()
            .map_or("accepted", proof_code)
        } else {
            let e: LogEntry = serde_json::from_value(i["entry"].clone()).unwrap();
            if e.computed_hash() != e.entry_hash {
                "entry_hash_mismatch"
            } else {
                let before: LogEntry = serde_json::from_value(i["previous"].clone()).unwrap();
                if e.prev_hash != before.entry_hash {
                    "prev_hash_mismatch"
                } else {
                    "accepted"
                }
            }
        };
        assert_eq!(got, v["error"].as_str().unwrap(), "{name}");
        refusals += 1;
    }
    assert_eq!(refusals, 6);
}
