//! Registry writes that race, as an attacker or an unlucky client would make them: on one node
//! (SQLite) and through two `agentid serve` processes on one PostgreSQL database. Operations on
//! one agent are decided one after the other whichever node takes them; a zone claim and a
//! registration inside that zone never both win.

use std::time::Duration;

use agentid_resolver::http::HttpSource;
use agentid_resolver::Source;
use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::{create, create_with, update, zone, Keys};
use agentid_spec::id::{hash_b32, AgentDid, AgentName};
use agentid_spec::operation::Service;
use agentid_spec::time::format_rfc3339;
use agentid_spec::zone::ZoneOperation;
use futures_util::future::join_all;
use serde_json::json;

use crate::fixture::now;
use crate::operations::submit;
use crate::support::{backends, error_code, s, Backend, Http, Server};

/// The servers of a test: one on SQLite; two on one database on PostgreSQL (the second with the
/// first's master key, behind the same public URL).
async fn nodes(backend: &Backend) -> Vec<Server> {
    let a = Server::start(backend).await;
    if !matches!(backend, Backend::Postgres(_)) {
        return vec![a];
    }
    let b = Server::joining(&a, &[]).await;
    vec![a, b]
}

/// The agent's head and checkout endpoint as `http` resolves it.
async fn head_and_endpoint(http: &Http, did: &AgentDid) -> (String, String) {
    let (st, r) = http.get(&format!("/1.0/identifiers/{did}")).await;
    assert_eq!(st, 200, "{r}");
    (
        s(&r["didDocumentMetadata"]["versionId"]),
        s(&r["didDocument"]["service"][0]["serviceEndpoint"]),
    )
}

fn with_endpoint(keys: &Keys, url: &str) -> Keys {
    let mut keys = keys.clone();
    keys.services.insert(
        "checkout".into(),
        Service {
            type_: "AgentCheckout".into(),
            endpoint: url.into(),
        },
    );
    keys
}

