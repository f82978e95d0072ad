//! The zone operation vectors (`spec/vectors/zone-operations`, section 5.6): a sequence of
//! registrations and signed zone operations, each with what the registry answers (its answer,
//! whether it was a retry, or its refusal's code), made by the registry the service runs over
//! a fresh SQLite database at a fixed clock, and replayed the same way by the test that checks
//! them. `AGENTID_REGEN_VECTORS=1 cargo test -p agentid-server vectors` rewrites them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use agentid_registry::Registry;
use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::{create, name_consent, zone};
use agentid_spec::clock::FixedClock;
use agentid_spec::id::{AgentDid, AgentName, DidKey};
use agentid_spec::log::reason_hash;
use agentid_spec::time::format_rfc3339;
use agentid_spec::vectors::{file_text, keep, read};
use agentid_spec::zone::ZoneOperation as Op;
use serde_json::{json, Value};

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

/// A registry over a fresh SQLite database, its clock at [`NOW`].
async fn registry() -> Registry {
    let dir =
        std::env::temp_dir().join(format!("agentid-vectors-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = crate::store::open(&crate::store::sqlite_url(&dir))
        .await
        .unwrap();
    Registry::new(
        db,
        Arc::new(FixedClock::new(NOW)),
        agentid_store::Sealer::new(&[7; 32], agentid_registry::SEAL_PURPOSE),
    )
}

/// One step: a genesis to register, or a zone operation with a moderation's reason.
struct Step {
    description: &'static str,
    register: Option<String>,
    operation: Option<String>,
    reason: Option<&'static str>,
}

fn register(description: &'static str, genesis: &str) -> Step {
    Step {
        description,
        register: Some(genesis.to_owned()),
        operation: None,
        reason: None,
    }
}

fn operate(description: &'static str, op: String, reason: Option<&'static str>) -> Step {
    Step {
        description,
        register: None,
        operation: Some(op),
        reason,
    }
}

/// What the registry makes of `step`.
async fn outcome(
    registry: &Registry,
    register: Option<&str>,
    op: Option<&str>,
    reason: Option<&str>,
) -> Value {
    let answered = match (register, op) {
        (Some(genesis), _) => registry
            .register(genesis)
            .await
            .map(|r| (serde_json::to_value(r.answer).unwrap(), r.replayed)),
        (None, Some(op)) => registry.zone_operation(op, reason).await,
        (None, None) => unreachable!("a step registers or operates"),
    };
    match answered {
        Ok((answer, replayed)) => json!({ "answer": answer, "replayed": replayed }),
        Err(e) => json!({ "error": e.code().as_str() }),
    }
}

fn steps() -> Vec<Step> {
    let at = format_rfc3339(NOW);
    let name = |n: &str| AgentName::parse(n).unwrap();
    let (owner, sub_owner, stranger) = (
        KeyPair::from_seed(&[70; 32]),
        KeyPair::from_seed(&[71; 32]),
        KeyPair::from_seed(&[72; 32]),
    );
    let (a_key, b_key) = (KeyPair::from_seed(&[73; 32]), KeyPair::from_seed(&[74; 32]));
    let a = create(&a_key, &a_key, None, NOW - 60);
    let b = create(&b_key, &b_key, None, NOW - 60);
    let claim = |z: &str, o: &DidKey, k: &KeyPair| {
        zone(
            &Op::ClaimZone {
                zone: name(z),
                owner: o.clone(),
                created_at: at.clone(),
            },
            k,
        )
    };
    let delegate = |z: &str, o: &DidKey, k: &KeyPair| {
        zone(
            &Op::DelegateZone {
                zone: name(z),
                owner: o.clone(),
                created_at: at.clone(),
            },
            k,
        )
    };
    let bind = |n: &str, did: &AgentDid, agent: &KeyPair, k: &KeyPair| {
        let consent = name_consent(&name(n), did, &k.did_key(), agent, NOW);
        zone(
            &Op::BindName {
                name: name(n),
                did: did.clone(),
                consent,
                created_at: at.clone(),
            },
            k,
        )
    };
    let suspend = |n: &str, k: &KeyPair, reason: &str| {
        zone(
            &Op::SuspendAgent {
                name: name(n),
                reason_code: "fraud".into(),
                reason_hash: reason_hash(reason),
                evidence_hash: None,
                duration_secs: 3600,
                created_at: at.clone(),
            },
            k,
        )
    };
    let first_bind = bind("bot.acme", &a.did, &a_key, &owner);
    vec![
        register("Agent A registers.", &a.operation),
        register("Agent B registers.", &b.operation),
        operate("The owner claims the zone `acme`.", claim("acme", &owner.did_key(), &owner), None),
        operate("A stranger claims `acme` again: taken.", claim("acme", &stranger.did_key(), &stranger), None),
        operate("A stranger claims `paypa1`, a look-alike of a reserved brand: refused.", claim("paypa1", &stranger.did_key(), &stranger), None),
        operate("A stranger claims `com`, a DNS top-level domain, first come: refused (DNS names need DNS proof).", claim("com", &stranger.did_key(), &stranger), None),
        operate("A claim signed by another key than the owner it names: refused.", claim("other", &owner.did_key(), &stranger), None),
        operate("The owner of `acme` delegates `eu.acme`.", delegate("eu.acme", &sub_owner.did_key(), &owner), None),
        operate("A stranger delegates `us.acme`: not the zone's owner.", delegate("us.acme", &stranger.did_key(), &stranger), None),
        operate("The owner names agent A `bot.acme`, with A's consent.", first_bind.clone(), None),
        operate("The same binding again: a retry, answered as the first time.", first_bind.clone(), None),
        operate("The owner names agent B with a consent signed by a stranger's key: refused.", bind("b.acme", &b.did, &stranger, &owner), None),
        operate("The owner names agent B `bot.acme`, taken by A.", bind("bot.acme", &b.did, &b_key, &owner), None),
        operate("The owner of `acme` names agent B inside `eu.acme`, a zone it delegated: not its owner any more.", bind("b.eu.acme", &b.did, &b_key, &owner), None),
        operate("The owner suspends `bot.acme` for an hour, with its reason.", suspend("bot.acme", &owner, "card testing"), Some("card testing")),
        operate("A stranger suspends `bot.acme`: not the zone's owner.", suspend("bot.acme", &stranger, "spite"), Some("spite")),
        operate("A suspension whose reason is not the one its hash commits to: refused.", suspend("bot.acme", &owner, "card testing"), Some("something else")),
        operate("The owner reinstates `bot.acme`.", zone(&Op::ReinstateAgent { name: name("bot.acme"), reason_hash: reason_hash("cleared"), created_at: at.clone() }, &owner), Some("cleared")),
        operate("The owner deplatforms `b.acme`, a name nobody holds: nothing to moderate.", zone(&Op::DeplatformAgent { name: name("b.acme"), reason_hash: reason_hash("fraud"), created_at: at.clone() }, &owner), Some("fraud")),
        operate("The owner releases `bot.acme`.", zone(&Op::UnbindName { name: name("bot.acme"), created_at: at.clone() }, &owner), None),
        operate("The first binding again, after its effect was undone: a conflict, not its first answer.", first_bind, None),
        operate("A zone operation made 20 minutes before the registry's clock: outside the window.", zone(&Op::ClaimZone { zone: name("late"), owner: owner.did_key(), created_at: format_rfc3339(NOW - 1200) }, &owner), None),
    ]
}

async fn generate() -> BTreeMap<String, String> {
    let registry = registry().await;
    let mut out = Vec::new();
    for step in steps() {
        let outcome = outcome(
            &registry,
            step.register.as_deref(),
            step.operation.as_deref(),
            step.reason,
        )
        .await;
        let mut input = json!({});
        if let Some(g) = &step.register {
            input["register"] = json!(g);
        }
        if let Some(op) = &step.operation {
            input["operation"] = json!(op);
        }
        if let Some(r) = step.reason {
            input["reason"] = json!(r);
        }
        out.push(json!({ "description": step.description, "input": input, "output": outcome }));
    }
    BTreeMap::from([(
        "zone-operations/sequence.json".to_owned(),
        file_text(&json!({
            "description": "Registrations and zone operations in order, on a fresh registry whose clock reads 2026-01-01T00:00:00Z, each with the registry's answer (and whether it was a retry) or its refusal's code.",
            "section": "5.6",
            "now": NOW,
            "steps": out,
        })),
    )])
}

#[tokio::test]
async fn vectors_are_current() {
    keep(&dir(), &generate().await, &["zone-operations"]);
}

/// Replays the vectors from the files on disk on a fresh registry: every answer and refusal
/// is the one written.
#[tokio::test]
async fn zone_operation_vectors() {
    let all = read(&dir(), "zone-operations");
    assert_eq!(all.len(), 1);
    let (_, v) = &all[0];
    let registry = registry().await;
    let mut codes = std::collections::BTreeSet::new();
    for (i, step) in v["steps"].as_array().unwrap().iter().enumerate() {
        let input = &step["input"];
        let got = outcome(
            &registry,
            input["register"].as_str(),
            input["operation"].as_str(),
            input["reason"].as_str(),
        )
        .await;
        assert_eq!(got, step["output"], "step {i}: {}", step["description"]);
        if let Some(code) = got["error"].as_str() {
            codes.insert(code.to_owned());
        }
    }
    assert!(codes.len() >= 6, "{codes:?}");
}
