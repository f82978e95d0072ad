//! Registry operations and recovery (spec 5.3), against the real server: an agent updates its
//! keys and services, a thief holding its lowest-priority rotation key takes it over and the
//! owner recovers it with a higher one; every refusal has its own code; a resolver replays the
//! signed history from the genesis and catches a registry that forges a document.

use std::collections::BTreeMap;
use std::time::Duration;

use agentid_resolver::http::HttpSource;
use agentid_resolver::{ResolveError, Source};
use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::{create_with, deactivate, update, Keys};
use agentid_spec::id::{hash_b32, AgentDid, AgentName};
use agentid_spec::jose::{b64u_decode, sign_compact, JoseHeader};
use agentid_spec::operation::Service;
use serde_json::{json, Value};

use crate::fixture::{nonce, now, Fixture};
use crate::support::{backends, codes, error_code, s, tamper, Http, Server};

fn key(seed: u8) -> KeyPair {
    KeyPair::from_seed(&[seed; 32])
}

/// Submits `op` on agent `did` (`POST /v1/agents/{did}/operations`).
pub(crate) async fn submit(http: &Http, did: &AgentDid, op: &str) -> (u16, Value) {
    http.post(
        &format!("/v1/agents/{did}/operations"),
        None,
        &json!({ "operation": op }),
    )
    .await
}

/// The multibase keys of the agent's document as the registry resolves it.
async fn document_keys(http: &Http, did: &AgentDid) -> Vec<String> {
    let (st, b) = http.get(&format!("/1.0/identifiers/{did}")).await;
    assert_eq!(st, 200, "{b}");
    b["didDocument"]["verificationMethod"]
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| s(&vm["publicKeyMultibase"]))
        .collect()
}