/// Updates on one agent sent at once through every node: of rivals signed by keys of the same
/// priority exactly one is accepted and the others are refused as the recoveries they would
/// be; of a rival pair signed by keys of different priority, the higher one's is in force at
/// the end whichever arrived first; copies of one operation append it once and answer alike.
/// Every node then serves the same head, and a resolver replaying the history through either
/// gets the winner's document.
#[tokio::test]
async fn operations_racing_on_one_agent_are_decided_one_after_another() {
    for backend in backends().await {
        let nodes = nodes(&backend).await;
        let https: Vec<Http> = nodes.iter().map(Server::http).collect();
        let at = |i: usize| &https[i % https.len()];
        let (cold, warm, hot, signing) = (
            KeyPair::generate(),
            KeyPair::generate(),
            KeyPair::generate(),
            KeyPair::generate(),
        );
        let keys = Keys::new(&signing, &[&cold, &warm, &hot]);
        let t = now();
        let genesis = create_with(&keys, None, &hot, t);
        let did = genesis.did.clone();
        let (st, b) = https[0]
            .post(
                "/v1/agents",
                None,
                &json!({ "operation": genesis.operation }),
            )
            .await;
        assert_eq!(st, 201, "{b}");
        let mut head = hash_b32(genesis.operation.as_bytes());
        let mut in_force = 1;

        // Same priority: eight rivals on one head, signed by the warm key.
        for round in 0..3 {
            let rivals: Vec<String> = (0..8)
                .map(|i| {
                    let keys = with_endpoint(&keys, &format!("https://r{round}-{i}.example/"));
                    update(&did, &head, &keys, &warm, t)
                })
                .collect();
            let answers = join_all(
                rivals
                    .iter()
                    .enumerate()
                    .map(|(i, op)| submit(at(i), &did, op)),
            )
            .await;
            let won: Vec<usize> = (0..rivals.len()).filter(|&i| answers[i].0 == 200).collect();
            assert_eq!(won.len(), 1, "{} {answers:?}", backend.name());
            for (i, (st, b)) in answers.iter().enumerate() {
                if i != won[0] {
                    assert_eq!(
                        (*st, error_code(*st, b)),
                        (409, "recovery_not_higher".to_owned()),
                        "{b}"
                    );
                }
            }
            head = hash_b32(rivals[won[0]].as_bytes());
            in_force += 1;
            assert_eq!(answers[won[0]].1["head"], head.as_str());
            for http in &https {
                assert_eq!(
                    head_and_endpoint(http, &did).await,
                    (
                        head.clone(),
                        format!("https://r{round}-{}.example/", won[0])
                    )
                );
            }
        }

        // Different priorities: the hot key's and the warm key's updates on one head, each
        // through its own node; the warm one is in force at the end, in either order.
        let mut hot_first = 0;
        for round in 0..4 {
            let by_hot = update(
                &did,
                &head,
                &with_endpoint(&keys, &format!("https://hot{round}.example/")),
                &hot,
                t,
            );
            let by_warm = update(
                &did,
                &head,
                &with_endpoint(&keys, &format!("https://warm{round}.example/")),
                &warm,
                t,
            );
            // Alternate which is sent first, and through which node.
            let (first, second) = if round % 2 == 0 {
                (&by_hot, &by_warm)
            } else {
                (&by_warm, &by_hot)
            };
            let (a, b) = tokio::join!(
                submit(at(round), &did, first),
                submit(at(round + 1), &did, second)
            );
            let (hot_answer, warm_answer) = if round % 2 == 0 { (a, b) } else { (b, a) };
            assert_eq!(warm_answer.0, 200, "{warm_answer:?}");
            let hot_hash = hash_b32(by_hot.as_bytes());
            match hot_answer.0 {
                // The hot key's landed first and the warm key's undid it.
                200 => {
                    hot_first += 1;
                    assert_eq!(warm_answer.1["nullified"], json!([hot_hash]));
                }
                st => {
                    assert_eq!(
                        error_code(st, &hot_answer.1),
                        "recovery_not_higher",
                        "{hot_answer:?}"
                    );
                    assert_eq!(warm_answer.1["nullified"], json!([]));
                }
            }
            head = hash_b32(by_warm.as_bytes());
            in_force += 1;
            // Every node serves the decided history once the change feed reaches it (a node's
            // resolution cache is dropped on the notification, which may trail the write by
            // some milliseconds on a loaded machine).
            let expected = (head.clone(), format!("https://warm{round}.example/"));
            for http in &https {
                let mut seen = head_and_endpoint(http, &did).await;
                for _ in 0..100 {
                    if seen == expected {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    seen = head_and_endpoint(http, &did).await;
                }
                assert_eq!(seen, expected);
            }
        }
        eprintln!(
            "{}: the hot key's update landed first in {hot_first} of 4 races",
            backend.name()
        );

        // One operation sent eight times at once: appended once, answered alike.
        let op = update(
            &did,
            &head,
            &with_endpoint(&keys, "https://copies.example/"),
            &warm,
            t,
        );
        let answers = join_all((0..8).map(|i| submit(at(i), &did, &op))).await;
        for (st, b) in &answers {
            assert_eq!(*st, 200, "{b}");
            assert_eq!(b["logSeq"], answers[0].1["logSeq"], "{answers:?}");
        }
        head = hash_b32(op.as_bytes());
        in_force += 1;
        let (_, ops) = https[0].get(&format!("/v1/agents/{did}/operations")).await;
        let ops = ops["operations"].as_array().expect("operations");
        assert_eq!(
            ops.iter().filter(|o| o["operation"] == op.as_str()).count(),
            1
        );

        // Every node serves the same history, and it replays to the winner's document.
        for http in &https {
            let source = HttpSource::new(&http.base, Duration::from_secs(5)).unwrap();
            let resolved = source.resolve(did.as_str()).await.expect("replays");
            assert_eq!(
                resolved.did_document.expect("document").service[0].service_endpoint,
                "https://copies.example/"
            );
            let (_, r) = http.get(&format!("/1.0/identifiers/{did}")).await;
            assert_eq!(r["didDocumentMetadata"]["versionId"], head.as_str());
            assert_eq!(
                r["didDocumentMetadata"]["logInclusion"]["seq"],
                answers[0].1["logSeq"]
            );
        }
        assert!(in_force <= ops.len());
    }
}

fn claim(z: &str, owner: &KeyPair) -> String {
    let op = ZoneOperation::ClaimZone {
        zone: AgentName::parse(z).unwrap(),
        owner: owner.did_key(),
        created_at: format_rfc3339(now()),
    };
    zone(&op, owner)
}

/// A platform claims a zone while someone else registers a name inside it, at once and through
/// different nodes: never both. Either the claim wins and the registration is `zone_owned`
/// (nothing written), or the registration wins and the claim is `zone_occupied`; what the
/// nodes serve afterwards agrees with the answers.
#[tokio::test]
async fn a_zone_claim_racing_a_registration_inside_it_never_both_win() {
    for backend in backends().await {
        let nodes = nodes(&backend).await;
        let https: Vec<Http> = nodes.iter().map(Server::http).collect();
        let at = |i: usize| &https[i % https.len()];
        let (mut claims, mut registrations) = (0, 0);
        for round in 0..16 {
            let z = format!("race{round}");
            let platform = KeyPair::generate();
            let squatter = KeyPair::generate();
            let genesis = create(
                &squatter,
                &squatter,
                Some(AgentName::parse(&format!("shop.{z}")).unwrap()),
                now(),
            );
            let claim_op = json!({ "operation": claim(&z, &platform) });
            let register = json!({ "operation": genesis.operation });
            let ((cst, cb), (rst, rb)) = if round % 2 == 0 {
                tokio::join!(
                    at(round).post("/v1/zones", None, &claim_op),
                    at(round + 1).post("/v1/agents", None, &register)
                )
            } else {
                let (r, c) = tokio::join!(
                    at(round + 1).post("/v1/agents", None, &register),
                    at(round).post("/v1/zones", None, &claim_op)
                );
                (c, r)
            };
            match (cst, rst) {
                (200, 403) => {
                    claims += 1;
                    assert_eq!(error_code(rst, &rb), "zone_owned", "{rb}");
                }
                (409, 201) => {
                    registrations += 1;
                    assert_eq!(error_code(cst, &cb), "zone_occupied", "{cb}");
                }
                _ => panic!(
                    "{}: claim {cst} {cb}, registration {rst} {rb}",
                    backend.name()
                ),
            }
            for http in &https {
                let (zst, zone) = http.get(&format!("/v1/zones/{z}")).await;
                let (ast, _) = http.get(&format!("/1.0/identifiers/{}", genesis.did)).await;
                let (nst, _) = http.get(&format!("/1.0/identifiers/shop.{z}")).await;
                if cst == 200 {
                    assert_eq!(
                        (zst, s(&zone["owner"])),
                        (200, platform.did_key().to_string())
                    );
                    assert_eq!(
                        (ast, nst),
                        (404, 404),
                        "nothing of the registration written"
                    );
                } else {
                    assert_eq!(zst, 404, "{zone}");
                    assert_eq!((ast, nst), (200, 200));
                }
            }
        }
        eprintln!(
            "{}: {claims} claims and {registrations} registrations won their race",
            backend.name()
        );
    }
}