#[tokio::test]
async fn keys_update_a_stolen_key_is_recovered_from_and_refusals_have_codes() {
    for backend in backends().await {
        let server = Server::start(&backend).await;
        let http = server.http();
        // Rotation keys: the owner's cold key (highest), a warm key, and a hot key on the
        // agent's host (lowest), the one a thief is most likely to steal.
        let (cold, warm, hot) = (key(1), key(2), key(3));
        let (signing, thief) = (key(10), key(66));
        let t = now();
        let mut keys = Keys::new(&signing, &[&cold, &warm, &hot]);
        let name = AgentName::parse("ops.acme").unwrap();
        let genesis = create_with(&keys, Some(name), &hot, t);
        let did = genesis.did.clone();
        let (st, b) = http
            .post(
                "/v1/agents",
                None,
                &json!({ "operation": genesis.operation }),
            )
            .await;
        assert_eq!(st, 201, "{b}");
        let g_hash = hash_b32(genesis.operation.as_bytes());

        // An update by the warm key: a second signing key and a service.
        let second = key(11);
        keys.verification_methods
            .insert("key-2".into(), second.did_key().multibase().to_owned());
        keys.services.insert(
            "checkout".into(),
            Service {
                type_: "AgentCheckout".into(),
                endpoint: "https://shop.example/agent".into(),
            },
        );
        let u1 = update(&did, &g_hash, &keys, &warm, t);
        let (st, b) = submit(&http, &did, &u1).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["head"], hash_b32(u1.as_bytes()));
        assert_eq!(b["nullified"], json!([]));
        let (_, r) = http.get(&format!("/1.0/identifiers/{did}")).await;
        assert_eq!(
            r["didDocument"]["service"],
            json!([{ "id": format!("{did}#checkout"), "type": "AgentCheckout",
                     "serviceEndpoint": "https://shop.example/agent" }])
        );
        assert_eq!(r["didDocumentMetadata"]["versionId"], b["head"]);
        assert_eq!(document_keys(&http, &did).await.len(), 2);
        // The result carries the inclusion proof of the agent's latest entry: the update.
        let proof: agentid_spec::document::LogInclusion =
            serde_json::from_value(r["didDocumentMetadata"]["logInclusion"].clone()).unwrap();
        assert_eq!(Some(proof.seq), b["logSeq"].as_u64());
        assert!(proof.verify());
        let (_, checkpoint) = http.get("/v1/log/checkpoint").await;
        assert_eq!(proof.tree_size, checkpoint["treeSize"].as_u64().unwrap());
        assert_eq!(proof.root_hash, s(&checkpoint["rootHash"]));
        let (_, entry) = http
            .get(&format!(
                "/v1/log/proofs/inclusion?seq={}&treeSize={}",
                proof.seq, proof.tree_size
            ))
            .await;
        let entry: agentid_spec::log::PublicEntry =
            serde_json::from_value(entry["entry"].clone()).unwrap();
        assert_eq!(
            agentid_spec::jose::b64u(&entry.leaf_hash()),
            proof.leaf_hash
        );
        assert_eq!(entry.operation, u1);
        let mut bent = proof.clone();
        bent.seq += 1;
        assert!(!bent.verify());
        let mut bent = proof.clone();
        bent.leaf_hash = proof.root_hash.clone();
        assert!(!bent.verify());
        // The same update again is a retry, answered the same; nothing is appended.
        let (st2, b2) = submit(&http, &did, &u1).await;
        assert_eq!(
            (st2, &b2["head"], &b2["logSeq"]),
            (200, &b["head"], &b["logSeq"])
        );
        let u1_hash = hash_b32(u1.as_bytes());

        // Each refusal, with its code, and nothing written.
        let other = key(99);
        let mut forged = update(&did, &u1_hash, &keys, &warm, t + 1);
        // A payload changed after signing: the signature no longer verifies.
        let (h, rest) = forged.split_once('.').unwrap();
        let (p, sig) = rest.split_once('.').unwrap();
        let mut payload: Value = serde_json::from_slice(&b64u_decode(p).unwrap()).unwrap();
        payload["verificationMethods"]["key-1"] = json!(thief.did_key().multibase());
        forged = format!(
            "{h}.{}.{sig}",
            agentid_spec::jose::b64u(&serde_json::to_vec(&payload).unwrap())
        );
        let oversize = {
            let header = JoseHeader::eddsa("agentid-op+jws", None, &warm.did_key().key_id());
            let body = json!({ "type": "update", "did": did, "prev": u1_hash,
                               "verificationMethods": {}, "rotationKeys": [],
                               "createdAt": "x".repeat(9000) });
            sign_compact(
                &header,
                &serde_json::to_vec(&body).unwrap(),
                warm.signing_key(),
            )
        };
        for (op, status, code) in [
            (update(&did, "nothing", &keys, &warm, t), 409, "stale_prev"),
            (
                update(&did, &u1_hash, &keys, &other, t),
                403,
                "key_not_authorized",
            ),
            (forged, 400, "bad_signature"),
            (oversize, 400, "operation_too_large"),
            (genesis.operation.clone(), 409, "duplicate_operation"),
            // Only the highest-priority key deactivates (a stolen lower key cannot end it).
            (
                deactivate(&did, &u1_hash, &hot, t),
                403,
                "key_not_authorized",
            ),
            ("not a jws".into(), 400, "invalid_operation"),
        ] {
            let (st, b) = submit(&http, &did, &op).await;
            assert_eq!((st, error_code(st, &b)), (status, code.into()), "{b}");
        }
        let (_, ops) = http.get(&format!("/v1/agents/{did}/operations")).await;
        assert_eq!(ops["operations"].as_array().unwrap().len(), 2, "{ops}");

        // The thief, holding the hot key, makes the agent its own: its signing key, and itself
        // as the only rotation key.
        let stolen = Keys::new(&thief, &[&hot]);
        let theft = update(&did, &u1_hash, &stolen, &hot, t + 2);
        let (st, b) = submit(&http, &did, &theft).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(
            document_keys(&http, &did).await,
            vec![thief.did_key().multibase().to_owned()]
        );
        // The warm key, not the hot one, is no longer a rotation key in force at the head...
        let (st, b) = submit(
            &http,
            &did,
            &update(&did, &hash_b32(theft.as_bytes()), &keys, &warm, t + 3),
        )
        .await;
        assert_eq!((st, error_code(st, &b)), (403, "key_not_authorized".into()));
        // ...but it outranks the hot key at the point before the theft: the owner recovers,
        // within the window, and drops the stolen key.
        let recovered = Keys::new(&signing, &[&cold, &warm]);
        let recovery = update(&did, &u1_hash, &recovered, &warm, t + 4);
        let (st, b) = submit(&http, &did, &recovery).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["nullified"], json!([hash_b32(theft.as_bytes())]));
        assert_eq!(
            document_keys(&http, &did).await,
            vec![signing.did_key().multibase().to_owned()]
        );
        // The thief cannot come back: not on its own branch, not from the recovery, and the
        // hot key cannot undo the warm key's recovery either.
        for (op, status, code) in [
            (
                update(&did, &hash_b32(theft.as_bytes()), &stolen, &hot, t + 5),
                409,
                "stale_prev",
            ),
            (
                update(&did, &hash_b32(recovery.as_bytes()), &stolen, &hot, t + 5),
                403,
                "key_not_authorized",
            ),
            (
                update(&did, &u1_hash, &stolen, &hot, t + 6),
                409,
                "recovery_not_higher",
            ),
        ] {
            let (st, b) = submit(&http, &did, &op).await;
            assert_eq!((st, error_code(st, &b)), (status, code.into()), "{b}");
        }

        // A resolver replays the history from the genesis, undone theft included, and agrees.
        let source = HttpSource::new(&server.url, Duration::from_secs(2)).unwrap();
        let result = source.resolve(did.as_str()).await.unwrap();
        assert_eq!(
            result.did_document.as_ref().unwrap().verification_method[0].public_key_multibase,
            signing.did_key().multibase()
        );
        let (_, ops) = http.get(&format!("/v1/agents/{did}/operations")).await;
        assert_eq!(ops["operations"].as_array().unwrap().len(), 4, "{ops}");

        // Deactivation, by the cold key, is final: nothing follows or undoes it.
        let head = hash_b32(recovery.as_bytes());
        let (st, b) = submit(&http, &did, &deactivate(&did, &head, &cold, t + 7)).await;
        assert_eq!((st, s(&b["status"])), (200, "deactivated".into()), "{b}");
        for op in [
            update(&did, &s(&b["head"]), &keys, &cold, t + 8),
            update(&did, &head, &keys, &cold, t + 8),
        ] {
            let (st, b) = submit(&http, &did, &op).await;
            assert_eq!((st, error_code(st, &b)), (410, "gone".into()), "{b}");
        }
    }
}

/// A key put into an agent's stored document by someone with write access to the database is
/// served by nobody: the service refuses the row its log does not prove, and a resolver
/// replaying the agent's operations would refuse it too.
#[tokio::test]
async fn a_forged_document_is_caught_by_the_replay() {
    for backend in backends().await {
        let mut f = Fixture::new(&backend).await;
        let did = AgentDid::parse(&f.agent).unwrap();
        let source = HttpSource::new(&f.server.url, Duration::from_secs(2)).unwrap();
        source.resolve(did.as_str()).await.unwrap();

        // The agent adds a key with an update: the replay still agrees.
        let new_key = key(12);
        let new_mb = new_key.did_key().multibase().to_owned();
        let mut keys = Keys::new(&f.agent_key, &[&f.agent_key]);
        keys.verification_methods =
            BTreeMap::from([("key-2".to_owned(), new_key.did_key().multibase().to_owned())]);
        let (_, ops) = f
            .server
            .http()
            .get(&format!("/v1/agents/{did}/operations"))
            .await;
        let g = ops["operations"][0]["operation"]
            .as_str()
            .unwrap()
            .to_owned();
        let u = update(&did, &hash_b32(g.as_bytes()), &keys, &f.agent_key, now());
        let (st, b) = submit(&f.server.http(), &did, &u).await;
        assert_eq!(st, 200, "{b}");
        source.resolve(did.as_str()).await.unwrap();
        // Signed by the old key (key-1 is gone), a presentation is refused; by the new, accepted
        // in the merchant's own process, which replays the history.
        let n = nonce();
        let old = f.present(&f.credential, &f.merchant, &n, 1000).await;
        assert!(codes(&f.verify_http(&old, &f.merchant, &n).await).contains(&"unknown_key".into()));
        let signer = std::mem::replace(&mut f.agent_key, new_key);
        let n = nonce();
        let vp = f
            .present_with(
                &f.credential,
                &f.merchant,
                &n,
                1000,
                "USD",
                "key-2",
                now(),
                120,
            )
            .await;
        let verifier = agentid_sdk::verify::Verifier::new(
            HttpSource::new(&f.server.url, Duration::from_secs(2)).unwrap(),
            f.policy(),
            std::sync::Arc::new(agentid_sdk::clock::SystemClock),
            agentid_sdk::verify::Limits::default(),
        );
        let ctx = agentid_sdk::verify::CheckoutContext::new(
            agentid_spec::id::Did::parse(&f.merchant).unwrap(),
            agentid_spec::presentation::Nonce::parse(&n).unwrap(),
        );
        let decision = verifier.verify(&vp, &ctx).await;
        assert!(decision.is_accepted(), "{decision:?}");
        f.agent_key = signer;

        // The command line replays and checks the history, and adds a service on top of it.
        let key_file = f.agent_key_file.to_str().unwrap().to_owned();
        let (code, h) = f
            .server
            .cli(&["agent", "history", "--did", did.as_str()])
            .await;
        assert_eq!(code, 0, "{h}");
        assert_eq!(h["head"], hash_b32(u.as_bytes()));
        assert_eq!(h["operations"].as_array().unwrap().len(), 2);
        let add_service = |service: &'static str| {
            let (server, did, key_file) = (&f.server, did.as_str(), key_file.as_str());
            async move {
                server
                    .cli(&[
                        "agent",
                        "update",
                        "--did",
                        did,
                        "--key",
                        key_file,
                        "--service",
                        service,
                    ])
                    .await
            }
        };
        let (code, out) = add_service("checkout=AgentCheckout=https://shop.example/a").await;
        assert_eq!(code, 0, "{out}");
        let (code, out) = add_service("checkout=AgentCheckout=http://shop.example/a").await;
        assert_eq!(
            (code, s(&out["error"]["code"])),
            (2, "invalid_operation".into()),
            "{out}"
        );
        let result = source.resolve(did.as_str()).await.unwrap();
        let document = result.did_document.unwrap();
        assert_eq!(
            document.service[0].service_endpoint,
            "https://shop.example/a"
        );
        assert_eq!(
            document.verification_method.len(),
            1,
            "the keys stay as they were"
        );

        // Someone with write access to the registry's database swaps in a key of their own.
        let forged_key = key(77);
        let (_, r) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{did}"))
            .await;
        let doc = serde_json::to_string(&r["didDocument"])
            .unwrap()
            .replace(&new_mb, forged_key.did_key().multibase());
        assert_eq!(
            tamper(
                &f.server,
                "UPDATE registry_agents SET document = $1 WHERE did = $2",
                &[&doc, did.as_str()],
            )
            .await,
            1
        );
        f.server.restart().await;
        // The registry refuses to serve the forged key: the log does not prove it...
        let (st, r) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{did}"))
            .await;
        assert_eq!(st, 500, "{r}");
        assert!(!r.to_string().contains(forged_key.did_key().multibase()));
        // ...and a replaying resolver gets no forged document either.
        let source = HttpSource::new(&f.server.url, Duration::from_secs(2)).unwrap();
        let e = source.resolve(did.as_str()).await.unwrap_err();
        assert!(
            !matches!(e, ResolveError::NotFound),
            "refused, not absent: {e:?}"
        );
    }
}
